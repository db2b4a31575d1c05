"""Preparing frames for analysis: grey conversion, analysis size, blur, photometric normalisation.

All functions are pure: they take numpy arrays and return new ones.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError

__all__ = [
    "flatten_alpha_like",
    "to_gray",
    "to_bgr8",
    "to_uint8",
    "analysis_scale",
    "resize_to",
    "blur",
    "tone_lut",
    "tone_luts",
]


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Convert any supported depth to 8 bits per channel.

    Args:
        image: uint8, uint16 (full 16-bit range), or float array in [0, 1].

    Returns:
        The uint8 array (the input itself when it already is uint8).

    Raises:
        InputError: for an unsupported dtype.
    """
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        # 65535 / 257 = 255 exactly, so white stays white.
        return cv2.convertScaleAbs(image, alpha=1 / 257)
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if np.issubdtype(image.dtype, np.floating):
        # Clip first: convertScaleAbs would take |x|, turning slightly negative values into grey.
        scaled = np.clip(np.nan_to_num(image.astype(np.float32)), 0.0, 1.0) * 255.0
        return cv2.convertScaleAbs(scaled)
    if np.issubdtype(image.dtype, np.integer):
        return np.clip(image, 0, 255).astype(np.uint8)
    raise InputError(f"unsupported pixel type {image.dtype}", "use 8-bit, 16-bit or float images")


def _drop_alpha(image: np.ndarray) -> np.ndarray:
    """Composite a BGRA image over white, so transparent pixels compare as white paper would."""
    white = float(np.iinfo(image.dtype).max) if image.dtype.kind == "u" else 1.0
    bgr = image[..., :3].astype(np.float32)
    alpha = np.clip(image[..., 3:4].astype(np.float32) / white, 0.0, 1.0)
    out = bgr * alpha + white * (1.0 - alpha)
    # Round (not truncate) back to the integer type, so an opaque pixel keeps its exact value.
    return np.rint(out).astype(image.dtype) if image.dtype.kind == "u" else out


def _has_transparency(image: np.ndarray) -> bool:
    if image.ndim != 3 or image.shape[2] != 4:
        return False
    top = np.iinfo(image.dtype).max if image.dtype.kind == "u" else 1.0
    return bool((image[..., 3] < top).any())


