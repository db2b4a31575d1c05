"""Everything that turns files, streams and cameras into pixels and back.

- :mod:`~framediff.media.images`: image files (EXIF orientation, 16-bit, alpha, DCT-scaled JPEG, pixel
  limits, the one list of image suffixes);
- :mod:`~framediff.media.frames`: :class:`Frame`, :class:`LumaFrame`, limited-range video, frame -> BGR;
- :mod:`~framediff.media.video`: :class:`VideoSource` and the decoder's tuning; :mod:`~framediff.media.camera`;
- :mod:`~framediff.media.sources`: :func:`open_source`, for any of them;
- :mod:`~framediff.media.prefetch`: bounded read-ahead; :mod:`~framediff.media.gop`: key-frame chunks
  decoded on every core;
- :mod:`~framediff.media.encode`: the one video encoder stack.
"""

from __future__ import annotations

from .frames import Frame, FrameSource, LumaFrame
from .images import IMAGE_EXTENSIONS, load_image, read_image
from .prefetch import Prefetch
from .sources import open_source

__all__ = [
    "IMAGE_EXTENSIONS",
    "Frame",
    "FrameSource",
    "LumaFrame",
    "Prefetch",
    "load_image",
    "open_source",
    "read_image",
]
