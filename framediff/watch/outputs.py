"""A watch's outputs, wired to a :class:`~framediff.watch.Watcher` in one call: events and regions as JSON
lines, snapshots, a command and webhooks per event, MQTT, the debug recording and the clips.

::

    outputs = WatchOutputs(events="ev.jsonl", snapshots="snaps/", clips="clips/")
    outputs.check()                    # every name and value, before anything is opened
    watcher.open()
    attached = attach(watcher, outputs)
    try:
        watcher.run()
    finally:
        watcher.close()
        attached.close()
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import OptionError, named
from ..media.frames import Frame, frame_colour
from .detector import FrameResult
from .events import Event
from .mqtt import MqttPublisher, MqttTarget, require_paho
from .record import EventClips, Recorder
from .sinks import CommandRunner, JsonLines, SnapshotWriter, WebhookPoster
from .watcher import Watcher, is_live_spec

__all__ = ["Attached", "WatchOutputs", "attach"]


@dataclass
class WatchOutputs:
    """What a watch writes and where (each ``None`` or empty: not written).

    Attributes:
        events: JSON lines file of events (``-``: standard output).
        regions: JSON lines file of every frame's regions.
        snapshots: Folder for an annotated JPEG per change start.
        exec: Shell command run per event (the event in ``FRAMEDIFF_EVENT``).
        exec_timeout: Seconds a command may run.
        webhooks: URLs each event is POSTed to.
        mqtt: ``mqtt://`` URL events are published to.
        record: The debug recording (``.mp4``, ``.mkv``, ``.mov``, ``.avi``).
        clips: Folder for a clip of each change.
        pre: Seconds a clip starts before its change (default 1).
        post: Seconds a clip goes on after its change (default 2).
        max_clip: Seconds a clip lasts at most (default 600).
        labels: What the caller calls these settings in messages (a command line's flags:
            ``{"record": "--record", "max_clip": "--max-clip"}``); by default the names above.
    """

    events: str | None = None
    regions: str | None = None
    snapshots: str | None = None
    exec: str | None = None
    exec_timeout: float | str = 5.0
    webhooks: Sequence[str] = ()
    mqtt: str | None = None
    record: str | None = None
    clips: str | None = None
    pre: float | str | None = None
    post: float | str | None = None
    max_clip: float | str | None = None
    labels: Mapping[str, str] | None = None
    _runner: CommandRunner | None = field(default=None, init=False, repr=False)

    @property
    def pictures(self) -> bool:
        """Whether frames leave as pictures (then the watch decodes them in full)."""
        return bool(self.record or self.clips or self.snapshots)

    def check(self) -> None:
        """Refuse a bad name or value before the watch opens anything.

        Raises:
            OptionError: when a value is out of range, a URL is not one, or a clip setting has no clips.
        """
        # `--exec ""` is a mistake to report, not a way to switch the hook off.
        self._runner = (
            CommandRunner(self.exec, timeout=self.exec_timeout, labels=self.labels) if self.exec is not None else None
        )
        if not self.clips and (self.pre is not None or self.post is not None or self.max_clip is not None):
            pre, post, max_clip, clips = (self.named(s) for s in ("pre", "post", "max_clip", "clips"))
            raise OptionError(
                f"{pre}, {post} and {max_clip} shape the clips of {clips}",
                f"add {clips} DIR, or leave them out",
            )

    def named(self, setting: str) -> str:
        """How messages name ``setting`` (see :attr:`labels`)."""
        return named(setting, self.labels)

    def check_services(self) -> None:
        """Refuse a webhook or MQTT address that is not one (and MQTT without its package).

        Raises:
            OptionError: as :meth:`WebhookPoster.check_url` and :meth:`MqttTarget.parse`.
        """
        for url in self.webhooks:
            WebhookPoster.check_url(url, self.named("webhooks"))
        if self.mqtt is not None:
            MqttTarget.parse(self.mqtt, self.named("mqtt"))
            require_paho(self.named("mqtt"))


class Attached:
    """The outputs :func:`attach` wired to a watcher; :meth:`close` finishes them all.

    Attributes:
        sinks: Every output made, in the order they are closed (the valuable ones first).
        recorder: The debug recording, if any.
        clips: The clips, if any.
        snapshots: The snapshot writer, if any.
    """

    def __init__(self) -> None:
        self.sinks: list[Any] = []
        self.recorder: Recorder | None = None
        self.clips: EventClips | None = None
        self.snapshots: SnapshotWriter | None = None
        self.names = ("record", "clips")  # what the caller calls them (WatchOutputs.labels)

    def areas_changed(self, boxes: list[tuple[int, int, int, int]], zones: dict[str, Any]) -> None:
        """Draw other areas on the pictures and the recording from now on (edited on the live view)."""
        if self.snapshots is not None:
            self.snapshots.zones = zones
        if self.recorder is not None:
            self.recorder.set_areas(boxes, zones)

    def skipped(self) -> list[tuple[str, int]]:
        """``(output, frames)`` for each video output that left frames out (its encoder was behind); the
        output as :attr:`WatchOutputs.labels` names it."""
        return [
            (n, s.skipped)
            for n, s in ((self.names[0], self.recorder), (self.names[1], self.clips))
            if s and s.skipped
        ]

    def close(self, failed: bool = False, first: Any = None) -> None:
        """Close every output, each on its own; a Ctrl-C or SIGTERM meanwhile is ignored (the watch is
        already ending, and it would cut a video short).

        Args:
            failed: The run failed: outputs nothing was written to are not created.
            first: Something to close before the outputs (the live view's server).

        Raises:
            Exception: the first error met, once all are closed.
        """
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, signal.SIG_IGN)
        error: BaseException | None = None
        try:
            if first is not None:
                first.close()
            for sink in self.sinks:
                try:
                    if isinstance(sink, (JsonLines, SnapshotWriter, EventClips)):
                        sink.close(failed=failed)
                    else:
                        sink.close()
                except Exception as e:  # noqa: BLE001 - the others are still closed; the first error is raised
                    error = error or e
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if error is not None:
            raise error


def attach(watcher: Watcher, outputs: WatchOutputs, attached: Attached | None = None) -> Attached:
    """Make the outputs and wire them to the watcher's frames and events.

    Each output joins ``attached.sinks`` as soon as it exists, so when a later one fails, closing
    ``attached`` still finishes it (no half-written file is left behind): pass your own :class:`Attached`
    to close it on an error.

    Args:
        watcher: The watcher, opened (its areas and source are drawn and recorded as they are).
        outputs: What to write, checked (:meth:`WatchOutputs.check`).
        attached: Where the outputs go (default: a new one).

    Returns:
        ``attached``.
    """
    out = attached if attached is not None else Attached()
    out.names = (outputs.named("record"), outputs.named("clips"))
    live = is_live_spec(watcher.source)
    if outputs.clips:
        out.clips = EventClips(
            outputs.clips,
            outputs.pre if outputs.pre is not None else 1.0,
            outputs.post if outputs.post is not None else 2.0,
            max_length=outputs.max_clip if outputs.max_clip is not None else 600.0,
            debounce_frames=watcher.machine.min_frames,
            wait=not live,
            labels={s: outputs.named(s) for s in ("pre", "post", "clips")} | {"max_length": outputs.named("max_clip")},
        )
        out.sinks.append(out.clips)
    if outputs.record:
        # A live source never waits for the recording's encoder: frames it cannot take are left out.
        out.recorder = Recorder(
            outputs.record,
            zones=watcher.zones,
            ignore=watcher.ignore,
            ignore_boxes=watcher.ignore_boxes,
            wait=not live,
            label=outputs.named("record"),
        )
        out.sinks.append(out.recorder)
    out.snapshots = SnapshotWriter(outputs.snapshots, watcher.zones) if outputs.snapshots else None

    # A reader that leaves (`--events - | head -1`) ends the watch quietly, with status 0.
    def reader_gone() -> None:
        watcher.stop("output closed")

    events = JsonLines(outputs.events, on_closed=reader_gone) if outputs.events else None
    regions = JsonLines(outputs.regions, flush_every=50, on_closed=reader_gone) if outputs.regions else None
    out.sinks += [s for s in (out.snapshots, events, regions) if s is not None]
    hooks = [WebhookPoster(url, label=outputs.named("webhooks")) for url in outputs.webhooks]
    runner = outputs._runner if outputs.exec is not None else None
    if outputs.exec is not None and runner is None:
        runner = CommandRunner(outputs.exec, timeout=outputs.exec_timeout, labels=outputs.labels)
    out.sinks += hooks + ([runner] if runner is not None else [])
    _wire(watcher, out, events, runner, hooks)
    if outputs.mqtt is not None:
        mqtt = MqttPublisher(outputs.mqtt, label=outputs.named("mqtt"))
        out.sinks.append(mqtt)
        mqtt.attach(watcher)
    if regions is not None:
        watcher.on_frame(lambda result, frame: regions.write(result.to_dict()))
    if out.recorder is not None:
        recorder = out.recorder

        @watcher.on_frame
        def _record(result: FrameResult, frame: Frame) -> None:
            recorder.fps = recorder.fps or watcher.state.fps
            recorder.write(frame, result.regions, changing=watcher.machine.active)

    return out


def _wire(
    watcher: Watcher,
    out: Attached,
    events: JsonLines | None,
    runner: CommandRunner | None,
    hooks: list[WebhookPoster],
) -> None:
    """The per-event callbacks, in the order they run: clips first (events then name their clip)."""
    clips, shots = out.clips, out.snapshots
    if clips is not None:

        @watcher.on_frame
        def _hold(result: FrameResult, frame: Frame) -> None:
            clips.fps = clips.fps or watcher.state.fps
            clips.frame(frame)

        watcher.on_event(clips.event)
    if shots is not None:

        @watcher.on_event
        def _snapshot(event: Event, frame: Frame) -> None:
            if event.event == "change_start":
                name = f"change-{event.id:05d}-frame-{frame.index:06d}"
                event.snapshot = shots.save(
                    frame_colour(frame), event.regions, name, f"{frame.index}  {frame.time:.2f}s"
                )

    if events is not None:
        watcher.on_event(lambda event, frame: events.write(event.to_dict()))
    if runner is not None:
        watcher.on_event(lambda event, frame: runner.run(event.to_dict()))
    for hook in hooks:
        watcher.on_event(lambda event, frame, hook=hook: hook.post(event.to_dict()))
