"""The change detector of ``watch``: push frames in, get the frame's changed regions out.

The detector never opens a source: it is pushed grey (or BGR) frames one at a time and keeps only the
state it needs (the reference, a noise estimate, per-pixel stillness counters). Per frame it:

1. shrinks the frame to analysis size (area averaging also averages sensor noise away) and blurs it;
2. predicts the frame from the reference through a tone curve fitted on the watched pixels (median per
   band of levels), which absorbs light drift, exposure changes and saturated highlights;
3. thresholds the difference per pixel against the frame's noise floor (median absolute deviation) and
   the pixel's own recent residual (edges shimmering with compression), with hysteresis: strong pixels
   seed an object, weaker connected pixels complete its shape;
4. drops cast shadows (a moderate darkening that keeps the surface's texture) and pixels that keep
   switching (leaves, a flapping tape);
5. groups nearby fragments into one region per object, drops thin strips, and maps the boxes back to
   source pixels;
6. tells a sudden global light change (structure preserved, much of the frame brighter or darker, or a
   jump of the overall gain) apart from an object, and re-learns the reference instead of reporting it;
7. in ``background`` mode, updates the background only where nothing changed, removes "ghosts" (a still
   change whose outline belongs to the background, e.g. someone who stood there when watching began and
   has left), and absorbs a change that stayed still for ``absorb_after`` seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..analysis.prepare import analysis_scale, resize_to, to_gray
from ..analysis.regions import Region, check_box, ignore_mask, keep_seeded, parse_box
from ..errors import InputError, OptionError
from ..media.frames import TV_TO_PC_F32
from ..media.images import read_image
from ..options import choice, number
from .scene import (
    Bootstrap,
    grad,
    is_ghost,
    median,
    merge_fragments,
    merge_overlapping,
    moved_background,
    percentile,
    same_texture,
    shadow_like,
    thin,
    tighten,
    tone_map,
    touching,
)

__all__ = [
    "WatchOptions",
    "FrameResult",
    "ChangeDetector",
    "parse_zone",
    "check_zone_name",
    "analysis_side",
    "shrink_frame",
]

# Zone names are drawn on pictures (OpenCV's fonts are ASCII) and travel in JSON, events, file names of
# tools downstream and HTML: one rule wherever a name comes from (--zone, the live view, --config).
_ZONE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,39}")

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


def _geometry(width: int, height: int, wanted: int | None) -> tuple[float, tuple[int, int]]:
    """The shrink factor and the analysis image's ``(width, height)`` for a frame size."""
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
    scale, (aw, ah) = _geometry(w, h, options.analysis_size)
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


def check_zone_name(name: object) -> str:
    """Validate a zone name: the one rule for ``--zone``, the live view and the settings file.

    Args:
        name: The candidate name.

    Returns:
        The name, stripped of surrounding spaces.

    Raises:
        OptionError: when it is not 1-40 ASCII letters, digits, spaces, ``_``, ``.`` or ``-``, starting
            with a letter or digit.
    """
    text = name.strip() if isinstance(name, str) else ""
    if not _ZONE_NAME.fullmatch(text):
        shown = repr(name[:60]) if isinstance(name, str) else f"of type {type(name).__name__}"
        raise OptionError(f"zone name {shown} is not allowed", "use 1-40 letters, digits, spaces, _ . or -")
    return text


def parse_zone(text: str) -> tuple[str, tuple[int, int, int, int]]:
    """Parse ``NAME=x,y,w,h`` into a named box.

    Args:
        text: The zone as given on the command line.

    Returns:
        ``(name, (x, y, w, h))``.

    Raises:
        OptionError: when there is no name, the name breaks :func:`check_zone_name`'s rule, or the box is
            malformed.
    """
    name, sep, box = str(text).partition("=")
    if not sep or not name.strip():
        raise OptionError(f"zone {text!r} is not NAME=x,y,w,h", "e.g. zone door=10,20,200,300", setting="zone")
    return check_zone_name(name), parse_box(box)


