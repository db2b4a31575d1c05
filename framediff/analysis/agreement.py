"""Global evidence that two aligned pictures show the same thing, independent of any change threshold.

Local change detection answers "where do they differ?"; it cannot answer "are these the same picture at
all?": on two unrelated photos the whole difference map is "noise", so a noise-floor threshold rises
above it and nothing is boxed. This module answers the first question from structure alone, at low
resolution: the overlap is cut into blocks, and a textured block *agrees* when its zero-mean patterns in
A and B correlate (normalised cross-correlation, which ignores exposure, contrast, gamma and colour
shifts). The share of textured blocks that agree is how much of the picture the alignment *explains*.
Unrelated pictures explain almost nothing; a re-take, a copy, or a scene with a few local changes
explains most of it.

Flat blocks (sky, walls) carry no evidence either way when both are flat; a flat block facing a textured
one is a disagreement (a photo against a grey card).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Agreement", "agreement", "block_agreement", "low_copy", "low_mapped", "low_scale", "LOW_SIDE"]

LOW_SIDE = 256  # longest side of the images the evidence is measured on
BLOCK = 8  # block side in low-resolution pixels
FLAT_STD = 2.5  # a block whose grey levels spread less than this is flat (carries no pattern)
AGREE_NCC = 0.5  # a textured block agrees when A's and B's patterns correlate at least this much


@dataclass
class Agreement:
    """How much of the common area two aligned images explain.

    Attributes:
        explained: Share of the informative blocks that agree (0-1); 1.0 when there is no information.
        blocks: Informative blocks counted (textured in A or B, and covered by both).
        structure: Correlation of the block means over the whole overlap (the picture's layout).
        mask: Low-resolution map of the blocks that agree (255), at ``LOW_SIDE`` scale, or ``None``.
        thin: Too few textured blocks to count: ``explained`` comes from the layout of the block means
            alone, weak evidence that a better-supported fit should override.
    """

    explained: float
    blocks: int
    structure: float
    mask: np.ndarray | None = None
    thin: bool = False

    @property
    def score(self) -> float:
        """One figure to rank alignments by: explained share, layout as the tie-breaker."""
        return self.explained + 0.01 * self.structure


def low_scale(shape: tuple[int, ...]) -> float:
    """The factor that brings an image of ``shape`` to the evidence resolution (never enlarges)."""
    return min(1.0, LOW_SIDE / max(shape[0], shape[1]))


def low_copy(gray: np.ndarray) -> np.ndarray:
    """``gray`` brought to the evidence resolution (longest side ``LOW_SIDE``; never enlarged).

    :func:`agreement` makes these copies itself; a caller judging many alignments of one pair makes them
    once and passes them in (resizing dominated the cost of each judgement).
    """
    return cv2.resize(gray, _size(gray.shape, low_scale(gray.shape)), interpolation=cv2.INTER_AREA)


def agreement(
    gray_a: np.ndarray,
    gray_b: np.ndarray,
    matrix: np.ndarray | None,
    *,
    low_a: np.ndarray | None = None,
    low_b: np.ndarray | None = None,
) -> Agreement:
    """Measure how much of A the image B explains once mapped onto A by ``matrix``.

    Args:
        gray_a: A, grey uint8 (any working size).
        gray_b: B, grey uint8 (any size).
        matrix: 3x3 homography from B's pixels to A's pixels; ``None`` for "top-left on top-left"
            (no alignment, the common area of two images as they are).
        low_a: ``low_copy(gray_a)`` when the caller has it already (the result is the same).
        low_b: ``low_copy(gray_b)`` likewise.

    Returns:
        The :class:`Agreement`.
    """
    la = low_copy(gray_a) if low_a is None else low_a
    warped, cover = low_mapped(gray_a, gray_b, matrix, la, low_copy(gray_b) if low_b is None else low_b)
    return block_agreement(la, warped, cover)


def low_mapped(
    gray_a: np.ndarray, gray_b: np.ndarray, matrix: np.ndarray | None, low_a: np.ndarray, low_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """B's low-resolution copy mapped onto A's by ``matrix`` (given at working resolution).

    Args:
        gray_a: A at working resolution (its shape sets the scale).
        gray_b: B at working resolution.
        matrix: 3x3 homography from B's pixels to A's; ``None`` for top-left on top-left.
        low_a: ``low_copy(gray_a)``.
        low_b: ``low_copy(gray_b)``.

    Returns:
        ``(warped, cover)``: B on A's low-resolution grid (edges replicated outside B) and the uint8 mask
        of the pixels B covers.
    """
    sa, sb = low_scale(gray_a.shape), low_scale(gray_b.shape)
    h, w = low_a.shape
    # None: the common top-left area, as a pixel-to-pixel comparison of different sizes does.
    m = np.diag([sa, sa, 1.0]) @ (np.eye(3) if matrix is None else matrix) @ np.diag([1.0 / sb, 1.0 / sb, 1.0])
    warped = cv2.warpPerspective(low_b, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    cover = cv2.warpPerspective(
        np.full(low_b.shape, 255, np.uint8), m, (w, h), flags=cv2.INTER_NEAREST, borderValue=0
    )
    return warped, cover


def _size(shape: tuple[int, ...], s: float) -> tuple[int, int]:
    return max(1, int(round(shape[1] * s))), max(1, int(round(shape[0] * s)))


def block_agreement(a: np.ndarray, b: np.ndarray, cover: np.ndarray) -> Agreement:
    """:func:`agreement` on two low-resolution images already in register.

    Args:
        a: A, grey uint8.
        b: B mapped onto A, same shape.
        cover: uint8 mask of the pixels B covers (non-zero).

    Returns:
        The :class:`Agreement`.
    """
    h, w = a.shape
    n = BLOCK
    bh, bw = h // n, w // n
    if bh < 2 or bw < 2:
        same = bool(np.array_equal(a, b))
        return Agreement(1.0 if same else 0.0, 0, 1.0 if same else 0.0, None, thin=True)
    crop = (slice(0, bh * n), slice(0, bw * n))
    fa = a[crop].astype(np.float32).reshape(bh, n, bw, n)
    fb = b[crop].astype(np.float32).reshape(bh, n, bw, n)
    cov_ok = (cover[crop].reshape(bh, n, bw, n) > 0).mean(axis=(1, 3)) > 0.95
    ma, mb = fa.mean(axis=(1, 3)), fb.mean(axis=(1, 3))
    da, db = fa - ma[:, None, :, None], fb - mb[:, None, :, None]
    va, vb = (da * da).mean(axis=(1, 3)), (db * db).mean(axis=(1, 3))
    cab = (da * db).mean(axis=(1, 3))
    sa, sb = np.sqrt(va), np.sqrt(vb)
    textured = cov_ok & ((sa > FLAT_STD) | (sb > FLAT_STD))
    both = (sa > 0.5 * FLAT_STD) & (sb > 0.5 * FLAT_STD)
    ncc = np.where(both, cab / np.maximum(sa * sb, 1e-6), 0.0)
    agree = textured & (ncc >= AGREE_NCC)
    count = int(textured.sum())
    structure = _correlation(ma[cov_ok], mb[cov_ok])
    thin = count < max(4, 0.05 * cov_ok.sum())
    if thin:
        # Almost nothing textured (flat graphics, fog): the layout of the block means must tell.
        explained = 1.0 if structure >= 0.9 or _flat_match(ma[cov_ok], mb[cov_ok]) else max(0.0, structure)
        mask_blocks = cov_ok
    else:
        explained = float(agree.sum()) / count
        # Flat blocks that are flat in both count as agreeing area for the noise floor.
        mask_blocks = agree | (cov_ok & ~textured)
    mask = np.zeros((h, w), np.uint8)
    mask[crop] = np.repeat(np.repeat(mask_blocks.astype(np.uint8) * 255, n, axis=0), n, axis=1)
    return Agreement(float(explained), count, structure, mask, thin=thin)


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two vectors; 0 when either is constant or too short."""
    if x.size < 4:
        return 0.0
    x, y = x - x.mean(), y - y.mean()
    d = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / d) if d > 1e-6 else 0.0


def _flat_match(x: np.ndarray, y: np.ndarray) -> bool:
    """Two nearly uniform pictures: the same when their levels are close (a flat grey against itself)."""
    return x.size > 0 and float(np.abs(x.mean() - y.mean())) < 12 and float(x.std() + y.std()) < 6
