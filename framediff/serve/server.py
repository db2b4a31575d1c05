"""The live view's web server: the page, the MJPEG live picture and the JSON API, on the standard library.

``http.server.ThreadingHTTPServer`` gives each connection its own thread, which is what a live picture
needs (a stream is one long response) and keeps viewers independent: a viewer that stops reading only
blocks its own thread until the socket timeout ends its connection. No dependency is needed for a few
viewers on a LAN; the analysis never waits for any of it (see :mod:`framediff.serve.live`).

Routes::

    GET  /                      the page (framediff/static/index.html)
    GET  /stream.mjpg           the live picture, multipart/x-mixed-replace JPEGs, <= max_fps
    GET  /frame.jpg             the current live picture, one JPEG
    GET  /api/status            source state, fps, counts, areas and settings in force
    GET  /api/events?since=N    events newer than seq N, newest first (&limit=, default 100)
    GET  /api/snapshot/<seq>    the annotated snapshot of a change_start event (?thumb=1: small)
    GET  /api/clip/<seq>        the video clip of a change event (with --clips), once it is finished
    GET  /api/config            the areas as a settings file (what --config reads)
    POST /api/areas             replace ignore_boxes and/or zones (JSON); applied from the next frame
    POST /api/save              write the areas to the --config file

Security: binding anything but loopback needs a token; with a token every request must carry it
(``Authorization: Bearer TOKEN`` or ``?token=TOKEN``), else 401. Without a token (loopback only) the
``Host`` header must name a loopback host, so a web page on another site cannot reach the view through
DNS rebinding; requests that change something must be JSON POSTs from the same origin (a cross-site
form cannot send them). Every refusal drains what is left of the request's body (up to 1 MiB) and closes
the connection, so bytes a refused request carried are never read as a request of their own (a
cross-site ``text/plain`` POST cannot smuggle a JSON one inside its body). Browsers that say where a
request comes from (``Sec-Fetch-Site``) get 403 for anything but the page's own requests and top-level
navigation, so another site's ``<img>``, ``<iframe>`` or ``fetch`` reaches nothing; the answers also
forbid framing (``X-Frame-Options``, CSP ``frame-ancestors``). Live pictures are limited in total and
per client address. Malformed requests get 400 and never a traceback; a client that leaves mid-answer
is forgotten quietly.
"""

from __future__ import annotations

import json
import re
import select
import socket
import threading
from collections.abc import Mapping
from http import HTTPStatus
from importlib import resources
from urllib.parse import urlsplit

from ..errors import FramediffError, OptionError
from .httpd import HEADERS, GuardedHandler, QuietServer, check_exposure, is_loopback, parse_address
from .live import LiveView

# The HTTP plumbing lives in .httpd; parse_address and is_loopback are named here too, where they were.
__all__ = ["LiveServer", "parse_address", "is_loopback"]

# The only files the server ever reads: a fixed map from URL to package resource.
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
}
_SNAPSHOT = re.compile(r"^/api/snapshot/([0-9]{1,9})$")
_CLIP = re.compile(r"^/api/clip/([0-9]{1,9})$")
_BOUNDARY = "framediff-frame"
_MAX_BODY = 65536  # the largest POST body taken (areas are a few hundred bytes)


