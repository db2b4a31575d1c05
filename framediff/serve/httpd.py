"""The HTTP plumbing of the live view, on the standard library: addresses (loopback or not, ``[HOST:]PORT``),
a threading server that never prints a traceback, and a request handler that checks every request (token,
``Host``, ``Sec-Fetch-Site``, body framing) and answers with the same safe headers, byte ranges included.
The routes are :mod:`framediff.serve.server`'s."""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import os
import re
import sys
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import OptionError, named

__all__ = ["HEADERS", "GuardedHandler", "QuietServer", "check_exposure", "is_loopback", "parse_address"]

RANGE = re.compile(r"^bytes=([0-9]{0,18})-([0-9]{0,18})$")  # 18 digits: no int() of thousands
LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}
DRAIN_LIMIT = 1 << 20  # a refused request's body is read and dropped up to this size, else cut off
DRAIN_TIMEOUT = 2.0  # seconds each read of a refused body may wait
LENGTH = re.compile(r"^[0-9]{1,12}$")  # int() would also take "+1", " 1" and "1_0"
# Headers every answer carries: nothing is cached, sniffed, framed by another site, or told the URL.
HEADERS = {
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
    if h in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False



def check_exposure(address: tuple[str, int], token: str | None, labels: Mapping[str, str] | None = None) -> None:
    """Refuse to serve beyond this machine without a token, or with a token too weak to be one.

    Args:
        address: ``(host, port)`` the server will listen on.
        token: The secret a request must carry, or ``None``.
        labels: How the caller names the ``serve`` and ``token`` settings (see :func:`~framediff.errors.named`).

    Raises:
        OptionError: when the host is reachable from other machines without a token, or the token is
            shorter than 8 characters, has spaces or unprintable characters.
    """
    host, port = address
    serve, token_name = named("serve", labels), named("token", labels)
    if not is_loopback(host) and not token:
        raise OptionError(
            f"{serve} {host}:{port} is reachable from other machines without a token",
            f"add {token_name} SECRET or set FRAMEDIFF_TOKEN, or serve on 127.0.0.1",
        )
    if token is not None and (len(token) < 8 or not token.isprintable() or " " in token):
        raise OptionError(f"the {token_name} is too short or has spaces", "use 8 or more printable characters")

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


class QuietServer(ThreadingHTTPServer):
    """A threading server whose failed requests end quietly (:meth:`handle_error`)."""

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


class GuardedHandler(BaseHTTPRequestHandler):
    """A request handler that checks every request before its route runs (:meth:`checked_route`: framing,
    query, token, origin) and answers with the headers every answer carries; a refusal drains the body
    and ends the connection.

    Attributes:
        token: The secret every request must carry; ``None``: loopback only (the ``Host`` is checked).
    """

    token: str | None = None
    server_version = "framediff"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    _body_done = False  # whether this request's body was read (or dropped); reset for each request

    def do_HEAD(self) -> None:  # noqa: N802 - the base class's naming
        """Answer HEAD as the subclass answers GET (its ``do_GET``)."""
        self.do_GET()  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Silent: a request log on stderr would drown the watch's own status lines."""

    def parse_request(self) -> bool:
        """Parse the request line and headers (the base class), with a fresh body state per request."""
        self._body_done = False
        return super().parse_request()

    # -- plumbing ---------------------------------------------------------------------------------------

    def answer(
        self,
        status: int,
        body: bytes,
        ctype: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer with ``body`` (its headers only, for HEAD)."""
        self.answer_head(status, ctype, len(body), headers)
        if self.command != "HEAD":
            self.wfile.write(body)

    def answer_head(self, status: int, ctype: str, length: int, headers: dict[str, str] | None = None) -> None:
        """The status line and the headers every answer carries."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        for k, v in {**HEADERS, **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()

    def answer_file(self, path: Path, ctype: str) -> None:
        """Send a file in pieces, honouring one byte range (video players seek with them)."""
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start, end = 0, size - 1
            status, extra = HTTPStatus.OK, {"Accept-Ranges": "bytes"}
            m = RANGE.match(self.headers.get("Range") or "")
            if m and (m.group(1) or m.group(2)):
                if m.group(1):
                    start, end = int(m.group(1)), min(int(m.group(2) or size - 1), size - 1)
                else:  # the last N bytes
                    start = max(0, size - int(m.group(2)))
                if start > end or start >= size:
                    self.refuse(
                        HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                        "range outside the file",
                        {"Content-Range": f"bytes */{size}"},
                    )
                    return
                status = HTTPStatus.PARTIAL_CONTENT
                extra["Content-Range"] = f"bytes {start}-{end}/{size}"
            self.answer_head(status, ctype, end - start + 1, extra)
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

    def answer_json(self, data: Any, status: int = 200) -> None:
        """Answer with ``data`` as JSON."""
        self.answer(status, json.dumps(data).encode(), "application/json")

    def refuse(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        """Refuse the request, and end the connection.

        What is left of the request's body is read and dropped first, then the connection closes after the
        answer: nothing a refused request carried is ever parsed as a request of its own (a cross-site
        ``text/plain`` POST could otherwise hide a JSON ``POST /api/areas`` in its body). Draining before
        the close also lets the client read the answer (closing on unread bytes resets the connection).
        """
        self.drain_body()
        self.close_connection = True
        body = json.dumps({"error": message}).encode()
        self.answer(status, body, "application/json", {**(headers or {}), "Connection": "close"})

    def body_length(self) -> int | None:
        """The declared body length: 0 when there is none, ``None`` when it cannot be trusted (chunked,
        two lengths, or not a plain number)."""
        if self.headers.get("Transfer-Encoding") is not None:
            return None
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return 0
        if len(lengths) > 1 or not LENGTH.match(lengths[0].strip()):
            return None
        return int(lengths[0])

    def drain_body(self) -> None:
        """Read and drop what is left of the request's body (bounded in size and time).

        A body of a known length up to ``DRAIN_LIMIT`` is read exactly; one of unknown length (chunked)
        or a larger one is read until the client pauses, up to the same limit.
        """
        if self._body_done:
            return
        self._body_done = True
        length = self.body_length()
        if length == 0:
            return
        exact = length is not None and length <= DRAIN_LIMIT
        left = length if exact else DRAIN_LIMIT
        deadline = time.monotonic() + 5 * DRAIN_TIMEOUT  # a client dribbling its body holds no thread long
        try:
            self.connection.settimeout(DRAIN_TIMEOUT if exact else 0.2)
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

    def authorised(self, query: dict[str, list[str]]) -> bool:
        """Whether the request carries the token (``Authorization: Bearer`` or ``?token=``); without a
        token, whether its ``Host`` names this machine."""
        token = self.token
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

    def cross_site(self) -> bool:
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

    def checked_route(self) -> tuple[str, dict[str, list[str]]] | None:
        """Check the request (framing, query, token, origin); its path and query, or ``None`` when it was
        refused (the answer is sent)."""
        if self.body_length() is None:
            self.refuse(HTTPStatus.BAD_REQUEST, "send the body with one Content-Length (no chunked encoding)")
            return None
        try:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, max_num_fields=20)
        except ValueError:  # more than 20 fields, or a path urlsplit cannot take
            self.refuse(HTTPStatus.BAD_REQUEST, "malformed request path or query (at most 20 fields)")
            return None
        if not self.authorised(query):
            self.refuse(
                HTTPStatus.UNAUTHORIZED, "unauthorised", {"WWW-Authenticate": 'Bearer realm="framediff"'}
            )
            return None
        if self.cross_site():
            self.refuse(HTTPStatus.FORBIDDEN, "cross-site request refused")
            return None
        if self.command != "POST" and self.body_length():
            # A GET that carries a body: answered, then the connection ends (its body is never a request).
            self.drain_body()
            self.close_connection = True
        return parts.path, query
