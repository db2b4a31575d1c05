"""Security and robustness of ``framediff watch --serve`` (issue 19): no request smuggled inside a refused
one, no cross-site writes (checked from a real page on another origin in headless Chromium), no traceback
from remote input, secrets kept out of sight, no framing, bounded live-picture slots, one rule for zone
names.

Every watch here is the real command in a subprocess on a generated clip, as a user runs it; the web
servers the tests need (an attacker's page, a webhook receiver) are real local HTTP servers.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from framediff.cli import main
from framediff.errors import OptionError
from framediff.serve import LiveServer, LiveView
from framediff.watch import Watcher

from .conftest import write_video
from .test_serve import FPS, Watch, chromium, free_port, request, scene, status_of, wait_for

# SO_LINGER on with a zero timeout: close() resets the connection instead of ending it politely.
RESET = struct.pack("ii", 1, 0)
# Areas a smuggled request would set: nearly the whole frame ignored (the probe's attack).
EVIL = {"ignore_boxes": [[0, 0, 640, 300]]}
SAVED = {"ignore_boxes": [[600, 0, 40, 40]], "zones": {"gate": [200, 100, 240, 160]}}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> str:
    """A 10 s clip with two visits (played with --realtime: the watch runs while the test probes it)."""
    d = tmp_path_factory.mktemp("serve-security")
    return str(write_video(d / "visits.mp4", scene(150, [(15, 40), (90, 115)]), rate=FPS))


@pytest.fixture
def watches() -> Iterator[list[Watch]]:
    started: list[Watch] = []
    yield started
    for w in started:
        w.stop()


def start_watch(
    watches: list[Watch], clip: str, tmp_path: Path, *extra: str
) -> tuple[Watch, int, Path, bytes]:
    """A watch serving on a free port with a --config file that already holds areas."""
    port = free_port()
    config = tmp_path / "areas.json"
    config.write_text(json.dumps(SAVED))
    watch = Watch([clip, "--realtime", "--serve", str(port), "--config", str(config), *extra], port)
    watches.append(watch)
    return watch, port, config, config.read_bytes()


def smuggled(port: int) -> bytes:
    """Two requests hidden in a body: set the areas to EVIL, then save them to the --config file."""
    areas = json.dumps(EVIL).encode()
    host = f"Host: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n".encode()
    return (
        b"POST /api/areas HTTP/1.1\r\n" + host + b"Content-Length: %d\r\n\r\n" % len(areas) + areas
        + b"POST /api/save HTTP/1.1\r\n" + host + b"Content-Length: 2\r\n\r\n{}"
    )  # fmt: skip


def exchange(port: int, data: bytes, wait: float = 3.0) -> tuple[bytes, bool]:
    """Send raw bytes; return everything the server answers and whether it closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        got = b""
        try:
            while chunk := s.recv(65536):
                got += chunk
        except TimeoutError:
            return got, False  # still open: the server waits for more requests on it
        except ConnectionResetError:
            return got, True
    return got, True


def answers(data: bytes) -> list[int]:
    """The status codes of the HTTP responses in ``data``."""
    codes = []
    for part in data.split(b"HTTP/1.1 ")[1:]:
        code = part[:3]
        if code.isdigit():
            codes.append(int(code))
    return codes


def areas_of(port: int) -> dict:
    a = status_of(port)["areas"]
    return {"ignore_boxes": a["ignore_boxes"], "zones": a["zones"]}


# -- item 1: a refused request's body is never read as a request ----------------------------------------


