"""Bounded read-ahead: frames (or anything) iterated in a background thread, a few items ahead."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Prefetch", "Raised", "put_unless_stopped"]


@dataclass
class Raised:
    """An exception on its way from the reader thread to the consumer (never confused with a frame)."""

    error: BaseException


def put_unless_stopped(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put ``item`` into a bounded queue, waiting for room unless ``stop`` is set meanwhile.

    A reading thread must not block for good in ``put`` when its consumer has stopped reading: it waits
    in short steps and gives up once ``stop`` is set.

    Returns:
        True when the item was queued, False when ``stop`` was set first.
    """
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class Prefetch:
    """Iterate frames in a background thread, a few frames ahead of the consumer.

    PyAV and OpenCV release the GIL while they work, so the next frames are read and decoded while the
    consuming thread analyses the current one; the queue is bounded, so memory stays flat however slow
    the consumer is. Exceptions raised by the iterator are raised again in the consuming thread, at the
    position where they happened. Use it as a context manager: leaving the block (or :meth:`close`) stops
    the reader and waits for it, so the source is never closed under a decode in progress.

    Example::

        with open_source("clip.mp4", gray=True) as src, Prefetch(src) as frames:
            for frame in frames:
                ...

    Args:
        frames: What to iterate (a :class:`FrameSource` or any iterable).
        depth: How many items may wait in the queue.
        name: The reader thread's name (shows in profilers and ``py-spy dump``).
    """

    _END = object()

    def __init__(self, frames: Iterable[Any], depth: int = 4, name: str = "framediff-read") -> None:
        self._queue: queue.Queue = queue.Queue(max(1, int(depth)))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._read, args=(frames,), name=name, daemon=True)
        self._thread.start()

    @property
    def backlog(self) -> int:
        """How many items wait in the queue: near ``depth`` the consumer is the slower side, near 0 the
        reader. A reader can use it to take work off a consumer that is behind (see ``watch``)."""
        return self._queue.qsize()

    def _read(self, frames: Iterable[Any]) -> None:
        try:
            for item in frames:
                if not self._put(item):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consuming thread, which raises it
            self._put(Raised(e))
            return
        self._put(self._END)

    def _put(self, item: Any) -> bool:
        return put_unless_stopped(self._queue, item, self._stop)

    def __iter__(self) -> Iterator[Any]:
        while not self._done:
            item = self._queue.get()
            if item is self._END:
                self._done = True
                return
            if isinstance(item, Raised):
                self._done = True
                raise item.error
            yield item

    def close(self) -> None:
        """Stop the reader and wait for it to finish the item it is on."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                while True:  # free a blocked put; the frames are dropped
                    self._queue.get_nowait()
            self._thread.join(timeout=0.05)
        with contextlib.suppress(queue.Empty):
            while True:  # nothing decoded ahead stays referenced after closing
                self._queue.get_nowait()
        self._done = True

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
