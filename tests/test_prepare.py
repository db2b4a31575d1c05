"""Preparation stage: grey conversion of every supported layout and depth, analysis size, blur, photometry."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.color
import skimage.data

from framediff.analysis.measure import absdiff
from framediff.analysis.prepare import (
    analysis_scale,
    blur,
    resize_to,
    to_bgr8,
    to_gray,
    to_uint8,
    tone_lut,
    tone_luts,
)
from framediff.analysis.regions import Region, find_regions, threshold_map
from framediff.errors import InputError


def _luma_reference(bgr: np.ndarray) -> np.ndarray:
    """Rec. 601 luma computed by scikit-image (an independent implementation), in 0..255."""
    rgb = bgr[..., ::-1].astype(np.float64) / 255.0
    return skimage.color.rgb2gray(rgb) * 255.0


def test_gray_from_bgr_matches_rec601_luma(astronaut: np.ndarray) -> None:
    g = to_gray(astronaut)
    assert g.shape == astronaut.shape[:2] and g.dtype == np.uint8
    # The Y of OpenCV's YCrCb is Rec. 601 luma too (rounded its own way).
    ycc = cv2.cvtColor(astronaut, cv2.COLOR_BGR2YCrCb)[..., 0]
    assert np.abs(g.astype(int) - ycc).max() <= 1
    # scikit-image uses the Rec. 709 weights: they agree to a few grey levels on a real photo.
    assert np.abs(g - _luma_reference(astronaut)).mean() < 4.0


def test_gray_keeps_grey_input() -> None:
    cam = skimage.data.camera()
    assert np.array_equal(to_gray(cam), cam)
    assert np.array_equal(to_gray(cam[..., None]), cam)


def test_bgra_opaque_equals_bgr(coffee: np.ndarray) -> None:
    bgra = cv2.cvtColor(coffee, cv2.COLOR_BGR2BGRA)
    np.testing.assert_array_equal(to_gray(bgra), to_gray(coffee))
    np.testing.assert_array_equal(to_bgr8(bgra), coffee)


def test_alpha_is_composited_over_white(coffee: np.ndarray) -> None:
    bgra = cv2.cvtColor(coffee, cv2.COLOR_BGR2BGRA)
    bgra[:100, :, 3] = 0  # fully transparent band
    bgra[100:200, :, 3] = 128  # half transparent band
    g = to_gray(bgra).astype(float)
    full = to_gray(coffee).astype(float)
    assert (g[:100] == 255).all()
    expected = full[100:200] * (128 / 255) + 255 * (1 - 128 / 255)
    assert np.abs(g[100:200] - expected).max() <= 1.0
    np.testing.assert_array_equal(g[200:], full[200:])


def test_16bit_input_maps_to_same_grey(chelsea: np.ndarray) -> None:
    wide = chelsea.astype(np.uint16) * 257  # the exact 16-bit version of each 8-bit value
    np.testing.assert_array_equal(to_gray(wide), to_gray(chelsea))
    np.testing.assert_array_equal(to_bgr8(wide), chelsea)
    bgra16 = cv2.cvtColor(wide, cv2.COLOR_BGR2BGRA)
    bgra16[..., 3] = 65535
    np.testing.assert_array_equal(to_gray(bgra16), to_gray(chelsea))


def test_float_input_in_unit_range(chelsea: np.ndarray) -> None:
    unit = chelsea.astype(np.float32) / 255.0
    assert np.abs(to_gray(unit).astype(int) - to_gray(chelsea).astype(int)).max() <= 1
    assert np.abs(to_bgr8(unit).astype(int) - chelsea.astype(int)).max() <= 1


def test_float_out_of_range_is_clipped_not_mirrored() -> None:
    values = np.array([[-0.25, -0.01, 0.0, 0.5, 1.0, 1.5, np.nan]], np.float64)
    out = to_uint8(values)
    np.testing.assert_array_equal(out, [[0, 0, 0, 128, 255, 255, 0]])


def test_bool_and_wide_integer_input() -> None:
    mask = np.zeros((4, 4), bool)
    mask[1, 1] = True
    assert to_uint8(mask)[1, 1] == 255 and to_uint8(mask).sum() == 255
    assert to_uint8(np.array([[-5, 100, 300]], np.int32)).tolist() == [[0, 100, 255]]


@pytest.mark.parametrize(
    "bad",
    [np.zeros(10, np.uint8), np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 5), np.uint8), np.zeros((0, 5))],
)
def test_not_an_image_raises(bad: np.ndarray) -> None:
    with pytest.raises(InputError):
        to_gray(bad)
    with pytest.raises(InputError):
        to_bgr8(bad)


def test_non_array_and_unsupported_dtype_raise() -> None:
    with pytest.raises(InputError, match="numpy"):
        to_gray([[1, 2], [3, 4]])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="pixel type"):
        to_gray(np.ones((4, 4), np.complex64))


def test_to_bgr8_of_grey_repeats_the_plane() -> None:
    cam = skimage.data.camera()
    bgr = to_bgr8(cam)
    assert bgr.shape == cam.shape + (3,)
    for c in range(3):
        np.testing.assert_array_equal(bgr[..., c], cam)


def test_analysis_scale() -> None:
    assert analysis_scale(4000, 3000, 1024) == pytest.approx(1024 / 4000)
    assert analysis_scale(3000, 4000, 1000) == pytest.approx(0.25)
    assert analysis_scale(800, 600, 1024) == 1.0
    assert analysis_scale(4000, 3000, 0) == 1.0
    assert analysis_scale(4000, 3000, None) == 1.0


def test_resize_keeps_identity_and_shrinks() -> None:
    cam = skimage.data.camera()
    assert resize_to(cam, 1.0) is cam
    small = resize_to(cam, 0.25)
    assert small.shape == (128, 128)
    # Area averaging: the mean brightness survives the shrink.
    assert abs(float(small.mean()) - float(cam.mean())) < 0.5


def test_boxes_found_at_analysis_size_map_back_to_source(astronaut: np.ndarray) -> None:
    # A 2048 x 1536 "camera photo" with one change at a known place, analysed at 512 pixels.
    big = cv2.resize(astronaut, (2048, 1536), interpolation=cv2.INTER_CUBIC)
    changed = big.copy()
    truth = (1210, 403, 317, 155)  # x, y, w, h in source pixels
    x, y, w, h = truth
    # An object that differs from what it covers everywhere: dark where the photo is light and back.
    patch = big[y : y + h, x : x + w]
    light = to_gray(patch) > 127
    changed[y : y + h, x : x + w][light] = (30, 10, 20)
    changed[y : y + h, x : x + w][~light] = (230, 250, 240)
    scale = analysis_scale(2048, 1536, 512)
    a, b = (to_gray(resize_to(im, scale)) for im in (big, changed))
    assert a.shape == (384, 512)
    regions = find_regions(threshold_map(absdiff(a, b), 25))
    assert len(regions) == 1
    src = regions[0].scaled(1 / scale, limit=(2048, 1536))
    tol = 1 / scale + 1  # one analysis pixel
    assert abs(src.x - x) <= tol and abs(src.y - y) <= tol
    assert abs(src.x + src.w - (x + w)) <= tol and abs(src.y + src.h - (y + h)) <= tol
    # The box covers the whole change (grown outward, never cut).
    assert src.x <= x and src.y <= y and src.x + src.w >= x + w and src.y + src.h >= y + h
    assert src.area == pytest.approx(regions[0].area / scale**2, rel=0.01)


def test_region_scaled_clips_to_limit() -> None:
    r = Region(90, 40, 10, 10, 100, 0.5)
    s = r.scaled(2.0, limit=(190, 100))
    assert (s.x, s.y, s.x + s.w, s.y + s.h) == (180, 80, 190, 100)
    assert s.score == 0.5
    assert r.scaled(1.0) is r


def test_blur() -> None:
    cam = skimage.data.camera()
    assert blur(cam, 0) is cam
    soft = blur(cam, 2.0)
    assert soft.shape == cam.shape and soft.dtype == cam.dtype
    sharp_energy = cv2.Laplacian(cam, cv2.CV_64F).var()
    assert cv2.Laplacian(soft, cv2.CV_64F).var() < 0.2 * sharp_energy
    flat = np.full((50, 50), 77, np.uint8)
    np.testing.assert_array_equal(blur(flat, 3.0), flat)


def _expose(image: np.ndarray, gains: tuple[float, ...], offsets: tuple[float, ...]) -> np.ndarray:
    out = image.astype(np.float32) * np.array(gains, np.float32) + np.array(offsets, np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _tone_matched(source: np.ndarray, target: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Apply ``tone_lut`` channel by channel, as compare does (A given B's tones)."""
    planes = []
    luts = tone_luts(source, target, valid)
    for c in range(source.shape[2]):
        lut = tone_lut(source[..., c], target[..., c], valid)
        # The all-channel version reads the interleaved images directly and must fit the same tables.
        assert (lut is None and luts[c] is None) or np.array_equal(lut, luts[c])
        planes.append(cv2.LUT(source[..., c], lut) if lut is not None else source[..., c])
    return cv2.merge(planes)


