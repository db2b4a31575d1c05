"""framediff watch as a new user meets it: a source that never came up, a file's progress on a terminal,
the debug recording's ignored areas, areas outside the picture, a camera's whole setup in --config.

Real sockets (a closed port, a local MJPEG server that goes away), a real terminal (a pseudo-terminal),
real clips made here.
"""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from framediff.serve import LiveView, load_settings
from framediff.watch import Watcher

from .conftest import MjpegServer
from .test_watch import OBJECT, H, W, clip, events_of, run_cli, scene


def closed_port() -> int:
    """A local port nobody listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def watch_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "framediff", "watch", *args]


@pytest.fixture(scope="module")
def object_clip(tmp_path_factory) -> str:
    """60 frames, 320x240; the object is there in frames 20-39."""
    d = tmp_path_factory.mktemp("ux")
    return clip(d / "object.mp4", scene(60, drift=0.05, present=lambda i: 20 <= i < 40))


# -- 1. a source that never opened fails at once; one that dropped is reopened --------------------------


@pytest.mark.parametrize("kind", ["camera", "rtsp", "http"])
def test_a_source_that_never_opened_fails_at_once_not_after_the_reconnect_timeout(
    kind: str, tmp_path: Path
) -> None:
    if kind == "camera" and Path("/dev/video7").exists():
        pytest.skip("this machine has a /dev/video7")
    port = closed_port()
    source = {"camera": "7", "rtsp": f"rtsp://127.0.0.1:{port}/live", "http": f"http://127.0.0.1:{port}/c"}
    ev = tmp_path / "ev.jsonl"
    t0 = time.monotonic()
    # The default --reconnect-timeout (60 s) is in force: it is for sources that dropped, not these.
    proc = subprocess.run(
        watch_cmd(source[kind], "--events", str(ev)), capture_output=True, text=True, timeout=30
    )
    took = time.monotonic() - t0
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot open"), proc.stderr
    assert "--wait-for-source" in lines[0] and "Traceback" not in proc.stderr
    assert took < 5, took
    assert not ev.exists()  # failed before any output was made


def test_a_stream_that_goes_away_after_opening_is_reopened_until_the_reconnect_timeout(
    tmp_path: Path, capsys
) -> None:
    frames = scene(20, photo="rocket", seed=3)
    server = MjpegServer(closed_port(), frames, once=True)
    ev = tmp_path / "ev.jsonl"
    try:
        code, _, err = run_cli([server.url, "--events", str(ev), "--reconnect-timeout", "1.5"], capsys)
    finally:
        server.close()
    # It opened, delivered its frames, went away: reopened with backoff, then given up.
    assert server.requests == 1
    assert "reconnecting to" in err and "waiting for" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert code == 2 and len(errors) == 1 and "unreachable for" in errors[0], err
    events = events_of(ev)
    assert [e["event"] for e in events] == ["source_lost"]
    assert events[0]["frame"] >= 15  # lost after (about) its 20 frames, not at the start


def test_wait_for_source_waits_for_a_camera_that_comes_up_later(tmp_path: Path) -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}/cam.mjpg"
    regions = tmp_path / "regions.jsonl"
    proc = subprocess.Popen(
        watch_cmd(url, "--wait-for-source", "--max-frames", "12", "--regions", str(regions)),
        stderr=subprocess.PIPE,
        text=True,
    )
    server = None
    try:
        time.sleep(2.0)  # nobody there yet: it keeps trying
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        server = MjpegServer(port, scene(40, photo="camera", seed=5))
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        if server is not None:
            server.close()
    assert proc.returncode == 0, err
    assert f"waiting for {url} (attempt 1" in err and "Error" not in err
    assert "watched 12 frames" in err
    assert len(regions.read_text().splitlines()) == 12


# -- 2. a file's progress on a terminal ---------------------------------------------------------------------


def _stderr_on_a_terminal(args: list[str], stdout_too: bool = False) -> tuple[int, str]:
    """Run the command with stderr (and stdout) on a pseudo-terminal, as in a shell; return its status and
    what the terminal got."""
    master, slave = pty.openpty()
    out_to = slave if stdout_too else subprocess.DEVNULL
    proc = subprocess.Popen(args, stdout=out_to, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out.decode("utf-8", "replace")


def test_a_file_watch_shows_progress_on_a_terminal_and_stays_quiet_when_piped(
    object_clip: str, tmp_path: Path
) -> None:
    code, term = _stderr_on_a_terminal(watch_cmd(object_clip))
    assert code == 0, term
    assert "watch" in term and "60/60" in term and "100%" in term, term  # frames of the file's total
    assert "1 change," in term and " fps" in term, term  # changes so far, analysis rate
    assert term.rstrip().endswith("watched 60 frames, 1 change"), term
    # Piped (a log file, a service): only the summary.
    piped = subprocess.run(watch_cmd(object_clip), capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and piped.stderr == "watched 60 frames, 1 change\n"
    # -q: nothing at all, even on a terminal.
    code, quiet = _stderr_on_a_terminal(watch_cmd(object_clip, "-q"))
    assert code == 0 and quiet.strip() == ""
    # Events on the same terminal: the lines as they come, no bar cutting them.
    code, both = _stderr_on_a_terminal(watch_cmd(object_clip, "--events", "-"), stdout_too=True)
    lines = both.strip().split("\r\n")
    assert code == 0 and "\r" not in "".join(lines) and "60/60" not in both, both
    assert [json.loads(x)["event"] for x in lines[:-1]] == ["change_start", "change_end"], both


# -- 3. the debug recording shows what is ignored ------------------------------------------------------------


def test_record_shades_the_ignored_areas_as_the_live_view_does(
    object_clip: str, tmp_path: Path, capsys
) -> None:
    box = (180, 60, 120, 120)  # over the object
    mask = np.zeros((H, W), np.uint8)
    mask[150:230, 10:110] = 255  # a patch of the ignore picture, bottom left
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    rec = tmp_path / "rec.mp4"
    code, _, err = run_cli(
        [
            object_clip,
            "--record",
            str(rec),
            "--ignore-box",
            ",".join(map(str, box)),
            "--ignore",
            str(tmp_path / "mask.png"),
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    with av.open(str(rec)) as c:
        shown = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    with av.open(object_clip) as c:
        source = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(shown) == len(source) == 60
    x, y, w, h = box
    for i in (10, 30):

        def ratio(ys: slice, xs: slice, i: int = i) -> float:
            return float(shown[i][ys, xs].astype(float).mean() / source[i][ys, xs].astype(float).mean())

        assert 0.25 < ratio(slice(y + 5, y + h - 5), slice(x + 5, x + w - 5)) < 0.45  # the box: shaded
        assert 0.25 < ratio(slice(155, 225), slice(15, 105)) < 0.45  # the mask's patch: shaded
        assert 0.9 < ratio(slice(60, 140), slice(40, 140)) < 1.1  # watched: as it is
        # The ignore box is outlined in magenta (BGR 255, 0, 200): strong blue and red, little green.
        edge = shown[i][y + h // 2, x - 1 : x + 2].astype(int)
        assert (edge[:, 0] > 150).any() and (edge[:, 2] > 120).any() and (edge[:, 1] < 90).any(), edge


# -- 6. areas outside the picture -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--zone", "door=900,900,10,10"],
        ["--ignore-box", f"{W},0,10,10"],
        ["--zone", "up=0,0,50,50", "--zone", f"low=10,{H + 5},50,50"],
    ],
)
def test_a_zone_or_ignore_box_outside_a_known_picture_is_an_error(
    object_clip: str, tmp_path: Path, capsys, args: list[str]
) -> None:
    ev = tmp_path / "ev.jsonl"
    code, _, err = run_cli([object_clip, *args, "--events", str(ev)], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("Error: ") and f"outside the {W}x{H} picture" in lines[0], err
    assert not ev.exists()


def test_areas_from_the_config_file_outside_the_picture_are_an_error_too(
    object_clip: str, tmp_path: Path, capsys
) -> None:
    cfg = tmp_path / "cam.json"
    cfg.write_text(json.dumps({"zones": {"door": [900, 900, 10, 10]}}))
    code, _, err = run_cli([object_clip, "--config", str(cfg)], capsys)
    assert code == 2 and "zone door 900,900,10,10 lies outside the 320x240 picture" in err, err


def test_a_box_reaching_past_the_edge_is_fine_and_an_area_outside_a_picture_known_later_is_a_warning(
    object_clip: str, tmp_path: Path, capsys
) -> None:
    # Reaching past the edge: it covers up to the edge (as drawn past the edge on the page). The object's
    # change is still found, and named.
    ev = tmp_path / "ev.jsonl"
    code, _, err = run_cli([object_clip, "--zone", f"right=150,0,{W},{H + 100}", "--events", str(ev)], capsys)
    assert code == 0 and "Warning" not in err, err
    assert [e["zones"] for e in events_of(ev) if e["event"] == "change_start"] == [["right"]]
    # A folder of pictures: the size is known only at its first picture, once the watch runs.
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, f in enumerate(scene(6, seed=2)):
        cv2.imwrite(str(folder / f"{i:02d}.png"), f)
    code, _, err = run_cli([str(folder), "--zone", "door=900,900,10,10"], capsys)
    warnings = [line for line in err.splitlines() if line.startswith("Warning: ")]
    assert code == 0 and len(warnings) == 1, err
    assert "zone door 900,900,10,10 lies outside the 320x240 picture" in warnings[0]
    assert "watched 6 frames" in err


# -- 8. a camera's whole setup in --config -------------------------------------------------------------------


def test_config_holds_the_detection_settings_and_outputs_and_the_command_line_overrides_them(
    object_clip: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "cam.json"
    setup = {
        "zones": {"obj": list(OBJECT)},
        "min_frames": 100,  # longer than the object stays: no change
        "cooldown": 0.5,
        "sensitivity": 4,
        "reference": "previous",  # only motion: a still object is one changed frame
        "events": "from-config.jsonl",
        "regions": "regions.jsonl",
        "snapshots": "snaps",
        "max-frames": 50,  # as on the command line: read as max_frames
    }
    cfg.write_text(json.dumps(setup))
    code, _, err = run_cli([object_clip, "--config", str(cfg)], capsys)
    assert code == 0, err
    assert "watched 50 frames, 0 changes (max frames)" in err  # max_frames and min_frames from the file
    assert (tmp_path / "from-config.jsonl").exists() and not events_of(tmp_path / "from-config.jsonl")
    assert len((tmp_path / "regions.jsonl").read_text().splitlines()) == 50
    # Options on the command line win, even given at their default value (as these two are).
    code, _, err = run_cli(
        [
            object_clip,
            "--config",
            str(cfg),
            "--min-frames",
            "2",
            "--reference",
            "background",
            "--max-frames",
            "60",
            "--events",
            "ev.jsonl",
        ],
        capsys,
    )
    assert code == 0, err
    starts = [e for e in events_of(tmp_path / "ev.jsonl") if e["event"] == "change_start"]
    assert [(e["zones"], e["frame"] in range(20, 24)) for e in starts] == [(["obj"], True)], starts
    assert starts[0]["snapshot"].startswith("snaps")  # the file's --snapshots still in force
    assert not events_of(tmp_path / "from-config.jsonl")  # overridden: the file's events were not written


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"min_frame": 3}, "unknown setting 'min_frame'"),
        ({"realtime": "yes"}, "realtime is not true or false"),
        ({"sensitivity": [1, 2]}, "is not a number, a string, true/false or a list of strings"),
        ({"events": ["a", "b"]}, "events takes one value, not a list"),
        ({"token": "secret"}, "unknown setting 'token'"),
        ({"min_frames": 0}, "min_frames '0' is out of range"),
    ],
)
def test_bad_settings_in_the_config_are_one_error_line(
    object_clip: str, tmp_path: Path, capsys, setting: dict, message: str
) -> None:
    cfg = tmp_path / "cam.json"
    cfg.write_text(json.dumps(setting))
    code, _, err = run_cli([object_clip, "--config", str(cfg)], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], err


def test_saving_the_areas_from_the_page_keeps_the_other_settings_of_the_file(
    object_clip: str, tmp_path: Path
) -> None:
    cfg = tmp_path / "cam.json"
    cfg.write_text(
        json.dumps(
            {
                "ignore_boxes": [[0, 0, 20, 20]],
                "sensitivity": 7,
                "events": "ev.jsonl",
                "webhook": ["http://127.0.0.1:1/hook"],
                "realtime": False,
            }
        )
    )
    watcher = Watcher(object_clip, max_frames=5)
    live = LiveView(watcher, config_path=str(cfg))
    watcher.run(handle_signals=False)
    live.set_areas({"ignore_boxes": [[10, 10, 30, 30]], "zones": {"door": [100, 50, 60, 80]}})
    live.save()  # what the page's Save button asks for (POST /api/save)
    data = json.loads(cfg.read_text())
    assert data["ignore_boxes"] == [[10, 10, 30, 30]] and data["zones"] == {"door": [100, 50, 60, 80]}
    assert {k: data[k] for k in ("sensitivity", "events", "webhook", "realtime")} == {
        "sensitivity": 7,
        "events": "ev.jsonl",
        "webhook": ["http://127.0.0.1:1/hook"],
        "realtime": False,
    }
    assert load_settings(cfg).options["sensitivity"] == 7
    # A file broken meanwhile is not overwritten (its settings would be lost): the save fails instead.
    cfg.write_text('{"sensitivity": 7,')
    from framediff.errors import OutputError

    with pytest.raises(OutputError, match="not valid JSON"):
        live.save()
    assert cfg.read_text() == '{"sensitivity": 7,'


def test_an_ignore_box_drawn_on_the_page_is_shaded_in_the_recording_from_then_on(tmp_path: Path) -> None:
    from .test_serve import Watch, free_port, request, status_of

    path = clip(tmp_path / "long.mp4", scene(75, seed=6))  # 5 s at 15 fps, played in real time
    rec = tmp_path / "rec.mp4"
    port = free_port()
    watch = Watch([path, "--realtime", "--serve", str(port), "--record", str(rec), "-q"], port)
    try:
        deadline = time.monotonic() + 20
        while status_of(port)["frame"] < 15:
            assert time.monotonic() < deadline, "the watch did not get going"
            time.sleep(0.05)
        body = json.dumps({"ignore_boxes": [[20, 20, 100, 80]]}).encode()
        code, _, answer = request(port, "/api/areas", {"Content-Type": "application/json"}, "POST", body)
        assert code == 200, answer
        since = status_of(port)["frame"] + 2  # in force from the next frame on
        watch.proc.wait(timeout=30)
    finally:
        watch.stop()
    with av.open(str(rec)) as c:
        shown = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    with av.open(path) as c:
        source = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(shown) == 75

    def ratio(i: int) -> float:
        return float(shown[i][30:90, 30:110].astype(float).mean() / source[i][30:90, 30:110].mean())

    assert all(0.9 < ratio(i) < 1.1 for i in range(5, 14))  # before: as it is
    assert all(0.25 < ratio(i) < 0.45 for i in range(since, 75))  # after: shaded


def test_an_option_that_acts_through_its_callback_is_read_from_the_config_too(tmp_path: Path) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, f in enumerate(scene(3, seed=8)):
        cv2.imwrite(str(folder / f"{i}.png"), f)
    cfg = tmp_path / "cam.json"
    cfg.write_text(json.dumps({"max_pixels": 1000}))  # --max-pixels: smaller than these 320x240 pictures
    run = subprocess.run(watch_cmd(str(folder), "--config", str(cfg)), capture_output=True, text=True)
    assert run.returncode == 0 and run.stderr.count("over the limit of 1000 pixels") == 3, run.stderr
    assert "watched 0 frames" in run.stderr
    run = subprocess.run(
        watch_cmd(str(folder), "--config", str(cfg), "--max-pixels", "1000000"),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and "over the limit" not in run.stderr and "watched 3 frames" in run.stderr
