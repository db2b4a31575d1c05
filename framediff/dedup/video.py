"""``dedup`` over a file or a folder: :func:`dedup_video` reads the input once, decides every frame with a
:class:`~framediff.dedup.core.Deduplicator` and writes the trimmed video (or folder), the report and the plot.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, OptionError, OutputError, named
from ..media import gop  # looked up at each run: tests and callers may swap its parts
from ..media.frames import Frame
from ..media.prefetch import Prefetch
from ..media.sources import ImageListSource, open_source
from ..media.video import VideoSource, tune_decoder
from ..options import choice, number
from ..paths import check_outputs
from ..text import plural
from ..workers import one_opencv_thread, usable_cores
from .core import ANALYSIS_SIZE, MIN_THRESHOLD, Decision, Deduplicator, prepare_decoded
from .io import EncodeThread, FolderWriter, ReportWriter, VideoWriter, check_folder
from .plot import PlotData, check_plot_path, write_plot

__all__ = ["DedupInterrupted", "DedupResult", "dedup_video", "dry_run_decoding", "expected_frames", "trim"]

QUEUE_BYTES = 48_000_000  # decoded frames waiting for a dry run's analysis: 15 at 1080p, 4 (the least) at 4K


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


def expected_frames(source: Any) -> int | None:
    """How many frames an opened source will give, as far as it says before decoding.

    Args:
        source: An opened :class:`~framediff.media.frames.FrameSource`.

    Returns:
        Its frame count; for files that give none (WebM, MKV) an estimate from the duration and the
        frame rate; ``None`` when neither is known.
    """
    total = source.frame_count
    duration, fps = getattr(source, "duration", None), source.fps
    if not total and duration and fps:
        total = round(duration * fps)
    return total or None


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
    on_total: Callable[[int | None], None] | None = None,
    labels: Mapping[str, str] | None = None,
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
        on_total: Called once, before the first frame, with the number of frames expected
            (:func:`expected_frames`; ``None`` when the input does not say): a progress bar's length.
        labels: What the caller calls the settings in messages and warnings (a command line names its
            flags: ``{"output": "-o", "report": "--report", "dry_run": "--dry-run"}``); by default the
            names above.

    Returns:
        A :class:`DedupResult`.

    Raises:
        InputError, SourceError: when the input is missing or unreadable.
        OutputError: when the output is the input or cannot be written.
        OptionError: when an option is out of range.
        DedupInterrupted: on Ctrl-C, after finishing the outputs with the frames processed so far.
    """
    timing = choice("timing", timing, ("keep", "compact"))
    crf = number("crf", crf, lo=0, hi=63, allow_none=True)
    dd = Deduplicator(threshold=threshold, max_drop=max_drop, analysis_size=analysis_size)
    in_path = Path(os.fspath(input))
    out_path = _output_path(output, dry_run, report, plot, labels)
    result = DedupResult(str(in_path), str(out_path) if out_path else None, auto=threshold is None)
    data = PlotData() if plot is not None else None  # the per-frame series, kept only for a plot
    with one_opencv_thread(), open_source(in_path, gray=True) as src:
        parallel = _set_up(src, in_path, out_path, report, plot, labels)
        result.images = isinstance(src, ImageListSource)
        if data is not None:
            data.images = result.images
        if on_total is not None:
            on_total(expected_frames(src))
        _Run(dd, src, result, data, progress, labels).run(
            parallel,
            out_path,
            report,
            lambda: VideoWriter(src, out_path, codec=codec, crf=crf, timing=timing, labels=labels),
        )
    if plot is not None and data is not None:
        _plot(Path(os.fspath(plot)), data, f"{in_path.name}: {result.summary()}", labels)
    if result.interrupted:
        raise DedupInterrupted(result)
    return result


def _output_path(
    output: str | os.PathLike | None,
    dry_run: bool,
    report: str | os.PathLike | None,
    plot: str | os.PathLike | None,
    labels: Mapping[str, str] | None,
) -> Path | None:
    """The output to write (``None`` for a dry run), once every output's folder and the plot's type are
    known to be fine."""
    if output is None and not dry_run:
        raise OptionError("no output given", f"give {named('output', labels)}, or {named('dry_run', labels)} to analyse only")
    out_path = Path(os.fspath(output)) if output is not None and not dry_run else None
    if plot is not None:
        check_plot_path(plot, named("plot", labels))
    for extra, setting in ((out_path, "output"), (report, "report"), (plot, "plot")):
        if extra is not None:
            check_folder(Path(os.fspath(extra)), named(setting, labels))
    return out_path


def _plot(path: Path, data: PlotData, title: str, labels: Mapping[str, str] | None) -> None:
    """Write the plot; an error names it as the caller does."""
    try:
        write_plot(path, data, title=title)
    except OutputError as e:
        raise OutputError(f"{named('plot', labels)}: {e.message}", e.hint) from None


