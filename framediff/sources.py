"""The names ``framediff.sources`` held before the readers moved to :mod:`framediff.media` (kept for one
release: import them from :mod:`framediff.media` and its modules instead).
"""

from __future__ import annotations

from .media.camera import CameraSource
from .media.frames import (
    FRAME_CONVERSION,
    Frame,
    FrameSource,
    LumaFrame,
    decoded_bgr,
    luma_plane,
)
from .media.images import (
    CODEC_NOISE,
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    PIXELS_ENV,
    check_pixels,
    decode_image,
    image_header_size,
    image_paths,
    load_image,
    max_pixels,
    natural_key,
    parse_pixels,
    quiet_codecs,
    read_image,
    set_max_pixels,
)
from .media.prefetch import Prefetch, put_unless_stopped
from .media.sources import STREAM_SCHEMES, ImageListSource, is_stream_url, open_source
from .media.video import METADATA_ERRORS, VideoSource
from .workers import usable_cores

__all__ = [
    "CODEC_NOISE",
    "DEFAULT_MAX_PIXELS",
    "FRAME_CONVERSION",
    "IMAGE_EXTENSIONS",
    "METADATA_ERRORS",
    "PIXELS_ENV",
    "STREAM_SCHEMES",
    "CameraSource",
    "Frame",
    "FrameSource",
    "ImageListSource",
    "LumaFrame",
    "Prefetch",
    "VideoSource",
    "check_pixels",
    "decode_image",
    "decoded_bgr",
    "image_header_size",
    "image_paths",
    "is_stream_url",
    "load_image",
    "luma_plane",
    "max_pixels",
    "natural_key",
    "open_source",
    "parse_pixels",
    "put_unless_stopped",
    "quiet_codecs",
    "read_image",
    "set_max_pixels",
    "usable_cores",
]
