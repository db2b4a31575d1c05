"""The names ``framediff.serve.settings`` held before the ``--config`` file format moved to
:mod:`framediff.watch.settings` (kept for one release: import them from there instead).
"""

from __future__ import annotations

from ..watch.settings import AREA_KEYS, AreaSettings, check_box, check_zone_name, load_settings, save_settings

__all__ = ["AREA_KEYS", "AreaSettings", "load_settings", "save_settings", "check_zone_name", "check_box"]
