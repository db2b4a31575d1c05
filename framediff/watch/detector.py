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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..analysis.prepare import to_gray
from ..analysis.regions import Region, check_box, ignore_mask, keep_seeded
from ..errors import InputError, OptionError
from ..media.images import read_image
from .options import REFERENCE_MODES, WatchOptions, analysis_geometry, analysis_side, shrink_frame
from .scene import (
    Bootstrap,
    box_iou,
    group_changes,
    is_ghost,
    median,
    merge_fragments,
    merge_overlapping,
    motion_of,
    percentile,
    same_texture,
    shadow_like,
    structure_kept,
    tone_map,
    touching,
    worth_a_box,
)
from .zones import check_zone_name, checked_zones, parse_zone, zones_hit

# The options and the zone rule live in .options and .zones; named here too, where they were.
__all__ = [
    "WatchOptions",
    "FrameResult",
    "ChangeDetector",
    "parse_zone",
    "check_zone_name",
    "analysis_side",
    "shrink_frame",
    "REFERENCE_MODES",
]


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
        self.zones = checked_zones(zones or {})
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
        self._switch: np.ndarray | None = None  # this frame's switches, counted after the report
        self._boxes_prev: list[tuple[int, int, int, int]] = []  # the previous frame's reported boxes
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
        zones = None if zones is None else checked_zones(zones)
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
        self.scale, (aw, ah) = analysis_geometry(width, height, o.analysis_size)
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
        if (fraction > 0.3 or jump) and structure_kept(cur, pred, mask, fraction, self._grid):
            result.light_change = True
            result.changed_fraction = fraction
            if mode != "image":
                self._ref = cur.copy()
                self._since_seed = 0
            self._still[:] = 0
            self._prev = cur
            self._gain = 1.0 if mode != "image" else gain
            self._count_switches([])
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
        groups = group_changes(mask, absd, self._group_kernel)
        if mode == "background" and groups:
            groups = self._settle(groups, mask, cur, pred)
        self._report(result, groups, mask, absd, cur, pred, lo)
        self._count_switches(result.regions)
        self._learn(mode, cur, pred, diff, mask, unknown, result.regions)
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
            if boot.spread is not None and self._var is not None:
                np.maximum(self._var, boot.spread, out=self._var)
                boot.spread = None
            if boot.done:
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
        # A switch is a pixel whose state differs from the last frame's; it is counted once the frame's
        # objects are known (see _count_switches), so the rate used here is the previous frames'.
        self._switch = np.not_equal(raw, self._last_raw)
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
        regions = worth_a_box(
            groups, mask, absd, cur, pred, lo, self._min_area, self._analysis_size, self.scale, self._size
        )
        regions = merge_fragments(
            merge_overlapping(regions), lambda f, big: self._together(f, big, mask, cur)
        )
        # The smallest changes (a far car, a far walker) must show in two frames running, where they were
        # or next to it: one-frame specks of the same size are glints (a leaf catching the light, a
        # ripple), never an object worth a box.
        last, self._last_regions = self._last_regions, regions
        regions = [r for r in regions if r.area >= self._persist_area or any(touching(r, q) for q in last)]
        regions.sort(key=lambda r: r.area, reverse=True)
        result.regions = regions
        result.changed_fraction = sum(r.area for r in regions) * self.scale * self.scale / self._valid_count
        result.zones = zones_hit(self.zones, regions)

    def _together(self, f: Region, big: Region, mask: np.ndarray, cur: np.ndarray) -> bool:
        """Whether a fragment moves with the box it would join (see :func:`merge_fragments`): the motion of
        its changed pixels since the previous frame against that of the box's part next to it."""
        if self._prev is None:
            return True
        s = self.scale
        ah, aw = mask.shape

        def at_analysis(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
            x0, y0 = max(0, int(x0 * s)), max(0, int(y0 * s))
            x1, y1 = min(aw, int(math.ceil(x1 * s))), min(ah, int(math.ceil(y1 * s)))
            return x0, y0, max(0, x1 - x0), max(0, y1 - y0)

        mf = motion_of(cur, self._prev, mask, at_analysis(f.x, f.y, f.x + f.w, f.y + f.h))
        # The box's part near the fragment (its whole would cost more and mix in other motion): the box
        # within the fragment's own size of it.
        r = max(f.w, f.h)
        near = at_analysis(
            max(big.x, f.x - r), max(big.y, f.y - r),
            min(big.x + big.w, f.x + f.w + r), min(big.y + big.h, f.y + f.h + r),
        )  # fmt: skip
        mb = motion_of(cur, self._prev, mask, near)
        if mf is None or mb is None:
            return True  # too little to tell: the shapes decide, as before
        speed = max(math.hypot(*mf), math.hypot(*mb))
        return math.hypot(mf[0] - mb[0], mf[1] - mb[1]) <= max(2.5, 0.5 * speed)

    def _in_analysis(self, regions: Sequence[Region]) -> list[tuple[int, int, int, int]]:
        """Regions' boxes at analysis size as ``(x0, y0, x1, y1)`` slices' ends, grown to whole pixels."""
        s = self.scale
        return [
            (int(r.x * s), int(r.y * s), int(math.ceil((r.x + r.w) * s)), int(math.ceil((r.y + r.h) * s)))
            for r in regions
        ]

    def _count_switches(self, regions: Sequence[Region]) -> None:
        """4 (after the report). Average this frame's switches into each pixel's switching rate, except
        where an object has just arrived: a lane of traffic switches as leaves do (on when a vehicle
        comes, off when it has gone), and at a few frames a second, or in dense traffic, a lane would
        switch often enough to be blanked as moving background. Its going still counts: whatever moves
        behind it (leaves a bus passes in front of) goes on learning its rate."""
        switch = self._switch
        if switch is None:
            return
        boxes, prev = self._in_analysis(regions), self._boxes_prev
        # Only an object that arrived where no box was: a box in the place of the previous frame's may be
        # leaves that slipped through (they keep coming back where they are) and must go on counting,
        # and an object moving only a little between frames switches few pixels anyway.
        moved = [b for b in boxes if not any(box_iou(b, q) >= 0.3 for q in prev)]
        if moved:
            switch = switch.copy()
            for x0, y0, x1, y1 in moved:
                switch[y0:y1, x0:x1] = False
        self._boxes_prev = boxes
        # As 0/1 bytes the switches are averaged directly (the same numbers as a float 0/1 image).
        cv2.accumulateWeighted(switch.view(np.uint8), self._flicker, self._alpha)
        self._switch = None

    def _learn(
        self,
        mode: str,
        cur: np.ndarray,
        pred: np.ndarray,
        diff: np.ndarray,
        mask: np.ndarray,
        unknown: np.ndarray | None,
        regions: Sequence[Region] = (),
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
            moving_bg = self._flicker > 0.08
            if regions and moving_bg.any():
                # A busy road switches too (twice for every vehicle that passes): what was reported as an
                # object is not moving background, or the road would learn the traffic as its noise and
                # its threshold climb until the next vehicles go unseen. Leaves are rejected as the
                # background moved before they become regions, so they still learn.
                for x0, y0, x1, y1 in self._in_analysis(regions):
                    moving_bg[y0:y1, x0:x1] = False
            learn = quiet | moving_bg
            if unknown is not None:
                learn &= ~unknown  # what passes over a pixel before its background is known is no noise
            # A running mean over the frames seen so far, then an exponential one: the estimate is
            # useful from the first second on instead of after a few time constants. Pixels that do not
            # learn keep their value (the mask leaves them alone).
            self._seen += 1
            cv2.accumulateWeighted(
                r2, self._var, max(self._alpha, 1.0 / self._seen), mask=learn.view(np.uint8)
            )

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
