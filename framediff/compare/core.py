"""Spot the difference between two images: ``compare(a, b) -> Comparison``.

The pipeline: load both images; answer at once when they are byte- or pixel-identical; register B onto A
when B was taken by hand (shifted, rotated, scaled); undo exposure, contrast and white-balance differences;
blur a little; take a colour difference that tolerates a residual sub-pixel misregistration; threshold it
above the pair's own noise floor; clean, merge and box the changed regions; map the boxes back to A's
pixels. Each step is a function of its own below; :func:`_compare_images` only chains them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..analysis.agreement import Agreement
from ..analysis.align import Alignment, choose_alignment, warp_to
from ..analysis.measure import phash
from ..analysis.prepare import flatten_alpha_like, resize_to, to_bgr8, tone_luts
from ..analysis.regions import Region, auto_threshold, check_box, clean_mask, find_regions, ignore_mask
from ..analysis.transform import colourfulness, tone_change
from ..errors import FramediffError, InputError
from ..workers import POOL, keep_freed_buffers
from .difference import change_map, channel_max, envelope_diff, global_scores, is_lossless, seeded_mask
from .inputs import Reduced, ignore_input, read_inputs, working_scale
from .options import CompareOptions, merged_options
from .result import Comparison

__all__ = ["compare", "compare_pairs"]

MIN_SIDE = 8  # below this there is no structure to compare (and SSIM's window does not fit)
MIN_OVERLAP = 0.05  # B covering less of A than this after alignment: nothing in common to compare
# A pair whose best alignment explains less than this share of the picture's structure shows different
# things. Unrelated photos explain 0-0.3, the same picture re-taken, copied or edited 0.55-1.
SAME_PICTURE_MIN = 0.4
# A change seen only at the coarse scale (a quarter of the working size) must span this many coarse
# pixels: averaging 4x4 pixels beats the noise down only for changes wide enough to average over, and a
# few coarse pixels are what JPEG's colour smear around coloured text gives.
COARSE_MIN_PIXELS = 8
# A lossless pair's smallest change is this many pixels (A's), against 0.03% of the area for noisy pairs.
LOSSLESS_MIN_AREA = 1


def compare(
    a: str | os.PathLike | np.ndarray,
    b: str | os.PathLike | np.ndarray | None = None,
    *,
    ignore: str | os.PathLike | np.ndarray | None = None,
    ignore_boxes: Any = (),
    options: CompareOptions | None = None,
    **kwargs: Any,
) -> Comparison:
    """Compare two images and box every region where they differ.

    Args:
        a: The reference image: a path or a numpy array (BGR, BGRA or grey; 8- or 16-bit).
        b: The other image; ``None`` with ``split=...`` when ``a`` holds both.
        ignore: Optional mask (path or array, same size as A; white = ignore).
        ignore_boxes: ``(x, y, w, h)`` boxes (or ``"x,y,w,h"`` strings) in A's pixels to ignore.
        options: A :class:`CompareOptions`; or give its fields as keyword arguments (strings accepted).
        **kwargs: Fields of :class:`CompareOptions`.

    Returns:
        A :class:`Comparison`.

    Raises:
        InputError: when an image cannot be read, or is too small to compare.
        OptionError: when an option is out of range.
    """
    opts = merged_options(options, kwargs)
    keep_freed_buffers()  # each pair allocates and frees tens of MB: reuse them, not fresh pages
    img_a, img_b, fast, reduced = _read_pair(a, b, opts)
    return _compare_images(img_a, img_b, fast, opts, ignore, ignore_boxes, reduced)


def _read_pair(a: Any, b: Any, opts: CompareOptions) -> tuple[np.ndarray, np.ndarray, str | None, Reduced | None]:
    """Both pictures as :func:`compare` and :func:`compare_pairs` analyse them: read (perhaps reduced),
    transparency flattened alike."""
    img_a, img_b, fast, reduced = read_inputs(a, b, opts)
    return flatten_alpha_like(img_a, img_b), flatten_alpha_like(img_b, img_a), fast, reduced


def compare_pairs(
    pairs: Iterable[tuple[Any, Any]],
    *,
    ignore: str | os.PathLike | np.ndarray | None = None,
    ignore_boxes: Any = (),
    options: CompareOptions | None = None,
    **kwargs: Any,
) -> Iterator[Comparison | FramediffError]:
    """Compare many pairs of images, reading the next pair while the current one is analysed.

    With two or more cores this hides most of the decoding time (for photos, decoding costs about as
    much as the analysis). At most one pair is read ahead, so memory stays bounded however many pairs
    there are.

    Args:
        pairs: ``(a, b)`` paths or arrays, as :func:`compare` takes them.
        ignore: Optional mask applied to every pair (see :func:`compare`).
        ignore_boxes: Boxes ignored in every pair.
        options: A :class:`CompareOptions`; or give its fields as keyword arguments.
        **kwargs: Fields of :class:`CompareOptions`.

    Yields:
        One :class:`Comparison` per pair, in order; a pair that cannot be compared (missing or corrupt
        file, too small) yields its :class:`~framediff.errors.FramediffError` instead, and the batch
        goes on.

    Raises:
        OptionError: when an option is out of range (before any pair is read).
    """
    opts = merged_options(options, kwargs)
    keep_freed_buffers()
    ign = ignore_input(ignore)
    it = iter(pairs)

    def submit() -> Future | None:
        nxt = next(it, None)
        return None if nxt is None else _AHEAD.submit(_read_pair, nxt[0], nxt[1], opts)

    pending = submit()
    while pending is not None:
        current, pending = pending, None
        try:
            img_a, img_b, fast, reduced = current.result()
        except FramediffError as e:
            pending = submit()
            yield e
            continue
        pending = submit()  # decode the next pair while this one is analysed
        try:
            result = _compare_images(img_a, img_b, fast, opts, ign, ignore_boxes, reduced)
        except FramediffError as e:
            yield e
            continue
        yield result


_AHEAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="framediff-ahead")


def _compare_images(
    img_a: np.ndarray,
    img_b: np.ndarray,
    fast: str | None,
    opts: CompareOptions,
    ignore: Any,
    ignore_boxes: Any,
    reduced: Reduced | None = None,
) -> Comparison:
    """The analysis of :func:`compare`, once both images are in memory (perhaps decoded reduced)."""
    size_a = reduced.size_a if reduced else (img_a.shape[1], img_a.shape[0])
    size_b = reduced.size_b if reduced else (img_b.shape[1], img_b.shape[0])
    _check_sizes(size_a, size_b)
    boxes = [check_box(x, "ignore box") for x in (ignore_boxes or ())]
    ign = ignore_mask(size_a, ignore_input(ignore), boxes)
    fast = fast or _pixel_identical(img_a, img_b, reduced)
    if fast:
        return Comparison(
            True, [], 1.0, 0.0, float("inf"), 0.0, 0, size_a, size_b, Alignment(), 0.0, opts.method, 1.0, fast,
            relation="identical",
        )

    pair = _working_pair(img_a, img_b, reduced, size_a, size_b, opts)
    alignment, agreed, valid = _register(pair, opts, ign)
    covered = float(np.count_nonzero(valid)) / valid.size
    if covered < MIN_OVERLAP or agreed.explained < SAME_PICTURE_MIN:
        # Nothing in common: different pictures. No local change search, which would only measure noise.
        return _different(pair, valid, agreed, alignment, opts, covered)
    floor_valid = _agreeing_area(agreed, valid, pair.work_size)
    tone = _match_tones(pair, floor_valid)
    ya, yb = cv2.cvtColor(pair.wa, cv2.COLOR_BGR2YCrCb), cv2.cvtColor(pair.wb, cv2.COLOR_BGR2YCrCb)
    # The global scores need nothing from the region search: compute them on the other core meanwhile.
    scores = POOL.submit(global_scores, ya[..., 0].copy(), yb[..., 0].copy(), valid.copy())
    learn = floor_valid if floor_valid is not valid else None
    lossless = is_lossless(ya[..., 0], yb[..., 0], floor_valid)
    tolerance = opts.tolerance if opts.tolerance is not None else (0 if lossless and not alignment.warped else 1)
    diff = change_map(ya, yb, opts, learn, tolerance)
    diff[valid == 0] = 0
    threshold = opts.threshold if opts.threshold is not None else auto_threshold(diff, floor_valid)
    mask = _change_mask(ya, yb, diff, threshold, opts, lossless, learn, valid, floor_valid)
    regions = _regions(mask, diff, opts, pair, lossless)

    # Global scores over the area both images cover.
    s, m, p = scores.result()
    changed = float(np.count_nonzero(mask)) / max(1, int(np.count_nonzero(valid)))
    return Comparison(
        identical=not regions,
        relation="changed" if regions else "same",
        explained=agreed.explained,
        tone=tone,
        regions=regions,
        ssim=s,
        mse=m,
        psnr=p,
        changed_fraction=changed,
        hash_distance=pair.hash_distance,
        size_a=size_a,
        size_b=size_b,
        alignment=alignment,
        threshold=float(threshold),
        method=opts.method,
        overlap=covered,
        image_a=pair.bgr_a if pair.ka == 1 else None,  # reduced pictures are no good for drawing: callers re-read
        image_b=pair.bgr_b if pair.kb == 1 else None,
        diff=diff,
        mask=mask,
        valid=valid,
        scale=pair.scale,
    )


def _check_sizes(size_a: tuple[int, int], size_b: tuple[int, int]) -> None:
    """Refuse a picture too small to hold any structure."""
    for name, (w, h) in (("A", size_a), ("B", size_b)):
        if min(w, h) < MIN_SIDE:
            raise InputError(
                f"image {name} is {w}x{h} pixels, too small to compare",
                f"give images at least {MIN_SIDE}x{MIN_SIDE}",
            )


def _pixel_identical(img_a: np.ndarray, img_b: np.ndarray, reduced: Reduced | None) -> str | None:
    """``"pixels"`` when both pictures hold the same pixels (then no analysis is needed)."""
    if (
        reduced is None  # equal reduced pixels do not prove equal full-size pixels
        and img_a.shape == img_b.shape
        and img_a.dtype == img_b.dtype
        and np.array_equal(img_a, img_b)
    ):
        return "pixels"
    return None


@dataclass
class _Pair:
    """Both pictures as 8-bit BGR (``bgr_*``, for drawing) and at the working resolution (``wa``, ``wb``;
    ``wb`` is warped onto ``wa`` and ``wa`` tone-matched to ``wb`` as the analysis goes on)."""

    bgr_a: np.ndarray
    bgr_b: np.ndarray
    wa: np.ndarray
    wb: np.ndarray
    scale: float
    ka: int
    kb: int
    size_a: tuple[int, int]
    size_b: tuple[int, int]
    hash_distance: int

    @property
    def work_size(self) -> tuple[int, int]:
        """``(width, height)`` of the working images (A's)."""
        return (self.wa.shape[1], self.wa.shape[0])


def _working_pair(
    img_a: np.ndarray,
    img_b: np.ndarray,
    reduced: Reduced | None,
    size_a: tuple[int, int],
    size_b: tuple[int, int],
    opts: CompareOptions,
) -> _Pair:
    """Both pictures at the working resolution, and the distance of their perceptual hashes."""
    bgr_a, bgr_b = to_bgr8(img_a), to_bgr8(img_b)
    scale = working_scale(size_a, opts.analysis_size)
    ka, kb = (reduced.ka, reduced.kb) if reduced else (1, 1)
    wa, wb = resize_to(bgr_a, scale * ka, fast=True), resize_to(bgr_b, scale * kb, fast=True)
    hd = phash(wa) - phash(wb)  # of the pictures as given, before any alignment or correction
    return _Pair(bgr_a, bgr_b, wa, wb, scale, ka, kb, size_a, size_b, hd)


def _register(
    pair: _Pair, opts: CompareOptions, ign: np.ndarray | None
) -> tuple[Alignment, Agreement, np.ndarray]:
    """Register B onto A (``pair.wb`` becomes the warped B); returns the alignment (in full-resolution
    pixels), the global agreement and the mask of the working pixels both pictures cover."""
    ga, gb = cv2.cvtColor(pair.wa, cv2.COLOR_BGR2GRAY), cv2.cvtColor(pair.wb, cv2.COLOR_BGR2GRAY)
    alignment, agreed = choose_alignment(ga, gb, opts.align)
    pair.wb, valid = warp_to(pair.wb, alignment, pair.work_size)
    _shave_shift_border(valid, alignment)
    scale = pair.scale
    if alignment.warped and scale != 1.0:
        # Report the fit in full-resolution pixels: B's pixels -> A's pixels.
        s_mat = np.diag([scale, scale, 1.0])
        alignment.matrix = np.linalg.inv(s_mat) @ alignment.matrix @ s_mat
        alignment.shift = (alignment.shift[0] / scale, alignment.shift[1] / scale)
    if ign is not None:
        valid[cv2.resize(ign, pair.work_size, interpolation=cv2.INTER_AREA) > 127] = 0
    return alignment, agreed, valid


def _agreeing_area(agreed: Agreement, valid: np.ndarray, work_size: tuple[int, int]) -> np.ndarray:
    """Where A and B agree, seen from the global evidence: the noise floor is measured there only (all of
    ``valid`` when that area is too small to measure anything)."""
    if agreed.mask is None:
        return valid
    agree_mask = cv2.resize(agreed.mask, work_size, interpolation=cv2.INTER_NEAREST)
    fv = cv2.min(valid, agree_mask)
    if np.count_nonzero(fv) >= 0.1 * max(1, np.count_nonzero(valid)):
        return fv
    return valid


def _match_tones(pair: _Pair, floor_valid: np.ndarray) -> dict[str, Any]:
    """Give A the tones of B, channel by channel (exposure, contrast and white balance are not changes);
    returns what changed in the light, for :meth:`Comparison.transform`."""
    given_a = pair.wa
    ca, cb = colourfulness(pair.wa, floor_valid), colourfulness(pair.wb, floor_valid)
    if min(ca, cb) < 1.5 and max(ca, cb) > 4.0:
        # One picture is grey: tone tables per channel cannot turn colours into their grey (a weighted sum
        # of the channels), so the colour one is compared by its grey, as the grey one was made from it.
        if cb < ca:
            pair.wa = cv2.cvtColor(cv2.cvtColor(pair.wa, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        else:
            pair.wb = cv2.cvtColor(cv2.cvtColor(pair.wb, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    luts = tone_luts(pair.wa, pair.wb, floor_valid)
    tone = tone_change(given_a, pair.wb, luts, floor_valid)
    if any(lut is not None for lut in luts):
        wa = pair.wa
        pair.wa = cv2.merge(
            [cv2.LUT(wa[..., c], lut) if lut is not None else wa[..., c] for c, lut in enumerate(luts)]
        )
    return tone


def _change_mask(
    ya: np.ndarray,
    yb: np.ndarray,
    diff: np.ndarray,
    threshold: float,
    opts: CompareOptions,
    lossless: bool,
    learn: np.ndarray | None,
    valid: np.ndarray,
    floor_valid: np.ndarray,
) -> np.ndarray:
    """The 0/255 mask of changed working pixels: the change map above ``threshold`` (with a core above
    twice that), and, when the threshold is automatic, the faint wide changes only a coarser scale shows."""
    # A lossless pair (a screenshot, a rendered page, an exact copy with an edit) has no noise to hide
    # in: a change of a few pixels is then as certain as a large one, and is kept.
    mask = seeded_mask(diff, threshold, min_pixels=1 if lossless else 6)
    if opts.method == "absdiff" and opts.threshold is None:
        mask = cv2.max(mask, _coarse_mask(ya, yb, diff, learn, valid, floor_valid))
    mask[valid == 0] = 0
    return clean_mask(mask, open_px=0, close_px=2)


def _coarse_mask(
    ya: np.ndarray,
    yb: np.ndarray,
    diff: np.ndarray,
    learn: np.ndarray | None,
    valid: np.ndarray,
    floor_valid: np.ndarray,
) -> np.ndarray:
    """Faint but wide changes (a patch of sky swapped for another) hide under the pixel noise; at a coarser
    scale the noise averages out while they stay: look there too, with that scale's floor."""
    ca, cb = resize_to(ya, 0.25, fast=True), resize_to(yb, 0.25, fast=True)
    # Two coarse views: the fine map averaged (texture lost or gained), and the averaged images
    # compared (a shift of tone too faint for any single pixel).
    coarse = cv2.max(
        resize_to(diff, 0.25, fast=True),
        channel_max(envelope_diff(ca, cb, 1, activity=0.25, learn=learn)),
    )
    csize = (coarse.shape[1], coarse.shape[0])
    cvalid = cv2.resize(floor_valid, csize, interpolation=cv2.INTER_NEAREST)
    cthr = auto_threshold(coarse, cvalid, minimum=3.0)
    # A coarse pixel next to the uncovered area mixes it in: only wholly covered ones count.
    inside = cv2.erode(cv2.resize(valid, csize, interpolation=cv2.INTER_NEAREST), np.ones((3, 3), np.uint8))
    cmask = cv2.min(seeded_mask(coarse, cthr, min_pixels=COARSE_MIN_PIXELS), inside)
    return cv2.resize(cmask, (diff.shape[1], diff.shape[0]), interpolation=cv2.INTER_NEAREST)


def _regions(mask: np.ndarray, diff: np.ndarray, opts: CompareOptions, pair: _Pair, lossless: bool) -> list[Region]:
    """The changed regions of ``mask``, merged and filtered, in A's pixels, largest first."""
    scale, size_a = pair.scale, pair.size_a
    diag = float(np.hypot(*pair.work_size))
    merge_gap = opts.merge_gap * scale if opts.merge_gap is not None else 0.025 * diag
    area_a = size_a[0] * size_a[1]
    if opts.min_area is not None:
        min_area = opts.min_area
    else:
        min_area = LOSSLESS_MIN_AREA if lossless else max(16, int(3e-4 * area_a))
    # Fragments (smaller than the merge gap) join their neighbours; two regions that are each at least
    # that big are separate changes unless they nearly touch.
    gap = int(round(merge_gap))
    regions = find_regions(
        mask, diff, min_area=max(1, int(round(min_area * scale * scale))), merge_gap=gap, solid=gap
    )
    # Faint regions (mean difference under min_contrast levels) are retouching nobody would see.
    scored = [r for r in regions if r.score * 255.0 >= opts.min_contrast]
    return [r.scaled(1.0 / scale, size_a) for r in scored]


def _shave_shift_border(valid: np.ndarray, alignment: Alignment) -> None:
    """Leave out a frame as wide as a small shift along the picture's border.

    A picture shifted by a pixel or two gets its new border strip from somewhere (padding, a mirrored
    edge, a wider sensor crop): a strip that no comparison can call a change.
    """
    if not alignment.warped or alignment.mirrored:
        return
    move = max(abs(alignment.shift[0]), abs(alignment.shift[1]))
    if move > 4.0:
        return
    n = int(np.ceil(move)) + 1
    valid[:n], valid[-n:], valid[:, :n], valid[:, -n:] = 0, 0, 0, 0


def _different(
    pair: _Pair, valid: np.ndarray, agreed: Agreement, alignment: Alignment, opts: CompareOptions, covered: float
) -> Comparison:
    """The answer for two pictures with nothing in common: every compared pixel counts as changed."""
    ga, gb = cv2.cvtColor(pair.wa, cv2.COLOR_BGR2GRAY), cv2.cvtColor(pair.wb, cv2.COLOR_BGR2GRAY)
    if not np.count_nonzero(valid):
        valid = np.full(ga.shape, 255, np.uint8)  # no overlap at all: score the pictures as they lie
        gb = cv2.resize(gb, (ga.shape[1], ga.shape[0]), interpolation=cv2.INTER_AREA) if gb.shape != ga.shape else gb
    s, m, p = global_scores(ga, gb, valid)
    return Comparison(
        identical=False,
        relation="different",
        explained=agreed.explained,
        regions=[],
        ssim=s,
        mse=m,
        psnr=p,
        changed_fraction=1.0 - agreed.explained if covered >= MIN_OVERLAP else 1.0,
        hash_distance=pair.hash_distance,
        size_a=pair.size_a,
        size_b=pair.size_b,
        alignment=alignment,
        threshold=float("nan"),
        method=opts.method,
        overlap=covered,
        image_a=None,
        image_b=None,
        scale=pair.scale,
    )
