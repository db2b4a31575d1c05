"""Meta's PDQ perceptual hash, bit-compatible with the reference, and its 8 dihedral forms.

PDQ turns a picture into 256 bits such that copies of one picture (re-saved, resized, recompressed, lightly
edited) have hashes a few bits apart, while unrelated pictures differ in about half their bits. The steps,
as published by Meta (see References):

1. luminance ``Y = 0.299 R + 0.587 G + 0.114 B`` as floats;
2. a tent filter (Jarosz: two passes of a box filter along each axis, window about a 128th of the side),
   then one sample per cell of a 64 x 64 grid;
3. the 2-D DCT of that 64 x 64 picture, keeping the 16 x 16 lowest frequencies except the constant one;
4. bit ``(i, j)`` is 1 when coefficient ``(i, j)`` is above the median of the 256 (so 128 ones);
5. a quality 0-100 from the sum of the 64 x 64 picture's gradients (flat pictures score low, and their
   hashes are not to be trusted).

This implementation computes the same numbers in a different order, for speed: the two box filters and
the decimation are one linear map per axis, so each axis is a small matrix of weights (64 rows, each
non-zero only near its sample) and the whole of step 2 is two products, reading each pixel about once.
Luminance is linear too, so the colour channels are filtered first and mixed at 64 x 64.

Hashes are (32,) ``uint8`` arrays in the byte order of the reference hex string (``to_hex`` gives exactly
the string that ThreatExchange, Hasher-Matcher-Actioner and StopNCII lists contain).

References:
    Meta (Facebook) ThreatExchange, "The TMK+PDQF video-hashing algorithm and the PDQ image similarity
    algorithm" (hashing.pdf), https://github.com/facebook/ThreatExchange/tree/main/pdq
    W. Jarosz, "Fast image convolutions", ACM SIGGRAPH 2001 course notes (box filters repeated make a
    tent filter).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from PIL import Image

MATCH_DISTANCE = 31
"""Hamming distance at or below which two PDQ hashes are taken for the same picture.

This is the threshold Meta recommends and the hash-sharing programmes (ThreatExchange, StopNCII) use: in
Meta's measurements it keeps false matches between unrelated pictures rare (their distance is about 128 on
average) while accepting re-encoded, resized and lightly edited copies.
"""

HASH_BYTES = 32
"""Bytes in a hash (256 bits)."""

MIN_HASHABLE_DIM = 5
"""Pictures narrower or lower than this get the all-zero hash with quality 0, as in the reference."""

DIHEDRAL_NAMES = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flipx",
    "flipy",
    "flip_plus1",
    "flip_minus1",
)
"""The order of :func:`pdq_dihedral`'s hashes, that of the reference's dihedral hashes.

With numpy on an H x W (x C) array ``a``: ``rotate90`` is ``np.rot90(a, 1)`` (a quarter turn
counter-clockwise), ``rotate180`` ``np.rot90(a, 2)``, ``rotate270`` ``np.rot90(a, 3)``, ``flipx``
``a[::-1]`` (upside down), ``flipy`` ``a[:, ::-1]`` (mirrored left-right), ``flip_plus1`` the transpose
``a.swapaxes(0, 1)`` and ``flip_minus1`` the anti-transpose ``np.rot90(a, 2).swapaxes(0, 1)``.
"""

REFERENCE_SIDE = 512
"""The reference shrinks larger pictures to fit a square of this side before hashing (PIL, bicubic)."""

SHRINKS = ("reference", "fast", "none")
"""The ways :func:`pdq_hash` can shrink a large picture first (see its ``shrink``)."""

_LUMA_BGR = np.array([0.114, 0.587, 0.299])  # the reference's luma weights, in OpenCV's channel order
_CHUNK_BYTES = 8 << 20  # the most float rows gathered at once
_GRID = 64  # the picture is reduced to 64 x 64 before the DCT
_BITS = 16  # 16 x 16 coefficients, 256 bits


def _box_bounds(n: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last input index each output of the reference's 1-D box filter averages.

    The reference's running-sum filter puts output ``i`` over ``[i - (window - half), i + half - 1]``
    with ``half = (window + 2) // 2`` (so an even window leans one sample right), cut at the edges, where
    it divides by the number of samples actually summed.
    """
    half = (window + 2) // 2
    i = np.arange(n)
    return np.maximum(i - (window - half), 0), np.minimum(i + half - 1, n - 1)


