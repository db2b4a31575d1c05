"""Where ``watch`` sends what it sees: JSON lines, annotated snapshots, a command or a web hook per event.

Each sink is a plain object with a ``close()``; the :class:`~framediff.watch.watcher.Watcher` calls them
through its callbacks, so a program embedding framediff can use them, replace them, or add its own.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.regions import Region
from ..draw import draw_watch_frame
from ..errors import OptionError, OutputError
from ..media.images import write_image
from ..paths import check_folder_writable, disk_error, make_folder
from ..redact import mask_password
from .commands import EVENT_ENV, CommandRunner

__all__ = [
    "JsonLines",
    "SnapshotWriter",
    "CommandRunner",
    "WebhookPoster",
    "EVENT_ENV",
]

# CommandRunner (--exec) lives in .commands; named here too, where it was.


class JsonLines:
    """Writes one JSON object a line to a file or to stdout (``-``).

    Lines are written straight to the file (not to a temporary name) so that ``tail -f`` and other
    programs see events as they happen; ``flush_every`` lines are buffered at most. The file is created
    (an earlier one truncated) only when the first line is written, or when the run ends well without
    any: a run that fails before it starts leaves an earlier file as it was and no empty one behind. A
    line the disk refuses (full) is cut off again, so the file only ever holds whole lines. When the
    reader of a pipe goes away (``--events - | head -1``), nothing more is written and ``on_closed`` is
    called once, so the caller can end quietly as Unix tools do.

    Args:
        target: A path, or ``-`` for standard output.
        flush_every: Flush after this many lines (1 for events: each is visible at once).
        on_closed: Called (once) when the reader has closed the pipe.

    Raises:
        OutputError: when the file could not be created (its folder is missing or not writable).
    """

    def __init__(
        self,
        target: str | os.PathLike,
        flush_every: int = 1,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        self.target = os.fspath(target)
        self.flush_every = max(1, flush_every)
        self.on_closed = on_closed
        self.closed_by_reader = False
        self._pending: list[bytes] = []
        self._own = self.target != "-"
        self._fd: int | None = None
        self._good = 0  # bytes of whole lines in the file
        self._failed: OutputError | None = None
        self._closed = False
        self._unflushed = 0  # lines on stdout since its last flush
        self._fh = sys.stdout
        if self._own:
            folder = os.path.dirname(os.path.abspath(self.target))
            if os.path.isdir(self.target):
                raise OutputError(f"cannot write {self.target}: it is a folder", "give a file name")
            if not os.path.isdir(folder):
                raise OutputError(
                    f"cannot write {self.target}: no folder {folder}",
                    "check the folder exists and is writable",
                )
            writable = (
                os.access(self.target, os.W_OK) if os.path.exists(self.target) else os.access(folder, os.W_OK)
            )
            if not writable:
                raise OutputError(
                    f"cannot write {self.target}: not writable", "free some space / choose another folder"
                )

    def write(self, record: dict[str, Any]) -> None:
        """Write one record as a line (nothing once the reader has gone).

        Raises:
            OutputError: when the disk refuses it (full, gone read-only); the file keeps its whole lines.
        """
        if self.closed_by_reader:
            return
        line = json.dumps(record, separators=(", ", ": ")) + "\n"
        if not self._own:
            try:
                self._fh.write(line)
            except BrokenPipeError:
                self._reader_gone()
                return
            self._unflushed += 1
            if self._unflushed >= self.flush_every:
                self.flush()
            return
        if self._failed is not None:
            raise self._failed
        self._pending.append(line.encode("utf-8"))
        if len(self._pending) >= self.flush_every:
            self.flush()

    def _open(self) -> None:
        try:
            self._fd = os.open(self.target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        except OSError as e:
            self._failed = disk_error(self.target, e)
            raise self._failed from None

    def flush(self) -> None:
        """Push buffered lines to the file (whole lines only: on a refusal the file is cut back).

        Raises:
            OutputError: when the disk refuses them.
        """
        if self.closed_by_reader:
            return
        if not self._own:
            self._unflushed = 0
            try:
                self._fh.flush()
            except BrokenPipeError:
                self._reader_gone()
            return
        if self._failed is not None:
            raise self._failed
        if not self._pending:
            return
        if self._fd is None:
            self._open()
        assert self._fd is not None
        data, self._pending = b"".join(self._pending), []
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except BrokenPipeError:  # a FIFO whose reader left
            self._reader_gone()
            return
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._good)
            self._failed = disk_error(self.target, e)
            raise self._failed from None
        self._good += len(data)

    def _reader_gone(self) -> None:
        """The pipe's reader left: stop writing, and tell the caller once."""
        self.closed_by_reader = True
        if not self._own:
            # The lines still buffered can never be delivered: point stdout at /dev/null so that the
            # interpreter's own flush at exit does not fail (and print its own complaint) on them.
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._fh.fileno())
                os.close(devnull)
        if self.on_closed is not None:
            self.on_closed()

    def close(self, failed: bool = False) -> None:
        """Flush and close (stdout is flushed, not closed).

        Args:
            failed: The run failed: a file no line was written to is not created (nor truncated).

        Raises:
            OutputError: when the disk refuses the last lines.
        """
        if self._closed:
            return
        if not self._own:
            self._closed = True
            self.flush()
            return
        try:
            if (
                self._failed is None
                and not self.closed_by_reader
                and (self._pending or (self._fd is None and not failed))
            ):
                if self._fd is None:
                    self._open()
                self.flush()
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._closed = True


