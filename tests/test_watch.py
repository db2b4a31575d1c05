"""framediff watch: real clips made here with PyAV, a real HTTP stream served from a thread, the CLI.

Every clip is a photo from scikit-image with sensor noise (and sometimes light drift) encoded with
libx264, so the detector meets compression and noise like on a real camera. Assertions are about what
happened (events, boxes, files), never about how long it took.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from framediff.cli import main
from framediff.errors import OptionError
from framediff.watch import ChangeDetector, EventMachine, Watcher, WatchOptions

from .conftest import photo_bgr, photo_gray, write_video

W, H, FPS = 320, 240, 15
OBJECT = (200, 90, 48, 40)  # x, y, w, h of the object that appears
FLICKER = (20, 20, 60, 50)


def scene(
    n: int,
    *,
    photo: str = "coffee",
    seed: int = 1,
    drift: float = 0.0,
    present: Callable[[int], bool] = lambda i: False,
    flicker: bool = False,
    flicker_from: int = 0,
    light_jump: int | None = None,
    box: tuple[int, int, int, int] = OBJECT,
) -> list[np.ndarray]:
    """Frames of a fixed camera: noise on every frame, optional slow drift, flicker, light jump, object."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(photo_bgr(photo), (W, H), interpolation=cv2.INTER_AREA).astype(np.float32)
    frames = []
    for i in range(n):
        f = base * (1.0 + drift * np.sin(2 * np.pi * i / n))
        if light_jump is not None and i >= light_jump:
            f = f * 1.35 + 10
        if flicker and i >= flicker_from:
            x, y, w, h = FLICKER
            f[y : y + h, x : x + w] += rng.integers(-60, 60, (1, 1, 3))
        if present(i):
            x, y, w, h = box
            f[y : y + h, x : x + w] = (40, 60, 200)
        f = f + rng.normal(0, 3, f.shape)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return frames


def clip(path: Path, frames: list[np.ndarray]) -> str:
    write_video(path, frames, rate=FPS)
    return str(path)


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(["watch", *args])
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def events_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def iou(a: dict, b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a["x"], a["y"], a["w"], a["h"]
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter)


@pytest.fixture(scope="module")
def object_clip(tmp_path_factory) -> str:
    """60 frames; the object is there in frames 20-39."""
    d = tmp_path_factory.mktemp("obj")
    return clip(d / "object.mp4", scene(60, drift=0.08, present=lambda i: 20 <= i < 40))


# -- detection -------------------------------------------------------------------------------------------


def test_object_appears_start_with_its_box_then_end(object_clip: str, tmp_path: Path, capsys) -> None:
    ev, rg = tmp_path / "ev.jsonl", tmp_path / "rg.jsonl"
    code, _, err = run_cli(
        [object_clip, "--events", str(ev), "--regions", str(rg), "--cooldown", "0.5"], capsys
    )
    assert code == 0, err
    events = events_of(ev)
    assert [e["event"] for e in events] == ["change_start", "change_end"]
    start, end = events
    assert 20 <= start["frame"] <= 21
    assert len(start["regions"]) == 1 and iou(start["regions"][0], OBJECT) > 0.6
    assert 40 <= end["frame"] <= 40 + 0.5 * FPS + 2 and end["start_frame"] == start["frame"]
    assert start["wall"].endswith("+00:00") and start["time"] == pytest.approx(start["frame"] / FPS, abs=0.01)
    frames = events_of(rg)
    assert [f["frame"] for f in frames] == list(range(60))
    assert all(f["changed"] == (20 <= f["frame"] < 40) for f in frames)
    assert all(iou(f["regions"][0], OBJECT) > 0.6 for f in frames if f["changed"])


def test_noise_compression_and_slow_drift_raise_nothing(tmp_path: Path, capsys) -> None:
    path = clip(tmp_path / "quiet.mp4", scene(90, photo="astronaut", seed=3, drift=0.12))
    ev, rg = tmp_path / "ev.jsonl", tmp_path / "rg.jsonl"
    for reference in ("background", "previous"):
        code, _, err = run_cli(
            [path, "--events", str(ev), "--regions", str(rg), "--reference", reference], capsys
        )
        assert code == 0, err
        assert events_of(ev) == []
        assert not any(f["regions"] for f in events_of(rg))


def test_ignore_mask_and_box_suppress_a_flickering_patch(tmp_path: Path, capsys) -> None:
    # A screen that starts flickering while the watch runs (one flickering from the start is moving
    # background from the start, like leaves: its threshold starts from how much it wanders).
    path = clip(tmp_path / "flicker.mp4", scene(45, flicker=True, flicker_from=25))
    ev = tmp_path / "ev.jsonl"
    code, _, _ = run_cli([path, "--events", str(ev)], capsys)
    assert code == 0 and events_of(ev)[0]["event"] == "change_start"  # unmasked, the patch is a change
    mask = np.zeros((H, W), np.uint8)
    x, y, w, h = FLICKER
    mask[y : y + h, x : x + w] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    for args in (["--ignore", str(tmp_path / "mask.png")], ["--ignore-box", f"{x},{y},{w},{h}"]):
        code, _, err = run_cli([path, "--events", str(ev), *args], capsys)
        assert code == 0, err
        assert events_of(ev) == []


