"""Watching a camera, stream, recording or image folder for changes.

Two levels of API:

- :class:`ChangeDetector`: push frames in (``detector.push(image, index, time)``), get each frame's
  changed regions back; feed the results to an :class:`EventMachine` for ``change_start`` /
  ``change_end`` events with debounce and cooldown.
- :class:`Watcher`: the whole loop (source, reconnects, frozen source, signals) with callbacks
  (``on_event``, ``on_frame``) and a thread-safe :class:`WatchState` for live views.
"""

from ..draw import draw_watch_frame as draw_regions  # its old name here, kept for one release
from .detector import ChangeDetector, FrameResult, WatchOptions, parse_zone
from .events import Event, EventMachine
from .mqtt import MqttPublisher
from .outputs import Attached, WatchOutputs, attach
from .record import EventClips, Recorder
from .sinks import CommandRunner, JsonLines, SnapshotWriter, WebhookPoster
from .watcher import Watcher, WatchState

__all__ = [
    "Attached",
    "WatchOutputs",
    "attach",
    "ChangeDetector",
    "CommandRunner",
    "Event",
    "EventClips",
    "MqttPublisher",
    "EventMachine",
    "FrameResult",
    "JsonLines",
    "Recorder",
    "SnapshotWriter",
    "WatchOptions",
    "WatchState",
    "Watcher",
    "WebhookPoster",
    "draw_regions",
    "parse_zone",
]
