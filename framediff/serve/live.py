"""The live view's engine: what the web server shows, kept off the watch loop's critical path.

The watch loop (the analysis thread) only drops its latest frame into a one-item slot and appends events
to a bounded list; it never encodes, never touches a socket, never waits for a viewer. One encoder
thread draws and JPEG-encodes at most ``max_fps`` frames a second, and only while someone is watching;
the JPEG is shared by every viewer. Each viewer's connection thread takes the newest JPEG when it is
ready for one, so a slow viewer skips frames instead of queueing them, and a stalled one only blocks
its own thread until its socket times out.

Edits of the areas (ignore boxes, zones) arrive from request threads; they are validated there, queued,
and applied by the analysis thread between two frames (:meth:`ChangeDetector.set_areas`), so the
detector is never changed under its feet.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..analysis.prepare import to_bgr8, to_gray
from ..analysis.regions import Region, ignore_mask
from ..draw import draw_live
from ..errors import FramediffError, OptionError
from ..media.frames import Frame, decoded_colour
from ..watch import Event, FrameResult, Watcher
from ..watch.settings import AreaSettings, check_box, check_zone_name, save_settings

__all__ = ["LiveView"]

Box = tuple[int, int, int, int]
AreasListener = Callable[[list[Box], dict[str, Box]], None]

_STATUS_LABELS = {"running": "connected", "starting": "connecting"}


@dataclasses.dataclass
class _Snapshot:
    full: bytes
    thumb: bytes


class LiveView:
    """Collects what a live view needs from a :class:`~framediff.watch.Watcher`, off its critical path.

    Example::

        watcher = Watcher("rtsp://cam/live")
        live = LiveView(watcher)
        server = LiveServer(live, ("127.0.0.1", 8080))
        server.start()
        watcher.run()
        server.close()

    Args:
        watcher: The watcher to observe (callbacks are registered on it at once).
        max_fps: Most frames a second encoded for the live picture.
        stream_width: Longest side of the live picture in pixels (larger frames are shrunk).
        snapshot_width: Longest side of the event snapshots.
        quality: JPEG quality of the live picture (1-100).
        max_events: Events kept for the page and ``/api/events`` (the oldest are dropped).
        snapshot_memory: Bytes of full-size event snapshots kept in memory. When a new one would exceed
            it, the oldest full-size pictures are dropped and their events keep only their thumbnail
            (served in their place): a busy scene fills ``max_events`` only after tens of minutes, and
            200 pictures of ~150 kB each would otherwise grow the process by 30 MB on the way.
        config_path: Where "save" writes the areas (``None``: the page cannot save).
        ignore_picture: The ``--ignore`` picture, to shade it on the live view.
        settings: Further settings in force, shown as they are on the page.

    Raises:
        OptionError: when a setting is out of range.
    """

    def __init__(
        self,
        watcher: Watcher,
        *,
        max_fps: float = 10.0,
        stream_width: int = 960,
        snapshot_width: int = 1280,
        quality: int = 80,
        max_events: int = 200,
        snapshot_memory: int = 4 << 20,
        config_path: str | None = None,
        ignore_picture: np.ndarray | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        if not 0.5 <= max_fps <= 60:
            raise OptionError(f"live view frame rate {max_fps} is out of range", "use 0.5 to 60")
        self.watcher = watcher
        self.max_fps = float(max_fps)
        self.stream_width = int(stream_width)
        self.snapshot_width = int(snapshot_width)
        self.quality = int(quality)
        self.config_path = config_path
        self.ignore_picture = ignore_picture
        self.settings = dict(settings or {})
        self.areas_listeners: list[AreasListener] = []
        # Areas: the page's view of them (what will be in force from the next frame on).
        self._areas_lock = threading.Lock()
        self._ignore_boxes: list[Box] = list(watcher.ignore_boxes)
        self._zones: dict[str, Box] = dict(watcher.zones)
        self._areas_version = 0
        self._pending: tuple[list[Box], dict[str, Box]] | None = None
        self.areas_error: str | None = None
        # The slot: the latest (frame, result, areas) from the analysis thread; replaced, never queued.
        self._slot: tuple[Frame, FrameResult] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._times: deque[float] = deque(maxlen=64)
        # The shared JPEG and who waits for it.
        self._jpeg_cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0
        self._viewers = 0
        self._still_wanted_until = 0.0
        self.encoded = 0
        # Events and their snapshots.
        self._events_lock = threading.Lock()
        self._events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self._seq = 0
        self._snapshots: OrderedDict[int, _Snapshot] = OrderedDict()
        self._max_snapshots = max_events
        self._snapshot_memory = int(snapshot_memory)
        self._full_bytes = 0  # size of the full-size pictures in _snapshots
        self._jobs: queue.SimpleQueue[tuple[int, Frame, list[Region]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        watcher.on_frame(self._on_frame)
        watcher.on_event(self._on_event)

    # -- the analysis thread's side: constant, tiny work ------------------------------------------------

    def _on_frame(self, result: FrameResult, frame: Frame) -> None:
        if self._pending is not None:  # unlocked peek: the lock is taken only when there is an edit
            with self._areas_lock:
                pending, self._pending = self._pending, None
            if pending is not None:
                self._apply(*pending)
        self._slot = (frame, result)  # one reference store: atomic, never waits
        self._times.append(time.monotonic())
        if self._viewers or self._still_wanted_until:
            self._wake.set()

    def _apply(self, boxes: list[Box], zones: dict[str, Box]) -> None:
        """Put edited areas in force (analysis thread, between two frames)."""
        det = self.watcher.detector
        try:
            if det is not None:
                det.set_areas(ignore_boxes=boxes, zones=zones)
        except FramediffError as e:
            self.areas_error = str(e)
            return
        self.areas_error = None
        # A detector created later (after a reconnect that never delivered a frame) starts with these.
        self.watcher.ignore_boxes = list(boxes)
        self.watcher.zones = dict(zones)
        for listener in self.areas_listeners:
            listener(list(boxes), dict(zones))

    def _on_event(self, event: Event, frame: Frame) -> None:
        record = event.to_dict()
        with self._events_lock:
            self._seq += 1
            seq = self._seq
            record["seq"] = seq
            if record.get("clip"):  # --clips: the change's video, served once it is complete
                record["clip_url"] = f"/api/clip/{seq}"
            if event.event == "change_start" and frame.image.size > 1:
                record["snapshot_url"] = f"/api/snapshot/{seq}"
                self._jobs.put((seq, frame, list(event.regions)))
                self._wake.set()
            self._events.append(record)

    # -- the encoder thread -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the encoder thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="framediff-live-encoder", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the encoder thread and wake every viewer so their connections end."""
        self._stop.set()
        self._wake.set()
        with self._jpeg_cond:
            self._jpeg_cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._stop.is_set()

    def _run(self) -> None:
        last: Frame | None = None
        due = 0.0
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            self._snapshots_due()
            now = time.monotonic()
            if self._still_wanted_until and now > self._still_wanted_until:
                self._still_wanted_until = 0.0
            if not (self._viewers or self._still_wanted_until):
                continue
            if now < due:
                # Rate limit: sleep to the next slot, then encode the newest frame of that moment.
                if self._stop.wait(due - now):
                    break
                self._snapshots_due()
            slot = self._slot
            if slot is None or slot[0] is last:
                continue
            last = slot[0]
            due = time.monotonic() + 1.0 / self.max_fps
            try:
                jpeg = self._encode(slot[0], slot[1].regions, self.stream_width, self.quality)
            except Exception:  # noqa: BLE001 - a bad frame must not kill the live view
                continue
            with self._jpeg_cond:
                self._jpeg = jpeg
                self._jpeg_seq += 1
                self.encoded += 1
                self._jpeg_cond.notify_all()

    def _snapshots_due(self) -> None:
        while True:
            try:
                seq, frame, regions = self._jobs.get_nowait()
            except queue.Empty:
                return
            try:
                full = self._encode(frame, regions, self.snapshot_width, 90, label=True)
                img = cv2.imdecode(np.frombuffer(full, np.uint8), cv2.IMREAD_COLOR)
                scale = 240 / max(img.shape[:2])
                small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                thumb = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 75])[1].tobytes()
            except Exception:  # noqa: BLE001 - an event without a picture is still an event
                continue
            with self._events_lock:
                self._snapshots[seq] = _Snapshot(full, thumb)
                self._full_bytes += len(full)
                while len(self._snapshots) > self._max_snapshots:
                    self._full_bytes -= len(self._snapshots.popitem(last=False)[1].full)
                for snap in self._snapshots.values():  # oldest first; the newest one always stays
                    if self._full_bytes <= self._snapshot_memory or snap.full is full:
                        break
                    self._full_bytes -= len(snap.full)
                    snap.full = b""

    def _encode(
        self, frame: Frame, regions: list[Region], width: int, quality: int, label: bool = True
    ) -> bytes:
        """Draw the areas and regions on a (shrunk, colour when possible) copy of a frame; JPEG it."""
        h0, w0 = frame.image.shape[:2]
        scale = min(1.0, width / max(w0, h0))
        w, h = max(1, round(w0 * scale)), max(1, round(h0 * scale))
        img = _colour_at(frame, w, h)
        with self._areas_lock:
            boxes, zones = list(self._ignore_boxes), dict(self._zones)
        # Ignored areas are shaded (the detector does not look there), and outlined when they are boxes.
        shade = (
            ignore_mask((w0, h0), self.ignore_picture, boxes)
            if (boxes or self.ignore_picture is not None)
            else None
        )
        small = cv2.resize(shade, (w, h), interpolation=cv2.INTER_NEAREST) if shade is not None else None
        draw_live(img, scale, regions, zones, boxes, small, f"{frame.index}  {frame.time:.2f}s" if label else None)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return buf.tobytes()

    # -- the viewers' side ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def viewer(self):
        """Count a live-picture viewer for the duration of the block (encoding runs only while > 0)."""
        with self._jpeg_cond:
            self._viewers += 1
        self._wake.set()
        try:
            yield self
        finally:
            with self._jpeg_cond:
                self._viewers -= 1

    @property
    def viewers(self) -> int:
        """How many live pictures are being streamed now."""
        return self._viewers

    def next_jpeg(self, after: int, timeout: float = 1.0) -> tuple[int, bytes | None]:
        """Wait for a live picture newer than ``after``.

        Args:
            after: The sequence number of the last picture the caller has.
            timeout: Seconds to wait at most.

        Returns:
            ``(seq, jpeg)``; ``jpeg`` is ``None`` when nothing newer came in time or the view closed.
        """
        with self._jpeg_cond:
            self._jpeg_cond.wait_for(lambda: self._jpeg_seq != after or self.closed, timeout)
            if self._jpeg_seq == after or self._jpeg is None:
                return after, None
            return self._jpeg_seq, self._jpeg

    def still(self, timeout: float = 2.0) -> bytes | None:
        """The current live picture, encoding one if nobody is streaming.

        Args:
            timeout: Seconds to wait for a first picture.

        Returns:
            A JPEG, or ``None`` when no frame came yet.
        """
        self._still_wanted_until = time.monotonic() + 2.0
        self._wake.set()
        with self._jpeg_cond:
            if self._jpeg is not None and self._viewers:
                return self._jpeg
            seq = self._jpeg_seq
        _, jpeg = self.next_jpeg(seq, timeout)
        return jpeg or self._jpeg

    # -- events -----------------------------------------------------------------------------------------

    def events(self, since: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Events with a sequence number above ``since``, newest first.

        Args:
            since: The last ``seq`` the caller has seen (0: from the oldest kept).
            limit: Most events returned.

        Returns:
            Event dicts (as in ``--events``) with ``seq`` and, for change starts, ``snapshot_url``.
        """
        with self._events_lock:
            out = [dict(e) for e in reversed(self._events) if e["seq"] > since]
        return out[: max(0, limit)]

    def snapshot(self, seq: int, thumb: bool = False) -> bytes | None:
        """The JPEG snapshot of event ``seq``, or ``None`` when there is none (yet, or any more).

        An older event whose full-size picture was dropped (see ``snapshot_memory``) gets its thumbnail.
        """
        with self._events_lock:
            snap = self._snapshots.get(seq)
            if snap is None:
                return None
            return snap.thumb if thumb or not snap.full else snap.full

    def clip(self, seq: int) -> Path | None:
        """The finished clip of event ``seq`` (``--clips``), or ``None`` (no clip, not finished, or gone).

        Only a path the watch itself put in one of the kept events is ever returned: no request names a
        file. A clip is written under a temporary name and appears under its own once complete.
        """
        with self._events_lock:
            path = next((e.get("clip") for e in self._events if e["seq"] == seq), None)
        if not path or not Path(path).is_file():
            return None
        return Path(path)

    # -- areas ------------------------------------------------------------------------------------------

    def areas(self) -> AreaSettings:
        """The areas in force (or to be in force from the next frame on)."""
        with self._areas_lock:
            size = self.watcher.state.size
            return AreaSettings(
                list(self._ignore_boxes), dict(self._zones), self.watcher.only_zones or None, size
            )

    def set_areas(self, data: Any) -> AreaSettings:
        """Replace the ignore boxes and zones from a request body; they apply from the next frame on.

        Args:
            data: ``{"ignore_boxes": [[x, y, w, h], ...], "zones": {"name": [x, y, w, h]}}`` (either key
                may be left out to keep the current value).

        Returns:
            The new areas.

        Raises:
            OptionError: when the body is malformed, a box lies outside the frame, or nothing would be
                left to watch.
        """
        if not isinstance(data, dict) or set(data) - {"ignore_boxes", "zones"}:
            raise OptionError("expected {ignore_boxes: [...], zones: {...}}", "see /api/status for the form")
        with self._areas_lock:
            boxes = self._ignore_boxes
            zones = self._zones
        if "ignore_boxes" in data:
            if not isinstance(data["ignore_boxes"], list) or len(data["ignore_boxes"]) > 100:
                raise OptionError("ignore_boxes must be a list of at most 100 boxes", "draw fewer boxes")
            boxes = [check_box(b, "ignore box") for b in data["ignore_boxes"]]
        if "zones" in data:
            if not isinstance(data["zones"], dict) or len(data["zones"]) > 50:
                raise OptionError("zones must be an object of at most 50 zones", "draw fewer zones")
            zones = {check_zone_name(n): check_box(b, f"zone {n!r}") for n, b in data["zones"].items()}
        size = self.watcher.state.size
        if size is not None:
            w, h = size
            # Clip to the frame: a box dragged past the picture's edge means "up to the edge".
            boxes = [_clip(b, w, h) for b in boxes]
            zones = {n: _clip(b, w, h) for n, b in zones.items()}
            mask = ignore_mask(size, self.ignore_picture, boxes) if boxes else None
            if mask is not None and mask.all():
                raise OptionError("the ignore areas would cover the whole frame", "leave some of it watched")
        with self._areas_lock:
            self._ignore_boxes, self._zones = boxes, zones
            self._areas_version += 1
            self._pending = (list(boxes), dict(zones))
        return self.areas()

    def save(self) -> str:
        """Write the areas to the settings file (``--config``).

        Returns:
            The path written.

        Raises:
            OptionError: when no settings file was given.
            OutputError: when it cannot be written.
        """
        if not self.config_path:
            raise OptionError("no settings file to save to", "start watch with --config FILE")
        return save_settings(self.config_path, self.areas())

    # -- status -----------------------------------------------------------------------------------------

    def analysis_fps(self) -> float:
        """Frames analysed per second lately (0 when frames stopped coming for 2 s)."""
        t = list(self._times)
        if len(t) < 2 or time.monotonic() - t[-1] > 2.0:
            return 0.0
        return (len(t) - 1) / max(t[-1] - t[0], 1e-6)

    def status(self) -> dict[str, Any]:
        """What ``/api/status`` returns: the source's state, rates, counts, areas and settings."""
        st = self.watcher.state
        with st.lock:
            status = st.status
            d: dict[str, Any] = {
                "source": st.source,
                "state": _STATUS_LABELS.get(status, status),
                "frames": st.frames,
                "frame": st.frame,
                "time": round(st.time, 3),
                "size": list(st.size) if st.size else None,
                "source_fps": round(st.fps, 3) if st.fps else None,
                "active": st.active,
                "changes": st.changes,
            }
        with self._events_lock:
            d["last_event"] = self._seq
        d["analysis_fps"] = round(self.analysis_fps(), 2)
        d["viewers"] = self._viewers
        d["stream_fps_max"] = self.max_fps
        areas = self.areas()
        d["areas"] = {
            "ignore_boxes": [list(b) for b in areas.ignore_boxes],
            "zones": {n: list(b) for n, b in areas.zones.items()},
            "ignore_picture": self.ignore_picture is not None,
            "error": self.areas_error,
        }
        d["config"] = self.config_path
        d["settings"] = self.settings
        return d


def _clip(box: Box, w: int, h: int) -> Box:
    x, y, bw, bh = box
    if x >= w or y >= h:
        raise OptionError(f"box {list(box)} lies outside the {w}x{h} frame", "draw it on the picture")
    return x, y, min(bw, w - x), min(bh, h - y)


def _colour_at(frame: Frame, w: int, h: int) -> np.ndarray:
    """The frame at ``w`` x ``h`` in BGR: the decoder's colour frame when there is one (converted and
    scaled in one step), else the analysed pixels."""
    colour = decoded_colour(frame, (w, h))
    if colour is not None:
        return np.ascontiguousarray(colour)
    img = frame.image
    if img.shape[1] != w or img.shape[0] != h:
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return to_bgr8(img).copy() if img.ndim == 3 else cv2.cvtColor(to_gray(img), cv2.COLOR_GRAY2BGR)
