"""Frame sources: one iterator of :class:`Frame` over images, folders, videos, streams and cameras.

Decoding lives here and nowhere else; analysis code only ever sees ``Frame(index, time, image)``.
Use :func:`open_source` as a context manager::

    with open_source("clip.mp4", gray=True) as src:
        for frame in src:
            ...
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import struct
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .errors import InputError, OptionError, SourceError

__all__ = [
    "FRAME_CONVERSION",
    "METADATA_ERRORS",
    "decoded_bgr",
    "luma_plane",
    "Frame",
    "LumaFrame",
    "FrameSource",
    "Prefetch",
    "put_unless_stopped",
    "open_source",
    "image_paths",
    "read_image",
    "decode_image",
    "image_header_size",
    "check_pixels",
    "max_pixels",
    "set_max_pixels",
    "parse_pixels",
    "quiet_codecs",
    "DEFAULT_MAX_PIXELS",
    "load_image",
    "natural_key",
    "IMAGE_EXTENSIONS",
    "is_stream_url",
]

IMAGE_EXTENSIONS = {
    ".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".pbm", ".pgm", ".ppm",
    ".pnm", ".pxm", ".sr", ".ras", ".exr", ".hdr", ".pic", ".jp2", ".avif",
}  # fmt: skip
# PyAV converts a frame's pixels through a scaler it caches on the frame itself, so two threads converting
# the same decoded frame at once (a snapshot, the live view, a recording, a clip) corrupt each other or
# crash. Every conversion of a decoder frame that may be shared between threads holds this lock.
FRAME_CONVERSION = threading.Lock()

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "rtp", "srt", "hls")

# OpenCV prints its own warnings for unreadable files; we report those ourselves, once and clearly.
with contextlib.suppress(AttributeError):  # very old OpenCV has no logging module
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

# How PyAV decodes a file's tags (title, encoder...): by default strictly as UTF-8, so one stray byte in a
# tag raises UnicodeDecodeError and the whole video is lost. Every reader opens files with this.
METADATA_ERRORS = "replace"

# FFmpeg demuxers that turn text files into pictures of the text.
_TEXT_FORMATS = {"tty", "bin", "idf", "xbin", "adf"}

# Limited-range ("TV", MPEG) luma 16..235 stretched to full-range grey 0..255, as a BGR conversion would.
_TV_TO_PC = np.clip(np.rint((np.arange(256) - 16) * (255.0 / 219.0)), 0, 255).astype(np.uint8)


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
            self._image = cv2.LUT(self.luma, _TV_TO_PC) if self.limited else self.luma.copy()
        return self._image


def natural_key(name: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10``.

    Args:
        name: A file name.

    Returns:
        A key mixing lower-cased text and integers.
    """
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def is_stream_url(spec: str) -> bool:
    """Whether ``spec`` names a network stream (``rtsp://``, ``http://``, ``udp://``...)."""
    m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", spec)
    return bool(m) and m.group(1).lower() in STREAM_SCHEMES


def _exif_orientation(path: Path) -> int:
    """The EXIF orientation tag (1 = upright) of a JPEG/TIFF/WebP file, read from its header only."""
    try:
        from PIL import Image  # Pillow comes with scikit-image; it only reads the header here

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's bomb warning: the size was checked already
            with Image.open(path) as im:
                return int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - no readable EXIF simply means upright
        return 1