@functools.lru_cache(maxsize=64)
def _axis_weights(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference's two box passes and decimation along one axis of length ``n``, as weights.

    Returns:
        ``(start, weights)``: sample ``t`` of the 64 is ``sum(weights[t, l] * x[start[t] + l])``, with
        ``weights`` (64, L) zero past the end of the axis. Cached: a library has few distinct sizes.
    """
    window = (n + 2 * _GRID - 1) // (2 * _GRID)  # the reference rounds n / 128 to the nearest integer
    lo, hi = _box_bounds(n, window)
    # The decimation keeps input (i + 0.5) * n / 64 for output i (the reference's float then truncation).
    picks = ((np.arange(_GRID) + 0.5) * n / _GRID).astype(np.int64)
    # Second pass at a pick p averages the first pass over [lo[p], hi[p]]; each of those averages the input
    # over [lo[k], hi[k]]. Accumulate those boxes as +w / -w steps and integrate.
    steps = np.zeros((_GRID, n + 1))
    for t, p in enumerate(picks):
        ks = np.arange(lo[p], hi[p] + 1)
        w = 1.0 / (ks.size * (hi[ks] - lo[ks] + 1))
        np.add.at(steps[t], lo[ks], w)
        np.add.at(steps[t], hi[ks] + 1, -w)
    dense = np.cumsum(steps[:, :n], axis=1)
    start = lo[lo[picks]]
    length = int((hi[hi[picks]] - start).max()) + 1
    cols = start[:, None] + np.arange(length)
    weights = np.where(cols < n, dense[np.arange(_GRID)[:, None], np.minimum(cols, n - 1)], 0.0)
    return start, weights


@functools.lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    """The reference's 16 x 64 DCT-II rows 1..16 (the constant row 0 carries no structure, so PDQ skips it)."""
    i = np.arange(1, _BITS + 1)[:, None]
    j = np.arange(_GRID)[None, :]
    return np.sqrt(2.0 / _GRID) * np.cos(np.pi / (2 * _GRID) * i * (2 * j + 1))


def fit_reference(image: np.ndarray) -> np.ndarray:
    """Shrink a picture as the reference hasher does before hashing: to fit 512 x 512, aspect kept.

    Meta's reference Python hasher calls Pillow's ``thumbnail((512, 512))`` (bicubic, after an integer box
    reduction for pictures over twice the size) on every picture; hashing at full resolution instead moves
    4-12 bits on large photos. Pillow's own resampler is used, so the pixels, and the bits, are the same.

    Args:
        image: H x W grey or H x W x 3 uint8 pixels (the channel order does not matter).

    Returns:
        The picture, at most 512 pixels on each side; unchanged when it already fits.
    """
    h, w = image.shape[:2]
    if h <= REFERENCE_SIDE and w <= REFERENCE_SIDE:
        return image
    picture = Image.fromarray(np.ascontiguousarray(image))
    picture.thumbnail((REFERENCE_SIDE, REFERENCE_SIDE))  # Pillow's defaults are the reference's
    return np.asarray(picture)


def fit_fast(image: np.ndarray) -> np.ndarray:
    """Shrink a picture to fit 512 x 512 with OpenCV's area average: 3x faster than :func:`fit_reference`.

    The hashes move little (on 399 photos over 512 px: 1.2 bits on average, 99% within 9, at most 18 on a
    4096 px wood texture), well inside :data:`MATCH_DISTANCE`; use it where speed matters more than
    matching the reference's bits exactly.

    Args:
        image: H x W grey or H x W x 3 uint8 pixels.

    Returns:
        The picture, at most 512 pixels on each side; unchanged when it already fits.
    """
    h, w = image.shape[:2]
    if h <= REFERENCE_SIDE and w <= REFERENCE_SIDE:
        return image
    scale = REFERENCE_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _grids(image: np.ndarray, mirrored: bool) -> list[np.ndarray]:
    """The 64 x 64 float luminance grids the reference hashes: tent-filtered and decimated.

    Args:
        image: grey or BGR uint8.
        mirrored: also give the grids of the picture upside down, mirrored, and both.

    Returns:
        ``[grid]``, or ``[grid, upside_down, mirrored, rotated_180]``. The reference's filter is not
        symmetric (an even window leans right, the samples sit left of their cells' centres), so a
        reversed picture's grid is not the reversed grid: its weights are the mirrored weights instead,
        which costs a second row pass but no second reading of the file or shrinking.
    """
    h, w = image.shape[:2]
    rs, rw = _axis_weights(h)
    cs, cw = _axis_weights(w)
    rows_at = np.minimum(rs[:, None] + np.arange(rw.shape[1]), h - 1)  # (64, L); weights are 0 past the end
    cols_at = np.minimum(cs[:, None] + np.arange(cw.shape[1]), w - 1)
    row_sets = [rows_at, (h - 1) - rows_at] if mirrored else [rows_at]
    col_sets = [cols_at, (w - 1) - cols_at] if mirrored else [cols_at]
    # Rows first: gathering whole rows reads memory in order, and leaves 64 rows for the column pass. The
    # gathered rows are converted to float in chunks of samples, so that a 6000 px photo (whose 64 tents
    # span ~90 rows each) needs a few MB at a time rather than most of a GB.
    chunk = max(1, _CHUNK_BYTES // (8 * rw.shape[1] * image[0].size))
    by_rows = []
    for at in row_sets:
        reduced = np.empty((_GRID, image[0].size))
        for t in range(0, _GRID, chunk):
            flat = image[at[t : t + chunk]].reshape(-1, rw.shape[1], image[0].size).astype(np.float64)
            reduced[t : t + chunk] = np.matmul(rw[t : t + chunk, None, :], flat)[:, 0]
            # Free each block before the next is made: with two alive at once the allocator maps fresh
            # pages on every call, which made the dihedral hashes 8x slower.
            del flat
        reduced = reduced.reshape((_GRID, w) + image.shape[2:])
        # Luminance is linear: mixing the channels after the row pass gives the same numbers, 3x cheaper.
        by_rows.append(reduced @ _LUMA_BGR if reduced.ndim == 3 else reduced)
    grids = []
    for reduced in by_rows:  # order: original, upside down; each as is, then mirrored
        for at in col_sets:
            grids.append((reduced[:, at] * cw).sum(axis=2))  # (64, 64, L') -> (64, 64)
    if mirrored:
        grids = [grids[0], grids[2], grids[1], grids[3]]
    return grids


def _quality(grid: np.ndarray) -> int:
    """The reference's quality: the sum of the absolute gradients in percent of full scale, over 90, at most 100."""
    # The reference truncates each difference to an integer percentage before summing.
    dv = np.trunc((grid[:-1, :] - grid[1:, :]) * 100.0 / 255.0)
    dh = np.trunc((grid[:, :-1] - grid[:, 1:]) * 100.0 / 255.0)
    total = int(np.abs(dv).sum() + np.abs(dh).sum())
    return min(total // 90, 100)


def hash_from_coefficients(coeffs: np.ndarray) -> np.ndarray:
    """Hashes from PDQ's DCT coefficients: a bit for each coefficient above the median.

    Args:
        coeffs: (..., 16, 16) coefficients (rows = vertical frequencies 1..16).

    Returns:
        (..., 32) uint8 hashes in the reference's hex byte order.
    """
    n = _BITS * _BITS
    flat = coeffs.reshape(coeffs.shape[:-2] + (n,))
    # The reference's median of 256 values is the 128th smallest, so exactly 128 coefficients are above it.
    median = np.partition(flat, n // 2 - 1, axis=-1)[..., n // 2 - 1]
    bits = (coeffs > median[..., None, None]).astype(np.uint8)
    # The reference stores row i of the coefficients as 16-bit word i, bit j = column j, and prints words
    # 15..0 most significant first: reversing both axes makes that plain MSB-first packing.
    return np.packbits(bits[..., ::-1, ::-1].reshape(flat.shape), axis=-1)


def _prepared(image: np.ndarray, shrink: str) -> np.ndarray | None:
    """The picture checked, alpha dropped and shrunk as ``shrink`` says; None when too small to hash."""
    if shrink not in SHRINKS:
        raise ValueError(f"unknown shrink {shrink!r} (use one of {', '.join(SHRINKS)})")
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"PDQ needs a uint8 picture, not {image.dtype} (convert it to 8 bits first)")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"PDQ needs an H x W grey or H x W x 3 BGR picture, not shape {image.shape}")
    if image.ndim == 3:
        # A single channel is grey; alpha is ignored, as the reference's reader converts to RGB.
        image = image[:, :, 0] if image.shape[2] == 1 else image[:, :, :3]
    if min(image.shape[:2]) < MIN_HASHABLE_DIM:
        return None
    if shrink == "reference":
        return fit_reference(image)
    return fit_fast(image) if shrink == "fast" else image


def pdq_coefficients(image: np.ndarray, shrink: str = "reference") -> tuple[np.ndarray, int]:
    """PDQ's 16 x 16 DCT coefficients of a picture, before the median threshold, and its quality.

    Args:
        image: as for :func:`pdq_hash`.
        shrink: as for :func:`pdq_hash`.

    Returns:
        ``(coeffs, quality)``: (16, 16) float64 coefficients, rows = vertical frequencies 1..16, columns =
        horizontal ones (zeros for a picture under 5 px), and the quality.

    Raises:
        ValueError: as for :func:`pdq_hash`.
    """
    prepared = _prepared(image, shrink)
    if prepared is None:
        return np.zeros((_BITS, _BITS)), 0
    (grid,) = _grids(prepared, mirrored=False)
    d = _dct_matrix()
    return d @ grid @ d.T, _quality(grid)


def pdq_hash(image: np.ndarray, shrink: str = "reference") -> tuple[np.ndarray, int]:
    """The PDQ hash of a picture and its quality.

    Args:
        image: H x W grey, H x W x 3 BGR (OpenCV's order) or H x W x 4 BGRA (alpha ignored) ``uint8``
            pixels, any size, already upright (EXIF orientation applied).
        shrink: what happens to pictures over 512 px before the filter. ``"reference"``: Pillow's bicubic
            shrink to fit 512 x 512 (:func:`fit_reference`), as Meta's reference Python hasher does, for
            its bits. ``"fast"``: OpenCV's area average to the same size (:func:`fit_fast`), 3x faster on
            a large photo, a bit or two off. ``"none"``: the full picture, as Meta's C++ hasher (and its
            Python binding ``pdqhash``) does, for its bits; 4-12 bits from the Python reference's on
            large photos.

    Returns:
        ``(hash, quality)``: the 256 bits as a (32,) ``uint8`` array whose :func:`to_hex` is the
        reference's hex string, and the quality 0-100 (below 50, Meta's advice is not to trust the hash:
        the picture is too flat). Pictures smaller than 5 pixels on a side get the all-zero hash and
        quality 0, as in the reference.

    Raises:
        ValueError: for a picture that is not uint8 or not grey/BGR/BGRA.

    References:
        Meta ThreatExchange, PDQ (hashing.pdf), https://github.com/facebook/ThreatExchange/tree/main/pdq
    """
    coeffs, quality = pdq_coefficients(image, shrink)
    if quality == 0 and not coeffs.any():  # too small to hash: the reference's empty hash
        return np.zeros(HASH_BYTES, np.uint8), 0
    return hash_from_coefficients(coeffs), quality


def dihedral_coefficients(coeffs: np.ndarray) -> np.ndarray:
    """The reference's shortcut for the 8 dihedral forms: sign changes and transposes of the coefficients.

    PDQ's coefficient ``k`` (1..16) of a cosine basis changes sign as ``(-1)**k`` when its axis is
    reversed, and transposing the picture transposes the coefficients; so every rotation and mirror is a
    sign pattern and perhaps a transpose. This is what the reference's dihedral hashes do, but the
    reference's filter is not symmetric, so these hashes are 6-22 bits from the hash of the actually
    transformed picture (measured on scikit-image's photos); :func:`pdq_dihedral` is exact instead.

    Args:
        coeffs: (16, 16) coefficients, rows = vertical frequencies 1..16, columns = horizontal ones.

    Returns:
        (8, 16, 16) coefficients in the order of :data:`DIHEDRAL_NAMES`.
    """
    # Index 0 is frequency 1 (odd), which flips sign on reversal: +1 for odd indices, -1 for even ones.
    sign = np.where(np.arange(_BITS) % 2 == 1, 1.0, -1.0)
    upside_down = sign[:, None] * coeffs
    mirrored = coeffs * sign[None, :]
    both = upside_down * sign[None, :]
    return np.stack([coeffs, mirrored.T, both, upside_down.T, upside_down, mirrored, coeffs.T, both.T])


def pdq_dihedral(image: np.ndarray, shrink: str = "reference") -> tuple[np.ndarray, int]:
    """The PDQ hashes of a picture's 8 rotations and mirrors, from one shrinking of the picture.

    Each hash is that of the transformed picture (``hashes[k] == pdq_hash(transform_k(image))``, up to
    Pillow's rounding when the picture is shrunk), so a mirrored or turned copy of a file matches its
    forms as closely as an upright copy matches the original. The reference's shortcut
    (:func:`dihedral_coefficients`) would be 6-22 bits off; here the transposed forms are exact by
    construction and the reversed ones are filtered with mirrored weights, costing about 0.3 ms more
    than :func:`pdq_hash`.

    Args:
        image: as for :func:`pdq_hash`.
        shrink: as for :func:`pdq_hash`.

    Returns:
        ``(hashes, quality)``: an (8, 32) ``uint8`` array in the order of :data:`DIHEDRAL_NAMES`
        (original, rotate90, rotate180, rotate270, flipx, flipy, flip_plus1, flip_minus1; ``hashes[0]``
        is :func:`pdq_hash`'s), and the original's quality.

    Raises:
        ValueError: as for :func:`pdq_hash`.

    References:
        Meta ThreatExchange, PDQ (hashing.pdf, dihedral-transform hashes),
        https://github.com/facebook/ThreatExchange/tree/main/pdq
    """
    prepared = _prepared(image, shrink)
    if prepared is None:
        return np.zeros((len(DIHEDRAL_NAMES), HASH_BYTES), np.uint8), 0
    grid, upside_down, mirrored, both = _grids(prepared, mirrored=True)
    # The grid of a transposed picture is the transposed grid (the same weights serve both axes).
    forms = np.stack([grid, mirrored.T, both, upside_down.T, upside_down, mirrored, grid.T, both.T])
    d = _dct_matrix()
    return hash_from_coefficients(d @ forms @ d.T), _quality(grid)


def to_hex(h: np.ndarray) -> str:
    """A hash as the 64 lowercase hex digits PDQ lists use.

    Args:
        h: a (32,) uint8 hash.

    Returns:
        The hex string, e.g. ``"d8f8f0cc..."``.
    """
    h = np.asarray(h, dtype=np.uint8)
    if h.shape != (HASH_BYTES,):
        raise ValueError(f"a PDQ hash is 32 bytes, not shape {h.shape}")
    return h.tobytes().hex()


def from_hex(s: str) -> np.ndarray:
    """A hash from its 64 hex digits (either case, surrounding spaces ignored).

    Args:
        s: the hex string.

    Returns:
        The (32,) uint8 hash.

    Raises:
        ValueError: when ``s`` is not exactly 64 hex digits.
    """
    text = s.strip()
    if len(text) != 2 * HASH_BYTES or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ValueError(f"not a PDQ hash: {s!r} (a PDQ hash is 64 hex digits)")
    return np.frombuffer(bytes.fromhex(text), dtype=np.uint8).copy()


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray | int:
    """Hamming distances between hashes, broadcasting like numpy.

    Args:
        a: a (32,) hash or an (..., 32) array of them.
        b: likewise; e.g. a (32,) hash against an (n, 32) array gives (n,) distances.

    Returns:
        The number of differing bits (0-256): an int for two single hashes, else an array.
    """
    x = np.bitwise_xor(np.asarray(a, dtype=np.uint8), np.asarray(b, dtype=np.uint8))
    d = _POPCOUNT[x].sum(axis=-1, dtype=np.int64)
    return int(d) if d.ndim == 0 else d