def test_no_request_hidden_in_a_refused_body_is_ever_run(
    clip: str, tmp_path: Path, watches: list[Watch]
) -> None:
    watch, port, config, before = start_watch(watches, clip, tmp_path)
    assert areas_of(port) == SAVED
    inner = smuggled(port)
    big = inner + b" " * (70000 - len(inner))  # over the 64 KiB limit: 413
    cases = {
        # a cross-site "simple" POST as a browser sends it: text/plain, an Origin of another site
        "text/plain from another origin": (
            415,
            b"POST /api/areas HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: http://127.0.0.2:8000\r\n"
            b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % (port, len(inner)) + inner,
        ),
        "text/plain": (
            415,
            b"POST /api/save HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % (port, len(inner)) + inner,
        ),
        "JSON from another origin": (
            403,
            b"POST /api/areas HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: http://evil.example\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (port, len(inner)) + inner,
        ),
        "a browser saying cross-site": (
            403,
            b"POST /api/areas HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nSec-Fetch-Site: cross-site\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (port, len(inner)) + inner,
        ),
        "unknown path": (
            404,
            b"POST /api/nothing HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (port, len(inner)) + inner,
        ),
        "foreign Host (rebinding)": (
            401,
            b"POST /api/areas HTTP/1.1\r\nHost: evil.example:%d\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (port, len(inner)) + inner,
        ),
        "too large": (
            413,
            b"POST /api/areas HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (port, len(big)) + big,
        ),
        "chunked": (
            400,
            b"POST /api/areas HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: application/json\r\n\r\n" % port + inner,
        ),
        "GET with a body": (
            200,
            b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n"
            % (port, len(inner))
            + inner,
        ),
    }
    for name, (code, data) in cases.items():
        got, closed = exchange(port, data)
        assert answers(got) == [code], (name, got[:300])
        assert closed, name  # nothing more is read from this connection
        assert areas_of(port) == SAVED, name
        assert config.read_bytes() == before, name
    # The same connection still serves a well-formed client that pipelines honest requests.
    ok = b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    got, _ = exchange(port, ok, wait=1.0)
    assert answers(got) == [200, 200]
    assert watch.proc.poll() is None
    out, err = watch.stop()
    assert "Traceback" not in err, err


class _Page(http.server.BaseHTTPRequestHandler):
    """The attacker's site: one page, whatever is asked."""

    html = b""

    def do_GET(self) -> None:  # noqa: N802 - the base class's naming
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.html)))
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


def serve_page(host: str, html: str) -> http.server.ThreadingHTTPServer:
    handler = type("Page", (_Page,), {"html": html.encode()})
    httpd = http.server.ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def test_a_page_on_another_origin_changes_nothing_in_chromium(
    clip: str, tmp_path: Path, watches: list[Watch]
) -> None:
    driver = chromium(tmp_path)
    watch, port, config, before = start_watch(watches, clip, tmp_path)
    view = f"http://127.0.0.1:{port}"
    # The probe's attack: "simple" cross-site POSTs (text/plain: no preflight) whose bodies are the
    # requests to run, by fetch and by a form; an <iframe> of the page; <img>s of the live picture.
    body = json.dumps(smuggled(port).decode())
    html = f"""<!doctype html><html><body>
<iframe id="frame" src="{view}/" width="400" height="300"></iframe>
{"".join(f'<img class="cam" src="{view}/stream.mjpg?n={i}">' for i in range(6))}
<form id="form" method="POST" action="{view}/api/save" enctype="text/plain" target="sink">
<input type="hidden" name="x" value="y"></form><iframe name="sink"></iframe>
<script>
const body = {body};
Promise.all([
  fetch("{view}/api/areas", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body}}),
  fetch("{view}/api/save", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body}}),
  fetch("{view}/api/areas", {{method: "POST", mode: "no-cors", body: new Blob([body])}}),
]).then(() => {{ document.title = "sent"; }}, (e) => {{ document.title = "sent " + e; }});
document.getElementById("form").submit();
</script></body></html>"""
    attacker = serve_page("127.0.0.2", html)
    try:
        driver.get(f"http://127.0.0.2:{attacker.server_address[1]}/")
        wait_for(lambda: driver.title.startswith("sent"), 10, "the attacker's requests")
        time.sleep(1.0)  # the form's post and the pictures too
        assert areas_of(port) == SAVED
        assert config.read_bytes() == before
        # The cross-site pictures hold no live-picture slot, and the framed page shows nothing of the view.
        assert status_of(port)["viewers"] == 0
        assert driver.execute_script(
            "return [...document.querySelectorAll('img.cam')].every(i => i.naturalWidth === 0)"
        )
        driver.switch_to.frame(driver.find_element("id", "frame"))
        assert not driver.find_elements("id", "live")
        driver.switch_to.default_content()
        # The page itself still works, in the same browser: it shows the live picture and can edit.
        driver.get(f"{view}/")
        live = driver.find_element("id", "live")
        wait_for(lambda: driver.execute_script("return arguments[0].naturalWidth", live) > 0, 10, "live")
        assert status_of(port)["viewers"] >= 1
    finally:
        driver.quit()
        attacker.shutdown()
        attacker.server_close()
    assert watch.proc.poll() is None


