"""The watch detector's pure steps on analysis images (float32 grey): the background's start-up, the light's
tone curve, shadows, ghosts, moved background, and the joining of fragments into regions.

Functions of arrays and :class:`~framediff.analysis.regions.Region` lists only; the state lives in
:class:`~framediff.watch.detector.ChangeDetector` (and :class:`Bootstrap`, which it owns).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from ..analysis.regions import Region

__all__ = [
    "Bootstrap",
    "box_iou",
    "grad",
    "group_changes",
    "is_ghost",
    "median",
    "merge_fragments",
    "motion_of",
    "merge_overlapping",
    "moved_background",
    "percentile",
    "same_texture",
    "shadow_like",
    "structure_kept",
    "thin",
    "tighten",
    "tone_map",
    "touching",
    "worth_a_box",
]


class Bootstrap:
    """The background's start: learnt from what stays steady in the first frames, not from frame 0.

    Frame 0 is only a first guess: people walking through it would leave "ghosts" where they stood, and
    their dark clothes would bias the light model of the darkest levels (boxes on dark windows). So for
    the first 1.5 s each pixel is *unknown* (neither reported nor learnt from) until it has been steady
    for 0.2 s (at least two frames); it then takes that steady value as its background. "Steady" is
    judged on moving things, not only on pixels: the inside of a plainly coloured object hardly changes
    from frame to frame, so the box of a blob of motion (grown by 2 px) is not steady. Pixels still
    unknown at the end (leaves, a flapping tape, a stream of traffic) take the temporal median of frames
    spread over the bootstrap, and again at 4 s the median of frames spread over those 4 s: a bus that
    passed in front of a swaying tree for most of the first 1.5 s left a ghost there, and over 4 s it is a
    minority.

    An object that enters after its pixels became known (from 0.2 s on) is reported as usual; one that is
    already there and stays is background, as it would be from frame 0.
    """

    @staticmethod
    def settle_frames(fps: float) -> int:
        """Frames a pixel must stay steady to be known: 0.2 s, at least 2 (one frame proves nothing)."""
        return int(max(2, round(0.2 * fps)))

    def __init__(self, first: np.ndarray, fps: float) -> None:
        self.frames = 1
        self.length = int(min(max(round(1.5 * fps), 8), 90))
        self.longer = int(min(max(round(4.0 * fps), 2 * self.length), 240))
        self.settle = self.settle_frames(fps)
        self.steady = np.zeros(first.shape, np.uint8)
        self.known = np.zeros(first.shape, bool)
        # A few frames spread over the bootstrap, for the median of the pixels never steady.
        self.every = max(1, self.length // 12)
        self.kept = [first]
        # After the bootstrap: the pixels that took the median, and their values in frames spread over
        # the longer span (only those pixels are kept: a few kilobytes a frame).
        self.late: np.ndarray | None = None
        self.late_kept: list[np.ndarray] = []
        self.late_every = max(1, (self.longer - self.length) // 12)
        self.done = False  # every pixel known and, for those that took the median, the longer one taken
        # Set with the median: the squared spread of the never-steady pixels about it (0 elsewhere), for
        # the detector's per-pixel threshold; the detector takes it once and clears it.
        self.spread: np.ndarray | None = None

    def observe(self, cur: np.ndarray, prev: np.ndarray, samp: np.ndarray) -> None:
        """Count, per pixel, the frames it has been steady, up to this one.

        Args:
            cur: The frame at analysis size.
            prev: The previous frame.
            samp: Flat indices of the sample grid (for the frame-to-frame noise).
        """
        self.frames += 1
        if self.late is not None:
            # Only the never-steady pixels' values, for their longer median.
            if self.frames % self.late_every == 0:
                self.late_kept.append(cur[self.late])
            return
        step = cur - prev
        # Frame-to-frame noise (MAD of the difference of two noisy frames, so sqrt(2) sigma).
        sigma = 1.4826 * median(np.abs(step.take(samp))) if samp.size else 1.0
        motion = (np.abs(step) > max(4.0, 3.0 * sigma)).view(np.uint8)
        motion = cv2.morphologyEx(motion, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
        moving = np.zeros(cur.shape, np.uint8)
        if motion.any():
            # Blobs of motion joined across a few pixels (a walker's outline is one blob), each box grown
            # by 2 px: the steady-looking inside of a moving object is not background.
            n, _, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(motion, np.ones((5, 5), np.uint8)))
            hh, ww = cur.shape
            for x, y, w, h, area in stats[1:]:
                if area < 8:
                    continue
                moving[max(0, y - 2) : min(hh, y + h + 2), max(0, x - 2) : min(ww, x + w + 2)] = 1
        self.steady += 1
        np.multiply(self.steady, 1 - moving, out=self.steady)
        np.minimum(self.steady, 250, out=self.steady)
        if self.frames % self.every == 0:
            self.kept.append(cur)

    def learn(self, ref: np.ndarray, cur: np.ndarray, gain: float) -> np.ndarray | None:
        """Set the newly steady pixels of ``ref`` from ``cur``, brought to the background's exposure.

        Args:
            ref: The background, updated in place.
            cur: The frame at analysis size.
            gain: This frame's light relative to the background (measured on the known pixels).

        Returns:
            The pixels still unknown, or ``None`` once every pixel is known (see :attr:`done` for the end).
        """
        if self.late is not None:
            if self.frames >= self.longer:
                # The longer median, for the pixels that took the short one.
                ref[self.late] = np.median(np.vstack(self.late_kept), axis=0).astype(np.float32)
                self.late_kept = []
                self.done = True
            return None
        new = (self.steady >= self.settle) & ~self.known
        if new.any():
            # Exposure flickers while a camera settles: a patch learnt at a brighter frame than its
            # neighbours would stand out as a change on the next darker frame.
            np.copyto(ref, cur * np.float32(1.0 / gain), where=new)
            self.known |= new
        if self.frames < self.length and not self.known.all():
            return ~self.known
        unknown = ~self.known
        if unknown.any():
            stack = np.stack(self.kept)
            med = np.median(stack, axis=0).astype(np.float32)
            np.copyto(ref, med, where=unknown)
            # How much those pixels wander about their median (leaves sway, a tape flaps): their threshold
            # starts from it, instead of from the noise of still pixels until they have learnt their own.
            spread = 1.4826 * np.median(np.abs(stack[:, unknown] - med[unknown]), axis=0)
            self.spread = np.zeros(unknown.shape, np.float32)
            self.spread[unknown] = spread * spread
            self.late = unknown
            # The bootstrap's frames count in the longer median too (four of them, spread).
            self.late_kept = list(stack[:: max(1, len(self.kept) // 4), unknown])
        else:
            self.done = True
        self.kept = []
        return None


def median(x: np.ndarray) -> float:
    """``np.median`` of a 1-D array, without its generic machinery: one partition (called per frame)."""
    n = x.size
    k = n // 2
    if n % 2:
        return float(np.partition(x, k)[k])
    p = np.partition(x, (k - 1, k))
    return 0.5 * (float(p[k - 1]) + float(p[k]))


def percentile(x: np.ndarray, q: float) -> int:
    """``int(np.percentile(x, q))`` (linear interpolation) of a non-negative 1-D array, by one partition."""
    pos = q / 100.0 * (x.size - 1)
    i = int(pos)
    if i + 1 >= x.size:
        return int(np.partition(x, i)[i])
    p = np.partition(x, (i, i + 1))
    return int(float(p[i]) + (pos - i) * (float(p[i + 1]) - float(p[i])))


def grad(image: np.ndarray) -> np.ndarray:
    """Gradient magnitude (L1 of Sobel x and y): where the edges are."""
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.add(cv2.absdiff(gx, 0), cv2.absdiff(gy, 0))


def tone_map(ref: np.ndarray, rs: np.ndarray, cs: np.ndarray, bands: int = 16) -> np.ndarray:
    """Predict the current frame from the reference through a tone curve fitted on samples.

    Args:
        ref: The reference image (float32, 0..255).
        rs: Reference levels at the sample pixels.
        cs: Current levels at the same pixels.
        bands: Number of bands of reference levels.

    Returns:
        The predicted frame, float32. Each band's shift is the median of its samples (robust to an
        object covering part of the band), read from a histogram of half-level bins; bands with too few
        samples borrow from their neighbours.
    """
    if rs.size < 50:
        return ref.copy()
    band = np.minimum((rs * (bands / 256.0)).astype(np.int32), bands - 1)
    nb = 257  # half-level bins over -64..+64: light changes beyond that are re-learned, not fitted
    shift = np.clip(np.rint((cs - rs) * 2.0) + 128, 0, nb - 1).astype(np.int32)
    hist = np.bincount(band * nb + shift, minlength=bands * nb).reshape(bands, nb)
    counts = hist.sum(axis=1)
    ok = counts >= 20
    if not ok.any():
        return np.clip(ref + float(np.median(cs - rs)), 0, 255)
    cum = np.cumsum(hist[ok], axis=1)
    med = ((cum >= (counts[ok] / 2.0)[:, None]).argmax(axis=1) - 128) / 2.0
    centres = (np.bincount(band, weights=rs, minlength=bands)[ok] / counts[ok]).astype(np.float32)
    # The curve is smooth: tabulate it at the 256 whole levels and look it up (much faster than
    # interpolating every pixel).
    lut = np.interp(np.arange(256, dtype=np.float32), centres, med).astype(np.float32)
    corr = cv2.LUT(ref.astype(np.uint8), lut.reshape(1, 256))
    out = cv2.add(ref, corr)
    # Clipped to 0..255 with OpenCV: the same values as np.clip at half its cost.
    return cv2.min(cv2.max(out, 0, dst=out), 255, dst=out)


def same_texture(cur: np.ndarray, pred: np.ndarray, sub: np.ndarray) -> bool:
    """Whether a still change is the background's own texture, only lit differently (a shade, a glare).

    Args:
        cur: The current frame around the change.
        pred: The predicted background around it.
        sub: The change's pixels.

    Returns:
        True when the background is textured there and the frame shows the same texture.
    """
    a, b = cur[sub], pred[sub]
    if a.size < 16 or float(b.std()) < 3.0 or float(a.std()) < 1e-3:
        return False  # a flat background cannot tell an object from a shade: keep it as a change
    return float(np.corrcoef(a, b)[0, 1]) > 0.9


def is_ghost(mask: np.ndarray, cur: np.ndarray, pred: np.ndarray) -> bool:
    """Whether a still change is a ghost: its outline is an edge of the background, not of the frame.

    Across a real object's outline the current frame jumps (object inside, background outside) while the
    background is continuous; across a ghost's outline (the background still shows something that has
    gone) it is the other way round. The contrast is measured between local means just inside and just
    outside the outline, so a textured background averages out.

    Args:
        mask: The change's mask around it (non-zero = changed), with a margin of unchanged pixels.
        cur: The current frame, same crop.
        pred: The predicted background, same crop.

    Returns:
        True for a ghost.
    """
    m = (mask > 0).astype(np.uint8)
    k = np.ones((5, 5), np.uint8)
    inner = (m - cv2.erode(m, k)).astype(np.float32)
    outer = (cv2.dilate(m, k) - m).astype(np.float32)
    edge = (cv2.dilate(m, np.ones((3, 3), np.uint8)) - m) > 0
    if np.count_nonzero(edge) < 8:
        return False
    win = (7, 7)
    wi = cv2.blur(inner, win) + 1e-6
    wo = cv2.blur(outer, win) + 1e-6

    def contrast(img: np.ndarray) -> float:
        mi = cv2.blur(img * inner, win) / wi
        mo = cv2.blur(img * outer, win) / wo
        return float(np.mean(np.abs(mi - mo)[edge]))

    c_cur, c_pred = contrast(cur), contrast(pred)
    return c_pred > 1.5 * c_cur + 1.0


def shadow_like(cur: np.ndarray, pred: np.ndarray, diff: np.ndarray, cand: np.ndarray) -> np.ndarray | None:
    """Which candidate pixels look like a cast shadow on the background.

    A shadow darkens the surface by a moderate factor and keeps its texture: locally the frame is the
    background times a constant, so the two correlate. On a plain surface (no texture to compare) a
    moderate darkening is taken for a shadow; dark objects (most people's clothes on pavement) darken much
    more than that and stay changes.

    Args:
        cur: The current frame (float32).
        pred: The predicted background.
        diff: ``cur - pred``.
        cand: The pixels to test (boolean); the statistics are computed only around them.

    Returns:
        A boolean mask of the shadow-like candidates, or ``None`` when there are none.
    """
    dark = (diff < -4.0) & cand
    rows = dark.any(axis=1)
    if not rows.any():
        return None
    ys, xs = np.flatnonzero(rows), np.flatnonzero(dark.any(axis=0))
    # Only the rows and columns that hold candidates (with a margin for the window) need the statistics.
    y0, y1 = max(0, ys[0] - 3), min(dark.shape[0], ys[-1] + 4)
    x0, x1 = max(0, xs[0] - 3), min(dark.shape[1], xs[-1] + 4)
    out = np.zeros_like(dark)
    cur, pred, dark = cur[y0:y1, x0:x1], pred[y0:y1, x0:x1], dark[y0:y1, x0:x1]
    dark &= cur / np.maximum(pred, 1.0) > 0.55
    win = (5, 5)
    mc, mp = cv2.blur(cur, win), cv2.blur(pred, win)
    vc = cv2.blur(cur * cur, win) - mc * mc
    vp = cv2.blur(pred * pred, win) - mp * mp
    cov = cv2.blur(cur * pred, win) - mc * mp
    plain = vp < 4.0  # background std under 2 grey levels
    ncc = cov / np.sqrt(np.maximum(vc * vp, 1e-6))
    out[y0:y1, x0:x1] = dark & (plain | (ncc > 0.8))
    return out


def moved_background(cur: np.ndarray, pred: np.ndarray, mask: np.ndarray, lo, box: tuple) -> bool:
    """Whether a change is the background itself moved by a pixel or two: swaying leaves, a flag, a pole.

    Foliage in the wind never settles, so no per-pixel threshold learnt from its past is safe against the
    next gust; but what it shows is still the background's own texture, displaced. Each changed pixel is
    compared with the background around it: the smallest mean difference of its 3 x 3 neighbourhood to
    the background shifted by up to 2 px (analysis pixels) each way. Where that is within the pixel's low
    threshold, the background shifted explains the pixel. A change with half or more of its pixels
    explained so is moved background. An object (a car on the road, a person on the grass) is a texture
    of its own that no small shift of the background reproduces; the 3 x 3 mean keeps an object whose
    level matches a nearby background pixel from passing one pixel at a time.

    Args:
        cur: The frame at analysis size.
        pred: The background as predicted for this frame (the light model applied).
        mask: The changed pixels (non-zero).
        lo: The low (hysteresis) threshold, per pixel or one value.
        box: The change's ``(x, y, w, h)`` at analysis size.

    Returns:
        True when the change is the background moved.
    """
    x, y, w, h = box
    r = 2
    ah, aw = cur.shape
    x0, y0, x1, y1 = max(0, x - r), max(0, y - r), min(aw, x + w + r), min(ah, y + h + r)
    c = cur[y0:y1, x0:x1]
    p = pred[y0:y1, x0:x1]
    sub = mask[y0:y1, x0:x1] > 0
    if not sub.any():
        return False
    lo_c = lo[y0:y1, x0:x1] if np.ndim(lo) == 2 else lo
    hh, ww = c.shape
    pp = cv2.copyMakeBorder(p, r, r, r, r, cv2.BORDER_REPLICATE)
    k = 2 * r + 1
    # Every shift at once: a (k*k, h, w) view of the padded background, one difference, one blur of the
    # stack (as one tall image: the blur mixes neighbouring shifts only in each one's first and last row,
    # the margin unless the change touches the frame's edge), one minimum. A loop over the 25 shifts cost
    # twice as much (call overhead on small crops).
    shifted = np.lib.stride_tricks.sliding_window_view(pp, (hh, ww)).reshape(k * k, hh, ww)
    d = np.abs(shifted - c).reshape(k * k * hh, ww)
    best = cv2.blur(d, (3, 3)).reshape(k * k, hh, ww).min(axis=0)
    explained = np.count_nonzero((best <= lo_c) & sub)
    return explained >= 0.5 * np.count_nonzero(sub)


def tighten(absd: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """A change's box with the blur's halo taken off: each edge moved in to where the difference reaches
    half the change's strength (the 90th percentile of its pixels), by at most 2 px.

    The analysis blur and the shrinking spread a change by about 2 analysis pixels each way, and the low
    threshold keeps that spread: a far car 4 px tall gets a box twice its height. An edge blurred by a
    symmetric kernel crosses half its contrast where the edge really is. Only small boxes are tightened
    (the caller's choice): on a large one the halo hardly matters, and a low-contrast part (legs on grey
    pavement) could be cut off.
    """
    x, y, w, h = box
    a = absd[y : y + h, x : x + w]
    sub = mask[y : y + h, x : x + w] > 0
    v = a[sub]
    if v.size < 4:
        return box
    core = sub & (a >= 0.5 * float(np.percentile(v, 90)))
    rows, cols = np.flatnonzero(core.any(axis=1)), np.flatnonzero(core.any(axis=0))
    if not rows.size:
        return box
    top, bottom = min(int(rows[0]), 2), min(h - 1 - int(rows[-1]), 2)
    left, right = min(int(cols[0]), 2), min(w - 1 - int(cols[-1]), 2)
    return x + left, y + top, w - left - right, h - top - bottom


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two boxes given as ``(x0, y0, x1, y1)`` corners."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def touching(a: Region, b: Region) -> bool:
    """Whether two boxes overlap or touch."""
    return a.x <= b.x + b.w and b.x <= a.x + a.w and a.y <= b.y + b.h and b.y <= a.y + a.h


def thin(sub: np.ndarray, length: int) -> bool:
    """Whether a change's pixels form a thin line: a band at most 4 px wide, 4 times as long as thick.

    The thickness is twice the largest distance from a changed pixel to the outside (the widest
    inscribed circle; a band 4 px wide measures 3.8, one 5 px wide 5.7), so a line crossing the box
    diagonally is thin although its box is not. A far car or person worth a box is at least 5 px thick at
    analysis size (13 px in a 1280 px frame), so only tapes, wires and shimmering edges are dropped.
    """
    dist = cv2.distanceTransform(np.pad((sub > 0).view(np.uint8), 1), cv2.DIST_L2, 3)
    thick = 2.0 * float(dist.max())
    return thick <= 5.0 and length >= 4.0 * thick


def motion_of(
    cur: np.ndarray, prev: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int], reach: int = 16
) -> tuple[float, float] | None:
    """How far a change moved since the previous frame: the shift of its changed pixels that matches the
    previous frame best (sum of squared differences over those pixels, within ``reach`` px each way).

    Args:
        cur: The frame at analysis size.
        prev: The previous frame, same size.
        mask: The changed pixels (non-zero).
        box: The change's ``(x, y, w, h)`` at analysis size.
        reach: The largest shift looked for, analysis pixels.

    Returns:
        ``(dx, dy)`` from the previous frame to this one, or ``None`` when there is too little to match
        (fewer than 8 changed pixels).
    """
    x, y, w, h = box
    m = (mask[y : y + h, x : x + w] > 0).astype(np.uint8)
    if w < 2 or h < 2 or np.count_nonzero(m) < 8:
        return None
    ah, aw = prev.shape
    x0, y0, x1, y1 = max(0, x - reach), max(0, y - reach), min(aw, x + w + reach), min(ah, y + h + reach)
    res = cv2.matchTemplate(
        np.ascontiguousarray(prev[y0:y1, x0:x1]), np.ascontiguousarray(cur[y : y + h, x : x + w]),
        cv2.TM_SQDIFF, mask=m,
    )  # fmt: skip
    _, _, (bx, by), _ = cv2.minMaxLoc(np.nan_to_num(res, nan=np.inf, posinf=np.inf))
    return float(x - (x0 + bx)), float(y - (y0 + by))


def merge_fragments(
    regions: list[Region], coherent: Callable[[Region, Region], bool] | None = None
) -> list[Region]:
    """Join a fragment to the object it broke off: a small piece just below, above or beside a box.

    Parts of one object come apart where it looks like the background (jeans on grey pavement split a
    walker's legs from the body; a pole or a sign cuts a person or a car in two). A piece is a fragment
    of a box when it holds at most 30% of the box's changed pixels, is at most half as tall (below or
    above; half as wide beside), lies along it (60% of its width, or height, within the box's) and the
    gap is at most a quarter of the box's height (or width). It joins the nearest such box, once: two
    people or two cars side by side are of similar size and stay apart, and joins do not chain.

    ``coherent(fragment, box)`` (when given) must also hold for a piece above or beside: parts of one
    object move together, while a far car above a near bus, or a car passing a walker, moves its own way.
    """
    order = sorted(range(len(regions)), key=lambda k: regions[k].area)
    boxes = list(regions)
    taken: set[int] = set()  # fragments joined to a box
    grown: set[int] = set()  # boxes that took a fragment (not fragments themselves any more)
    for j in order:
        f = regions[j]
        best, best_gap = -1, 1e9
        for i, big in enumerate(regions):
            if i == j or i in taken or f.area > 0.3 * big.area:
                continue
            ox = min(f.x + f.w, big.x + big.w) - max(f.x, big.x)
            oy = min(f.y + f.h, big.y + big.h) - max(f.y, big.y)
            gap_y = max(f.y - (big.y + big.h), big.y - (f.y + f.h))
            gap_x = max(f.x - (big.x + big.w), big.x - (f.x + f.w))
            below = False
            if ox >= 0.6 * f.w and f.h <= 0.5 * big.h and gap_y <= 0.25 * big.h:
                gap = max(gap_y, 0) / big.h
                below = 2 * f.y + f.h > 2 * big.y + big.h
            elif oy >= 0.6 * f.h and f.w <= 0.5 * big.w and gap_x <= 0.25 * big.w:
                gap = max(gap_x, 0) / big.w
            else:
                continue
            # A piece below is the object's own (legs, wheels: they need not move as the body does, a
            # foot stands while the other swings): what lies below a near object is nearer still, so
            # larger, not a small far thing of its own.
            if gap < best_gap and (below or coherent is None or coherent(f, big)):
                best, best_gap = i, gap
        if best < 0 or j in grown:
            continue
        big = boxes[best]
        x0, y0 = min(f.x, big.x), min(f.y, big.y)
        x1, y1 = max(f.x + f.w, big.x + big.w), max(f.y + f.h, big.y + big.h)
        area = f.area + big.area
        score = (f.score * f.area + big.score * big.area) / max(area, 1)
        boxes[best] = Region(x0, y0, x1 - x0, y1 - y0, area, score)
        taken.add(j)
        grown.add(best)
    return [b for k, b in enumerate(boxes) if k not in taken]


def merge_overlapping(regions: list[Region]) -> list[Region]:
    """Merge a region into another when at least half of its box lies inside the other's box.

    Grouping works on pixels, so a fragment of an object can end up as a small box inside the object's
    box; that is one object. Boxes that merely overlap a little (two people passing) stay apart.
    """
    out = list(regions)
    merged = True
    while merged and len(out) > 1:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                iw = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
                ih = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
                if iw <= 0 or ih <= 0 or iw * ih < 0.5 * min(a.w * a.h, b.w * b.h):
                    continue
                x0, y0 = min(a.x, b.x), min(a.y, b.y)
                x1, y1 = max(a.x + a.w, b.x + b.w), max(a.y + a.h, b.y + b.h)
                area = a.area + b.area
                score = (a.score * a.area + b.score * b.area) / max(area, 1)
                out[i] = Region(x0, y0, x1 - x0, y1 - y0, area, score)
                del out[j]
                merged = True
                break
            if merged:
                break
    return out


def group_changes(
    mask: np.ndarray, strength: np.ndarray, kernel: np.ndarray
) -> list[tuple[int, int, int, int, int, float]]:
    """One box per object: components of the mask grouped when within the merge gap of each other.

    Args:
        mask: The changed pixels (uint8, analysis size).
        strength: Each pixel's difference (its mean over a group is the group's strength).
        kernel: The grouping dilation: fragments it joins are one object.

    Returns:
        ``(x, y, w, h, area, mean strength)`` per group, in analysis pixels, boxes tight around the
        group's changed pixels (the grouping dilation does not enlarge them).
    """
    if not mask.any():
        return []
    n, glab = cv2.connectedComponents(cv2.dilate(mask, kernel), connectivity=8)
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


def worth_a_box(
    groups: list[tuple[int, int, int, int, int, float]],
    mask: np.ndarray,
    absd: np.ndarray,
    cur: np.ndarray,
    pred: np.ndarray,
    lo: np.ndarray,
    min_area: float,
    analysis_size: tuple[int, int],
    scale: float,
    size: tuple[int, int] | None,
) -> list[Region]:
    """The groups worth a box, as regions in source pixels: not too small, not a thin strip or line, not
    the background shifted by a pixel or two; a small change's box tightened around it.

    Args:
        groups: :func:`group_changes`' groups, analysis pixels.
        mask: The changed pixels.
        absd: The absolute difference.
        cur: The frame at analysis size.
        pred: The reference as the frame's light shows it.
        lo: The low threshold (per pixel, or one value).
        min_area: Smallest group, analysis pixels.
        analysis_size: ``(width, height)`` of the analysis image.
        scale: Analysis pixels per source pixel.
        size: The source frame's ``(width, height)``, the boxes' limit.

    Returns:
        The regions, in the groups' order.
    """
    regions = []
    for x, y, gw, gh, area, score in groups:
        # Too small, or a line under three pixels thick (a wire or tape in the wind, a shimmering edge).
        if area < min_area or area < 3.0 * max(gw, gh):
            continue
        aw, ah = analysis_size
        inside = x > 1 and y > 1 and x + gw < aw - 1 and y + gh < ah - 1
        # A strip from one edge of the frame to the other is no object coming in either (a horizon, a
        # wire or a roof line shimmering with compression).
        across = (x <= 1 and x + gw >= aw - 1) or (y <= 1 and y + gh >= ah - 1)
        if (inside or across) and min(gw, gh) <= 6 and max(gw, gh) >= 4 * min(gw, gh):
            continue  # a long thin strip: the edge of a shadow, a tape, a wire (not an object entering)
        if inside and max(gw, gh) >= 16 and thin(mask[y : y + gh, x : x + gw], max(gw, gh)):
            continue  # the same, lying diagonally (a tape across a car park): thin all along
        if moved_background(cur, pred, mask, lo, (x, y, gw, gh)):
            continue  # the background itself, shifted by a pixel or two: leaves, a flag, a shaking pole
        if min(gw, gh) <= 8:
            # A small change's box is mostly the blur's halo: put its edges back where it is.
            x, y, gw, gh = tighten(absd, mask, (x, y, gw, gh))
        regions.append(
            Region(x, y, gw, gh, area, min(1.0, score / 255.0)).scaled(1.0 / scale, limit=size)
        )
    return regions


def structure_kept(cur: np.ndarray, ref: np.ndarray, mask: np.ndarray, fraction: float, grid: np.ndarray) -> bool:
    """Whether a widespread change keeps the scene's edges (light) rather than hiding them (an object).

    Args:
        cur: The frame at analysis size.
        ref: The reference as the frame's light shows it.
        mask: The changed pixels.
        fraction: The changed share of the watched area.
        grid: The sample of watched pixels the statistics are taken on.

    Returns:
        True when the edges correlate (a light change).
    """
    sel = grid if fraction < 0.05 else (mask > 0) & grid
    if np.count_nonzero(sel) < 50:
        sel = grid
    a, b = grad(cur)[sel], grad(ref)[sel]
    if a.std() < 1e-3 or b.std() < 1e-3:
        return False
    return float(np.corrcoef(a, b)[0, 1]) > 0.6
