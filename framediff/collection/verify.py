"""Verification: compare's verdict on a candidate pair, turned into a member's relation to its kept file.

Nothing is grouped on a hash alone: every pair is compared (on the thumbnails the index keeps), and only
pictures that compare calls the same picture (``identical``, ``same``, or ``changed`` in a small part of
the frame) are copies. A pair that compare calls ``changed`` over much of the frame is another shot of
the same scene (``similar``, grouped only when asked), and ``different`` is no pair at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..compare import compare
from ..errors import FramediffError
from ..media.images import read_image
from .candidates import MIN_SUPPORT, PDQ_RADIUS, geometric_fit
from .fingerprint import FEATURE_SIDE, WORK_SIDE, Fingerprint, frame_box, read_thumb

__all__ = [
    "VERIFY_VERSION", "MAX_EDITED", "MAX_UNEXPLAINED", "GLOBAL_CHANGE_RATIO", "MIN_OWN_SHARE", "MAX_STRETCH",
    "same_structure", "tone_moved",
    "changed_globally", "Verdict", "verify", "relation_of",
]  # fmt: skip

# Bumped whenever what verification decides changes: verdicts stored by another version are not reused.
VERIFY_VERSION = 13
# An edit (a caption, a pasted patch, stickers) covers a part of the picture; past this share of the
# frame changed, the two are different shots of one scene rather than one picture.
MAX_EDITED = 0.35
# An edited copy's explained share less its changed share must reach this (measured on the kit's
# libraries: 5 of 63 true edited copies fell below, 17 of 37 chance pairs).
MIN_EDITED_EXPLAINED = 0.6
# The least explained share of a copy (compare's "different" starts at 0.4).
MIN_COPY_EXPLAINED = 0.5
# The least share of A a copy laid on it by its keypoints must cover (a crop to half the area and more).
MIN_COVER = 0.3
# Edge correlation an in-place copy keeps (see same_structure).
MIN_EDGE_CORRELATION = 0.65
# Unexplained structure beyond the marked changes that a copy can show (compression, resampling).
MAX_UNEXPLAINED = 0.11
# A marked change whose residual, once B is predicted from A by one blur and one colour mapping for the
# whole picture, stays under this many times the residual elsewhere is part of that global change, not an
# edit. Measured on the kit's small library (whole-frame copies compare marked as changed): blur, colour,
# JPEG and re-saved copies 1.2-11, captions and pasted patches 13-150; 8 leaves a margin on the edits' side.
GLOBAL_CHANGE_RATIO = 8.0
# Blurs of A tried as the global change (Gaussian sigma in thumbnail pixels; 0: none).
_BLURS = (0.0, 1.0, 2.0, 3.0, 4.5)
# The largest side the global change is judged at.
_GLOBAL_SIDE = 192
# PDQ distance (in the best dihedral form) under which a pair is first compared in place (see _in_place).
IN_PLACE_PDQ = 48
# Dihedral form of B's hash that matches A's -> (B mirrored, B's rotation from A in degrees, quarter turns
# that bring B back). The upside-down and transposed forms are left to the full comparison.
_FORMS = {0: (False, 0.0, 0), 1: (False, -90.0, 1), 2: (False, 180.0, 2), 3: (False, 90.0, 3), 5: (True, 0.0, 0)}
# Share of each picture beyond their overlap from which two pictures are two views, not a copy (see
# _two_views; a crop to half the area and more leaves the original 50%, but the crop 0%).
MIN_OWN_SHARE = 0.25
# A whole-frame copy's aspect ratio lies within this factor of its original's (a squeeze is 1.1-1.25).
MAX_STRETCH = 1.5
# A scale within this of 1 is the same size (rounding of the thumbnails).
_SAME_SIZE = 0.03


@dataclass
class Verdict:
    """How a file (B) relates to a kept file (A).

    Attributes:
        relation: ``exact``, ``same-pixels``, ``resized``, ``recompressed``, ``cropped``, ``bordered``,
            ``mirrored``, ``rotated``, ``recoloured``, ``edited``, ``similar``, or ``different``.
        transform: compare's transform in the two files' own pixels (``None`` for exact or different).
        score: compare's explained share (1 = identical).
        regions: Edited regions, ``[x, y, w, h]`` in B's own pixels.
        changed: Share of the picture compare marked as changed.
    """

    relation: str
    transform: dict[str, Any] | None = None
    score: float = 1.0
    regions: list[list[int]] = field(default_factory=list)
    changed: float = 0.0

    @property
    def copy(self) -> bool:
        """True when B is a copy of A (edited copies included, other shots of a scene not)."""
        return self.relation not in ("different", "similar")

    def to_dict(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "relation": self.relation, "transform": self.transform, "score": self.score, "regions": self.regions,
            "changed": self.changed,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        """From :meth:`to_dict`."""
        return cls(
            d["relation"], d.get("transform"), float(d.get("score", 1.0)), d.get("regions") or [],
            float(d.get("changed", 0.0)),
        )  # fmt: skip


def relation_of(transform: dict[str, Any] | None, changed: bool, same_size: bool) -> str:
    """The one word for a copy's relation, the most telling alteration first.

    Args:
        transform: compare's transform of B relative to A (in the files' own pixels).
        changed: compare found local changes (an edit).
        same_size: B has A's pixel size.

    Returns:
        One of the relations of :class:`Verdict` (not ``exact``/``same-pixels``/``different``).
    """
    if changed:
        return "edited"
    t = transform or {}
    crop = t.get("crop") or {}
    if t.get("mirrored"):
        return "mirrored"
    if abs(t.get("rotation", 0.0)) >= 0.5:
        return "rotated"
    if "b_in_a" in crop:
        return "cropped"
    if "a_in_b" in crop:
        return "bordered"
    if not same_size or abs(t.get("aspect", 1.0) - 1) > _SAME_SIZE:
        return "resized"
    if t.get("light") or t.get("colour") or t.get("grey"):
        return "recoloured"
    return "recompressed"


def _scaled(box: list[int], sx: float, sy: float) -> list[int]:
    return [round(box[0] * sx), round(box[1] * sy), max(1, round(box[2] * sx)), max(1, round(box[3] * sy))]


def _flat_outside(image: np.ndarray, box: list[int]) -> bool:
    """True when what lies outside ``box`` (thumbnail pixels) is a plain border (one flat colour)."""
    x, y, w, h = box
    mask = np.ones(image.shape[:2], bool)
    # The box and a seam of 2 px around it (resampling blends the picture's edge into the border).
    mask[max(0, y - 2) : y + h + 2, max(0, x - 2) : x + w + 2] = False
    ring = image[mask]
    if ring.shape[0] < 0.04 * mask.size:  # too thin to tell a border from a crop's rounding
        return False
    return bool(np.all(ring.reshape(-1, image.shape[2] if image.ndim == 3 else 1).std(axis=0) < 6.0))


def _hash_distance(a: Fingerprint, b: Fingerprint) -> int:
    """The PDQ distance of A's upright hash to the nearest of B's 8 dihedral forms."""
    from .pdq import hamming

    return int(np.min(hamming(a.pdq[0], b.pdq)))


def _two_views(ia: np.ndarray, ib: np.ndarray, box_a: list[int], box_b: list[int]) -> bool:
    """Whether two pictures that overlap only in part each show much that the other does not.

    A copy keeps the whole of one picture inside the other (a crop, a border); where compare finds the
    overlap to be a part of each (``b_in_a`` and ``a_in_b``), and each picture shows a quarter or more
    beyond it (:data:`MIN_OWN_SHARE`) that is not a plain border, the two are views that share a part:
    side-by-side figures with one panel in common, a pan, a stereo pair.

    Args:
        ia: A's thumbnail; ib: B's.
        box_a: Where the overlap lies in A (thumbnail pixels); box_b: where it lies in B.
    """
    own_a = 1.0 - box_a[2] * box_a[3] / (ia.shape[0] * ia.shape[1])
    own_b = 1.0 - box_b[2] * box_b[3] / (ib.shape[0] * ib.shape[1])
    if min(own_a, own_b) < MIN_OWN_SHARE:
        return False
    return not _flat_outside(ia, box_a) and not _flat_outside(ib, box_b)


def _in_place_transform(t: dict[str, Any]) -> bool:
    """True when the transform moves nothing (no mirror, turn, scale, squeeze or crop)."""
    return (
        not t.get("mirrored") and abs(t.get("rotation", 0.0)) < 0.5 and abs(t.get("scale", 1.0) - 1) < _SAME_SIZE
        and abs(t.get("aspect", 1.0) - 1) < _SAME_SIZE and not t.get("crop")
    )  # fmt: skip


def _same_pixels(a: Fingerprint, b: Fingerprint) -> bool:
    """True when two files decode to the same pixels (a lossless re-save in another format).

    Only pairs that look alike in place get here, and only they are decoded in full; not even they when
    both were read for fingerprinting the same way (both JPEG, or neither: the working pictures then
    come from the pixels by the same steps) and their working pictures differ.
    """
    if a.pixels != b.pixels and (a.format == "jpeg") == (b.format == "jpeg"):
        return False
    try:
        pa, pb = read_image(a.path), read_image(b.path)
    except FramediffError:
        return False
    if pa.dtype != pb.dtype:
        return False
    # The same picture with and without an (opaque) alpha channel, or grey stored as colour.
    if pa.ndim == 3 and pa.shape[2] == 4 and bool((pa[..., 3] == pa.max()).all()):
        pa = pa[..., :3]
    if pb.ndim == 3 and pb.shape[2] == 4 and bool((pb[..., 3] == pb.max()).all()):
        pb = pb[..., :3]
    if pa.shape != pb.shape:
        ga = pa if pa.ndim == 2 else pa[..., 0]
        if pa.ndim == 2 and pb.ndim == 3 and (pb[..., 0] == pb[..., 1]).all() and (pb[..., 1] == pb[..., 2]).all():
            return bool(np.array_equal(ga, pb[..., 0]))
        if pb.ndim == 2 and pa.ndim == 3 and (pa[..., 0] == pa[..., 1]).all() and (pa[..., 1] == pa[..., 2]).all():
            return bool(np.array_equal(pa[..., 0], pb))
        return False
    return bool(np.array_equal(pa, pb))


def _compare_framed(ia: np.ndarray, ib: np.ndarray) -> tuple[Any, float, list, float, dict[str, Any]] | None:
    """Compare the picture a plain frame holds when exactly one of the two has a frame.

    Feature-poor pictures (a blurred landscape, a sky) give compare too little to align a framed copy
    on; the frame itself is easy to see, and what it holds is compared as it is.

    Returns:
        ``(comparison, changed share, B's changed boxes, explained share, transform)``, or ``None`` when
        neither or both are framed, or what the frame holds is not the other picture.
    """
    fa, fb = frame_box(ia), frame_box(ib)
    if (fa is None) == (fb is None):
        return None
    box = fa or fb
    x, y, w, h = box  # type: ignore[misc]
    sa = ia[y : y + h, x : x + w] if fa else ia
    sb = ib[y : y + h, x : x + w] if fb else ib
    c = compare(sa, sb)
    if c.relation == "different":
        return None
    t = dict(c.transform() or {})
    crop = dict(t.get("crop") or {})
    if fa:
        crop["b_in_a"] = [x, y, w, h]
        t["framed"] = True
    else:
        crop["a_in_b"] = [x, y, w, h]
    t["crop"] = crop
    share, found = _without_seams(c, sb)
    if not found:
        return c, 0.0, [], float(c.explained), t
    ox, oy = (x, y) if fb else (0, 0)
    share *= sb.shape[0] * sb.shape[1] / (ib.shape[0] * ib.shape[1])
    boxes = [(bx + ox, by + oy, bw, bh) for bx, by, bw, bh in found]
    return c, float(share), boxes, float(c.explained), t


def _without_seams(c: Any, image_b: np.ndarray) -> tuple[float, list[tuple[int, int, int, int]]]:
    """compare's changed share and boxes in B, without the seams along the edge of what was compared.

    A picture cut out of another (a crop, a frame's content) keeps a line or two of blended pixels at
    its edge; compare marks them as thin strips along the border. No edit is a strip 6 px thin lying
    on the picture's edge.
    """
    if c.relation != "changed":
        return 0.0, []
    h, w = image_b.shape[:2]
    kept, dropped = [], 0
    for bx, by, bw, bh in c.regions_in_b():
        on_edge = bx <= 3 or by <= 3 or bx + bw >= w - 3 or by + bh >= h - 3
        if on_edge and min(bw, bh) <= 6:
            dropped += bw * bh
        else:
            kept.append((bx, by, bw, bh))
    if not kept:
        return 0.0, []
    return max(0.0, float(c.changed_fraction) - dropped / (w * h)), kept


def _changes_inside(
    c: object, ia: np.ndarray, ib: np.ndarray
) -> tuple[float, list[tuple[int, int, int, int]], float]:
    """The changed share, B's changed boxes and the explained share, with a crop or border taken into account.

    Where one picture lies inside the other, compare sees the seam (the frame's edge blended with the
    border by the thumbnail's resampling) as a thin change around the picture: the part of the larger
    picture the smaller one covers is compared again on its own, which leaves only real edits (and the
    structure of the common part alone to explain).
    """
    explained = float(c.explained)  # type: ignore[attr-defined]
    if c.relation != "changed":  # type: ignore[attr-defined]
        return 0.0, [], explained
    t = c.transform() or {}  # type: ignore[attr-defined]
    crop = t.get("crop") or {}
    box_a, box_b = crop.get("b_in_a"), crop.get("a_in_b")
    if not (box_a or box_b) or t.get("mirrored") or abs(t.get("rotation", 0.0)) >= 0.5:
        return float(c.changed_fraction), list(c.regions_in_b()), explained  # type: ignore[attr-defined]
    sa, ox, oy = ia, 0, 0
    sb = ib
    if box_a:
        x, y, w, h = box_a
        sa = ia[y + 3 : y + h - 3, x + 3 : x + w - 3]
    if box_b:
        x, y, w, h = box_b
        sb, ox, oy = ib[y + 3 : y + h - 3, x + 3 : x + w - 3], x + 3, y + 3
    if min(sa.shape[:2]) < 16 or min(sb.shape[:2]) < 16:
        return float(c.changed_fraction), list(c.regions_in_b()), explained  # type: ignore[attr-defined]
    again = compare(sa, sb)
    if again.relation == "different":
        return float(c.changed_fraction), list(c.regions_in_b()), explained  # type: ignore[attr-defined]
    share, found = _without_seams(again, sb)
    if not found:
        return 0.0, [], float(again.explained)
    share *= sb.shape[0] * sb.shape[1] / (ib.shape[0] * ib.shape[1])
    boxes = [(x + ox, y + oy, w, h) for x, y, w, h in found]
    return float(share), boxes, float(again.explained)


def same_structure(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether B, lying on A, has A's edges: the gradient magnitudes of both, blurred (sigma 3 px),
    correlate by at least :data:`MIN_EDGE_CORRELATION`.

    Light, colour, grey, blur, noise and JPEG keep the edges where they are (0.8-1.0 on the kit's
    copies); other content over the same layout does not (~0.5). A nearly flat picture (mean gradient
    under 1.5 levels a pixel) has no edges to judge by and passes.

    Args:
        a: A, BGR uint8.
        b: B, BGR uint8, the same size, in place on A.

    Returns:
        True when the structure agrees (or there is none).
    """
    def edges(x: np.ndarray) -> np.ndarray:
        g = cv2.GaussianBlur(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY).astype(np.float32), (0, 0), 3.0)
        return cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)).ravel()

    ea, eb = edges(a), edges(b)
    if float(ea.mean()) < 1.5 or float(ea.std()) < 1e-3 or float(eb.std()) < 1e-3:
        return True
    return float(np.corrcoef(ea, eb)[0, 1]) >= MIN_EDGE_CORRELATION