def _apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip pixels as the EXIF orientation tag says, so the image shows upright."""
    ops = {
        2: lambda im: cv2.flip(im, 1),
        3: lambda im: cv2.rotate(im, cv2.ROTATE_180),
        4: lambda im: cv2.flip(im, 0),
        5: lambda im: cv2.flip(cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE), 1),
        6: lambda im: cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE),
        7: lambda im: cv2.flip(cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE), 1),
        8: lambda im: cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE),
    }
    op = ops.get(orientation)
    return op(image) if op else image


def _jpeg_is_complete(data: bytes) -> bool:
    """Whether a JPEG's main image ends with its end-of-image marker.

    The marker need not be the last bytes: phones append trailers (motion-photo videos, maker data) after
    it. The header segments are skipped by their lengths, so an EXIF thumbnail's own end marker does not
    count; after the main image's first scan, image data cannot contain ``FF D9`` except as the end.
    """
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break  # not a marker where one should be: fall back to a plain search
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: the compressed image follows
            return data.find(b"\xff\xd9", pos) >= 0
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return b"\xff\xd9" in data[pos:]


DEFAULT_MAX_PIXELS = 200_000_000
PIXELS_ENV = "FRAMEDIFF_MAX_PIXELS"
_max_pixels: int | None = None  # set_max_pixels(); None: the environment variable, else the default


def parse_pixels(text: str | int, what: str = "--max-pixels") -> int:
    """A pixel count as a user writes it: ``400000000``, ``400M``, ``1.5G``.

    Args:
        text: The value.
        what: Its name, for the error.

    Returns:
        The number of pixels.

    Raises:
        OptionError: when it is not a positive count.
    """
    raw = str(text).strip()
    scale = {"k": 1e3, "m": 1e6, "g": 1e9}.get(raw[-1:].lower(), 1)
    try:
        value = float(raw[:-1] if scale != 1 else raw) * scale
    except ValueError:
        value = float("nan")
    if not (value >= 1 and value < 1e15):  # also refuses nan
        example = "--max-pixels 400M" if what.startswith("-") else f"{what}=400M"
        raise OptionError(f"{what} must be a pixel count like 400M, not {raw!r}", f"e.g. {example}")
    return int(value)


def set_max_pixels(limit: int | str | None) -> None:
    """Set the largest picture (width x height) any reader accepts, for the whole process.

    Args:
        limit: Pixels (``400M`` style text accepted); ``None`` goes back to ``FRAMEDIFF_MAX_PIXELS`` or
            the default of 200 million.

    Raises:
        OptionError: when ``limit`` is not a positive count.
    """
    global _max_pixels
    _max_pixels = None if limit is None else parse_pixels(limit)


def max_pixels() -> int:
    """The pixel limit in force: :func:`set_max_pixels`, else ``FRAMEDIFF_MAX_PIXELS``, else 200 million.

    Raises:
        OptionError: when the environment variable is not a pixel count.
    """
    if _max_pixels is not None:
        return _max_pixels
    env = os.environ.get(PIXELS_ENV)
    return parse_pixels(env, PIXELS_ENV) if env else DEFAULT_MAX_PIXELS


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's start-of-frame segment (header segments skipped by length)."""
    pos = 2
    while pos + 9 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:
            pos += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn, not DHT/JPG/DAC
            h, w = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return w, h
        if marker == 0xDA:
            return None
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return None


_PIL_LOCK = threading.Lock()


