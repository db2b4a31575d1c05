"""The ``watch`` loop: read a source, detect changes, raise events, survive a stream that drops.

:class:`Watcher` owns the source (opening, reconnecting with backoff, frozen-frame detection, pacing,
stopping on a signal) and hands every analysed frame and every event to callbacks. A :class:`WatchState`
holds what a live view needs (status, last frame, last result, recent events) behind a lock, so a web
view can read it from another thread while the loop runs.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import FramediffError, OptionError, SourceError
from ..media.frames import Frame, FrameSource
from ..media.prefetch import Prefetch
from ..media.sources import is_stream_url, open_source
from ..media.video import tune_decoder
from ..options import number
from ..redact import mask_password
from ..workers import one_opencv_thread
from .detector import ChangeDetector, FrameResult, WatchOptions, analysis_side, check_zone_name
from .events import Event, EventMachine, FrozenCheck
from .reading import frozen_probe, one_core_for_analysis, read_frames
from .state import WatchState, areas_outside

# The state and the reading helpers live in .state and .reading; named here too, where they were.
__all__ = ["Watcher", "WatchState", "EventCallback", "FrameCallback", "is_live_spec", "areas_outside"]

EventCallback = Callable[[Event, Frame], None]
FrameCallback = Callable[[FrameResult, Frame], None]


def is_live_spec(spec: str) -> bool:
    """Whether ``spec`` names a live source (a stream URL, a camera index or ``/dev/videoN``), not a file."""
    return is_stream_url(spec) or spec.isdigit() or bool(re.match(r"^/dev/video\d+$", spec))


class Watcher:
    """Watches a camera, stream, video file or image folder for changes.

    Example::

        w = Watcher("rtsp://cam/stream", WatchOptions(reference="background"), cooldown=2)
        w.on_event(lambda event, frame: print(event.to_dict()))
        w.run()  # until the source ends, max_frames/duration, stop() or Ctrl-C

    Args:
        source: What to watch (anything :func:`framediff.open_source` accepts).
        options: Detector settings.
        min_frames: Consecutive changed frames needed to start a change.
        cooldown: Seconds without change before a change ends.
        ignore: Ignore picture (white = ignore), any size (resized to the frames).
        ignore_boxes: Boxes to ignore, in source pixels.
        zones: Named boxes in source pixels; events say which ones a change touches. Names follow
            :func:`~framediff.watch.detector.check_zone_name`.
        only_zones: Watch only inside the zones.
        realtime: Pace a file at its own frame rate instead of as fast as possible.
        max_frames: Stop after this many frames (``None``: no limit).
        duration: Stop after this many seconds (stream time for files, wall-clock for live sources).
        reconnect_timeout: Seconds to keep trying to reopen a live source that dropped after opening.
        wait_for_source: Keep trying, without limit, to open a live source that is not up yet; without it a
            source that cannot be opened the first time is an error at once.
        frozen_after: Seconds of identical frames after which ``source_frozen`` is raised (0 = never).
        timeout: Seconds to wait for a stream to connect or to deliver data.
        log: Where status lines (``reconnecting ...``) go; ``None`` silences them.
        warn: Where warnings go (an ignore box or zone outside a picture whose size was only known once
            frames came); ``None``: Python's :mod:`warnings`.

    Attributes:
        shown_source: The source as status lines, errors, events and ``state.source`` show it: a stream
            URL's password masked (``rtsp://user:***@cam/...``).

    Raises:
        OptionError: when a setting is out of range or a zone name is not allowed.
    """

    def __init__(
        self,
        source: str | int,
        options: WatchOptions | None = None,
        *,
        min_frames: int = 2,
        cooldown: float = 1.0,
        ignore: np.ndarray | None = None,
        ignore_boxes: Sequence[tuple[int, int, int, int]] = (),
        zones: dict[str, tuple[int, int, int, int]] | None = None,
        only_zones: bool = False,
        realtime: bool = False,
        max_frames: int | None = None,
        duration: float | None = None,
        reconnect_timeout: float = 60.0,
        frozen_after: float = 10.0,
        timeout: float = 10.0,
        wait_for_source: bool = False,
        log: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.source = os.fspath(source) if not isinstance(source, int) else str(source)
        self.options = options or WatchOptions()
        self.min_frames = min_frames
        self.cooldown = cooldown
        self.ignore = ignore
        self.ignore_boxes = list(ignore_boxes)
        self.zones = {check_zone_name(n): b for n, b in (zones or {}).items()}
        self.only_zones = only_zones
        self.realtime = realtime
        # Frames that go out as pictures (snapshots, a recording, clips) are decoded in full: skipping the
        # deblocking filter, harmless to the shrunk analysis image, leaves blocks a viewer would see.
        self.full_decode = False
        self.max_frames = number("max_frames", max_frames, lo=1, hi=1e12, integer=True, allow_none=True)
        self.duration = number("duration", duration, lo=0, hi=1e9, allow_none=True)
        self.reconnect_timeout = float(number("reconnect_timeout", reconnect_timeout, lo=0, hi=1e9))
        self.frozen_after = float(number("frozen_after", frozen_after, lo=0, hi=1e9))
        self.timeout = float(number("timeout", timeout, lo=0.1, hi=3600))
        self.wait_for_source = wait_for_source
        self.log = log
        self.warn = warn
        # What is shown of the source (status, messages, events): a stream URL's password stays secret.
        self.shown_source = mask_password(self.source)
        self.state = WatchState(self.shown_source)
        self.machine = EventMachine(min_frames, cooldown, self.options.light_change)
        self._event_callbacks: list[EventCallback] = []
        self._frame_callbacks: list[FrameCallback] = []
        self._stop = threading.Event()
        self.stop_reason: str | None = None
        self.detector: ChangeDetector | None = None
        self._fps: float | None = None
        self._first: FrameSource | None = None  # opened by open() and not read yet
        self._opened = False  # the source was opened at least once
        self._checked_size: tuple[int, int] | None = None  # the picture size the areas were checked on

    # -- hooks ------------------------------------------------------------------------------------------

    def on_event(self, callback: EventCallback) -> EventCallback:
        """Call ``callback(event, frame)`` for every event (usable as a decorator)."""
        self._event_callbacks.append(callback)
        return callback

    def on_frame(self, callback: FrameCallback) -> FrameCallback:
        """Call ``callback(result, frame)`` for every analysed frame (usable as a decorator)."""
        self._frame_callbacks.append(callback)
        return callback

    def stop(self, reason: str = "stopped") -> None:
        """Ask the loop to end after the current frame (thread- and signal-safe)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    # -- the loop ---------------------------------------------------------------------------------------

    def open(self) -> FrameSource | None:
        """Open the source now, before the outputs are made, so that what cannot work fails at once.

        :meth:`run` calls it when it was not called before. A file, or a live source without
        ``wait_for_source``, that cannot be opened is an error here; a live source that is not up yet
        with ``wait_for_source`` is left for :meth:`run` to wait for (``None`` is returned). When the
        picture size is known, every ignore box and zone must lie at least partly inside the picture.

        Returns:
            The opened source (read by :meth:`run`; do not iterate it), or ``None``.

        Raises:
            SourceError: when the source cannot be opened.
            OptionError: when an ignore box or zone lies outside the picture.
        """
        if self._first is None and not self._opened:
            live = is_live_spec(self.source)
            try:
                self._first = open_source(self.source, gray=True, timeout=self.timeout)
            except FramediffError as e:
                if not (live and self.wait_for_source):
                    raise self._never_opened(e, live) from None
                return None
            self._opened = True
            size = self._first.size
            outside = areas_outside(size, self.ignore_boxes, self.zones) if size else []
            if outside:
                self._first.close()
                self._first = None
                raise OptionError(
                    f"{outside[0]} lies outside the {size[0]}x{size[1]} picture",
                    f"move it inside: x below {size[0]}, y below {size[1]}",
                )
            self._checked_size = size
        return self._first

    def close(self) -> None:
        """Release a source that :meth:`open` opened when :meth:`run` is not going to read it after all
        (an output that failed before the watch started). Harmless otherwise."""
        if self._first is not None:
            self._first.close()
            self._first = None

    def _never_opened(self, error: FramediffError, live: bool) -> FramediffError:
        """The error for a source that could not be opened the first time (a live one: how to wait)."""
        if not live:
            return error
        hint = f"{error.hint}; or wait_for_source to wait until it is up" if error.hint else None
        message = mask_password(error.message)  # the decoder's message quotes the URL
        return SourceError(
            message, hint or "check the address, or wait_for_source to wait for it", setting="wait_for_source"
        )

    def run(self, handle_signals: bool = True) -> WatchState:
        """Watch until the source ends, a limit is reached, :meth:`stop` is called, or a signal arrives.

        Open changes are closed (``change_end`` with a ``reason``) before returning, whatever the cause.

        Args:
            handle_signals: On the main thread, turn the first SIGINT/SIGTERM into a clean stop (a second
                SIGINT interrupts at once).

        Returns:
            The final state.

        Raises:
            FramediffError: when the source cannot be opened, or a live source stays unreachable for
                ``reconnect_timeout`` seconds.
        """
        restore = self._install_signals() if handle_signals else None
        last: Frame | None = None
        try:
            # The analysis images are small: OpenCV's own pool would only compete with the decoder.
            with one_opencv_thread():
                last = self._loop()
        finally:
            if restore:
                restore()
            frame = last or Frame(max(self.state.frame, 0), self.state.time, np.zeros((1, 1), np.uint8))
            for ev in self.machine.close(
                self.state.frame if self.state.frame >= 0 else 0,
                self.state.time,
                self.stop_reason or "source ended",
            ):
                self._emit(ev, frame)
            with self.state.lock:
                self.state.status = "ended"
                self.state.active = False
        return self.state

    def _install_signals(self) -> Callable[[], None] | None:
        if threading.current_thread() is not threading.main_thread():
            return None
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, _frame: Any) -> None:
            if signum == signal.SIGINT and self.stopped:
                raise KeyboardInterrupt  # a second Ctrl-C: the user really wants out now
            self.stop("interrupted" if signum == signal.SIGINT else "terminated")

        for s in old:
            signal.signal(s, handler)

        def restore() -> None:
            for s, h in old.items():
                signal.signal(s, h)

        return restore

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log(mask_password(text))  # reasons from the decoder may quote the URL

    def _warn(self, text: str) -> None:
        if self.warn is not None:
            self.warn(text)
        else:
            warnings.warn(text, stacklevel=2)

    def _open(self, live: bool, lost_since: float | None, reason: str) -> FrameSource | None:
        """Open the source; retry a live one with backoff: one that dropped until the reconnect timeout,
        one never opened yet (``wait_for_source``) without limit."""
        if self._first is not None:
            src, self._first = self._first, None
            return src
        delay = 0.5
        attempt = 0
        while not self.stopped:
            try:
                src = open_source(self.source, gray=True, timeout=self.timeout)
                self._opened = True
                return src
            except FramediffError as e:
                if not live:
                    raise
                if not self._opened and not self.wait_for_source:
                    raise self._never_opened(e, live) from None
                reason = str(e.message)
            attempt += 1
            waited = time.monotonic() - lost_since if lost_since is not None else 0.0
            if self._opened and waited >= self.reconnect_timeout:
                raise SourceError(
                    mask_password(f"{self.source} unreachable for {waited:.0f} s ({reason})"),
                    "check the address, or raise reconnect_timeout",
                    setting="reconnect_timeout",
                )
            with self.state.lock:  # a source not up yet is still "starting" (the page: "connecting")
                self.state.status = "reconnecting" if self._opened else "starting"
            verb = "reconnecting to" if self._opened else "waiting for"
            self._say(f"{verb} {self.source} (attempt {attempt}, {waited:.0f} s): {reason}")
            left = self.reconnect_timeout - waited if self._opened else delay
            self._stop.wait(min(delay, max(0.05, left)))
            delay = min(delay * 2, 10.0)
        return None

    def _loop(self) -> Frame | None:
        live = is_live_spec(self.source)
        run = _Run(FrozenCheck(self.frozen_after))
        lost_since: float | None = time.monotonic() if live else None
        lost_reason = "not connected yet"
        was_lost = False
        self.open()
        while not self.stopped:
            src = self._open(live, lost_since, lost_reason)
            if src is None:
                break
            live = live or src.live
            self._connected(src, live, run, lost_since if was_lost else None)
            lost_since = None
            try:
                self._frames(src, live, run)
                if not live or self.stopped:
                    break
                lost_reason = "the stream ended"
            except SourceError as e:
                if not live:
                    raise
                lost_reason = e.message
            finally:
                src.close()
                for warning in src.warnings:  # a picture of a folder left out, packets skipped
                    self._warn(warning)
            # A live source dropped (error or end of stream): report it once, then reopen.
            was_lost = True
            lost_since = time.monotonic()
            self._lost(run, lost_reason)
        return run.last

    def _connected(self, src: FrameSource, live: bool, run: _Run, lost_since: float | None) -> None:
        """A source is open (again, after ``lost_since`` when it had been lost): its decoder tuned, the
        detector made or restarted, ``source_restored`` raised after a loss."""
        self.tune_decoder(src, live)
        self._fps = src.fps or self._fps
        if self.detector is None:
            self.detector = self._make_detector()
        if lost_since is not None:
            gap = time.monotonic() - lost_since
            # The picture after a reconnect may differ from the last one before it (light, a moved
            # camera): start the reference afresh so the jump is never reported as a change.
            self.detector.restart()
            run.freeze.restart()
            run.base_time += gap
            self._emit(
                Event("source_restored", run.base_index, run.base_time, extra={"after": round(gap, 3)}), run.last
            )
        with self.state.lock:
            self.state.status = "running"
            self.state.fps = src.fps

    def _frames(self, src: FrameSource, live: bool, run: _Run) -> None:
        """Analyse an opened source's frames until it ends, fails (:class:`SourceError`) or the watch stops."""
        pace0: tuple[float, float] | None = None
        # A file (or folder) is read and decoded a few frames ahead in a second thread while this one
        # analyses. A live source arrives in real time anyway, and its reads can block for the whole
        # timeout, which would hold up stopping.
        ahead: Prefetch | None = None
        if not live:
            # The reader shrinks a frame only when the analysis is behind (see read_frames); it finds
            # its own queue through this list, filled once the Prefetch exists.
            queue_of: list[Prefetch] = []
            ahead = Prefetch(read_frames(src, self.options, queue_of), name="framediff-decode")
            queue_of.append(ahead)
        try:
            for frame, pixels, limited, small, thumb in ahead if ahead is not None else read_frames(src, self.options):
                if self.stopped:
                    break
                # The frame is ours (the source keeps no reference): renumber it in place, so a
                # LumaFrame stays one and its full-size picture is still only made on demand.
                t_src = frame.time
                frame.index += run.base_index
                frame.time += run.base_time
                f = frame
                if self.realtime and not live:
                    pace0 = pace0 or (time.monotonic(), t_src)
                    wait = pace0[0] + (t_src - pace0[1]) - time.monotonic()
                    if wait > 0 and self._stop.wait(wait):
                        break
                if thumb is None:  # left to this thread (a live source, or a reader with no time)
                    thumb = frozen_probe(pixels)
                self._analyse(f, pixels, limited, small)
                run.last = f
                run.count += 1
                self._after_frame(f, thumb, limited, live, run)
        finally:
            if ahead is not None:
                ahead.close()  # before closing the source: the reader may be inside a decode

    def _after_frame(self, f: Frame, thumb: np.ndarray, limited: bool, live: bool, run: _Run) -> None:
        """A frozen picture (or one moving again) raises its event; the frame and time limits stop."""
        turned = run.freeze.push(thumb, limited, f.time)
        if turned is not None:
            with self.state.lock:
                self.state.status = "frozen" if turned == "source_frozen" else "running"
            since = {"since": round(run.freeze.since, 4)} if turned == "source_frozen" else {}
            self._emit(Event(turned, f.index, f.time, extra=since), f)
        if self.max_frames is not None and run.count >= self.max_frames:
            self.stop("max frames")
        if self.duration is not None:
            run.t_first = f.time if run.t_first is None else run.t_first
            elapsed = (time.monotonic() - run.wall0) if live else (f.time - run.t_first)
            if elapsed >= self.duration:
                self.stop("duration")

    def _lost(self, run: _Run, reason: str) -> None:
        """A live source dropped: indices and times go on from its last frame; ``source_lost`` once."""
        last = run.last
        run.base_index = (last.index + 1) if last is not None else run.base_index
        run.base_time = last.time if last is not None else run.base_time
        self._emit(
            Event(
                "source_lost",
                max(run.base_index - 1, 0),
                run.base_time,
                extra={"reason": mask_password(reason)},  # the decoder's message may quote the URL
            ),
            last,
        )
        # A stream's own error already says "lost SOURCE: ..." (printing it again doubled it).
        self._say(reason if reason.startswith("lost ") else f"lost {self.source}: {reason}")

    def tune_decoder(self, src: FrameSource, live: bool = False) -> None:
        """Set the decoder up as the watch decodes: no deblocking when frames shrink a lot, and for files
        one decoder thread beside the analysis where that is faster (see ``one_core_for_analysis``).

        Call it before the first frame is read (the benchmark uses it to time the decoder alone).

        Args:
            src: The opened source.
            live: The source is live (a camera or stream): its decoder keeps FFmpeg's threads.
        """
        self._fast_decode(src)
        if not (live or src.live):
            one_core_for_analysis(src)

    def _fast_decode(self, src: FrameSource) -> None:
        """Skip H.264/HEVC deblocking when frames are shrunk a lot for analysis.

        Deblocking smooths 8-16 px block edges; shrinking a frame threefold or more averages them away
        anyway, and skipping it makes decoding (the bulk of the work at 1080p) about a quarter faster.
        Small frames keep it: there the blocks would survive into the analysis image.
        """
        stream = getattr(src, "stream", None)
        size = src.size
        if self.full_decode or stream is None or size is None:
            return
        if max(size) < 3 * analysis_side(*size, self.options.analysis_size):
            return
        tune_decoder(stream, skip_loop_filter=True)  # a PyAV without codec options decodes normally

    def _make_detector(self) -> ChangeDetector:
        return ChangeDetector(
            self.options,
            fps=self._fps,
            ignore=self.ignore,
            ignore_boxes=self.ignore_boxes,
            zones=self.zones,
            only_zones=self.only_zones,
        )

    def _analyse(self, frame: Frame, pixels: np.ndarray, limited: bool, small: np.ndarray | None) -> None:
        assert self.detector is not None
        h, w = pixels.shape[:2]
        if self.detector.frame_size not in (None, (w, h)):
            # A camera that came back at another resolution: a new scene, learnt afresh (never a change).
            self._say(f"{self.source}: the picture is now {w}x{h}; starting afresh")
            self.detector = self._make_detector()
        if self._checked_size != (w, h):
            # Known only now (a folder, a stream whose header had no size, a camera that came back at
            # another size): areas outside the picture can only be warned about, the watch is running.
            self._checked_size = (w, h)
            for what in areas_outside((w, h), self.ignore_boxes, self.zones):
                self._warn(f"{what} lies outside the {w}x{h} picture; it has no effect")
        result = self.detector.push(pixels, frame.index, frame.time, limited=limited, small=small)
        with self.state.lock:
            st = self.state
            st.frames += 1
            st.frame, st.time = frame.index, frame.time
            st.size = (w, h)
            st.result = result
            st.last = frame
        for cb in self._frame_callbacks:
            cb(result, frame)
        for ev in self.machine.push(result):
            self._emit(ev, frame)

    def _emit(self, event: Event, frame: Frame | None) -> None:
        with self.state.lock:
            self.state.active = self.machine.active
            self.state.changes = self.machine.count
        blank = Frame(event.frame, event.time, np.zeros((1, 1), np.uint8))
        for cb in self._event_callbacks:
            cb(event, frame if frame is not None else blank)
        with self.state.lock:
            self.state.events.append(event.to_dict())


@dataclass
class _Run:
    """What one :meth:`Watcher.run` carries from connection to connection.

    Attributes:
        freeze: The frozen-picture check.
        base_index: Frames before the current connection, so indices keep growing across reconnects.
        base_time: Stream time before the current connection (the gaps included).
        count: Frames analysed.
        last: The last frame analysed.
        wall0: When the run started (a live source's ``duration`` is wall-clock time).
        t_first: The first frame's time (a file's ``duration`` is stream time).
    """

    freeze: FrozenCheck
    base_index: int = 0
    base_time: float = 0.0
    count: int = 0
    last: Frame | None = None
    wall0: float = field(default_factory=time.monotonic)
    t_first: float | None = None


def stderr_log(text: str) -> None:
    """Print a status line on stderr (the CLI's ``log``)."""
    print(text, file=sys.stderr, flush=True)
