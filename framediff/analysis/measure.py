"""Measuring how two frames differ: absolute difference, SSIM, MSE/PSNR and perceptual hashes.

Pure functions on numpy arrays. The SSIM here is scikit-image's definition (same window, data range and
constants) computed with separable OpenCV filters in float32, several times faster than
``skimage.metrics.structural_similarity``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InputError

__all__ = ["absdiff", "ssim", "ssim_map", "mse", "psnr", "ImageHash", "phash", "dhash"]


def _same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise InputError(f"images differ in shape: {a.shape} vs {b.shape}", "resize or align them first")


def _dtype_range(dtype: np.dtype) -> float:
    """The value range implied by an image dtype: 255 for uint8, 65535 for uint16, 1 for float."""
    return 255.0 if dtype == np.uint8 else (65535.0 if dtype == np.uint16 else 1.0)


def absdiff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel absolute difference; for colour input the maximum over channels.

    Args:
        a: First image.
        b: Second image of the same shape and dtype.

    Returns:
        A 2-D array of the input dtype.
    """
    _same_shape(a, b)
    d = cv2.absdiff(a, b)
    if d.ndim == 3:
        d = d.max(axis=2)
    return d


def ssim_map(
    a: np.ndarray,
    b: np.ndarray,
    *,
    win_size: int = 7,
    data_range: float | None = None,
    k1: float = 0.01,
    k2: float = 0.03,
) -> np.ndarray:
    """SSIM map of two grey images, as ``skimage.metrics.structural_similarity(..., full=True)``.

    Uses a uniform ``win_size`` window, the sample covariance (N / (N - 1)), and reflected borders, like
    scikit-image's defaults.

    Args:
        a: First grey image (2-D).
        b: Second grey image, same shape.
        win_size: Odd side of the square window.
        data_range: Value range of the data; by default that of the dtype (255 for uint8, 1 for float).
        k1: SSIM constant K1.
        k2: SSIM constant K2.

    Returns:
        A float32 map of the same shape, 1.0 where the images agree.

    Raises:
        InputError: when the shapes differ, the images are not 2-D, or the window exceeds the image.

    References:
        Wang, Bovik, Sheikh, Simoncelli (2004): Image quality assessment: from error visibility to
        structural similarity. IEEE TIP 13(4).
    """
    _check_ssim_inputs(a, b, win_size)
    if data_range is None:
        data_range = _dtype_range(a.dtype)
    # Centre the data before squaring: float32 keeps E[x^2] - E[x]^2 accurate only for small magnitudes.
    shift = data_range / 2.0
    x = _centred_f32(a, shift)
    y = _centred_f32(b, shift)
    # The uniform window as two 1-D passes (faster than cv2.blur on float32 in OpenCV 4 and 5).
    kernel = np.full(win_size, 1.0 / win_size, np.float32)

    def window_mean(image: np.ndarray) -> np.ndarray:
        return cv2.sepFilter2D(image, cv2.CV_32F, kernel, kernel, borderType=cv2.BORDER_REFLECT)

    mx, my = window_mean(x), window_mean(y)
    t = cv2.multiply(x, x)
    xx = window_mean(t)
    cv2.multiply(y, y, dst=t)
    yy = window_mean(t)
    cv2.multiply(x, y, dst=t)
    xy = window_mean(t)
    x = y = None  # free memory early on large frames
    cov_norm = win_size * win_size / (win_size * win_size - 1.0)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    # Variances and covariance are shift-invariant: compute them on the centred data, in place
    # (xx + yy becomes the variance sum, xy the covariance; both still without the N / (N - 1)).
    cv2.multiply(mx, mx, dst=t)
    cv2.subtract(xx, t, dst=xx)
    cv2.multiply(my, my, dst=t)
    cv2.subtract(yy, t, dst=yy)
    cv2.add(xx, yy, dst=xx)
    cv2.multiply(mx, my, dst=t)
    cv2.subtract(xy, t, dst=xy)
    # The luminance term needs the true means.
    cv2.add(mx, shift, dst=mx)
    cv2.add(my, shift, dst=my)
    cv2.multiply(mx, my, dst=t, scale=2.0)
    cv2.add(t, c1, dst=t)  # t = 2 mu_x mu_y + C1
    cv2.multiply(mx, mx, dst=mx)
    cv2.multiply(my, my, dst=my)
    cv2.add(mx, my, dst=mx)
    cv2.add(mx, c1, dst=mx)  # mx = mu_x^2 + mu_y^2 + C1
    cv2.addWeighted(xy, 2.0 * cov_norm, xy, 0.0, c2, dst=xy)  # 2 sigma_xy + C2
    cv2.addWeighted(xx, cov_norm, xx, 0.0, c2, dst=xx)  # sigma_x^2 + sigma_y^2 + C2
    cv2.multiply(t, xy, dst=t)
    cv2.multiply(mx, xx, dst=mx)
    return cv2.divide(t, mx, dst=t)


