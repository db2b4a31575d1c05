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
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import OptionError, OutputError
from ..paths import check_folder_writable, disk_error, make_folder
from ..prepare import to_bgr8
from ..redact import mask_password
from ..regions import Region
from ..render import write_image
from ..sources import decoded_bgr, read_image

__all__ = [
    "JsonLines",
    "SnapshotWriter",
    "CommandRunner",
    "WebhookPoster",
    "draw_regions",
    "frame_colour",
    "put_label",
    "shade_ignored",
    "IGNORE_COLOUR",
    "EVENT_ENV",
]

EVENT_ENV = "FRAMEDIFF_EVENT"
IGNORE_COLOUR = (255, 0, 200)  # BGR magenta: ignore boxes, on the live view and in --record
IGNORE_SHADE = 0.35  # ignored pixels keep this much of their brightness: still visible, clearly apart


class JsonLines:
    """Writes one JSON object a line to a file or to stdout (``-``).

    Lines are written straight to the file (not to a temporary name) so that ``tail -f`` and other
    programs see events as they happen; ``flush_every`` lines are buffered at most. The file is created
    (an earlier one truncated) only when the first line is written, or when the run ends well without
    any: a run that fails before it starts leaves an earlier file as it was and no empty one behind. A
    line the disk refuses (full) is cut off again, so the file only ever holds whole lines.

    Args:
        target: A path, or ``-`` for standard output.
        flush_every: Flush after this many lines (1 for events: each is visible at once).

    Raises:
        OutputError: when the file could not be created (its folder is missing or not writable).
    """

    def __init__(self, target: str | os.PathLike, flush_every: int = 1) -> None:
        self.target = os.fspath(target)
        self.flush_every = max(1, flush_every)
        self._pending: list[bytes] = []
        self._own = self.target != "-"
        self._fd: int | None = None
        self._good = 0  # bytes of whole lines in the file
        self._failed: OutputError | None = None
        self._closed = False
        self._unflushed = 0  # lines on stdout since its last flush
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
        """Write one record as a line.

        Raises:
            OutputError: when the disk refuses it (full, gone read-only); the file keeps its whole lines.
        """
        line = json.dumps(record, separators=(", ", ": ")) + "\n"
        if not self._own:
            with contextlib.suppress(BrokenPipeError):  # a reader like `head` went away
                sys.stdout.write(line)
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
        if not self._own:
            self._unflushed = 0
            with contextlib.suppress(BrokenPipeError):
                sys.stdout.flush()
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
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._good)
            self._failed = disk_error(self.target, e)
            raise self._failed from None
        self._good += len(data)

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
            if self._failed is None and (self._pending or (self._fd is None and not failed)):
                if self._fd is None:
                    self._open()
                self.flush()
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._closed = True


def frame_colour(frame: Any) -> np.ndarray:
    """A frame's picture in colour (BGR): the decoder's frame converted when there is one, an image
    file read again, else the grey pixels (a colour picture is better, but a grey one is better than none).
    """
    raw = getattr(frame, "raw", None)
    try:
        if hasattr(raw, "to_ndarray"):
            return decoded_bgr(raw)
        if raw is not None and not hasattr(raw, "shape"):
            return read_image(raw)
    except Exception:  # noqa: BLE001 - an odd pixel format or a file gone: the grey picture will do
        pass
    return frame.image


def shade_ignored(image: np.ndarray, mask: np.ndarray) -> None:
    """Darken, in place, the pixels the detector does not look at (as the live view shows them).

    Args:
        image: BGR picture.
        mask: Its ignore mask, same height and width, non-zero where ignored.
    """
    dark = cv2.convertScaleAbs(image, alpha=IGNORE_SHADE)
    cv2.copyTo(dark, mask.astype(np.uint8, copy=False), image)


def put_label(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, weight: int) -> None:
    """Write white text on a darkened band, in place (readable on a white wall as on a night sky; a thin
    outline alone does not survive video or JPEG compression).

    Args:
        image: BGR picture to write on.
        text: The text.
        origin: Left end of the band and the text's baseline, in pixels.
        scale: OpenCV font scale.
        weight: Stroke thickness.
    """
    (tw, tht), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, weight)
    x0, y0 = origin
    band = image[max(0, y0 - tht - 4) : y0 + base + 2, max(0, x0) : x0 + tw + 8]
    band //= 3  # darkened, not blacked out: what is under the label still shows
    cv2.putText(
        image, text, (x0 + 4, y0), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), weight, cv2.LINE_AA
    )


