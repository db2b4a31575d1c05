"""The change maps of an aligned, tone-matched pair, and its global scores: pure functions on arrays."""

from __future__ import annotations

import cv2
import numpy as np

from ..analysis.measure import ssim_map
from ..analysis.prepare import blur as gaussian_blur
from ..analysis.prepare import resize_to
from ..analysis.regions import keep_seeded
from ..workers import POOL
from .options import CompareOptions

__all__ = [
    "change_map",
    "chroma_change_map",
    "envelope_diff",
    "learnt_activity",
    "channel_max",
    "is_lossless",
    "seeded_mask",
    "global_scores",
    "global_ssim",
]

# A pair is lossless when this share of the pixels where A and B agree are equal to within a level.
LOSSLESS_SHARE = 0.995


def envelope_diff(
    a: np.ndarray, b: np.ndarray, radius: int, activity: float = 0.0, learn: np.ndarray | None = None
) -> np.ndarray:
    """How far each pixel of ``a`` lies outside the local range of ``b`` (and vice versa), per channel.

    A residual misregistration of up to ``radius`` pixels moves an edge within the neighbourhood's
    min/max, so it costs nothing; a real change puts values outside that range in at least one direction.

    Compression and resampling errors grow with local contrast, so a share of it is forgiven:
    ``activity``, or, when ``learn`` (a mask of where A and B agree) is given, the share this pair's own
    errors take there (at least ``activity``/4: a lossless pair forgives almost nothing, and so keeps
    changes of a few pixels; a heavily compressed one forgives its ringing).
    """
    if radius <= 0:
        return cv2.absdiff(a, b)
    k = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    bmin, bmax = cv2.erode(b, k), cv2.dilate(b, k)
    amin, amax = cv2.erode(a, k), cv2.dilate(a, k)
    d1 = cv2.max(cv2.subtract(bmin, a), cv2.subtract(a, bmax))
    d2 = cv2.max(cv2.subtract(amin, b), cv2.subtract(b, amax))
    d = cv2.max(d1, d2)
    if activity > 0:
        contrast = cv2.max(cv2.subtract(amax, amin), cv2.subtract(bmax, bmin))
        if learn is not None:
            activity = learnt_activity(d, contrast, learn, activity)
        d = cv2.subtract(d, cv2.convertScaleAbs(contrast, alpha=activity))
    return d


def learnt_activity(d: np.ndarray, contrast: np.ndarray, learn: np.ndarray, default: float) -> float:
    """The share of local contrast that this pair's errors reach where A and B agree (99th percentile)."""
    step = 2 if d.size > 200_000 else 1
    dd, cc = d[::step, ::step], contrast[::step, ::step]
    lm = learn if learn.shape[:2] == d.shape[:2] else cv2.resize(learn, (d.shape[1], d.shape[0]), interpolation=cv2.INTER_NEAREST)
    lm = lm[::step, ::step]
    if dd.ndim == 3:
        lm = np.repeat(lm[..., None], dd.shape[2], axis=2)
    sel = (cc >= 24) & (lm > 0)
    n = int(np.count_nonzero(sel))
    if n < 200:
        return default
    ratio = dd[sel].astype(np.float32) / cc[sel].astype(np.float32)
    return float(np.clip(np.percentile(ratio, 99.0) * 1.1, default / 4.0, 0.6))


def channel_max(image: np.ndarray) -> np.ndarray:
    """Per-pixel maximum over channels (OpenCV's, much faster than numpy's ``max(axis=2)``)."""
    if image.ndim == 2:
        return image
    planes = cv2.split(image)
    out = planes[0]
    for p in planes[1:]:
        out = cv2.max(out, p)
    return out


