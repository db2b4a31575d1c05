"""What ``framediff dupes`` measures once per picture file: hashes of its bytes, its size and date, its PDQ
hashes in the 8 dihedral forms, and local features that survive crops, borders and small rotations.

A picture is decoded once, small: JPEGs straight at 1/2-1/8 of their size by libjpeg's DCT scaling, the
others in full and shrunk. Everything is measured on that working picture (:data:`WORK_SIDE` pixels on
its long side), which is also what verification compares later.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..analysis.prepare import resize_to, to_bgr8, to_uint8
from ..errors import InputError
from ..media.images import apply_orientation, check_pixels, decode_image, image_header_size, jpeg_is_complete
from .pdq import pdq_dihedral

__all__ = [
    "FINGERPRINT_VERSION",
    "flatten_picture",
    "LAYOUT_SIDE",
    "layout_grid",
    "frame_box",
    "FEATURES",
    "PICTURE_EXTENSIONS",
    "WORK_SIDE",
    "Fingerprint",
    "fingerprint_file",
    "measure_picture",
    "reference_pdq",
    "is_picture_file",
    "read_picture",
    "local_features",
    "make_thumb",
    "encode_thumb",
    "shrink",
    "read_thumb",
    "thumb_facts",
    "ThumbFacts",
    "THUMB_SIDE",
]

# Bumped whenever what a fingerprint holds or how it is measured changes: the index then fingerprints
# every file again rather than mixing old and new fingerprints.
FINGERPRINT_VERSION = 8
# Long side of the working picture every fingerprint is measured on: PDQ reduces to 64x64 anyway, and
# 512 px keeps a caption or a small edit visible to verification.
WORK_SIDE = 512
# Local features: ORB keypoints on the grey picture at FEATURE_SIDE px, at most FEATURES of them. ORB is
# oriented and found at 8 scales, so a crop, a border, a small rotation or a caption keeps most of them.
FEATURE_SIDE = 320
FEATURES = 96
# The picture kept in the index for verification and the report page: 384 px still shows a caption or
# an edit of 3% of the area in several thousand pixels; as a JPEG of quality 90 it takes ~25 kB.
THUMB_SIDE = 384
THUMB_QUALITY = 90

# What dupes looks at in a folder: OpenCV's formats, GIF (first frame, through Pillow) and HEIC/HEIF/AVIF
# when pillow-heif is installed (the ``heif`` extra).
PICTURE_EXTENSIONS = {
    ".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".dib", ".gif",
    ".pbm", ".pgm", ".ppm", ".pnm", ".jp2", ".heic", ".heif", ".avif",
}  # fmt: skip
_PILLOW_ONLY = {".gif", ".heic", ".heif", ".avif"}
_EXIF_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".webp", ".heic", ".heif", ".avif"}


def is_picture_file(path: Path) -> bool:
    """True when ``path``'s suffix is one dupes reads (hidden files such as ``._x.jpg`` are skipped)."""
    return path.suffix.lower() in PICTURE_EXTENSIONS and not path.name.startswith(".")


@dataclass
class ThumbFacts:
    """A thumbnail's layout (a candidate source) and whether it is a picture in a plain frame (ranking).

    Attributes:
        grid: (16, 16) float32 layout grid (:func:`layout_grid`).
        mean: The grey mean of the thumbnail.
        spread: Its grey standard deviation.
        framed: Whether :func:`frame_box` finds a plain frame around the picture.
    """

    grid: np.ndarray
    mean: float
    spread: float
    framed: bool