def _checked_zones(zones: dict[str, Any]) -> dict[str, tuple[int, int, int, int]]:
    """Zones with their names and boxes checked (:func:`check_zone_name`, :func:`~framediff.analysis.regions.check_box`)."""
    return {check_zone_name(n): check_box(b, f"zone {n!r}") for n, b in zones.items()}


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


@dataclass
class FrameResult:
    """What the detector saw in one frame.

    Attributes:
        index: Frame index as pushed.
        time: Frame time in seconds as pushed.
        regions: Changed regions in source pixels, largest first.
        changed_fraction: Fraction of the watched (not ignored) area that changed, 0..1.
        zones: Names of the zones that a region overlaps.
        light_change: True when the frame was judged a sudden global light change (no regions then).
        warmup: True for the first frame (it only becomes the reference).
        noise: The noise sigma estimated on this frame, in grey levels at analysis size.
        threshold: The difference threshold used on this frame, in grey levels.
    """

    index: int
    time: float
    regions: list[Region] = field(default_factory=list)
    changed_fraction: float = 0.0
    zones: list[str] = field(default_factory=list)
    light_change: bool = False
    warmup: bool = False
    noise: float = 0.0
    threshold: float = 0.0

    @property
    def changed(self) -> bool:
        """Whether anything changed in this frame."""
        return bool(self.regions)

    def to_dict(self) -> dict:
        """The per-frame record written by ``--regions``: frame, time, changed, fraction, regions, zones."""
        return {
            "frame": self.index,
            "time": round(self.time, 4),
            "changed": self.changed,
            "fraction": round(self.changed_fraction, 5),
            "regions": [r.to_dict() for r in self.regions],
            "zones": self.zones,
            **({"light_change": True} if self.light_change else {}),
        }