def tone_moved(a: np.ndarray, b: np.ndarray) -> tuple[bool, bool]:
    """Whether the light (brightness, contrast) or the colours of B differ from A's, B lying on A.

    Judged on both pictures blurred (sigma 3 px) so that what blur, noise and JPEG do to fine detail
    does not count: those keep the mean level within ~3 of 255, the contrast within ~8% and the colour
    offsets within ~2 levels, where a recolouring moves one of them clearly (measured on the kit's
    copies: blur, noise, jpeg, resize versus colour).

    Args:
        a: A, BGR uint8.
        b: B, BGR uint8, the same size, in place on A.

    Returns:
        ``(light, colour)``.
    """
    la = cv2.GaussianBlur(a.astype(np.float32), (0, 0), 3)
    lb = cv2.GaussianBlur(b.astype(np.float32), (0, 0), 3)
    ga, gb = la.mean(axis=2), lb.mean(axis=2)
    contrast = float(gb.std()) / max(float(ga.std()), 1e-3)
    light = abs(float(gb.mean() - ga.mean())) > 3.5 or not 0.9 <= contrast <= 1.1
    ca, cb = la - ga[..., None], lb - gb[..., None]
    sat_a, sat_b = float(np.abs(ca).mean()), float(np.abs(cb).mean())
    colour = float(np.abs(ca - cb).mean()) > 2.0 or (sat_a >= 3.0 and not 0.8 <= sat_b / sat_a <= 1.25)
    return light, colour


