"""Frames: what every source yields (:class:`Frame`, :class:`LumaFrame`), the base of every source, and the
one definition each of limited-range video (the 255/219 stretch and its detection) and frame -> BGR.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

__all__ = [
    "FRAME_CONVERSION",
    "LIMITED_GAIN",
    "TV_TO_PC",
    "TV_TO_PC_F32",
    "Frame",
    "FrameSource",
    "LumaFrame",
    "color_range",
    "decoded_bgr",
    "decoded_colour",
    "frame_colour",
    "is_limited_range",
    "luma_plane",
]

# PyAV converts a frame's pixels through a scaler it caches on the frame itself, so two threads converting
# the same decoded frame at once (a snapshot, the live view, a recording, a clip) corrupt each other or
# crash. Every conversion of a decoder frame that may be shared between threads holds this lock.
FRAME_CONVERSION = threading.Lock()

# Limited-range ("TV", MPEG) video stores black..white as luma 16..235: one luma step is 255/219 grey
# levels, and the stretch to full-range grey 0..255 is the one a BGR conversion makes.
LIMITED_GAIN = 255.0 / 219.0
TV_TO_PC = np.clip(np.rint((np.arange(256) - 16) * LIMITED_GAIN), 0, 255).astype(np.uint8)
# The same stretch without rounding, for readers that stretch a shrunk (averaged) picture.
TV_TO_PC_F32 = np.clip((np.arange(256, dtype=np.float32) - 16.0) * np.float32(LIMITED_GAIN), 0, 255).reshape(
    1, 256
)


@dataclass
class Frame:
    """One decoded frame.

    Attributes:
        index: 0-based position in the source (decode order).
        time: Presentation time in seconds from the start of the source (wall-clock seconds for cameras).
        image: The pixels: H x W x 3 BGR uint8, or H x W grey uint8 when the source was opened with
            ``gray=True``.
        raw: The decoder's own frame object (``av.VideoFrame`` for videos and streams), for re-encoding.
    """

    index: int
    time: float
    image: np.ndarray
    raw: Any = field(default=None, repr=False)


class LumaFrame(Frame):
    """A grey video frame whose full-size picture is made only when something asks for it.

    The decoder's luma plane *is* the grey picture, but limited-range video stores black..white as
    16..235 and has to be stretched to 0..255 first. A reader that shrinks frames before analysing them
    (``watch``) reads :attr:`luma` and :attr:`limited` and stretches the small picture instead, which
    saves a full-size pass per frame; :attr:`image` is made on first access (and kept), so everything
    else sees the same pixels as before.

    Attributes:
        luma: The decoder's luma plane, read-only; a view that keeps its decoded frame alive.
        limited: Whether ``luma`` is limited range (16..235) and needs stretching.
    """

    def __init__(self, index: int, time: float, luma: np.ndarray, raw: Any, limited: bool) -> None:
        # No dataclass __init__: ``image`` is a property here, made from ``luma`` on demand.
        self.index = index
        self.time = time
        self.raw = raw
        self.luma = luma
        self.limited = limited
        self._image: np.ndarray | None = None

    @property
    def image(self) -> np.ndarray:  # type: ignore[override]
        """The full-range grey picture (H x W uint8), as a ``gray=True`` source yields it."""
        if self._image is None:
            # A private copy either way: the plane belongs to the decoder and is read-only.
            self._image = cv2.LUT(self.luma, TV_TO_PC) if self.limited else self.luma.copy()
        return self._image


class FrameSource:
    """Base class: an iterable of frames, usable as a context manager.

    Attributes:
        spec: What was opened (path, URL or camera).
        fps: Nominal frames per second (``None`` when unknown, e.g. a folder of images).
        size: ``(width, height)`` of the frames when known before decoding.
        frame_count: Number of frames when known in advance (``None`` otherwise).
        live: True for cameras and network streams (they can drop and be reopened).
        warnings: Problems met while decoding (corrupt packets skipped, truncation).
    """

    spec: str
    fps: float | None = None
    size: tuple[int, int] | None = None
    frame_count: int | None = None
    live: bool = False

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def __iter__(self) -> Iterator[Frame]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release the decoder, file or device."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def luma_plane(f: Any) -> np.ndarray | None:
    """The luma plane of a decoder's 8-bit planar frame (YUV, NV12/NV21 or grey), viewed without a copy.

    Args:
        f: The decoder's frame (PyAV ``VideoFrame``).

    Returns:
        A read-only H x W uint8 view (limited range as the decoder stores it), or ``None`` for packed or
        high-bit-depth formats, which need a conversion.
    """
    fmt = f.format.name
    planar = fmt.startswith(("yuv", "nv12", "nv21", "gray")) and not fmt.startswith(("yuyv", "uyvy"))
    if not planar or "10" in fmt or "12" in fmt or "16" in fmt:
        return None
    # Planar YUV: the first plane *is* the grey picture; no colour conversion needed.
    plane = f.planes[0]
    buf = np.frombuffer(plane, np.uint8)
    if buf.size != plane.line_size * f.height:
        return None
    return buf.reshape(f.height, plane.line_size)[:, : f.width]


def decoded_bgr(raw: Any, width: int | None = None, height: int | None = None) -> np.ndarray:
    """A decoder's frame (PyAV) in BGR, scaled in the same step when a size is given.

    Holds :data:`FRAME_CONVERSION`, since the frame may be converted by another thread at the same time.
    """
    with FRAME_CONVERSION:
        return raw.to_ndarray(format="bgr24", width=width, height=height)


def color_range(f: Any) -> int:
    """FFmpeg's colour range of a frame: 1 = limited (MPEG/TV), 2 = full (JPEG/PC), 0 = unspecified."""
    try:
        return int(getattr(f, "color_range", 0) or 0)
    except (TypeError, ValueError):
        return 0


