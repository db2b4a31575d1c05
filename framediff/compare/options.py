"""The settings of :func:`~framediff.compare.compare`: :class:`CompareOptions`, validated once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import OptionError
from ..options import choice, number

__all__ = ["CompareOptions", "merged_options"]


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


def merged_options(options: CompareOptions | None, kwargs: dict[str, Any]) -> CompareOptions:
    """``options`` with ``kwargs`` laid over it (validated again), or the options ``kwargs`` give."""
    return options.__class__(**{**options.__dict__, **kwargs}) if options else CompareOptions(**kwargs)
