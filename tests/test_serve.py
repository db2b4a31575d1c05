"""Tests of ``framediff watch --serve``: the page in real headless Chromium, the API, the token, the path
checks, the settings file, and a stalled viewer that must not slow the watch.

The browser test is skipped (with the reason) only when Chromium, its driver or selenium is missing;
``.ci/run`` installs Debian's ``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from framediff.cli import main
from framediff.serve import LiveServer, LiveView, load_settings, parse_address
from framediff.watch import Watcher

from .conftest import MjpegServer, photo_bgr, write_video

W, H, FPS = 640, 360, 15
OBJECT_H = 110
OBJECT_Y = 130
# The object crosses the picture during these frames (20 s clip, 15 fps).
VISITS = [(30, 54), (105, 129), (180, 204), (255, 279)]
REPO = Path(__file__).resolve().parents[1]


def scene(n: int = 300, visits: list[tuple[int, int]] = VISITS) -> list[np.ndarray]:
    """A fixed camera on a photo with sensor noise; a red box crosses from left to right on each visit."""
    rng = np.random.default_rng(7)
    base = cv2.resize(photo_bgr("coffee"), (W, H), interpolation=cv2.INTER_AREA).astype(np.float32)
    frames = []
    for i in range(n):
        f = base.copy()
        for a, b in visits:
            if a <= i < b:
                x = 40 + int((i - a) * (W - 160) / (b - a))
                f[OBJECT_Y : OBJECT_Y + OBJECT_H, x : x + 80] = (40, 60, 200)
        f += rng.normal(0, 2.5, f.shape)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return frames


@pytest.fixture(scope="module")
def live_clip(tmp_path_factory) -> str:
    """A 20 s clip (played with --realtime, so the page sees it live)."""
    d = tmp_path_factory.mktemp("serve")
    return str(write_video(d / "visits.mp4", scene(), rate=FPS))


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> str:
    """A 6 s clip with one visit."""
    d = tmp_path_factory.mktemp("serve-short")
    return str(write_video(d / "short.mp4", scene(90, [(15, 40)]), rate=FPS))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(
    port: int,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request with the path sent exactly as given (no client-side normalisation of ``..``)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def status_of(port: int, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    code, _, body = request(port, "/api/status", headers)
    assert code == 200, body
    return json.loads(body)


class Watch:
    """``framediff watch`` in a subprocess, as a user runs it."""

    def __init__(self, args: list[str], port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("FRAMEDIFF_TOKEN", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "framediff", "watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                status_of(port, token)
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    out, err = self.proc.communicate(timeout=5)
                    raise AssertionError(f"the live view did not come up: {err}") from None
                time.sleep(0.1)

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.communicate(timeout=20)


@pytest.fixture
def watch_proc() -> Iterator[list[Watch]]:
    started: list[Watch] = []
    yield started
    for w in started:
        w.stop()


# -- the page in a real browser -------------------------------------------------------------------------


def chromium(tmp_path: Path):
    """Headless Chromium driven by selenium, or a skip saying what is missing."""
    browser, driver = shutil.which("chromium") or "/usr/bin/chromium", "/usr/bin/chromedriver"
    if not (os.path.exists(browser) and os.path.exists(driver)):
        pytest.skip(
            "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')"
    )
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,900",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
    ):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=opts)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def png(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_page_in_chromium_live_picture_events_and_drawn_zone(
    live_clip: str, tmp_path: Path, watch_proc: list[Watch]
) -> None:
    port = free_port()
    config = tmp_path / "areas.json"
    args = [
        live_clip,
        "--realtime",
        "--serve",
        f"127.0.0.1:{port}",
        "--config",
        str(config),
        "--cooldown",
        "0.5",
    ]
    driver = chromium(tmp_path)
    try:
        watch = Watch(args, port)
        watch_proc.append(watch)
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        driver.get(f"http://127.0.0.1:{port}/")
        live = driver.find_element(By.ID, "live")
        wait_for(
            lambda: driver.execute_script("return arguments[0].naturalWidth", live) > 0,
            15,
            "the live picture",
        )

        # The live picture updates: two looks a second apart differ (the frame label and the noise move).
        a = png(live.screenshot_as_png)
        time.sleep(1.0)
        b = png(live.screenshot_as_png)
        assert a.shape == b.shape and float(np.mean(cv2.absdiff(a, b))) > 0.5

        # Events appear as they happen: the first change is listed within ~2 s of being raised, while the
        # watch is still running.
        first = wait_for(
            lambda: driver.find_elements(By.CSS_SELECTOR, "#events li.change_start"), 12, "a first change"
        )
        seen_at = time.time()
        status = status_of(port)
        assert status["state"] == "connected" and status["frame"] < 200
        events = json.loads(request(port, "/api/events?since=0")[2])["events"]
        start = [e for e in events if e["event"] == "change_start"][-1]
        raised = datetime.fromisoformat(start["wall"]).timestamp()
        assert seen_at - raised < 3.0, (seen_at, start["wall"])
        assert "frame" in first[0].text

        # Draw a zone with the mouse across the object's path; /api/status has it at once, in source pixels.
        name = driver.find_element(By.ID, "zone-name")
        name.clear()
        name.send_keys("gate")
        rect = driver.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height]", live
        )
        scale = W / rect[0]
        x0, y0, dx, dy = -120, -60, 240, 120  # from the picture's centre, CSS pixels
        ActionChains(driver).move_to_element_with_offset(live, x0, y0).click_and_hold().move_by_offset(
            dx, dy
        ).release().perform()
        zones = wait_for(lambda: status_of(port)["areas"]["zones"], 5, "the zone in /api/status")
        assert list(zones) == ["gate"]
        zx, zy, zw, zh = zones["gate"]
        expect = ((rect[0] / 2 + x0) * scale, (rect[1] / 2 + y0) * scale, dx * scale, dy * scale)
        assert np.allclose([zx, zy, zw, zh], expect, atol=4), (zones, expect)

        # An ignore box too, in the other mode.
        driver.find_element(By.CSS_SELECTOR, "input[name=mode][value=ignore]").click()
        ActionChains(driver).move_to_element_with_offset(live, 200, -150).click_and_hold().move_by_offset(
            80, 60
        ).release().perform()
        wait_for(lambda: status_of(port)["areas"]["ignore_boxes"], 5, "the ignore box in /api/status")

        # The zone is in force at once: the next change through it names it, on the page too.
        wait_for(
            lambda: [
                e for e in driver.find_elements(By.CSS_SELECTOR, "#events li") if "zones: gate" in e.text
            ],
            15,
            "a change listed with zone gate",
        )
        # Saved to the settings file that --config reads back.
        driver.find_element(By.ID, "save").click()
        wait_for(lambda: "saved to" in driver.find_element(By.ID, "message").text, 5, "the save message")
        saved = load_settings(config)
        assert saved.zones == {"gate": (zx, zy, zw, zh)} and len(saved.ignore_boxes) == 1

        # Wait for the object to be in view, so the screenshot shows a change box too.
        wait_for(lambda: status_of(port)["active"], 8, "an object in view")
        time.sleep(0.6)
        shot = tmp_path / "serve-live.png"
        driver.save_screenshot(str(shot))
        # A click on an event shows its snapshot.
        driver.find_elements(By.CSS_SELECTOR, "#events li.change_start")[0].click()
        snap = driver.find_element(By.ID, "snapshot")
        wait_for(
            lambda: driver.execute_script("return arguments[0].naturalWidth", snap) > 0, 5, "the snapshot"
        )
        assert driver.find_element(By.ID, "viewer").get_attribute("open") is not None
        driver.save_screenshot(str(tmp_path / "serve-snapshot.png"))
        out_dir = REPO / "bench-out"
        out_dir.mkdir(exist_ok=True)
        for f in ("serve-live.png", "serve-snapshot.png"):
            shutil.copy(tmp_path / f, out_dir / f)
        assert png(shot.read_bytes()).shape[1] >= 1000
    finally:
        driver.quit()


def test_page_plays_the_clip_of_a_change_and_the_api_serves_it_with_ranges(
    short_clip: str, tmp_path: Path, watch_proc: list[Watch]
) -> None:
    port, clips = free_port(), tmp_path / "clips"
    args = [short_clip, "--realtime", "--serve", f"127.0.0.1:{port}", "--clips", str(clips), "--post", "0.5"]
    driver = chromium(tmp_path)
    try:
        watch = Watch(args, port)
        watch_proc.append(watch)
        from selenium.webdriver.common.by import By

        driver.get(f"http://127.0.0.1:{port}/")
        item = wait_for(
            lambda: driver.find_elements(By.CSS_SELECTOR, "#events li.change_start"), 12, "the change"
        )[0]
        start = next(
            e
            for e in json.loads(request(port, "/api/events?since=0")[2])["events"]
            if e["event"] == "change_start"
        )
        url = start["clip_url"]
        assert url == f"/api/clip/{start['seq']}" and Path(start["clip"]).parent == clips
        # Served once finished (--post seconds after the change), never before: no half-written video.
        finished_before = Path(start["clip"]).exists()  # looked at first: a file only ever appears
        assert request(port, url)[0] == 200 or not finished_before
        wait_for(lambda: request(port, url)[0] == 200, 10, "the finished clip")
        whole = Path(start["clip"]).read_bytes()
        code, headers, body = request(port, url)
        assert code == 200 and body == whole and headers["content-type"] == "video/mp4"
        code, headers, body = request(port, url, {"Range": "bytes=100-199"})
        assert code == 206 and body == whole[100:200]
        assert headers["content-range"] == f"bytes 100-199/{len(whole)}"
        code, _, body = request(port, url, {"Range": "bytes=-50"})
        assert code == 206 and body == whole[-50:]
        assert request(port, url, {"Range": f"bytes={len(whole)}-"})[0] == 416
        assert request(port, f"/api/clip/{start['seq'] + 1000}")[0] == 404

        # On the page: the event's viewer offers the clip, and the browser plays it at the source's size.
        item.click()
        play = driver.find_element(By.ID, "play-clip")
        wait_for(play.is_displayed, 5, "the play button")
        play.click()
        video = driver.find_element(By.ID, "clip")
        wait_for(
            lambda: driver.execute_script(
                "return arguments[0].readyState >= 2 || !!arguments[0].error", video
            ),
            10,
            "the clip to load",
        )
        assert driver.execute_script("return arguments[0].error", video) is None
        # The clip takes the snapshot's place.
        assert video.is_displayed() and not driver.find_element(By.ID, "snapshot").is_displayed()
        assert driver.execute_script("return [arguments[0].videoWidth, arguments[0].videoHeight]", video) == [
            W,
            H,
        ]
        duration = driver.execute_script("return arguments[0].duration", video)
        assert duration == pytest.approx(len(_clip_frames(Path(start["clip"]))) / FPS, abs=0.15)
        driver.save_screenshot(str(tmp_path / "serve-clip.png"))
        shutil.copy(tmp_path / "serve-clip.png", REPO / "bench-out" / "serve-clip.png")
    finally:
        driver.quit()


def _clip_frames(path: Path) -> list:
    import av

    with av.open(str(path)) as c:
        return list(c.decode(c.streams.video[0]))


# -- API, token and paths ---------------------------------------------------------------------------------


def test_api_token_paths_and_post_checks(short_clip: str, watch_proc: list[Watch]) -> None:
    port = free_port()
    token = "s3cret-token"
    watch = Watch([short_clip, "--realtime", "--serve", f"127.0.0.1:{port}", "--token", token], port, token)
    watch_proc.append(watch)
    bearer = {"Authorization": f"Bearer {token}"}
    # Every route needs the token; a wrong one is refused too.
    for path in ("/", "/api/status", "/api/events", "/stream.mjpg", "/frame.jpg", "/api/snapshot/1"):
        code, headers, _ = request(port, path)
        assert code == 401, path
        assert headers["www-authenticate"].startswith("Bearer")
    assert request(port, "/api/status", {"Authorization": "Bearer wrong-token"})[0] == 401
    assert request(port, "/api/status?token=wrong-token")[0] == 401
    assert request(port, "/api/status", bearer)[0] == 200
    assert request(port, f"/api/status?token={token}")[0] == 200
    code, headers, body = request(port, f"/?token={token}")
    assert code == 200 and headers["content-type"].startswith("text/html") and b"framediff" in body

    # Wait for the change, then its snapshot is served by id, and only by a known numeric id.
    wait_for(lambda: status_of(port, token)["changes"] >= 1, 10, "a change")
    events = json.loads(request(port, "/api/events?since=0", bearer)[2])["events"]
    start = next(e for e in events if e["event"] == "change_start")
    assert [e["seq"] for e in events] == sorted((e["seq"] for e in events), reverse=True)  # newest first
    assert json.loads(request(port, f"/api/events?since={start['seq']}", bearer)[2])["events"] == [
        e for e in events if e["seq"] > start["seq"]
    ]
    code, headers, jpeg = wait_for(
        lambda: (r := request(port, start["snapshot_url"], bearer))[0] == 200 and r, 5, "the snapshot"
    )
    assert headers["content-type"] == "image/jpeg" and png(jpeg).shape == (H, W, 3)
    assert request(port, start["snapshot_url"] + "?thumb=1", bearer)[0] == 200
    for bad in (
        "/api/snapshot/../../etc/passwd",
        "/api/snapshot/..%2F..%2Fpyproject.toml",
        "/api/snapshot/%2e%2e/%2e%2e/pyproject.toml",
        "/api/snapshot/1/../../../pyproject.toml",
        "/api/snapshot/999999",
        "/api/snapshot/1.jpg",
        "/api/snapshot/-1",
        "/../pyproject.toml",
        "/static/../../pyproject.toml",
        "/framediff/static/index.html",
    ):
        code, _, body = request(port, bad, bearer)
        assert code in (400, 404), bad
        assert b"[project]" not in body and b"root:" not in body

    # A stream with the token in the query (as the page's <img> sends it) gives multipart JPEGs.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/stream.mjpg?token={token}")
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("Content-Type").startswith("multipart/x-mixed-replace")
    data = r.read1(65536) + r.read1(65536)
    assert b"Content-Type: image/jpeg" in data
    conn.close()

    # Changes need a JSON POST from this origin; a bad edit is refused, nothing covers the whole frame.
    areas = json.dumps({"zones": {"door": [10, 10, 100, 100]}}).encode()
    assert request(port, "/api/areas", bearer, "POST", areas)[0] == 415
    js = {**bearer, "Content-Type": "application/json"}
    evil = {**js, "Origin": "http://evil.example"}
    assert request(port, "/api/areas", evil, "POST", areas)[0] == 403
    assert request(port, "/api/areas", {**js, "Content-Type": "text/plain"}, "POST", areas)[0] == 415
    for body in (b"not json", b'{"zones": {"../x": [1, 1, 2, 2]}}', b'{"ignore_boxes": [[0, 0, 640, 360]]}'):
        assert request(port, "/api/areas", js, "POST", body)[0] == 400, body
    assert request(port, "/api/areas", js, "POST", areas)[0] == 200
    assert status_of(port, token)["areas"]["zones"] == {"door": [10, 10, 100, 100]}
    assert request(port, "/api/save", js, "POST", b"{}")[0] == 400  # no --config: nothing to save to
    out, err = watch.stop()
    assert f"live view at http://127.0.0.1:{port}/?token={token}" in err


def test_loopback_without_token_refuses_a_foreign_host_header(
    short_clip: str, watch_proc: list[Watch]
) -> None:
    port = free_port()
    watch = Watch([short_clip, "--realtime", "--serve", str(port)], port)
    watch_proc.append(watch)
    assert request(port, "/api/status")[0] == 200
    assert request(port, "/api/status", {"Host": f"localhost:{port}"})[0] == 200
    # DNS rebinding: a page of evil.example whose name now points at 127.0.0.1.
    assert request(port, "/api/status", {"Host": f"evil.example:{port}"})[0] == 401
    # One still of the live picture (for scripts), at the stream's size, areas drawn.
    code, headers, jpeg = request(port, "/frame.jpg")
    assert code == 200 and headers["content-type"] == "image/jpeg" and png(jpeg).shape == (H, W, 3)
    # The areas as a settings file, ready for --config.
    js = {"Content-Type": "application/json"}
    body = json.dumps({"ignore_boxes": [[500, 0, 200, 50]], "zones": {"door": [0, 0, 64, 64]}}).encode()
    code, _, reply = request(port, "/api/areas", js, "POST", body)
    assert code == 200 and json.loads(reply)["ignore_boxes"] == [[500, 0, 140, 50]]  # clipped to the frame
    code, headers, cfg = request(port, "/api/config")
    assert code == 200 and "attachment" in headers["content-disposition"]
    assert json.loads(cfg) == {
        "ignore_boxes": [[500, 0, 140, 50]],
        "zones": {"door": [0, 0, 64, 64]},
        "size": [W, H],
    }


def test_non_loopback_without_token_is_one_error_line_and_exit_2(short_clip: str, capsys) -> None:
    for address in ("0.0.0.0:8080", "192.168.1.20:8080", "[::]:8080", "cam.example.org:8080"):
        with pytest.raises(SystemExit) as e:
            main(["watch", short_clip, "--serve", address])
        out, err = capsys.readouterr()
        assert e.value.code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "--token" in lines[0], err
    for bad in ("http://x:80", "localhost:99999", "abc"):
        with pytest.raises(SystemExit) as e:
            main(["watch", short_clip, "--serve", bad])
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.startswith("Error: ") and len(err.strip().splitlines()) == 1


def test_parse_address() -> None:
    assert parse_address("8080") == ("127.0.0.1", 8080)
    assert parse_address("0.0.0.0:81") == ("0.0.0.0", 81)
    assert parse_address("[::1]:0") == ("::1", 0)
    assert parse_address("localhost:9") == ("localhost", 9)


# -- the settings file ----------------------------------------------------------------------------------


def test_config_file_is_read_back_and_merged_with_the_command_line(
    short_clip: str, tmp_path: Path, capsys
) -> None:
    cfg = tmp_path / "areas.json"
    cfg.write_text(
        json.dumps({"ignore_boxes": [[600, 0, 40, 40]], "zones": {"middle": [200, 100, 240, 160]}})
    )
    events = tmp_path / "ev.jsonl"
    with pytest.raises(SystemExit) as e:
        main(
            [
                "watch",
                short_clip,
                "--config",
                str(cfg),
                "--zone",
                "left=0,0,100,360",
                "--events",
                str(events),
                "-q",
            ]
        )
    assert e.value.code == 0, capsys.readouterr().err
    ends = [json.loads(x) for x in events.read_text().splitlines() if '"change_end"' in x]
    assert ends and set(ends[0]["zones"]) == {"left", "middle"}  # the file's zone and the command line's
    # Bad files: one error line, exit 2.
    for text, what in (
        ("{", "not valid JSON"),
        ('{"zones": {"a": [1, 2]}}', "zone"),
        ('{"mask": 1}', "unknown"),
    ):
        cfg.write_text(text)
        with pytest.raises(SystemExit) as e:
            main(["watch", short_clip, "--config", str(cfg)])
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.startswith("Error: config") and what in err, err
    with pytest.raises(SystemExit) as e:
        main(["watch", short_clip, "--config", str(tmp_path / "missing.json")])
    assert e.value.code == 2 and "no such file" in capsys.readouterr().err


# -- memory: full-size snapshots stay within their budget -------------------------------------------------


def test_old_snapshots_shrink_to_thumbnails_within_the_memory_budget(live_clip: str) -> None:
    watcher = Watcher(live_clip)
    live = LiveView(watcher, snapshot_memory=1)  # room for the newest full-size picture only
    watcher.run(handle_signals=False)
    live._snapshots_due()  # what the encoder thread does twice a second: picture the queued events
    starts = [e for e in live.events(0, 100) if e["event"] == "change_start"]
    assert len(starts) == len(VISITS)
    seqs = sorted(e["seq"] for e in starts)  # oldest first
    sizes = {seq: (len(live.snapshot(seq)), len(live.snapshot(seq, thumb=True))) for seq in seqs}
    # The newest event keeps its full-size picture, larger than its thumbnail...
    assert sizes[seqs[-1]][0] > sizes[seqs[-1]][1] > 0
    # ...the older ones are served their thumbnail instead, and every event still has one.
    for seq in seqs[:-1]:
        assert live.snapshot(seq) == live.snapshot(seq, thumb=True)
        assert cv2.imdecode(np.frombuffer(live.snapshot(seq), np.uint8), cv2.IMREAD_COLOR) is not None


# -- a stalled viewer never slows the watch ---------------------------------------------------------------


def test_stalled_and_vanished_viewers_do_not_slow_the_watch(short_clip: str) -> None:
    watcher = Watcher(short_clip, realtime=True)
    live = LiveView(watcher, max_fps=30)
    server = LiveServer(live, ("127.0.0.1", 0), timeout=2.0)
    server.start()
    try:
        port = server.port
        stalled = []
        for _ in range(3):  # connect and never read: their socket buffers fill up
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            stalled.append(s)
        gone = socket.create_connection(("127.0.0.1", port))
        gone.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        gone.close()  # vanished at once
        t0 = time.monotonic()
        state = watcher.run(handle_signals=False)
        took = time.monotonic() - t0
        assert state.frames == 90
        assert took < 6.0 + 1.0, took  # a 6 s clip paced in real time
        assert live.encoded > 30  # the stream was produced all along
    finally:
        for s in stalled:
            s.close()
        server.close()


# -- the source's state on the page -----------------------------------------------------------------------


def test_status_says_reconnecting_and_frozen(tmp_path: Path, watch_proc: list[Watch]) -> None:
    # Nobody answers at this address yet: with --wait-for-source the watch keeps trying, and says so.
    dead = free_port()
    port = free_port()
    url = f"http://127.0.0.1:{dead}/cam.mjpg"
    watch = Watch([url, "--serve", str(port), "--wait-for-source", "-q"], port)
    watch_proc.append(watch)
    wait_for(lambda: status_of(port)["state"] == "connecting", 10, "state connecting")
    watch.stop()
    # A camera that went away after it opened: reconnecting.
    camera = MjpegServer(free_port(), scene(10, []), once=True)
    try:
        port = free_port()
        watch = Watch([camera.url, "--serve", str(port), "--reconnect-timeout", "30", "-q"], port)
        watch_proc.append(watch)
        wait_for(lambda: status_of(port)["state"] == "reconnecting", 10, "state reconnecting")
        watch.stop()
    finally:
        camera.close()

    # A picture that stops changing at all: frozen, on the status and in the events.
    frames = scene(15, []) + [scene(1, [])[0]] * 60
    path = str(write_video(tmp_path / "frozen.mp4", frames, rate=FPS))
    port = free_port()
    watch = Watch([path, "--realtime", "--frozen-after", "1", "--serve", str(port), "-q"], port)
    watch_proc.append(watch)
    wait_for(lambda: status_of(port)["state"] == "frozen", 10, "state frozen")
    events = json.loads(request(port, "/api/events")[2])["events"]
    assert events[0]["event"] == "source_frozen"
