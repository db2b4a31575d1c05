"""From a difference map to boxes: threshold, morphology, contours, merging, ignore masks.

Pure functions on numpy arrays. A :class:`Region` is a box with its area (changed pixels) and a score
(how strongly it changed), in whatever pixel frame its map was in; :meth:`Region.scaled` maps boxes found
at analysis size back to source pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..errors import InputError, OptionError

__all__ = [
    "Region",
    "noise_floor",
    "auto_threshold",
    "threshold_map",
    "clean_mask",
    "find_regions",
    "merge_boxes",
    "ignore_mask",
    "parse_box",
    "check_box",
    "MAX_BOX_END",
    "keep_seeded",
]


@dataclass(frozen=True)
class Region:
    """One changed region.

    Attributes:
        x: Left edge in pixels.
        y: Top edge in pixels.
        w: Width in pixels.
        h: Height in pixels.
        area: Number of changed pixels inside the box.
        score: Mean strength of the change inside the region's pixels, 0..1 (1 = maximal difference).
    """

    x: int
    y: int
    w: int
    h: int
    area: int
    score: float

    def scaled(self, factor: float, limit: tuple[int, int] | None = None) -> Region:
        """Map a box from analysis pixels to source pixels.

        Args:
            factor: Source pixels per analysis pixel (1 / the analysis scale).
            limit: Optional (width, height) of the source, to clip the box to.

        Returns:
            The region in source pixels (the box grown outward to whole pixels).
        """
        if factor == 1.0 and limit is None:
            return self
        x0, y0 = int(np.floor(self.x * factor)), int(np.floor(self.y * factor))
        x1, y1 = int(np.ceil((self.x + self.w) * factor)), int(np.ceil((self.y + self.h) * factor))
        if limit is not None:
            x0, y0 = max(0, x0), max(0, y0)
            x1, y1 = min(limit[0], x1), min(limit[1], y1)
        return Region(x0, y0, x1 - x0, y1 - y0, int(round(self.area * factor * factor)), self.score)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The box as ``(x, y, w, h)``."""
        return (self.x, self.y, self.w, self.h)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict with ``x``, ``y``, ``w``, ``h``, ``area`` and ``score``."""
        return {
            "x": self.x,
            "y": self.y,
            "w": self.w,
            "h": self.h,
            "area": self.area,
            "score": round(self.score, 4),
        }


def noise_floor(diff: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
    """Estimate the typical level and spread of a difference map where nothing changed.

    Real changes usually cover a minority of the frame, so the median and the median absolute deviation
    describe the noise (compression, sensor grain, resampling) and ignore the changes.

    Args:
        diff: A non-negative difference map.
        valid: Optional mask of pixels to consider (non-zero = consider).

    Returns:
        ``(median, sigma)`` where sigma is the MAD scaled to a normal standard deviation.
    """
    if diff.dtype == np.uint8:
        # A histogram gives both quantiles of 8-bit data in one linear pass (no sorting), and OpenCV's
        # takes the mask as it is (no gathering of the valid pixels).
        m = None if valid is None else _as_u8(valid)
        hist = cv2.calcHist([np.ascontiguousarray(diff)], [0], m, [256], [0, 256]).ravel()
        if hist.sum() == 0:
            return 0.0, 0.0
        cdf = np.cumsum(hist)
        half = cdf[-1] / 2.0
        # Mean of the lower and upper median, as np.median does for an even count.
        med = (float(np.searchsorted(cdf, half, "left")) + float(np.searchsorted(cdf, half, "right"))) / 2.0
        dev = np.abs(np.arange(256) - med)
        order = np.argsort(dev, kind="stable")
        mad = float(dev[order][np.searchsorted(np.cumsum(hist[order]), half)])
        return med, 1.4826 * mad
    step = max(1, int(np.sqrt(diff.size / 250_000)))  # a subsample is plenty for two quantiles
    d = diff[::step, ::step]
    if valid is not None:
        d = d[valid[::step, ::step] > 0]
    if d.size == 0:
        return 0.0, 0.0
    d = d.astype(np.float32).ravel()
    med = float(np.median(d))
    sigma = 1.4826 * float(np.median(np.abs(d - med)))
    return med, sigma


def auto_threshold(
    diff: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    k: float = 6.0,
    minimum: float = 8.0,
    maximum: float = 96.0,
    sigma_floor: float = 1.0,
) -> float:
    """A threshold for ``diff`` that clears the map's own noise floor.

    Args:
        diff: A non-negative difference map (0..255 scale).
        valid: Optional mask of pixels to consider.
        k: How many noise sigmas above the median a change must be.
        minimum: Lowest threshold returned (a perfectly clean pair would otherwise flag rounding).
        maximum: Highest threshold returned (a very noisy pair still shows strong changes).
        sigma_floor: Smallest noise sigma assumed (a map quantised to integers cannot measure less).

    Returns:
        The threshold, in the map's units.
    """
    med, sigma = noise_floor(diff, valid)
    return float(np.clip(med + k * max(sigma, sigma_floor), minimum, maximum))


def threshold_map(diff: np.ndarray, threshold: float) -> np.ndarray:
    """Binary mask (0/255, uint8) of pixels whose difference exceeds ``threshold``.

    Args:
        diff: Difference map.
        threshold: Values strictly above it are marked.

    Returns:
        A uint8 mask.
    """
    if diff.dtype != np.uint8 and diff.dtype != np.float32:
        diff = diff.astype(np.float32)
    return cv2.threshold(diff, threshold, 255, cv2.THRESH_BINARY)[1].astype(np.uint8, copy=False)


def clean_mask(mask: np.ndarray, open_px: int = 1, close_px: int = 2) -> np.ndarray:
    """Remove speckle (opening) and fill small holes and gaps (closing).

    Args:
        mask: uint8 mask (non-zero = changed).
        open_px: Radius of the opening; isolated blobs thinner than about twice this vanish.
        close_px: Radius of the closing; gaps up to about twice this are bridged.

    Returns:
        The cleaned mask.
    """
    if open_px > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * open_px + 1, 2 * open_px + 1))
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, k)
    if close_px > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * close_px + 1, 2 * close_px + 1))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, k)
    return mask


def keep_seeded(weak: np.ndarray, strong: np.ndarray, min_seeds: int = 1, min_pixels: int = 1) -> np.ndarray:
    """Hysteresis: keep the connected blobs of ``weak`` that hold at least ``min_seeds`` ``strong`` pixels.

    Noise crosses a low threshold in scattered specks; a real change has a core that stands well above
    it. Keeping only the low-threshold blobs with such a core removes most noise and keeps full shapes.

    Args:
        weak: Mask of pixels above the low threshold (non-zero = above).
        strong: Mask of pixels above the high threshold (non-zero = above).
        min_seeds: Strong pixels a blob needs to be kept.
        min_pixels: Blobs with fewer pixels than this are dropped even when seeded (specks).

    Returns:
        A boolean mask of the kept pixels.
    """
    w8 = _as_u8(weak)
    n, labels = cv2.connectedComponents(w8, connectivity=8)
    if n <= 1:
        return np.zeros(w8.shape, bool)
    pts = cv2.findNonZero(_as_u8(strong))
    if pts is None:
        return np.zeros(w8.shape, bool)
    pts = pts.reshape(-1, 2)
    lab = labels[pts[:, 1], pts[:, 0]]
    # Strong pixels per blob by counting, not np.unique (which sorts: 1.4 ms against 0.1 ms for 20,000
    # strong pixels). Label 0 (strong pixels outside every weak blob) seeds nothing.
    counts = np.bincount(lab, minlength=n)
    counts[0] = 0
    kept = np.flatnonzero(counts >= max(1, min_seeds))
    if len(kept) > 256 or min_pixels > 1 and len(kept) > 64:
        # Many kept blobs: one table lookup over the label image beats one flood fill per blob.
        keep = np.zeros(n, bool)
        keep[kept] = True
        if min_pixels > 1:
            keep &= np.bincount(labels.ravel(), minlength=n) >= min_pixels
        return keep[labels]
    # Each kept blob's first strong pixel in row order (the order findNonZero lists them) seeds its fill.
    first = np.full(n, lab.size, np.intp)
    np.minimum.at(first, lab, np.arange(lab.size, dtype=np.intp))
    seeds = pts[first[kept]]
    # Few kept blobs (the usual case): flood-fill each from one of its seeds. This touches only the
    # kept pixels, where a lookup over the whole label image costs several milliseconds.
    fill = w8.copy()
    for x, y in seeds:
        area = cv2.floodFill(fill, None, (int(x), int(y)), 2, flags=8)[0]
        if area < min_pixels:
            cv2.floodFill(fill, None, (int(x), int(y)), 3, flags=8)
    return fill == 2


def _as_u8(mask: np.ndarray) -> np.ndarray:
    """A 0/1 uint8 view or copy of a mask (non-zero = set), as labelling and flood filling want."""
    if mask.dtype == bool:
        return mask.view(np.uint8)
    if mask.dtype == np.uint8:
        return cv2.threshold(mask, 0, 1, cv2.THRESH_BINARY)[1]
    return (mask > 0).astype(np.uint8)


def merge_boxes(
    boxes: Sequence[tuple[int, int, int, int]],
    gap: int,
    solid: int | None = None,
    solid_gap: int = 0,
    touching: Sequence[int] | None = None,
) -> list[tuple[int, int, int, int]]:
    """Merge boxes that overlap or lie within ``gap`` pixels of each other, until none do.

    Args:
        boxes: ``(x, y, w, h)`` boxes.
        gap: Largest distance between two boxes that still belong to one change.
        solid: Boxes at least this wide and tall are whole objects, not fragments: two of them are
            merged only within ``solid_gap``, and a fragment between two of them joins the nearer one
            instead of bridging them (two people a few steps apart with a speck between them stay two
            changes). ``None``: every pair uses ``gap``.
        solid_gap: The distance used between two solid boxes.
        touching: Optional label per box: solid boxes merge when their labels are equal (their pixels
            lie within ``solid_gap`` of each other), instead of when their boxes do (two people side by
            side have overlapping boxes but do not touch).

    Returns:
        The merged boxes.
    """
    if solid is None:
        return [tuple(b) for b in _merge_within([list(b) for b in boxes], gap)]
    # The whole objects, merged among themselves, are the cores; each fragment joins the core nearest
    # to it (measured to the core itself, not to what other fragments already added to it, so fragments
    # never chain two objects together); fragments near no core group among themselves.
    if touching is None:
        cores = _merge_within([list(b) for b in boxes if min(b[2], b[3]) >= solid], solid_gap)
    else:
        by_label: dict[int, list[int]] = {}
        for b, label in zip(boxes, touching, strict=True):
            if min(b[2], b[3]) >= solid:
                by_label[label] = _union(by_label[label], b) if label in by_label else list(b)
        cores = list(by_label.values())
    grown = [list(c) for c in cores]
    loose = []
    for p in (b for b in boxes if min(b[2], b[3]) < solid):
        d, i = min(((_box_distance(p, c), i) for i, c in enumerate(cores)), default=(gap + 1, -1))
        if d <= gap:
            grown[i] = _union(grown[i], p)
        else:
            loose.append(list(p))
    return [tuple(b) for b in grown + _merge_within(loose, gap)]


def _box_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """The gap between two boxes along the axis where they are farther apart (0 when they overlap)."""
    dx = max(b[0] - (a[0] + a[2]), a[0] - (b[0] + b[2]), 0)
    dy = max(b[1] - (a[1] + a[3]), a[1] - (b[1] + b[3]), 0)
    return max(dx, dy)


def _union(a: Sequence[int], b: Sequence[int]) -> list[int]:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return [x0, y0, x1 - x0, y1 - y0]


def _merge_within(out: list[list[int]], gap: int) -> list[list[int]]:
    """Merge boxes within ``gap`` of each other until none are (in place; returns the list)."""
    changed = True
    while changed and len(out) > 1:
        changed = False
        i = 0
        while i < len(out):
            j = i + 1
            while j < len(out):
                if _box_distance(out[i], out[j]) <= gap:
                    out[i] = _union(out[i], out[j])
                    del out[j]
                    changed = True
                else:
                    j += 1
            i += 1
    return out


def find_regions(
    mask: np.ndarray,
    strength: np.ndarray | None = None,
    *,
    min_area: int = 0,
    merge_gap: int = 0,
    solid: int | None = None,
    full_scale: float = 255.0,
) -> list[Region]:
    """Turn a binary mask into regions: connected components, merged when close, filtered by area.

    Args:
        mask: uint8 mask (non-zero = changed).
        strength: Optional difference map used for each region's score (mean inside the region's pixels).
        min_area: Regions with fewer changed pixels than this are dropped (after merging).
        merge_gap: Components closer than this many pixels are one change (fragments of one object).
        solid: Components at least this wide and tall are whole changes: two of them merge only within
            a quarter of ``merge_gap``.
        full_scale: The value of ``strength`` that means a maximal difference (score 1.0).

    Returns:
        Regions sorted by area, largest first.
    """
    # The outer contours give every blob's box (blobs inside another's hole lie within its box and merge
    # into it anyway) and cost a fraction of labelling the whole mask with statistics.
    contours = cv2.findContours(_as_u8(mask), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
    if not contours:
        return []
    boxes = [tuple(int(v) for v in cv2.boundingRect(c)) for c in contours]
    touching = None
    if merge_gap > 0 and solid is not None:
        # Whole objects are one change when their pixels touch (within a pixel or two): label the mask
        # grown by a pixel, and read each blob's label at one of its own pixels. Boxes would merge two
        # people walking past each other, whose boxes overlap while they do not.
        r = 1
        grown = cv2.dilate(_as_u8(mask), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        labels = cv2.connectedComponents(grown, connectivity=8)[1]
        touching = [int(labels[c[0, 0, 1], c[0, 0, 0]]) for c in contours]
    merged = merge_boxes(boxes, merge_gap, solid, merge_gap // 4, touching) if merge_gap > 0 else boxes
    regions = []
    for x, y, w, h in merged:
        sub = mask[y : y + h, x : x + w] > 0
        area = int(np.count_nonzero(sub))
        if area < max(min_area, 1):
            continue
        score = 1.0
        if strength is not None:
            score = float(np.mean(strength[y : y + h, x : x + w][sub])) / full_scale
        regions.append(Region(x, y, w, h, area, float(min(max(score, 0.0), 1.0))))
    regions.sort(key=lambda r: r.area, reverse=True)
    return regions


Box = tuple[int, int, int, int]

# The largest x + w (and y + h) a box may reach: past any frame framediff reads, and small enough that no
# size computed from it overflows (a settings file or a live-view request may hold any integer).
MAX_BOX_END = 1_000_000


def check_box(value: Any, what: str = "box") -> Box:
    """The one rule for every box framediff is given: four whole numbers, ``x, y >= 0``, ``w, h > 0``,
    ``x + w`` and ``y + h`` at most :data:`MAX_BOX_END`.

    Args:
        value: ``"x,y,w,h"`` (a command line's notation) or a sequence of four numbers (a settings file's
            ``[x, y, w, h]``, a Python tuple, numpy integers).
        what: What the box is, for the error message (``"ignore box"``, ``"zone 'door'"``).

    Returns:
        ``(x, y, w, h)``.

    Raises:
        OptionError: when it breaks the rule; the message shows the box in the notation it came in.
    """
    if isinstance(value, str):
        return parse_box(value, what)
    numbers = [_whole(v) for v in value] if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 4 else []
    if numbers and None not in numbers:
        box = _in_rule(*numbers)  # type: ignore[misc]
        if box is not None:
            return box
    raise OptionError(
        f"{what} {_shown(value)} is not [x, y, w, h]",
        f"give four integers, x,y >= 0 and w,h > 0, up to {MAX_BOX_END}",
    )


def parse_box(text: str, what: str = "box") -> Box:
    """Parse ``"x,y,w,h"`` into a box, by :func:`check_box`'s rule.

    Args:
        text: Four integers separated by commas.
        what: What the box is, for the error message.

    Returns:
        ``(x, y, w, h)``.

    Raises:
        OptionError: when the text is not four non-negative integers with positive width and height.
    """
    parts = str(text).replace(" ", "").split(",")
    try:
        values = [float(p) for p in parts]
        if len(values) != 4 or any(not v.is_integer() for v in values):  # also rejects nan and inf
            raise ValueError(text)
    except ValueError:
        raise OptionError(f"{what} {text!r} is not x,y,w,h", "give four integers, e.g. 10,20,100,50") from None
    box = _in_rule(*(int(v) for v in values))
    if box is None:
        raise OptionError(
            f"{what} {text!r} has a negative corner, an empty size or an end past {MAX_BOX_END}",
            "use x,y >= 0 and w,h > 0",
        )
    return box


def _in_rule(x: int, y: int, w: int, h: int) -> Box | None:
    """The box when it keeps the rule, else ``None``."""
    if x >= 0 and y >= 0 and w > 0 and h > 0 and max(x + w, y + h) <= MAX_BOX_END:
        return x, y, w, h
    return None


def _whole(value: Any) -> int | None:
    """``value`` as an int when it is a whole number (``3``, ``3.0``, a numpy integer), else ``None``.
    Never calls ``float()`` on an int, which overflows for a few hundred digits."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():  # False for nan and inf
        return int(value)
    return None