def test_tone_lut_reproduces_gain_and_offset_per_channel(coffee: np.ndarray) -> None:
    # A white-balance and exposure change: different gain and offset in each channel, with clipping.
    exposed = _expose(coffee, (1.3, 0.9, 0.7), (20.0, 5.0, 30.0))
    before = np.abs(exposed.astype(np.float32) - coffee).mean()
    matched = _tone_matched(coffee, exposed)
    after = np.abs(matched.astype(np.float32) - exposed).mean(axis=(0, 1))
    assert before > 10
    assert (after < 1.5).all(), after


def test_tone_lut_ignores_a_local_change(coffee: np.ndarray) -> None:
    edited = coffee.copy()
    edited[50:130, 400:520] = (0, 0, 255)  # a red sticker over 4% of the photo
    exposed = _expose(edited, (0.85, 0.9, 0.8), (15.0, 10.0, 25.0))
    outside = np.ones(coffee.shape[:2], bool)
    outside[50:130, 400:520] = False
    matched = _tone_matched(coffee, exposed)  # no mask: the fit is robust to the change by itself
    before = np.abs(exposed.astype(np.float32) - coffee)[outside].mean(axis=0)
    after = np.abs(matched.astype(np.float32) - exposed)[outside].mean(axis=0)
    assert (before > 4).all() and (after < 1.0).all(), (before, after)


def test_tone_lut_is_none_when_tones_already_match() -> None:
    cam = skimage.data.camera()
    assert tone_lut(cam, cam) is None
    darker = _expose(cam[..., None], (0.7,), (10.0,))[..., 0]
    lut = tone_lut(cam, darker)
    assert lut is not None and np.abs(cv2.LUT(cam, lut).astype(np.float32) - darker).mean() < 1.0
