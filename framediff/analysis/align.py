"""Registering image B onto image A: the candidate fits (B in place or rescaled, the feature homography, a
phase-correlation shift, a crop, B's mirror and quarter-turn forms), each judged by how much of A it
explains, and the choice among them (:func:`choose_alignment`). The fits themselves are :mod:`.register`'s.
"""

from __future__ import annotations

from concurrent.futures import Future

import cv2
import numpy as np

from ..workers import POOL
from .agreement import Agreement, agreement, low_copy, low_mapped
from .prepare import resize_to
from .register import (
    Alignment,
    FineReference,
    estimate_alignment,
    fine_match,
    fine_reference,
    mostly_equal,
    warp_to,
)

# The fitting primitives live in .register; named here too, where they were.
__all__ = [
    "Alignment",
    "FineReference",
    "choose_alignment",
    "estimate_alignment",
    "fine_match",
    "fine_reference",
    "mostly_equal",
    "warp_to",
]


# A fit must explain this much more of the picture than leaving B in place before B is moved: on a fixed
# camera the still background is the truth, and a large moving object must not drag the fit along.
PREFER_IDENTITY = 0.03
# Fits moving B less than this (working pixels) are below what the low-resolution evidence can judge.
SMALL_MOVE = 4.0
# A feature fit moving no corner of B more than this (working pixels) leaves B in place.
IN_PLACE = 0.35
# A large move that explains this share of A, and this much more than B in place, is not judged against
# the small moves (B in place, a shift of at most SMALL_MOVE): moves that small explain about what B in
# place explains, so none of them can come near it.
LARGE_FIT_EXPLAINS = 0.9
CLEARLY_MORE = 0.1
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

    def tone_gap(self, matrix: np.ndarray) -> float:
        """Mean grey difference of B mapped by ``matrix`` from A where it covers A, at the evidence
        resolution, with no tone matching: how far the light must change for the fit to hold."""
        warped, cover = low_mapped(self.gray_a, self.gray_b, np.asarray(matrix, np.float64), self.low_a, self.low_b)
        covered = cover > 0
        if not covered.any():
            return float("inf")
        return float(np.abs(self.low_a[covered].astype(np.float32) - warped[covered]).mean())

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
    plain, plain_agr = _plain(judge)
    if plain.method == "none" and mostly_equal(gray_a, gray_b):
        return plain, plain_agr  # most pixels match exactly: B is already in place
    plain_m = plain.matrix if plain.method != "crop" else None
    fit = estimate_alignment(gray_a, gray_b, force=True)
    in_place = fit.warped and size_a == size_b and _largest_move(fit.matrix, np.eye(3), size_a) < IN_PLACE
    if in_place:
        # The features put B where it is to within a third of a pixel: resampling would only blur it.
        fit = Alignment(method="none", matches=fit.matches, inliers=fit.inliers)
    large = fit.warped and _largest_move(fit.matrix, np.eye(3) if plain_m is None else plain_m, size_a) > SMALL_MOVE
    fit_agr = judge.agreement(fit.matrix) if large else None
    best, best_agr = plain, plain_agr
    # The small moves (B in place, the phase-correlation shift: three Fourier transforms of the working
    # pictures, the costliest candidate) are judged unless the evidence already rules them out: the
    # features found B in place, or a large move explains nearly all of A and clearly more than B in place
    # (a shift of a few pixels cannot then explain more).
    settled = in_place or (
        fit_agr is not None and fit_agr.explained >= LARGE_FIT_EXPLAINS and _better(fit_agr, plain_agr, CLEARLY_MORE)
    )
    if plain_m is not None and not settled:
        shift_job = POOL.submit(_phase_shift, gray_a, gray_b, plain_m)
        best, best_agr = _small_moves(judge, plain, plain_m, fit, large, shift_job, (best, best_agr))
    # A large move must explain more than leaving B (nearly) in place: a fixed camera must not follow a
    # moving object. When both explain the picture, the pixels decide.
    if fit_agr is not None and (
        fit_agr.score > best_agr.score + PREFER_IDENTITY
        or (
            fit_agr.score > best_agr.score - PREFER_IDENTITY
            and judge.fine(fit.matrix) > judge.fine(best.matrix if best.warped or best.method == "none" else np.eye(3))
        )
    ):
        best, best_agr = fit, fit_agr
    if size_a != size_b:
        # B plainly rescaled onto A (or a small move of it) is as exact as a crop: the pixels break a tie
        # only against a feature fit.
        rescaled = plain_m is not None and (
            best is plain or (best.warped and _largest_move(best.matrix, plain_m, size_a) <= SMALL_MOVE)
        )
        chosen = best
        best, best_agr = _prefer_crop(judge, fit, best, best_agr, exact=rescaled)
        whole = rescaled and best is chosen and best_agr.explained >= TRY_FORMS_BELOW
    else:
        whole = False
    if best_agr.explained < TRY_FORMS_BELOW or best_agr.thin or best.method == "crop":
        best, best_agr = _other_forms(judge, best, best_agr, whole_only=whole)
    return best, best_agr


