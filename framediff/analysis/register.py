"""Fitting one map of image B onto image A: features + RANSAC, the warp, and how well a fit matches A
pixel for pixel (:func:`fine_match`). Which fit to use is :mod:`.align`'s choice.

Two photos taken by hand differ by a small shift, rotation, scale and perspective. We find ORB features in
both, match them, and fit a homography with a robust estimator (MAGSAC) so that real changes between the
photos, which are outliers, do not bend the fit. When the fit is indistinguishable from the identity the
images are left alone: resampling a perfectly aligned image would only add blur.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..workers import POOL
from .prepare import resize_to

__all__ = ["Alignment", "FineReference", "estimate_alignment", "fine_match", "fine_reference", "mostly_equal", "warp_to"]


@dataclass
class Alignment:
    """How B was mapped onto A.

    Attributes:
        method: ``none`` (used as is), ``homography`` or ``off`` (alignment disabled).
        matrix: 3x3 homography from B's pixels to A's pixels (identity when not warped).
        inliers: Feature matches that agree with the fit.
        matches: Feature matches found.
        shift: How far B's content moved relative to A, in pixels (mean over the corners), ``(dx, dy)``.
        rotation: Degrees B is turned relative to A, counter-clockwise positive (OpenCV's convention).
        scale: Scale factor of the fit's linear part (B's pixels to A's pixels).
        mirrored: Whether B is A's mirror image (left and right swapped) before the fit.
    """

    method: str = "none"
    matrix: np.ndarray = field(default_factory=lambda: np.eye(3))
    inliers: int = 0
    matches: int = 0
    shift: tuple[float, float] = (0.0, 0.0)
    rotation: float = 0.0
    scale: float = 1.0
    mirrored: bool = False

    @property
    def warped(self) -> bool:
        """Whether B was resampled onto A."""
        return self.method == "homography"

    def to_dict(self) -> dict:
        """JSON-ready description of the alignment used."""
        return {
            "method": self.method,
            "dx": round(self.shift[0], 2),
            "dy": round(self.shift[1], 2),
            "rotation": round(self.rotation, 3),
            "scale": round(self.scale, 4),
            "mirrored": self.mirrored,
            "inliers": self.inliers,
            "matches": self.matches,
            "matrix": [[round(float(v), 6) for v in row] for row in self.matrix],
        }


_LOCAL = threading.local()


def _features(gray: np.ndarray, n: int, levels: int = 3) -> tuple[list, np.ndarray | None]:
    # ORB objects are not thread-safe: one per thread. Three pyramid levels suffice because both images
    # are brought to the same size first; hand-held shots differ in scale by a few percent only.
    # Each pyramid level is 1.2x smaller; ORB needs about 64 px (twice its border of 31, plus one) at the
    # smallest, so a small or thin picture gets fewer levels.
    levels = max(1, min(levels, 1 + int(np.log(max(1.0, min(gray.shape[:2]) / 64.0)) / np.log(1.2))))
    orb = getattr(_LOCAL, "orb", None)
    if orb is None or orb.getMaxFeatures() != n or orb.getNLevels() != levels:
        orb = _LOCAL.orb = cv2.ORB_create(nfeatures=n, fastThreshold=10, nlevels=levels)
    # Equalised contrast finds corners in dark or flat photos too (night shots, microscopy, stars).
    try:
        return orb.detectAndCompute(cv2.equalizeHist(gray), None)
    except cv2.error:  # a picture too small or thin for any feature: no fit, as with too few features
        return [], None


def _inverse(h: np.ndarray | None) -> np.ndarray | None:
    """The inverse of a homography, or None when it is degenerate (a fit on nearly collinear points)."""
    if h is None or not np.all(np.isfinite(h)):
        return None
    try:
        inv = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return None
    return inv if np.all(np.isfinite(inv)) and abs(float(np.linalg.det(h[:2, :2]))) > 1e-9 else None


def estimate_alignment(
    gray_a: np.ndarray, gray_b: np.ndarray, *, max_side: int = 400, features: int = 500, force: bool = False,
    levels: int = 3,
) -> Alignment:
    """Estimate the homography that maps B onto A.

    Args:
        gray_a: Reference image, grey uint8.
        gray_b: Image to register, grey uint8 (any size).
        max_side: Features are found on copies at most this large (the fit is scaled back).
        features: How many ORB features to look for in each image.
        force: Return the fit even when it is within a third of a pixel of the identity.
        levels: ORB pyramid levels (3 covers the few percent of scale of a hand-held re-take; more find
            heavy crops and rescales).

    Returns:
        The :class:`Alignment`; ``method`` is ``none`` when the images already line up (or no reliable
        fit was found and they have the same size).
    """
    sa = min(1.0, max_side / max(gray_a.shape))
    sb = min(1.0, max_side / max(gray_b.shape))
    small_a, small_b = resize_to(gray_a, sa, fast=True), resize_to(gray_b, sb, fast=True)
    # The copies' true factors (sizes are whole pixels).
    sa, sb = small_a.shape[1] / gray_a.shape[1], small_b.shape[1] / gray_b.shape[1]
    # OpenCV releases the GIL: find both images' features at once.
    fut = POOL.submit(_features, small_b, features, levels)
    ka, da = _features(small_a, features, levels)
    kb, db = fut.result()
    if da is None or db is None or len(ka) < 8 or len(kb) < 8:
        return Alignment(method="none")
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(db, da, k=2)
    good = [m for m, *rest in (p for p in pairs if p) if not rest or m.distance < 0.8 * rest[0].distance]
    if len(good) < 8:
        return Alignment(method="none", matches=len(good))
    pb = np.float32([kb[m.queryIdx].pt for m in good]) / sb
    pa = np.float32([ka[m.trainIdx].pt for m in good]) / sa
    h, inl = cv2.findHomography(pb, pa, cv2.USAC_MAGSAC, 2.0 / sa, maxIters=2000, confidence=0.999)
    if h is None or inl is None or int(inl.sum()) < 8:
        return Alignment(method="none", matches=len(good))
    inliers = int(inl.sum())
    mask = inl.ravel().astype(bool)
    if _inverse(h) is None:
        return Alignment(method="none", matches=len(good))
    h = _refine(gray_a, gray_b, h, pa[mask], pb[mask], 2.0 / min(sa, sb))
    inv = _inverse(h / h[2, 2]) if h[2, 2] != 0 else None
    if inv is None:
        return Alignment(method="none", matches=len(good))
    h = h / h[2, 2]
    ha, wa = gray_a.shape
    corners = np.float32([[0, 0], [wa, 0], [wa, ha], [0, ha]]).reshape(-1, 1, 2)
    moved = cv2.perspectiveTransform(corners, inv).reshape(-1, 2) - corners.reshape(-1, 2)
    a = h[:2, :2]
    scale = float(np.sqrt(abs(np.linalg.det(a))))
    rotation = float(np.degrees(np.arctan2(a[1, 0] - a[0, 1], a[0, 0] + a[1, 1])))
    shift = (float(moved[:, 0].mean()), float(moved[:, 1].mean()))
    sane = 0.5 < scale < 2.0 and inliers >= max(8, 0.15 * len(good))
    if not sane:
        return Alignment(method="none", matches=len(good), inliers=inliers)
    if not force and gray_a.shape == gray_b.shape and float(np.abs(moved).max()) < 0.35:
        # Already aligned to within a third of a pixel: resampling would only blur B.
        return Alignment(method="none", matches=len(good), inliers=inliers)
    return Alignment("homography", h, inliers, len(good), shift, rotation, scale)


def _refine(
    gray_a: np.ndarray,
    gray_b: np.ndarray,
    h: np.ndarray,
    pa: np.ndarray,
    pb: np.ndarray,
    max_move: float,
    keep: int = 300,
) -> np.ndarray:
    """Polish a homography found on small copies to sub-pixel accuracy at full resolution.

    Features located on a reduced image are off by a pixel or more at full size. Tracking the inlier
    points from A into B with pyramidal Lucas-Kanade, starting where the fit predicts them, pins each one
    down to a fraction of a pixel for about a millisecond; a tight robust fit on the tracked points then
    leaves out any that landed on a real change.

    Args:
        gray_a: A, grey, full working resolution.
        gray_b: B, grey, full working resolution.
        h: The coarse homography from B's pixels to A's pixels.
        pa: Inlier points in A (full-resolution pixels).
        pb: The matching points in B.
        max_move: How far (pixels) the refined fit may move any corner of A from where the coarse fit puts
            it; a larger move means the tracking went astray (repeated texture), and is not taken.
        keep: At most this many points are tracked (spread over the image by taking every n-th).

    Returns:
        The refined homography, or the least-squares fit of the inliers when tracking fails.
    """
    fallback, _ = cv2.findHomography(pb, pa, 0)
    fallback = h if _inverse(fallback) is None else fallback
    if len(pa) > keep:
        idx = np.linspace(0, len(pa) - 1, keep).astype(int)
        pa, pb = pa[idx], pb[idx]
    guess = cv2.perspectiveTransform(pa.reshape(-1, 1, 2), _inverse(h)).astype(np.float32)
    if gray_a.shape != gray_b.shape:
        # The tracker wants two images of one size: pad both to the larger extent (coordinates unchanged).
        hh, ww = max(gray_a.shape[0], gray_b.shape[0]), max(gray_a.shape[1], gray_b.shape[1])
        gray_a, gray_b = (
            cv2.copyMakeBorder(g, 0, hh - g.shape[0], 0, ww - g.shape[1], cv2.BORDER_REPLICATE)
            for g in (gray_a, gray_b)
        )
    # The tracker assumes equal brightness; equalising both images undoes any exposure change first.
    tracked, status, _ = cv2.calcOpticalFlowPyrLK(
        cv2.equalizeHist(gray_a),
        cv2.equalizeHist(gray_b),
        pa.reshape(-1, 1, 2).astype(np.float32),
        guess,
        winSize=(15, 15),
        maxLevel=2,
        criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.01),
        flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
    )
    ok = status.ravel() == 1
    if int(ok.sum()) < 8:
        return fallback
    src, dst = tracked.reshape(-1, 2)[ok], pa[ok]
    h2, inl = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, 1.0, maxIters=1000, confidence=0.999)
    if h2 is None or inl is None or int(inl.sum()) < max(8, 0.3 * len(src)):
        return fallback
    sel = inl.ravel().astype(bool)
    h3, _ = cv2.findHomography(src[sel], dst[sel], 0)
    refined = h3 if _inverse(h3) is not None else h2
    inv_refined, inv_fallback = _inverse(refined), _inverse(fallback)
    if inv_refined is None or inv_fallback is None:
        return fallback
    ha, wa = gray_a.shape[:2]
    corners = np.float32([[0, 0], [wa, 0], [wa, ha], [0, ha]]).reshape(-1, 1, 2)
    move = cv2.perspectiveTransform(corners, inv_refined) - cv2.perspectiveTransform(corners, inv_fallback)
    return refined if float(np.abs(move).max()) <= max_move else fallback


def warp_to(
    image_b: np.ndarray, alignment: Alignment, size_a: tuple[int, int], *, erode: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Resample B into A's frame and return it with the mask of pixels B really covers.

    Args:
        image_b: B's pixels (grey or colour).
        alignment: From :func:`estimate_alignment`.
        size_a: ``(width, height)`` of A.
        erode: Pixels to shave off the covered area's border (interpolation there mixes in the outside).

    Returns:
        ``(warped_b, valid)`` where ``valid`` is a uint8 mask (255 = B covers this pixel of A).
    """
    w, h = size_a
    if not alignment.warped:
        hb, wb = image_b.shape[:2]
        if (hb, wb) == (h, w):
            return image_b, np.full((h, w), 255, np.uint8)  # nothing to move: no copy
        out = np.zeros((h, w) + image_b.shape[2:], image_b.dtype)
        ch, cw = min(h, hb), min(w, wb)
        out[:ch, :cw] = image_b[:ch, :cw]
        valid = np.zeros((h, w), np.uint8)
        valid[:ch, :cw] = 255
        return out, valid
    warped = cv2.warpPerspective(
        image_b, alignment.matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    ones = np.full(image_b.shape[:2], 255, np.uint8)
    valid = cv2.warpPerspective(ones, alignment.matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    if erode > 0:
        valid = cv2.erode(valid, np.ones((2 * erode + 1, 2 * erode + 1), np.uint8))
    return warped, valid


def mostly_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether most pixels are (almost) equal, which only happens when B is already aligned with A.

    Any shift, rotation or rescale changes nearly every pixel of a photo; an edit leaves most untouched.
    Checking a subsample costs microseconds and saves the feature matching.
    """
    sa, sb = a[::2, ::2], b[::2, ::2]
    # Only textured pixels tell: a flat background (night sky, paper) matches whatever the shift.
    k = np.ones((3, 3), np.uint8)
    textured = cv2.subtract(cv2.dilate(sa, k), cv2.erode(sa, k)) > 24
    n = int(np.count_nonzero(textured))
    if n < 0.02 * sa.size:
        return False
    d = cv2.absdiff(sa, sb)[textured]
    # Most, not half: on a screenshot shifted by a line or two, the pixels along the edges parallel to
    # the shift keep their values, about half of all edge pixels.
    return float(np.count_nonzero(d <= 1)) > 0.8 * n


def _covers(matrix: np.ndarray, size_b: tuple[int, int], size: tuple[int, int], margin: float) -> bool:
    """Whether B (``size_b`` = (h, w)) mapped by ``matrix`` covers every pixel of a ``size`` grid, and
    ``margin`` pixels beyond its border: the grid's corners, taken back into B, lie inside B by that margin.

    Mapped by a homography, B's rectangle stays a convex quadrilateral (when the grid lies on one side of
    the horizon line), so the corners decide for the whole grid.
    """
    inv = _inverse(matrix)
    if inv is None:
        return False
    (h, w), (hb, wb) = size, size_b
    corners = np.array([[-margin, -margin, 1.0], [w - 1 + margin, -margin, 1.0],
                        [w - 1 + margin, h - 1 + margin, 1.0], [-margin, h - 1 + margin, 1.0]])
    back = corners @ inv.T
    if np.any(back[:, 2] <= 1e-9):
        return False  # part of the grid lies beyond the horizon of the map
    x, y = back[:, 0] / back[:, 2], back[:, 1] / back[:, 2]
    # Inside B by a pixel: the bilinear sample and the nearest-neighbour cover both stay within B.
    return bool(np.all(x >= 1.0) and np.all(x <= wb - 2.0) and np.all(y >= 1.0) and np.all(y <= hb - 2.0))


@dataclass
class FineReference:
    """What :func:`fine_match` needs of A alone, made once when many fits of one pair are judged.

    Attributes:
        step: Subsampling step of the judged pixels (2 for large pictures).
        a: A's judged pixels, float32.
        mag: Their gradient magnitude.
        full_threshold: The 80th percentile of ``mag`` where the whole of A is covered (computed once;
            a fit covering only part of A gets its own).
    """

    step: int
    a: np.ndarray
    mag: np.ndarray
    full_threshold: np.floating | None = None


def fine_reference(gray_a: np.ndarray) -> FineReference:
    """A's half of :func:`fine_match`: its subsampled pixels and their gradients."""
    h, w = gray_a.shape[:2]
    step = 2 if h * w > 600_000 else 1
    a = gray_a[::step, ::step].astype(np.float32)
    gx, gy = cv2.Sobel(a, cv2.CV_32F, 1, 0), cv2.Sobel(a, cv2.CV_32F, 0, 1)
    return FineReference(step, a, cv2.magnitude(gx, gy))


def fine_match(
    gray_a: np.ndarray, gray_b: np.ndarray, matrix: np.ndarray, ref: FineReference | None = None
) -> float:
    """How well B mapped by ``matrix`` matches A pixel for pixel: correlation on A's detailed pixels.

    Only the pixels with the strongest gradients tell a sub-pixel misregistration apart; correlation
    (rather than a difference) ignores exposure and contrast changes.

    Args:
        gray_a: A, grey uint8.
        gray_b: B, grey uint8 (any size).
        matrix: 3x3 homography from B's pixels to A's pixels.
        ref: ``fine_reference(gray_a)`` when the caller judges several fits (the result is the same).

    Returns:
        The correlation (-1 to 1); -1 when too few detailed pixels are covered.
    """
    ref = fine_reference(gray_a) if ref is None else ref
    step, a, mag = ref.step, ref.a, ref.mag
    # B is resampled straight onto the judged (subsampled) grid of A: pixel (i, j) of it is A's pixel
    # (step * i, step * j), as ``warp(...)[::step, ::step]`` would give, for 1/step^2 of the work.
    hs, ws = a.shape[:2]
    m = np.diag([1.0 / step, 1.0 / step, 1.0]) @ np.asarray(matrix, np.float64)
    bb = cv2.warpPerspective(gray_b, m, (ws, hs), flags=cv2.INTER_LINEAR, borderValue=0).astype(np.float32)
    if _covers(m, gray_b.shape[:2], (hs, ws), margin=3.0):
        cover = None  # B covers the whole grid (with the erosion's margin): no cover map to make
    else:
        cover = cv2.warpPerspective(np.full(gray_b.shape[:2], 255, np.uint8), m, (ws, hs), flags=cv2.INTER_NEAREST)
        cover = cv2.erode(cover, np.ones((5, 5), np.uint8)) > 0
    if cover is None or cover.all():
        # The common case (B covers all of A): the percentile is the same for every such fit.
        if ref.full_threshold is None:
            # Kept as NumPy's float64: the comparison below must be made in float64, as for any fit.
            ref.full_threshold = np.percentile(mag, 80)
        sel = mag >= ref.full_threshold
    else:
        sel = cover & (mag >= np.percentile(mag[cover], 80) if cover.any() else cover)
    if int(sel.sum()) < 50:
        return -1.0
    x, y = a[sel] - a[sel].mean(), bb[sel] - bb[sel].mean()
    d = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / d) if d > 0 else -1.0