def is_lossless(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> bool:
    """Whether A and B are pixel-exact where they agree (no compression, noise or resampling between them)."""
    sa, sb, sv = a[::2, ::2], b[::2, ::2], valid[::2, ::2] > 0
    n = int(np.count_nonzero(sv))
    if n == 0:
        return False
    return int(np.count_nonzero((cv2.absdiff(sa, sb) <= 1) & sv)) >= LOSSLESS_SHARE * n


def seeded_mask(diff: np.ndarray, low: float, min_pixels: int = 1) -> np.ndarray:
    """0/255 mask of the blobs above ``low`` that have a core above twice ``low`` (hysteresis).

    Blobs of fewer than ``min_pixels`` pixels are dropped: by size, not by shape, since a morphological
    opening would also erase thin real changes (a railing, a wire, a line of text removed), which are
    connected but only a pixel or two wide.
    """
    return keep_seeded(diff > low, diff > 2.0 * low, min_pixels=min_pixels).view(np.uint8) * np.uint8(255)


def global_scores(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> tuple[float, float, float]:
    """Mean SSIM, MSE and PSNR of two aligned grey images over the area both cover."""
    s = global_ssim(a, b, valid)
    sq = cv2.absdiff(a, b).astype(np.float32)
    cv2.multiply(sq, sq, dst=sq)
    m = float(cv2.mean(sq, mask=(valid > 0).astype(np.uint8))[0])
    p = float("inf") if m == 0 else float(10 * np.log10(255.0**2 / m))
    return s, m, p


def global_ssim(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    """Mean SSIM over the area both images cover, after Wang et al.'s automatic downsampling.

    The reference implementation of SSIM first averages the images down by ``round(min(H, W) / 256)``
    so that the score reflects viewing the whole picture, not pixel noise; it is also much cheaper.
    """
    f = max(1, round(min(a.shape) / 256))
    if f > 1:
        a, b = resize_to(a, 1.0 / f), resize_to(b, 1.0 / f)  # whole factor: exact block means, fast
        valid = cv2.resize(valid, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_NEAREST)
    if min(a.shape) < 7:
        return 1.0 if np.array_equal(a, b) else 0.0
    inner = cv2.erode(valid, np.ones((7, 7), np.uint8)) > 0
    m = ssim_map(a, b)
    return float(m[inner].mean()) if inner.any() else float(m.mean())


def change_map(
    ya: np.ndarray, yb: np.ndarray, opts: CompareOptions, learn: np.ndarray | None = None, tolerance: int = 1
) -> np.ndarray:
    """The change map of two aligned, tone-matched YCrCb images.

    Luma is compared at full working resolution, tolerating residual misregistration and forgiving
    differences in proportion to local contrast (JPEG and resampling errors live on edges and texture);
    chroma is compared more blurred, because JPEG stores it at half resolution.
    """
    if opts.method == "ssim":
        fa, fb = gaussian_blur(ya[..., 0], opts.blur), gaussian_blur(yb[..., 0], opts.blur)
        return np.clip((1.0 - ssim_map(fa, fb)) * 127.5, 0, 255).astype(np.uint8)
    # Chroma on the other core meanwhile (OpenCV releases the GIL).
    chroma = POOL.submit(chroma_change_map, ya, yb, opts.blur + 0.5, learn)
    fa, fb = gaussian_blur(ya[..., 0], opts.blur), gaussian_blur(yb[..., 0], opts.blur)
    out = envelope_diff(fa, fb, tolerance, activity=0.25, learn=learn)
    h, w = out.shape
    return cv2.max(out, cv2.resize(chroma.result(), (w, h), interpolation=cv2.INTER_LINEAR))


def chroma_change_map(
    ya: np.ndarray, yb: np.ndarray, sigma: float, learn: np.ndarray | None = None
) -> np.ndarray:
    """The chroma change map at half resolution (as JPEG stores chroma), blurred by ``sigma``.

    The three channels go through together (OpenCV filters interleaved channels in one pass); luma's
    share of that is thrown away, which still costs less than splitting the channels out first.
    """
    half = envelope_diff(
        gaussian_blur(resize_to(ya, 0.5), sigma), gaussian_blur(resize_to(yb, 0.5), sigma), 1, activity=0.25,
        learn=learn,
    )
    _, cr, cb = cv2.split(half)
    return cv2.max(cr, cb)