def test_zones_are_named_in_events(object_clip: str, tmp_path: Path, capsys) -> None:
    ev = tmp_path / "ev.jsonl"
    args = [object_clip, "--events", str(ev), "--zone", "door=180,80,100,80", "--zone", "window=0,0,100,60"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    start = events_of(ev)[0]
    assert start["event"] == "change_start" and start["zones"] == ["door"]
    # Watching only the window: the object is outside it, nothing happens.
    code, _, _ = run_cli(
        [object_clip, "--events", str(ev), "--zone", "window=0,0,100,60", "--only-zones"], capsys
    )
    assert code == 0 and events_of(ev) == []


def test_sudden_light_change_is_reported_as_such_not_as_a_change(tmp_path: Path, capsys) -> None:
    path = clip(tmp_path / "light.mp4", scene(50, photo="chelsea", light_jump=25))
    ev = tmp_path / "ev.jsonl"
    code, _, _ = run_cli([path, "--events", str(ev)], capsys)
    assert code == 0
    assert [(e["event"], e["frame"]) for e in events_of(ev)] == [("light_change", 25)]
    code, _, _ = run_cli([path, "--events", str(ev), "--light-change", "suppress"], capsys)
    assert code == 0 and events_of(ev) == []


def test_background_keeps_a_left_object_and_fixed_reference_sees_it_from_the_start(
    tmp_path: Path, capsys
) -> None:
    # The object arrives at frame 10 and stays for 9 s: background mode must not absorb it.
    path = clip(tmp_path / "left.mp4", scene(150, present=lambda i: i >= 10))
    rg, ev = tmp_path / "rg.jsonl", tmp_path / "ev.jsonl"
    code, _, _ = run_cli([path, "--regions", str(rg), "--events", str(ev)], capsys)
    assert code == 0
    last = events_of(rg)[-1]
    assert last["changed"] and iou(last["regions"][0], OBJECT) > 0.6
    assert [e["event"] for e in events_of(ev)] == ["change_start", "change_end"]
    assert events_of(ev)[-1]["reason"] == "source ended"
    # Told to absorb still changes after 2 s, it lets go.
    code, _, _ = run_cli([path, "--events", str(ev), "--absorb-after", "2"], capsys)
    end = events_of(ev)[-1]
    assert end["event"] == "change_end" and "reason" not in end and end["frame"] < 10 + 4 * FPS
    # A clip that starts with the object: only a fixed reference image knows it should not be there.
    path = clip(tmp_path / "there.mp4", scene(30, present=lambda i: True))
    ref = tmp_path / "empty.png"
    cv2.imwrite(str(ref), scene(1, seed=9)[0])
    code, _, _ = run_cli([path, "--events", str(ev)], capsys)
    assert code == 0 and events_of(ev) == []
    code, _, err = run_cli([path, "--events", str(ev), "--reference", str(ref)], capsys)
    assert code == 0, err
    start = events_of(ev)[0]
    assert start["event"] == "change_start" and start["frame"] <= 1 and iou(start["regions"][0], OBJECT) > 0.6


def test_frozen_source_is_reported(tmp_path: Path, capsys) -> None:
    frames = scene(20) + [scene(1, seed=5)[0]] * 40  # the picture stops changing at frame 20
    path = clip(tmp_path / "frozen.mp4", frames)
    ev = tmp_path / "ev.jsonl"
    code, _, _ = run_cli([path, "--events", str(ev), "--frozen-after", "1.5"], capsys)
    assert code == 0
    kinds = [e["event"] for e in events_of(ev)]
    assert "source_frozen" in kinds and "change_start" not in kinds
    frozen = next(e for e in events_of(ev) if e["event"] == "source_frozen")
    assert 20 + 1.5 * FPS - 1 <= frozen["frame"] <= 20 + 1.5 * FPS + 3


def test_snapshots_exec_and_no_shell(object_clip: str, tmp_path: Path, capsys) -> None:
    log = tmp_path / "hook.log"
    hook = tmp_path / "hook.py"
    hook.write_text("import os, sys\nopen(sys.argv[1], 'a').write(os.environ['FRAMEDIFF_EVENT'] + '\\n')\n")
    evil = "x;touch PWNED"  # in a path the event carries (zone names cannot hold it: check_zone_name)
    args = [object_clip, "--snapshots", str(tmp_path / f"snaps {evil}"), "--events", "-"]
    args += ["--exec", f"{sys.executable} {hook} {log}", "--zone", "gate=180,80,100,80"]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code, out, err = run_cli(args, capsys)
    finally:
        os.chdir(cwd)
    assert code == 0, err
    printed = [json.loads(line) for line in out.splitlines()]
    hooked = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["event"] for e in hooked] == [e["event"] for e in printed] == ["change_start", "change_end"]
    assert hooked[0]["zones"] == ["gate"] and evil in hooked[0]["snapshot"]
    assert not (tmp_path / "PWNED").exists()
    snap = Path(printed[0]["snapshot"])
    assert snap.exists() and cv2.imread(str(snap)).shape == (H, W, 3)


class _HookServer:
    """A real HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it (and answers ``status``)."""

    def __init__(self, status: int = 204) -> None:
        received: list[dict] = []
        paths: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.headers["Content-Type"] == "application/json"
                received.append(json.loads(body))
                paths.append(self.path)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.received, self.paths = received, paths
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook/cam1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_webhook_posts_every_event_to_a_real_server(object_clip: str, tmp_path: Path, capsys) -> None:
    ok, refusing = _HookServer(204), _HookServer(500)
    try:
        ev = tmp_path / "ev.jsonl"
        args = [object_clip, "--events", str(ev), "--webhook", ok.url, "--webhook", refusing.url]
        code, _, err = run_cli(args, capsys)
    finally:
        ok.close()
        refusing.close()
    assert code == 0, err
    written = events_of(ev)
    # Every event arrives, in order, with the same content as the events file (boxes included).
    assert [e["event"] for e in written] == ["change_start", "change_end"]
    assert ok.received == written and set(ok.paths) == {"/hook/cam1"}
    assert iou(ok.received[0]["regions"][0], OBJECT) > 0.5
    # A server that answers 500 gets each event twice (one retry) and one warning in all, not one per event.
    assert len(refusing.received) == 2 * len(written)
    warnings = [line for line in err.splitlines() if "--webhook" in line]
    assert len(warnings) == 1 and "HTTP 500" in warnings[0], err