@dataclass
class Fingerprint:
    """One file's fingerprints.

    Attributes:
        path: Absolute path.
        size: Bytes.
        mtime: Modification time.
        digest: BLAKE2b-128 of the file's bytes (exact copies).
        width: Full width, upright.
        height: Full height, upright.
        format: ``jpeg``, ``png``, ``webp``, ``tiff``, ``bmp``, ``gif``, ``heif``...
        taken: EXIF date taken (``YYYY-MM-DDTHH:MM:SS``) or ``None``.
        pdq: (8, 32) uint8: the PDQ hashes of the 8 dihedral forms (see :func:`~.pdq.pdq_dihedral`), of
            what a plain frame holds when the picture has one (:func:`frame_box`).
        quality: PDQ quality 0-100 (low on flat pictures, whose hashes are unreliable).
        features: (n, 32) uint8 ORB descriptors of the picture.
        mirrored: (m, 32) uint8 ORB descriptors of its mirror image (mirrored crops).
        points: (n, 2) float32 positions of the ``features`` keypoints, in the feature picture's pixels.
        mirrored_points: (m, 2) float32 positions of the ``mirrored`` keypoints (in the mirror image).
        pixels: BLAKE2b-128 of the working picture's pixels (a cheap test of equal content).
        thumb: The picture at :data:`THUMB_SIDE` px as a JPEG: what verification compares (so that it
            reads no file again) and the report page shows.
        facts: What grouping reads of the thumbnail (:func:`thumb_facts`), measured once with the rest so
            that a run over a large collection decodes no thumbnail but those it verifies.
    """

    path: str
    size: int
    mtime: float
    digest: bytes
    width: int
    height: int
    format: str
    taken: str | None
    pdq: np.ndarray
    quality: int
    features: np.ndarray
    mirrored: np.ndarray
    points: np.ndarray
    mirrored_points: np.ndarray
    pixels: bytes
    thumb: bytes
    facts: ThumbFacts | None = None


def _pillow_read(data: bytes, path: Path) -> tuple[np.ndarray, int, str | None]:
    """Decode with Pillow (GIF's first frame, HEIF/AVIF through pillow-heif); orientation applied."""
    from PIL import Image, ImageOps

    if path.suffix.lower() in (".heic", ".heif", ".avif"):
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:
            if path.suffix.lower() != ".avif":
                raise InputError(
                    f"{path}: HEIC/HEIF pictures need pillow-heif", "pip install 'framediff[heif]'"
                ) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(data)) as im:
            check_pixels(path, *im.size)
            taken = _exif_date(im)
            im.seek(0)
            upright = ImageOps.exif_transpose(im).convert("RGB")
    rgb = np.asarray(upright)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), 1, taken


def _exif_date(im: object) -> str | None:
    """DateTimeOriginal (or DateTime) from a Pillow image's EXIF, as ISO 8601."""
    try:
        exif = im.getexif()  # type: ignore[attr-defined]
        value = exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132)
    except Exception:  # noqa: BLE001 - damaged EXIF is no date, not an unreadable picture
        return None
    if not isinstance(value, str) or len(value) < 19:
        return None
    text = value.strip("\x00 ")[:19]
    return text[:10].replace(":", "-") + "T" + text[11:19] if text[4] == ":" else None


