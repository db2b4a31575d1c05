"""compare's verdict: identical, same, changed or different pictures, and what B is relative to A.

Real photos (scikit-image's bundled ones and this repo's samples) and copies of them made here: the cases a
user meets (two unrelated photos, a photo against a blank one, a re-saved copy, a mirrored or turned or
cropped copy, a fixed camera whose scene moved, a logo saved without its transparency).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from framediff import compare

from .conftest import PHOTO_NAMES, photo_bgr
from .test_compare import SAMPLES, iou, run_cli


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


@pytest.mark.parametrize(("name_a", "name_b"), list(itertools.combinations(PHOTO_NAMES, 2)))
def test_unrelated_photos_are_different_pictures(name_a: str, name_b: str) -> None:
    a, b = photo_bgr(name_a), photo_bgr(name_b)
    for other in (b, cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)):
        r = compare(a, other)
        assert r.relation == "different", r.summary()
        assert not r.identical and r.regions == [] and r.changed_fraction >= 0.5
        assert r.to_dict()["relation"] == "different" and r.transform() is None


def test_a_photo_against_a_blank_picture_is_different() -> None:
    a = photo_bgr("astronaut")
    for blank in (np.full_like(a, 128), np.zeros_like(a), np.full((300, 400, 3), 200, np.uint8)):
        assert compare(a, blank).relation == "different"
        assert compare(blank, a).relation == "different"
    grey = np.full((300, 400, 3), 128, np.uint8)
    assert compare(grey, grey.copy()).relation == "identical"


def test_cli_says_different_pictures_and_exits_1_for_the_unrelated_samples() -> None:
    p = run_cli("compare", str(SAMPLES / "shelf_a.jpg"), str(SAMPLES / "same_a.png"))
    assert p.returncode == 1 and p.stdout.startswith("shelf_a.jpg vs same_a.png: different pictures"), p.stdout
    d = json.loads(run_cli("compare", str(SAMPLES / "shelf_a.jpg"), str(SAMPLES / "same_a.png"), "--json").stdout)
    assert d["relation"] == "different" and d["regions"] == [] and d["changed_fraction"] >= 0.5


def test_cli_exit_status_follows_the_relation(tmp_path: Path) -> None:
    a = photo_bgr("coffee")
    cv2.imwrite(str(tmp_path / "a.png"), a)
    cv2.imwrite(str(tmp_path / "copy.png"), a)
    cv2.imwrite(str(tmp_path / "resaved.jpg"), a, [cv2.IMWRITE_JPEG_QUALITY, 70])
    edited = a.copy()
    cv2.circle(edited, (300, 200), 30, (0, 0, 255), -1)
    cv2.imwrite(str(tmp_path / "edited.png"), edited)
    expected = {"copy.png": (0, "identical"), "resaved.jpg": (0, "same"), "edited.png": (1, "changed")}
    for name, (code, relation) in expected.items():
        p = run_cli("compare", str(tmp_path / "a.png"), str(tmp_path / name), "--json")
        assert p.returncode == code and json.loads(p.stdout)["relation"] == relation, (name, p.stdout)


@pytest.mark.parametrize("name", PHOTO_NAMES)
def test_the_same_photo_after_jpeg_light_noise_and_a_shift_is_same(name: str, rng: np.random.Generator) -> None:
    a = photo_bgr(name)
    h, w = a.shape[:2]
    for dx, dy, gain, sigma, quality in ((2, -1, 1.12, 2.5, 55), (-1, 2, 0.88, 1.5, 85), (1, 1, 1.0, 3.0, 70)):
        b = cv2.warpAffine(a, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), borderMode=cv2.BORDER_REFLECT)
        b = np.clip(b.astype(np.float32) * gain + rng.normal(0, sigma, b.shape), 0, 255).astype(np.uint8)
        r = compare(a, jpeg(b, quality))
        assert r.relation == "same", r.summary()
        assert abs(r.alignment.shift[0] - dx) < 0.5 and abs(r.alignment.shift[1] - dy) < 0.5


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_mirrored_and_turned_copies_are_the_same_picture_and_say_how(name: str) -> None:
    a = photo_bgr(name)
    r = compare(a, cv2.flip(a, 1))
    assert r.relation == "same" and r.transform()["mirrored"] is True and r.transform()["rotation"] == 0
    for k, degrees in ((1, 90), (2, 180), (3, -90)):  # np.rot90 turns counter-clockwise
        t = compare(a, np.ascontiguousarray(np.rot90(a, k)))
        assert t.relation == "same" and t.transform()["rotation"] == degrees and not t.transform()["mirrored"]
    turned_mirror = compare(a, np.ascontiguousarray(np.rot90(cv2.flip(a, 1), 1)))
    assert turned_mirror.relation == "same" and turned_mirror.transform()["mirrored"] is True
    words = turned_mirror.summary()
    assert "mirrored" in words and "turned" in words, words


def test_a_crop_says_where_it_lies_and_a_resize_by_how_much() -> None:
    a = photo_bgr("astronaut")
    crop = a[50:350, 100:500].copy()
    t = compare(a, jpeg(crop, 85)).transform()
    assert t["crop"]["b_in_a"] == pytest.approx([100, 50, 400, 300], abs=2) and t["scale"] == pytest.approx(1, abs=0.01)
    t = compare(crop, a).transform()
    assert t["crop"]["a_in_b"] == pytest.approx([100, 50, 400, 300], abs=2)
    half = compare(a, cv2.resize(a, (256, 256), interpolation=cv2.INTER_AREA))
    assert half.relation == "same" and half.transform()["scale"] == pytest.approx(0.5, abs=0.01)
    assert half.transform()["crop"] is None
    # A mirrored crop: found although features are not mirror-invariant.
    m = compare(a, cv2.flip(crop, 1))
    assert m.relation == "same" and m.transform()["mirrored"] and m.transform()["crop"]["b_in_a"] == pytest.approx(
        [100, 50, 400, 300], abs=2
    )


def test_a_smooth_picture_at_another_size_is_a_resize_and_a_part_of_it_a_crop() -> None:
    # A part of a gradient stretched in tone fits as well as the whole: the whole picture is the answer.
    ramp = np.tile(np.linspace(0, 255, 300).astype(np.uint8), (300, 1))
    a = cv2.cvtColor(ramp, cv2.COLOR_GRAY2BGR)
    for side in (166, 120, 210):
        r = compare(a, cv2.resize(a, (side, side), interpolation=cv2.INTER_AREA))
        t = r.transform()
        assert r.relation == "same" and t["crop"] is None, (side, t)
        assert t["scale"] == pytest.approx(side / 300, rel=0.02) and not t["light"]
    # And a part of it, in its own light, is still a crop.
    t = compare(a, a[50:250, 50:250]).transform()
    assert t["crop"]["b_in_a"][0] == pytest.approx(50, abs=2) and t["scale"] == pytest.approx(1, abs=0.01)
    assert not t["light"]


def test_a_squeezed_copy_is_the_same_picture() -> None:
    a = photo_bgr("chelsea")
    r = compare(a, cv2.resize(a, (int(a.shape[1] * 0.8), a.shape[0]), interpolation=cv2.INTER_AREA))
    assert r.relation == "same" and r.transform()["aspect"] == pytest.approx(0.8, abs=0.02)


def test_light_colour_and_grey_are_reported() -> None:
    a = photo_bgr("coffee")
    grey = cv2.cvtColor(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    t = compare(a, grey).transform()
    assert t["grey"] is True
    darker = compare(a, cv2.convertScaleAbs(a, alpha=0.8, beta=0)).transform()
    assert darker["light"] is True and darker["grey"] is False


def test_a_transparent_logo_is_the_same_as_its_jpeg_whichever_background_it_got() -> None:
    logo = np.zeros((300, 400, 4), np.uint8)  # transparent black, as PNG logos are stored
    rings = (((110, 110), (40, 40, 230)), ((290, 110), (60, 200, 60)), ((200, 200), (230, 120, 30)))
    for (x, y), colour in rings:
        cv2.circle(logo, (x, y), 70, (*colour, 255), -1)
        cv2.circle(logo, (x, y), 30, (0, 0, 0, 0), -1)
    alpha = logo[..., 3:4] / 255.0
    on_white = (logo[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    for flattened in (logo[..., :3].copy(), on_white):  # alpha dropped, or composited over white
        r = compare(logo, jpeg(flattened, 80))
        assert r.relation in ("same", "identical"), r.summary()
        assert compare(jpeg(flattened, 80), logo).relation in ("same", "identical")


def test_a_fixed_camera_stays_put_when_a_large_object_moves() -> None:
    scene = photo_bgr("astronaut")
    thing = photo_bgr("coffee")[100:300, 150:350]  # 200 x 200: a large object with features of its own
    a, b = scene.copy(), scene.copy()
    a[250:450, 40:240] = thing
    b[230:430, 280:480] = thing
    r = compare(a, jpeg(b, 90))
    assert r.alignment.method == "none" and r.relation == "changed", r.summary()
    boxes = [reg.box for reg in r.regions]
    for truth in ((40, 250, 200, 200), (280, 230, 200, 200)):
        assert any(iou(box, truth) >= 0.5 for box in boxes), boxes


def test_a_few_changed_pixels_of_a_lossless_pair_are_found() -> None:
    a = photo_bgr("astronaut")
    b = a.copy()
    b[200:204, 300:304] = np.clip(b[200:204, 300:304].astype(int) + 60, 0, 255)
    r = compare(a, b)
    assert r.relation == "changed" and len(r.regions) == 1
    x, y, w, h = r.regions[0].box
    assert x <= 300 and y <= 200 and x + w >= 304 and y + h >= 204 and w * h <= 100


def test_split_auto_does_not_report_the_gutter() -> None:
    a = photo_bgr("astronaut")
    b = a.copy()
    cv2.circle(b, (300, 300), 20, (0, 0, 255), -1)
    both = np.hstack([a, np.full((a.shape[0], 30, 3), 255, np.uint8), b])
    r = compare(both, None, split="auto")
    assert r.relation == "changed" and len(r.regions) == 1
    assert iou(r.regions[0].box, (280, 280, 41, 41)) >= 0.5


def test_cli_errors_name_the_flags() -> None:
    p = run_cli("compare", str(SAMPLES / "shelf_a.jpg"))
    assert p.returncode == 2 and "--split auto" in p.stderr and "split=auto" not in p.stderr, p.stderr
    p = run_cli("compare", str(SAMPLES / "shelf_a.jpg"), str(SAMPLES / "shelf_b.jpg"), "--align", "sideways")
    assert p.returncode == 2 and p.stderr.startswith("Error: --align must be one of auto, off"), p.stderr
    p = run_cli("compare", str(SAMPLES / "shelf_a.jpg"), str(SAMPLES / "shelf_b.jpg"), "--split", "auto")
    assert p.returncode == 2 and "--split" in p.stderr and "two were given" in p.stderr, p.stderr
