"""Validation shared by every job's settings (:func:`number`, :func:`choice`), and the deprecated
:class:`AnalysisOptions`.

Options may be given as Python values or as strings (as the CLI receives them): ``threshold="30"`` works
like ``threshold=30``. Every bad value raises :class:`~framediff.errors.OptionError` naming the option,
the value and the accepted range.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .errors import OptionError

__all__ = ["AnalysisOptions", "number", "choice"]


def number(
    name: str,
    value: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    integer: bool = False,
    allow_none: bool = False,
) -> float | int | None:
    """Validate and coerce a numeric option.

    Args:
        name: Option name, for the error message.
        value: The value (number or string); ``None``/``"auto"`` allowed when ``allow_none``.
        lo: Smallest accepted value (inclusive).
        hi: Largest accepted value (inclusive).
        integer: Require a whole number.
        allow_none: Accept ``None`` or ``"auto"`` meaning "decide automatically".

    Returns:
        The coerced value.

    Raises:
        OptionError: when the value is not a number or is out of range.
    """
    if allow_none and (value is None or (isinstance(value, str) and value.strip().lower() in ("auto", ""))):
        return None
    if isinstance(value, bool):
        raise OptionError(f"{name} must be a number, got {value!r}", setting=name)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a number, got {value!r}", _range_hint(lo, hi), name) from None
    if math.isnan(v) or math.isinf(v):
        raise OptionError(f"{name} must be a finite number, got {value!r}", _range_hint(lo, hi), name)
    if integer:
        if v != int(v):
            raise OptionError(f"{name} must be a whole number, got {value!r}", _range_hint(lo, hi), name)
        v = int(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise OptionError(f"{name} {value!r} is out of range", _range_hint(lo, hi), name)
    return v


def _range_hint(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"use a value from {lo:g} to {hi:g}"
    if lo is not None:
        return f"use a value of at least {lo:g}"
    if hi is not None:
        return f"use a value of at most {hi:g}"
    return "use a number"


def choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Validate an option that takes one of a few words.

    Args:
        name: Option name, for the error message.
        value: The given value.
        choices: Accepted values.

    Returns:
        The value, lower-cased.

    Raises:
        OptionError: when the value is not one of ``choices``.
    """
    v = str(value).strip().lower()
    if v not in choices:
        raise OptionError(f"{name} must be one of {', '.join(choices)}; got {value!r}", setting=name)
    return v


@dataclass(frozen=True)
class AnalysisOptions:
    """Analysis settings as one object: used by no job, kept importable for one release.

    Deprecated: each job validates its own settings (:class:`~framediff.compare.CompareOptions`,
    :class:`~framediff.watch.WatchOptions`, :class:`~framediff.dedup.Deduplicator`'s arguments), with
    this module's :func:`number` and :func:`choice`; these fields and defaults are none of theirs.

    Attributes:
        threshold: Difference (0-255 grey levels) above which a pixel counts as changed; ``None`` derives
            it from the pair's own noise floor.
        min_area: Smallest changed region kept, in source pixels.
        blur: Gaussian blur sigma in analysis pixels, applied before differencing (0 = none).
        method: ``absdiff`` (per-pixel difference) or ``ssim`` (structural dissimilarity, 1 - SSIM).
        analysis_size: Longest side of the analysis image in pixels (0 = full resolution).
        merge_gap: Regions closer than this many source pixels are reported as one.
    """

    threshold: float | None = None
    min_area: int = 64
    blur: float = 1.0
    method: str = "absdiff"
    analysis_size: int = 1024
    merge_gap: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: coerce in place once, at construction
        set_(self, "threshold", number("threshold", self.threshold, lo=0, hi=255, allow_none=True))
        set_(self, "min_area", number("min_area", self.min_area, lo=0, hi=1e9, integer=True))
        set_(self, "blur", number("blur", self.blur, lo=0, hi=50))
        set_(self, "method", choice("method", self.method, ("absdiff", "ssim")))
        set_(self, "analysis_size", number("analysis_size", self.analysis_size, lo=0, hi=16384, integer=True))
        if 0 < self.analysis_size < 32:
            raise OptionError(
                f"analysis_size {self.analysis_size} is too small", "use 0 (full size) or at least 32"
            )
        set_(self, "merge_gap", number("merge_gap", self.merge_gap, lo=0, hi=10000, integer=True))

    def replace(self, **changes: Any) -> AnalysisOptions:
        """Return a copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
