"""Watching a camera, stream or recording for changes (see :class:`Watcher`)."""

from .detector import ChangeDetector, FrameResult, WatchOptions, parse_zone
from .events import Event, EventMachine

__all__ = ["ChangeDetector", "Event", "EventMachine", "FrameResult", "WatchOptions", "parse_zone"]