class SnapshotWriter:
    """Saves an annotated JPEG per event start into a folder.

    Args:
        folder: Where to save; created if missing.
        zones: Zones to outline on each snapshot.

    Raises:
        OutputError: when the folder cannot be created.
    """

    def __init__(
        self, folder: str | os.PathLike, zones: dict[str, tuple[int, int, int, int]] | None = None
    ) -> None:
        self.folder = Path(folder)
        self.zones = zones or {}
        # Created with the first snapshot (or at a good end): a run that fails first leaves no empty folder.
        check_folder_writable(self.folder, "snapshots")

    def save(self, image: np.ndarray, regions: Sequence[Region], name: str, label: str | None = None) -> str:
        """Write one annotated snapshot.

        Args:
            image: The frame (grey or BGR).
            regions: Boxes to draw.
            name: File name without extension.
            label: Text to draw in the corner.

        Returns:
            The path written.

        Raises:
            OutputError: when the file cannot be written.
        """
        path = self.folder / f"{name}.jpg"
        make_folder(self.folder)
        write_image(path, draw_watch_frame(image, regions, self.zones, label), quality=90)  # atomic
        return str(path)

    def close(self, failed: bool = False) -> None:
        """Create the folder if no snapshot did, unless the run failed.

        Args:
            failed: The run failed: leave no empty folder behind.

        Raises:
            OutputError: when the folder cannot be created.
        """
        if not failed:
            make_folder(self.folder)


def _split_userinfo(url: str) -> tuple[str, str | None]:
    """``(url without user info, Basic Authorization header or None)``; urllib cannot post to a URL that
    still holds ``user:password@``."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    host = parts.netloc.rpartition("@")[2]
    bare = urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return bare, f"Basic {token}"


class WebhookPoster:
    """POSTs each event as a JSON body to an HTTP(S) URL (Home Assistant, Node-RED, a chat bot...).

    Posting happens on a thread of its own, so a slow or unreachable server never stalls the watch.
    Events wait in a bounded queue: when the server cannot keep up, the oldest waiting events are dropped
    (and counted) rather than letting memory grow. A failed post is retried once after a second, then
    given up with a warning; warnings are not repeated for every event while the server stays down.

    A URL with a user name (``https://user:password@host/hook``) posts with HTTP Basic authentication:
    the user info is taken out of the URL and sent as an ``Authorization`` header (an explicit
    ``Authorization`` in ``headers`` wins), and warnings show the URL without it.

    Args:
        url: ``http://`` or ``https://`` URL to POST to (user info, percent-encoded, allowed).
        timeout: Seconds to wait for each request.
        headers: Extra request headers (e.g. ``{"Authorization": "Bearer ..."}``).
        max_queue: Events waiting at most.
        label: How messages and warnings name the webhook (a command line: ``--webhook``).

    Raises:
        OptionError: when the URL is not an http(s) URL with a host.
    """

    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        headers: dict[str, str] | None = None,
        max_queue: int = 256,
        label: str = "webhook",
    ) -> None:
        self.label = label  # how messages name the webhook (a command line: --webhook)
        self.url, auth = _split_userinfo(self.check_url(url, label))
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "User-Agent": "framediff"}
        if auth is not None:
            self.headers["Authorization"] = auth
        self.headers.update(headers or {})
        self.sent = 0
        self.failures = 0
        self.dropped = 0
        self._queue: deque[bytes] = deque()
        self._max = max(1, max_queue)
        self._cond = threading.Condition()
        self._closing = False
        self._warned = False  # a warning per outage, not per event
        self._thread = threading.Thread(target=self._run, name="framediff-webhook", daemon=True)
        self._thread.start()

    @staticmethod
    def check_url(url: str, label: str = "webhook") -> str:
        """Return ``url`` when it is an http(s) URL with a host; raise :class:`OptionError` (naming the
        webhook as ``label``) otherwise."""
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0-65535
            ok = (
                parts.scheme in ("http", "https")
                and bool(parts.hostname)
                and not any(c.isspace() for c in url)
            )
        except ValueError:
            ok = False
        if not ok:
            raise OptionError(
                f"{label} {mask_password(url)!r} is not an http:// or https:// URL",
                f"e.g. {label} http://host:8123/hook",
            )
        return url

    def post(self, event: dict[str, Any]) -> None:
        """Queue one event for posting (returns at once)."""
        body = json.dumps(event).encode("utf-8")
        with self._cond:
            if len(self._queue) >= self._max:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(body)
            self._cond.notify()

    def _send(self, body: bytes) -> str | None:
        """One POST; None when the server took it (2xx), else what went wrong."""
        req = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - scheme checked
                resp.read()
            return None
        except urllib.error.HTTPError as e:
            return f"HTTP {e.code} {e.reason}"
        except (urllib.error.URLError, OSError) as e:
            return str(getattr(e, "reason", e))
        except (http.client.HTTPException, ValueError) as e:  # not HTTP, or cut short: no answer to trust
            return f"{type(e).__name__}: {e}"

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                body = self._queue.popleft()
            error = self._send(body)
            if error is not None:
                # A restarting server: one more try after a second (close() waits 5 s at most).
                time.sleep(1.0)
                error = self._send(body)
            if error is None:
                self.sent += 1
                self._warned = False
                continue
            self.failures += 1
            if not self._warned:
                self._warned = True
                print(f"warning: {self.label} {self.url}: {error} (event not delivered)", file=sys.stderr)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is still queued (waiting at most ``timeout`` seconds), then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            left = len(self._queue) + (1 if self._thread.is_alive() else 0)
        if left:
            print(
                f"warning: {self.label} {self.url}: {left} events not delivered (the server did not answer)",
                file=sys.stderr,
            )
