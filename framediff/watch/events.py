"""Events of ``watch``: the change state machine (debounce, cooldown), the frozen-source check and the
event record.

A change starts after ``min_frames`` consecutive changed frames (debounce: one noisy frame never starts
an event) and ends once nothing changed for ``cooldown`` seconds of stream time (so an object that pauses
for a moment does not split one event into many). The start event carries the index and time of the
*first* changed frame of the run, so the debounce does not distort when the change happened.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..analysis.regions import Region
from ..media.frames import LIMITED_GAIN
from ..options import number
from .detector import FrameResult

__all__ = [
    "Event",
    "EventMachine",
    "FrozenCheck",
    "CHANGE_START",
    "CHANGE_END",
    "LIGHT_CHANGE",
    "SOURCE_EVENTS",
]

CHANGE_START = "change_start"
CHANGE_END = "change_end"
LIGHT_CHANGE = "light_change"
SOURCE_EVENTS = ("source_lost", "source_restored", "source_frozen", "source_unfrozen")


def wall_clock() -> str:
    """The current UTC time as ISO 8601 with milliseconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Event:
    """One event, as written to ``--events`` (one JSON object a line).

    Attributes:
        event: ``change_start``, ``change_end``, ``light_change``, ``source_lost``, ``source_restored``,
            ``source_frozen`` or ``source_unfrozen``.
        frame: 0-based frame index in the source.
        time: Stream time in seconds.
        wall: Wall-clock time (UTC, ISO 8601) when the event was raised.
        id: Number of the change this event belongs to (start and end share it); 0 for other events.
        regions: Changed regions in source pixels.
        changed: Changed fraction of the watched area.
        zones: Zones the change touched.
        snapshot: Path of the annotated snapshot, when ``--snapshots`` is on.
        extra: Further fields (e.g. ``duration`` on ``change_end``, ``reason`` on source events).
    """

    event: str
    frame: int
    time: float
    wall: str = field(default_factory=wall_clock)
    id: int = 0
    regions: list[Region] = field(default_factory=list)
    changed: float = 0.0
    zones: list[str] = field(default_factory=list)
    snapshot: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        d: dict[str, Any] = {
            "event": self.event,
            "frame": self.frame,
            "time": round(self.time, 4),
            "wall": self.wall,
        }
        if self.id:
            d["id"] = self.id
        if self.event in (CHANGE_START, CHANGE_END, LIGHT_CHANGE):
            d["regions"] = [{"x": r.x, "y": r.y, "w": r.w, "h": r.h} for r in self.regions]
            d["changed"] = round(self.changed, 5)
            d["zones"] = list(self.zones)
        if self.snapshot is not None:
            d["snapshot"] = self.snapshot
        d.update(self.extra)
        return d