class LiveServer:
    """Serves a :class:`LiveView` over HTTP from a background thread.

    Args:
        live: What to show.
        address: ``(host, port)`` to bind; port 0 picks a free one.
        token: Secret every request must carry; required for a non-loopback host.
        timeout: Socket timeout in seconds: a viewer that stops reading for this long is dropped.
        max_streams: Most live pictures streamed at once (more get 503).
        max_streams_per_client: Most live pictures streamed at once to one client address, so that one
            client cannot hold every slot (default: a quarter of ``max_streams``, at least 1).
        labels: What the caller calls ``serve`` and ``token`` in messages (a command line: ``--serve``,
            ``--token``).

    Raises:
        OptionError: when a non-loopback host is given without a token, or the address cannot be bound.
    """

    def __init__(
        self,
        live: LiveView,
        address: tuple[str, int],
        *,
        token: str | None = None,
        timeout: float = 10.0,
        max_streams: int = 16,
        max_streams_per_client: int | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        check_exposure(address, token, labels)
        host, port = address
        self.live = live
        self.token = token
        self.timeout = timeout
        self.max_streams = max_streams
        per_client = max_streams // 4 if max_streams_per_client is None else max_streams_per_client
        self.max_streams_per_client = max(1, per_client)
        self._streams_lock = threading.Lock()
        self._streams: dict[str, int] = {}  # client address -> live pictures streamed to it now
        handler = type("Handler", (_Handler,), {"app": self, "timeout": timeout, "token": token})
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        server_class = type("Server", (QuietServer,), {"address_family": family})
        try:
            self.httpd = server_class((host.strip("[]"), port), handler)
        except OSError as e:
            raise OptionError(
                f"cannot serve on {host}:{port}: {e.strerror or e}", "choose another port or address"
            ) from None
        self.host = host
        self.port = self.httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address (with the token, so it opens in a browser as is)."""
        return self.base_url + (f"?token={self.token}" if self.token else "")

    @property
    def base_url(self) -> str:
        """The page's address without the token (what may be shown when the token must stay secret)."""
        h = self.host.strip("[]")
        shown = f"[{h}]" if ":" in h else h
        if h in ("0.0.0.0", "::"):
            shown = socket.gethostname()
        return f"http://{shown}:{self.port}/"

    def take_stream(self, client: str) -> bool:
        """Take a live-picture slot for ``client`` (an address); False when none is free for it."""
        with self._streams_lock:
            if sum(self._streams.values()) >= self.max_streams:
                return False
            if self._streams.get(client, 0) >= self.max_streams_per_client:
                return False
            self._streams[client] = self._streams.get(client, 0) + 1
            return True

    def release_stream(self, client: str) -> None:
        """Give back a slot taken by :meth:`take_stream`."""
        with self._streams_lock:
            left = self._streams.get(client, 0) - 1
            if left > 0:
                self._streams[client] = left
            else:
                self._streams.pop(client, None)

    def start(self) -> None:
        """Start the live view's encoder and serve in a background thread."""
        self.live.start()
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.25},
            name="framediff-serve",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving; open streams end within a second."""
        self.live.close()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _Handler(GuardedHandler):
    """The live view's routes (see the module's list), on :class:`~framediff.serve.httpd.GuardedHandler`'s
    checks and answers."""

    app: LiveServer

    # -- GET ----------------------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - the base class's naming
        """Serve the page, the live picture and the read-only API."""
        routed = self.checked_route()
        if routed is None:
            return
        path, query = routed
        live = self.app.live
        try:
            if path in _STATIC:
                name, ctype = _STATIC[path]
                body = resources.files("framediff").joinpath("static", name).read_bytes()
                self.answer(200, body, ctype)
            elif path == "/stream.mjpg":
                self._stream()
            elif path == "/frame.jpg":
                jpeg = live.still()
                if jpeg is None:
                    self.refuse(HTTPStatus.SERVICE_UNAVAILABLE, "no frame yet")
                else:
                    self.answer(200, jpeg, "image/jpeg")
            elif path == "/api/status":
                self.answer_json(live.status())
            elif path == "/api/events":
                since = _int(query, "since", 0)
                limit = _int(query, "limit", 100)
                if since is None or limit is None:
                    self.refuse(HTTPStatus.BAD_REQUEST, "since and limit must be whole numbers")
                else:
                    self.answer_json(
                        {"events": live.events(since, min(limit, 1000)), "last": live.status()["last_event"]}
                    )
            elif path == "/api/config":
                body = (json.dumps(live.areas().to_dict(), indent=2) + "\n").encode()
                self.answer(
                    200,
                    body,
                    "application/json",
                    {"Content-Disposition": 'attachment; filename="framediff-watch.json"'},
                )
            elif clip_id := _CLIP.match(path):
                clip = live.clip(int(clip_id.group(1)))
                if clip is None:
                    self.refuse(HTTPStatus.NOT_FOUND, "no finished clip for that event (yet)")
                else:
                    self.answer_file(clip, "video/mp4" if clip.suffix == ".mp4" else "application/octet-stream")
            else:
                m = _SNAPSHOT.match(path)
                # Only digits reach the lookup, and only ids the view knows have a picture: no request
                # path ever names a file.
                jpeg = live.snapshot(int(m.group(1)), thumb=_flag(query, "thumb")) if m else None
                if jpeg is None:
                    self.refuse(HTTPStatus.NOT_FOUND, "not found")
                else:
                    self.answer(200, jpeg, "image/jpeg", {"Cache-Control": "max-age=3600"})
        except OSError:  # the client went away or stalled
            self.close_connection = True

    def _stream(self) -> None:
        """The live picture as multipart JPEGs, newest frame each time this viewer is ready for one."""
        app = self.app
        client = self.client_address[0]
        if not app.take_stream(client):
            self.refuse(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"too many live viewers (at most {app.max_streams}, {app.max_streams_per_client} a client)",
            )
            return
        self.close_connection = True
        try:
            with app.live.viewer():
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
                for k, v in HEADERS.items():
                    self.send_header(k, v)
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(f"--{_BOUNDARY}\r\n".encode())
                seq = 0
                while not app.live.closed:
                    seq, jpeg = app.live.next_jpeg(seq, timeout=1.0)
                    if jpeg is None:
                        if self._peer_gone():  # no frame to write, so no write would notice
                            break
                        continue
                    # The closing boundary goes right after the picture: browsers show a part when the
                    # next boundary arrives, so this shows each frame at once instead of one late.
                    head = f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                    self.wfile.write(head + jpeg + f"\r\n--{_BOUNDARY}\r\n".encode())
                    self.wfile.flush()
        except OSError:
            pass  # the viewer left or stalled past the socket timeout: its thread ends, nothing else
        finally:
            app.release_stream(client)

    def _peer_gone(self) -> bool:
        """Whether the client closed its side (checked while no frame comes: a viewer that left must give
        its slot back even when the source is down)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)
        except (OSError, ValueError):
            return True

    # -- POST ---------------------------------------------------------------------------------------------

    def do_POST(self) -> None:  # noqa: N802 - the base class's naming
        """Edit the areas, or save them to the settings file."""
        routed = self.checked_route()
        if routed is None:
            return
        path, _ = routed
        if path not in ("/api/areas", "/api/save"):
            self.refuse(HTTPStatus.NOT_FOUND, "not found")
            return
        # JSON only (a cross-site form cannot send it without a CORS preflight, which is never answered),
        # and from this origin when the browser says where it comes from.
        if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
            self.refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
            return
        if not _same_origin(self.headers.get("Origin"), self.headers.get("Host")):
            self.refuse(HTTPStatus.FORBIDDEN, "cross-origin request refused")
            return
        length = self.body_length() or 0  # _route refused an untrustworthy length
        if length > _MAX_BODY:
            self.refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body too large (at most {_MAX_BODY} bytes)")
            return
        raw = self.rfile.read(length)
        self._body_done = True
        if len(raw) < length:  # the client left half-way: nothing to answer
            self.close_connection = True
            return
        try:
            data = json.loads(raw or b"{}")
        except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep, a 5000-digit number
            self.refuse(HTTPStatus.BAD_REQUEST, "the body is not JSON this view can take")
            return
        live = self.app.live
        try:
            if path == "/api/areas":
                areas = live.set_areas(data)
                self.answer_json(
                    {
                        "ignore_boxes": [list(b) for b in areas.ignore_boxes],
                        "zones": {n: list(b) for n, b in areas.zones.items()},
                    }
                )
            else:
                self.answer_json({"saved": live.save()})
        except FramediffError as e:
            self.refuse(HTTPStatus.BAD_REQUEST, str(e))


def _same_origin(origin: str | None, host: str | None) -> bool:
    """Whether an ``Origin`` header (when there is one) names the host the request was sent to."""
    if not origin:
        return True
    try:
        return urlsplit(origin).netloc == (host or "")
    except ValueError:  # "http://[" and the like: no origin of ours
        return False


def _int(query: dict[str, list[str]], name: str, default: int) -> int | None:
    values = query.get(name)
    if not values:
        return default
    v = values[0]
    return int(v) if v.isdigit() and len(v) < 12 else None


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (query.get(name) or ["0"])[0].lower() in ("1", "true", "yes")
