"""Verification: compare's verdict on a candidate pair, turned into a member's relation to its kept file.

Nothing is grouped on a hash alone: every pair is compared (on the thumbnails the index keeps), and only
pictures that compare calls the same picture (``identical``, ``same``, or ``changed`` in a small part of
the frame) are copies. A pair that compare calls ``changed`` over much of the frame is another shot of
the same scene (``similar``, grouped only when asked), and ``different`` is no pair at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..compare import compare
from ..errors import FramediffError
from ..media.images import read_image
from .fingerprint import Fingerprint, read_thumb

__all__ = ["VERIFY_VERSION", "MAX_EDITED", "Verdict", "verify", "relation_of"]

# Bumped whenever what verification decides changes: verdicts stored by another version are not reused.
VERIFY_VERSION = 3
# An edit (a caption, a pasted patch, stickers) covers a part of the picture; past this share of the
# frame changed, the two are different shots of one scene rather than one picture.
MAX_EDITED = 0.35
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
    mask[max(0, y + 2) : y + h - 2, max(0, x + 2) : x + w - 2] = False
    ring = image[mask]
    if ring.shape[0] < 0.04 * mask.size:  # too thin to tell a border from a crop's rounding
        return False
    return bool(np.all(ring.reshape(-1, image.shape[2] if image.ndim == 3 else 1).std(axis=0) < 6.0))


def _in_place(t: dict[str, Any]) -> bool:
    """True when the transform moves nothing (no mirror, turn, scale, squeeze or crop)."""
    return (
        not t.get("mirrored") and abs(t.get("rotation", 0.0)) < 0.5 and abs(t.get("scale", 1.0) - 1) < _SAME_SIZE
        and abs(t.get("aspect", 1.0) - 1) < _SAME_SIZE and not t.get("crop")
    )  # fmt: skip


def _same_pixels(a: str, b: str) -> bool:
    """True when two files decode to the same pixels (a lossless re-save in another format).

    Only pairs that look alike in place get here, and only they are decoded in full.
    """
    try:
        pa, pb = read_image(a), read_image(b)
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
    c = compare(ia, ib)
    if c.relation == "different":
        return Verdict("different", score=round(float(c.explained), 4))
    # Thumbnail pixels -> each file's own pixels.
    ka = (a.width / ia.shape[1], a.height / ia.shape[0])
    kb = (b.width / ib.shape[1], b.height / ib.shape[0])
    t = c.transform() or {}
    if t:
        t = dict(t)
        t["scale"] = round(float(t.get("scale", 1.0)) * np.sqrt(kb[0] * kb[1]) / np.sqrt(ka[0] * ka[1]), 4)
        crop = dict(t.get("crop") or {})
        if "b_in_a" in crop and _flat_outside(ia, crop["b_in_a"]):
            t["framed"] = True  # A is B inside a border: B is the picture, A the framed copy
        if "b_in_a" in crop:
            crop["b_in_a"] = _scaled(crop["b_in_a"], *ka)
        if "a_in_b" in crop:
            crop["a_in_b"] = _scaled(crop["a_in_b"], *kb)
        t["crop"] = crop or None
    changed = c.relation == "changed"
    if changed and c.changed_fraction > MAX_EDITED:
        return Verdict("similar", t, round(float(c.explained), 4), changed=round(float(c.changed_fraction), 4))
    regions = [_scaled(list(box), *kb) for box in c.regions_in_b()] if changed else []
    same_size = (a.width, a.height) == (b.width, b.height)
    if not changed and same_size and _in_place(t) and _same_pixels(a.path, b.path):
        return Verdict("same-pixels", None, 1.0)
    return Verdict(
        relation_of(t, changed, same_size), t, round(float(c.explained), 4), regions,
        round(float(c.changed_fraction), 4),
    )  # fmt: skip
