"""Registering image B onto image A: features + RANSAC, with the mask of the area both images cover.

Two photos taken by hand differ by a small shift, rotation, scale and perspective. We find ORB features in
both, match them, and fit a homography with a robust estimator (MAGSAC) so that real changes between the
photos, which are outliers, do not bend the fit. When the fit is indistinguishable from the identity the
images are left alone: resampling a perfectly aligned image would only add blur.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..workers import POOL
from .agreement import Agreement, agreement, low_copy
from .prepare import resize_to

__all__ = [
    "Alignment", "FineReference", "choose_alignment", "estimate_alignment", "fine_match", "fine_reference", "mostly_equal",
    "warp_to",
]


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


# A fit must explain this much more of the picture than leaving B in place before B is moved: on a fixed
# camera the still background is the truth, and a large moving object must not drag the fit along.
PREFER_IDENTITY = 0.03
# Fits moving B less than this (working pixels) are below what the low-resolution evidence can judge.
SMALL_MOVE = 4.0
# Below this share explained, the plain and fitted B are both unrelated to A: try B's mirror image.
TRY_MIRROR_BELOW = 0.6
# Below this share, B's seven other dihedral forms (cheap: no features) are also judged: a nearly
# symmetric picture's mirror image explains most of it, but not all.
TRY_FORMS_BELOW = 0.95
# The side of the copies a crop is searched on first (template matching), before it is pinned down.
CROP_SEARCH_SIDE = 320


def _largest_move(m: np.ndarray, plain: np.ndarray, size_a: tuple[int, int]) -> float:
    """How far (A's pixels) fit ``m`` puts any corner of A away from where ``plain`` puts it."""
    ha, wa = size_a
    corners = np.float32([[0, 0], [wa, 0], [wa, ha], [0, ha]]).reshape(-1, 1, 2)
    d = cv2.perspectiveTransform(corners, np.linalg.inv(m)) - cv2.perspectiveTransform(corners, np.linalg.inv(plain))
    return float(np.abs(d).max())


def _phase_shift(gray_a: np.ndarray, gray_b: np.ndarray, plain: np.ndarray) -> np.ndarray | None:
    """The sub-pixel translation (after ``plain``) that phase correlation finds, as a homography."""
    h, w = gray_a.shape[:2]
    b = gray_b if gray_b.shape == gray_a.shape else cv2.warpPerspective(gray_b, plain, (w, h))
    win = cv2.createHanningWindow((w, h), cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(gray_b.astype(np.float32) if b is gray_b else b.astype(np.float32),
                                            gray_a.astype(np.float32), win)
    if response < 0.05 or max(abs(dx), abs(dy)) > SMALL_MOVE:
        return None
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]]) @ plain


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
    h, w = gray_a.shape[:2]
    ref = fine_reference(gray_a) if ref is None else ref
    step, a, mag = ref.step, ref.a, ref.mag
    b = cv2.warpPerspective(gray_b, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    cover = cv2.warpPerspective(np.full(gray_b.shape[:2], 255, np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST)
    bb = b[::step, ::step].astype(np.float32)
    cover = cv2.erode(cover[::step, ::step], np.ones((5, 5), np.uint8)) > 0
    if cover.all():
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


def _resized(size_a: tuple[int, int], size_b: tuple[int, int]) -> np.ndarray | None:
    """The plain rescale from B onto A when both have (nearly) the same aspect ratio, else ``None``."""
    (ha, wa), (hb, wb) = size_a, size_b
    if abs((wa / ha) / (wb / hb) - 1.0) > 0.02:
        return None
    return np.diag([wa / wb, ha / hb, 1.0])


def _with_fit(al: Alignment, matrix: np.ndarray, size_a: tuple[int, int]) -> Alignment:
    """``al`` with ``matrix`` as its homography, and shift, rotation and scale read off it."""
    ha, wa = size_a
    corners = np.float32([[0, 0], [wa, 0], [wa, ha], [0, ha]]).reshape(-1, 1, 2)
    moved = cv2.perspectiveTransform(corners, np.linalg.inv(matrix)).reshape(-1, 2) - corners.reshape(-1, 2)
    a = matrix[:2, :2]
    if al.mirrored:
        a = a @ np.diag([-1.0, 1.0])  # the rotation of the fit that follows the mirroring
    al.matrix = matrix
    al.scale = float(np.sqrt(abs(np.linalg.det(matrix[:2, :2]))))
    al.rotation = float(np.degrees(np.arctan2(a[1, 0] - a[0, 1], a[0, 0] + a[1, 1])))
    al.shift = (float(moved[:, 0].mean()), float(moved[:, 1].mean()))
    al.method = "homography"
    return al


class _Judge:
    """The judgements of one pair's candidate fits, sharing what does not depend on the fit: the
    low-resolution copies :func:`agreement` measures on, A's half of :func:`fine_match`, and the fine
    matches already made (the same fit is often judged twice)."""

    def __init__(self, gray_a: np.ndarray, gray_b: np.ndarray) -> None:
        self.gray_a, self.gray_b = gray_a, gray_b
        self.low_a, self.low_b = low_copy(gray_a), low_copy(gray_b)
        self._ref: FineReference | None = None
        self._fine: dict[bytes, float | Future] = {}

    def agreement(self, matrix: np.ndarray | None) -> Agreement:
        """:func:`~framediff.agreement.agreement` of B mapped by ``matrix``."""
        return agreement(self.gray_a, self.gray_b, matrix, low_a=self.low_a, low_b=self.low_b)

    def fine(self, matrix: np.ndarray) -> float:
        """:func:`fine_match` of B mapped by ``matrix`` (waiting for it when :meth:`start_fine` began it)."""
        key = self._key(matrix)
        got = self._fine.get(key)
        if got is None:
            got = self._fine[key] = fine_match(self.gray_a, self.gray_b, matrix, self._reference())
        elif isinstance(got, Future):
            got = self._fine[key] = got.result()
        return got

    def start_fine(self, matrix: np.ndarray) -> None:
        """Begin :meth:`fine` of ``matrix`` on the other core (OpenCV and NumPy release the GIL)."""
        key = self._key(matrix)
        if key not in self._fine:
            self._fine[key] = POOL.submit(fine_match, self.gray_a, self.gray_b, matrix, self._reference())

    def _reference(self) -> FineReference:
        if self._ref is None:
            self._ref = fine_reference(self.gray_a)
            # Made here, before any task shares the reference, so that no two threads write it.
            self._ref.full_threshold = np.percentile(self._ref.mag, 80)
        return self._ref

    @staticmethod
    def _key(matrix: np.ndarray) -> bytes:
        return np.asarray(matrix, np.float64).tobytes()


def choose_alignment(gray_a: np.ndarray, gray_b: np.ndarray, mode: str = "auto") -> tuple[Alignment, Agreement]:
    """Register B onto A by the fit that explains most of A, and say how much it explains.

    Candidates: B left in place (or plainly rescaled when only its size differs), the feature homography,
    and, when neither explains much, the homography of B's mirror image (features are not mirror
    invariant). Each is judged by :func:`~framediff.agreement.agreement`, which does not depend on any
    change threshold; leaving B in place wins unless a fit explains clearly more (a fixed camera whose
    scene changed must not be "aligned" on the moving object).

    Args:
        gray_a: A, grey uint8, working resolution.
        gray_b: B, grey uint8, working resolution (any size).
        mode: ``auto``, or ``off`` to compare pixel to pixel (the common top-left area).

    Returns:
        ``(alignment, agreement)`` of the chosen fit.
    """
    size_a, size_b = gray_a.shape[:2], gray_b.shape[:2]
    if mode == "off":
        al = Alignment(method="off")
        return al, agreement(gray_a, gray_b, None if size_a != size_b else np.eye(3))
    judge = _Judge(gray_a, gray_b)
    if size_a == size_b:
        plain = Alignment(method="none")
        plain_agr = judge.agreement(np.eye(3))
        if mostly_equal(gray_a, gray_b):
            return plain, plain_agr  # most pixels match exactly: B is already in place
    else:
        m = _resized(size_a, size_b)
        if m is not None:
            plain = _with_fit(Alignment(), m, size_a)
            plain_agr = judge.agreement(m)
        else:
            plain = Alignment(method="crop")  # the common top-left area
            plain_agr = judge.agreement(None)
            # Or the whole of B stretched onto A (a picture squeezed to another aspect ratio).
            stretch = np.diag([size_a[1] / size_b[1], size_a[0] / size_b[0], 1.0])
            stretch_agr = judge.agreement(stretch)
            if _better(stretch_agr, plain_agr, 0.0):
                plain, plain_agr = _with_fit(Alignment(), stretch, size_a), stretch_agr
    best, best_agr = plain, plain_agr
    plain_m = plain.matrix if plain.method != "crop" else None
    # The phase correlation (three Fourier transforms of the working pictures) needs nothing from the
    # feature fit: run it on the other core meanwhile.
    shift_job = POOL.submit(_phase_shift, gray_a, gray_b, plain_m) if plain_m is not None else None
    fit = estimate_alignment(gray_a, gray_b)
    large = fit.warped and _largest_move(fit.matrix, np.eye(3) if plain_m is None else plain_m, size_a) > SMALL_MOVE
    if plain_m is not None:
        # Moves of a few pixels are too fine for the low-resolution evidence. Candidates are B in place,
        # the phase-correlation shift and a small feature fit; the one whose pixels match A best wins.
        cands: list[tuple[Alignment | None, np.ndarray]] = [(plain, plain_m)]
        if fit.warped and not large:
            cands.append((fit, fit.matrix))
        # Judge B in place on the other core, and the feature fit here, while the phase correlation may
        # still be running.
        judge.start_fine(plain_m)
        if len(cands) > 1:
            judge.fine(fit.matrix)
        shift = shift_job.result() if shift_job is not None else None
        if shift is not None:
            cands.append((None, shift))
        _, i = max((judge.fine(m), i) for i, (_, m) in enumerate(cands))
        al, m = cands[i]
        if i > 0 and (_largest_move(m, plain_m, size_a) >= 0.35 or size_a != size_b):
            if al is None:
                al = _with_fit(Alignment(inliers=fit.inliers, matches=fit.matches), m, size_a)
            best, best_agr = al, judge.agreement(m)
    if large:
        # A large move must explain more than leaving B (nearly) in place: a fixed camera must not follow
        # a moving object. When both explain the picture, the pixels decide.
        fit_agr = judge.agreement(fit.matrix)
        if fit_agr.score > best_agr.score + PREFER_IDENTITY or (
            fit_agr.score > best_agr.score - PREFER_IDENTITY
            and judge.fine(fit.matrix) > judge.fine(best.matrix if best.warped or best.method == "none" else np.eye(3))
        ):
            best, best_agr = fit, fit_agr
    if size_a != size_b:
        # A crop at the same scale is exact to the pixel; a feature fit of it is off by a fraction of a
        # percent in scale, a pixel or two at the far edge. Take the crop when it explains as much.
        m = _crop_match(gray_a, gray_b, False)
        if m is not None:
            agr = judge.agreement(m)
            current = best.matrix if best.warped or best.method == "none" else np.eye(3)
            if _better(agr, best_agr) or (
                agr.score > best_agr.score - PREFER_IDENTITY
                and judge.fine(m) > judge.fine(current)
            ):
                best, best_agr = _with_fit(Alignment(inliers=fit.inliers, matches=fit.matches), m, size_a), agr
    if best_agr.explained < TRY_FORMS_BELOW or best_agr.thin or best.method == "crop":
        best, best_agr = _other_forms(judge, best, best_agr)
    return best, best_agr


def _better(new: Agreement, old: Agreement, margin: float = PREFER_IDENTITY) -> bool:
    """Whether ``new`` explains A clearly better than ``old``.

    A fit judged on a few textured blocks only (``thin``: the overlap is nearly flat) is weak evidence:
    any fit that explains most of a textured overlap beats it.
    """
    if old.thin and not new.thin:
        return new.explained >= TRY_MIRROR_BELOW
    if new.thin and not old.thin:
        return False
    return new.score > old.score + margin


def _crop_match(gray_a: np.ndarray, gray_b: np.ndarray, mirror: bool) -> np.ndarray | None:
    """Where the smaller picture lies inside the larger one at the same scale (a crop), as B -> A.

    Template matching (normalised correlation, blind to exposure and contrast) on copies whose longest
    side is ``CROP_SEARCH_SIDE`` finds the place; a second match at full working resolution, in a window
    of a few pixels around it, pins it to the pixel.

    Returns:
        The translation (after the mirroring when ``mirror``) from B's pixels to A's, or ``None`` when
        neither picture fits inside the other or the match is weak.
    """
    b = cv2.flip(gray_b, 1) if mirror else gray_b
    (ha, wa), (hb, wb) = gray_a.shape[:2], b.shape[:2]
    if hb <= ha and wb <= wa:
        big, small, sign = gray_a, b, 1.0
    elif hb >= ha and wb >= wa:
        big, small, sign = b, gray_a, -1.0
    else:
        return None
    if big.shape == small.shape:
        return None
    s = min(1.0, CROP_SEARCH_SIDE / max(big.shape))
    lo_big = resize_to(big, s, fast=True)
    lo_small = resize_to(small, s, fast=True)
    if min(lo_small.shape) < 16 or lo_small.shape[0] > lo_big.shape[0] or lo_small.shape[1] > lo_big.shape[1]:
        return None
    res = cv2.matchTemplate(lo_big, lo_small, cv2.TM_CCOEFF_NORMED)
    _, peak, _, (x, y) = cv2.minMaxLoc(res)
    if not np.isfinite(peak) or peak < 0.5:
        return None
    # Pin it down at full resolution in a window a few low-resolution pixels around the coarse place.
    r = int(np.ceil(2.0 / s)) + 1
    x0, y0 = max(0, int(round(x / s)) - r), max(0, int(round(y / s)) - r)
    x1 = min(big.shape[1], int(round(x / s)) + r + small.shape[1])
    y1 = min(big.shape[0], int(round(y / s)) + r + small.shape[0])
    if x1 - x0 >= small.shape[1] and y1 - y0 >= small.shape[0]:
        fine = cv2.matchTemplate(big[y0:y1, x0:x1], small, cv2.TM_CCOEFF_NORMED)
        _, _, _, (fx, fy) = cv2.minMaxLoc(fine)
        ox, oy = float(x0 + fx), float(y0 + fy)
    else:
        ox, oy = x / s, y / s
    m = np.array([[1.0, 0.0, sign * ox], [0.0, 1.0, sign * oy], [0.0, 0.0, 1.0]])
    if mirror:
        m = m @ np.array([[-1.0, 0.0, wb - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return m


def _dihedral(w: int, h: int, quarter_turns: int, mirror: bool) -> tuple[np.ndarray, int, int]:
    """The matrix taking B's pixels to those of B mirrored and turned, with the turned picture's size."""
    m = np.eye(3)
    if mirror:
        m = np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    for _ in range(quarter_turns % 4):  # np.rot90: (x, y) -> (y, w - 1 - x), counter-clockwise
        m = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, w - 1.0], [0.0, 0.0, 1.0]]) @ m
        w, h = h, w
    return m, w, h


def _other_forms(judge: _Judge, best: Alignment, best_agr: Agreement) -> tuple[Alignment, Agreement]:
    """When B explains little of A: try B mirrored, turned by quarter turns, and a finer feature search.

    Features are not mirror invariant, and a picture with few corners (a gradient, a logo) gives no fit
    at all: its seven other dihedral forms, rescaled onto A, are judged directly. A fit of B's mirror
    image catches mirrored crops; a search with more features and pyramid levels catches heavy crops
    and rescales that the quick search missed.
    """
    gray_a, gray_b = judge.gray_a, judge.gray_b
    size_a, size_b = gray_a.shape[:2], gray_b.shape[:2]
    hb, wb = size_b

    def consider(al: Alignment, m: np.ndarray) -> None:
        nonlocal best, best_agr
        agr = judge.agreement(m)
        if _better(agr, best_agr):
            best, best_agr = _with_fit(al, m, size_a), agr

    def settled() -> bool:
        return best_agr.explained >= TRY_MIRROR_BELOW and not best_agr.thin and best.method != "crop"

    for mirror in (False, True):
        for turns in range(4):
            if not mirror and turns == 0:
                continue
            d, w2, h2 = _dihedral(wb, hb, turns, mirror)
            s = _resized(size_a, (h2, w2))
            if s is not None:
                consider(Alignment(mirrored=mirror), s @ d)
    if settled():
        return best, best_agr
    for mirror in (False, True):
        m = _crop_match(gray_a, gray_b, mirror)
        if m is not None:
            consider(Alignment(mirrored=mirror), m)
    if settled():
        return best, best_agr
    flip, _, _ = _dihedral(wb, hb, 0, True)
    for mirror in (True, False):
        b = cv2.flip(gray_b, 1) if mirror else gray_b
        fit = estimate_alignment(gray_a, b, force=True, features=1500 if not mirror else 500, levels=6 if not mirror else 3)
        if fit.warped:
            consider(Alignment(inliers=fit.inliers, matches=fit.matches, mirrored=mirror), fit.matrix @ flip if mirror else fit.matrix)
        if settled():
            break
    return best, best_agr