def image_header_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """A picture's ``(width, height)`` from its header alone, without decoding a pixel.

    PNG and JPEG headers are read here; other formats by Pillow, which reads only the header too.

    Args:
        data: The file's bytes.

    Returns:
        The size the file declares, or ``None`` when its header is not understood.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return w, h
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    try:
        import io

        from PIL import Image

        # Pillow's own bomb guard (a warning, then an error) is replaced by ours, which has its own
        # limit: it is lifted only while this header is read.
        with _PIL_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                with Image.open(io.BytesIO(bytes(data))) as im:
                    return im.size
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except Exception:  # noqa: BLE001 - a header Pillow does not know: OpenCV may still read the file
        return None


def check_pixels(name: str | os.PathLike, width: int, height: int) -> None:
    """Refuse a picture larger than the pixel limit (a decompression bomb: a small file that declares a
    huge picture, which would cost gigabytes to decode).

    Args:
        name: The file, for the message.
        width: Its width.
        height: Its height.

    Raises:
        InputError: when ``width * height`` exceeds :func:`max_pixels`.
    """
    limit = max_pixels()
    if width * height > limit:
        allowed = f"{limit / 1e6:g} MP" if limit >= 1_000_000 else f"{limit} pixels"
        raise InputError(
            f"{os.fspath(name)} is {width}x{height} pixels, over the limit of {allowed}",
            f"if you trust the file, raise the limit with --max-pixels or {PIXELS_ENV}",
        )


# What image libraries print on the process's standard error by themselves (libpng, libjpeg, libtiff):
# framediff reports a bad picture once, in its own words.
CODEC_NOISE = (b"libpng ", b"Corrupt JPEG data", b"Premature end of JPEG", b"Invalid SOS", b"Not a JPEG")
_QUIET = threading.Lock()
_quiet_users = 0
_quiet_saved: tuple[int, Any] | None = None


@contextlib.contextmanager
def quiet_codecs() -> Iterator[None]:
    """While inside, what the image libraries print on file descriptor 2 is dropped.

    Standard error is redirected to a temporary file, and what others wrote there meanwhile (Python's
    own stderr, another thread's log line) is passed on when the last decoder leaves; only the codecs'
    lines (:data:`CODEC_NOISE`) are dropped. Threads may decode at once: the first in redirects, the last
    out restores.
    """
    global _quiet_users, _quiet_saved
    with _QUIET:
        if _quiet_users == 0:
            try:
                import tempfile

                capture = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the last decoder leaves
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                saved = os.dup(2)
                os.dup2(capture.fileno(), 2)
                _quiet_saved = (saved, capture)
            except OSError:  # no usable descriptor 2 (a daemon): nothing to silence
                _quiet_saved = None
        _quiet_users += 1
    try:
        yield
    finally:
        with _QUIET:
            _quiet_users -= 1
            if _quiet_users == 0 and _quiet_saved is not None:
                saved, capture = _quiet_saved
                _quiet_saved = None
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                kept = [line for line in capture.read().splitlines(True) if not line.startswith(CODEC_NOISE)]
                capture.close()
                if kept:
                    with contextlib.suppress(OSError):
                        os.write(2, b"".join(kept))


def decode_image(data: np.ndarray, flags: int, name: str | os.PathLike) -> np.ndarray | None:
    """Decode a picture's bytes with OpenCV, refusing it first when its header declares more pixels than
    the limit; the image libraries' own messages are silenced.

    Args:
        data: The file's bytes, as a uint8 array.
        flags: ``cv2.IMREAD_*`` flags.
        name: The file, for the messages.

    Returns:
        The pixels, or ``None`` when OpenCV cannot decode them.

    Raises:
        InputError: when the picture is over the pixel limit.
    """
    size = image_header_size(data.data)
    if size is not None:
        check_pixels(name, *size)
    try:
        with quiet_codecs():
            image = cv2.imdecode(data, flags)
    except cv2.error:  # OpenCV's own checks (its size limit, a header it refuses)
        return None
    if image is not None and image.size:
        check_pixels(name, image.shape[1], image.shape[0])  # a format whose header was not understood
    return image


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as OpenCV does, keeping depth and alpha, upright per its EXIF orientation.

    Works with non-ASCII paths (the bytes are read by Python, decoded by OpenCV).

    Args:
        path: Any format OpenCV reads (PNG, JPEG, TIFF, WebP, BMP, PNM...).

    Returns:
        The pixels: H x W grey, H x W x 3 BGR or H x W x 4 BGRA; uint8 or uint16.

    Raises:
        InputError: when the file is missing, empty, truncated or not an image.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file", "check the path")
    if p.is_dir():
        raise InputError(f"{p} is a folder, not an image", "give an image file")
    data = np.fromfile(str(p), dtype=np.uint8)
    if data.size == 0:
        raise InputError(f"{p} is empty", "give a non-empty image file")
    image = decode_image(data, cv2.IMREAD_UNCHANGED, p)
    if image is None or image.size == 0:
        raise InputError(
            f"{p} is not an image OpenCV can read (or it is corrupt)", "give a PNG, JPEG, TIFF, WebP or BMP"
        )
    # libjpeg fills a truncated JPEG with grey and carries on: refuse it rather than compare garbage.
    if data[:2].tobytes() == b"\xff\xd8" and not _jpeg_is_complete(data.tobytes()):
        raise InputError(f"{p} is a truncated JPEG", "re-export or re-download the file")
    if p.suffix.lower() in (".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".webp"):
        image = _apply_orientation(image, _exif_orientation(p))
    return image


def load_image(image: str | os.PathLike | np.ndarray) -> np.ndarray:
    """Return ``image`` as an array: read it if it is a path, check it if it is an array.

    Args:
        image: A path or an array.

    Returns:
        The pixel array.

    Raises:
        InputError: when the path cannot be read or the array is not an image.
    """
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or image.size == 0:
            raise InputError(
                f"array of shape {image.shape} is not an image", "pass H x W or H x W x C arrays"
            )
        return image
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    raise InputError(f"cannot use a {type(image).__name__} as an image", "pass a file path or a numpy array")


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
        from .prepare import to_bgr8, to_gray

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


class VideoSource(FrameSource):
    """A video file or network stream decoded by PyAV (FFmpeg), with true presentation timestamps.

    Set ``raw_luma = True`` (with ``gray=True``) to get the decoder's luma plane as it is: a read-only view,
    valid while its frame lives, not stretched from limited range. Readers that shrink frames first
    (``dedup``) save a full-size copy per frame that way.
    """

    raw_luma: bool = False

    def __init__(
        self,
        spec: str,
        *,
        gray: bool = False,
        live: bool = False,
        timeout: float = 10.0,
        threads: bool = True,
        skip_loop_filter: bool = False,
    ) -> None:
        super().__init__()
        import av

        self.spec = spec
        self.gray = gray
        self.live = live
        self._ended = False
        options = {}
        if live and spec.lower().startswith("rtsp"):
            options["rtsp_transport"] = "tcp"  # UDP loses packets on busy networks: smeared frames
        try:
            self.container = av.open(
                spec,
                mode="r",
                timeout=(timeout, timeout) if live else None,
                options=options,
                metadata_errors=METADATA_ERRORS,
            )
        except av.error.FileNotFoundError:
            raise SourceError(f"{spec}: no such file", "check the path") from None
        except (av.error.TimeoutError, av.error.ConnectionRefusedError, OSError) as e:
            raise SourceError(
                f"cannot open {spec}: {_av_reason(e)}", "check the address and that it is streaming"
            ) from None
        except av.FFmpegError as e:
            what = "stream" if live else "video"
            raise SourceError(
                f"{spec} is not a {what} framediff can read: {_av_reason(e)}",
                "give a video file (mp4, mkv, webm, avi...)",
            ) from None
        if self.container.format.name in _TEXT_FORMATS:
            # FFmpeg renders plain text (.txt, .ans...) as "video"; nobody means that.
            self.container.close()
            raise SourceError(
                f"{spec} is not a video framediff can read: it is text",
                "give a video file (mp4, mkv, webm, avi...)",
            )
        if not self.container.streams.video:
            self.container.close()
            raise SourceError(f"{spec} has no video stream", "give a file with video in it")
        self.stream = self.container.streams.video[0]
        if self.stream.codec_context is None:  # FFmpeg has no decoder for what the header says it holds
            self.container.close()
            raise SourceError(
                f"{spec} holds video framediff cannot decode (an unknown codec, or a corrupt header)",
                "check the file plays, or convert it to H.264",
            )
        if threads:
            self.stream.thread_type = "AUTO"  # frame + slice threads: decoding is the bottleneck
        if skip_loop_filter:
            # The deblocking filter only smooths block edges; analysis at reduced size does not need it.
            # PyAV has no attribute for it: pass FFmpeg's codec option (the decoder opens on first use).
            self.stream.codec_context.options = {
                **self.stream.codec_context.options,
                "skip_loop_filter": "all",
            }
        cc = self.stream.codec_context
        self.size = (cc.width, cc.height) if cc.width else None
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.frame_count = self.stream.frames or None
        tb = self.stream.time_base
        self.start = float(self.stream.start_time * tb) if self.stream.start_time is not None and tb else 0.0
        self.duration = (
            float(self.stream.duration * tb)
            if self.stream.duration and tb
            else (self.container.duration / 1e6 if self.container.duration else None)
        )

    def __iter__(self) -> Iterator[Frame]:
        import av

        if self._ended:  # a file is read once; iterating again gives nothing, as before
            return
        index = 0
        last_time = -1.0
        try:
            for packet in self.container.demux(self.stream):
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError as e:
                    self.warnings.append(f"skipped a corrupt packet near frame {index}: {_av_reason(e)}")
                    continue
                for f in decoded:
                    t = last_time = self.frame_time(f.time, index, last_time)
                    yield self.make_frame(index, t, f)
                    index += 1
        except av.error.EOFError:
            pass
        except (av.FFmpegError, OSError) as e:
            if self.live:
                raise SourceError(f"lost {self.spec}: {_av_reason(e)}", "it will be reopened") from None
            self._ended = True
            self.warnings.append(
                f"stopped after frame {index - 1}: the file is truncated or corrupt ({_av_reason(e)})"
            )
            return
        self.finish(index, last_time)

    def finish(self, frames: int, last_time: float) -> None:
        """Check a finished read against the file's header: warn about a truncated file, fail on an empty one.

        Called at the end of :meth:`__iter__`, and by readers that demux the file themselves
        (:class:`~framediff.gop_decode.GopDecoder`).

        Args:
            frames: Frames decoded.
            last_time: The last frame's time in seconds.

        Raises:
            SourceError: when no frame could be decoded.
        """
        self._ended = True
        if self.live:
            return
        fps = self.fps or 30.0
        if frames == 0:
            raise SourceError(f"{self.spec} holds no decodable video frames", "check the file plays")
        # FFmpeg ends quietly at a truncated file's end; the header says how much there should have been.
        if self.frame_count and frames < self.frame_count:
            self.warnings.append(
                f"decoded {frames} of {self.frame_count} frames: the file is truncated or corrupt"
            )
        elif not self.frame_count and self.duration and last_time < self.duration - max(3.0 / fps, 0.5):
            self.warnings.append(
                f"frames stop at {last_time:.2f} s of {self.duration:.2f} s: the file is truncated or corrupt"
            )

    def frame_time(self, seconds: float | None, index: int, last: float) -> float:
        """A decoded frame's time from the stream's start (readers that decode the file themselves use it too).

        Args:
            seconds: The frame's timestamp in seconds (``None`` when it has none).
            index: The frame's number.
            last: The previous frame's time.

        Returns:
            Its timestamp less the stream's start, or, without one, one frame after the previous frame.
        """
        if seconds is not None:
            return seconds - self.start
        return last + 1.0 / (self.fps or 30.0) if index else 0.0

    def make_frame(self, index: int, t: float, f: Any) -> Frame:
        """The :class:`Frame` this source yields for the decoder's frame ``f`` (grey or BGR, as set).

        Args:
            index: The frame's number.
            t: Its time in seconds.
            f: The decoder's frame (PyAV).

        Returns:
            A Frame, a LumaFrame, or with ``raw_luma`` a Frame viewing the decoder's luma plane.
        """
        if self.gray:
            luma = luma_plane(f)
            if luma is not None:
                if self.raw_luma:
                    return Frame(index, t, luma, f)
                # Limited-range video stores black..white as 16..235: LumaFrame stretches it as a
                # BGR conversion would (when asked), so grey frames match to_gray() of colour frames.
                fmt = f.format.name
                full = fmt.startswith(("yuvj", "gray")) or _color_range(f) == 2
                return LumaFrame(index, t, luma, f, limited=not full)
            return Frame(index, t, f.to_ndarray(format="gray"), f)
        return Frame(index, t, f.to_ndarray(format="bgr24"), f)

    def close(self) -> None:
        # Closing a broken stream must not mask the real error.
        with contextlib.suppress(Exception):
            self.container.close()


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


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _color_range(f: Any) -> int:
    """FFmpeg's colour range of a frame: 1 = limited (MPEG/TV), 2 = full (JPEG/PC), 0 = unspecified."""
    try:
        return int(getattr(f, "color_range", 0) or 0)
    except (TypeError, ValueError):
        return 0


class CameraSource(FrameSource):
    """A local camera (``0`` or ``/dev/video0``) through OpenCV; times are seconds since opening."""

    live = True

    def __init__(self, spec: str, *, gray: bool = False) -> None:
        super().__init__()
        self.spec = spec
        self.gray = gray
        device: int | str = int(spec) if spec.isdigit() else spec
        self.cap = cv2.VideoCapture(device)
        if not self.cap.isOpened():
            raise SourceError(f"cannot open camera {spec}", "check that it is connected and not in use")
        w, h = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.size = (w, h) if w else None
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else None

    def __iter__(self) -> Iterator[Frame]:
        t0 = time.monotonic()
        index = 0
        while True:
            ok, image = self.cap.read()
            if not ok or image is None:
                raise SourceError(f"camera {self.spec} stopped delivering frames", "check the device")
            if self.gray:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            yield Frame(index, time.monotonic() - t0, image)
            index += 1

    def close(self) -> None:
        self.cap.release()


def put_unless_stopped(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put ``item`` into a bounded queue, waiting for room unless ``stop`` is set meanwhile.

    A reading thread must not block for good in ``put`` when its consumer has stopped reading: it waits
    in short steps and gives up once ``stop`` is set.

    Returns:
        True when the item was queued, False when ``stop`` was set first.
    """
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class Prefetch:
    """Iterate frames in a background thread, a few frames ahead of the consumer.

    PyAV and OpenCV release the GIL while they work, so the next frames are read and decoded while the
    consuming thread analyses the current one; the queue is bounded, so memory stays flat however slow
    the consumer is. Exceptions raised by the iterator are raised again in the consuming thread, at the
    position where they happened. Use it as a context manager: leaving the block (or :meth:`close`) stops
    the reader and waits for it, so the source is never closed under a decode in progress.

    Example::

        with open_source("clip.mp4", gray=True) as src, Prefetch(src) as frames:
            for frame in frames:
                ...

    Args:
        frames: What to iterate (a :class:`FrameSource` or any iterable).
        depth: How many items may wait in the queue.
        name: The reader thread's name (shows in profilers and ``py-spy dump``).
    """

    _END = object()

    def __init__(self, frames: Iterable[Any], depth: int = 4, name: str = "framediff-read") -> None:
        self._queue: queue.Queue = queue.Queue(max(1, int(depth)))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._read, args=(frames,), name=name, daemon=True)
        self._thread.start()

    @property
    def backlog(self) -> int:
        """How many items wait in the queue: near ``depth`` the consumer is the slower side, near 0 the
        reader. A reader can use it to take work off a consumer that is behind (see ``watch``)."""
        return self._queue.qsize()

    def _read(self, frames: Iterable[Any]) -> None:
        try:
            for item in frames:
                if not self._put(item):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consuming thread, which raises it
            self._put(_Raised(e))
            return
        self._put(self._END)

    def _put(self, item: Any) -> bool:
        return put_unless_stopped(self._queue, item, self._stop)

    def __iter__(self) -> Iterator[Any]:
        while not self._done:
            item = self._queue.get()
            if item is self._END:
                self._done = True
                return
            if isinstance(item, _Raised):
                self._done = True
                raise item.error
            yield item

    def close(self) -> None:
        """Stop the reader and wait for it to finish the item it is on."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                while True:  # free a blocked put; the frames are dropped
                    self._queue.get_nowait()
            self._thread.join(timeout=0.05)
        with contextlib.suppress(queue.Empty):
            while True:  # nothing decoded ahead stays referenced after closing
                self._queue.get_nowait()
        self._done = True

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Raised:
    """An exception on its way from the reader thread to the consumer (never confused with a frame)."""

    error: BaseException


def _av_reason(e: BaseException) -> str:
    """FFmpeg's own short reason, without PyAV's errno prefix and file name."""
    reason = getattr(e, "strerror", None) or str(e)
    return str(reason).strip().rstrip(".")


def image_paths(spec: str | os.PathLike) -> list[Path] | None:
    """The image files a folder or a glob pattern names, in the order they are read (natural order of
    their names); ``None`` when ``spec`` is neither (a file, a stream, a camera, a missing path).

    Args:
        spec: What :func:`open_source` would be given.

    Returns:
        The image files, or ``None``.
    """
    text = os.fspath(spec)
    if any(c in text for c in "*?[") and not Path(text).exists():
        import glob

        paths = sorted((Path(p) for p in glob.glob(text)), key=lambda p: natural_key(p.name))
        return [p for p in paths if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    path = Path(text)
    if path.is_dir():
        return sorted(
            (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
            key=lambda p: natural_key(p.name),
        )
    return None


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