# -- item 5: remote input never gives a traceback ---------------------------------------------------------


def test_malformed_requests_are_400s_without_traceback_and_the_watch_goes_on(
    clip: str, tmp_path: Path, watches: list[Watch]
) -> None:
    watch, port, config, before = start_watch(watches, clip, tmp_path)
    js = {"Content-Type": "application/json"}
    many = "&".join(f"f{i}={i}" for i in range(25))
    assert request(port, f"/api/status?{many}")[0] == 400
    assert request(port, f"/api/events?{many}")[0] == 400
    deep = b"[" * 30_000 + b"]" * 30_000  # within the 64 KiB a body may have
    huge = b"9" * 5000
    long = b"9" * 4000  # under Python's 4300-digit limit: parsed, then too large for a float
    for body in (
        deep,
        b'{"ignore_boxes": ' + deep + b"}",
        b'{"ignore_boxes": [[' + huge + b", 0, 10, 10]]}",
        b'{"ignore_boxes": [[' + long + b", 0, 10, 10]]}",
        b'{"zones": {"door": [0, 0, ' + long + b", 10]}}",
        b'{"zones": {"door": [0, 0, 1e308, 10]}}',
        b'{"zones": {"door": [0, 0, NaN, 10]}}',
    ):
        code, _, reply = request(port, "/api/areas", js, "POST", body)
        assert code == 400, body[:40]
        assert len(reply) < 400  # the message quotes a short excerpt, never the whole value
    # Clients that leave before their answer (a reset, not a polite close), on every kind of answer.
    for path, method, body in (
        ("/", "GET", b""),
        ("/api/config", "GET", b""),
        ("/frame.jpg", "GET", b""),
        ("/stream.mjpg", "GET", b""),
        ("/api/areas", "POST", json.dumps({"zones": {"door": [0, 0, 64, 64]}}).encode()),
        ("/api/nothing", "POST", b"{}"),
    ):
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
            head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            s.sendall(head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            s.close()
    time.sleep(1.0)
    status = status_of(port)
    assert watch.proc.poll() is None and status["state"] == "connected"
    assert status["areas"]["ignore_boxes"] == SAVED["ignore_boxes"]
    out, err = watch.stop()
    assert "Traceback" not in err and "Error" not in err, err
    # Only the watch's own lines: its address, its summary, no line per request.
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) <= 4, err
    assert lines[-1].startswith("watched ")


# -- item 7: secrets --------------------------------------------------------------------------------------


