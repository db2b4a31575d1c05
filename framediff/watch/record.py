"""``watch --record`` and ``--clips``: watched frames written to video, with what was found drawn on them
(the debug recording) or as they are (a clip of each change, from a little before it to a little after).

Users tuning a detector ask for exactly this (Motion's "motion boxes" debug movie): every analysed frame
at its own size and time, changed regions boxed in red, zones outlined and named, the ignored areas
shaded (ignore boxes outlined in magenta) as the live view shows them, the frame number and time in the
corner, and a red border while a change is open. Drawing, colour conversion and encoding
run on a thread of their own behind a short queue, so the analysis waits only when the encoder falls
behind a file; a live source never waits: frames the encoder cannot take in time are left out of the
recording (their timestamps keep the rest in place) and counted.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import warnings
from collections import deque
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..analysis.prepare import to_bgr8
from ..analysis.regions import Region, ignore_mask
from ..draw import draw_recording
from ..errors import OptionError, OutputError, named
from ..media.encode import add_video_stream, stamp_frame
from ..media.frames import FRAME_CONVERSION, Frame, frame_colour
from ..paths import check_folder_writable, disk_error, make_folder, remove_quietly, temp_path
from .events import CHANGE_END, CHANGE_START, Event

__all__ = ["EventClips", "Recorder", "RECORD_FORMATS"]

RECORD_FORMATS = (".mp4", ".mkv", ".mov", ".avi")  # containers that take H.264
_TIME_BASE = Fraction(1, 1000)  # milliseconds: exact enough for any frame rate, and variable timing


class Recorder:
    """Encodes frames, annotated or as they are, to an H.264 video from a thread of its own.

    The file is written under a temporary name and moved into place by :meth:`close`: a crash never
    leaves a truncated video under the final name, while a watch ended by Ctrl-C or SIGTERM (which
    closes its outputs) keeps the recording so far, finished and playable.

    Args:
        path: The video to write (``.mp4``, ``.mkv``, ``.mov`` or ``.avi``).
        fps: Nominal frame rate for the file's header. Timestamps are the frames' own, shifted so the
            file starts at 0.
        zones: Named zone boxes to outline on every frame.
        ignore: The ignore picture (white = ignore, any size), shaded on every frame.
        ignore_boxes: Boxes to ignore, in source pixels: shaded and outlined on every frame.
        wait: Whether :meth:`write` waits for the encoder when it is behind (files); if not, the frame
            is left out of the recording (live sources, which must not fall behind).
        crf: x264 quality (lower is better; 23 is x264's default).
        preset: x264 speed preset; ``veryfast`` keeps up with 1080p on two cores.
        annotate: Draw regions, zones, the frame number and time; ``False`` encodes the frames as they
            are (a decoder's frame then goes to the encoder without any colour conversion).
        backlog: Extra room in the queue, for frames handed over at once (a clip's held frames): they
            are queued without waiting, even from a live source.
        label: What the caller calls the recording in messages (a command line: ``--record``).

    Raises:
        OptionError: when the extension is not one of :data:`RECORD_FORMATS`.
        OutputError: when the file cannot be created.
    """

    DEPTH = 4  # frames waiting for the encoder: enough to ride out an uneven frame

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float | None = None,
        zones: dict[str, tuple[int, int, int, int]] | None = None,
        *,
        ignore: np.ndarray | None = None,
        ignore_boxes: list[tuple[int, int, int, int]] | None = None,
        wait: bool = True,
        crf: int = 23,
        preset: str = "veryfast",
        annotate: bool = True,
        backlog: int = 0,
        label: str = "record",
    ) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in RECORD_FORMATS:
            raise OptionError(
                f"{label} {self.path.name}: cannot write a video of that type",
                "use an .mp4, .mkv, .mov or .avi name",
            )
        if self.path.is_dir():
            raise OutputError(f"cannot write {self.path}: it is a folder", "give a file name for the video")
        self.tmp = temp_path(self.path)
        self.fps = fps
        self.zones = zones or {}
        self.ignore = ignore
        self.ignore_boxes = list(ignore_boxes or [])
        self._mask: tuple[Any, np.ndarray | None] = (None, None)  # (what it was made of, the mask)
        self.wait = wait
        self.crf, self.preset = crf, preset
        self.annotate = annotate
        self.written = 0
        self.skipped = 0  # frames left out because the encoder was behind (live sources only)
        self._container: Any = None
        self._stream: Any = None
        self._last_pts = -1
        self._t0: float | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._done = threading.Event()  # the file is finished (or given up) by the encoder thread
        self._queue: queue.Queue = queue.Queue(self.DEPTH + max(0, backlog))
        try:
            # Created now, so a folder that is missing or read-only is an error before the watch starts.
            self.tmp.touch()
        except OSError as e:
            raise OutputError(
                f"cannot write {self.path}: {e.strerror}", "free some space / choose another folder"
            ) from None
        self._thread = threading.Thread(target=self._run, name="framediff-record", daemon=True)
        self._thread.start()

    def set_areas(
        self, ignore_boxes: list[tuple[int, int, int, int]], zones: dict[str, tuple[int, int, int, int]]
    ) -> None:
        """Draw other ignore boxes and zones from the next frame on (edited on the live view)."""
        # Each is replaced whole, never changed in place: the encoder's thread reads them as they are.
        self.ignore_boxes, self.zones = list(ignore_boxes), dict(zones)

    def write(self, frame: Frame, regions: list[Region], changing: bool = False) -> None:
        """Queue one analysed frame with its regions (``changing``: a change is open: red border).

        Raises:
            OutputError: when encoding an earlier frame failed.
        """
        if self._closed:
            raise OutputError(f"{self.path} is already finished", "make a new Recorder for more frames")
        if self._error is not None:
            raise OutputError(f"cannot write {self.path}: {self._error}", "check the disk") from None
        item = (frame, list(regions), changing, frame.index, frame.time)
        if self.wait:
            self._queue.put(item)
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.skipped += 1

    def _open(self, width: int, height: int) -> None:
        import av

        # MP4/MOV with the index first: a browser (the live view) can start playing before it has it all.
        fast = {"movflags": "+faststart"} if self.path.suffix.lower() in (".mp4", ".mov") else {}
        self._container = av.open(str(self.tmp), "w", options=fast)
        rate = Fraction(self.fps).limit_denominator(1001) if self.fps else Fraction(25)
        # AVI has no timestamps, only a frame rate: there the time base is one frame (a millisecond base
        # would declare 1000 frames a second and index an empty entry for every missing millisecond).
        self._time_base = 1 / rate if self.path.suffix.lower() == ".avi" else _TIME_BASE
        # 4:2:0 needs even sizes: a picture one pixel off is cropped (a decoder's frame is scaled by it).
        self._stream = add_video_stream(
            self._container,
            "libx264",
            rate,
            width,
            height,
            pix_fmt="yuv420p",
            time_base=self._time_base,
            options={"crf": str(self.crf), "preset": self.preset},
        )

    def _picture(self, frame: Frame, regions: list[Region], changing: bool, index: int, t: float) -> Any:
        """The ``av.VideoFrame`` to encode for one queued frame."""
        import av

        raw = frame.raw
        if not self.annotate and hasattr(raw, "reformat"):
            if self._stream is None:
                self._open(raw.width, raw.height)
            s = self._stream
            if (raw.width, raw.height, raw.format.name) != (s.width, s.height, "yuv420p"):
                # Another format or size (10-bit, 4:4:4, an odd size, a camera now at another size):
                # converted here, under the lock, never by the encoder on a frame others may convert.
                with FRAME_CONVERSION:
                    return raw.reformat(width=s.width, height=s.height, format="yuv420p")
            # The decoder's frame itself; only its timestamp and picture type are set, which other users
            # of the frame do not read.
            return raw
        picture = to_bgr8(frame_colour(frame))  # grey, BGRA or 16-bit pictures from a folder too
        if self.annotate:
            boxes = self.ignore_boxes
            picture = draw_recording(
                picture,
                regions,
                self.zones,
                f"{index}  {t:.2f}s",
                ignored=self._ignored(picture.shape[1], picture.shape[0], boxes),
                ignore_boxes=boxes,
                changing=changing,
            )
        if self._stream is None:
            self._open(picture.shape[1], picture.shape[0])
        s = self._stream
        picture = picture[: s.height, : s.width]
        if picture.shape[:2] != (s.height, s.width):  # a camera that came back at another size
            picture = cv2.resize(picture, (s.width, s.height), interpolation=cv2.INTER_AREA)
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="bgr24")

    def _ignored(self, width: int, height: int, boxes: list[tuple[int, int, int, int]]) -> np.ndarray | None:
        """The ignore mask at this size, made again only when the size or the boxes change."""
        key = (width, height, tuple(boxes))
        if self._mask[0] != key:
            self._mask = (key, ignore_mask((width, height), self.ignore, boxes))
        return self._mask[1]

    def _encode(self, frame: Frame, regions: list[Region], changing: bool, index: int, t: float) -> None:
        vf = self._picture(frame, regions, changing, index, t)
        if self._t0 is None:
            self._t0 = t  # the file starts at 0 (a live stream's clock may be far along)
        self._last_pts = max(round((t - self._t0) / self._time_base), self._last_pts + 1)
        for packet in self._stream.encode(stamp_frame(vf, self._last_pts, self._time_base)):
            self._container.mux(packet)
        self.written += 1

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            if self._error is not None:
                continue  # keep draining so write() never blocks on a dead encoder
            try:
                self._encode(*item)
            except Exception as e:  # noqa: BLE001 - reported by close()
                self._error = e
        try:
            self._finish()
        finally:
            self._done.set()

    def _finish(self) -> None:
        """Flush the encoder, close the file, move it into place (or delete it: no frame, or an error)."""
        try:
            if self._container is not None and self._error is None:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
        except Exception as e:  # noqa: BLE001 - reported by close()
            self._error = e
        finally:
            if self._container is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        self._container.close()  # where a full disk shows: the muxer's last write
                    except Exception as e:  # noqa: BLE001 - reported by close()
                        self._error = self._error or e
        try:
            if self._error is None and self.written:
                os.replace(self.tmp, self.path)
                return
        except OSError as e:
            self._error = e
        remove_quietly(self.tmp)

    def close(self, wait: bool = True) -> None:
        """Finish the video: encode what is queued, then move the file into place (nothing is kept when no
        frame was recorded, or when encoding failed). Closing twice is harmless.

        Args:
            wait: Wait until the file is complete; ``False`` returns at once and lets the encoder's thread
                finish it (see :meth:`wait_done`).

        Raises:
            OutputError: when encoding or writing failed (only when waiting).
        """
        if not self._closed:
            self._closed = True
            self._queue.put(None)  # room is always left for it: write() waits or skips, never overfills
        if wait:
            self.wait_done()

    @property
    def done(self) -> bool:
        """Whether a closed recording is complete (moved into place, or given up)."""
        return self._done.is_set()

    def wait_done(self, timeout: float | None = None) -> None:
        """Wait for a closed recording to be complete.

        Raises:
            OutputError: when encoding or writing failed.
        """
        self._done.wait(timeout)
        if self._error is not None:
            error, self._error = self._error, None
            if isinstance(error, OSError):
                raise disk_error(self.path, error)
            raise OutputError(f"cannot write {self.path}: {error}", "check the disk and the name")


class EventClips:
    """Saves a video clip of every change, from ``pre`` seconds before it starts to ``post`` after it ends.

    The last few frames are held (as the decoder delivered them) so a clip can begin before the change
    was noticed: the change's own start (its first changed frame, before the debounce) minus ``pre``.
    Frames are held by time, so variable frame rates get their full ``pre`` seconds; memory is bounded by
    that window (about 3 MB a frame at 1080p) and by ``max_held`` frames. A change that starts again
    before the last clip's ``post`` seconds are over continues that clip, so one visit is one clip. Each
    clip is encoded and finished on a thread of its own (see :class:`Recorder`): the watch never waits
    for a clip to be finished, and a clip appears under its name only once it is complete.

    Call :meth:`frame` for every analysed frame and :meth:`event` for every event, in that order per
    frame (as :class:`~framediff.watch.Watcher` does); ``change_start`` and ``change_end`` events get a
    ``clip`` field with the clip's path.

    Args:
        folder: Where to save the clips (``change-00001-frame-000123.mp4``); created if missing.
        pre: Seconds before a change's start to include.
        post: Seconds after a change's end to include.
        debounce_frames: Changed frames a change needs before it starts (``--min-frames``): they are
            held too, since the start event names the first of them.
        wait: As for :class:`Recorder` (``False`` for live sources).
        max_held: Most frames held for ``pre`` (a bound on memory whatever the frame rate).
        max_length: Seconds a clip lasts at most: a change that goes on longer (a camera that never settles)
            continues in a new clip, named after its first frame, so no file grows without end.
        labels: What the caller calls ``pre``, ``post``, ``max_length`` and the clips (``clips``) in
            messages (a command line: ``{"pre": "--pre"}``); by default their names here.

    Raises:
        OptionError: when ``pre``, ``post`` or ``max_length`` is out of range.
        OutputError: when the folder cannot be created or written to.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        pre: float = 1.0,
        post: float = 2.0,
        *,
        debounce_frames: int = 2,
        wait: bool = True,
        max_held: int = 600,
        max_length: float = 600.0,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        from ..options import number

        self.pre = number(named("pre", labels), pre, lo=0, hi=60)
        self.post = number(named("post", labels), post, lo=0, hi=3600)
        self.max_length = number(named("max_length", labels), max_length, lo=1, hi=86400)
        self.folder = Path(folder)
        self.label = named("clips", labels)  # how a lost clip's warning names the clips
        # Checked now, so a folder the watch cannot write to fails before the watch starts; created with
        # the first clip (or at a good end), so a run that fails first leaves no empty folder.
        check_folder_writable(self.folder, "clips")
        self.debounce = max(1, int(debounce_frames))
        self.wait = wait
        self.max_held = max(self.debounce + 1, int(max_held))
        self.fps: float | None = None
        self.saved: list[str] = []
        self.skipped = 0  # frames left out of clips because their encoder was behind (live sources)
        self._recent: deque[Frame] = deque()
        self._clip: Recorder | None = None
        self._path: str | None = None
        self._id = 0  # the change the open clip belongs to
        self._started = 0.0  # stream time of the open clip's first frame
        self._until: float | None = None  # the open clip's end, once its change has ended
        self._finishing: list[Recorder] = []  # closed clips their threads are still finishing

    def frame(self, frame: Frame) -> None:
        """Hold or record one analysed frame."""
        self._collect()
        if self._clip is not None:
            if self._until is not None and frame.time > self._until:
                self._end_clip()
            else:
                if frame.time - self._started >= self.max_length:  # goes on in a new file
                    until = self._until
                    self._end_clip()
                    self._open(self._id, frame.index, frame.time, [])
                    self._until = until
                self._clip.write(frame, [])
                return
        held = self._recent
        held.append(frame)
        # Keep the debounce's frames, and before the first of them everything within `pre` seconds.
        first = held[-self.debounce] if len(held) >= self.debounce else held[0]
        while len(held) > self.max_held or (
            len(held) > self.debounce and held[0].time < first.time - self.pre - 1e-6
        ):
            held.popleft()

    def event(self, event: Event, frame: Frame) -> None:
        """Open, extend or end the clip of a change; name the clip in the event."""
        if event.event == CHANGE_START:
            if self._clip is None:
                held = [f for f in self._recent if f.time >= event.time - self.pre - 1e-6]
                self._open(event.id, event.frame, held[0].time if held else event.time, held)
                self._recent.clear()
            self._until = None
        elif event.event == CHANGE_END and self._clip is not None:
            self._until = event.time + self.post
        else:
            return
        event.extra["clip"] = self._path

    def _open(self, change: int, first_frame: int, start: float, held: list[Frame]) -> None:
        """Start the clip file of change ``change`` and hand it the frames held for it."""
        path = self.folder / f"change-{change:05d}-frame-{first_frame:06d}.mp4"
        make_folder(self.folder)
        self._clip = Recorder(path, fps=self.fps, wait=self.wait, annotate=False, backlog=len(held))
        self._path, self._id, self._started = str(path), change, start
        for f in held:
            self._clip.write(f, [])

    def _end_clip(self) -> None:
        clip, self._clip, self._until = self._clip, None, None
        if clip is not None:
            clip.close(wait=False)  # finished on its own thread: the watch goes on meanwhile
            self._finishing.append(clip)

    def _collect(self, wait: bool = False) -> None:
        """Account for clips whose threads have finished them (all of them, waiting, with ``wait``)."""
        still = []
        for clip in self._finishing:
            if not wait and not clip.done:
                still.append(clip)
                continue
            self.skipped += clip.skipped
            try:
                clip.wait_done()
            except OutputError as e:  # one lost clip must not end the watch
                print(f"warning: {self.label}: {e.message}", file=sys.stderr)
                continue
            if clip.written:
                self.saved.append(str(clip.path))
        self._finishing = still

    def close(self, failed: bool = False) -> None:
        """Finish every clip (the watch ended: no more frames will come) and wait until they are written.

        Args:
            failed: The run failed: a folder no clip went into is not created.
        """
        if not failed:
            make_folder(self.folder)
        self._end_clip()
        self._collect(wait=True)
        self._recent.clear()