def is_limited_range(raw: Any) -> bool:
    """Whether a decoder's frame carries limited-range (16..235) luma in the plane :func:`luma_plane` views.

    Args:
        raw: The decoder's frame (PyAV ``VideoFrame``), or anything else (an image's path: ``False``).

    Returns:
        True for 8-bit planar YUV that is neither JPEG-range (``yuvj*``) nor tagged full range; other
        formats are converted by FFmpeg, which stretches them itself.
    """
    fmt = getattr(getattr(raw, "format", None), "name", None)
    if fmt is None:
        return False
    planar = fmt.startswith(("yuv", "nv12", "nv21", "gray")) and not fmt.startswith(("yuyv", "uyvy"))
    if not planar or "10" in fmt or "12" in fmt or "16" in fmt:
        return False
    return not (fmt.startswith(("yuvj", "gray")) or color_range(raw) == 2)


def decoded_colour(frame: Any, size: tuple[int, int] | None = None) -> np.ndarray | None:
    """A frame's decoder picture in BGR (scaled in the same step to ``size``), or ``None`` without one.

    Args:
        frame: A :class:`Frame` (or anything with a ``raw`` attribute).
        size: ``(width, height)`` to scale to; ``None`` keeps the decoded size.

    Returns:
        H x W x 3 BGR uint8, or ``None`` when the frame has no decoder frame or it cannot be converted.
    """
    raw = getattr(frame, "raw", None)
    if not hasattr(raw, "to_ndarray"):
        return None
    try:
        return decoded_bgr(raw, *(size or (None, None)))
    except Exception:  # noqa: BLE001 - an odd pixel format: the caller falls back to the analysed pixels
        return None


def frame_colour(frame: Any) -> np.ndarray:
    """A frame's picture in colour (BGR): the decoder's frame converted when there is one, an image
    file read again, else the grey pixels (a colour picture is better, but a grey one is better than none).

    Args:
        frame: A :class:`Frame`.

    Returns:
        The picture (an image file's as :func:`~framediff.media.images.read_image` reads it).
    """
    colour = decoded_colour(frame)
    if colour is not None:
        return colour
    raw = getattr(frame, "raw", None)
    if raw is not None and not hasattr(raw, "shape") and not hasattr(raw, "to_ndarray"):
        from .images import read_image

        try:
            return read_image(raw)
        except Exception:  # noqa: BLE001 - a file gone: the grey picture will do
            pass
    return frame.image