def test_a_stream_password_is_masked_in_status_on_stderr_and_in_the_error(
    watches: list[Watch], capsys
) -> None:
    dead, port = free_port(), free_port()
    url = f"http://alice:pa55-w0rd@127.0.0.1:{dead}/cam.ts"
    shown = f"http://alice:***@127.0.0.1:{dead}/cam.ts"
    # Never opened: one error line at once, the URL in it masked.
    with pytest.raises(SystemExit) as e:
        main(["watch", url, "--timeout", "2"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith(f"Error: cannot open {shown}"), err
    assert "pa55-w0rd" not in err
    # Waited for, with the live view: the status and the "waiting for" lines show it masked.
    watch = Watch([url, "--serve", str(port), "--wait-for-source", "--timeout", "1"], port)
    watches.append(watch)
    assert status_of(port)["source"] == shown
    time.sleep(1.5)  # a few attempts, each said on stderr
    out, err = watch.stop()
    assert f"waiting for {shown}" in err and "pa55-w0rd" not in err, err


def test_a_lost_stream_reason_in_events_has_no_password(tmp_path: Path) -> None:
    """A stream that is cut mid-way: the ``source_lost`` event's reason names the URL, masked."""
    frames = scene(90, [])
    ts = tmp_path / "cam.ts"
    src = write_video(tmp_path / "cam.mp4", frames, rate=FPS)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c", "copy", "-f", "mpegts", str(ts)], check=True
    )
    data = ts.read_bytes()

    class Cut(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the base class's naming
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            # A reset, as a camera that drops off the network: the decoder reports an error.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Cut)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    events = tmp_path / "ev.jsonl"
    url = f"http://carol:t0p-secret@127.0.0.1:{httpd.server_address[1]}/cam.ts"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "framediff", "watch", url, "--events", str(events), "--max-frames", "200",
             "--reconnect-timeout", "1"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        httpd.shutdown()
        httpd.server_close()
    lost = [json.loads(x) for x in events.read_text().splitlines() if '"source_lost"' in x]
    assert lost, (proc.stderr, events.read_text())
    assert "t0p-secret" not in events.read_text() and "t0p-secret" not in proc.stderr, proc.stderr
    assert all("carol:***@127.0.0.1" in e["reason"] for e in lost), lost[0]  # the decoder's reason names it


class _Hook(http.server.BaseHTTPRequestHandler):
    """A webhook receiver that wants HTTP Basic authentication."""

    expected = ""
    received: list[tuple[str, dict]] = []

    def do_POST(self) -> None:  # noqa: N802 - the base class's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="hook"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.received.append((self.path, json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


def test_a_webhook_url_with_user_info_posts_with_basic_auth(clip: str, tmp_path: Path, capsys) -> None:
    user, password = "bob", "s3:cr/t@x"
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    handler = type("Hook", (_Hook,), {"expected": expected, "received": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        port = httpd.server_address[1]
        url = f"http://{user}:s3%3Acr%2Ft%40x@127.0.0.1:{port}/hook?x=1"
        with pytest.raises(SystemExit) as e:
            main(["watch", clip, "--webhook", url, "-q"])
        err = capsys.readouterr().err
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert e.value.code == 0, err
    kinds = [body["event"] for path, body in handler.received]
    assert kinds.count("change_start") == 2 and kinds.count("change_end") == 2, (kinds, err)
    assert {path for path, _ in handler.received} == {"/hook?x=1"}
    assert "s3%3Acr" not in err and "warning" not in err, err


def test_a_token_from_the_environment_is_not_printed(clip: str) -> None:
    port, token = free_port(), "env-secret-1234"
    env = dict(os.environ, FRAMEDIFF_TOKEN=token, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "framediff", "watch", clip, "--realtime", "--serve", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )

    def up() -> bool:
        assert proc.poll() is None, "the watch ended"
        try:
            return request(port, "/api/status", {"Authorization": f"Bearer {token}"})[0] == 200
        except OSError:
            return False

    try:
        wait_for(up, 20, "the live view")
    finally:
        proc.terminate()
        err = proc.communicate(timeout=20)[1]
    assert f"live view at http://127.0.0.1:{port}/" in err, err
    assert token not in err, err


# -- item 8: framing and live-picture slots ----------------------------------------------------------------


def test_every_answer_forbids_framing(clip: str, tmp_path: Path, watches: list[Watch]) -> None:
    watch, port, _, _ = start_watch(watches, clip, tmp_path)
    for path, headers in (
        ("/", {}),
        ("/api/status", {}),
        ("/api/nothing", {}),
        ("/api/status", {"Host": "evil.example"}),
        ("/api/status?" + "&".join(f"f{i}=1" for i in range(30)), {}),
    ):
        code, h, _ = request(port, path, headers)
        assert h.get("x-frame-options") == "DENY", (path, code)
        assert "frame-ancestors 'none'" in h.get("content-security-policy", ""), (path, code)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = s.recv(4096).split(b"\r\n\r\n")[0].lower()
    assert b"x-frame-options: deny" in head and b"frame-ancestors 'none'" in head


def _stream(port: int, source: str) -> tuple[socket.socket, int]:
    """Open a live picture from ``source`` (a local address); its status code (the socket stays open)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    line = b""
    while b"\r\n" not in line:
        line += s.recv(1)
    return s, int(line.split()[1])


def test_one_client_cannot_hold_every_live_picture_slot(clip: str) -> None:
    server = LiveServer(LiveView(Watcher(clip)), ("127.0.0.1", 0))  # the defaults: 16 in all, 4 a client
    server.start()
    opened = []

    def codes(source: str, n: int) -> list[int]:
        out = []
        for _ in range(n):
            s, code = _stream(server.port, source)
            opened.append(s)
            out.append(code)
        return out

    try:
        assert codes("127.0.0.2", 6) == [200] * 4 + [503] * 2  # this client's four, then none more for it
        # Other clients still get theirs, up to the total.
        assert codes("127.0.0.1", 4) + codes("127.0.0.3", 4) + codes("127.0.0.4", 4) == [200] * 12
        assert codes("127.0.0.5", 1) == [503]
        # A slot comes back when its viewer leaves, even while no frame comes to notice it by.
        opened.pop(0).close()
        wait_for(lambda: server.live.viewers == 15, 5, "the viewer to be gone")
        wait_for(lambda: codes("127.0.0.5", 1) == [200], 2, "the slot to come back")
    finally:
        for s in opened:
            s.close()
        server.close()


# -- item 9: one rule for zone names ------------------------------------------------------------------------


def test_zone_names_follow_one_rule_on_the_command_line_the_page_and_the_file(
    clip: str, tmp_path: Path, watches: list[Watch], capsys
) -> None:
    bad = "tür<b>"
    message = f"zone name {bad!r} is not allowed (use 1-40 letters, digits, spaces, _ . or -)"
    # The command line.
    with pytest.raises(SystemExit) as e:
        main(["watch", clip, "--zone", f"{bad}=0,0,10,10"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err == f"Error: {message}\n", err
    # The settings file.
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"zones": {bad: [0, 0, 10, 10]}}), encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main(["watch", clip, "--config", str(cfg)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err == f"Error: config {cfg}: {message}\n", err
    # The library.
    with pytest.raises(OptionError, match="is not allowed"):
        Watcher(clip, zones={bad: (0, 0, 10, 10)})
    # The page.
    watch, port, _, _ = start_watch(watches, clip, tmp_path)
    js = {"Content-Type": "application/json"}
    body = json.dumps({"zones": {bad: [0, 0, 10, 10]}}).encode()
    code, _, reply = request(port, "/api/areas", js, "POST", body)
    assert code == 400 and json.loads(reply)["error"] == message
    # A name that passes one passes all: "door 1" on the command line, the page and a saved file.
    good = {"door 1": [0, 0, 10, 10]}
    assert request(port, "/api/areas", js, "POST", json.dumps({"zones": good}).encode())[0] == 200
    assert request(port, "/api/save", js, "POST", b"{}")[0] == 200
    watch.stop()
    with pytest.raises(SystemExit) as e:
        main(["watch", clip, "--config", str(tmp_path / "areas.json"), "--zone", "gate 2=0,0,5,5", "-q"])
    assert e.value.code == 0, capsys.readouterr().err
