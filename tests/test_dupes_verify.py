"""Verification of candidate pairs on real pictures: what a copy is called (a global change of blur or
colour is no edit; a caption or a pasted patch is), and which candidates reach verification at all."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from framediff import find_duplicates
from framediff.collection.fingerprint import fingerprint_file
from framediff.collection.verify import verify

from .conftest import photo_bgr


def _write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix == ".jpg" else [])
    return path


def _recoloured(image: np.ndarray, contrast: float, brightness: float, gamma: float, saturation: float) -> np.ndarray:
    """Contrast, brightness and gamma on every channel, then saturation scaled in HSV (as photo editors do)."""
    f = np.clip((image.astype(np.float32) / 255 - 0.5) * contrast + 0.5 + brightness, 0, 1) ** gamma
    hsv = cv2.cvtColor((f * 255).astype(np.uint8), cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)


def _rotated(image: np.ndarray, degrees: float) -> np.ndarray:
    """Turned about its centre and cut to the largest upright rectangle inside."""
    h, w = image.shape[:2]
    r = cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h))
    k = 1 / (np.cos(np.radians(abs(degrees))) + np.sin(np.radians(abs(degrees))) * max(w, h) / min(w, h))
    cw, ch = int(w * k), int(h * k)
    return r[(h - ch) // 2 : (h + ch) // 2, (w - cw) // 2 : (w + cw) // 2].copy()


# Copies that compare marks as changed where the picture is sharpest or most colourful (measured: each was
# called "edited" before verification tested for a global change).
GLOBAL = [
    ("astronaut", "blurred", lambda a: cv2.GaussianBlur(a, (0, 0), 3.2), "recompressed"),
    ("coffee", "blurred", lambda a: cv2.GaussianBlur(a, (0, 0), 3.2), "recompressed"),
    ("chelsea", "blurred", lambda a: cv2.GaussianBlur(a, (0, 0), 3.2), "recompressed"),
    ("astronaut", "saturated", lambda a: _recoloured(a, 1.0, 0.0, 1.0, 1.45), "recoloured"),
    ("rocket", "saturated", lambda a: _recoloured(a, 1.0, 0.0, 1.0, 1.45), "recoloured"),
    ("chelsea", "toned", lambda a: _recoloured(a, 1.3, 0.1, 0.75, 0.6), "recoloured"),
    ("rocket", "toned", lambda a: _recoloured(a, 1.3, 0.1, 0.75, 0.6), "recoloured"),
    ("coffee", "faded", lambda a: _recoloured(a, 0.75, -0.1, 1.3, 1.4), "recoloured"),
]


@pytest.mark.parametrize(("photo", "kind", "make", "relation"), GLOBAL, ids=[f"{p}-{k}" for p, k, _, _ in GLOBAL])
def test_a_blur_or_a_recolouring_of_the_whole_picture_is_no_edit(tmp_path, photo, kind, make, relation) -> None:
    original = photo_bgr(photo)
    a = fingerprint_file(_write(tmp_path / f"{photo}.png", original))[0]
    b = fingerprint_file(_write(tmp_path / f"{photo}-{kind}.png", make(original)))[0]
    v = verify(a, b)
    assert v.relation == relation, (v.relation, v.changed, v.regions)
    assert v.regions == [] and v.changed == 0.0


def _captioned(image: np.ndarray) -> np.ndarray:
    out = image.copy()
    h, w = out.shape[:2]
    for text, y, colour in (("summer 2026", h // 3, (0, 220, 255)), ("best photo", h - h // 8, (255, 255, 255))):
        cv2.putText(out, text, (w // 12, y), cv2.FONT_HERSHEY_DUPLEX, w / 700, (0, 0, 0), max(2, w // 200), cv2.LINE_AA)
        cv2.putText(out, text, (w // 12, y), cv2.FONT_HERSHEY_DUPLEX, w / 700, colour, max(1, w // 400), cv2.LINE_AA)
    return out


def _patched(image: np.ndarray, other: np.ndarray) -> np.ndarray:
    """A region of another photo (6% of the area) pasted over the picture."""
    out = image.copy()
    h, w = out.shape[:2]
    pw, ph = int(w * 0.25), int(h * 0.24)
    out[h // 5 : h // 5 + ph, w // 2 : w // 2 + pw] = cv2.resize(other, (pw, ph), interpolation=cv2.INTER_AREA)
    return out


@pytest.mark.parametrize("photo", ["astronaut", "coffee", "chelsea", "rocket"])
def test_captions_and_pasted_patches_stay_edits(tmp_path, photo) -> None:
    original = photo_bgr(photo)
    a = fingerprint_file(_write(tmp_path / f"{photo}.png", original))[0]
    for kind, image in (("caption", _captioned(original)), ("patch", _patched(original, photo_bgr("hubble_deep_field")))):
        for suffix in (".png", ".jpg"):
            v = verify(a, fingerprint_file(_write(tmp_path / f"{photo}-{kind}{suffix}", image))[0])
            assert v.relation == "edited" and v.regions, (kind, suffix, v)


def test_a_tilted_copy_with_many_feature_votes_is_verified_without_geometric_support(tmp_path) -> None:
    """A brick wall tilted by 7 degrees keeps dozens of keypoint matches, but its repeating texture defeats
    the support test's single affine fit; its hash lies far from the original's. It is grouped all the same."""
    brick = photo_bgr("brick")
    lib = tmp_path / "lib"
    _write(lib / "brick.jpg", brick)
    _write(lib / "brick-tilted.jpg", _rotated(brick, 7))
    for name in ("coins", "gravel", "grass", "rocket", "moon"):
        _write(lib / f"{name}.jpg", photo_bgr(name))
    report = find_duplicates([lib], db=tmp_path / "index.sqlite")
    groups = {os.path.basename(g.keep.path): {os.path.basename(m.file.path): m.relation for m in g.duplicates} for g in report.groups}
    assert groups == {"brick.jpg": {"brick-tilted.jpg": "rotated"}}, groups


def test_side_by_side_figures_that_share_one_panel_are_two_views(tmp_path) -> None:
    """Figures of two photos side by side, one photo in common (a tutorial's before / after panels): each
    shows a whole photo the other lacks, so neither is a crop of the other (both were called cropped)."""
    panels = {n: cv2.resize(photo_bgr(n), (400, 300), interpolation=cv2.INTER_AREA) for n in ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins")}
    for x, y, z in (("astronaut", "coffee", "chelsea"), ("rocket", "camera", "coins")):
        a = fingerprint_file(_write(tmp_path / f"{x}-{y}.png", np.hstack([panels[x], panels[y]])))[0]
        b = fingerprint_file(_write(tmp_path / f"{y}-{z}.png", np.hstack([panels[y], panels[z]])))[0]
        assert verify(a, b).relation == "similar" and verify(b, a).relation == "similar"
    # A crop of a photo is still a crop of it.
    whole = np.hstack([panels["astronaut"], panels["coffee"]])
    a = fingerprint_file(_write(tmp_path / "whole.png", whole))[0]
    b = fingerprint_file(_write(tmp_path / "part.png", whole[20:280, 150:650]))[0]
    assert verify(a, b).relation == "cropped"


def _blobs(w: int, h: int, seed: int) -> np.ndarray:
    """A smooth picture (a plain wallpaper): a few wide soft blobs of colour on one ground."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.zeros((h, w, 3), np.float32) + np.array([120, 90, 40], np.float32)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.2, 0.5) * max(w, h)
        image += rng.uniform(-40, 40, 3) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", [107, 115, 116, 118])
def test_a_smooth_picture_is_no_copy_of_another_stretched_onto_it(tmp_path, seed) -> None:
    """Two different smooth pictures, one landscape, one portrait: compare can lay one over the whole of
    the other, stretched by 1.8, and find their soft shapes alike (each was called resized)."""
    a = fingerprint_file(_write(tmp_path / "wide.jpg", _blobs(640, 480, seed)))[0]
    b = fingerprint_file(_write(tmp_path / "tall.jpg", _blobs(480, 640, 100 + seed)))[0]
    assert verify(a, b).relation == "different"


@pytest.mark.parametrize("seed", [0, 1, 8, 9])
def test_a_smooth_picture_is_no_quarter_turn_of_another(tmp_path, seed) -> None:
    """compare can fit one smooth picture onto another turned by a quarter turn (each was called rotated
    or mirrored); their hashes lie far apart in every dihedral form, as no turned copy's do."""
    a = fingerprint_file(_write(tmp_path / "wide.jpg", _blobs(640, 480, seed)))[0]
    b = fingerprint_file(_write(tmp_path / "tall.jpg", _blobs(480, 640, 100 + seed)))[0]
    assert verify(a, b).relation == "different"
    # Its own quarter turn is still a turned copy.
    turned = fingerprint_file(_write(tmp_path / "turned.jpg", np.ascontiguousarray(np.rot90(_blobs(640, 480, seed)))))[0]
    assert verify(a, turned).relation == "rotated"
