"""Counts in the commands' closing lines take the singular for one (``1 change``, ``1 frame``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2

from framediff.text import plural

from .conftest import run_framediff

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
    done = run_framediff("dedup", str(one), "--dry-run")
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


def test_dedup_media_and_dupes_messages_name_the_setting_and_the_command_line_its_flag(tmp_path: Path) -> None:
    """dedup, the encoder, the pixel limit, zones and dupes actions: the library's message names the
    setting (``output``, ``timing``, ``max_pixels``, ``action``); the command line's names its flag."""
    import pytest
    from click.testing import CliRunner

    import framediff.cli.dupes_cmd  # noqa: F401 - registers the commands whose flags in_flags knows
    import framediff.cli.watch_cmd  # noqa: F401
    from framediff.cli.app import cli, in_flags
    from framediff.collection.actions import parse_action
    from framediff.dedup import dedup_video
    from framediff.errors import FramediffError
    from framediff.media.images import read_image, set_max_pixels
    from framediff.watch.detector import parse_zone

    clip = ROOT / "samples" / "clip.mp4"
    with pytest.raises(FramediffError) as info:
        dedup_video(clip)
    assert str(info.value) == "no output given (give output, or dry_run to analyse only)"
    run = CliRunner().invoke(cli, ["dedup", str(clip)])
    assert str(run.exception) == "no output given (give -o, or --dry-run to analyse only)"

    result = dedup_video(clip, tmp_path / "a.mp4", timing="compact")
    assert any(w.startswith("audio dropped: timing compact shortens") for w in result.warnings), result.warnings
    run = CliRunner().invoke(cli, ["dedup", str(clip), "-o", str(tmp_path / "b.mp4"), "--timing", "compact"])
    assert run.exit_code == 0 and "Warning: audio dropped: --timing compact shortens" in run.stderr, run.stderr

    set_max_pixels(1000)
    try:
        with pytest.raises(FramediffError) as info:
            read_image(ROOT / "samples" / "shelf_a.jpg")
    finally:
        set_max_pixels(None)
    assert info.value.hint == "if you trust the file, raise the limit with max_pixels or FRAMEDIFF_MAX_PIXELS"
    assert in_flags(info.value, []).endswith("(if you trust the file, raise the limit with --max-pixels or FRAMEDIFF_MAX_PIXELS)")

    for make, library, command_line in [
        (lambda: parse_zone("door"), "(e.g. zone door=10,20,200,300)", "(e.g. --zone door=10,20,200,300)"),
        (lambda: parse_action("move"), "(e.g. action move:~/duplicates)", "(e.g. --action move:~/duplicates)"),
        (lambda: parse_action("trash:x"), "(use action trash)", "(use --action trash)"),
    ]:
        with pytest.raises(FramediffError) as info:
            make()
        assert str(info.value).endswith(library) and "--" not in str(info.value), str(info.value)
        assert in_flags(info.value, []).endswith(command_line), in_flags(info.value, [])
