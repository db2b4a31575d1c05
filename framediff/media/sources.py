"""Frame sources: one iterator of :class:`~framediff.media.frames.Frame` over images, folders, videos,
streams and cameras, opened by :func:`open_source`.

Decoding lives in :mod:`framediff.media` and nowhere else; analysis code only ever sees
``Frame(index, time, image)``. Use :func:`open_source` as a context manager::

    with open_source("clip.mp4", gray=True) as src:
        for frame in src:
            ...
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError, SourceError
from .camera import CameraSource
from .frames import Frame, FrameSource
from .images import IMAGE_EXTENSIONS, image_paths, read_image
from .video import VideoSource

__all__ = ["STREAM_SCHEMES", "ImageListSource", "is_stream_url", "open_source"]

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "rtp", "srt", "hls")


def is_stream_url(spec: str) -> bool:
    """Whether ``spec`` names a network stream (``rtsp://``, ``http://``, ``udp://``...)."""
    m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", spec)
    return bool(m) and m.group(1).lower() in STREAM_SCHEMES


class ImageListSource(FrameSource):
    """A single image file or a list of them (a folder, in natural order); one frame per image."""

    def __init__(self, paths: list[Path], spec: str, gray: bool = False) -> None:
        super().__init__()
        if not paths:
            raise SourceError(f"{spec} holds no images", "put PNG/JPEG files in it or give a video")
        self.paths = paths
        self.spec = spec
        self.gray = gray
        self.frame_count = len(paths)
        # A single image is read at once, so a bad file fails at open_source() like a bad video does.
        self._first = read_image(paths[0]) if len(paths) == 1 else None
        if self._first is not None:
            self.size = (self._first.shape[1], self._first.shape[0])

    def __iter__(self) -> Iterator[Frame]:
        from ..analysis.prepare import to_bgr8, to_gray

        for i, p in enumerate(self.paths):
            try:
                image = self._first if self._first is not None else read_image(p)
            except InputError as e:
                if len(self.paths) == 1:
                    raise
                self.warnings.append(str(e))  # one bad file in a folder should not end the job
                continue
            image = to_gray(image) if self.gray else to_bgr8(image)
            if self.size is None:
                self.size = (image.shape[1], image.shape[0])
            yield Frame(i, float(i) / self.fps if self.fps else float(i), image, p)


def open_source(
    spec: str | os.PathLike | int,
    *,
    gray: bool = False,
    timeout: float = 10.0,
    skip_loop_filter: bool = False,
) -> FrameSource:
    """Open anything framediff can read frames from.

    Args:
        spec: An image file; a folder of images (natural order) or a glob pattern; a video file; a stream
            URL (``rtsp://``, ``http://``, ``udp://``, ``tcp://``...); a camera index (``0``) or
            ``/dev/videoN``.
        gray: Yield grey frames (for videos, the luma plane straight from the decoder, no colour conversion).
        timeout: Seconds to wait when connecting to (and reading from) a stream.
        skip_loop_filter: Skip H.264/HEVC deblocking while decoding (faster; slightly blockier pixels).

    Returns:
        A :class:`FrameSource`; iterate it for frames, close it (or use ``with``) when done.

    Raises:
        InputError: when a file is missing or empty.
        SourceError: when the source cannot be opened or holds no frames.
    """
    if isinstance(spec, int):
        return CameraSource(str(spec), gray=gray)
    text = os.fspath(spec)
    if is_stream_url(text):
        return VideoSource(text, gray=gray, live=True, timeout=timeout, skip_loop_filter=skip_loop_filter)
    if text.isdigit() or re.match(r"^/dev/video\d+$", text):
        return CameraSource(text, gray=gray)
    listed = image_paths(text)
    if listed is not None:
        return ImageListSource(listed, text, gray)
    path = Path(text)
    if not path.exists():
        raise InputError(f"{text}: no such file or folder", "check the path")
    if path.stat().st_size == 0:
        raise InputError(f"{text} is empty", "give a non-empty file")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageListSource([path], text, gray)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VideoSource(text, gray=gray, skip_loop_filter=skip_loop_filter)
