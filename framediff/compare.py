"""Spot the difference between two images: ``compare(a, b) -> Comparison``.

The pipeline: load both images; answer at once when they are byte- or pixel-identical; register B onto A
when B was taken by hand (shifted, rotated, scaled); undo exposure, contrast and white-balance differences;
blur a little; take a colour difference that tolerates a residual sub-pixel misregistration; threshold it
above the pair's own noise floor; clean, merge and box the changed regions; map the boxes back to A's
pixels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from .agreement import Agreement
from .align import Alignment, choose_alignment, warp_to
from .errors import FramediffError, InputError, OptionError
from .measure import phash, ssim_map
from .media.images import jpeg_header, jpeg_reduction, load_image, read_jpeg_reduced
from .options import choice, number
from .prepare import analysis_scale, flatten_alpha_like, resize_to, to_bgr8, tone_luts
from .prepare import blur as gaussian_blur
from .regions import Region, auto_threshold, clean_mask, find_regions, ignore_mask, keep_seeded, parse_box
from .transform import describe_transform, tone_change, transform_words
from .workers import POOL

__all__ = ["compare", "compare_pairs", "Comparison", "CompareOptions", "split_image"]

MIN_SIDE = 8  # below this there is no structure to compare (and SSIM's window does not fit)
MIN_OVERLAP = 0.05  # B covering less of A than this after alignment: nothing in common to compare
# A pair whose best alignment explains less than this share of the picture's structure shows different
# things. Unrelated photos explain 0-0.3, the same picture re-taken, copied or edited 0.55-1.
SAME_PICTURE_MIN = 0.4
# A change seen only at the coarse scale (a quarter of the working size) must span this many coarse
# pixels: averaging 4x4 pixels beats the noise down only for changes wide enough to average over, and a
# few coarse pixels are what JPEG's colour smear around coloured text gives.
COARSE_MIN_PIXELS = 8
# A pair is lossless when this share of the pixels where A and B agree are equal to within a level; its
# smallest change is then this many pixels (A's), against 0.03% of the area for noisy pairs.
LOSSLESS_SHARE = 0.995
LOSSLESS_MIN_AREA = 1
RELATIONS = ("identical", "same", "changed", "different")


@dataclass(frozen=True)
class CompareOptions:
    """Settings of :func:`compare`; strings are accepted as the CLI gives them.

    Attributes:
        threshold: Colour difference (0-255) above which a pixel changed; ``None``: from the noise floor.
        min_area: Smallest region reported, in A's pixels; ``None``: 0.03% of A's area (at least 16 px).
        blur: Gaussian sigma in analysis pixels before differencing.
        method: ``absdiff`` (colour difference) or ``ssim`` (structural dissimilarity of the grey images).
        align: ``auto`` registers B onto A when they do not line up; ``off`` compares pixel to pixel.
        analysis_size: Longest side of the working images (0 = full resolution).
        tolerance: Residual misregistration forgiven, in analysis pixels (0 = exact pixel comparison);
            ``None``: 1, or 0 when the pair is lossless and already in place (nothing to forgive).
        merge_gap: Regions closer than this (A's pixels) are one change; ``None``: 2.5% of A's diagonal.
        min_contrast: Regions whose mean colour difference over their box is under this many levels
            are not reported (faint retouching you would not see).
        split: ``None``, or ``auto``/``h``/``v`` when ``a`` holds both pictures side by side (h) or
            one above the other (v).
    """

    threshold: float | None = None
    min_area: int | None = None
    blur: float = 1.0
    method: str = "absdiff"
    align: str = "auto"
    analysis_size: int = 1200
    tolerance: int | None = None
    merge_gap: int | None = None
    split: str | None = None
    min_contrast: float = 0.0

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "threshold", number("threshold", self.threshold, lo=0, hi=255, allow_none=True))
        s(self, "min_area", number("min_area", self.min_area, lo=0, hi=1e12, integer=True, allow_none=True))
        s(self, "blur", number("blur", self.blur, lo=0, hi=50))
        s(self, "method", choice("method", self.method, ("absdiff", "ssim")))
        s(self, "align", choice("align", self.align, ("auto", "off")))
        s(self, "analysis_size", number("analysis_size", self.analysis_size, lo=0, hi=32768, integer=True))
        if 0 < self.analysis_size < 64:
            raise OptionError(
                f"analysis_size {self.analysis_size} is too small", "use 0 (full size) or at least 64"
            )
        s(self, "min_contrast", number("min_contrast", self.min_contrast, lo=0, hi=255))
        s(self, "tolerance", number("tolerance", self.tolerance, lo=0, hi=5, integer=True, allow_none=True))
        s(self, "merge_gap", number("merge_gap", self.merge_gap, lo=0, hi=1e6, integer=True, allow_none=True))
        if self.split is not None and str(self.split).lower() not in ("", "none", "off"):
            s(self, "split", choice("split", self.split, ("auto", "h", "v")))
        else:
            s(self, "split", None)


@dataclass
class Comparison:
    """The answer of :func:`compare`.

    Attributes:
        identical: True when the pictures are the same (``relation`` identical or same: exit status 0).
        regions: Changed regions in A's pixel coordinates, largest first.
        ssim: Mean SSIM of the grey images over the area both cover (after alignment and light correction).
        mse: Mean squared error over that area (8-bit units).
        psnr: Peak signal-to-noise ratio in dB (``inf`` when equal).
        changed_fraction: Share of the compared area marked as changed.
        hash_distance: Hamming distance of the two images' perceptual hashes (0-64).
        size_a: ``(width, height)`` of A.
        size_b: ``(width, height)`` of B.
        alignment: How B was registered onto A.
        threshold: The difference threshold used (given, or from the noise floor).
        method: The difference method used.
        overlap: Share of A that B covers after alignment.
        fast_path: ``"bytes"`` or ``"pixels"`` when the answer came without analysis.
        relation: ``identical`` (pixel-equal), ``same`` (the same picture: only compression, light,
            noise, resampling differ), ``changed`` (the same picture or scene with local changes: the
            regions) or ``different`` (no common content).
        explained: Share of the picture's structure that B explains once aligned (0-1), the global
            evidence behind ``different``.
        transform: What B is relative to A when they show the same picture (see :meth:`transform`).
    """

    identical: bool
    regions: list[Region]
    ssim: float
    mse: float
    psnr: float
    changed_fraction: float
    hash_distance: int
    size_a: tuple[int, int]
    size_b: tuple[int, int]
    alignment: Alignment
    threshold: float
    method: str
    overlap: float = 1.0
    fast_path: str | None = None
    relation: str = "same"
    explained: float = 1.0
    tone: dict[str, Any] = field(default_factory=dict)
    # Working images kept for drawing the outputs (not part of the JSON answer).
    image_a: np.ndarray | None = field(default=None, repr=False)
    image_b: np.ndarray | None = field(default=None, repr=False)
    diff: np.ndarray | None = field(default=None, repr=False)
    mask: np.ndarray | None = field(default=None, repr=False)
    valid: np.ndarray | None = field(default=None, repr=False)
    scale: float = field(default=1.0, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``framediff compare --json`` prints."""
        return {
            "relation": self.relation,
            "identical": self.identical,
            "regions": [dict(id=i + 1, **r.to_dict()) for i, r in enumerate(self.regions)],
            "ssim": round(self.ssim, 6),
            "mse": round(self.mse, 4),
            "psnr": None if not np.isfinite(self.psnr) else round(self.psnr, 3),
            "changed_fraction": round(self.changed_fraction, 6),
            "hash_distance": self.hash_distance,
            "size_a": {"width": self.size_a[0], "height": self.size_a[1]},
            "size_b": {"width": self.size_b[0], "height": self.size_b[1]},
            "same_size": self.size_a == self.size_b,
            "overlap": round(self.overlap, 4),
            "alignment": self.alignment.to_dict(),
            "method": self.method,
            "threshold": round(self.threshold, 2),
            "fast_path": self.fast_path,
            "explained": round(self.explained, 4),
            "transform": self.transform(),
        }

    def transform(self) -> dict[str, Any] | None:
        """What B is relative to A, when both show the same picture (``None`` for different pictures).

        Keys: ``mirrored``; ``rotation`` (degrees B is turned, counter-clockwise positive; 90, 180 and
        -90 for quarter turns); ``scale`` (B's size over A's: 0.5 = half size); ``aspect`` (B's width
        scale over its height scale, 1.0 unless squeezed); ``crop``: ``b_in_a`` (where B's content lies in
        A, when B shows only part of A) and ``a_in_b`` (where A's content lies in B, when B shows more,
        e.g. a border or a larger scene), ``[x, y, w, h]`` in that picture's pixels; ``light`` (exposure
        or contrast changed), ``colour`` (colour balance changed), ``grey`` (B is grey and A is not).
        """
        if self.relation == "different":
            return None
        return describe_transform(self.alignment, self.size_a, self.size_b, self.tone)

    def regions_in_b(self) -> list[tuple[int, int, int, int]]:
        """The changed regions as boxes in B's own pixels (through the alignment, when B was warped)."""
        if not self.alignment.warped:
            return [r.box for r in self.regions]
        inv = np.linalg.inv(self.alignment.matrix)
        out = []
        for r in self.regions:
            c = np.float32([[r.x, r.y], [r.x + r.w, r.y], [r.x, r.y + r.h], [r.x + r.w, r.y + r.h]])
            m = cv2.perspectiveTransform(c.reshape(-1, 1, 2), inv).reshape(-1, 2)
            x0, y0 = np.floor(m.min(axis=0)).astype(int)
            x1, y1 = np.ceil(m.max(axis=0)).astype(int)
            x0, y0 = max(0, x0), max(0, y0)
            x1, y1 = min(self.size_b[0], x1), min(self.size_b[1], y1)
            out.append((int(x0), int(y0), int(max(1, x1 - x0)), int(max(1, y1 - y0))))
        return out

    def summary(self) -> str:
        """One human line: the relation first, then the key numbers."""
        if self.relation == "identical":
            what = "identical"
        elif self.relation == "same":
            what = "same"
        elif self.relation == "different":
            what = f"different pictures ({100 * (1 - self.explained):.0f}% of the structure unexplained)"
        else:
            n = len(self.regions)
            what = f"changed: {n} region{'s' if n != 1 else ''}, {100 * self.changed_fraction:.2f}% of the area"
        extra = []
        t = self.transform()
        if t:
            extra += transform_words(t)
        if self.size_a != self.size_b:
            extra.append(f"sizes {self.size_a[0]}x{self.size_a[1]} vs {self.size_b[0]}x{self.size_b[1]}")
        if self.alignment.warped and self.relation != "different":
            al = self.alignment
            extra.append(
                f"aligned: shift {al.shift[0]:+.1f},{al.shift[1]:+.1f} px, rotation {al.rotation:+.2f} deg"
            )
        extra.append(f"SSIM {self.ssim:.4f}")
        return f"{what} ({'; '.join(extra)})"


def split_image(image: np.ndarray, how: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Cut one picture holding both halves of a puzzle into its two images.

    Args:
        image: The combined picture.
        how: ``h`` (left | right), ``v`` (top over bottom) or ``auto`` (the cut whose halves look most alike).

    Returns:
        ``(first, second)``; any gutter between the halves is left to alignment to absorb.
    """
    h, w = image.shape[:2]
    if how == "auto":
        g = cv2.cvtColor(to_bgr8(image), cv2.COLOR_BGR2GRAY)

        def likeness(p: np.ndarray, q: np.ndarray) -> float:
            size = (64, 64)
            p = cv2.resize(p, size, interpolation=cv2.INTER_AREA).astype(np.float32)
            q = cv2.resize(q, size, interpolation=cv2.INTER_AREA).astype(np.float32)
            return float(np.mean(np.abs(p - q)))

        how = (
            "h"
            if likeness(g[:, : w // 2], g[:, w - w // 2 :]) <= likeness(g[: h // 2], g[h - h // 2 :])
            else "v"
        )
    if how == "h":
        return image[:, : w // 2], image[:, w - w // 2 :]
    return image[: h // 2], image[h - h // 2 :]


def _envelope_diff(
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
            activity = _learnt_activity(d, contrast, learn, activity)
        d = cv2.subtract(d, cv2.convertScaleAbs(contrast, alpha=activity))
    return d


def _learnt_activity(d: np.ndarray, contrast: np.ndarray, learn: np.ndarray, default: float) -> float:
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


def _load_pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Load two images, decoding them in two threads when both are files."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return load_image(a), load_image(b)
    return _side_by_side(lambda: load_image(a), lambda: load_image(b))


def _side_by_side(
    read_a: Callable[[], np.ndarray], read_b: Callable[[], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Run two image reads at once (OpenCV decodes without the GIL): B on the pool, A here.

    B's read is always waited for, even when A's fails, so no decode outlives the call; A's error wins.
    """
    fb = POOL.submit(read_b)
    try:
        img_a = read_a()
    finally:
        img_b_or_error = fb.exception()
    if img_b_or_error is not None:
        raise img_b_or_error
    return img_a, fb.result()


def _channel_max(image: np.ndarray) -> np.ndarray:
    """Per-pixel maximum over channels (OpenCV's, much faster than numpy's ``max(axis=2)``)."""
    if image.ndim == 2:
        return image
    planes = cv2.split(image)
    out = planes[0]
    for p in planes[1:]:
        out = cv2.max(out, p)
    return out


def _lossless(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> bool:
    """Whether A and B are pixel-exact where they agree (no compression, noise or resampling between them)."""
    sa, sb, sv = a[::2, ::2], b[::2, ::2], valid[::2, ::2] > 0
    n = int(np.count_nonzero(sv))
    if n == 0:
        return False
    return int(np.count_nonzero((cv2.absdiff(sa, sb) <= 1) & sv)) >= LOSSLESS_SHARE * n


def _seeded(diff: np.ndarray, low: float, min_pixels: int = 1) -> np.ndarray:
    """0/255 mask of the blobs above ``low`` that have a core above twice ``low`` (hysteresis).

    Blobs of fewer than ``min_pixels`` pixels are dropped: by size, not by shape, since a morphological
    opening would also erase thin real changes (a railing, a wire, a line of text removed), which are
    connected but only a pixel or two wide.
    """
    return keep_seeded(diff > low, diff > 2.0 * low, min_pixels=min_pixels).view(np.uint8) * np.uint8(255)


def _global_scores(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> tuple[float, float, float]:
    """Mean SSIM, MSE and PSNR of two aligned grey images over the area both cover."""
    s = _global_ssim(a, b, valid)
    sq = cv2.absdiff(a, b).astype(np.float32)
    cv2.multiply(sq, sq, dst=sq)
    m = float(cv2.mean(sq, mask=(valid > 0).astype(np.uint8))[0])
    p = float("inf") if m == 0 else float(10 * np.log10(255.0**2 / m))
    return s, m, p


def _global_ssim(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
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


def _difference(
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
    chroma = POOL.submit(_chroma_difference, ya, yb, opts.blur + 0.5, learn)
    fa, fb = gaussian_blur(ya[..., 0], opts.blur), gaussian_blur(yb[..., 0], opts.blur)
    out = _envelope_diff(fa, fb, tolerance, activity=0.25, learn=learn)
    h, w = out.shape
    return cv2.max(out, cv2.resize(chroma.result(), (w, h), interpolation=cv2.INTER_LINEAR))


def _chroma_difference(
    ya: np.ndarray, yb: np.ndarray, sigma: float, learn: np.ndarray | None = None
) -> np.ndarray:
    """The chroma change map at half resolution (as JPEG stores chroma), blurred by ``sigma``.

    The three channels go through together (OpenCV filters interleaved channels in one pass); luma's
    share of that is thrown away, which still costs less than splitting the channels out first.
    """
    half = _envelope_diff(
        gaussian_blur(resize_to(ya, 0.5), sigma), gaussian_blur(resize_to(yb, 0.5), sigma), 1, activity=0.25,
        learn=learn,
    )
    _, cr, cb = cv2.split(half)
    return cv2.max(cr, cb)


def compare(
    a: str | os.PathLike | np.ndarray,
    b: str | os.PathLike | np.ndarray | None = None,
    *,
    ignore: str | os.PathLike | np.ndarray | None = None,
    ignore_boxes: Any = (),
    options: CompareOptions | None = None,
    **kwargs: Any,
) -> Comparison:
    """Compare two images and box every region where they differ.

    Args:
        a: The reference image: a path or a numpy array (BGR, BGRA or grey; 8- or 16-bit).
        b: The other image; ``None`` with ``split=...`` when ``a`` holds both.
        ignore: Optional mask (path or array, same size as A; white = ignore).
        ignore_boxes: ``(x, y, w, h)`` boxes (or ``"x,y,w,h"`` strings) in A's pixels to ignore.
        options: A :class:`CompareOptions`; or give its fields as keyword arguments (strings accepted).
        **kwargs: Fields of :class:`CompareOptions`.

    Returns:
        A :class:`Comparison`.

    Raises:
        InputError: when an image cannot be read, or is too small to compare.
        OptionError: when an option is out of range.
    """
    opts = _merged_options(options, kwargs)
    img_a, img_b, fast, reduced = _read_inputs(a, b, opts)
    img_a, img_b = flatten_alpha_like(img_a, img_b), flatten_alpha_like(img_b, img_a)
    return _compare_images(img_a, img_b, fast, opts, ignore, ignore_boxes, reduced)


@dataclass(frozen=True)
class _Reduced:
    """Both images were decoded at 1/ka and 1/kb of their size; their full sizes are given."""

    ka: int
    kb: int
    size_a: tuple[int, int]
    size_b: tuple[int, int]


def _read_reduced(pa: str, pb: str, opts: CompareOptions) -> tuple[np.ndarray, np.ndarray, _Reduced] | None:
    """Read large JPEGs straight at (about) the working resolution; ``None`` when that does not apply."""
    head_a = jpeg_header(pa)
    if head_a is None:
        return None
    size_a, orient_a = head_a
    k = jpeg_reduction(_working_scale(size_a, opts.analysis_size))
    if k == 1:
        return None
    head_b = jpeg_header(pb)
    if head_b is not None:
        size_b, orient_b = head_b
        kb = k
        img_a, img_b = _side_by_side(
            lambda: read_jpeg_reduced(pa, k, orient_a), lambda: read_jpeg_reduced(pb, k, orient_b)
        )
    else:
        kb = 1
        img_a, img_b = _side_by_side(lambda: read_jpeg_reduced(pa, k, orient_a), lambda: load_image(pb))
        size_b = (img_b.shape[1], img_b.shape[0])
    return img_a, img_b, _Reduced(k, kb, size_a, size_b)


def _working_scale(size_a: tuple[int, int], analysis_size: int) -> float:
    """The analysis scale for an A of ``size_a``, snapped to a whole shrink factor when that costs little."""
    scale = analysis_scale(*size_a, analysis_size)
    if 0 < scale < 1.0:
        # Whole-number shrink factors take OpenCV's fast area-averaging path; take one when it costs at
        # most a quarter of the working resolution.
        n = int(np.ceil(1.0 / scale - 1e-9))
        if n * scale <= 1.34:
            scale = 1.0 / n
    return scale


def _merged_options(options: CompareOptions | None, kwargs: dict[str, Any]) -> CompareOptions:
    """``options`` with ``kwargs`` laid over it (validated again), or the options ``kwargs`` give."""
    return options.__class__(**{**options.__dict__, **kwargs}) if options else CompareOptions(**kwargs)


def _read_inputs(
    a: Any, b: Any, opts: CompareOptions
) -> tuple[np.ndarray, np.ndarray, str | None, _Reduced | None]:
    """Read (or take) both images, noticing byte-identical files; split ``a`` when ``b`` is None.

    Large JPEGs are decoded at a reduced size when only the working resolution is needed; the returned
    :class:`_Reduced` then says by how much and gives the full sizes.
    """
    if b is not None and opts.split:
        raise OptionError("split cuts one picture in two, but two were given", "give only A, or drop split", "split")
    # Byte-identical files need no decoding beyond A's size.
    fast = None
    if b is not None and not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        pa, pb = os.fspath(a), os.fspath(b)
        if os.path.isfile(pa) and os.path.isfile(pb) and os.path.getsize(pa) == os.path.getsize(pb) > 0:
            with open(pa, "rb") as fa, open(pb, "rb") as fb:
                if fa.read() == fb.read():
                    fast = "bytes"
    if b is not None and fast is None:
        if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray) and opts.analysis_size > 0:
            got = _read_reduced(os.fspath(a), os.fspath(b), opts)
            if got is not None:
                return got[0], got[1], None, got[2]
        # Decoding dominates small comparisons; OpenCV releases the GIL, so decode A and B side by side.
        img_a, img_b = _load_pair(a, b)
    else:
        img_a = load_image(a)
    if b is None:
        if not opts.split:
            raise OptionError(
                "compare needs two images", "give B, or set split to auto for one picture holding both", "split"
            )
        img_a, img_b = split_image(img_a, opts.split)
    elif fast == "bytes":
        img_b = img_a
    return img_a, img_b, fast, None


def compare_pairs(
    pairs: Iterable[tuple[Any, Any]],
    *,
    ignore: str | os.PathLike | np.ndarray | None = None,
    ignore_boxes: Any = (),
    options: CompareOptions | None = None,
    **kwargs: Any,
) -> Iterator[Comparison | FramediffError]:
    """Compare many pairs of images, reading the next pair while the current one is analysed.

    With two or more cores this hides most of the decoding time (for photos, decoding costs about as
    much as the analysis). At most one pair is read ahead, so memory stays bounded however many pairs
    there are.

    Args:
        pairs: ``(a, b)`` paths or arrays, as :func:`compare` takes them.
        ignore: Optional mask applied to every pair (see :func:`compare`).
        ignore_boxes: Boxes ignored in every pair.
        options: A :class:`CompareOptions`; or give its fields as keyword arguments.
        **kwargs: Fields of :class:`CompareOptions`.

    Yields:
        One :class:`Comparison` per pair, in order; a pair that cannot be compared (missing or corrupt
        file, too small) yields its :class:`~framediff.errors.FramediffError` instead, and the batch
        goes on.

    Raises:
        OptionError: when an option is out of range (before any pair is read).
    """
    opts = _merged_options(options, kwargs)
    ign = _ignore_input(ignore)
    it = iter(pairs)

    def submit() -> Future | None:
        nxt = next(it, None)
        return None if nxt is None else _AHEAD.submit(_read_inputs, nxt[0], nxt[1], opts)

    pending = submit()
    while pending is not None:
        current, pending = pending, None
        try:
            img_a, img_b, fast, reduced = current.result()
        except FramediffError as e:
            pending = submit()
            yield e
            continue
        pending = submit()  # decode the next pair while this one is analysed
        try:
            result = _compare_images(img_a, img_b, fast, opts, ign, ignore_boxes, reduced)
        except FramediffError as e:
            yield e
            continue
        yield result


_AHEAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="framediff-ahead")


def _ignore_input(ignore: Any) -> np.ndarray | None:
    """The ignore picture as an array (read once, however many pairs use it)."""
    return load_image(ignore) if ignore is not None and not isinstance(ignore, np.ndarray) else ignore


def _compare_images(
    img_a: np.ndarray,
    img_b: np.ndarray,
    fast: str | None,
    opts: CompareOptions,
    ignore: Any,
    ignore_boxes: Any,
    reduced: _Reduced | None = None,
) -> Comparison:
    """The analysis of :func:`compare`, once both images are in memory (perhaps decoded reduced)."""
    size_a = reduced.size_a if reduced else (img_a.shape[1], img_a.shape[0])
    size_b = reduced.size_b if reduced else (img_b.shape[1], img_b.shape[0])
    for name, (w, h) in (("A", size_a), ("B", size_b)):
        if min(w, h) < MIN_SIDE:
            raise InputError(
                f"image {name} is {w}x{h} pixels, too small to compare",
                f"give images at least {MIN_SIDE}x{MIN_SIDE}",
            )
    ignore_arr = _ignore_input(ignore)
    boxes = [parse_box(x) if isinstance(x, str) else tuple(int(v) for v in x) for x in (ignore_boxes or ())]
    ign = ignore_mask(size_a, ignore_arr, boxes)

    if (
        fast is None
        and reduced is None  # equal reduced pixels do not prove equal full-size pixels
        and img_a.shape == img_b.shape
        and img_a.dtype == img_b.dtype
        and np.array_equal(img_a, img_b)
    ):
        fast = "pixels"
    if fast:
        return Comparison(
            True, [], 1.0, 0.0, float("inf"), 0.0, 0, size_a, size_b, Alignment(), 0.0, opts.method, 1.0, fast,
            relation="identical",
        )

    bgr_a, bgr_b = to_bgr8(img_a), to_bgr8(img_b)
    scale = _working_scale(size_a, opts.analysis_size)
    ka, kb = (reduced.ka, reduced.kb) if reduced else (1, 1)
    wa, wb = resize_to(bgr_a, scale * ka, fast=True), resize_to(bgr_b, scale * kb, fast=True)
    hd = phash(wa) - phash(wb)  # of the pictures as given, before any alignment or correction
    ga, gb = cv2.cvtColor(wa, cv2.COLOR_BGR2GRAY), cv2.cvtColor(wb, cv2.COLOR_BGR2GRAY)
    work_size = (wa.shape[1], wa.shape[0])

    alignment, agreed = choose_alignment(ga, gb, opts.align)
    wb, valid = warp_to(wb, alignment, work_size)
    _shave_shift_border(valid, alignment)
    if alignment.warped and scale != 1.0:
        # Report the fit in full-resolution pixels: B's pixels -> A's pixels.
        s_mat = np.diag([scale, scale, 1.0])
        alignment.matrix = np.linalg.inv(s_mat) @ alignment.matrix @ s_mat
        alignment.shift = (alignment.shift[0] / scale, alignment.shift[1] / scale)
    if ign is not None:
        valid[cv2.resize(ign, work_size, interpolation=cv2.INTER_AREA) > 127] = 0
    covered = float(np.count_nonzero(valid)) / valid.size
    if covered < MIN_OVERLAP or agreed.explained < SAME_PICTURE_MIN:
        # Nothing in common: different pictures. No local change search, which would only measure noise.
        return _different(wa, wb, valid, agreed, hd, size_a, size_b, alignment, opts, covered, scale)
    # Where A and B agree, seen from the global evidence: the noise floor is measured there only.
    agree_mask = cv2.resize(agreed.mask, work_size, interpolation=cv2.INTER_NEAREST) if agreed.mask is not None else None
    floor_valid = valid
    if agree_mask is not None:
        fv = cv2.min(valid, agree_mask)
        if np.count_nonzero(fv) >= 0.1 * max(1, np.count_nonzero(valid)):
            floor_valid = fv

    # Exposure, contrast and white balance are not changes: give A the tones of B, channel by channel.
    luts = tone_luts(wa, wb, floor_valid)
    tone = tone_change(wa, wb, luts, floor_valid)
    if any(lut is not None for lut in luts):
        wa = cv2.merge(
            [cv2.LUT(wa[..., c], lut) if lut is not None else wa[..., c] for c, lut in enumerate(luts)]
        )
    ya, yb = cv2.cvtColor(wa, cv2.COLOR_BGR2YCrCb), cv2.cvtColor(wb, cv2.COLOR_BGR2YCrCb)
    # The global scores need nothing from the region search: compute them on the other core meanwhile.
    scores = POOL.submit(_global_scores, ya[..., 0].copy(), yb[..., 0].copy(), valid.copy())
    learn = floor_valid if floor_valid is not valid else None
    lossless = _lossless(ya[..., 0], yb[..., 0], floor_valid)
    tolerance = opts.tolerance if opts.tolerance is not None else (0 if lossless and not alignment.warped else 1)
    diff = _difference(ya, yb, opts, learn, tolerance)
    diff[valid == 0] = 0

    threshold = opts.threshold if opts.threshold is not None else auto_threshold(diff, floor_valid)
    # A lossless pair (a screenshot, a rendered page, an exact copy with an edit) has no noise to hide
    # in: a change of a few pixels is then as certain as a large one, and is kept.
    mask = _seeded(diff, threshold, min_pixels=1 if lossless else 6)
    if opts.method == "absdiff" and opts.threshold is None:
        # Faint but wide changes (a patch of sky swapped for another) hide under the pixel noise; at a
        # coarser scale the noise averages out while they stay: look there too, with that scale's floor.
        ca, cb = resize_to(ya, 0.25, fast=True), resize_to(yb, 0.25, fast=True)
        # Two coarse views: the fine map averaged (texture lost or gained), and the averaged images
        # compared (a shift of tone too faint for any single pixel).
        coarse = cv2.max(
            resize_to(diff, 0.25, fast=True),
            _channel_max(_envelope_diff(ca, cb, 1, activity=0.25, learn=learn)),
        )
        csize = (coarse.shape[1], coarse.shape[0])
        cvalid = cv2.resize(floor_valid, csize, interpolation=cv2.INTER_NEAREST)
        cthr = auto_threshold(coarse, cvalid, minimum=3.0)
        # A coarse pixel next to the uncovered area mixes it in: only wholly covered ones count.
        inside = cv2.erode(cv2.resize(valid, csize, interpolation=cv2.INTER_NEAREST), np.ones((3, 3), np.uint8))
        cmask = cv2.min(_seeded(coarse, cthr, min_pixels=COARSE_MIN_PIXELS), inside)
        cmask = cv2.resize(cmask, (diff.shape[1], diff.shape[0]), interpolation=cv2.INTER_NEAREST)
        mask = cv2.max(mask, cmask)
    mask[valid == 0] = 0
    mask = clean_mask(mask, open_px=0, close_px=2)

    diag = float(np.hypot(*work_size))
    merge_gap = opts.merge_gap * scale if opts.merge_gap is not None else 0.025 * diag
    area_a = size_a[0] * size_a[1]
    if opts.min_area is not None:
        min_area = opts.min_area
    else:
        min_area = LOSSLESS_MIN_AREA if lossless else max(16, int(3e-4 * area_a))
    # Fragments (smaller than the merge gap) join their neighbours; two regions that are each at least
    # that big are separate changes unless they nearly touch.
    gap = int(round(merge_gap))
    regions = find_regions(
        mask, diff, min_area=max(1, int(round(min_area * scale * scale))), merge_gap=gap, solid=gap
    )
    # Faint regions (mean difference under min_contrast levels) are retouching nobody would see.
    scored = [r for r in regions if r.score * 255.0 >= opts.min_contrast]
    regions = [r.scaled(1.0 / scale, size_a) for r in scored]

    # Global scores over the area both images cover.
    s, m, p = scores.result()
    changed = float(np.count_nonzero(mask)) / max(1, int(np.count_nonzero(valid)))
    return Comparison(
        identical=not regions,
        relation="changed" if regions else "same",
        explained=agreed.explained,
        tone=tone,
        regions=regions,
        ssim=s,
        mse=m,
        psnr=p,
        changed_fraction=changed,
        hash_distance=hd,
        size_a=size_a,
        size_b=size_b,
        alignment=alignment,
        threshold=float(threshold),
        method=opts.method,
        overlap=covered,
        image_a=bgr_a if ka == 1 else None,  # reduced pictures are no good for drawing: callers re-read
        image_b=bgr_b if kb == 1 else None,
        diff=diff,
        mask=mask,
        valid=valid,
        scale=scale,
    )


def _shave_shift_border(valid: np.ndarray, alignment: Alignment) -> None:
    """Leave out a frame as wide as a small shift along the picture's border.

    A picture shifted by a pixel or two gets its new border strip from somewhere (padding, a mirrored
    edge, a wider sensor crop): a strip that no comparison can call a change.
    """
    if not alignment.warped or alignment.mirrored:
        return
    move = max(abs(alignment.shift[0]), abs(alignment.shift[1]))
    if move > 4.0:
        return
    n = int(np.ceil(move)) + 1
    valid[:n], valid[-n:], valid[:, :n], valid[:, -n:] = 0, 0, 0, 0


def _different(
    wa: np.ndarray,
    wb: np.ndarray,
    valid: np.ndarray,
    agreed: Agreement,
    hd: int,
    size_a: tuple[int, int],
    size_b: tuple[int, int],
    alignment: Alignment,
    opts: CompareOptions,
    covered: float,
    scale: float,
) -> Comparison:
    """The answer for two pictures with nothing in common: every compared pixel counts as changed."""
    ga, gb = cv2.cvtColor(wa, cv2.COLOR_BGR2GRAY), cv2.cvtColor(wb, cv2.COLOR_BGR2GRAY)
    if not np.count_nonzero(valid):
        valid = np.full(ga.shape, 255, np.uint8)  # no overlap at all: score the pictures as they lie
        gb = cv2.resize(gb, (ga.shape[1], ga.shape[0]), interpolation=cv2.INTER_AREA) if gb.shape != ga.shape else gb
    s, m, p = _global_scores(ga, gb, valid)
    return Comparison(
        identical=False,
        relation="different",
        explained=agreed.explained,
        regions=[],
        ssim=s,
        mse=m,
        psnr=p,
        changed_fraction=1.0 - agreed.explained if covered >= MIN_OVERLAP else 1.0,
        hash_distance=hd,
        size_a=size_a,
        size_b=size_b,
        alignment=alignment,
        threshold=float("nan"),
        method=opts.method,
        overlap=covered,
        image_a=None,
        image_b=None,
        scale=scale,
    )
