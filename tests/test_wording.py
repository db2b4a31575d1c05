"""Counts in the commands' closing lines take the singular for one (``1 change``, ``1 frame``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2

from framediff.text import plural

ROOT = Path(__file__).resolve().parents[1]


def test_plural() -> None:
    assert [plural(n, "frame") for n in (0, 1, 2)] == ["0 frames", "1 frame", "2 frames"]
    assert plural(1, "box", "boxes") == "1 box" and plural(3, "box", "boxes") == "3 boxes"


def test_watch_says_1_change(tmp_path: Path) -> None:
    """samples/camera.mp4: one object enters, one change."""
    done = subprocess.run(
        [sys.executable, "-m", "framediff", "watch", str(ROOT / "samples" / "camera.mp4")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "watched 90 frames, 1 change"


def test_dedup_of_one_image_says_1_image(tmp_path: Path) -> None:
    one = tmp_path / "one.png"
    cv2.imwrite(str(one), cv2.imread(str(ROOT / "samples" / "shelf_a.jpg")))
    done = subprocess.run(
        [sys.executable, "-m", "framediff", "dedup", str(one), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("kept 1 of 1 image, dropped 0 (0.0%); threshold ")


def test_library_messages_name_settings_as_the_library_does(tmp_path: Path) -> None:
    """A Python user is told about ``record``, ``pre`` and ``max_clip``, not about command-line flags
    (issue 20); a caller with other names for them (the CLI: ``--record``) passes them as labels."""
    import pytest

    from framediff.errors import OptionError
    from framediff.watch.mqtt import MqttTarget
    from framediff.watch.outputs import WatchOutputs
    from framediff.watch.record import EventClips, Recorder
    from framediff.watch.sinks import CommandRunner, WebhookPoster

    cases = [
        (lambda: Recorder(tmp_path / "boxes.gif"), "record boxes.gif: cannot write a video of that type"),
        (lambda: EventClips(tmp_path / "clips", pre=-1), "pre -1 is out of range"),
        (lambda: EventClips(tmp_path / "clips", max_length=0), "max_length 0 is out of range"),
        (lambda: WatchOutputs(pre=3).check(), "pre, post and max_clip shape the clips of clips"),
        (lambda: WatchOutputs(exec="").check(), "exec needs a command"),
        (lambda: CommandRunner("no-such-program-here"), "exec command 'no-such-program-here' not found"),
        (lambda: WebhookPoster.check_url("ftp://host/x"), "webhook 'ftp://host/x' is not an http"),
        (lambda: MqttTarget.parse("http://host"), "mqtt 'http://host' is not an mqtt://"),
    ]
    for make, message in cases:
        with pytest.raises(OptionError) as info:
            make()
        assert info.value.message.startswith(message), info.value.message
        assert "--" not in str(info.value), str(info.value)
    flags = {"pre": "--pre", "post": "--post", "max_clip": "--max-clip", "clips": "--clips"}
    with pytest.raises(OptionError, match="^--pre, --post and --max-clip shape the clips of --clips"):
        WatchOutputs(post=1, labels=flags).check()
    with pytest.raises(OptionError, match="^--record boxes.gif"):
        Recorder(tmp_path / "boxes.gif", label="--record")
    assert not (tmp_path / "clips").exists()  # refused before anything was made
