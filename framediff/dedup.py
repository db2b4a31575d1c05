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
the plot; the writers live in :mod:`framediff.dedup_io` and the plot in :mod:`framediff.dedup_plot`.
"""

from __future__ import annotations

import functools
import math
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .errors import InputError, OptionError, OutputError
from .media.frames import LIMITED_GAIN, Frame, is_limited_range, luma_plane
from .media.prefetch import Prefetch
from .media.video import tune_decoder
from .options import choice, number
from .paths import check_outputs
from .prepare import to_bgr8, to_gray
from .text import plural
from .workers import one_opencv_thread, usable_cores

__all__ = ["Decision", "Deduplicator", "DedupResult", "DedupInterrupted", "dedup_video", "trim"]

BLOCK = 8  # analysis pixels per block side
MIN_BLOCK_SOURCE = 16  # source pixels per block side, at least
ANALYSIS_SIZE = 480  # longest side of the analysis image; smaller frames are analysed at full size
GLOBAL_WEIGHT = 6.0  # weight of the coherent (block-mean) term against the local block term
# Codecs quantise colour more coarsely than brightness: re-encoding a held picture (a new key frame)
# can shift a colour block by 1-2 levels, while a colour-only object moves it by tens.
CHROMA_WEIGHT = 0.5
QUEUE_BYTES = 48_000_000  # decoded frames waiting for a dry run's analysis: 15 at 1080p, 4 (the least) at 4K
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
        planes = _decoder_planes(frame)
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


@dataclass
class DedupResult:
    """What :func:`dedup_video` did.

    Attributes:
        input: The input path.
        output: The written video or folder (``None`` for a dry run).
        frames: Frames decoded.
        kept: Frames kept (for a video output: exactly the frames written).
        duration: Input duration in seconds (last frame's time plus one frame); for a folder of images,
            the number of images.
        saved: Seconds of repeated frames dropped (what ``timing="compact"`` removes from the output); for
            a folder of images, the number of images dropped.
        threshold: The threshold at the end of the run (fixed, or the auto threshold reached).
        auto: True when the threshold followed the noise floor.
        warnings: Problems met (truncated input, audio dropped or re-encoded...).
        interrupted: True when the run was stopped early (Ctrl-C); the outputs hold what was processed.
        images: True when the input was a folder of images (counted in images, not seconds).
    """

    input: str
    output: str | None
    frames: int = 0
    kept: int = 0
    duration: float = 0.0
    saved: float = 0.0
    threshold: float = MIN_THRESHOLD
    auto: bool = True
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
    images: bool = False

    @property
    def dropped(self) -> int:
        """Frames dropped."""
        return self.frames - self.kept

    def summary(self) -> str:
        """One line for people: frames kept and dropped, and the time saved (images have no time)."""
        pct = 100.0 * self.dropped / self.frames if self.frames else 0.0
        how = "auto" if self.auto else "fixed"
        head = "interrupted: " if self.interrupted else ""
        counted = f"kept {self.kept} of {plural(self.frames, 'image' if self.images else 'frame')}"
        time = "" if self.images else f", {self.saved:.2f} s of {self.duration:.2f} s were repeats"
        return f"{head}{counted}, dropped {self.dropped} ({pct:.1f}%){time}; threshold {self.threshold:.2f} ({how})"


def dry_run_decoding(source: Any) -> None:
    """Set up a dry run's decoder (FFmpeg's frame threads) for speed, decoding every frame fully.

    Every frame is decoded exactly as a real run, the GOP-parallel decoder and the Python API decode it,
    so all of them score every frame alike and make the same decisions. Skipping the deblocking filter on
    B-frames made dry-run decoding ~5% cheaper in CPU, but it moved the scores of grainy B-frames (52 of
    100 on the GOP test clip) and turned 6 decisions of a 1530-frame 1080p clip from keep to drop or
    back, against ``-o`` on the same file (issue 25, item 12: one decision path, whatever the caller).

    Args:
        source: The opened :class:`~framediff.media.video.VideoSource`.
    """
    # More frames in flight than FFmpeg's default (cores + 1): H.264 frame threads wait on each other's
    # reference rows, and with the analysis thread taking turns on the same cores, FFmpeg's default kept
    # only ~1.6 of 2 cores busy. 8 threads on 2 cores made the dry run ~5% faster (6-16 alike; memory
    # stays bounded: one frame per thread).
    tune_decoder(source.stream, thread_count=min(16, 4 * usable_cores()))


def _queue_depth(source: Any, dry_run: bool) -> int:
    """How many decoded frames may wait for the analysis: 4, or in a dry run about ``QUEUE_BYTES`` of them
    (4 to 16).

    In a dry run the decoder's frame threads hand frames out in bursts, and frames cost the analysis more
    or less (repeats are checked against two frames, in colour too). A deeper queue lets both sides run
    through each other's bursts: at 1080p a depth of 16 made the dry run ~5% faster than 4 (8 was in
    between). A real run waits on the encoder, and there 16 frames only took memory traffic from it (the
    write was 1.12-1.27x mpdecimate with 16, 1.09-1.15x with 4, interleaved).
    """
    size = getattr(source, "size", None)
    if not size or not dry_run:
        return 4
    return max(4, min(16, QUEUE_BYTES // max(1, int(size[0] * size[1] * 1.5))))


class _CtrlC:
    """Turn the first Ctrl-C into a request to stop between two frames (a second one stops at once).

    A KeyboardInterrupt in the middle of writing a frame could leave the report and the video one frame
    apart; stopping at a frame boundary keeps them exact. Only in the main thread, and only when Python's
    own handler is in place (an application's handler is left alone).
    """

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def __enter__(self) -> _CtrlC:
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _decoder_planes(frame: Any) -> tuple[np.ndarray, tuple[np.ndarray, ...], bool] | None:
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


def _prepare_decoded(dd: Deduplicator, frame: Frame) -> _Prepared:
    """A decoded frame, shrunk for comparison in full (colour planes too), so its decoder frame can go.

    Runs in a :class:`~framediff.media.gop.GopDecoder` worker: the prepared frame waits for the
    analysis there, and holding the decoder's full-size frame instead would cost ~3 MB a frame at 1080p.
    """
    # The worker has just decoded the frame: its planes are still in the cache (no streaming read first).
    prepared = dd._prepare_frame(frame, cold=False)
    prepared.shrink_chroma(cold=False)
    return prepared


class DedupInterrupted(KeyboardInterrupt):
    """Raised by :func:`dedup_video` on Ctrl-C once the outputs are finished; ``result`` says how far."""

    def __init__(self, result: DedupResult) -> None:
        super().__init__("interrupted")
        self.result = result


def _common_folder(paths: list[Path]) -> Path | None:
    """The folder a glob's files are named relative to in the output folder (``G1/x.png`` and
    ``G2/x.png`` both stay); ``None`` when they all lie in one folder (bare names, as for a folder)."""
    parents = {os.path.abspath(p.parent) for p in paths}
    if len(parents) < 2:
        return None
    return Path(os.path.commonpath([os.path.abspath(p) for p in paths])).resolve()


def dedup_video(
    input: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    threshold: float | None = None,
    max_drop: int | None = None,
    timing: str = "keep",
    codec: str | None = None,
    crf: float | None = 18,
    report: str | os.PathLike | None = None,
    plot: str | os.PathLike | None = None,
    dry_run: bool = False,
    analysis_size: int = ANALYSIS_SIZE,
    progress: Callable[[int], None] | None = None,
) -> DedupResult:
    """Drop the duplicate frames of a video (or of a folder of images) and write what is left.

    Args:
        input: A video file PyAV reads, or a folder of images (natural order).
        output: The trimmed video (format from its extension), or for a folder input a new folder that
            receives copies of the unique images. Not needed with ``dry_run``.
        threshold: Fixed change threshold in grey levels; ``None`` follows the video's noise floor.
        max_drop: Keep a frame anyway after this many consecutive drops.
        timing: ``keep``: kept frames keep their timestamps, so the output lasts as long as the input and
            the audio is copied in sync (each kept frame stays on screen until the next one).
            ``compact``: frames are re-timed to the input's constant frame rate, the output gets shorter,
            and the audio is dropped (with a warning), because no cut of the sound could stay in sync.
        codec: Video encoder (default H.264 ``libx264``; VP9 for ``.webm``).
        crf: Constant rate factor for the encoder (default 18, visually lossless for H.264).
        report: CSV file to write: ``frame,time,score,action``, one row per decoded frame.
        plot: PNG or SVG file to write (by its suffix): the score over time, the threshold, the dropped
            and the kept frames.
        dry_run: Analyse and report only; write no video.
        analysis_size: Longest side of the analysed image (see :class:`Deduplicator`).
        progress: Called with the number of frames done so far, now and then.

    Returns:
        A :class:`DedupResult`.

    Raises:
        InputError, SourceError: when the input is missing or unreadable.
        OutputError: when the output is the input or cannot be written.
        OptionError: when an option is out of range.
        DedupInterrupted: on Ctrl-C, after finishing the outputs with the frames processed so far.
    """
    from .dedup_io import EncodeThread, FolderWriter, ReportWriter, VideoWriter, check_folder
    from .media.gop import GopDecoder, suits
    from .media.sources import ImageListSource, open_source
    from .media.video import VideoSource

    timing = choice("timing", timing, ("keep", "compact"))
    crf = number("crf", crf, lo=0, hi=63, allow_none=True)
    dd = Deduplicator(threshold=threshold, max_drop=max_drop, analysis_size=analysis_size)
    in_path = Path(os.fspath(input))
    if output is None and not dry_run:
        raise OptionError("no output given", "give -o OUTPUT, or --dry-run to analyse only")
    out_path = Path(os.fspath(output)) if output is not None and not dry_run else None
    if plot is not None:
        from .dedup_plot import check_plot_path

        check_plot_path(plot)
    for extra, option in ((out_path, "-o"), (report, "--report"), (plot, "--plot")):
        if extra is not None:
            check_folder(Path(os.fspath(extra)), option)

    result = DedupResult(str(in_path), str(out_path) if out_path else None, auto=threshold is None)
    data: Any = None  # the per-frame series, kept only for a plot
    if plot is not None:
        from .dedup_plot import PlotData

        data = PlotData()
    with one_opencv_thread(), open_source(in_path, gray=True) as src:
        folder = isinstance(src, ImageListSource)
        # Every output against every file read (a folder's images too) and against each other, before
        # anything is opened for writing.
        read = [("INPUT", in_path)] + [("INPUT", p) for p in (src.paths if folder else [])]
        check_outputs([("-o", out_path), ("--report", report), ("--plot", plot)], read)
        if folder and out_path is not None:
            for extra, name in ((report, "--report"), (plot, "--plot")):
                if extra is not None and Path(os.path.realpath(extra)).is_relative_to(
                    os.path.realpath(out_path)
                ):
                    raise OutputError(
                        f"{name} {extra} is inside the output folder {out_path}",
                        "the folder receives the kept images only: write it elsewhere",
                    )
        result.images = folder
        if data is not None:
            data.images = folder
        if folder:
            src.gray = False  # colour images: colour-only changes count too
        # A dry run of a file with key frames decodes chunks of it on every core, each with a
        # single-threaded decoder, which costs less CPU than FFmpeg's frame threads (media.gop).
        parallel = out_path is None and isinstance(src, VideoSource) and suits(src)
        if isinstance(src, VideoSource):
            if out_path is None and not parallel:
                dry_run_decoding(src)
            # The decoder's luma plane as it is: the analysis shrinks it first and stretches the range
            # of the small image, so a full-size copy and stretch per frame would only cost time.
            src.raw_luma = True
        if (
            out_path is not None
            and folder
            and out_path.suffix.lower() in (".mp4", ".mkv", ".mov", ".webm", ".avi")
        ):
            raise OutputError(
                "a folder of images gives a folder of images", "give a folder name as -o OUTPUT"
            )
        writer: Any = None
        reporter = ReportWriter(Path(os.fspath(report))) if report is not None else None
        try:
            if out_path is not None:
                # A real run decodes once, fully, and encodes the very frames it analysed, on a
                # thread of its own so the encoder never waits for the analysis.
                writer = (
                    FolderWriter(out_path, _common_folder(src.paths))
                    if folder
                    else EncodeThread(VideoWriter(src, out_path, codec=codec, crf=crf, timing=timing))
                )
            last_time = 0.0
            step = 1.0 / src.fps if src.fps else 1.0

            def commit(frame: Frame | None, d: Decision) -> None:
                nonlocal last_time
                if reporter is not None:
                    reporter.write(d.index, d.time, d.score, d.action)
                if data is not None:
                    data.add(d)
                result.frames += 1
                if d.keep:
                    result.kept += 1
                    if writer is not None and frame is not None:
                        writer.write(frame)
                else:
                    result.saved += max(d.time - last_time, 0.0) if d.index else 0.0
                last_time = d.time

            try:
                # Sequentially, frames are shrunk here, not in the decode thread: that thread feeds the
                # decoder's frame threads, and every moment it spends on other work delays the next
                # frame's decode (measured: shrinking there made the dry run ~5% slower, not faster).
                # The GOP workers shrink the frames they decode, so that runs on every core.
                reader: Any = (
                    GopDecoder(src, functools.partial(_prepare_decoded, dd))
                    if parallel
                    else Prefetch(src, _queue_depth(src, out_path is None), "framediff-decode")
                )
                with reader as items, _CtrlC() as ctrl_c:

                    def frames() -> Iterator[Any]:
                        for item in items:
                            if ctrl_c.pressed:  # stop between two frames: the last one read is kept
                                result.interrupted = True
                                return
                            if parallel:  # a frame a GOP worker prepared, timed here
                                _, t, prepared = item
                                prepared.time = t
                                yield prepared
                            else:
                                yield item

                    # The decisions of Deduplicator.run, as any caller gets them (the last frame kept).
                    for frame, d in dd.run(frames()):
                        commit(
                            None if parallel else frame, d
                        )  # a parallel run is a dry run: nothing to write
                        if progress is not None and d.index % 16 == 0:
                            progress(d.index + 1)
            except KeyboardInterrupt:
                result.interrupted = True
            if progress is not None and not result.interrupted:
                progress(result.frames)
            if not result.frames and not result.interrupted:
                # Nothing to write: an error, not an empty video or folder.
                why = f" ({len(src.warnings)} refused, the first: {src.warnings[0]})" if src.warnings else ""
                raise InputError(f"no frame of {in_path} could be read{why}", "check the input")
            result.duration = (last_time + step) if result.frames else 0.0
            result.threshold = dd.threshold
            result.warnings.extend(src.warnings)
            if writer is not None:
                if result.interrupted and isinstance(writer, EncodeThread):
                    writer.finish(until=result.duration)
                else:
                    writer.finish()
                result.warnings.extend(writer.warnings)
            if reporter is not None:
                reporter.finish()
        except BaseException:
            if writer is not None:
                writer.abort()
            if reporter is not None:
                reporter.abort()
            raise
    if plot is not None:
        from .dedup_plot import write_plot

        try:
            write_plot(Path(os.fspath(plot)), data, title=f"{in_path.name}: {result.summary()}")
        except OutputError as e:
            raise OutputError(f"--plot: {e.message}", e.hint) from None
    if result.interrupted:
        raise DedupInterrupted(result)
    return result


trim = dedup_video
