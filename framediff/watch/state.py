"""What a watch is doing now (:class:`WatchState`, read by a live view from another thread), and the areas
that lie outside its picture."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..media.frames import Frame
from .detector import FrameResult

__all__ = ["WatchState", "areas_outside"]


@dataclass
class WatchState:
    """What the watch loop is doing now; safe to read from another thread under ``lock``.

    Attributes:
        source: The source being watched, as it may be shown (a URL's password masked).
        status: ``starting`` (also while waiting for a source that is not up yet), ``running``,
            ``reconnecting``, ``frozen`` or ``ended``.
        frames: Frames analysed so far.
        frame: Index of the last frame.
        time: Stream time of the last frame.
        size: ``(width, height)`` of the frames.
        fps: Nominal frame rate of the source.
        active: Whether a change is in progress.
        changes: Number of changes started so far.
        result: The last frame's result.
        last: The last frame itself.
        events: The most recent events (as dicts), newest last.
        lock: Hold it while reading several fields together.
    """

    source: str
    status: str = "starting"
    frames: int = 0
    frame: int = -1
    time: float = 0.0
    size: tuple[int, int] | None = None
    fps: float | None = None
    active: bool = False
    changes: int = 0
    result: FrameResult | None = None
    last: Frame | None = field(default=None, repr=False)
    events: deque = field(default_factory=lambda: deque(maxlen=100))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def image(self) -> np.ndarray | None:
        """The last frame's pixels (grey), for a live view; made on demand (see ``LumaFrame``)."""
        last = self.last
        return last.image if last is not None else None


def areas_outside(
    size: tuple[int, int],
    ignore_boxes: Sequence[tuple[int, int, int, int]] = (),
    zones: dict[str, tuple[int, int, int, int]] | None = None,
) -> list[str]:
    """The ignore boxes and zones that lie wholly outside a picture (each as ``zone door 900,900,10,10``).

    A box that only reaches past an edge is not listed: it covers the picture up to that edge.

    Args:
        size: ``(width, height)`` of the frames.
        ignore_boxes: Boxes to ignore, in source pixels.
        zones: Named zones, in source pixels.

    Returns:
        One description per box outside, in the order given (ignore boxes first).
    """
    w, h = size
    named = [("ignore box", b) for b in ignore_boxes]
    named += [(f"zone {name}", b) for name, b in (zones or {}).items()]
    return [
        f"{what} {','.join(str(v) for v in b)}"
        for what, b in named
        if b[0] >= w or b[1] >= h or b[0] + b[2] <= 0 or b[1] + b[3] <= 0
    ]