def _exif(data: bytes) -> tuple[int, str | None]:
    """EXIF orientation and date taken, from the header only (Pillow reads no pixels here)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                orientation = int(im.getexif().get(0x0112, 1))
                return (orientation if 1 <= orientation <= 8 else 1), _exif_date(im)
    except Exception:  # noqa: BLE001 - no readable EXIF: upright, no date
        return 1, None


def read_picture(
    path: str | os.PathLike, data: bytes | None = None, max_side: int | None = WORK_SIDE, flatten: bool = True
) -> tuple[np.ndarray, tuple[int, int], str | None]:
    """Decode a picture small for fingerprinting: upright, BGR, at most :data:`WORK_SIDE` px long.

    Args:
        path: The file.
        data: Its bytes, when already read.
        max_side: The long side of the picture returned (``None``: full size, decoded in full, as PDQ's
            reference hasher reads a picture).
        flatten: Lay transparency over a background (:func:`flatten_picture`); ``False`` keeps the stored
            colours under it, as Pillow's ``convert("RGB")`` (and so PDQ's reference hasher) does.

    Returns:
        ``(picture, (full_width, full_height), date_taken)``; sizes upright.

    Raises:
        InputError: when the file is empty, truncated, over the pixel limit or not a picture.
    """
    p = Path(path)
    if data is None:
        data = p.read_bytes()
    if not data:
        raise InputError(f"{p} is empty", "delete it or restore it from a backup")
    suffix = p.suffix.lower()
    taken: str | None = None
    orientation = 1
    if suffix in _PILLOW_ONLY or data[:6] in (b"GIF87a", b"GIF89a"):
        image, orientation, taken = _pillow_read(data, p)
        full = (image.shape[1], image.shape[0])
    else:
        buf = np.frombuffer(data, dtype=np.uint8)
        header = image_header_size(data)
        if header is not None:
            check_pixels(p, *header)
        k = 1
        if data[:2] == b"\xff\xd8":
            if not jpeg_is_complete(data):
                raise InputError(f"{p} is a truncated JPEG", "re-export or re-download the file")
            if header is not None and max_side is not None:
                while k < 8 and max(header) // (2 * k) >= max_side:
                    k *= 2
        jpeg = data[:2] == b"\xff\xd8"
        flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}[k] if jpeg else cv2.IMREAD_UNCHANGED  # fmt: skip
        image = decode_image(buf, flags | cv2.IMREAD_IGNORE_ORIENTATION, p)
        if image is None or image.size == 0:
            raise InputError(f"{p} is not a picture that can be read (or it is corrupt)", "check the file")
        if not jpeg:
            if max_side is not None and max(image.shape[:2]) > 2 * max_side:
                # Shrunk first (to twice the working size, then finished below): flattening a 5640 px
                # picture with transparency in floats would take ~400 MB.
                image = resize_to(image, 2 * max_side / max(image.shape[:2]), fast=True)
            image = flatten_picture(image if flatten else image[..., :3] if image.ndim == 3 else image)
        full = header if header is not None else (image.shape[1] * k, image.shape[0] * k)
        if suffix in _EXIF_SUFFIXES or data[:2] == b"\xff\xd8":
            orientation, taken = _exif(data)
        image = apply_orientation(image, orientation)
        if orientation in (5, 6, 7, 8):
            full = (full[1], full[0])
    return np.ascontiguousarray(shrink(image, max_side)), (int(full[0]), int(full[1])), taken


def shrink(image: np.ndarray, side: int | None, exact: bool = True) -> np.ndarray:
    """A picture at most ``side`` px on its long side (unchanged when it fits or ``side`` is ``None``).

    Args:
        image: Any picture.
        side: The longest side wanted.
        exact: Area averaging throughout; ``False``: halvings by area, then bilinear for the factor under 2
            left (OpenCV's area resize is ~7x slower for a fractional factor, and a JPEG decoded
            DCT-reduced always leaves one; on photos the two differ by ~50 dB PSNR, but the pictures
            verification compares must be made the exact way: the bilinear one's aliasing moved ~1 in 10
            of the kit's crop, border and rotate verdicts).
    """
    if side is None or max(image.shape[:2]) <= side:
        return image
    return resize_to(image, side / max(image.shape[:2]), fast=not exact)


def flatten_picture(image: np.ndarray) -> np.ndarray:
    """An 8-bit BGR picture from any decoded one: grey, 16-bit, or with transparency.

    Transparency is laid over white, as a picture is shown and exported (:func:`~..analysis.prepare.to_bgr8`);
    a picture drawn only in its transparency (a white pattern meant to lie over a desktop's colour) would
    then be blank, and is laid over black instead.

    Args:
        image: As ``cv2.IMREAD_UNCHANGED`` decodes it.

    Returns:
        BGR uint8.
    """
    bgr = to_bgr8(image)
    if image.ndim == 3 and image.shape[2] == 4 and float(bgr.std()) < 2.0:
        rgba = to_uint8(image)
        alpha = rgba[..., 3:4].astype(np.float32) / 255.0
        if float(alpha.std()) > 0.04:
            return (rgba[..., :3].astype(np.float32) * alpha).astype(np.uint8)
    return bgr


def local_features(
    image: np.ndarray, side: int = FEATURE_SIDE, count: int = FEATURES
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ORB descriptors of a picture and of its mirror image, at :data:`FEATURE_SIDE` px, with where they lie.

    Args:
        image: BGR or grey working picture.
        side: The long side the picture is shrunk to first (when larger).
        count: The most keypoints kept (the strongest).

    Returns:
        ``(features, points, mirrored, mirrored_points)``: (n, 32) uint8 descriptors and (n, 2) float32
        positions, then the same for the mirror image (n, m <= :data:`FEATURES`; 0 rows on a flat picture),
        strongest (by FAST response) first.
    """
    grey = shrink(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image, side, exact=False)
    # A low FAST threshold so that smooth pictures still give keypoints; the strongest are kept.
    orb = cv2.ORB_create(nfeatures=count, fastThreshold=8, edgeThreshold=15, patchSize=15)
    kps, d = orb.detectAndCompute(grey, None)
    none = np.zeros((0, 32), np.uint8), np.zeros((0, 2), np.float32)
    if d is None or not kps:
        return none + none
    # Strongest first: a run over a very large collection indexes only each file's first few
    # (see candidates.feature_cap), and the strongest corners are the ones a copy keeps.
    order = np.argsort([-k.response for k in kps], kind="stable")
    kps = [kps[i] for i in order]
    # The mirror image's descriptors at the mirrored corners (FAST and Harris are symmetric, the
    # orientation mirrors to 180 - angle): detection once instead of twice, a third of the ORB time;
    # ~85% of them equal what detecting on the mirror image would give.
    w = grey.shape[1]
    flipped = [cv2.KeyPoint(w - 1 - k.pt[0], k.pt[1], k.size, (180.0 - k.angle) % 360.0, k.response, k.octave)
               for k in kps]  # fmt: skip
    mkps, md = orb.compute(cv2.flip(grey, 1), flipped)
    mirrored = none if md is None or not mkps else (md, np.float32([k.pt for k in mkps]))
    return d[order], np.float32([k.pt for k in kps]), mirrored[0], mirrored[1]


def fingerprint_file(path: str | os.PathLike) -> tuple[Fingerprint, np.ndarray]:
    """Read a picture and measure its fingerprints.

    Args:
        path: The file.

    Returns:
        The :class:`Fingerprint` and the working picture it was measured on.

    Raises:
        InputError: when the file cannot be read as a picture.
        OSError: when the file cannot be opened.
    """
    p = Path(path)
    st = p.stat()
    data = p.read_bytes()
    image, (width, height), taken = read_picture(p, data)
    fp = measure_picture(image, str(p), data, (width, height))
    fp.size, fp.mtime, fp.taken, fp.format = st.st_size, st.st_mtime, taken, _format(data, p)
    return fp, image


def measure_picture(
    image: np.ndarray, path: str = "<picture>", data: bytes | None = None, full: tuple[int, int] | None = None
) -> Fingerprint:
    """The fingerprints of a decoded picture (upright BGR), e.g. one a program holds in memory.

    Args:
        image: The picture; shrunk to :data:`WORK_SIDE` first when larger.
        path: What the fingerprint names it.
        data: The file's bytes, when it has a file (for the digest; else the pixels are digested).
        full: The full size ``(width, height)`` when ``image`` was decoded small.

    Returns:
        A :class:`Fingerprint` (size 0, mtime 0, format ``raw`` unless the caller sets them).
    """
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    image = np.ascontiguousarray(image[:, :, :3])
    if image.dtype != np.uint8:  # 16-bit pictures: their top 8 bits
        image = (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else np.clip(image, 0, 255).astype(np.uint8)
    if full is None:
        full = (image.shape[1], image.shape[0])
        image = shrink(image, WORK_SIDE)
    # A picture in a plain frame is hashed by what the frame holds: its copies without the frame (or in
    # another frame) then lie as close in PDQ as any resized copy, where the frame alone moves ~100 bits.
    box = frame_box(image)
    content = image if box is None else image[box[1] : box[1] + box[3], box[0] : box[0] + box[2]]
    hashes, quality = pdq_dihedral(content)
    features, points, mirrored, mirrored_points = local_features(image)
    pixels = hashlib.blake2b(image.tobytes() + bytes(str(image.shape), "ascii"), digest_size=16).digest()
    return Fingerprint(
        path=path, size=len(data) if data is not None else 0, mtime=0.0,
        digest=hashlib.blake2b(data, digest_size=16).digest() if data is not None else pixels,
        width=int(full[0]), height=int(full[1]), format="raw", taken=None, pdq=hashes, quality=int(quality),
        features=features, mirrored=mirrored, points=points, mirrored_points=mirrored_points, pixels=pixels,
        thumb=encode_thumb(small := shrink(image, THUMB_SIDE)), facts=thumb_facts(small),
    )  # fmt: skip


def reference_pdq(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """A file's PDQ hashes (8 dihedral forms) as Meta's reference hasher makes them: the picture decoded in
    full, then shrunk by :func:`~.pdq.fit_reference`.

    The fingerprint's hashes come from the small decode (:func:`read_picture`): within a few bits of these
    (0 on most photos), close enough to find candidates, but a shared hash list is matched at PDQ's own
    distance, so a list's hashes and a query's must be made the same way.

    Args:
        path: The file.

    Returns:
        ``((8, 32) uint8 hashes, quality)``.

    Raises:
        InputError: when the file cannot be read as a picture.
        OSError: when the file cannot be opened.
    """
    image, _, _ = read_picture(path, max_side=None, flatten=False)
    return pdq_dihedral(image, shrink="reference")


def frame_box(image: np.ndarray) -> tuple[int, int, int, int] | None:
    """The picture inside a plain frame: a border of one flat colour on all four sides.

    Args:
        image: BGR or grey uint8.

    Returns:
        ``(x, y, w, h)`` of what the frame holds (a seam of 4 px left out: resampling and JPEG blend the frame into the picture's edge), or ``None`` without a frame.
    """
    h, w = image.shape[:2]
    pixels = image.reshape(h, w, -1)
    corner = pixels[0, 0].astype(np.int16)
    # Most pictures have no frame: their outermost rows and columns are not all of the corner's colour,
    # which four lines tell at once (the whole picture is looked at only when they are).
    for line in (pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]):
        if (np.abs(line.astype(np.int16) - corner).max(axis=-1) > 10).any():
            return None
    px = pixels.astype(np.int16)
    # A line belongs to the frame when all its pixels lie within a few levels of the corner's colour.
    off = np.abs(px - corner).max(axis=2) <= 10
    rows, cols = off.all(axis=1), off.all(axis=0)

    def run(flags: np.ndarray) -> int:
        return int(np.argmin(flags)) if not flags.all() else len(flags)

    top, bottom, left, right = run(rows), run(rows[::-1]), run(cols), run(cols[::-1])
    if min(top, bottom) < max(2, 0.02 * h) or min(left, right) < max(2, 0.02 * w):
        return None
    x0, y0, x1, y1 = left + 4, top + 4, w - right - 4, h - bottom - 4
    if x1 - x0 < 0.25 * w or y1 - y0 < 0.25 * h:
        return None  # mostly flat: a plain picture, not a frame around one
    return x0, y0, x1 - x0, y1 - y0


def make_thumb(image: np.ndarray) -> bytes:
    """The picture at :data:`THUMB_SIDE` px on its long side, as JPEG bytes."""
    return encode_thumb(shrink(image, THUMB_SIDE))


def encode_thumb(image: np.ndarray) -> bytes:
    """A picture already at thumbnail size as the JPEG bytes :func:`make_thumb` gives."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    if not ok:  # pragma: no cover - OpenCV always encodes an 8-bit BGR picture
        raise InputError("cannot encode a thumbnail", "report this as a bug")
    return buf.tobytes()


LAYOUT_SIDE = 16
"""Cells a side of :func:`layout_grid`."""


def layout_grid(thumb: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """The picture's layout: its grey levels in 16 x 16 cells, less their mean, over their spread.

    The spread is floored at 8 levels so that the noise of a nearly flat picture is not blown up; the
    mean and spread are returned beside, since two flat pictures of other greys have the same grid.

    Args:
        thumb: BGR picture (the thumbnail).

    Returns:
        ``(grid, (mean, spread))``: a (16, 16) float32 grid and the picture's grey mean and spread.
    """
    grey = cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY) if thumb.ndim == 3 else thumb
    g = cv2.resize(grey, (LAYOUT_SIDE, LAYOUT_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    mean, spread = float(grey.mean()), float(grey.std())
    return (g - g.mean()) / max(float(g.std()), 8.0), (mean, spread)


def thumb_facts(thumb: np.ndarray) -> ThumbFacts:
    """The :class:`ThumbFacts` of a decoded thumbnail (BGR)."""
    grid, (mean, spread) = layout_grid(thumb)
    return ThumbFacts(grid=grid, mean=mean, spread=spread, framed=frame_box(thumb) is not None)


def read_thumb(data: bytes) -> np.ndarray:
    """Decode a thumbnail made by :func:`make_thumb` (BGR)."""
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def _format(data: bytes, path: Path) -> str:
    """The container format from the file's magic bytes (its suffix when they are not known)."""
    magic = {
        b"\xff\xd8": "jpeg", b"\x89PNG": "png", b"GIF8": "gif", b"BM": "bmp", b"II*\x00": "tiff",
        b"MM\x00*": "tiff",
    }  # fmt: skip
    for m, name in magic.items():
        if data.startswith(m):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp":
        return "avif" if data[8:12] in (b"avif", b"avis") else "heif"
    return path.suffix.lower().lstrip(".") or "unknown"
