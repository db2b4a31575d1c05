"""``framediff search --serve``: look pictures up in an index from the browser, or from a script.

Routes:

- ``GET /``: the page (drop or pick a picture; the matches appear with their relation, the indexed
  picture's thumbnail, and the differences drawn on the query: where the picture lies, the edited regions);
- ``POST /api/search``: ``multipart/form-data`` with one file (any field name; ``?top=K``): the
  :class:`~framediff.collection.search.QueryResult` as JSON, each match with its thumbnail as a data URL.

The rules of the watch page (:mod:`framediff.serve.httpd`): loopback only unless a token is set; every
request checked for the token, a loopback ``Host`` and ``Sec-Fetch-Site``; a POST also for its ``Origin``;
uploads limited in bytes (``max_bytes``) and in pixels (the header is read before any pixel is decoded:
a decompression bomb is refused); no path is ever taken from a request; a refused request's connection
is closed.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import os
import socket
import threading
from collections.abc import Mapping
from http import HTTPStatus
from importlib import resources
from typing import Any

from ..collection.index import Index
from ..collection.search import Searcher
from ..errors import FramediffError, OptionError
from .httpd import GuardedHandler, QuietServer, check_exposure

__all__ = ["MAX_UPLOAD", "SearchServer"]

MAX_UPLOAD = 20 << 20  # bytes of one upload (a phone's photo is 3-12 MB)


class SearchServer:
    """Serves searches of one index over HTTP from a background thread.

    Args:
        db: The index file (it must exist).
        address: ``(host, port)``; port 0 picks a free one.
        token: Secret every request must carry; required for a non-loopback host.
        max_bytes: The largest upload taken.
        top: Matches per query unless the request says ``?top=``.
        labels: What the caller calls ``serve`` and ``token`` in messages.

    Raises:
        OptionError: when a non-loopback host is given without a token, or the address cannot be bound.
    """

    def __init__(
        self, db: str | os.PathLike, address: tuple[str, int], *, token: str | None = None,
        max_bytes: int = MAX_UPLOAD, top: int = 10, labels: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        check_exposure(address, token, labels)
        host, port = address
        self.index = Index(db, read_only=True)
        self.searcher = Searcher(self.index)
        self.lock = threading.Lock()  # one search at a time: SQLite connection, FAISS, 2 cores
        self.token, self.max_bytes, self.top = token, int(max_bytes), int(top)
        handler = type("Handler", (_Handler,), {"app": self, "timeout": 30.0, "token": token})
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        try:
            self.httpd = type("Server", (QuietServer,), {"address_family": family})((host.strip("[]"), port), handler)
        except OSError as e:
            self.index.close()
            raise OptionError(f"cannot serve on {host}:{port}: {e.strerror or e}", "choose another port or address") from None
        self.host, self.port = host, self.httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address (with the token, so that it opens in a browser as it is)."""
        h = self.host.strip("[]")
        shown = f"[{h}]" if ":" in h else (socket.gethostname() if h in ("0.0.0.0", "::") else h)
        return f"http://{shown}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.25}, daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self.httpd.serve_forever(poll_interval=0.25)

    def close(self) -> None:
        """Stop serving and close the index."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
        self.httpd.server_close()
        self.index.close()

    def search(self, data: bytes, name: str, top: int) -> dict[str, Any]:
        """One uploaded picture's matches as the API answers them."""
        with self.lock:
            result = self.searcher.search(data, top=top, name=name)
            out = result.to_dict()
            for m, d in zip(result.matches, out["matches"], strict=True):
                d["words"] = m.describe()
                ref = self.index.get(m.path) if m.path else None
                if ref is not None and not isinstance(ref, str):
                    d["thumb"] = "data:image/jpeg;base64," + base64.b64encode(ref.thumb).decode()
                    d["ref_width"], d["ref_height"] = ref.width, ref.height
        return out


def _upload(content_type: str, body: bytes) -> tuple[str, bytes] | None:
    """The first file of a ``multipart/form-data`` body: ``(file name, bytes)``, or ``None``."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    )
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_filename() is not None or part.get_content_maintype() == "image":
            data = part.get_payload(decode=True)
            # Only the file's last name is kept, for the answer: no path is ever taken from a request.
            name = os.path.basename((part.get_filename() or "upload").replace("\\", "/"))[:200] or "upload"
            return name, data if isinstance(data, bytes) else b""
    return None


class _Handler(GuardedHandler):
    """The page and the API, on :class:`~framediff.serve.httpd.GuardedHandler`'s checks."""

    app: SearchServer

    def do_GET(self) -> None:  # noqa: N802 - the base class's naming
        """The page."""
        routed = self.checked_route()
        if routed is None:
            return
        if routed[0] not in ("/", "/index.html"):
            self.refuse(HTTPStatus.NOT_FOUND, "not found")
            return
        body = resources.files("framediff").joinpath("static", "search.html").read_bytes()
        self.answer(200, body, "text/html; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802 - the base class's naming
        """A search of one uploaded picture."""
        routed = self.checked_route()
        if routed is None:
            return
        path, query = routed
        if path != "/api/search":
            self.refuse(HTTPStatus.NOT_FOUND, "not found")
            return
        ctype = self.headers.get("Content-Type") or ""
        if ctype.split(";")[0].strip().lower() != "multipart/form-data" or "boundary=" not in ctype:
            self.refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the picture as multipart/form-data")
            return
        # A form on another site can send multipart without a preflight: its Origin gives it away (browsers
        # send one with every POST; a script's request has none).
        origin = self.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != (self.headers.get("Host") or ""):
            self.refuse(HTTPStatus.FORBIDDEN, "cross-origin request refused")
            return
        length = self.body_length() or 0
        if length > self.app.max_bytes:
            self.refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"upload too large (at most {self.app.max_bytes} bytes)")
            return
        body = self.rfile.read(length)
        self._body_done = True
        if len(body) < length:
            self.close_connection = True
            return
        self._answer_search(ctype, body, query)

    def _answer_search(self, ctype: str, body: bytes, query: dict[str, list[str]]) -> None:
        upload = _upload(ctype, body)
        if upload is None or not upload[1]:
            self.refuse(HTTPStatus.BAD_REQUEST, "no picture in the upload (send one file)")
            return
        top = (query.get("top") or [str(self.app.top)])[0]
        if not top.isdigit() or not 1 <= int(top) <= 100:
            self.refuse(HTTPStatus.BAD_REQUEST, "top is not 1-100")
            return
        try:
            out = self.app.search(upload[1], upload[0], int(top))
        except FramediffError as e:
            self.refuse(HTTPStatus.BAD_REQUEST, str(e))
            return
        if out["error"]:
            status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE if "over the limit" in out["error"] else HTTPStatus.UNSUPPORTED_MEDIA_TYPE
            self.refuse(status, out["error"])
            return
        self.answer_json(out)