def _plain(judge: _Judge) -> tuple[Alignment, Agreement]:
    """B left in place; or, when only its size differs, plainly rescaled (same aspect ratio), else the
    common top-left area or B stretched onto A, whichever explains more."""
    size_a, size_b = judge.gray_a.shape[:2], judge.gray_b.shape[:2]
    if size_a == size_b:
        return Alignment(method="none"), judge.agreement(np.eye(3))
    m = _resized(size_a, size_b)
    if m is not None:
        return _with_fit(Alignment(), m, size_a), judge.agreement(m)
    plain, plain_agr = Alignment(method="crop"), judge.agreement(None)  # the common top-left area
    # Or the whole of B stretched onto A (a picture squeezed to another aspect ratio).
    stretch = np.diag([size_a[1] / size_b[1], size_a[0] / size_b[0], 1.0])
    stretch_agr = judge.agreement(stretch)
    if _better(stretch_agr, plain_agr, 0.0):
        return _with_fit(Alignment(), stretch, size_a), stretch_agr
    return plain, plain_agr


def _small_moves(
    judge: _Judge,
    plain: Alignment,
    plain_m: np.ndarray,
    fit: Alignment,
    large: bool,
    shift_job: Future | None,
    best: tuple[Alignment, Agreement],
) -> tuple[Alignment, Agreement]:
    """Moves of a few pixels are too fine for the low-resolution evidence. Candidates are B in place,
    the phase-correlation shift and a small feature fit; the one whose pixels match A best wins."""
    size_a, size_b = judge.gray_a.shape[:2], judge.gray_b.shape[:2]
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
        return al, judge.agreement(m)
    return best


def _prefer_crop(
    judge: _Judge, fit: Alignment, best: Alignment, best_agr: Agreement, exact: bool = False
) -> tuple[Alignment, Agreement]:
    """A crop at the same scale is exact to the pixel; a feature fit of it is off by a fraction of a
    percent in scale, a pixel or two at the far edge. Take the crop when it explains as much.

    When ``best`` is B plainly rescaled onto A (``exact``) and explains nearly all of A, the light
    decides: on a smooth picture (a gradient, a sky) a part of A stretched in tone fits as well as the
    whole picture at another size (and is judged on more texture: the stretch steepens it), so the
    answer that needs no change of light is taken."""
    m = _crop_match(judge.gray_a, judge.gray_b, False)
    if m is None:
        return best, best_agr
    agr = judge.agreement(m)
    current = best.matrix if best.warped or best.method == "none" else np.eye(3)
    if exact and best_agr.explained >= TRY_FORMS_BELOW:
        take = agr.explained >= best_agr.explained - PREFER_IDENTITY and judge.tone_gap(m) < judge.tone_gap(current)
    else:
        tie = not exact and agr.score > best_agr.score - PREFER_IDENTITY and judge.fine(m) > judge.fine(current)
        take = _better(agr, best_agr) or tie
    if take:
        return _with_fit(Alignment(inliers=fit.inliers, matches=fit.matches), m, judge.gray_a.shape[:2]), agr
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


def _other_forms(
    judge: _Judge, best: Alignment, best_agr: Agreement, whole_only: bool = False
) -> tuple[Alignment, Agreement]:
    """When B explains little of A: try B mirrored, turned by quarter turns, and a finer feature search.

    Features are not mirror invariant, and a picture with few corners (a gradient, a logo) gives no fit
    at all: its seven other dihedral forms, rescaled onto A, are judged directly. A fit of B's mirror
    image catches mirrored crops; a search with more features and pyramid levels catches heavy crops
    and rescales that the quick search missed. With ``whole_only`` (B rescaled whole explains nearly all
    of a smooth A, and better in light than the crop :func:`_prefer_crop` found) only the other whole
    forms are tried: a part of a smooth picture stretched in tone fits as well, and its steeper texture
    must not outvote the simpler answer.
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
    if settled() or whole_only:
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
