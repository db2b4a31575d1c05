"""Image files: reading (EXIF orientation, 16-bit, alpha), DCT-scaled JPEG reads, pixel limits, the one
list of image suffixes every command uses to pick pictures out of a folder, and atomic writes.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import InputError, OptionError, OutputError
from ..paths import disk_error, remove_quietly, temp_path

__all__ = [
    "IMAGE_EXTENSIONS",
    "CODEC_NOISE",
    "DEFAULT_MAX_PIXELS",
    "PIXELS_ENV",
    "apply_orientation",
    "check_pixels",
    "decode_image",
    "exif_orientation",
    "image_header_size",
    "image_paths",
    "is_image_file",
    "REDUCED_FLAGS",
    "jpeg_header",
    "jpeg_is_complete",
    "jpeg_reduction",
    "load_image",
    "max_pixels",
    "natural_key",
    "parse_pixels",
    "quiet_codecs",
    "read_image",
    "read_jpeg_reduced",
    "set_max_pixels",
    "write_bytes",
    "write_image",
]

# Every suffix OpenCV reads: folder dedup, folder compare and watch all see the same files.
IMAGE_EXTENSIONS = {
    ".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".pbm", ".pgm", ".ppm",
    ".pnm", ".pxm", ".sr", ".ras", ".exr", ".hdr", ".pic", ".jp2", ".avif",
}  # fmt: skip

# OpenCV prints its own warnings for unreadable files; we report those ourselves, once and clearly.
with contextlib.suppress(AttributeError):  # very old OpenCV has no logging module
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def is_image_file(path: Path) -> bool:
    """Whether ``path`` is a file with one of the :data:`IMAGE_EXTENSIONS` (any case)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()


def natural_key(name: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10``.

    Args:
        name: A file name.

    Returns:
        A key mixing lower-cased text and integers.
    """
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def exif_orientation(path: Path) -> int:
    """The EXIF orientation tag (1 = upright) of a JPEG/TIFF/WebP file, read from its header only."""
    try:
        from PIL import Image  # Pillow comes with scikit-image; it only reads the header here

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's bomb warning: the size was checked already
            with Image.open(path) as im:
                return int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - no readable EXIF simply means upright
        return 1


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
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


def jpeg_is_complete(data: bytes) -> bool:
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


def parse_pixels(text: str | int, what: str = "max_pixels") -> int:
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
        example = f"{what} 400M" if what.startswith("-") else f"{what}=400M"
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
            f"if you trust the file, raise the limit with max_pixels or {PIXELS_ENV}",
            setting="max_pixels",
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
    if data[:2].tobytes() == b"\xff\xd8" and not jpeg_is_complete(data.tobytes()):
        raise InputError(f"{p} is a truncated JPEG", "re-export or re-download the file")
    if p.suffix.lower() in (".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".webp"):
        image = apply_orientation(image, exif_orientation(p))
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
        return [p for p in paths if is_image_file(p)]
    path = Path(text)
    if path.is_dir():
        return sorted(
            (p for p in path.iterdir() if is_image_file(p)),
            key=lambda p: natural_key(p.name),
        )
    return None


# libjpeg's DCT scaling: a JPEG decoded straight at 1/2, 1/4 or 1/8 of its size, several times faster.
REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def jpeg_header(path: str | os.PathLike) -> tuple[tuple[int, int], int] | None:
    """A JPEG's ``(width, height)`` as it shows upright and its EXIF orientation, from its header only.

    Args:
        path: The file.

    Returns:
        ``((width, height), orientation)``, or ``None`` when the file is not a readable JPEG.
    """
    try:
        with open(path, "rb") as f:
            if f.read(2) != b"\xff\xd8":
                return None
        from PIL import Image  # Pillow comes with scikit-image; only the header is read

        with Image.open(path) as im:
            w, h = im.size
            orientation = int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - not a readable JPEG: the normal reader will say why
        return None
    return ((h, w) if orientation in (5, 6, 7, 8) else (w, h)), orientation


def jpeg_reduction(scale: float) -> int:
    """The largest JPEG decoding reduction (1, 2, 4 or 8) that stays at or above ``scale``.

    Args:
        scale: The size wanted, as a fraction of the full size.

    Returns:
        The reduction factor to pass to :func:`read_jpeg_reduced` (1: decode at full size).
    """
    k = 1
    while k < 8 and 2 * k * scale <= 1.0 + 1e-9:
        k *= 2
    return k


def read_jpeg_reduced(path: str | os.PathLike, k: int, orientation: int) -> np.ndarray:
    """Decode a JPEG at 1/k size with libjpeg's DCT scaling (several times faster than full size).

    Args:
        path: The JPEG file.
        k: 2, 4 or 8 (see :func:`jpeg_reduction`).
        orientation: Its EXIF orientation (see :func:`jpeg_header`).

    Returns:
        The upright BGR pixels at about 1/k of the size.

    Raises:
        InputError: as :func:`read_image`, when the file cannot be decoded.
    """
    data = np.fromfile(path, dtype=np.uint8)
    # OpenCV would turn the picture upright itself here; ignore that so that it is done exactly as for
    # full-size reads (which must ignore it to keep alpha and depth).
    image = decode_image(data, REDUCED_FLAGS[k] | cv2.IMREAD_IGNORE_ORIENTATION, path)
    if image is None or image.size == 0 or not jpeg_is_complete(data.tobytes()):
        return load_image(path)  # raises the reader's own clear error
    return apply_orientation(image, orientation)


def write_image(
    path: str | os.PathLike, image: np.ndarray, quality: int = 92, fmt: str | None = None
) -> None:
    """Write a picture atomically (a temporary file in the same folder, renamed when complete).

    Args:
        path: Destination; the format follows the extension (.png, .jpg, .webp...) unless ``fmt`` is given.
        image: The pixels.
        quality: JPEG/WebP quality.
        fmt: Encode as this format (e.g. ``".png"``) whatever the file is called.

    Raises:
        OutputError: when the format is unknown or the file cannot be written; nothing is left behind.
    """
    p = Path(path)
    ext = (fmt or p.suffix or ".png").lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else []
    try:
        ok, buf = cv2.imencode(ext, image, params)
    except cv2.error:
        ok = False
    if not ok:
        raise OutputError(f"cannot write {p}: unknown image type {ext!r}", "use .png, .jpg or .webp")
    write_bytes(p, buf.tobytes())


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a file atomically (a temporary file in the same folder, renamed when complete).

    Args:
        path: Destination.
        data: The whole content.

    Raises:
        OutputError: when the file cannot be written; nothing is left behind.
    """
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {p}: folder {folder} does not exist", "create it first")
    # A name of our own per call (threads may write at once); plain open() keeps the usual permissions.
    tmp = temp_path(p)
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, p)
    except OSError as e:
        remove_quietly(tmp)
        raise disk_error(p, e) from None
