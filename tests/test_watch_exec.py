"""``watch --exec`` stays bounded with real hook processes, and ``watch`` ends quietly when its reader goes.

The hooks here are real programs (a Python script that ignores SIGTERM and starts a child of its own,
``sleep``); processes are counted in ``/proc``, shutdowns timed with the clock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from framediff.cli import main
from framediff.watch import CommandRunner

from .test_watch import clip as write_clip
from .test_watch import scene

# A hook at its worst: it ignores SIGTERM, starts a child of its own, notes both pids, and never ends.
STUCK_HOOK = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen(["sleep", "1000"])
with open(sys.argv[1], "a") as log:
    log.write(f"{os.getpid()} {child.pid}\\n")
time.sleep(1000)
"""

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts processes in /proc")


def _state(pid: int) -> str | None:
    """A process's state letter from /proc (``None`` when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _children(pid: int) -> set[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def _all_gone(pids: set[int], wait: float = 3.0) -> set[int]:
    """The pids still alive (not gone, not a zombie) after waiting up to ``wait`` seconds."""
    end = time.monotonic() + wait
    alive = set(pids)
    while alive and time.monotonic() < end:
        alive = {p for p in alive if _state(p) not in (None, "Z")}
        time.sleep(0.05)
    return alive


def _logged_pids(log: Path) -> set[int]:
    if not log.exists():
        return set()
    return {int(p) for line in log.read_text().splitlines() for p in line.split()}


@pytest.fixture(scope="module")
def busy_clip(tmp_path_factory) -> str:
    """Twenty seconds at 15 fps of an object that comes and goes every 4 frames: about 5 events a second
    (with ``--reference previous --min-frames 1 --cooldown 0.1``)."""
    d = tmp_path_factory.mktemp("busy")
    return write_clip(d / "busy.mp4", scene(300, present=lambda i: (i // 4) % 2 == 1))


BUSY = ["--reference", "previous", "--min-frames", "1", "--cooldown", "0.1", "--realtime"]


def test_exec_with_stuck_hooks_is_bounded_and_shuts_down_fast(busy_clip: str, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    hook = tmp_path / "hook.py"
    hook.write_text(STUCK_HOOK)
    cmd = [
        sys.executable,
        "-m",
        "framediff",
        "watch",
        busy_clip,
        *BUSY,
        "--events",
        str(tmp_path / "ev.jsonl"),
    ]
    cmd += ["--exec", f"{sys.executable} {hook} {log}", "--exec-timeout", "1"]
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as err_file:
        proc = subprocess.Popen(cmd, stderr=err_file, text=True)
    most = 0
    seen: set[int] = set()
    try:
        # Until the queue has overflowed (events come at ~5 a second, stuck hooks leave at 2 a second:
        # about 5 s), and one second more.
        end = time.monotonic() + 30.0
        while time.monotonic() < end and proc.poll() is None:
            running = _children(proc.pid)
            seen |= running
            most = max(most, len(running))
            if "dropping the oldest" in errors.read_text():
                end = min(end, time.monotonic() + 1.0)
            time.sleep(0.02)
        assert proc.poll() is None, "the watch ended before it was stopped: " + errors.read_text()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        shutdown = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = errors.read_text()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    events = [json.loads(line) for line in (tmp_path / "ev.jsonl").read_text().splitlines()]
    assert len(events) >= 15  # the scene kept changing: far more events than hooks may run
    assert 1 <= most <= 4, f"{most} hooks at once"
    # The 1 s timeout stopped stuck hooks (SIGTERM ignored, so SIGKILL a second later) and freed their
    # slots for new ones.
    assert len(seen) > 4
    assert "ran longer than 1 s and was stopped" in err
    # Events came faster than the hooks could take them: dropped, with one warning for the one burst.
    assert err.count("dropping the oldest") == 1, err
    assert "events not run" in err
    # All together: 3 s for the last hooks at most, then a second between SIGTERM and SIGKILL.
    assert shutdown < 7.0, f"shutdown took {shutdown:.1f} s"
    print(f"at most {most} hooks at once, {len(seen)} in all; shutdown {shutdown:.2f} s")
    pids = _logged_pids(log)
    assert len(pids) >= 2 * 5  # each hook and its child
    assert not _all_gone(pids), "hooks or their children outlived the watch"


def test_command_runner_warns_once_per_burst_and_closes_in_parallel(capsys) -> None:
    runner = CommandRunner("sleep 1000", timeout=0.5, max_running=1, max_queue=1)
    try:
        for burst in range(2):
            for i in range(5):
                runner.run({"event": "change_start", "id": burst * 10 + i})
            assert runner.running <= 1
            # The queue drains as the timeout frees the one slot: the burst is over.
            end = time.monotonic() + 10
            while runner.waiting and time.monotonic() < end:
                time.sleep(0.05)
            assert not runner.waiting
        assert runner.dropped >= 6
        err = capsys.readouterr().err
        assert err.count("dropping the oldest") == 2, err
    finally:
        runner.close(timeout=0.5)


def test_command_runner_closes_stuck_hooks_together(tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    hook = tmp_path / "hook.py"
    hook.write_text(STUCK_HOOK)
    runner = CommandRunner(f"{sys.executable} {hook} {log}", timeout=60, max_running=4)
    for i in range(4):
        runner.run({"event": "change_start", "id": i})
    end = time.monotonic() + 10
    while len(_logged_pids(log)) < 8 and time.monotonic() < end:
        time.sleep(0.02)
    pids = _logged_pids(log)
    assert len(pids) == 8 and runner.running == 4
    # Four hooks that ignore SIGTERM: 1 s of grace for all, SIGTERM, and SIGKILL a second later, all
    # together (one after another, that would be 8 s).
    t0 = time.monotonic()
    runner.close(timeout=1.0)
    took = time.monotonic() - t0
    assert took < 3.5, f"close took {took:.1f} s"
    assert not _all_gone(pids, wait=1.0)
    assert runner.stopped == 4


def test_exec_timeout_stops_the_hook_and_its_children(tmp_path: Path, capsys) -> None:
    log = tmp_path / "hooks.log"
    hook = tmp_path / "hook.py"
    hook.write_text(STUCK_HOOK)
    runner = CommandRunner(f"{sys.executable} {hook} {log}", timeout=0.5)
    try:
        runner.run({"event": "change_start", "id": 1})
        end = time.monotonic() + 10
        while len(_logged_pids(log)) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        pids = _logged_pids(log)
        assert len(pids) == 2
        # 0.5 s, then SIGTERM (ignored), then SIGKILL to the whole group a second later.
        assert not _all_gone(pids, wait=4.0)
        assert runner.stopped == 1 and runner.running == 0
        assert "ran longer than 0.5 s" in capsys.readouterr().err
    finally:
        runner.close(timeout=0.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exec", ""], "--exec needs a command"),
        (["--exec", "   "], "--exec needs a command"),
        (["--exec", "sleep 1", "--exec-timeout", "0"], "--exec-timeout"),
        (["--exec", "sleep 1", "--exec-timeout", "soon"], "--exec-timeout"),
    ],
)
def test_bad_exec_options_are_one_error_line(busy_clip: str, capsys, args: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as e:
        main(["watch", busy_clip, "--max-frames", "2", *args])
    err = capsys.readouterr().err
    assert e.value.code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], err


def test_closed_stdout_ends_the_watch_quietly(busy_clip: str) -> None:
    # `framediff watch ... --events - | head -1`, with a real pipe and a real head.
    watch = subprocess.Popen(
        [sys.executable, "-m", "framediff", "watch", busy_clip, *BUSY, "--events", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    head = subprocess.Popen(["head", "-1"], stdin=watch.stdout, stdout=subprocess.PIPE)
    assert watch.stdout is not None
    watch.stdout.close()  # head holds the only read end: when it exits, the pipe is closed
    try:
        line, _ = head.communicate(timeout=30)
        t0 = time.monotonic()
        watch.wait(timeout=30)
        after = time.monotonic() - t0
    finally:
        for p in (watch, head):
            if p.poll() is None:
                p.kill()
                p.wait()
    err = watch.stderr.read().decode() if watch.stderr else ""
    assert json.loads(line)["event"] == "change_start"
    assert watch.returncode == 0, err
    assert "Error" not in err and "Traceback" not in err and "Exception" not in err
    # It ended there and then, not at the end of the clip, 10 s of real time later.
    assert after < 3.0, f"the watch went on for {after:.1f} s"