class EventMachine:
    """Turns per-frame results into change events.

    Args:
        min_frames: Consecutive changed frames needed to start a change (debounce).
        cooldown: Seconds without change before a change ends.
        light_change: ``report`` to emit ``light_change`` events, ``suppress`` to stay silent.

    Raises:
        OptionError: when a setting is out of range.
    """

    def __init__(self, min_frames: int = 2, cooldown: float = 1.0, light_change: str = "report") -> None:
        self.min_frames = int(number("min_frames", min_frames, lo=1, hi=10000, integer=True))
        self.cooldown = float(number("cooldown", cooldown, lo=0, hi=1e6))
        self.report_light = light_change == "report"
        self.active = False
        self.count = 0
        self._run: list[FrameResult] = []
        self._last_change = 0.0
        self._last_light: float | None = None
        self._start: FrameResult | None = None
        self._zones: list[str] = []
        self._peak = 0.0

    def push(self, result: FrameResult) -> list[Event]:
        """Feed one frame's result.

        Args:
            result: What the detector saw.

        Returns:
            The events this frame raised (often none).
        """
        out: list[Event] = []
        if result.light_change:
            # One event per light change, not one per frame of a slow dimmer.
            if self.report_light and (self._last_light is None or result.time - self._last_light > 2.0):
                out.append(Event(LIGHT_CHANGE, result.index, result.time, changed=result.changed_fraction))
            self._last_light = result.time
            return out
        if result.warmup:
            return out
        if result.changed:
            self._last_change = result.time
            if self.active:
                self._note(result)
                return out
            self._run.append(result)
            if len(self._run) >= self.min_frames:
                first = self._run[0]
                self.active = True
                self.count += 1
                self._start = first
                self._zones, self._peak = [], 0.0
                for r in self._run:
                    self._note(r)
                self._run = []
                out.append(
                    Event(
                        CHANGE_START,
                        first.index,
                        first.time,
                        id=self.count,
                        regions=result.regions,
                        changed=result.changed_fraction,
                        zones=list(self._zones),
                        extra={"confirmed_frame": result.index},
                    )
                )
            return out
        self._run = []
        if self.active and result.time - self._last_change >= self.cooldown:
            out.append(self._end(result.index, result.time))
        return out

    def close(self, frame: int, time: float, reason: str) -> list[Event]:
        """End an open change (the source ended, was lost for good, or the watch was stopped).

        Args:
            frame: Index of the last frame seen.
            time: Its time.
            reason: Why the change ends here (written as ``reason``).

        Returns:
            The ``change_end`` event, or nothing when no change was open.
        """
        self._run = []
        if not self.active:
            return []
        ev = self._end(frame, time)
        ev.extra["reason"] = reason
        return [ev]

    def _note(self, result: FrameResult) -> None:
        for z in result.zones:
            if z not in self._zones:
                self._zones.append(z)
        self._peak = max(self._peak, result.changed_fraction)

    def _end(self, frame: int, time: float) -> Event:
        assert self._start is not None
        self.active = False
        start = self._start
        return Event(
            CHANGE_END,
            frame,
            time,
            id=self.count,
            changed=self._peak,
            zones=list(self._zones),
            extra={"start_frame": start.index, "duration": round(time - start.time, 4)},
        )


class FrozenCheck:
    """Whether a source's picture has stopped changing: the same picture for ``after`` seconds.

    "Same" allows a mean difference of a quarter grey level (ffmpeg freezedetect's default -60 dB), as an
    encoder re-encoding a stalled picture still shuffles a few pixels; limited-range levels are
    :data:`~framediff.media.frames.LIMITED_GAIN` grey levels apart.

    Args:
        after: Seconds of the same picture that make it frozen (0: never).
    """

    def __init__(self, after: float) -> None:
        self.after = after
        self.frozen = False
        self.since: float | None = None  # time of the first of the same pictures
        self._probe: np.ndarray | None = None

    def restart(self) -> None:
        """Forget the last picture (a reconnected source): the next one is compared with nothing."""
        self._probe, self.since = None, None

    def push(self, thumb: np.ndarray, limited: bool, t: float) -> str | None:
        """Take the next frame's thumbnail (see ``_thumb``).

        Args:
            thumb: The thumbnail.
            limited: Whether its levels are limited-range luma.
            t: The frame's time in seconds.

        Returns:
            ``source_frozen`` or ``source_unfrozen`` when the picture has just frozen or moved again, else
            ``None``.
        """
        probe, turned = self._probe, None
        same = probe is not None and probe.shape == thumb.shape and probe.dtype == thumb.dtype
        unit = LIMITED_GAIN if limited else 1.0
        if same and cv2.norm(thumb, probe, cv2.NORM_L1) * unit <= 0.25 * thumb.size:
            self.since = t if self.since is None else self.since
            if not self.frozen and self.after > 0 and t - self.since >= self.after:
                self.frozen, turned = True, "source_frozen"
        else:
            if self.frozen:
                self.frozen, turned = False, "source_unfrozen"
            self.since = None
        self._probe = thumb
        return turned
