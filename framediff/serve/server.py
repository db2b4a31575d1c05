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

import contextlib
import hmac
import ipaddress
import json
import os
import re
import select
import socket
import sys
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import FramediffError, OptionError, named
from .live import LiveView

__all__ = ["LiveServer", "parse_address", "is_loopback"]

# The only files the server ever reads: a fixed map from URL to package resource.
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
}
_SNAPSHOT = re.compile(r"^/api/snapshot/([0-9]{1,9})$")
_CLIP = re.compile(r"^/api/clip/([0-9]{1,9})$")
_RANGE = re.compile(r"^bytes=([0-9]{0,18})-([0-9]{0,18})$")  # 18 digits: no int() of thousands
_BOUNDARY = "framediff-frame"
_LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}
_MAX_BODY = 65536  # the largest POST body taken (areas are a few hundred bytes)
_DRAIN_LIMIT = 1 << 20  # a refused request's body is read and dropped up to this size, else cut off
_DRAIN_TIMEOUT = 2.0  # seconds each read of a refused body may wait
_LENGTH = re.compile(r"^[0-9]{1,12}$")  # int() would also take "+1", " 1" and "1_0"
# Headers every answer carries: nothing is cached, sniffed, framed by another site, or told the URL.
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token may be in the page's URL
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only.

    Args:
        host: ``127.0.0.1``, ``::1``, ``localhost`` or anything else.

    Returns:
        True for loopback addresses and ``localhost``; False for every other name or address,
        including ``0.0.0.0`` (all interfaces).
    """
    h = host.strip("[]").lower()
    if h in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def parse_address(text: str, label: str = "serve") -> tuple[str, int]:
    """Parse ``--serve [HOST:]PORT``.

    Args:
        text: ``8080``, ``127.0.0.1:8080``, ``0.0.0.0:8080``, ``[::1]:8080`` or ``localhost:0`` (0 = any
            free port).
        label: How messages name the address (a command line: ``--serve``).

    Returns:
        ``(host, port)``; the host defaults to ``127.0.0.1``.

    Raises:
        OptionError: when the port is not 0-65535 or the host is empty.
    """
    s = str(text).strip()
    m = re.match(r"^(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]]*)):([0-9]+)$", s)
    if m:
        host, port = (m.group(1) or m.group(2)), m.group(3)
    elif s.isdigit():
        host, port = "127.0.0.1", s
    else:
        raise OptionError(f"{label} {text!r} is not [HOST:]PORT", f"e.g. {label} 8080 or {label} 0.0.0.0:8080")
    if not host:
        raise OptionError(f"{label} {text!r} has no host", f"e.g. {label} 127.0.0.1:8080")
    if int(port) > 65535:
        raise OptionError(f"{label} port {port} is out of range", "use 1-65535 (0 = any free port)")
    return host, int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a viewer still connected never keeps the process alive
    allow_reuse_address = True
    request_queue_size = 32

    def handle_error(self, request: Any, client_address: Any) -> None:
        """The net under every request: never a traceback on the watch's stderr, at most one line.

        A client that leaves before its answer (a closed tab, a reset) is normal and says nothing; anything
        else ends that one connection with a one-line warning, and the watch goes on.
        """
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            return
        name = type(error).__name__ if error is not None else "error"
        print(
            f"warning: live view: a request from {client_address[0]} failed ({name}); connection closed",
            file=sys.stderr,
            flush=True,
        )


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
        host, port = address
        serve, token_name = named("serve", labels), named("token", labels)
        if not is_loopback(host) and not token:
            raise OptionError(
                f"{serve} {host}:{port} is reachable from other machines without a token",
                f"add {token_name} SECRET or set FRAMEDIFF_TOKEN, or serve on 127.0.0.1",
            )
        if token is not None and (len(token) < 8 or not token.isprintable() or " " in token):
            raise OptionError(f"the {token_name} is too short or has spaces", "use 8 or more printable characters")
        self.live = live
        self.token = token
        self.timeout = timeout
        self.max_streams = max_streams
        per_client = max_streams // 4 if max_streams_per_client is None else max_streams_per_client
        self.max_streams_per_client = max(1, per_client)
        self._streams_lock = threading.Lock()
        self._streams: dict[str, int] = {}  # client address -> live pictures streamed to it now
        handler = type("Handler", (_Handler,), {"app": self, "timeout": timeout})
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        server_class = type("Server", (_Server,), {"address_family": family})
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


class _Handler(BaseHTTPRequestHandler):
    app: LiveServer
    server_version = "framediff"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    _body_done = False  # whether this request's body was read (or dropped); reset for each request

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Silent: a request log on stderr would drown the watch's own status lines."""

    def parse_request(self) -> bool:
        """Parse the request line and headers (the base class), with a fresh body state per request."""
        self._body_done = False
        return super().parse_request()

    # -- plumbing ---------------------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes,
        ctype: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._head(status, ctype, len(body), headers)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _head(self, status: int, ctype: str, length: int, headers: dict[str, str] | None = None) -> None:
        """The status line and the headers every answer carries."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        for k, v in {**_HEADERS, **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()

    def _file(self, path: Path, ctype: str) -> None:
        """Send a file in pieces, honouring one byte range (video players seek with them)."""
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start, end = 0, size - 1
            status, extra = HTTPStatus.OK, {"Accept-Ranges": "bytes"}
            m = _RANGE.match(self.headers.get("Range") or "")
            if m and (m.group(1) or m.group(2)):
                if m.group(1):
                    start, end = int(m.group(1)), min(int(m.group(2) or size - 1), size - 1)
                else:  # the last N bytes
                    start = max(0, size - int(m.group(2)))
                if start > end or start >= size:
                    self._error(
                        HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                        "range outside the file",
                        {"Content-Range": f"bytes */{size}"},
                    )
                    return
                status = HTTPStatus.PARTIAL_CONTENT
                extra["Content-Range"] = f"bytes {start}-{end}/{size}"
            self._head(status, ctype, end - start + 1, extra)
            if self.command == "HEAD":
                return
            f.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = f.read(min(left, 1 << 16))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)

    def _json(self, data: Any, status: int = 200) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        """Refuse the request, and end the connection.

        What is left of the request's body is read and dropped first, then the connection closes after the
        answer: nothing a refused request carried is ever parsed as a request of its own (a cross-site
        ``text/plain`` POST could otherwise hide a JSON ``POST /api/areas`` in its body). Draining before
        the close also lets the client read the answer (closing on unread bytes resets the connection).
        """
        self._drain_body()
        self.close_connection = True
        body = json.dumps({"error": message}).encode()
        self._send(status, body, "application/json", {**(headers or {}), "Connection": "close"})

    def _body_length(self) -> int | None:
        """The declared body length: 0 when there is none, ``None`` when it cannot be trusted (chunked,
        two lengths, or not a plain number)."""
        if self.headers.get("Transfer-Encoding") is not None:
            return None
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return 0
        if len(lengths) > 1 or not _LENGTH.match(lengths[0].strip()):
            return None
        return int(lengths[0])

    def _drain_body(self) -> None:
        """Read and drop what is left of the request's body (bounded in size and time).

        A body of a known length up to ``_DRAIN_LIMIT`` is read exactly; one of unknown length (chunked)
        or a larger one is read until the client pauses, up to the same limit.
        """
        if self._body_done:
            return
        self._body_done = True
        length = self._body_length()
        if length == 0:
            return
        exact = length is not None and length <= _DRAIN_LIMIT
        left = length if exact else _DRAIN_LIMIT
        deadline = time.monotonic() + 5 * _DRAIN_TIMEOUT  # a client dribbling its body holds no thread long
        try:
            self.connection.settimeout(_DRAIN_TIMEOUT if exact else 0.2)
            while left > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(left, 1 << 16))  # one read at a time: the deadline holds
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass  # the client paused, stalled or left: the connection closes all the same
        finally:
            with contextlib.suppress(OSError):
                self.connection.settimeout(self.timeout)

    def _authorised(self, query: dict[str, list[str]]) -> bool:
        token = self.app.token
        if token is None:
            # No token means loopback only: refuse a Host that is not loopback (DNS rebinding).
            # (A request without Host comes from a raw client, never from a browser page: let it in.)
            host = (self.headers.get("Host") or "").strip()
            if not host:
                return True
            name = re.sub(r":[0-9]*$", "", host) if not host.startswith("[") else host.split("]")[0] + "]"
            return is_loopback(name)
        given = ""
        auth = self.headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        elif "token" in query:
            given = query["token"][0]
        return hmac.compare_digest(given.encode(), token.encode())

    def _cross_site(self) -> bool:
        """Whether a browser says this request comes from another site's page.

        Browsers send ``Sec-Fetch-Site`` to loopback and HTTPS addresses. Only the page's own requests
        (``same-origin``) and what the user typed or bookmarked (``none``) get in, and a link followed
        from elsewhere may still open the page itself (a top-level navigation). Another site's ``<img>``
        (which could hold live-picture slots), ``<iframe>``, form or ``fetch`` is refused.
        """
        site = (self.headers.get("Sec-Fetch-Site") or "").strip().lower()
        if site in ("", "same-origin", "none"):
            return False
        navigation = (
            self.command in ("GET", "HEAD")
            and (self.headers.get("Sec-Fetch-Mode") or "").lower() == "navigate"
            and (self.headers.get("Sec-Fetch-Dest") or "document").lower() == "document"
        )
        return not navigation

    def _route(self) -> tuple[str, dict[str, list[str]]] | None:
        """Check the request (framing, query, token, origin); its path and query, or ``None`` when it was
        refused (the answer is sent)."""
        if self._body_length() is None:
            self._error(HTTPStatus.BAD_REQUEST, "send the body with one Content-Length (no chunked encoding)")
            return None
        try:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, max_num_fields=20)
        except ValueError:  # more than 20 fields, or a path urlsplit cannot take
            self._error(HTTPStatus.BAD_REQUEST, "malformed request path or query (at most 20 fields)")
            return None
        if not self._authorised(query):
            self._error(
                HTTPStatus.UNAUTHORIZED, "unauthorised", {"WWW-Authenticate": 'Bearer realm="framediff"'}
            )
            return None
        if self._cross_site():
            self._error(HTTPStatus.FORBIDDEN, "cross-site request refused")
            return None
        if self.command != "POST" and self._body_length():
            # A GET that carries a body: answered, then the connection ends (its body is never a request).
            self._drain_body()
            self.close_connection = True
        return parts.path, query

    # -- GET ----------------------------------------------------------------------------------------------

    def do_HEAD(self) -> None:  # noqa: N802 - the base class's naming
        """Answer HEAD like GET without a body."""
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - the base class's naming
        """Serve the page, the live picture and the read-only API."""
        routed = self._route()
        if routed is None:
            return
        path, query = routed
        live = self.app.live
        try:
            if path in _STATIC:
                name, ctype = _STATIC[path]
                body = resources.files("framediff").joinpath("static", name).read_bytes()
                self._send(200, body, ctype)
            elif path == "/stream.mjpg":
                self._stream()
            elif path == "/frame.jpg":
                jpeg = live.still()
                if jpeg is None:
                    self._error(HTTPStatus.SERVICE_UNAVAILABLE, "no frame yet")
                else:
                    self._send(200, jpeg, "image/jpeg")
            elif path == "/api/status":
                self._json(live.status())
            elif path == "/api/events":
                since = _int(query, "since", 0)
                limit = _int(query, "limit", 100)
                if since is None or limit is None:
                    self._error(HTTPStatus.BAD_REQUEST, "since and limit must be whole numbers")
                else:
                    self._json(
                        {"events": live.events(since, min(limit, 1000)), "last": live.status()["last_event"]}
                    )
            elif path == "/api/config":
                body = (json.dumps(live.areas().to_dict(), indent=2) + "\n").encode()
                self._send(
                    200,
                    body,
                    "application/json",
                    {"Content-Disposition": 'attachment; filename="framediff-watch.json"'},
                )
            elif clip_id := _CLIP.match(path):
                clip = live.clip(int(clip_id.group(1)))
                if clip is None:
                    self._error(HTTPStatus.NOT_FOUND, "no finished clip for that event (yet)")
                else:
                    self._file(clip, "video/mp4" if clip.suffix == ".mp4" else "application/octet-stream")
            else:
                m = _SNAPSHOT.match(path)
                # Only digits reach the lookup, and only ids the view knows have a picture: no request
                # path ever names a file.
                jpeg = live.snapshot(int(m.group(1)), thumb=_flag(query, "thumb")) if m else None
                if jpeg is None:
                    self._error(HTTPStatus.NOT_FOUND, "not found")
                else:
                    self._send(200, jpeg, "image/jpeg", {"Cache-Control": "max-age=3600"})
        except OSError:  # the client went away or stalled
            self.close_connection = True

    def _stream(self) -> None:
        """The live picture as multipart JPEGs, newest frame each time this viewer is ready for one."""
        app = self.app
        client = self.client_address[0]
        if not app.take_stream(client):
            self._error(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"too many live viewers (at most {app.max_streams}, {app.max_streams_per_client} a client)",
            )
            return
        self.close_connection = True
        try:
            with app.live.viewer():
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
                for k, v in _HEADERS.items():
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
        routed = self._route()
        if routed is None:
            return
        path, _ = routed
        if path not in ("/api/areas", "/api/save"):
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        # JSON only (a cross-site form cannot send it without a CORS preflight, which is never answered),
        # and from this origin when the browser says where it comes from.
        if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
            return
        if not _same_origin(self.headers.get("Origin"), self.headers.get("Host")):
            self._error(HTTPStatus.FORBIDDEN, "cross-origin request refused")
            return
        length = self._body_length() or 0  # _route refused an untrustworthy length
        if length > _MAX_BODY:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body too large (at most {_MAX_BODY} bytes)")
            return
        raw = self.rfile.read(length)
        self._body_done = True
        if len(raw) < length:  # the client left half-way: nothing to answer
            self.close_connection = True
            return
        try:
            data = json.loads(raw or b"{}")
        except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep, a 5000-digit number
            self._error(HTTPStatus.BAD_REQUEST, "the body is not JSON this view can take")
            return
        live = self.app.live
        try:
            if path == "/api/areas":
                areas = live.set_areas(data)
                self._json(
                    {
                        "ignore_boxes": [list(b) for b in areas.ignore_boxes],
                        "zones": {n: list(b) for n, b in areas.zones.items()},
                    }
                )
            else:
                self._json({"saved": live.save()})
        except FramediffError as e:
            self._error(HTTPStatus.BAD_REQUEST, str(e))


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
