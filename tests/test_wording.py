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
