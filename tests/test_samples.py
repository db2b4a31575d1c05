"""The files in samples/ are what truth.json says they are (so README examples and tests can rely on them)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from framediff.analysis.prepare import to_gray
from framediff.sources import open_source, read_image

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
TRUTH = json.loads((SAMPLES / "truth.json").read_text()) if (SAMPLES / "truth.json").exists() else None
pytestmark = pytest.mark.skipif(TRUTH is None, reason="samples/ not generated")


def test_samples_are_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLES.iterdir() if p.is_file() and p.suffix != ".py")
    assert total < 2 * 1024 * 1024


def test_shelf_changes_are_where_truth_says() -> None:
    shelf = TRUTH["shelf"]
    a = read_image(SAMPLES / shelf["a"])
    b = read_image(SAMPLES / shelf["b"])
    assert a.shape == b.shape == (shelf["size"][1], shelf["size"][0], 3)
    # Undo the known camera move and exposure, then the only big differences are the three changes.
    inverse = cv2.invertAffineTransform(np.array(shelf["b_from_a"]["affine"]))
    h, w = a.shape[:2]
    back = cv2.warpAffine(b, inverse, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    back = cv2.convertScaleAbs(back.astype(np.float32) - shelf["b_from_a"]["offset"], alpha=1.0)
    back = cv2.convertScaleAbs(back, alpha=1.0 / shelf["b_from_a"]["gain"])
    diff = cv2.GaussianBlur(cv2.absdiff(a, back).max(axis=2), (0, 0), 2.0)
    inside = np.zeros((h, w), bool)
    for change in shelf["changes"]:
        x, y, bw, bh = change["box_a"]
        assert diff[y : y + bh, x : x + bw].max() > 60, change["kind"]
        inside[max(0, y - 6) : y + bh + 6, max(0, x - 6) : x + bw + 6] = True
    inside[:8] = inside[-8:] = True  # the border was reflected, not photographed
    inside[:, :8] = inside[:, -8:] = True
    assert np.percentile(diff[~inside], 99.9) < 25


def test_same_pair_differs_only_in_exposure() -> None:
    same = TRUTH["same"]
    a = to_gray(read_image(SAMPLES / same["a"])).astype(np.float32)
    b = to_gray(read_image(SAMPLES / same["b"])).astype(np.float32)
    expected = np.clip(a * same["b_from_a"]["gain"] + same["b_from_a"]["offset"], 0, 255)
    assert np.abs(b - expected).mean() < 3


def test_clip_has_held_frames_a_fade_and_audio() -> None:
    clip = TRUTH["clip"]
    with av.open(str(SAMPLES / clip["file"])) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        assert c.streams.audio[0].codec_context.name == "aac"
    with open_source(SAMPLES / clip["file"], gray=True) as src:
        frames = list(src)
    assert len(frames) == clip["frames"]
    assert (frames[0].image.shape[1], frames[0].image.shape[0]) == tuple(clip["size"])
    assert [f.time for f in frames] == pytest.approx([i / clip["fps"] for i in range(clip["frames"])])
    held = set(clip["held_frames"])
    fade0, fade1 = clip["fade_frames"]
    for i in range(1, len(frames)):
        step = np.abs(frames[i].image.astype(int) - frames[i - 1].image).mean()
        if i in held:
            assert step < 0.5, i
        elif not fade0 <= i <= fade1:
            assert step > 2.0, i
    brightness = [float(frames[i].image.mean()) for i in range(fade0 - 1, fade1 + 1)]
    assert all(x > y for x, y in zip(brightness, brightness[1:], strict=False))


def test_camera_object_enters_when_truth_says() -> None:
    cam = TRUTH["camera"]
    obj = cam["object"]
    with open_source(SAMPLES / cam["file"], gray=True) as src:
        frames = [f.image.astype(np.float32) for f in src]
    assert len(frames) == cam["frames"]
    background = np.mean(frames[:10], axis=0)
    x, y, w, h = obj["final_box"]
    first = obj["first_visible_frame"]
    for i, frame in enumerate(frames):
        box = obj["boxes"].get(str(i))
        if box is None:
            assert np.abs(frame - background).max() < 40, i  # only noise
        else:
            bx, by, bw, bh = box
            assert np.abs(frame - background)[by : by + bh, bx : bx + bw].max() > 40, i
    assert first == min(int(k) for k in obj["boxes"])
    assert np.abs(frames[-1] - background)[y : y + h, x : x + w].mean() > 20
