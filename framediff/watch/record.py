"""``watch --record``: the watched frames, with what was found drawn on them, written to a video.

Users tuning a detector ask for exactly this (Motion's "motion boxes" debug movie): every analysed frame
at its own size and time, changed regions boxed in red, zones outlined and named, the frame number and
time in the corner, and a red border while a change is open. Drawing, colour conversion and encoding
run on a thread of their own behind a short queue, so the analysis waits only when the encoder falls
behind a file; a live source never waits: frames the encoder cannot take in time are left out of the
recording (their timestamps keep the rest in place) and counted.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import OptionError, OutputError
from ..regions import Region
from ..sources import Frame
from .sinks import draw_regions, frame_colour

__all__ = ["Recorder", "RECORD_FORMATS"]

RECORD_FORMATS = (".mp4", ".mkv", ".mov", ".avi")  # containers that take H.264
_TIME_BASE = Fraction(1, 1000)  # milliseconds: exact enough for any frame rate, and variable timing


class Recorder:
    """Encodes annotated frames to an H.264 video, from a thread of its own.

    The file is written under a temporary name and moved into place by :meth:`close`: a crash never
    leaves a truncated video under the final name, while a watch ended by Ctrl-C or SIGTERM (which
    closes its outputs) keeps the recording so far, finished and playable.

    Args:
        path: The video to write (``.mp4``, ``.mkv``, ``.mov`` or ``.avi``).
        fps: Nominal frame rate for the file's header (timestamps are the frames' own).
        zones: Named zone boxes to outline on every frame.
        wait: Whether :meth:`write` waits for the encoder when it is behind (files); if not, the frame
            is left out of the recording (live sources, which must not fall behind).
        crf: x264 quality (lower is better; 23 is x264's default).
        preset: x264 speed preset; ``veryfast`` keeps up with 1080p on two cores.

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
        wait: bool = True,
        crf: int = 23,
        preset: str = "veryfast",
    ) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in RECORD_FORMATS:
            raise OptionError(
                f"--record {self.path.name}: cannot write a video of that type",
                "use an .mp4, .mkv, .mov or .avi name",
            )
        self.tmp = self.path.with_name(f".{self.path.stem}.part{self.path.suffix}")
        self.fps = fps
        self.zones = zones or {}
        self.wait = wait
        self.crf, self.preset = crf, preset
        self.written = 0
        self.skipped = 0  # frames left out because the encoder was behind (live sources only)
        self._container: Any = None
        self._stream: Any = None
        self._last_pts = -1
        self._error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(self.DEPTH)
        try:
            # Created now, so a folder that is missing or read-only is an error before the watch starts.
            self.tmp.touch()
        except OSError as e:
            raise OutputError(
                f"cannot write {self.path}: {e.strerror}", "check the folder exists and is writable"
            ) from None
        self._thread = threading.Thread(target=self._run, name="framediff-record", daemon=True)
        self._thread.start()

    def write(self, frame: Frame, regions: list[Region], changing: bool = False) -> None:
        """Queue one analysed frame with its regions (``changing``: a change is open: red border).

        Raises:
            OutputError: when encoding an earlier frame failed.
        """
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

        self._container = av.open(str(self.tmp), "w")
        rate = Fraction(self.fps).limit_denominator(1001) if self.fps else Fraction(25)
        s = self._container.add_stream("libx264", rate=rate)
        # 4:2:0 needs even sizes: the odd last row or column is left out rather than the picture scaled.
        s.width, s.height = width - width % 2, height - height % 2
        s.pix_fmt = "yuv420p"
        s.time_base = _TIME_BASE
        s.codec_context.time_base = _TIME_BASE
        s.options = {"crf": str(self.crf), "preset": self.preset}
        s.thread_type = "AUTO"  # x264's frame threads, as the ffmpeg command would use
        self._stream = s

    def _encode(self, frame: Frame, regions: list[Region], changing: bool, index: int, t: float) -> None:
        import av

        picture = draw_regions(frame_colour(frame), regions, self.zones, f"{index}  {t:.2f}s")
        if changing:
            h, w = picture.shape[:2]
            th = max(2, round(max(h, w) / 250))
            cv2.rectangle(picture, (0, 0), (w - 1, h - 1), (0, 0, 255), 2 * th)  # half of it is outside
        if self._stream is None:
            self._open(picture.shape[1], picture.shape[0])
        s = self._stream
        picture = picture[: s.height, : s.width]
        if picture.shape[:2] != (s.height, s.width):  # a camera that came back at another size
            picture = cv2.resize(picture, (s.width, s.height), interpolation=cv2.INTER_AREA)
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="bgr24")
        self._last_pts = max(round(t / _TIME_BASE), self._last_pts + 1)
        vf.pts = self._last_pts
        vf.time_base = _TIME_BASE
        for packet in s.encode(vf):
            self._container.mux(packet)
        self.written += 1

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue  # keep draining so write() never blocks on a dead encoder
            try:
                self._encode(*item)
            except Exception as e:  # noqa: BLE001 - reported on the caller's thread
                self._error = e

    def close(self) -> None:
        """Encode what is queued, finish the file and move it into place (nothing is kept when no frame
        was recorded, or when encoding failed).

        Raises:
            OutputError: when encoding failed.
        """
        self._queue.put(None)
        self._thread.join()
        try:
            if self._container is not None and self._error is None:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
        except Exception as e:  # noqa: BLE001 - reported below
            self._error = e
        finally:
            if self._container is not None:
                with warnings.catch_warnings(), contextlib.suppress(Exception):
                    warnings.simplefilter("ignore")
                    self._container.close()
        if self._error is None and self.written:
            os.replace(self.tmp, self.path)
            return
        self.tmp.unlink(missing_ok=True)
        if self._error is not None:
            raise OutputError(f"cannot write {self.path}: {self._error}", "check the disk and the name")