def test_webhook_to_a_server_that_is_down_does_not_stop_the_watch(
    object_clip: str, tmp_path: Path, capsys
) -> None:
    down = _HookServer()
    url = down.url
    down.close()  # nothing listens on that port any more: connections are refused
    ev = tmp_path / "ev.jsonl"
    code, _, err = run_cli([object_clip, "--events", str(ev), "--webhook", url], capsys)
    assert code == 0, err
    assert [e["event"] for e in events_of(ev)] == ["change_start", "change_end"]
    assert sum("--webhook" in line for line in err.splitlines()) == 1, err
    assert "Traceback" not in err


def _redness(picture: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean of red minus the larger of green and blue along a box's outline (BGR picture)."""
    x, y, w, h = box
    outline = np.concatenate(
        [
            picture[y, x : x + w],
            picture[y + h - 1, x : x + w],
            picture[y : y + h, x],
            picture[y : y + h, x + w - 1],
        ]
    ).astype(np.int32)
    return float(np.mean(outline[:, 2] - np.maximum(outline[:, 0], outline[:, 1])))


def _timed_frames(path: Path) -> list[tuple[float, np.ndarray]]:
    """Every frame of a written video: its time in seconds and its BGR picture."""
    import av

    with av.open(str(path)) as c:
        return [
            (float(f.pts * f.time_base), f.to_ndarray(format="bgr24")) for f in c.decode(c.streams.video[0])
        ]


def test_record_writes_every_frame_with_its_boxes_at_its_time(
    object_clip: str, tmp_path: Path, capsys
) -> None:

    rec, boxes = tmp_path / "rec.mp4", tmp_path / "boxes.jsonl"
    code, _, err = run_cli([object_clip, "--record", str(rec), "--regions", str(boxes)], capsys)
    assert code == 0, err
    found = {r["frame"]: r["regions"] for r in events_of(boxes)}
    frames = _timed_frames(rec)
    # Every analysed frame, at its own time, at the source's size.
    assert len(frames) == 60
    assert all(abs(t - i / FPS) < 0.002 for i, (t, _) in enumerate(frames))
    assert frames[0][1].shape == (H, W, 3)
    # The box found on a frame is drawn on that frame, in red; where nothing was found there is none.
    box = found[30][0]
    xywh = (box["x"], box["y"], box["w"], box["h"])
    assert iou(box, OBJECT) > 0.5
    assert _redness(frames[30][1], xywh) > _redness(frames[5][1], xywh) + 40
    assert not found[5] and not found[55]
    # While the change is open the picture gets a red border, before and after it none.
    edge = (0, 0, W, H)
    assert _redness(frames[30][1], edge) > _redness(frames[5][1], edge) + 40
    assert _redness(frames[55][1], edge) < _redness(frames[30][1], edge) - 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boxes.jsonl", "rec.mp4"]  # no temporary left


def test_clips_hold_each_change_from_pre_seconds_before_to_post_after(tmp_path: Path, capsys) -> None:

    # Two visits of the object, far enough apart to be two changes: frames 20-39 and 100-119.
    visits = scene(150, present=lambda i: 20 <= i < 40 or 100 <= i < 120, seed=4)
    src = clip(tmp_path / "two.mp4", visits)
    folder, ev = tmp_path / "clips", tmp_path / "ev.jsonl"
    args = [src, "--clips", str(folder), "--pre", "1", "--post", "0.5", "--events", str(ev)]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    events = events_of(ev)
    starts = [e for e in events if e["event"] == "change_start"]
    ends = [e for e in events if e["event"] == "change_end"]
    assert [e["frame"] for e in starts] == [20, 100]
    assert [e["clip"] for e in starts] == [e["clip"] for e in ends]
    assert sorted(p.name for p in folder.iterdir()) == sorted(Path(e["clip"]).name for e in starts)

    x, y, w, h = OBJECT
    for start, end in zip(starts, ends, strict=True):
        frames = _timed_frames(Path(start["clip"]))
        first = start["frame"] - FPS  # --pre 1: one second of frames before the change's first frame
        last = end["frame"] + FPS // 2  # --post 0.5
        assert len(frames) == last - first + 1
        assert all(abs(t - k / FPS) < 0.002 for k, (t, _) in enumerate(frames))  # the clip starts at 0
        # Each clip frame is the source frame at the same offset: the object is there exactly when it was.
        empty = visits[0][y : y + h, x : x + w].astype(np.float32)
        for k, (_, picture) in enumerate(frames):
            patch = picture[y : y + h, x : x + w].astype(np.float32)
            there = first + k in range(20, 40) or first + k in range(100, 120)
            assert (float(np.abs(patch - empty).mean()) > 30) == there, (start["id"], first + k)


def test_a_failing_output_leaves_no_other_output_half_written(
    object_clip: str, tmp_path: Path, capsys
) -> None:
    (tmp_path / "afile").write_text("a file, not a folder\n")
    rec = tmp_path / "rec.mp4"
    code, _, err = run_cli(
        [object_clip, "--record", str(rec), "--snapshots", str(tmp_path / "afile")], capsys
    )
    assert code == 2 and err.startswith("Error: "), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_record_clips_and_snapshots_together_on_odd_sized_4_4_4_video(tmp_path: Path) -> None:
    """All outputs at once convert the same decoded frames on several threads: this once hung for good."""
    import av

    frames = [cv2.resize(f, (W + 1, H + 1)) for f in scene(60, present=lambda i: 20 <= i < 40)]
    src = write_video(tmp_path / "odd.mkv", frames, codec="ffv1", rate=FPS, pix_fmt="yuv444p")
    rec, clips, snaps = tmp_path / "rec.mp4", tmp_path / "clips", tmp_path / "snaps"
    cmd = [sys.executable, "-m", "framediff", "watch", str(src), "--record", str(rec), "--clips", str(clips)]
    p = subprocess.run([*cmd, "--snapshots", str(snaps)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    with av.open(str(rec)) as c:
        s = c.streams.video[0]
        assert (s.width, s.height) == (W, H) and sum(1 for _ in c.decode(s)) == 60
    (clip,) = clips.iterdir()
    with av.open(str(clip)) as c:
        assert sum(1 for _ in c.decode(c.streams.video[0])) > 20
    assert len(list(snaps.iterdir())) == 1
    assert not [q for q in tmp_path.rglob("*") if ".part" in q.name]


def test_a_long_change_goes_on_in_new_clips_of_at_most_max_clip_seconds(
    object_clip: str, tmp_path: Path, capsys
) -> None:
    import av

    folder, ev = tmp_path / "clips", tmp_path / "ev.jsonl"
    args = [object_clip, "--clips", str(folder), "--max-clip", "1", "--pre", "1", "--post", "0.5"]
    code, _, err = run_cli([*args, "--events", str(ev)], capsys)
    assert code == 0, err
    start, end = (e for e in events_of(ev) if e["event"] in ("change_start", "change_end"))
    parts = sorted(folder.iterdir())  # named after their first frames: in order
    assert Path(start["clip"]) == parts[0] and Path(end["clip"]) == parts[-1] and len(parts) >= 3
    counts = []
    for part in parts:
        with av.open(str(part)) as c:
            counts.append(sum(1 for _ in c.decode(c.streams.video[0])))
    # One second each at most (the frame that reaches it starts the next part); the first part also holds
    # the frames seen while the change was being confirmed (--min-frames), handed over all at once.
    assert max(counts[1:]) <= FPS and counts[0] <= FPS + 2
    # Together the parts are the one clip, without a frame lost or repeated.
    first, last = start["frame"] - FPS, min(end["frame"] + FPS // 2, 59)
    assert sum(counts) == last - first + 1


def test_folder_of_images_in_natural_order_and_duration(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(scene(30, present=lambda i: 12 <= i < 20)):
        cv2.imwrite(str(folder / f"img{i}.png"), f)  # img2 before img10: natural order
    ev, rg = tmp_path / "ev.jsonl", tmp_path / "rg.jsonl"
    code, _, err = run_cli([str(folder), "--events", str(ev), "--regions", str(rg)], capsys)
    assert code == 0, err
    assert [(e["event"], e["frame"]) for e in events_of(ev)][0] == ("change_start", 12)
    assert [f["frame"] for f in events_of(rg) if f["changed"]] == list(range(12, 20))
    # --duration counts stream seconds for files: 1 s of a 15 fps clip is 16 frames (0 to 1.0 s).
    code, _, err = run_cli(
        [clip(tmp_path / "d.mp4", scene(40)), "--regions", str(rg), "--duration", "1"], capsys
    )
    assert code == 0 and len(events_of(rg)) == FPS + 1 and "(duration)" in err


def test_a_new_picture_size_starts_afresh_without_a_change(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    small = [cv2.resize(f, (W // 2, H // 2), interpolation=cv2.INTER_AREA) for f in scene(10, seed=2)]
    for i, f in enumerate(scene(10) + small):
        cv2.imwrite(str(folder / f"{i:03d}.png"), f)
    seen: list[str] = []
    w = Watcher(str(folder))
    w.on_event(lambda event, frame: seen.append(event.event))
    assert w.run(handle_signals=False).frames == 20 and seen == []
    assert w.detector is not None and w.detector.frame_size == (W // 2, H // 2)


# -- the Python API --------------------------------------------------------------------------------------


def test_detector_and_event_machine_on_arrays() -> None:
    frames = scene(30, present=lambda i: 10 <= i < 20)
    det = ChangeDetector(WatchOptions(reference="previous"), fps=FPS)
    machine = EventMachine(min_frames=1, cooldown=0.2)
    events = []
    for i, f in enumerate(frames):
        result = det.push(f, i, i / FPS)
        if i == 10:
            assert len(result.regions) == 1 and result.regions[0].x <= OBJECT[0] + 2
        events += [(e.event, e.frame) for e in machine.push(result)]
    # Against the previous frame, the object shows when it arrives and when it leaves.
    assert events[0] == ("change_start", 10) and ("change_start", 20) in events
    with pytest.raises(OptionError):
        WatchOptions(sensitivity=0)
    with pytest.raises(OptionError):
        EventMachine(min_frames=0)


def test_stop_from_a_callback_closes_the_open_change(object_clip: str) -> None:
    w = Watcher(object_clip)
    seen: list[dict] = []
    w.on_event(lambda event, frame: seen.append(event.to_dict()))
    w.on_frame(lambda result, frame: w.stop("enough") if frame.index == 30 else None)
    state = w.run(handle_signals=False)
    assert [e["event"] for e in seen] == ["change_start", "change_end"]
    assert seen[-1]["reason"] == "enough" and seen[-1]["frame"] == 30 and state.frames == 31


def test_watcher_callbacks_and_state(object_clip: str) -> None:
    seen: list[str] = []
    w = Watcher(object_clip, cooldown=0.5, max_frames=45)
    w.on_event(lambda event, frame: seen.append(event.event))
    frames = w.on_frame(lambda result, frame: None)
    assert callable(frames)
    state = w.run(handle_signals=False)
    assert seen == ["change_start", "change_end"]
    assert state.frames == 45 and state.status == "ended" and w.stop_reason == "max frames"
    assert state.changes == 1 and list(state.events)[0]["event"] == "change_start"


# -- a real HTTP stream that drops -----------------------------------------------------------------------


class DroppingStream:
    """Serves one file over HTTP: the first request is cut off part-way, the second served whole, then 404."""

    def __init__(self, data: bytes, cut: float) -> None:
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests += 1
                if server.requests > 2:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if server.requests == 1:
                    self.wfile.write(data[: int(len(data) * cut)])
                    self.wfile.flush()
                    self.close_connection = True  # the camera's network drops here
                else:
                    self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cam.ts"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> DroppingStream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_http_stream_drops_is_reopened_and_keeps_reporting(tmp_path: Path, capsys) -> None:
    # 90 frames; the object is there in frames 50-69. The first serving stops around frame 40.
    frames = scene(90, photo="rocket", seed=4, present=lambda i: 50 <= i < 70)
    ts = Path(write_video(tmp_path / "cam.ts", frames, codec="libx264", rate=FPS))
    ev = tmp_path / "ev.jsonl"
    with DroppingStream(ts.read_bytes(), cut=0.45) as server:
        code, _, err = run_cli(
            [server.url, "--events", str(ev), "--reconnect-timeout", "1.5", "--cooldown", "0.5"], capsys
        )
    events = events_of(ev)
    kinds = [e["event"] for e in events]
    assert "reconnecting" in err
    # The second serving ends too; once nobody answers for the reconnect timeout, watch gives up with exit 2.
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert code == 2 and len(errors) == 1 and "unreachable" in errors[0] and "Traceback" not in err
    assert kinds[0] == "source_lost" and kinds[1] == "source_restored"
    restored = events[1]["frame"]
    assert 5 < restored < 50  # cut before the object came
    starts = [e["frame"] for e in events if e["event"] == "change_start"]
    # Exactly one change, the object of the second serving; the reconnect itself raised nothing.
    assert starts == [restored + 50] or starts == [restored + 51]
    assert kinds[-2:] == ["change_end", "source_lost"] or kinds[-1] == "change_end"
    assert [e["frame"] for e in events] == sorted(e["frame"] for e in events)


def test_sigterm_ends_cleanly_with_open_change_closed(tmp_path: Path) -> None:
    path = clip(tmp_path / "long.mp4", scene(150, present=lambda i: i >= 15))
    ev = tmp_path / "ev.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "framediff", "watch", path, "--events", str(ev), "--realtime"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while not (ev.exists() and "change_start" in ev.read_text()):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, err
    events = events_of(ev)
    assert [e["event"] for e in events] == ["change_start", "change_end"]
    assert events[-1]["reason"] == "terminated" and "Traceback" not in err


# -- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{dir}/missing.mp4"], "no such file"),
        (["{dir}/notes.txt"], "not a video"),
        (["http://127.0.0.1:9/cam.ts"], "cannot open http://127.0.0.1:9/cam.ts"),
        (["{clip}", "--ignore", "{dir}/notes.png"], "cannot read ignore mask"),
        (["{clip}", "--ignore", "{dir}/nothing.png"], "cannot read ignore mask"),
        (["{clip}", "--zone", "door"], "NAME=x,y,w,h"),
        (["{clip}", "--ignore-box", "1,2,3"], "x,y,w,h"),
        (["{clip}", "--reference", "{dir}/nothing.png"], "no such file"),
        (["{clip}", "--min-frames", "0"], "--min-frames"),
        (["{clip}", "--light-change", "maybe"], "light-change must be one of"),
        (["{clip}", "--exec", "no-such-program-here --x"], "not found"),
        (["{clip}", "--webhook", "ftp://example.org/hook"], "not an http:// or https:// URL"),
        (["{clip}", "--record", "{dir}/boxes.gif"], "cannot write a video of that type"),
        (["{clip}", "--clips", "{dir}/clips", "--pre", "-1"], "pre"),
        (["{clip}", "--clips", "{dir}/notes.txt"], "cannot write clips into"),
        (["{clip}", "--pre", "3"], "shape the clips of --clips"),
        (["{clip}", "--clips", "{dir}/clips", "--max-clip", "0"], "--max-clip"),
        (["{clip}", "--record", "{clip}"], "would overwrite SOURCE"),
        (
            ["{clip}", "--record", "{dir}/same.mp4", "--events", "{dir}/same.mp4"],
            "would overwrite --events",
        ),
        (["{clip}", "--record", "{dir}/folder.mp4"], "it is a folder"),
        (["{clip}", "--record", ""], "need a name"),
        (["{clip}", "--webhook", "http://[::1"], "not an http:// or https:// URL"),
        (["{clip}", "--webhook", "http://127.0.0.1:99999/"], "not an http:// or https:// URL"),
        (["{clip}", "--webhook", "http://host/a b"], "not an http:// or https:// URL"),
        (["{clip}", "--record", "{dir}/no/such/dir/rec.mp4"], "cannot write"),
        (["{clip}", "--webhook", "http:///no-host"], "not an http:// or https:// URL"),
        (["{clip}", "--events", "{dir}/no/such/dir/ev.jsonl"], "cannot write"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(
    object_clip: str, tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    (tmp_path / "notes.txt").write_text("not a video at all\n" * 50)
    (tmp_path / "notes.png").write_text("not a picture either\n" * 50)
    (tmp_path / "folder.mp4").mkdir()
    code, _, err = run_cli([a.format(dir=tmp_path, clip=object_clip) for a in args], capsys)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if not line.startswith("reconnecting")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert message in lines[0]
    assert "Traceback" not in err
    # Nothing half-written is left behind, whichever output failed.
    assert not [p for p in tmp_path.rglob("*") if ".part" in p.name or p.name == "same.mp4"]


@pytest.mark.parametrize("slow_analysis", [False, True])
def test_file_watch_finds_the_same_regions_whichever_thread_shrinks(
    tmp_path: Path, slow_analysis: bool
) -> None:
    """Reading a file ahead must not change what is found: the reader shrinks frames only while the
    analysis is behind (a slow callback makes it so), else the detector shrinks them itself."""
    from framediff.sources import open_source

    base = cv2.resize(photo_bgr("coffee"), (1280, 720), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(36):
        f = base.copy()
        if 8 <= i < 28:  # a dark card slides in from the left and stops
            x = 100 + 30 * min(i - 8, 12)
            cv2.rectangle(f, (x, 300), (x + 140, 420), (30, 40, 200), -1)
        frames.append(f)
    clip = write_video(tmp_path / "card.mp4", frames)

    seen: dict[int, list[tuple[int, int, int, int]]] = {}
    watcher = Watcher(str(clip))

    @watcher.on_frame
    def collect(result, frame) -> None:  # noqa: ANN001 - the callback signature of on_frame
        seen[frame.index] = [(r.x, r.y, r.w, r.h) for r in result.regions]
        if slow_analysis:
            time.sleep(0.01)  # the queue fills: the reader starts shrinking frames itself

    watcher.run(handle_signals=False)

    expected: dict[int, list[tuple[int, int, int, int]]] = {}
    with open_source(clip, gray=True) as src:
        det = ChangeDetector(WatchOptions(), fps=src.fps)
        for frame in src:
            result = det.push(frame.luma, frame.index, frame.time, limited=frame.limited)
            expected[frame.index] = [(r.x, r.y, r.w, r.h) for r in result.regions]

    assert seen == expected
    boxed = [i for i, regions in seen.items() if regions]
    assert boxed and min(boxed) <= 10  # the card is found as soon as it enters
    card = seen[20][0]
    assert card[1] <= 300 and card[1] + card[3] >= 420  # and boxed where it is


# -- the start of a watch --------------------------------------------------------------------------------


def on(a: dict, b: tuple[int, int, int, int]) -> float:
    """The fraction of box ``a`` that lies inside box ``b``."""
    ix = max(0, min(a["x"] + a["w"], b[0] + b[2]) - max(a["x"], b[0]))
    iy = max(0, min(a["y"] + a["h"], b[1] + b[3]) - max(a["y"], b[1]))
    return ix * iy / float(a["w"] * a["h"])


def start_scene(n: int, seed: int = 4) -> tuple[list[np.ndarray], list[list[tuple[int, int, int, int]]]]:
    """People walking when the watch starts, a flickering light, a person arriving later.

    Two dark figures stand in frame 0 and walk off (2 px a frame, so each leaves its frame-0 footprint
    within a second); the exposure flickers by up to 3% from frame to frame, as a camera settles when a
    stream starts; a third figure walks in at frame 25. Returns the frames and every frame's true boxes.
    """
    rng = np.random.default_rng(seed)
    base = cv2.resize(photo_bgr("chelsea"), (W, H), interpolation=cv2.INTER_AREA).astype(np.float32)
    frames, truth = [], []
    for i in range(n):
        f = base * (1.0 + rng.uniform(-0.03, 0.03))
        boxes = [(60 + 2 * i, 120, 16, 44), (240 - 2 * i, 40, 16, 44)]
        if i >= 25:
            boxes.append((W - 2 * (i - 25), 150, 16, 44))
        for x, y, w, h in boxes:
            f[y : y + h, max(0, x) : x + w] = (30 + 10 * (y % 3), 35, 40)
        f = f + rng.normal(0, 3, f.shape)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
        truth.append([(x, y, min(w, W - x), h) for x, y, w, h in boxes if x < W])
    return frames, truth


def test_the_background_starts_from_what_is_steady_not_from_frame_0(tmp_path: Path, capsys) -> None:
    n = 45
    frames, truth = start_scene(n)
    rg = tmp_path / "rg.jsonl"
    code, _, err = run_cli([clip(tmp_path / "start.mp4", frames), "--regions", str(rg)], capsys)
    assert code == 0, err
    records = events_of(rg)
    assert [r["frame"] for r in records] == list(range(n))
    for r in records:
        # No ghost where someone stood in frame 0 and no box from the flicker: every box lies (mostly) on
        # someone. A figure still partly on its frame-0 footprint may be found only in part at first.
        for box in r["regions"]:
            assert max(on(box, t) for t in truth[r["frame"]]) > 0.25, (r["frame"], box)
    # And everyone is found once the first second is over (the figures in frame 0 included), each
    # newcomer as soon as half of it is in view.
    for r in records[int(FPS) :]:
        found = [any(iou(box, t) > 0.5 for box in r["regions"]) for t in truth[r["frame"]] if t[2] >= 8]
        assert all(found), (r["frame"], r["regions"], truth[r["frame"]])


# -- what is and is not an object ------------------------------------------------------------------------


def swaying(patch: np.ndarray, t: float) -> np.ndarray:
    """``patch`` as leaves in the wind at time ``t``: the whole sways by up to 1.5 px, the leaves flutter."""
    h, w = patch.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = 1.5 * np.sin(2 * np.pi * 0.7 * t) + 0.7 * np.sin(2 * np.pi * (2.1 * t + xx / 15.0 + yy / 21.0))
    dy = 0.7 * np.sin(2 * np.pi * (1.6 * t + xx / 27.0))
    mx, my = (xx + dx).astype(np.float32), (yy + dy).astype(np.float32)
    return cv2.remap(patch, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def test_swaying_leaves_raise_no_box_and_a_person_walking_by_is_found(tmp_path: Path, capsys) -> None:
    n = 75
    rng = np.random.default_rng(6)
    base = cv2.resize(photo_bgr("coffee"), (W, H), interpolation=cv2.INTER_AREA).astype(np.float32)
    leaves = cv2.resize(photo_bgr("grass"), (120, 90)).astype(np.float32) * np.float32([0.45, 0.9, 0.5])
    tree = (20, 30, 120, 90)
    frames, person = [], []
    for i in range(n):
        f = base.copy()
        x, y, w, h = tree
        f[y : y + h, x : x + w] = swaying(leaves, i / FPS)
        box = (210 - 2 * (i - 40), 120, 16, 44) if i >= 40 else None  # walks towards the tree
        if box:
            f[box[1] : box[1] + box[3], box[0] : box[0] + box[2]] = (40, 50, 160)
        frames.append(np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8))
        person.append(box)
    rg = tmp_path / "rg.jsonl"
    code, _, err = run_cli([clip(tmp_path / "leaves.mp4", frames), "--regions", str(rg)], capsys)
    assert code == 0, err
    bad = []
    for r in events_of(rg):
        for box in r["regions"]:
            bad.append((r["frame"], box)) if on(box, tree) >= 0.5 else None
        if person[r["frame"]] is not None:
            assert any(iou(box, person[r["frame"]]) > 0.5 for box in r["regions"]), r
    assert not bad, bad


def test_a_far_small_car_is_one_box_from_its_second_frame(tmp_path: Path, capsys) -> None:
    # 640x480, a far road across the picture; a car 9x5 px on it from frame 10: found from its second
    # frame on (small changes must show twice), one box around it, not around the blur's halo.
    w, h, n = 640, 480, 40
    rng = np.random.default_rng(8)
    base = cv2.resize(photo_bgr("coffee"), (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    base[50:80] = cv2.resize(photo_bgr("gravel"), (w, 30)).astype(np.float32) * 0.3 + 70  # asphalt
    frames, car = [], []
    for i in range(n):
        f = base.copy()
        box = (200 + 3 * (i - 10), 66, 9, 5) if i >= 10 else None
        if box:
            x, y, bw, bh = box
            f[y : y + bh, x : x + bw] = (225, 225, 230)
            f[y + 1 : y + 3, x + 3 : x + 9] = (50, 50, 50)  # its windows
        frames.append(np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8))
        car.append(box)
    rg = tmp_path / "rg.jsonl"
    code, _, err = run_cli([clip(tmp_path / "far.mp4", frames), "--regions", str(rg)], capsys)
    assert code == 0, err
    for r in events_of(rg):
        box = car[r["frame"]]
        if box is None:
            assert r["regions"] == [], r
        elif r["frame"] >= 11:
            assert len(r["regions"]) == 1 and iou(r["regions"][0], box) > 0.3, (r["frame"], r["regions"], box)


# -- traffic ---------------------------------------------------------------------------------------------


PAINT = cv2.resize(photo_gray("gravel"), (256, 128)).astype(np.float32)


def vehicle(f: np.ndarray, box: tuple[int, int, int, int], body: tuple[int, int, int]) -> None:
    """A vehicle seen from the side, inside ``box``: a body with some texture (reflections, panels), a
    band of dark windows, two dark wheels."""
    x, y, w, h = box
    x0, x1 = max(0, x), min(f.shape[1], x + w)
    if x1 <= x0:
        return
    paint = cv2.resize(PAINT, (w, h))[:, x0 - x : x1 - x, None]
    f[y : y + h, x0:x1] = np.float32(body) + 0.4 * (paint - paint.mean())
    f[y + h // 5 : y + h // 2, max(0, x + w // 8) : min(f.shape[1], x + w - w // 8)] = (45, 45, 50)
    r = max(2, h // 5)
    for cx in (x + w // 5, x + 4 * w // 5):
        cv2.circle(f, (cx, y + h - r), r, (25, 25, 25), -1, cv2.LINE_AA)


def road_scene(w: int, h: int) -> np.ndarray:
    """A photo with a band of asphalt across it at 40-60% of the height (float32 BGR)."""
    base = cv2.resize(photo_bgr("coffee"), (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    y0, y1 = int(0.4 * h), int(0.6 * h)
    base[y0:y1] = cv2.resize(photo_bgr("gravel"), (w, y1 - y0)).astype(np.float32) * 0.3 + 70
    return base


def test_a_busy_road_keeps_finding_its_cars(tmp_path: Path, capsys) -> None:
    # A car every second on the same lane for 30 s: the lane's pixels switch twice per car, as leaves
    # do, but what is reported as an object is not learnt as the road's noise, so the last cars are
    # found as well as the first (on the old code the lane's threshold climbed until they went unseen).
    w, h, n = 480, 270, 30 * FPS
    rng = np.random.default_rng(11)
    base = road_scene(w, h)
    frames, cars = [], []
    for i in range(n):
        f = base.copy()
        here = []
        for k in range(n // FPS + 2):
            x = -60 + 9 * (i - k * FPS)  # 60 px long, 9 px a frame, one every second
            if -60 < x < w:
                box = (x, 122, 60, 22)
                vehicle(f, box, (150, 150, 160) if k % 2 else (60, 90, 170))
                if x >= 0 and x + 60 <= w:
                    here.append(box)
        frames.append(np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8))
        cars.append(here)
    rg = tmp_path / "rg.jsonl"
    code, _, err = run_cli([clip(tmp_path / "busy.mp4", frames), "--regions", str(rg)], capsys)
    assert code == 0, err
    late = [r for r in events_of(rg) if r["frame"] >= n - 10 * FPS]
    wanted = [(r["frame"], t) for r in late for t in cars[r["frame"]]]
    found = [
        (fr, t) for fr, t in wanted if any(iou(b, t) > 0.5 for b in late[fr - late[0]["frame"]]["regions"])
    ]
    assert len(wanted) > 100 and len(found) >= 0.95 * len(wanted), (len(found), len(wanted))


def test_a_ghost_over_swaying_leaves_goes(tmp_path: Path, capsys) -> None:
    # A bus passes slowly in front of a swaying tree while the watch starts: it covers the tree for most
    # of the first 1.5 s, so the median of those frames has it. The leaves never hold still, so the
    # ghost cannot be told by stillness; the longer median at 4 s removes it.
    n = 8 * FPS
    rng = np.random.default_rng(12)
    base = cv2.resize(photo_bgr("coffee"), (W, H), interpolation=cv2.INTER_AREA).astype(np.float32)
    leaves = cv2.resize(photo_bgr("grass"), (100, 80)).astype(np.float32) * np.float32([0.45, 0.9, 0.5])
    tree = (60, 40, 100, 80)
    frames = []
    for i in range(n):
        f = base.copy()
        x, y, tw, th = tree
        f[y : y + th, x : x + tw] = swaying(leaves, i / FPS)
        vehicle(f, (-40 + 6 * i, 50, 150, 70), (40, 60, 200))  # on the tree from frame 0 to 1.6 s
        frames.append(np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8))
    rg = tmp_path / "rg.jsonl"
    code, _, err = run_cli([clip(tmp_path / "ghost.mp4", frames), "--regions", str(rg)], capsys)
    assert code == 0, err
    records = events_of(rg)
    # No ghost from 5 s on: nothing near the bus's size (150 x 70) where it passed. A speck of leaves
    # (10 x 10) may slip through at the margin in a frame; the swaying-leaves test is about those.
    bad = [
        (r["frame"], b)
        for r in records
        if r["frame"] >= 5 * FPS
        for b in r["regions"]
        if b["w"] * b["h"] > 600
    ]
    assert not bad, bad


def test_a_far_car_above_a_near_bus_is_its_own_box(tmp_path: Path, capsys) -> None:
    # A small far car crosses just above a near bus going the other way: close enough for the bus's
    # fragment rule, but it moves its own way, so it keeps its own box and the bus's box stays the bus's.
    w, h, n = 640, 360, 70
    rng = np.random.default_rng(13)
    base = road_scene(w, h)
    frames, bus, car = [], [], []
    for i in range(n):
        f = base.copy()
        b = (8 * (i - 30), 160, 160, 80)  # comes in from frame 11, when the road is known
        c = (400 - 2 * i, 140, 16, 7)
        vehicle(f, c, (200, 200, 210))
        vehicle(f, b, (40, 60, 200))
        frames.append(np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8))
        bus.append(b)
        car.append(c)
    rg = tmp_path / "rg.jsonl"
    code, _, err = run_cli([clip(tmp_path / "far_near.mp4", frames), "--regions", str(rg)], capsys)
    assert code == 0, err
    crossing = 0
    for r in events_of(rg):
        i = r["frame"]
        b, c = bus[i], car[i]
        if not (0 <= b[0] <= c[0] and c[0] + c[2] <= b[0] + b[2]):
            continue  # the car not above the bus
        crossing += 1
        assert any(iou(x, b) > 0.7 for x in r["regions"]), (i, r["regions"], b)
        assert any(iou(x, c) > 0.3 for x in r["regions"]), (i, r["regions"], c)
    assert crossing >= 10


def test_a_dark_crown_swaying_against_the_sky_raises_no_box_from_the_start(tmp_path: Path, capsys) -> None:
    # The crown never holds still, so its background is the median of the first 1.5 s; how far it
    # wanders about that median starts its threshold, instead of the noise of the still sky around it
    # (on the old code its edge against the sky raised boxes until it had learnt its own threshold).
    n = 6 * FPS
    rng = np.random.default_rng(14)
    base = np.full((H, W, 3), (235, 225, 215), np.float32)  # an overcast sky
    base[170:] = cv2.resize(photo_bgr("gravel"), (W, H - 170)).astype(np.float32) * 0.5 + 40  # scrub
    crown = np.full((120, 150, 3), (235, 225, 215), np.float32)
    cv2.ellipse(crown, (75, 60), (62, 45), 0, 0, 360, (30, 45, 35), -1, cv2.LINE_AA)
    crown[40:80] = np.where(
        cv2.resize(photo_gray("grass"), (150, 40))[..., None] > 150, (235, 225, 215), crown[40:80]
    )  # sky through the leaves
    tree = (80, 50, 150, 120)
    frames = []
    for i in range(n):
        f = base.copy()
        x, y, tw, th = tree
        f[y : y + th, x : x + tw] = swaying(crown, i / FPS)
        frames.append(np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8))
    rg = tmp_path / "rg.jsonl"
    code, _, err = run_cli([clip(tmp_path / "crown.mp4", frames), "--regions", str(rg)], capsys)
    assert code == 0, err
    bad = [(r["frame"], b) for r in events_of(rg) for b in r["regions"] if on(b, tree) >= 0.5]
    assert not bad, bad


def test_a_busy_road_at_three_frames_a_second_keeps_finding_its_cars(tmp_path: Path, capsys) -> None:
    # At 3 frames a second a car crosses the picture in a few frames and a lane pixel switches every
    # other frame: the switches of an object that has just arrived are not counted as moving
    # background, so the lane is not blanked (on the old code its cars went unseen after 20 s).
    fps, w, h = 3, 480, 270
    n = 40 * fps
    rng = np.random.default_rng(15)
    base = road_scene(w, h)
    frames, cars = [], []
    for i in range(n):
        f = base.copy()
        here = []
        for k in range(-4, n + 4, 4):
            x = -60 + 70 * (i - k)  # 60 px long, 70 px a frame, one every fourth frame
            if -60 < x < w:
                box = (x, 122, 60, 22)
                vehicle(f, box, (150, 150, 160) if k % 8 else (60, 90, 170))
                if x >= 0 and x + 60 <= w:
                    here.append(box)
        frames.append(np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8))
        cars.append(here)
    path = tmp_path / "busy3.mp4"
    write_video(path, frames, rate=fps)
    rg = tmp_path / "rg.jsonl"
    code, _, err = run_cli([str(path), "--regions", str(rg)], capsys)
    assert code == 0, err
    records = events_of(rg)
    late = [r for r in records if r["frame"] >= n - 15 * fps]
    wanted = [(r, t) for r in late for t in cars[r["frame"]]]
    found = [1 for r, t in wanted if any(iou(b, t) > 0.5 for b in r["regions"])]
    assert len(wanted) > 40 and len(found) >= 0.9 * len(wanted), (len(found), len(wanted))
