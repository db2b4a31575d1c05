"""Duplicate-frame detection: push frames into a :class:`Deduplicator`, get keep/drop decisions.

A frame is a duplicate when it differs from the previous frame *and* from the last kept frame by no more
than the video's noise floor. Comparing with the last kept frame stops slow drifts (a long fade, a slow
pan) from being eaten one sub-threshold step at a time; comparing with the previous frame catches repeats
right after a change.

Frames are analysed shrunk by a whole factor (area mean) to at most 480 px on their longest side, in
blocks of 8x8 analysis pixels (and at least 16x16 source pixels). The score of a frame pair, in
full-range grey levels, is the larger of

* the local term: the largest mean absolute difference of any block, in the grey (luma) image and
  (at half weight, as codecs quantise colour more coarsely) in the two colour-difference planes.
  Averaging over a block smooths away grain and compression noise while a blinking caret or a small
  moving object still fills a block; the colour planes catch an object that differs from its
  background in colour but not in brightness;
* the global term: 6 x the mean absolute difference of the block *means*. Changes that are small but
  coherent over the whole picture (one 1/61 step of a slow cross-fade, a slow pan) add up in the block
  means, while zero-mean noise cancels out in them.

The threshold is ``max(1.5, 3.5 x noise floor)``, where the noise floor is the 10th percentile, over the
last 256 frames, of each frame's *median* block difference with its previous frame. The median block is
untouched by local changes and the low percentile by passing motion, so the floor follows the grain and
compression noise of the video itself; it never needs a magic number per video. ``threshold=`` fixes it.

:func:`dedup_video` (alias :func:`trim`) runs it over a file and writes the trimmed video, the report and
the plot (:mod:`framediff.dedup.video`); the writers live in :mod:`framediff.dedup.io` and the plot in
:mod:`framediff.dedup.plot`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..analysis.prepare import to_bgr8, to_gray
from ..errors import InputError
from ..media.frames import LIMITED_GAIN, Frame, is_limited_range, luma_plane
from ..options import number

__all__ = ["ANALYSIS_SIZE", "Decision", "Deduplicator", "decoder_planes", "prepare_decoded"]

BLOCK = 8  # analysis pixels per block side
MIN_BLOCK_SOURCE = 16  # source pixels per block side, at least
ANALYSIS_SIZE = 480  # longest side of the analysis image; smaller frames are analysed at full size
GLOBAL_WEIGHT = 6.0  # weight of the coherent (block-mean) term against the local block term
# Codecs quantise colour more coarsely than brightness: re-encoding a held picture (a new key frame)
# can shift a colour block by 1-2 levels, while a colour-only object moves it by tens.
CHROMA_WEIGHT = 0.5
MIN_THRESHOLD = 1.5  # grey levels; compression noise of a clean held frame stays below this
NOISE_FACTOR = 3.5  # a change must exceed this many times the noise floor
NOISE_QUANTILE = 0.1  # low percentile of recent per-frame noise levels: the floor, not passing motion
NOISE_WINDOW = 256  # frames of history the noise floor is estimated from
NOISE_WARMUP = 8  # frames of history needed before the floor is trusted
NOISE_REFRESH = 8  # frames between re-estimates of the floor


@dataclass(frozen=True)
class Decision:
    """What the deduplicator decided for one frame.

    Attributes:
        index: 0-based frame number in the order pushed.
        time: Presentation time in seconds.
        keep: True to keep the frame, False when it repeats the last kept frame.
        score: Change score in grey levels: the largest change term against the previous frame and the
            last kept frame. Terms are measured cheapest first and only until one exceeds the threshold,
            so for a kept frame it is the term that decided (a lower bound of the full score);
            ``nan`` for the first frame, which has nothing to be compared with.
        threshold: The threshold the score was compared with (auto or fixed).
        reason: ``first``, ``change``, ``duplicate``, ``max-drop`` (kept to cap a run of drops),
            ``resize`` (frame size changed) or ``last`` (kept so the output lasts as long as the input).
    """

    index: int
    time: float
    keep: bool
    score: float
    threshold: float
    reason: str

    @property
    def action(self) -> str:
        """``keep`` or ``drop``, as written in the report."""
        return "keep" if self.keep else "drop"


class _Prepared:
    """A frame reduced for comparison: the analysis image, its block size and its block means.

    The colour planes are shrunk only when a comparison first needs them (most frames are decided by
    luma alone); until then the decoder's planes are held as they are.
    """

    __slots__ = ("small", "block", "means", "gain", "_chroma_src", "_chroma", "chroma_block", "time")

    def __init__(
        self,
        small: np.ndarray,
        block: int,
        means: np.ndarray,
        chroma: tuple[np.ndarray, ...],
        gain: float = 1.0,
    ) -> None:
        self.small = small
        self.block = block
        self.means = means
        self.gain = gain  # grey levels per luma code value (LIMITED_GAIN for limited-range video)
        self._chroma_src = chroma
        self._chroma: tuple[np.ndarray, ...] | None = None
        self.chroma_block = BLOCK
        self.time: float | None = None  # set by a reader that prepares frames ahead (the GOP workers)

    @property
    def chroma(self) -> tuple[np.ndarray, ...]:
        """The two colour-difference planes, shrunk like the grey image (empty for grey input)."""
        return self.shrink_chroma()

    def shrink_chroma(self, cold: bool = True) -> tuple[np.ndarray, ...]:
        """Shrink the colour planes now (once) and let the decoder's planes go; ``cold`` as in _shrink."""
        if self._chroma is None:
            src = self._chroma_src
            # Half the grey image's size: colour changes that matter are blobs, not fine lines, and the
            # planes cost a quarter as much to compare.
            h, w = max(1, self.small.shape[0] // 2), max(1, self.small.shape[1] // 2)
            self._chroma = tuple(_fit(c, w, h, cold) for c in src)
            if src:
                # Blocks of at least 16 x 16 of the planes' own pixels, as for luma.
                k = src[0].shape[1] / max(1, self._chroma[0].shape[1])
                self.chroma_block = max(BLOCK // 2, math.ceil(MIN_BLOCK_SOURCE / k))
            self._chroma_src = ()  # let the decoder's frame go
        return self._chroma


def _factor(width: int, height: int, analysis_size: int) -> int:
    """Integer shrink factor: whole-pixel area averaging is both exact and the fastest resize path."""
    if analysis_size <= 0:
        return 1
    return max(1, math.ceil(max(width, height) / analysis_size))


def _shrink(gray: np.ndarray, k: int, cold: bool = True) -> np.ndarray:
    """Mean of each k x k block (the image shrunk k times), as a new array.

    Halving with bilinear interpolation at exactly 1/2 *is* the 2 x 2 mean, and OpenCV's vectorised
    path for it is about 3x faster than its area resize by 4; the odd rest goes through the area resize.
    ``cold``: the plane has probably left the cache since it was decoded (see below); False when the
    calling thread has just decoded it.
    """
    h, w = gray.shape
    if k == 1:
        return gray.copy()  # a view into the decoder's buffer must not outlive its frame
    if h < k or w < k:  # a sliver (4000 x 3): no whole k x k block; one pixel at least on each side
        return cv2.resize(gray, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    gray = gray[: h - h % k, : w - w % k]
    # A decoded plane is usually no longer in the cache (the decoder's threads have streamed several
    # frames through it since), and OpenCV's halving reads memory slowly: 0.29 ms for a 1080p plane
    # against 0.10 ms from the cache. One plain streaming pass over it first (a sum, 0.09 ms) brings it in
    # at full memory speed: 0.17 ms for both (``benchmarks/PROFILE.md``, session 5).
    if cold:
        cv2.sumElems(gray)
    while k % 2 == 0:
        gray = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
        k //= 2
    if k > 1:
        gray = cv2.resize(gray, (gray.shape[1] // k, gray.shape[0] // k), interpolation=cv2.INTER_AREA)
    return gray


def _block_means(image: np.ndarray, block: int) -> np.ndarray:
    """Mean of each whole ``block`` x ``block`` tile, as float32 (one tile for images smaller than that)."""
    h, w = image.shape
    bh, bw = max(1, h // block), max(1, w // block)
    if h < block or w < block:
        return cv2.resize(image.astype(np.float32), (bw, bh), interpolation=cv2.INTER_AREA)
    # Tile sums from the integral image, exact in integers: cheaper than a float copy and an area resize
    # (the same means), and this runs several times a frame.
    s = cv2.integral(image)[: bh * block + 1 : block, : bw * block + 1 : block]
    sums = s[1:, 1:] - s[:-1, 1:] - s[1:, :-1] + s[:-1, :-1]
    return sums.astype(np.float32) * np.float32(1.0 / (block * block))


def _fit(plane: np.ndarray, width: int, height: int, cold: bool = True) -> np.ndarray:
    """Shrink a chroma plane to at most ``width`` x ``height`` (block means), as a new array."""
    h, w = plane.shape
    if w <= width and h <= height:
        return plane.copy()
    k = w // width
    if k == h // height and k > 1:
        # A whole factor, as the luma's: the few columns or rows beyond k x the size are left out, as
        # _shrink leaves out the luma's (720p: 640 x 360 -> 213 x 120 by 3). An area resize by the
        # fractional factor instead cost 0.55 ms a plane, 0.22 ms this way.
        return _shrink(plane, k, cold)
    return cv2.resize(plane, (width, height), interpolation=cv2.INTER_AREA)


def _prepare(
    gray: np.ndarray,
    analysis_size: int,
    limited_range: bool = False,
    chroma: tuple[np.ndarray, ...] = (),
    cold: bool = True,
) -> _Prepared:
    h, w = gray.shape
    k = _factor(w, h, analysis_size)
    # Blocks cover at least 16 x 16 source pixels: on small videos analysed at full size, 8 x 8 blocks
    # would average too few pixels to keep compression noise below the threshold.
    block = max(BLOCK, -(-MIN_BLOCK_SOURCE // k))
    small = _shrink(gray, k, cold)
    # Limited-range luma (16-235) is compared as it is and its scores scaled to full-range grey levels:
    # the same numbers as stretching every frame first, without the work.
    gain = LIMITED_GAIN if limited_range else 1.0
    return _Prepared(small, block, _block_means(small, block), chroma, gain)


def _score(a: _Prepared, b: _Prepared, level: bool = False) -> tuple[float, float]:
    """Grey-image change score of a pair and, when asked, its median block difference (its noise level)."""
    blocks = _block_means(cv2.absdiff(a.small, b.small), a.block)
    local = float(blocks.max())
    coherent = GLOBAL_WEIGHT * float(cv2.mean(cv2.absdiff(a.means, b.means))[0])
    median = 0.0
    if level:
        # Every other block each way: a quarter of the work, and hundreds of blocks still make a steady median.
        flat = (blocks[::2, ::2] if blocks.size >= 256 else blocks).ravel()
        median = a.gain * float(np.partition(flat, flat.size // 2)[flat.size // 2])
    return min(255.0, a.gain * max(local, coherent)), median


def _color_score(a: _Prepared, b: _Prepared) -> float:
    """Largest block change in the colour planes, weighted: a red ball over a brown background of the
    same brightness moves only there."""
    score = 0.0
    for ca, cb in zip(a.chroma, b.chroma, strict=False):
        if ca.shape == cb.shape:
            score = max(score, float(_block_means(cv2.absdiff(ca, cb), a.chroma_block).max()))
    return min(255.0, CHROMA_WEIGHT * score)


class Deduplicator:
    """Decide, frame by frame, whether each frame repeats the last kept one.

    :meth:`run` decides for a whole sequence exactly as ``framediff dedup`` does (the last frame kept);
    :meth:`push` decides for one frame at once (no look-ahead), for live streams. A video frame is
    compared on the decoder's own planes (luma and colour) however its source was opened, so
    ``open_source(path)`` and ``open_source(path, gray=True)`` give the same decisions. It never opens or
    decodes anything itself.

    Example::

        dd = Deduplicator()
        with open_source("clip.mp4") as src:
            kept = [f.index for f, d in dd.run(src) if d.keep]

    Args:
        threshold: Fixed change threshold in grey levels (see the module docs for the score); ``None``
            follows the video's own noise floor.
        max_drop: Keep a frame anyway after this many consecutive drops (``None``: no cap).
        analysis_size: Longest side in pixels of the image analysed (frames are shrunk by a whole
            factor to at most this); 0 analyses at full size.

    Raises:
        OptionError: when an option is out of range.
    """

    def __init__(
        self,
        threshold: float | None = None,
        max_drop: int | None = None,
        analysis_size: int = ANALYSIS_SIZE,
    ) -> None:
        self.fixed_threshold = number("threshold", threshold, lo=0, hi=255, allow_none=True)
        self.max_drop = number("max_drop", max_drop, lo=1, integer=True, allow_none=True)
        self.analysis_size = number("analysis_size", analysis_size, lo=0, hi=16384, integer=True)
        self._levels: deque[float] = deque(maxlen=NOISE_WINDOW)
        self._prev: _Prepared | None = None
        self._kept: _Prepared | None = None
        self._run = 0  # consecutive drops so far
        self._floor: float | None = None  # cached noise floor
        self.count = 0
        self.kept = 0

    @property
    def noise_floor(self) -> float:
        """The current estimate of the video's noise level (grey levels of a typical block)."""
        if len(self._levels) < NOISE_WARMUP:
            return 0.0
        if self._floor is None:
            self._floor = float(np.quantile(np.fromiter(self._levels, np.float64), NOISE_QUANTILE))
        return self._floor

    @property
    def threshold(self) -> float:
        """The threshold the next frame's score will be compared with."""
        if self.fixed_threshold is not None:
            return float(self.fixed_threshold)
        return max(MIN_THRESHOLD, NOISE_FACTOR * self.noise_floor)

    @property
    def dropped(self) -> int:
        """Number of frames dropped so far."""
        return self.count - self.kept

    def push(
        self,
        frame: Any,
        time: float | None = None,
        *,
        chroma: tuple[np.ndarray, np.ndarray] | None = None,
        limited_range: bool = False,
    ) -> Decision:
        """Decide for the next frame, at once.

        The last frame of a file is not known to be last here: :meth:`run` keeps it, as the CLI does.

        Args:
            frame: A :class:`~framediff.media.frames.Frame` or an image array: grey, or BGR/BGRA (then its
                colour is compared too). A video's frame is compared on its decoder's planes (``raw``),
                whether the source gave it grey or in colour; other frames on their ``image``.
            time: Presentation time in seconds for an array (default: the frame's ``time``, else the
                frame number).
            chroma: The two colour-difference planes (U and V, any subsampling) of a grey array that is
                a video's luma, so colour-only changes count.
            limited_range: The grey array is a decoder's limited-range luma (black 16, white 235); it is
                stretched to full range after shrinking, so scores are full-range grey levels anyway.

        Returns:
            The :class:`Decision` for this frame.

        Raises:
            InputError: when the frame is not an image.
        """
        if time is None:
            t = getattr(frame, "time", None)
            time = float(self.count if t is None else t)
        prepared = (
            frame if isinstance(frame, _Prepared) else self._prepare_frame(frame, chroma, limited_range)
        )
        return self._push_prepared(prepared, time)

    def run(self, frames: Iterable[Any]) -> Iterator[tuple[Any, Decision]]:
        """Decide for every frame of a sequence, as ``framediff dedup`` does.

        Each decision comes one frame late, once the next frame shows the frame is not the last: the last
        frame is always kept (reason ``last``), so a video that ends on a held picture keeps its length.
        When reading the frames is interrupted (Ctrl-C), the last frame read is kept, then the
        ``KeyboardInterrupt`` goes on.

        Args:
            frames: Frames in order, as :meth:`push` takes them (a :class:`~framediff.media.frames.FrameSource`).

        Yields:
            ``(frame, decision)`` for every frame, in order.
        """
        pending: tuple[Any, Decision] | None = None
        try:
            for frame in frames:
                d = self.push(frame)
                if pending is not None:
                    yield pending
                pending = (frame, d)
        except KeyboardInterrupt:
            if pending is not None:
                yield self._keep_last(*pending)
            raise
        if pending is not None:
            yield self._keep_last(*pending)

    def _keep_last(self, frame: Any, d: Decision) -> tuple[Any, Decision]:
        """The last frame's pair, kept if it was dropped (the counts follow)."""
        if not d.keep:
            d = Decision(d.index, d.time, True, d.score, d.threshold, "last")
            self.kept += 1
            self._kept = self._prev
        return frame, d

    def _prepare_frame(
        self,
        frame: Any,
        chroma: tuple[np.ndarray, np.ndarray] | None = None,
        limited_range: bool = False,
        cold: bool = True,
    ) -> _Prepared:
        """Shrink a frame for comparison (reads only the options, never the state)."""
        planes = decoder_planes(frame)
        if planes is not None:
            # A video's frame: its decoder's planes, whatever the source converted them to, so every
            # caller (the CLI, push() with a grey or a colour source) decides on the same pixels.
            luma, chroma, limited_range = planes
            return _prepare(luma, self.analysis_size, limited_range, chroma, cold)
        image = getattr(frame, "image", frame)
        if not isinstance(image, np.ndarray):
            raise InputError(f"cannot use a {type(image).__name__} as a frame", "push Frames or numpy arrays")
        if image.ndim == 3 and image.shape[2] >= 3 and chroma is None:
            return self._prepare_color(image)
        gray = image if image.ndim == 2 and image.dtype == np.uint8 else to_gray(image)
        return _prepare(gray, self.analysis_size, limited_range, tuple(chroma or ()), cold)

    def _push_prepared(self, current: _Prepared, time: float) -> Decision:
        """Decide for the next frame, already prepared by :meth:`_prepare_frame`."""
        threshold = self.threshold
        index = self.count
        self.count += 1

        if self._prev is None or self._kept is None:
            return self._decide(current, index, time, True, math.nan, threshold, "first")
        if current.small.shape != self._prev.small.shape:
            return self._decide(current, index, time, True, math.nan, threshold, "resize")
        score, level = _score(current, self._prev, level=True)
        self._levels.append(level)
        if (self.count - 1) % NOISE_REFRESH == 0 or len(self._levels) == NOISE_WARMUP:
            self._floor = None  # re-estimated on next use; every frame would cost more than the analysis
        # Cheapest evidence first; stop at the first term over the threshold (the decision is made).
        if score <= threshold:
            score = max(score, _color_score(current, self._prev))
        if score <= threshold and self._kept is not self._prev:
            score = max(score, _score(current, self._kept)[0])
            if score <= threshold:
                score = max(score, _color_score(current, self._kept))
        if score > threshold:
            return self._decide(current, index, time, True, score, threshold, "change")
        if self.max_drop is not None and self._run >= self.max_drop:
            return self._decide(current, index, time, True, score, threshold, "max-drop")
        return self._decide(current, index, time, False, score, threshold, "duplicate")

    def _prepare_color(self, image: np.ndarray) -> _Prepared:
        """Shrink a BGR(A) image, then split it into luma and colour differences (YCrCb)."""
        bgr = to_bgr8(image)
        h, w = bgr.shape[:2]
        k = _factor(w, h, self.analysis_size)
        size = (max(1, w // k), max(1, h // k))  # a sliver (4000 x 3) keeps one pixel on its short side
        small = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA) if k > 1 else bgr
        y, cr, cb = cv2.split(cv2.cvtColor(small, cv2.COLOR_BGR2YCrCb))
        block = max(BLOCK, -(-MIN_BLOCK_SOURCE // k))
        return _Prepared(y, block, _block_means(y, block), (cr, cb))

    def _decide(
        self,
        current: _Prepared,
        index: int,
        time: float,
        keep: bool,
        score: float,
        threshold: float,
        reason: str,
    ) -> Decision:
        self._prev = current
        if keep:
            self._kept = current
            self.kept += 1
            self._run = 0
        else:
            self._run += 1
        return Decision(index, float(time), keep, score, threshold, reason)


def decoder_planes(frame: Any) -> tuple[np.ndarray, tuple[np.ndarray, ...], bool] | None:
    """A video frame's luma, its colour planes (empty when not 8-bit planar YUV) and whether the luma is
    limited range, from its decoder's frame; ``None`` for anything that is not a decoded video frame."""
    raw = getattr(frame, "raw", None)
    if getattr(getattr(raw, "format", None), "name", None) is None or not hasattr(raw, "planes"):
        return None  # an array, an image file's frame (raw is its path), a camera's frame
    luma = luma_plane(raw)
    if luma is None:
        # Packed or high-bit-depth video: FFmpeg's grey conversion, as a grey source gives it.
        image = getattr(frame, "image", None)
        gray = isinstance(image, np.ndarray) and image.ndim == 2 and image.dtype == np.uint8
        luma = image if gray else raw.to_ndarray(format="gray")
        return luma, (), False
    return luma, _chroma(raw) or (), is_limited_range(raw)


def _chroma(raw: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The U and V planes of an 8-bit planar YUV video frame, viewed without conversion (else None)."""
    fmt = getattr(getattr(raw, "format", None), "name", "")
    if fmt not in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuv411p"):
        return None
    planes = []
    for p in raw.planes[1:3]:
        buf = np.frombuffer(p, np.uint8)
        if buf.size != p.line_size * p.height:
            return None
        planes.append(buf.reshape(p.height, p.line_size)[:, : p.width])
    return planes[0], planes[1]


def prepare_decoded(dd: Deduplicator, frame: Frame) -> _Prepared:
    """A decoded frame, shrunk for comparison in full (colour planes too), so its decoder frame can go.

    Runs in a :class:`~framediff.media.gop.GopDecoder` worker: the prepared frame waits for the
    analysis there, and holding the decoder's full-size frame instead would cost ~3 MB a frame at 1080p.
    """
    # The worker has just decoded the frame: its planes are still in the cache (no streaming read first).
    prepared = dd._prepare_frame(frame, cold=False)
    prepared.shrink_chroma(cold=False)
    return prepared
