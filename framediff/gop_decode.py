"""The name ``framediff.gop_decode`` held before the GOP-parallel decoder moved to
:mod:`framediff.media.gop` (kept for one release: import it from there instead).
"""

from __future__ import annotations

from .media.gop import GopDecoder, suits

__all__ = ["GopDecoder", "suits"]
