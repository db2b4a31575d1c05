"""What the watch detector is told: :class:`WatchOptions`, and the analysis image every frame is shrunk to
(:func:`shrink_frame`, the only full-size pass over a frame, which a reading thread may do ahead)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..analysis.prepare import analysis_scale, resize_to
from ..media.frames import TV_TO_PC_F32
from ..options import choice, number

__all__ = ["REFERENCE_MODES", "WatchOptions", "analysis_geometry", "analysis_side", "shrink_frame"]

REFERENCE_MODES = ("previous", "background")


def analysis_side(width: int, height: int, wanted: int | None) -> int:
    """The analysis image's longest side for a frame size: ``wanted``, or the automatic choice.

    Args:
        width: Frame width.
        height: Frame height.
        wanted: The option's value (``None`` = automatic).

    Returns:
        480 px for frames up to 1280 px (finer boxes on small objects), 384 px for larger frames (1080p
        shrinks by exactly 5, the fast path of area resizing, and stays well above real time).
    """
    if wanted:
        return int(wanted)
    return 480 if max(width, height) <= 1280 else 384


def analysis_geometry(width: int, height: int, wanted: int | None) -> tuple[float, tuple[int, int]]:
    """The shrink factor and the analysis image's ``(width, height)`` for a frame size.

    Args:
        width: Frame width.
        height: Frame height.
        wanted: The ``analysis_size`` option (``None`` = automatic, see :func:`analysis_side`).

    Returns:
        ``(scale, (width, height))`` of the analysis image.
    """
    scale = analysis_scale(width, height, analysis_side(width, height, wanted))
    return scale, (max(1, round(width * scale)), max(1, round(height * scale)))


def shrink_frame(image: np.ndarray, options: WatchOptions, limited: bool = False) -> np.ndarray:
    """A grey frame at analysis size, as :meth:`ChangeDetector.push` analyses it: shrunk, float32, blurred.

    It depends only on the frame and the options, so a reading thread can do it ahead of the detector
    (and pass the result to ``push(..., small=...)``); this is the only full-size pass over the frame.

    Args:
        image: The frame, H x W grey (uint8 for the fast paths).
        options: The detector's options (analysis size and blur).
        limited: ``image`` is limited-range luma (16..235), stretched to 0..255 after shrinking.

    Returns:
        The analysis image, float32, levels 0..255.
    """
    h, w = image.shape[:2]
    scale, (aw, ah) = analysis_geometry(w, h, options.analysis_size)
    if (aw, ah) == (w, h):
        small = image
    elif w % aw == 0 and h % ah == 0 and w // aw == h // ah >= 4:
        # A large whole factor (1080p -> 384 x 216 is 5, 4K is 10). Exact halvings (INTER_LINEAR at
        # exactly 1/2 is the mean of each 2 x 2 block, and OpenCV vectorises it) while the factor left is 2
        # or more, then a bilinear step of under 2 on the small rest, where every pixel still contributes.
        # At 1080p that is 0.35 ms against 0.78 ms for one area resize by 5, with the same noise averaging
        # (it smooths a little more, like a 5-6 px box instead of 5 px).
        small, left = image, w // aw
        while left >= 2:
            small = cv2.resize(
                small, (small.shape[1] // 2, small.shape[0] // 2), interpolation=cv2.INTER_LINEAR
            )
            left /= 2
        if small.shape[:2] != (ah, aw):
            small = cv2.resize(small, (aw, ah), interpolation=cv2.INTER_LINEAR)
    else:
        # Exact halvings, then a bilinear step of under 2 (every pixel still contributes). OpenCV's area
        # resize by a fractional factor, as 720p -> 480 px (2.67) needs, took 2.3 ms a frame against
        # 0.3 ms; small whole factors (2, 3) stay exact area means.
        small = resize_to(image, scale, fast=True)
    # Limited-range luma (16..235) is stretched to 0..255 only now, on the small picture: the same affine
    # map as stretching the full frame first, at a twenty-fifth of the cost.
    stretch = limited and small.dtype == np.uint8
    small = cv2.LUT(small, TV_TO_PC_F32) if stretch else small.astype(np.float32)
    if options.blur > 0:
        small = cv2.GaussianBlur(small, (0, 0), options.blur)
    return small


@dataclass(frozen=True)
class WatchOptions:
    """How the watch detector decides what changed.

    Attributes:
        reference: ``background`` (a slowly adapting background), ``previous`` (the previous frame) or
            the path of a fixed reference image ("the gate should look like this").
        analysis_size: Longest side of the analysis image in pixels (smaller is faster; boxes are always
            reported in source pixels). ``None`` (auto): 480, or 384 for frames over 1280 pixels wide,
            which keeps 1080p watching well above real time.
        threshold: Fixed difference threshold in grey levels; ``None`` derives it from each frame's noise.
        sensitivity: How many noise sigmas above the noise floor a change must be (lower = more sensitive).
        min_area: Smallest reported region in source pixels; ``None`` means 0.03% of the frame (a far car
            or person; moving background such as leaves is told apart by its texture, not by its size).
        merge_gap: Fragments closer than this (source pixels) are one object; ``None`` scales it with the
            frame (0.6% of the longer side: close enough to join a person's head and legs, not to join two
            people walking side by side).
        light_change: ``report`` a sudden global light change as a ``light_change`` event, or
            ``suppress`` it; it is never reported as a change either way.
        shadows: ``ignore`` cast shadows (a moderate darkening that keeps the surface's texture) or
            ``keep`` them as changes.
        absorb_after: Seconds after which a change that stays perfectly still becomes background
            (``background`` mode; 0 = never).
        adapt: Time constant, in seconds, with which the background follows slow light drift.
        blur: Gaussian blur sigma at analysis size, against pixel noise and compression blocks.
    """

    reference: str = "background"
    analysis_size: int | None = None
    threshold: float | None = None
    sensitivity: float = 5.0
    min_area: int | None = None
    merge_gap: int | None = None
    light_change: str = "report"
    shadows: str = "ignore"
    absorb_after: float = 60.0
    adapt: float = 4.0
    blur: float = 1.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: coerce once, at construction
        ref = str(self.reference)
        if ref.strip().lower() in REFERENCE_MODES:
            ref = ref.strip().lower()
        set_(self, "reference", ref)
        set_(
            self,
            "analysis_size",
            number("analysis_size", self.analysis_size, lo=32, hi=4096, integer=True, allow_none=True),
        )
        set_(self, "threshold", number("threshold", self.threshold, lo=1, hi=255, allow_none=True))
        set_(self, "sensitivity", number("sensitivity", self.sensitivity, lo=1, hi=50))
        set_(self, "min_area", number("min_area", self.min_area, lo=0, hi=1e9, integer=True, allow_none=True))
        set_(
            self,
            "merge_gap",
            number("merge_gap", self.merge_gap, lo=0, hi=10000, integer=True, allow_none=True),
        )
        set_(self, "light_change", choice("light_change", self.light_change, ("report", "suppress")))
        set_(self, "shadows", choice("shadows", self.shadows, ("ignore", "keep")))
        set_(self, "absorb_after", number("absorb_after", self.absorb_after, lo=0, hi=1e7))
        set_(self, "adapt", number("adapt", self.adapt, lo=0.1, hi=1e5))
        set_(self, "blur", number("blur", self.blur, lo=0, hi=20))

    @property
    def fixed_reference(self) -> bool:
        """Whether ``reference`` names an image rather than a mode."""
        return self.reference not in REFERENCE_MODES