def _shown(value: Any, limit: int = 60) -> str:
    """A short repr for an error message, safe for any value a request can hold (deep nesting, huge
    integers, long strings)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int past str()'s digit limit, nesting past the stack
        return f"(a {type(value).__name__})"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def ignore_mask(
    size: tuple[int, int],
    mask: np.ndarray | None = None,
    boxes: Iterable[tuple[int, int, int, int]] = (),
) -> np.ndarray | None:
    """Combine an ignore picture and ignore boxes into one mask in source pixels (255 = ignore).

    Args:
        size: ``(width, height)`` of the frames the mask applies to.
        mask: Optional grey picture, white = ignore; resized to ``size`` if it differs.
        boxes: ``(x, y, w, h)`` boxes to ignore.

    Returns:
        The uint8 mask, or ``None`` when nothing is ignored.
    """
    boxes = list(boxes)
    if mask is None and not boxes:
        return None
    w, h = size
    out = np.zeros((h, w), np.uint8)
    if mask is not None:
        from .prepare import to_gray

        # Any depth (8/16-bit, float); an alpha channel is dropped, only the drawn colours count.
        mask = to_gray(mask[..., :3] if mask.ndim == 3 and mask.shape[2] == 4 else mask)
        if mask.shape[:2] != (h, w):
            mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
        out[mask > 127] = 255
    for x, y, bw, bh in boxes:
        out[y : y + bh, x : x + bw] = 255
    if not out.any() and mask is None:
        raise InputError("every ignore box lies outside the frame", f"the frame is {w}x{h}")
    return out
