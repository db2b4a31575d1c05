"""The answer of a comparison: :class:`Comparison` (verdict, regions, scores, the working images)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..analysis.align import Alignment
from ..analysis.regions import Region
from ..analysis.transform import describe_transform, transform_words

__all__ = ["Comparison", "RELATIONS"]

RELATIONS = ("identical", "same", "changed", "different")


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