def _grey_histogram(image: np.ndarray) -> np.ndarray:
    g = to_gray(image)
    small = cv2.resize(g, (64, 64), interpolation=cv2.INTER_AREA)
    hist = np.bincount((small // 8).ravel(), minlength=32).astype(np.float64)
    return hist / hist.sum()


def flatten_alpha_like(image: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Flatten a picture with transparent pixels the way its opaque counterpart most likely was.

    A transparent pixel has no colour of its own. Viewers show it over white; converters that drop the
    alpha channel (a PNG saved as JPEG) keep whatever colour is stored under it, often black. When one
    picture of a pair has transparency and the other has none, the flattening whose grey levels are
    distributed most like the other picture's is taken, so a logo is not "different" from its own JPEG.

    Args:
        image: The picture, any array :func:`to_bgr8` takes.
        other: The picture it is compared with.

    Returns:
        ``image`` unchanged when it has no transparency or ``other`` has some too; else a 3-channel
        picture of the same depth: composited over white, or its stored colours.
    """
    if not _has_transparency(image) or _has_transparency(other):
        return image
    over_white, stored = _drop_alpha(image), np.ascontiguousarray(image[..., :3])
    target = _grey_histogram(other)
    d_white = float(np.abs(_grey_histogram(over_white) - target).sum())
    d_stored = float(np.abs(_grey_histogram(stored) - target).sum())
    return stored if d_stored < d_white else over_white


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Return an 8-bit, 3-channel BGR version of ``image`` (grey, BGR or BGRA; 8/16-bit or float).

    Args:
        image: A 2-D grey array or an H x W x 1/3/4 array.

    Returns:
        An H x W x 3 uint8 array.
    """
    _check_image(image)
    if image.ndim == 3 and image.shape[2] == 4:
        image = _drop_alpha(image)
    image = to_uint8(image)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 1:
        return cv2.cvtColor(image[..., 0], cv2.COLOR_GRAY2BGR)
    return image


def to_gray(image: np.ndarray) -> np.ndarray:
    """Return the 8-bit grey (luma) version of ``image``.

    Args:
        image: A 2-D grey array or an H x W x 1/3/4 BGR(A) array; uint8, uint16 or float in [0, 1].

    Returns:
        A 2-D uint8 array.

    Raises:
        InputError: when the array is not an image.
    """
    _check_image(image)
    if image.ndim == 3 and image.shape[2] == 4:
        image = _drop_alpha(image)
    image = to_uint8(image)
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray):
        raise InputError(f"expected a numpy image array, got {type(image).__name__}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise InputError(
            f"array of shape {image.shape} is not an image",
            "pass H x W grey or H x W x 3/4 BGR(A) arrays",
        )
    if image.size == 0:
        raise InputError("the image is empty")


def analysis_scale(width: int, height: int, max_side: int | None) -> float:
    """Return the factor by which to shrink a frame so its longer side is at most ``max_side``.

    Args:
        width: Frame width in pixels.
        height: Frame height in pixels.
        max_side: Longest side of the analysis image; ``None`` or 0 keeps full size.

    Returns:
        A factor <= 1.0; boxes found at analysis size map back by dividing by it.
    """
    if not max_side or max(width, height) <= max_side:
        return 1.0
    return max_side / float(max(width, height))


def resize_to(image: np.ndarray, scale: float, *, fast: bool = False) -> np.ndarray:
    """Resize by ``scale`` with area averaging (which also averages away pixel noise when shrinking).

    Args:
        image: Any OpenCV-compatible array.
        scale: The factor from :func:`analysis_scale`.
        fast: Trade exactness for speed: whole factors that are powers of two go by halvings (rounding
            may differ by one level), and a fractional factor between 1/2 and 1 left over after them is
            applied bilinearly (OpenCV's area resize is 10-20x slower for fractional factors).

    Returns:
        The resized array, or ``image`` itself when ``scale`` is 1.
    """
    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    n = round(1.0 / scale)
    if n >= 2 and abs(1.0 / scale - n) < 1e-6 and w >= n and h >= n:
        # A whole-number factor: trim the last few rows/columns so OpenCV takes its fast exact path
        # (each output pixel the mean of an n x n block; box coordinates map back exactly).
        image = image[: h - h % n, : w - w % n]
        if fast and n & (n - 1) == 0:
            while n > 1:  # two halvings cost a third of one quartering
                image = _halve(image)
                n //= 2
            return image
        return cv2.resize(image, (w // n, h // n), interpolation=cv2.INTER_AREA)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # Area averaging keeps box edges exact (a pyramid would smear them by a pixel or two); OpenCV has a
    # fast path for integer factors, so halve exactly first when the factor is large.
    # In fast mode, halve down to the last factor of two and finish bilinearly (a factor of at least 1/2
    # still weighs every source pixel).
    while image.shape[1] >= (2 if fast else 4) * size[0] and image.shape[0] >= (2 if fast else 4) * size[1]:
        image = _halve(image)
    if fast:
        return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _halve(image: np.ndarray) -> np.ndarray:
    """Exact 2x2 block means; an odd last row or column is dropped (it would send OpenCV down its slow
    fractional path)."""
    h, w = image.shape[:2]
    return cv2.resize(image[: h - h % 2, : w - w % 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` pixels (0 returns the input unchanged).

    Args:
        image: Any OpenCV-compatible array.
        sigma: Standard deviation in pixels.

    Returns:
        The blurred array.
    """
    if sigma <= 0:
        return image
    return cv2.GaussianBlur(image, (0, 0), sigma)


def _contiguous(channel: np.ndarray) -> np.ndarray:
    """The channel as a C-contiguous array (OpenCV's histogram takes no strided views)."""
    return channel if channel.flags.c_contiguous else np.ascontiguousarray(channel)


def _as_mask(valid: np.ndarray) -> np.ndarray:
    """A uint8 mask (non-zero = use) from a boolean or numeric mask."""
    if valid.dtype == np.uint8:
        return _contiguous(valid)
    return (valid > 0).astype(np.uint8)


def tone_lut(
    source: np.ndarray, target: np.ndarray, valid: np.ndarray | None = None, min_count: int = 20
) -> np.ndarray | None:
    """Fit the exposure change from ``source`` to ``target`` for one 8-bit channel, as a lookup table.

    A change of exposure, contrast or white balance maps each level ``v`` of one photo to
    ``clip(gain * v + offset)`` in the other. We fit gain and offset robustly: for every level of
    ``source``, the median level of ``target`` at the same pixels; then a weighted line through those
    medians, iteratively down-weighting levels that disagree (levels taken over by a real change) and
    leaving out saturated ones. Applying the table to ``source`` (not its inverse to ``target``) keeps
    clipping honest: where ``target`` saturated, the mapped ``source`` saturates too.

    Args:
        source: The channel to transform (2-D uint8), e.g. photo A.
        target: The channel whose tones to match (2-D uint8), same shape.
        valid: Optional mask of pixels to learn from (non-zero = use).
        min_count: Levels seen fewer times are ignored.

    Returns:
        A 256-entry uint8 lookup table for ``source``, or ``None`` when the tones already match.
    """
    # The joint histogram of the two channels (OpenCV's is several times faster than a numpy bincount).
    m = None if valid is None else _as_mask(valid)
    joint = cv2.calcHist([_contiguous(source), _contiguous(target)], [0, 1], m, [256, 256], [0, 256, 0, 256])
    return _fit_lut(joint, min_count)


def tone_luts(
    source: np.ndarray, target: np.ndarray, valid: np.ndarray | None = None, min_count: int = 20
) -> list[np.ndarray | None]:
    """:func:`tone_lut` for every channel of two multi-channel images of one size.

    Reads the interleaved images directly (no per-channel copies).

    Args:
        source: The image to transform (H x W x C uint8).
        target: The image whose tones to match, same shape.
        valid: Optional mask of pixels to learn from (non-zero = use).
        min_count: Levels seen fewer times are ignored.

    Returns:
        One lookup table (or ``None`` when that channel already matches) per channel.
    """
    # A quarter of the pixels of a large image is plenty for 256 medians, and costs a quarter as much.
    src, tgt, m = _contiguous(source), _contiguous(target), None if valid is None else _as_mask(valid)
    if source.shape[0] * source.shape[1] > 400_000:
        # Every other pixel (a nearest-neighbour halving is the cheapest contiguous way to take them).
        half = (source.shape[1] // 2, source.shape[0] // 2)
        src, tgt = (cv2.resize(x, half, interpolation=cv2.INTER_NEAREST) for x in (src, tgt))
        m = None if m is None else cv2.resize(m, half, interpolation=cv2.INTER_NEAREST)
    n = src.shape[2]
    return [
        _fit_lut(cv2.calcHist([src, tgt], [c, n + c], m, [256, 256], [0, 256, 0, 256]), min_count)
        for c in range(n)
    ]


def _fit_lut(joint: np.ndarray, min_count: int) -> np.ndarray | None:
    """The robust gain-and-offset table from a 256 x 256 joint histogram (rows: source levels)."""
    counts = joint.sum(axis=1)
    cdf = joint.cumsum(axis=1)
    med = np.argmax(cdf >= np.maximum(1, counts / 2.0)[:, None], axis=1).astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    sel = (counts >= min_count) & (med > 2) & (med < 253)
    if sel.sum() < 4:
        return None
    x, y, w0 = levels[sel], med[sel], counts[sel].astype(np.float64)
    w = w0.copy()
    gain, offset = 1.0, 0.0
    for _ in range(8):
        sw = w.sum()
        mx, my = (w * x).sum() / sw, (w * y).sum() / sw
        vx = (w * (x - mx) ** 2).sum()
        if vx <= 1e-9:
            return None
        gain = float((w * (x - mx) * (y - my)).sum() / vx)
        offset = float(my - gain * mx)
        r = y - (gain * x + offset)
        w = w0 / (1.0 + (r / 3.0) ** 2)  # Cauchy weights: a level off by 10 counts ~10x less
    if abs(gain - 1.0) < 0.01 and abs(offset) < 1.0:
        return None
    return np.clip(np.round(levels * gain + offset), 0, 255).astype(np.uint8)