def _set_up(
    src: Any,
    in_path: Path,
    out_path: Path | None,
    report: str | os.PathLike | None,
    plot: str | os.PathLike | None,
    labels: Mapping[str, str] | None,
) -> bool:
    """Check the outputs against the opened input, set its decoding up; whether a GOP-parallel dry run."""
    folder = isinstance(src, ImageListSource)
    # Every output against every file read (a folder's images too) and against each other, before
    # anything is opened for writing.
    read = [("INPUT", in_path)] + [("INPUT", p) for p in (src.paths if folder else [])]
    output, reported, plotted = (named(s, labels) for s in ("output", "report", "plot"))
    check_outputs([(output, out_path), (reported, report), (plotted, plot)], read)
    if folder and out_path is not None:
        for extra, name in ((report, reported), (plot, plotted)):
            if extra is not None and Path(os.path.realpath(extra)).is_relative_to(os.path.realpath(out_path)):
                raise OutputError(
                    f"{name} {extra} is inside the output folder {out_path}",
                    "the folder receives the kept images only: write it elsewhere",
                )
    if folder:
        src.gray = False  # colour images: colour-only changes count too
    # A dry run of a file with key frames decodes chunks of it on every core, each with a
    # single-threaded decoder, which costs less CPU than FFmpeg's frame threads (media.gop).
    parallel = out_path is None and isinstance(src, VideoSource) and gop.suits(src)
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
        raise OutputError("a folder of images gives a folder of images", f"give a folder name as {output}")
    return parallel


class _Run:
    """One dedup run over an opened source: the decisions, and the outputs they go to as they come."""

    def __init__(
        self,
        dd: Deduplicator,
        src: Any,
        result: DedupResult,
        data: PlotData | None,
        progress: Callable[[int], None] | None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.dd, self.src, self.result, self.data, self.progress = dd, src, result, data, progress
        self.labels = labels
        self.writer: Any = None
        self.reporter: ReportWriter | None = None
        self.last_time = 0.0

    def run(
        self,
        parallel: bool,
        out_path: Path | None,
        report: str | os.PathLike | None,
        video_writer: Callable[[], VideoWriter],
    ) -> None:
        """Decide every frame, write the outputs, finish them (or remove them on an error)."""
        src, result = self.src, self.result
        self.reporter = (
            ReportWriter(Path(os.fspath(report)), named("report", self.labels)) if report is not None else None
        )
        try:
            if out_path is not None:
                # A real run decodes once, fully, and encodes the very frames it analysed, on a
                # thread of its own so the encoder never waits for the analysis.
                self.writer = (
                    FolderWriter(out_path, _common_folder(src.paths), named("output", self.labels))
                    if isinstance(src, ImageListSource)
                    else EncodeThread(video_writer())
                )
            try:
                self._decide(parallel, out_path is None)
            except KeyboardInterrupt:
                result.interrupted = True
            if self.progress is not None and not result.interrupted:
                self.progress(result.frames)
            if not result.frames and not result.interrupted:
                # Nothing to write: an error, not an empty video or folder.
                why = f" ({len(src.warnings)} refused, the first: {src.warnings[0]})" if src.warnings else ""
                raise InputError(f"no frame of {result.input} could be read{why}", "check the input")
            self._finish()
        except BaseException:
            if self.writer is not None:
                self.writer.abort()
            if self.reporter is not None:
                self.reporter.abort()
            raise

    def _decide(self, parallel: bool, dry_run: bool) -> None:
        """Read and decide every frame (until Ctrl-C), handing each decision to :meth:`_commit`."""
        result = self.result
        # Sequentially, frames are shrunk here, not in the decode thread: that thread feeds the
        # decoder's frame threads, and every moment it spends on other work delays the next
        # frame's decode (measured: shrinking there made the dry run ~5% slower, not faster).
        # The GOP workers shrink the frames they decode, so that runs on every core.
        reader: Any = (
            gop.GopDecoder(self.src, functools.partial(prepare_decoded, self.dd))
            if parallel
            else Prefetch(self.src, _queue_depth(self.src, dry_run), "framediff-decode")
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
            for frame, d in self.dd.run(frames()):
                self._commit(None if parallel else frame, d)  # a parallel run is a dry run: nothing to write
                if self.progress is not None and d.index % 16 == 0:
                    self.progress(d.index + 1)

    def _commit(self, frame: Frame | None, d: Decision) -> None:
        result = self.result
        if self.reporter is not None:
            self.reporter.write(d.index, d.time, d.score, d.action)
        if self.data is not None:
            self.data.add(d)
        result.frames += 1
        if d.keep:
            result.kept += 1
            if self.writer is not None and frame is not None:
                self.writer.write(frame)
        else:
            result.saved += max(d.time - self.last_time, 0.0) if d.index else 0.0
        self.last_time = d.time

    def _finish(self) -> None:
        result, src = self.result, self.src
        step = 1.0 / src.fps if src.fps else 1.0
        result.duration = (self.last_time + step) if result.frames else 0.0
        result.threshold = self.dd.threshold
        result.warnings.extend(src.warnings)
        if self.writer is not None:
            if result.interrupted and isinstance(self.writer, EncodeThread):
                self.writer.finish(until=result.duration)
            else:
                self.writer.finish()
            result.warnings.extend(self.writer.warnings)
        if self.reporter is not None:
            self.reporter.finish()


trim = dedup_video
