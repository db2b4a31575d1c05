"""The names ``framediff.render`` held before drawing moved to :mod:`framediff.draw` and writing pictures to
:mod:`framediff.media.images` (kept for one release: import them from there instead).
"""

from __future__ import annotations

from .draw import PALETTE, draw_regions, heatmap, side_by_side
from .media.images import write_bytes, write_image

__all__ = ["draw_regions", "side_by_side", "heatmap", "write_image", "write_bytes", "PALETTE"]