class ChangeDetector:
    """Detects changed regions in a stream of frames against a reference.

    Example::

        det = ChangeDetector(WatchOptions(reference="background"), fps=25)
        for frame in source:
            result = det.push(frame.image, frame.index, frame.time)
            for r in result.regions:
                print(r.box)

    Args:
        options: Detection settings.
        fps: Frames per second of the source (turns seconds into frames); 15 when unknown.
        ignore: Optional ignore picture, white (non-zero) = ignore; resized to the frames if it differs.
        ignore_boxes: ``(x, y, w, h)`` boxes in source pixels to ignore.
        zones: Named boxes in source pixels; results say which zones a change touches.
        only_zones: Watch only inside the zones (everything else is ignored).

    Raises:
        InputError: when a fixed reference image cannot be read.
        OptionError: when a zone name is not allowed (see :func:`check_zone_name`).
    """

    def __init__(
        self,
        options: WatchOptions | None = None,
        *,
        fps: float | None = None,
        ignore: np.ndarray | None = None,
        ignore_boxes: Sequence[tuple[int, int, int, int]] = (),
        zones: dict[str, tuple[int, int, int, int]] | None = None,
        only_zones: bool = False,
    ) -> None:
        self.options = options or WatchOptions()
        self.fps = float(fps) if fps and fps > 0 else 15.0
        self.zones = _checked_zones(zones or {})
        self._only_zones_wanted = only_zones  # kept: zones edited later (set_areas) may become non-empty
        self.only_zones = only_zones and bool(self.zones)
        self._ignore_src = ignore
        self._ignore_boxes = [check_box(b, "ignore box") for b in ignore_boxes]
        self._fixed: np.ndarray | None = None
        if self.options.fixed_reference:
            path = Path(self.options.reference)
            if not path.exists():
                raise InputError(
                    f"reference {path}: no such file", "give previous, background or an image path"
                )
            self._fixed = to_gray(read_image(path))
        self._size: tuple[int, int] | None = None
        self.restart()

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """``(width, height)`` of the frames pushed so far (``None`` before the first)."""
        return self._size

    # -- state -------------------------------------------------------------------------------------------

    def restart(self) -> None:
        """Forget the scene (not the settings): the next frame becomes the reference again.

        Called after a source reconnects, so that the jump between the last frame before the loss and the
        first frame after it is never reported as a change.
        """
        self._ref: np.ndarray | None = None
        self._prev: np.ndarray | None = None
        self._still: np.ndarray | None = None
        self._var: np.ndarray | None = None
        self._seen = 0
        self._since_seed = 0
        self._gain = 1.0
        self._noise: float | None = None
        self._boot: Bootstrap | None = None
        self._last_regions: list[Region] = []  # the previous frame's regions, before the two-frame rule
        if self._fixed is not None and self._size is not None:
            self._ref = self._prepare(self._fixed_at_size())

    def set_areas(
        self,
        ignore_boxes: Sequence[tuple[int, int, int, int]] | None = None,
        zones: dict[str, tuple[int, int, int, int]] | None = None,
    ) -> None:
        """Replace the ignore boxes and/or the zones; the next pushed frame is analysed with them.

        The scene (reference, noise estimate) is kept, so editing areas never raises a change by itself.
        Not thread-safe against :meth:`push`: call it from the thread that pushes frames, between two
        pushes (a live view queues its edits and the watch loop applies them).

        Args:
            ignore_boxes: New ``(x, y, w, h)`` boxes to ignore in source pixels (``None``: keep); the
                ignore picture given at construction stays.
            zones: New named zones in source pixels (``None``: keep).

        Raises:
            OptionError: when a zone name is not allowed, or the new areas leave nothing watched (the old
                ones then stay in force).
        """
        old = (self._ignore_boxes, self.zones, self.only_zones)
        # Every new area checked before anything changes.
        boxes = None if ignore_boxes is None else [check_box(b, "ignore box") for b in ignore_boxes]
        zones = None if zones is None else _checked_zones(zones)
        if boxes is not None:
            self._ignore_boxes = boxes
        if zones is not None:
            self.zones = zones
            self.only_zones = self._only_zones_wanted and bool(self.zones)
        if self._size is None:
            return
        try:
            self._setup(*self._size)
        except Exception:
            self._ignore_boxes, self.zones, self.only_zones = old
            self._setup(*self._size)
            raise

    def _setup(self, width: int, height: int) -> None:
        """Per-size constants: analysis scale, valid mask, grouping kernel, areas."""
        o = self.options
        self._size = (width, height)
        self.scale, (aw, ah) = _geometry(width, height, o.analysis_size)
        self._analysis_size = (aw, ah)
        valid = np.full((ah, aw), 255, np.uint8)
        if self.only_zones:
            valid[:] = 0
            for x, y, w, h in self.zones.values():
                x0, y0 = int(x * self.scale), int(y * self.scale)
                valid[
                    y0 : y0 + max(1, math.ceil(h * self.scale)), x0 : x0 + max(1, math.ceil(w * self.scale))
                ] = 255
        ign = ignore_mask((width, height), self._ignore_src, self._ignore_boxes)
        if ign is not None:
            small = cv2.resize(ign, (aw, ah), interpolation=cv2.INTER_AREA) > 0
            # Blur and compression blocks spread an ignored area's changes a few pixels beyond its edge.
            grow = int(math.ceil(2 * o.blur)) + 2
            small = cv2.dilate(small.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0
            valid[small] = 0
        if not valid.any():
            raise OptionError(
                "the ignore mask and boxes cover the whole frame", "leave some of the frame watched"
            )
        self._valid = valid > 0
        self._valid_count = int(np.count_nonzero(self._valid))
        # Most setups watch the whole frame: then there is nothing to blank per frame.
        self._invalid = None if self._valid_count == aw * ah else ~self._valid
        # A sparse grid of watched pixels: plenty for the robust light and noise statistics.
        step = max(1, int(math.sqrt(aw * ah / 6000)))
        grid = np.zeros((ah, aw), bool)
        grid[::step, ::step] = True
        self._grid = grid & self._valid
        # The same sample as flat indices: taking ~6000 values by index is much cheaper per frame than
        # masking the whole analysis image with a boolean grid (same values, same order).
        self._grid_at = np.flatnonzero(self._grid)
        if not self._grid_at.size:  # a watched spot smaller than the grid's step: sample all of it
            self._grid = self._valid.copy()
            self._grid_at = np.flatnonzero(self._grid)
        gap = o.merge_gap if o.merge_gap is not None else 0.006 * max(width, height)
        # Both fragments grow by the kernel's radius, so a radius of half the gap joins them.
        g = max(1, int(round(gap * self.scale / 2)))
        self._group_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * g + 1, 2 * g + 1))
        min_area = o.min_area if o.min_area is not None else 0.0003 * width * height
        self._min_area = max(6.0, min_area * self.scale * self.scale)
        # Regions under 0.05% of the frame (source pixels) must be seen twice; see push.
        self._persist_area = 0.0005 * width * height
        self._frames_still = max(3, int(round(0.5 * self.fps)))  # still for half a second: test for a ghost
        self._frames_settle = int(round(5.0 * self.fps))
        self._frames_early = int(round(3.0 * self.fps))
        self._frames_absorb = int(round(o.absorb_after * self.fps)) if o.absorb_after > 0 else 0
        self._alpha = min(0.5, 1.0 / (o.adapt * self.fps))
        if self._fixed is not None:
            self._ref = self._prepare(self._fixed_at_size())

    def _fixed_at_size(self) -> np.ndarray:
        assert self._fixed is not None and self._size is not None
        if self._fixed.shape[:2] != (self._size[1], self._size[0]):
            return cv2.resize(self._fixed, self._size, interpolation=cv2.INTER_AREA)
        return self._fixed

    def _prepare(self, gray: np.ndarray, limited: bool = False) -> np.ndarray:
        return shrink_frame(gray, self.options, limited)

    # -- the per-frame work ------------------------------------------------------------------------------

    def push(
        self,
        image: np.ndarray,
        index: int = 0,
        time: float = 0.0,
        *,
        limited: bool = False,
        small: np.ndarray | None = None,
    ) -> FrameResult:
        """Analyse one frame.

        Args:
            image: The frame: H x W grey uint8 (fastest: the luma plane) or H x W x 3 BGR.
            index: The frame's index (copied into the result).
            time: The frame's time in seconds (copied into the result).
            limited: ``image`` is limited-range luma (black..white stored as 16..235, as most video
                decoders deliver it); it is stretched to 0..255 after shrinking, which is much cheaper than
                stretching the full frame first (see :class:`~framediff.media.frames.LumaFrame`).
            small: ``shrink_frame(image, options, limited)`` when it was already made (in a reading
                thread, say); the full-size ``image`` is then only checked for its size.

        Returns:
            The frame's regions (in source pixels) and what else was seen.

        Raises:
            InputError: when the frame is not an image or its size differs from the first frame's.
        """
        cur = self._analysis_image(image, index, limited, small)
        result = FrameResult(index, time)
        if self._start(cur):
            result.warmup = True
            return result
        ref = self._ref
        self._since_seed += 1
        mode = "image" if self._fixed is not None else self.options.reference
        # 0. Start-up: pixels whose background is not known yet are neither reported nor learnt from.
        boot = self._boot
        if boot is not None:
            boot.observe(cur, self._prev, self._grid_at)
        samp, gain, unknown, pred = self._light(ref, cur)
        diff = cur - pred
        absd, hi, lo = self._thresholds(diff, samp, unknown, result)
        weak = self._shadows(absd, lo, cur, pred, diff)
        mask = self._hysteresis(absd, hi, weak)
        fraction = float(np.count_nonzero(mask)) / self._valid_count

        # 6. A sudden global light change: much of the frame changed, or the light jumped, and the scene's
        # structure (its edges) is still where it was. Re-learn instead of reporting an intruder.
        jump = abs(gain / self._gain - 1.0) > 0.15 if self._gain > 0 else False
        if (fraction > 0.3 or jump) and self._structure_kept(cur, pred, mask, fraction):
            result.light_change = True
            result.changed_fraction = fraction
            if mode != "image":
                self._ref = cur.copy()
                self._since_seed = 0
            self._still[:] = 0
            self._prev = cur
            self._gain = 1.0 if mode != "image" else gain
            return result
        self._gain = gain

        # 7. Stillness per pixel: changed and not moving since the previous frame.
        # A pixel's count goes up by one while it is changed and not moving, and back to 0 otherwise.
        moving = cv2.absdiff(cur, self._prev) > lo
        still = self._still
        still += 1
        np.multiply(still, (mask > 0) & ~moving, out=still)
        cv2.min(still, 65000, dst=still)  # np.minimum on uint16 is ten times slower here

        # 8. Group fragments into objects and test still ones for ghosts / absorption.
        groups = self._group(mask, absd)
        if mode == "background" and groups:
            groups = self._settle(groups, mask, cur, pred)
        self._report(result, groups, mask, absd, cur, pred, lo)
        self._learn(mode, cur, pred, diff, mask, unknown)
        self._prev = cur
        return result

    def _analysis_image(
        self, image: np.ndarray, index: int, limited: bool, small: np.ndarray | None
    ) -> np.ndarray:
        """The frame shrunk for analysis (float32), its size checked (the first frame sets it)."""
        grey_u8 = isinstance(image, np.ndarray) and image.ndim == 2 and image.dtype == np.uint8
        gray = image if grey_u8 else to_gray(image)
        limited = limited and grey_u8
        h, w = gray.shape
        if self._size is None:
            self._setup(w, h)
        elif self._size != (w, h):
            raise InputError(
                f"frame {index} is {w}x{h} but the stream started at {self._size[0]}x{self._size[1]}",
                "restart the detector for a new source",
            )
        if small is not None and small.shape == self._analysis_size[::-1] and small.dtype == np.float32:
            return small
        return self._prepare(gray, limited)

    def _start(self, cur: np.ndarray) -> bool:
        """Make the scene's state at its first frame (after construction or :meth:`restart`), in one place;
        whether ``cur`` was that first frame (a warm-up frame: nothing to compare it with)."""
        if self._var is None:
            self._var = np.zeros(cur.shape, np.float32)
            self._flicker = np.zeros(cur.shape, np.float32)
            self._last_raw = np.zeros(cur.shape, bool)
        if self._ref is None:
            self._ref = cur.copy()
            self._prev = cur
            self._still = np.zeros(cur.shape, np.uint16)
            self._since_seed = 0
            if self.options.reference == "background":
                # The first frame is only a first guess: whatever moves in it (people walking) is not
                # background. The background is bootstrapped from what stays steady (see Bootstrap).
                self._boot = Bootstrap(cur, self.fps)
            return True
        if self._still is None or self._prev is None:  # fixed reference: first frame after (re)start
            self._still = np.zeros(cur.shape, np.uint16)
            self._prev = cur
        return False

    def _light(
        self, ref: np.ndarray, cur: np.ndarray
    ) -> tuple[np.ndarray, float, np.ndarray | None, np.ndarray]:
        """1. Light: the sample of watched pixels, the gain, the pixels not known yet, and the reference
        as the current light shows it (its tone curve)."""
        boot, unknown = self._boot, None
        # Gain and offset from watched pixels. A real object covers a minority of them, so the median
        # ratio follows the light and not the object.
        samp = self._grid_at
        if boot is not None:
            known_samp = samp[boot.known.take(samp)]
            samp = known_samp if known_samp.size >= 200 else samp
        rs, cs = ref.take(samp), cur.take(samp)
        ok = rs > 12  # ratios of near-black pixels are noise
        gain = median(cs[ok] / rs[ok]) if np.count_nonzero(ok) > 50 else 1.0
        gain = min(max(gain, 0.2), 5.0)
        if boot is not None:
            # Newly steady pixels join the background at the background's exposure, not this frame's.
            unknown = boot.learn(ref, cur, gain)
            if unknown is None:
                self._boot = None
        # The light model is a tone curve (reference level -> current level): the median difference per
        # band of reference levels. Unlike one gain it follows what cameras do at the ends of the range:
        # highlights saturate and blacks stay black when the light rises.
        return samp, gain, unknown, tone_map(ref, rs, cs)

    def _thresholds(
        self, diff: np.ndarray, samp: np.ndarray, unknown: np.ndarray | None, result: FrameResult
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """2. The frame's noise floor and the per-pixel thresholds: the masked absolute difference, the
        high and the low threshold (the noise and the threshold go in ``result``)."""
        ds = diff.take(samp)
        # Noise floor of this frame (MAD of the signed difference), smoothed so one clean frame does not
        # make the next one hypersensitive.
        sigma = 1.4826 * median(np.abs(ds)) if ds.size else 1.0
        self._noise = sigma if self._noise is None else max(sigma, 0.7 * self._noise + 0.3 * sigma)
        noise = max(self._noise, 0.5)
        o = self.options
        absd = np.abs(diff)
        if self._invalid is not None:
            np.copyto(absd, 0, where=self._invalid)
        if unknown is not None:
            np.copyto(absd, 0, where=unknown)
        if o.threshold is not None:
            hi = np.float32(o.threshold)
            result.threshold = float(hi)
        else:
            # Per pixel: the frame's noise plus what this pixel's own residual has been lately (edges that
            # shimmer with compression, highlights the tone curve fits poorly, leaves that move).
            hi = np.sqrt(self._var + noise * noise)
            hi *= o.sensitivity
            np.maximum(hi, 8.0, out=hi)  # compression pumps flat areas by ~5 levels
            # Only reported (the per-pixel thresholds are what count): a quarter of the sample is plenty.
            result.threshold = median(hi.take(samp[::4]))
        lo = np.maximum(hi * 0.5, np.float32(4.0))
        result.noise = noise
        return absd, hi, lo

    def _shadows(
        self, absd: np.ndarray, lo: np.ndarray, cur: np.ndarray, pred: np.ndarray, diff: np.ndarray
    ) -> np.ndarray:
        """3. Shadows: a moderate darkening through which the background's own texture still shows (or on a
        surface too plain to tell) is a shadow, not an object. Blanks them in ``absd``; the weak pixels."""
        weak = absd > lo
        if self.options.shadows == "ignore":
            # Only pixels above the low threshold can become changes: blanking a shadow anywhere else
            # would change nothing, and in a quiet frame there are none to test.
            shadow = shadow_like(cur, pred, diff, weak)
            if shadow is not None:
                np.copyto(absd, 0, where=shadow)
                weak &= ~shadow
        return weak

    def _hysteresis(self, absd: np.ndarray, hi: np.ndarray, weak: np.ndarray) -> np.ndarray:
        """4-5. Flicker and hysteresis: the changed mask (uint8); flickering pixels blanked in ``absd``."""
        # 4. Pixels that keep switching between changed and quiet (leaves, flags, water, a flapping tape)
        # are background that moves: they can neither seed nor extend a change. The switching rate is an
        # exponential average of switches per frame; a person walking past switches a pixel twice.
        raw = absd > hi
        # A switch is a pixel whose state differs from the last frame's; as 0/1 bytes it is averaged
        # directly (the same numbers as a float 0/1 image, without making one).
        cv2.accumulateWeighted(np.not_equal(raw, self._last_raw).view(np.uint8), self._flicker, self._alpha)
        self._last_raw = raw
        flickering = self._flicker > 0.3
        np.copyto(absd, 0, where=flickering)

        # 5. Hysteresis: weak pixels connected to enough strong ones.
        weak &= ~flickering
        weak = cv2.morphologyEx(weak.view(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
        strong = raw & ~flickering
        if strong.any():
            return keep_seeded(weak, strong, min_seeds=3).view(np.uint8)
        return np.zeros(weak.shape, np.uint8)  # nothing can seed a change: skip the labelling

    def _report(
        self,
        result: FrameResult,
        groups: list[tuple[int, int, int, int, int, float]],
        mask: np.ndarray,
        absd: np.ndarray,
        cur: np.ndarray,
        pred: np.ndarray,
        lo: np.ndarray,
    ) -> None:
        """The regions worth a box, in source pixels, and what they cover, into ``result``."""
        regions = []
        for x, y, gw, gh, area, score in groups:
            # Too small, or a line under three pixels thick (a wire or tape in the wind, a shimmering edge).
            if area < self._min_area or area < 3.0 * max(gw, gh):
                continue
            aw, ah = self._analysis_size
            inside = x > 1 and y > 1 and x + gw < aw - 1 and y + gh < ah - 1
            if inside and min(gw, gh) <= 6 and max(gw, gh) >= 4 * min(gw, gh):
                continue  # a long thin strip: the edge of a shadow, a tape, a wire (not an object entering)
            if inside and max(gw, gh) >= 16 and thin(mask[y : y + gh, x : x + gw], max(gw, gh)):
                continue  # the same, lying diagonally (a tape across a car park): thin all along
            if moved_background(cur, pred, mask, lo, (x, y, gw, gh)):
                continue  # the background itself, shifted by a pixel or two: leaves, a flag, a shaking pole
            if min(gw, gh) <= 8:
                # A small change's box is mostly the blur's halo: put its edges back where it is.
                x, y, gw, gh = tighten(absd, mask, (x, y, gw, gh))
            regions.append(
                Region(x, y, gw, gh, area, min(1.0, score / 255.0)).scaled(1.0 / self.scale, limit=self._size)
            )
        regions = merge_fragments(merge_overlapping(regions))
        # The smallest changes (a far car, a far walker) must show in two frames running, where they were
        # or next to it: one-frame specks of the same size are glints (a leaf catching the light, a
        # ripple), never an object worth a box.
        last, self._last_regions = self._last_regions, regions
        regions = [r for r in regions if r.area >= self._persist_area or any(touching(r, q) for q in last)]
        regions.sort(key=lambda r: r.area, reverse=True)
        result.regions = regions
        result.changed_fraction = sum(r.area for r in regions) * self.scale * self.scale / self._valid_count
        result.zones = self._zones_hit(regions)

    def _learn(
        self,
        mode: str,
        cur: np.ndarray,
        pred: np.ndarray,
        diff: np.ndarray,
        mask: np.ndarray,
        unknown: np.ndarray | None,
    ) -> None:
        """9. Learn: previous-frame mode takes this frame; background mode follows slowly where quiet."""
        quiet = cv2.dilate(mask, np.ones((5, 5), np.uint8)) == 0
        if mode == "previous":
            self._ref = cur
        elif mode == "background":
            # Quiet pixels learn the frame; changed pixels only follow the global light, so the
            # background under a parked object does not fall behind a slow drift (which would make the
            # object's box grow ring by ring).
            target = pred
            np.copyto(target, cur, where=quiet)
            cv2.accumulateWeighted(target, self._ref, self._alpha)
        if mode != "previous":
            # Residual energy of quiet pixels, for the per-pixel threshold above; also of pixels that keep
            # switching (leaves in the wind), so moving background learns its own, higher threshold. A
            # person who stands still switches nothing and is never learnt.
            r2 = np.multiply(diff, diff, out=diff)  # diff is not needed after this
            learn = quiet | (self._flicker > 0.08)
            if unknown is not None:
                learn &= ~unknown  # what passes over a pixel before its background is known is no noise
            # A running mean over the frames seen so far, then an exponential one: the estimate is
            # useful from the first second on instead of after a few time constants. Pixels that do not
            # learn keep their value (the mask leaves them alone).
            self._seen += 1
            cv2.accumulateWeighted(
                r2, self._var, max(self._alpha, 1.0 / self._seen), mask=learn.view(np.uint8)
            )

    def _group(self, mask: np.ndarray, strength: np.ndarray) -> list[tuple[int, int, int, int, int, float]]:
        """One box per object: components of the mask grouped when within the merge gap of each other.

        Returns:
            ``(x, y, w, h, area, mean strength)`` per group, in analysis pixels, boxes tight around the
            group's changed pixels (the grouping dilation does not enlarge them).
        """
        if not mask.any():
            return []
        n, glab = cv2.connectedComponents(cv2.dilate(mask, self._group_kernel), connectivity=8)
        # The changed pixels' coordinates, row by row as np.nonzero gives them, at a twentieth of its cost
        # (0.01 ms against 0.2 ms on a 384 x 216 mask).
        pts = cv2.findNonZero(mask).reshape(-1, 2)
        xs, ys = pts[:, 0], pts[:, 1]
        lab = glab[ys, xs]
        area = np.bincount(lab, minlength=n)
        ssum = np.bincount(lab, weights=strength[ys, xs], minlength=n)
        # int32 like the coordinates: ufunc.at with mixed integer types takes a slow path (0.14 ms a call
        # against 0.007 ms).
        x0 = np.full(n, 1 << 30, np.int32)
        y0 = np.full(n, 1 << 30, np.int32)
        x1 = np.full(n, -1, np.int32)
        y1 = np.full(n, -1, np.int32)
        np.minimum.at(x0, lab, xs)
        np.minimum.at(y0, lab, ys)
        np.maximum.at(x1, lab, xs)
        np.maximum.at(y1, lab, ys)
        out = []
        for i in range(1, n):
            if area[i] == 0:
                continue
            out.append(
                (
                    int(x0[i]),
                    int(y0[i]),
                    int(x1[i] - x0[i] + 1),
                    int(y1[i] - y0[i] + 1),
                    int(area[i]),
                    float(ssum[i] / area[i]),
                )
            )
        return out

    def _settle(self, groups: list, mask: np.ndarray, cur: np.ndarray, pred: np.ndarray) -> list:
        """Background mode: remove ghosts and absorb long-still changes into the background."""
        assert self._still is not None and self._ref is not None
        ref = self._ref
        keep = []
        for g in groups:
            x, y, w, h, area, _ = g
            sub = mask[y : y + h, x : x + w] > 0
            st = self._still[y : y + h, x : x + w][sub]
            # The object must be (nearly) all still: a moving object has moving edges.
            still_frames = percentile(st, 10) if st.size else 0
            # Soon after the start a still change is most likely what the first frames showed and has
            # left: it is tested as soon as it has been still for the bootstrap's settling time (a
            # ghost tested only after half a second would be reported for half a second).
            need = self._frames_still
            if self._since_seed <= self._frames_early:
                need = min(need, Bootstrap.settle_frames(self.fps))
            if still_frames < need:
                keep.append(g)
                continue
            absorb = self._frames_absorb and still_frames >= self._frames_absorb
            # Ghosts come from a reference taken as a snapshot (at start, after a reconnect or a light
            # change) with something in it that has since left. Only changes that began soon after such a
            # snapshot are tested: later ones are objects that arrived, and stay until absorb_after.
            began = self._since_seed - still_frames
            if not absorb and began <= self._frames_settle:
                m = 4  # margin: the outside of the outline
                ys, xs = slice(max(0, y - m), y + h + m), slice(max(0, x - m), x + w + m)
                crop = mask[ys, xs]
                absorb = is_ghost(crop, cur[ys, xs], pred[ys, xs]) or same_texture(
                    cur[ys, xs], pred[ys, xs], crop > 0
                )
            if absorb:
                region = np.zeros(mask.shape, np.uint8)
                region[y : y + h, x : x + w][sub] = 1
                region = cv2.dilate(region, self._group_kernel) > 0
                # Undo this frame's tone change so the absorbed patch matches the rest of the background.
                ref[region] += cur[region] - pred[region]
                self._still[region] = 0
                continue
            keep.append(g)
        return keep

    def _structure_kept(self, cur: np.ndarray, ref: np.ndarray, mask: np.ndarray, fraction: float) -> bool:
        """Whether a widespread change keeps the scene's edges (light) rather than hiding them (an object)."""
        sel = self._grid if fraction < 0.05 else (mask > 0) & self._grid
        if np.count_nonzero(sel) < 50:
            sel = self._grid
        a, b = grad(cur)[sel], grad(ref)[sel]
        if a.std() < 1e-3 or b.std() < 1e-3:
            return False
        return float(np.corrcoef(a, b)[0, 1]) > 0.6

    def _zones_hit(self, regions: list[Region]) -> list[str]:
        hit = []
        for name, (zx, zy, zw, zh) in self.zones.items():
            for r in regions:
                if r.x < zx + zw and zx < r.x + r.w and r.y < zy + zh and zy < r.y + r.h:
                    hit.append(name)
                    break
        return hit