def _colour_terms(image: np.ndarray) -> np.ndarray:
    """Per pixel, the terms of a cubic colour mapping (1, each channel, their squares, products, cubes)."""
    x = image.reshape(-1, 3).astype(np.float32) / 255.0
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    return np.stack([np.ones_like(r), r, g, b, r * r, g * g, b * b, r * g, r * b, g * b, r * g * b, r**3, g**3, b**3], 1)


def changed_globally(a: np.ndarray, b: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> bool:
    """Whether the changes compare marked on B (lying on A) belong to a change of the whole picture.

    compare undoes light and colour with a tone table per channel; a saturation change mixes the
    channels, and a blur or heavy JPEG takes detail away: both leave marks where the picture is most
    colourful or sharpest, though nothing was edited there. Here B is predicted from A by one blur (the
    best of a few) and one smooth colour mapping, both fitted on the picture outside the marks; a mark
    that the same prediction explains about as well as the rest (its residual under
    :data:`GLOBAL_CHANGE_RATIO` times the rest's) is part of the global change. A caption or a pasted
    patch shows content no mapping of A's colours makes.

    Args:
        a: A, BGR uint8.
        b: B, BGR uint8, A's size, in place on A.
        boxes: The marks, ``(x, y, w, h)`` in A's pixels.

    Returns:
        True when every mark is explained by the global change (False when there are none).
    """
    # At most _GLOBAL_SIDE px: the marks are tens of thumbnail pixels wide, and the fit is then ~10 ms.
    k = min(1.0, _GLOBAL_SIDE / max(a.shape[:2]))
    if k < 1.0:
        size = (max(8, round(a.shape[1] * k)), max(8, round(a.shape[0] * k)))
        a, b = cv2.resize(a, size, interpolation=cv2.INTER_AREA), cv2.resize(b, size, interpolation=cv2.INTER_AREA)
    h, w = a.shape[:2]
    boxes = [
        (int(x * k), int(y * k), max(1, int(np.ceil((x + bw) * k)) - int(x * k)), max(1, int(np.ceil((y + bh) * k)) - int(y * k)))
        for x, y, bw, bh in boxes
    ]  # fmt: skip
    marked = np.zeros((h, w), np.uint8)
    for x, y, bw, bh in boxes:
        marked[max(0, y) : y + bh, max(0, x) : x + bw] = 1
    rest = cv2.dilate(marked, np.ones((3, 3), np.uint8)).ravel() == 0
    if not boxes or rest.sum() < 0.3 * rest.size:
        return False
    target = b.reshape(-1, 3).astype(np.float32)
    best: tuple[float, np.ndarray] | None = None
    for sigma in _BLURS:
        source = cv2.GaussianBlur(a, (0, 0), sigma * k) if sigma else a
        terms = _colour_terms(source)
        fit = terms[rest]
        # The normal equations (14 x 14), lightly regularised: a flat picture leaves some terms unused.
        # einsum rather than BLAS: BLAS's own threads, in each verifying thread, crawl on a busy machine.
        gram = np.einsum("ij,ik->jk", fit, fit) + 1e-3 * np.eye(fit.shape[1], dtype=np.float32)
        coef = np.linalg.solve(gram, np.einsum("ij,ik->jk", fit, target[rest]))
        pred = np.einsum("ij,jk->ik", terms, coef.astype(np.float32))
        # What a smooth mapping misses (clipped highlights, hue turns) is a function of A's colour too:
        # the rest's mean residual in each cell of A's colours (16 levels a channel) is added back.
        q = (source.reshape(-1, 3) // 16).astype(np.int64)
        cell = (q[:, 0] * 16 + q[:, 1]) * 16 + q[:, 2]
        count = np.bincount(cell[rest], minlength=4096).astype(np.float32)
        for ch in range(3):
            miss = np.bincount(cell[rest], weights=(target[rest, ch] - pred[rest, ch]), minlength=4096)
            pred[:, ch] += (miss / np.maximum(count, 1.0)).astype(np.float32)[cell]
        # Smoothed a little: noise and JPEG's blocks are no residual of the mapping.
        res = cv2.GaussianBlur(np.abs(pred - target).mean(axis=1).reshape(h, w), (0, 0), 1.5 * k)
        floor = float(res.ravel()[rest].mean())
        if best is None or floor < best[0]:
            best = (floor, res)
    assert best is not None
    floor, res = best
    worst = max(float(res[max(0, y) : y + bh, max(0, x) : x + bw].mean()) for x, y, bw, bh in boxes)
    return worst <= GLOBAL_CHANGE_RATIO * max(floor, 1.0)


def _in_place(a: Fingerprint, b: Fingerprint, ia: np.ndarray, ib: np.ndarray) -> Verdict | None:
    """The verdict of a copy that keeps the whole frame, found without registering the two pictures.

    Most copies (re-saved, resized, re-encoded, recoloured, grey, blurred, mirrored, turned by quarter
    turns) keep the whole picture: their PDQ hashes lie close in one of the 8 dihedral forms. B is put
    in that form, resized onto A and compared pixel to pixel (a third of compare's time: alignment is
    most of it). Only ``identical`` or ``same`` is taken; anything else goes to the full comparison.
    """
    from .pdq import hamming

    d = np.asarray(hamming(a.pdq[0], b.pdq))
    k = int(np.argmin(d))
    if d[k] > IN_PLACE_PDQ or k not in _FORMS:
        return None
    mirrored, rotation, turns = _FORMS[k]
    jb = np.ascontiguousarray(np.rot90(ib[:, ::-1] if mirrored else ib, turns))
    wb, hb = (b.height, b.width) if turns % 2 else (b.width, b.height)
    aspect = (wb / a.width) / (hb / a.height)
    if abs(aspect - 1) > 0.35:
        return None
    jb = cv2.resize(jb, (ia.shape[1], ia.shape[0]), interpolation=cv2.INTER_AREA)
    c = compare(ia, jb, align="off")
    if c.relation not in ("identical", "same") or float(c.explained) < MIN_COPY_EXPLAINED:
        return None
    if not same_structure(ia, jb):
        # compare's tone tables can map one smooth picture onto another (two login screens of one layout
        # over other backgrounds); their edges say they are not one picture.
        return Verdict("similar", None, round(float(c.explained), 4))
    grey = bool((c.transform() or {}).get("grey"))
    light, colour = (False, False) if grey else tone_moved(ia, jb)
    t = {
        "mirrored": mirrored, "rotation": rotation, "scale": round(float(np.sqrt(wb * hb / (a.width * a.height))), 4),
        "aspect": round(float(aspect), 4), "crop": None, "light": light, "colour": colour, "grey": grey,
    }  # fmt: skip
    same_size = (a.width, a.height) == (b.width, b.height)
    if same_size and _in_place_transform(t) and _same_pixels(a, b):
        return Verdict("same-pixels", None, 1.0)
    return Verdict(relation_of(t, False, same_size), t, round(float(c.explained), 4))


def _feature_scale(fp: Fingerprint, thumb: np.ndarray) -> float:
    """Thumbnail pixels per feature pixel (features are found at FEATURE_SIDE px of the working picture)."""
    work = min(WORK_SIDE, max(fp.width, fp.height))
    return max(thumb.shape[:2]) / min(FEATURE_SIDE, work)


def _compare_by_features(a: Fingerprint, b: Fingerprint, ia: np.ndarray, ib: np.ndarray) -> Verdict | None:
    """B laid on A by the map of their matched keypoints, then compared pixel to pixel where it lies.

    Returns:
        The verdict of a turned or cropped copy, or ``None`` when there is no map, B covers too little of
        A, or the pixels do not agree.
    """
    support, m, mirrored = geometric_fit(a.features, a.points, b.features, b.points, b.mirrored, b.mirrored_points)
    back, mb, mirrored_b = geometric_fit(b.features, b.points, a.features, a.points, a.mirrored, a.mirrored_points)
    if mb is not None and not mirrored_b and (back > support or mirrored or m is None):
        # B's keypoints found A better than A's found B: the map the other way round, inverted.
        support, m, mirrored = back, cv2.invertAffineTransform(mb), False
    if m is None or mirrored or support < MIN_SUPPORT:
        return None
    sa, sb = _feature_scale(a, ia), _feature_scale(b, ib)
    # A's thumbnail -> B's thumbnail: scale into A's feature pixels, map, scale into B's thumbnail.
    full = np.diag([sb, sb, 1.0]) @ np.vstack([m, [0, 0, 1]]) @ np.diag([1 / sa, 1 / sa, 1.0])
    h, w = ia.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    laid = cv2.warpAffine(ib, full[:2], (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(np.full(ib.shape[:2], 255, np.uint8), full[:2], (w, h), flags=flags | cv2.INTER_NEAREST)
    inside = cv2.erode(inside, np.ones((7, 7), np.uint8))
    if np.count_nonzero(inside) < MIN_COVER * inside.size:
        return None
    c = compare(ia, laid, ignore=255 - inside, align="off")
    if c.relation not in ("identical", "same") or float(c.explained) < MIN_COPY_EXPLAINED:
        return None
    lin = full[:2, :2]
    rotation = float(np.degrees(np.arctan2(lin[1, 0], lin[0, 0])))
    scale = float(np.sqrt(abs(np.linalg.det(lin)))) * (b.width / ib.shape[1]) / (a.width / ia.shape[1])
    ys, xs = np.nonzero(inside)
    ka = a.width / ia.shape[1]
    box = [int(xs.min() * ka), int(ys.min() * ka), int((xs.max() - xs.min() + 1) * ka), int((ys.max() - ys.min() + 1) * ka)]
    tone = c.transform() or {}
    t = {
        "mirrored": False, "rotation": round(-rotation, 2), "scale": round(scale, 4), "aspect": 1.0,
        "crop": {"b_in_a": box}, "light": bool(tone.get("light")), "colour": bool(tone.get("colour")),
        "grey": bool(tone.get("grey")),
    }  # fmt: skip
    return Verdict(relation_of(t, False, False), t, round(float(c.explained), 4))


def verify(a: Fingerprint, b: Fingerprint, image_a: np.ndarray | None = None, image_b: np.ndarray | None = None) -> Verdict:
    """Verify that B is a copy of A, and say how.

    Args:
        a: The kept file's fingerprint.
        b: The other file's fingerprint.
        image_a: A's thumbnail when already decoded (else decoded from ``a.thumb``).
        image_b: B's thumbnail, likewise.

    Returns:
        The :class:`Verdict` (``relation`` ``different`` when B is no copy of A).
    """
    if a.digest == b.digest:
        return Verdict("exact")
    ia = read_thumb(a.thumb) if image_a is None else image_a
    ib = read_thumb(b.thumb) if image_b is None else image_b
    quick = _in_place(a, b, ia, ib)
    if quick is not None:
        return quick
    framed = _compare_framed(ia, ib)
    if framed is not None:
        c, changed_share, boxes, explained, t = framed
    else:
        c = compare(ia, ib)
        if c.relation == "different":
            # compare's registration finds no fit on some turned and cropped copies; the keypoints the
            # candidates matched may: B laid on A by their map is compared pixel to pixel.
            turned = _compare_by_features(a, b, ia, ib)
            return turned if turned is not None else Verdict("different", score=round(float(c.explained), 4))
        changed_share, boxes, explained = _changes_inside(c, ia, ib)
        t = c.transform() or {}
    crop_thumb = t.get("crop") or {}
    two_sided = "b_in_a" in crop_thumb and "a_in_b" in crop_thumb and not t.get("framed")
    if two_sided and _two_views(ia, ib, crop_thumb["b_in_a"], crop_thumb["a_in_b"]):
        return Verdict("similar", None, round(explained, 4))
    if not crop_thumb and abs(t.get("rotation", 0.0)) >= 45 and _hash_distance(a, b) > PDQ_RADIUS:
        # A whole picture turned by quarter turns keeps its hash in one of the 8 dihedral forms (copies
        # lie under ~60 bits, unrelated pictures ~128): compare's fit of a turned texture or a smooth
        # picture onto another, far in every form, is no copy.
        return Verdict("different", score=round(explained, 4))
    if not crop_thumb and not t.get("mirrored") and abs(t.get("rotation", 0.0)) < 0.5:
        stretch = (ia.shape[1] / ia.shape[0]) / (ib.shape[1] / ib.shape[0])
        if not 1 / MAX_STRETCH <= stretch <= MAX_STRETCH:
            # compare laid B over the whole of A, stretched past any squeeze: the match is of smooth
            # shapes drawn out of place (two plain wallpapers, one of them upright), not of one picture.
            return Verdict("different", score=round(explained, 4))
    # Thumbnail pixels -> each file's own pixels.
    ka = (a.width / ia.shape[1], a.height / ia.shape[0])
    kb = (b.width / ib.shape[1], b.height / ib.shape[0])
    if t:
        t = dict(t)
        t["scale"] = round(float(t.get("scale", 1.0)) * np.sqrt(kb[0] * kb[1]) / np.sqrt(ka[0] * ka[1]), 4)
        crop = dict(t.get("crop") or {})
        if "b_in_a" in crop and (t.get("framed") or _flat_outside(ia, crop["b_in_a"])):
            t["framed"] = True  # A is B inside a border: B is the picture, A the framed copy
        if "b_in_a" in crop:
            crop["b_in_a"] = _scaled(crop["b_in_a"], *ka)
        if "a_in_b" in crop:
            crop["a_in_b"] = _scaled(crop["a_in_b"], *kb)
        t["crop"] = crop or None
    whole_frame = not t.get("crop") and not t.get("mirrored") and abs(t.get("rotation", 0.0)) < 0.5
    if boxes and whole_frame and explained >= MIN_COPY_EXPLAINED:
        # A whole-frame copy marked as changed: a blur or a recolouring leaves marks that no edit made.
        jb = cv2.resize(ib, (ia.shape[1], ia.shape[0]), interpolation=cv2.INTER_AREA)
        fx, fy = ia.shape[1] / ib.shape[1], ia.shape[0] / ib.shape[0]
        in_a = [(round(x * fx), round(y * fy), max(1, round(bw * fx)), max(1, round(bh * fy))) for x, y, bw, bh in boxes]
        if changed_globally(ia, jb, in_a):
            boxes, changed_share = [], 0.0
            if not t.get("grey"):
                t["light"], t["colour"] = tone_moved(ia, jb)
    changed = bool(boxes)
    # Another shot of a scene from beside the first (a stereo pair, a step to the side) overlaps it only
    # in part - each shows what the other does not - and differs a little everywhere (parallax), which
    # compare explains only in part: structure that neither the transform nor the marked changes explain.
    # A copy keeps the whole of one picture inside the other, and its unmarked rest matches (a caption or
    # a blur lowers the explained share too, so the test is kept to two-sided overlaps).
    unexplained = (1.0 - explained) - changed_share
    two_views = bool(t.get("crop")) and {"a_in_b", "b_in_a"} <= set(t["crop"])
    # And an edit that changes a part leaves the rest explained: a weak explanation beside a wide change
    # is another picture that shares a layout (a burst, a series), not an edited copy.
    weak = explained - changed_share < MIN_EDITED_EXPLAINED
    if changed and (changed_share > MAX_EDITED or weak or (two_views and unexplained > MAX_UNEXPLAINED)):
        return Verdict("similar", t, round(explained, 4), changed=round(changed_share, 4))
    if explained < MIN_COPY_EXPLAINED:
        # compare's own floor lets pictures through that share under half their structure; a copy,
        # whatever was done to it, keeps more (1 in 250 of the kit's true copies scored under 0.5).
        return Verdict("different", score=round(explained, 4))
    whole = not t.get("crop") and not t.get("mirrored") and abs(t.get("rotation", 0.0)) < 0.5
    if not changed and whole:
        # Squeezed copies too, stretched back onto A (a marked change cleared as a global one included).
        jb = cv2.resize(ib, (ia.shape[1], ia.shape[0]), interpolation=cv2.INTER_AREA)
        if not same_structure(ia, jb):  # as in _in_place: other content over one layout
            return Verdict("similar", None, round(explained, 4))
    regions = [_scaled(list(box), *kb) for box in boxes]
    same_size = (a.width, a.height) == (b.width, b.height)
    if not changed and same_size and _in_place_transform(t) and _same_pixels(a, b):
        return Verdict("same-pixels", None, 1.0)
    return Verdict(
        relation_of(t, changed, same_size), t, round(explained, 4), regions,
        round(changed_share, 4),
    )  # fmt: skip