def draw_regions(
    image: np.ndarray,
    regions: Sequence[Region],
    zones: dict[str, tuple[int, int, int, int]] | None = None,
    label: str | None = None,
) -> np.ndarray:
    """Draw changed regions (red), zones (yellow, named) and a label on a copy of a frame.

    Args:
        image: The frame (grey or BGR).
        regions: Boxes in the frame's pixels.
        zones: Named zone boxes to outline.
        label: Text for the top-left corner (e.g. the frame and time).

    Returns:
        An annotated BGR copy.
    """
    out = to_bgr8(image).copy()
    th = max(1, round(max(out.shape[:2]) / 500))
    for name, (x, y, w, h) in (zones or {}).items():
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), (0, 220, 255), th)
        cv2.putText(out, name, (x + 3, y + 14 * th), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * th, (0, 220, 255), th)
    for r in regions:
        cv2.rectangle(out, (r.x, r.y), (r.x + r.w - 1, r.y + r.h - 1), (0, 0, 255), th)
    if label:
        put_label(out, label, (4, 20 * th), 0.6 * th, th + 1)
    return out


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
        write_image(path, draw_regions(image, regions, self.zones, label), quality=90)  # atomic
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


class CommandRunner:
    """Runs a command for each event, with the event as JSON in the ``FRAMEDIFF_EVENT`` variable.

    The command line is split once, like a shell would split words, and run without a shell: nothing in
    an event (a zone name, a path) can ever be interpreted as shell syntax. Commands run in the background
    so a slow script does not stall the watch; they are waited for (a few seconds) at the end.

    Args:
        command: The command line, e.g. ``"notify-send framediff"`` or ``"python hook.py --loud"``.

    Raises:
        OptionError: when the command is empty, cannot be parsed, or is not found.
    """

    def __init__(self, command: str) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as e:
            raise OptionError(f"--exec {command!r} cannot be parsed: {e}", "check the quotes") from None
        if not self.argv:
            raise OptionError("--exec needs a command", 'e.g. --exec "python hook.py"')
        if shutil.which(self.argv[0]) is None:
            raise OptionError(
                f"--exec command {self.argv[0]!r} not found", "give a full path or a program on PATH"
            )
        self._running: list[subprocess.Popen] = []
        self.failures = 0

    def run(self, event: dict[str, Any]) -> None:
        """Start the command for one event (does not wait for it)."""
        env = dict(os.environ)
        env[EVENT_ENV] = json.dumps(event)
        env["FRAMEDIFF_EVENT_TYPE"] = str(event.get("event", ""))
        self._running = [p for p in self._running if p.poll() is None]
        try:
            self._running.append(
                subprocess.Popen(self.argv, env=env, stdin=subprocess.DEVNULL, close_fds=True)  # noqa: S603
            )
        except OSError as e:
            self.failures += 1
            print(f"warning: --exec failed: {e}", file=sys.stderr)

    def close(self, timeout: float = 5.0) -> None:
        """Wait a little for commands still running, so their work is not cut short by our exit."""
        for p in self._running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=timeout)
        self._running = []


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

    Raises:
        OptionError: when the URL is not an http(s) URL with a host.
    """

    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        headers: dict[str, str] | None = None,
        max_queue: int = 256,
    ) -> None:
        self.url, auth = _split_userinfo(self.check_url(url))
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
    def check_url(url: str) -> str:
        """Return ``url`` when it is an http(s) URL with a host; raise :class:`OptionError` otherwise."""
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
                f"--webhook {mask_password(url)!r} is not an http:// or https:// URL",
                "e.g. --webhook http://host:8123/hook",
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
                print(f"warning: --webhook {self.url}: {error} (event not delivered)", file=sys.stderr)

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
                f"warning: --webhook {self.url}: {left} events not delivered (the server did not answer)",
                file=sys.stderr,
            )