def _check_ssim_inputs(a: np.ndarray, b: np.ndarray, win_size: int) -> None:
    """Refuse what :func:`ssim_map` cannot measure: other shapes, colour, a window too large or even."""
    _same_shape(a, b)
    if a.ndim != 2:
        raise InputError("SSIM needs grey (2-D) images", "convert with framediff.analysis.prepare.to_gray")
    if win_size % 2 == 0 or win_size < 3:
        raise InputError(f"win_size must be odd and >= 3, got {win_size}")
    if min(a.shape) < win_size:
        raise InputError(
            f"win_size {win_size} exceeds the image extent {a.shape}",
            "pass a smaller win_size or larger images",
        )


def _centred_f32(image: np.ndarray, shift: float) -> np.ndarray:
    """``image - shift`` as float32, converting and subtracting in one pass where OpenCV can."""
    if image.dtype in (np.uint8, np.uint16, np.float32, np.float64):
        return cv2.subtract(image, shift, dtype=cv2.CV_32F)
    return np.subtract(image, np.float32(shift), dtype=np.float32)


def ssim(a: np.ndarray, b: np.ndarray, *, win_size: int = 7, data_range: float | None = None) -> float:
    """Mean SSIM of two grey images, as ``skimage.metrics.structural_similarity`` returns it.

    The mean leaves out a border of ``(win_size - 1) // 2`` pixels, as scikit-image does.

    Args:
        a: First grey image.
        b: Second grey image.
        win_size: Odd side of the square window.
        data_range: Value range of the data (default: from the dtype).

    Returns:
        The mean SSIM in [-1, 1].
    """
    m = ssim_map(a, b, win_size=win_size, data_range=data_range)
    pad = (win_size - 1) // 2
    return float(cv2.mean(m[pad:-pad, pad:-pad])[0])


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over all pixels and channels (float64 accumulation).

    Args:
        a: First image.
        b: Second image, same shape.

    Returns:
        The MSE in the inputs' units squared.
    """
    _same_shape(a, b)
    return float(cv2.norm(a, b, cv2.NORM_L2SQR)) / a.size


def psnr(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for identical images).

    Args:
        a: First image.
        b: Second image, same shape.
        data_range: Peak value; by default that of the dtype (255 for uint8, 65535 for uint16, 1 for float).

    Returns:
        PSNR in decibels.
    """
    if data_range is None:
        data_range = _dtype_range(a.dtype)
    err = mse(a, b)
    return math.inf if err == 0 else 10.0 * math.log10(data_range**2 / err)


@dataclass(frozen=True)
class ImageHash:
    """A perceptual hash: a small bit string where similar images get near values.

    ``a - b`` is the Hamming distance (number of differing bits); ``str(h)`` is the hex form, and
    :meth:`from_hex` reads it back.
    """

    bits: int
    size: int = 64

    def __sub__(self, other: ImageHash) -> int:
        if not isinstance(other, ImageHash) or other.size != self.size:
            raise TypeError("can only subtract an ImageHash of the same size")
        return (self.bits ^ other.bits).bit_count()

    def __str__(self) -> str:
        return f"{self.bits:0{self.size // 4}x}"

    @classmethod
    def from_hex(cls, text: str) -> ImageHash:
        """Read a hash back from its hex form.

        Args:
            text: Hex digits as produced by ``str(hash)``.

        Returns:
            The hash.
        """
        return cls(int(text, 16), len(text) * 4)


def _bits(values: np.ndarray) -> int:
    out = 0
    for v in values.ravel():
        out = (out << 1) | int(bool(v))
    return out


def _thumbnail(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Shrink to ``size`` by halving first (cheap, anti-aliased), then area-averaging the rest.

    Area averaging straight from a large image to a few pixels is slow in OpenCV; a pyramid is not.
    """
    while gray.shape[1] >= 4 * size[0] and gray.shape[0] >= 4 * size[1]:
        gray = cv2.pyrDown(gray)
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def phash(image: np.ndarray) -> ImageHash:
    """DCT perceptual hash (64 bits): low-frequency structure above or below its median.

    Args:
        image: A grey (2-D) or BGR image.

    Returns:
        The 64-bit :class:`ImageHash`.
    """
    from .prepare import to_gray

    g = _thumbnail(to_gray(image), (32, 32)).astype(np.float32)
    low = cv2.dct(g)[:8, :8]
    return ImageHash(_bits(low > np.median(low)), 64)


def dhash(image: np.ndarray) -> ImageHash:
    """Difference hash (64 bits): whether each pixel of a 9x8 thumbnail is brighter than its right neighbour.

    Cheaper than :func:`phash`, a little less robust.

    Args:
        image: A grey (2-D) or BGR image.

    Returns:
        The 64-bit :class:`ImageHash`.
    """
    from .prepare import to_gray

    g = _thumbnail(to_gray(image), (9, 8)).astype(np.int16)
    return ImageHash(_bits(g[:, 1:] > g[:, :-1]), 64)
