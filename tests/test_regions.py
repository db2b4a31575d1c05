"""Regions stage: thresholds (fixed and from the noise floor), morphology, boxes, merging, ignore masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from framediff.analysis.measure import absdiff
from framediff.analysis.prepare import blur
from framediff.analysis.regions import (
    Region,
    auto_threshold,
    check_box,
    clean_mask,
    find_regions,
    ignore_mask,
    keep_seeded,
    merge_boxes,
    noise_floor,
    parse_box,
    threshold_map,
)
from framediff.errors import InputError, OptionError

from .conftest import photo_gray

TRUTH = (300, 120, 70, 45)  # x, y, w, h of the synthetic change


def _with_object(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Put an 'object' in ``box``: a textured patch cut from another photo, clearly unlike what it covers."""
    x, y, w, h = box
    out = gray.copy()
    patch = photo_gray("coffee")[60 : 60 + h, 200 : 200 + w]
    under = gray[y : y + h, x : x + w]
    # Make sure every pixel really changes: invert the patch where it happens to match the photo.
    patch = np.where(np.abs(patch.astype(int) - under) < 40, 255 - under, patch).astype(np.uint8)
    out[y : y + h, x : x + w] = patch
    return out


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


def _pipeline(a: np.ndarray, b: np.ndarray, threshold: float | None = None, **kw) -> list[Region]:
    diff = absdiff(blur(a, 1.0), blur(b, 1.0))
    t = auto_threshold(diff) if threshold is None else threshold
    return find_regions(clean_mask(threshold_map(diff, t)), diff, **kw)


def test_one_change_gives_one_box_where_it_is() -> None:
    a = photo_gray("astronaut")
    b = _with_object(a, TRUTH)
    regions = _pipeline(a, b, min_area=20)
    assert len(regions) == 1
    assert _iou(regions[0].box, TRUTH) > 0.8
    assert 0.1 < regions[0].score <= 1.0


def test_noise_floor_threshold_ignores_sensor_noise(rng: np.random.Generator) -> None:
    a0 = photo_gray("camera")
    b0 = _with_object(a0, TRUTH)
    noisy = [np.clip(im + rng.normal(0, 6, im.shape), 0, 255).astype(np.uint8) for im in (a0, b0)]
    a, b = noisy
    diff = absdiff(blur(a, 1.0), blur(b, 1.0))
    med, sigma = noise_floor(diff)
    assert 0 < med < 10 and 0 < sigma < 10
    t = auto_threshold(diff)
    # The threshold sits above (almost) all of the noise-only pixels ...
    outside = np.ones(diff.shape, bool)
    x, y, w, h = TRUTH
    outside[y - 5 : y + h + 5, x - 5 : x + w + 5] = False
    assert np.mean(diff[outside] > t) < 1e-3
    # ... so the whole pipeline finds the one real change and nothing else,
    regions = _pipeline(a, b, min_area=20)
    assert len(regions) == 1 and _iou(regions[0].box, TRUTH) > 0.7
    # while a naive fixed threshold near the noise level reports noise everywhere.
    naive = _pipeline(a, b, threshold=4, min_area=20)
    assert len(naive) > 3


def test_identical_and_noise_only_pairs_have_no_regions(rng: np.random.Generator) -> None:
    a = photo_gray("chelsea")
    assert _pipeline(a, a.copy()) == []
    b = np.clip(a + rng.normal(0, 5, a.shape), 0, 255).astype(np.uint8)
    assert _pipeline(a, b, min_area=20) == []


def test_auto_threshold_bounds() -> None:
    clean = np.zeros((100, 100), np.uint8)
    assert auto_threshold(clean) == 8.0
    loud = np.full((100, 100), 200, np.uint8)
    assert auto_threshold(loud) == 96.0
    assert auto_threshold(clean, minimum=3.0) == 6.0  # median 0 + k * max(sigma, 1)


def test_noise_floor_respects_valid_mask() -> None:
    diff = np.zeros((100, 100), np.uint8)
    diff[:, 50:] = 100
    valid = np.zeros((100, 100), np.uint8)
    valid[:, :50] = 255
    assert noise_floor(diff, valid) == (0.0, 0.0)
    assert noise_floor(diff)[0] > 0
    assert noise_floor(diff, np.zeros_like(valid)) == (0.0, 0.0)


def test_threshold_map_is_strictly_above() -> None:
    diff = np.array([[9, 10, 11, 200]], np.uint8)
    assert threshold_map(diff, 10).tolist() == [[0, 0, 255, 255]]
    assert threshold_map(diff.astype(np.float64), 10).tolist() == [[0, 0, 255, 255]]
    assert threshold_map(diff.astype(np.uint16), 10).dtype == np.uint8


def test_clean_mask_removes_speckle_and_fills_holes() -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask[20:60, 20:60] = 255
    mask[40, 40] = 0  # a pinhole
    mask[80, 80] = 255  # a speck
    out = clean_mask(mask)
    assert out[40, 40] == 255 and out[80, 80] == 0
    assert out[30, 30] == 255


def test_merge_boxes() -> None:
    a, b, c = (0, 0, 10, 10), (15, 0, 10, 10), (30, 0, 10, 10)  # gaps of 5 between neighbours
    assert sorted(merge_boxes([a, b, c], 2)) == [a, b, c]
    assert merge_boxes([a, b, c], 5) == [(0, 0, 40, 10)]  # a-b and b-c chain into one
    assert merge_boxes([c, a, b], 5) == [(0, 0, 40, 10)]  # whatever the order
    assert merge_boxes([(0, 0, 10, 10), (5, 5, 10, 10)], 0) == [(0, 0, 15, 15)]  # overlap
    assert sorted(merge_boxes([(0, 0, 10, 10), (0, 50, 10, 10)], 20)) == [(0, 0, 10, 10), (0, 50, 10, 10)]
    assert merge_boxes([], 5) == []


def test_fragments_of_one_change_merge() -> None:
    mask = np.zeros((200, 200), np.uint8)
    mask[50:100, 50:80] = 255
    mask[50:100, 84:120] = 255  # the same object, split by a 4-pixel gap
    assert len(find_regions(mask)) == 2
    merged = find_regions(mask, merge_gap=8)
    assert len(merged) == 1
    assert merged[0].box == (50, 50, 70, 50) and merged[0].area == 50 * 30 + 50 * 36


def test_min_area_and_order() -> None:
    mask = np.zeros((200, 200), np.uint8)
    mask[10:15, 10:15] = 255  # 25 px
    mask[100:140, 100:140] = 255  # 1600 px
    mask[50:60, 150:170] = 255  # 200 px
    regions = find_regions(mask)
    assert [r.area for r in regions] == [1600, 200, 25]
    assert [r.area for r in find_regions(mask, min_area=100)] == [1600, 200]
    assert [r.box for r in find_regions(mask, min_area=1000)] == [(100, 100, 40, 40)]
    assert find_regions(np.zeros((10, 10), np.uint8)) == []


def test_region_score_is_mean_strength() -> None:
    mask = np.zeros((50, 50), np.uint8)
    mask[10:20, 10:20] = 255
    strength = np.zeros((50, 50), np.float32)
    strength[10:20, 10:20] = 51.0
    (r,) = find_regions(mask, strength)
    assert r.score == pytest.approx(0.2)
    (r,) = find_regions(mask, strength, full_scale=51.0)
    assert r.score == pytest.approx(1.0)
    assert r.to_dict() == {"x": 10, "y": 10, "w": 10, "h": 10, "area": 100, "score": 1.0}


def test_ignore_mask_white_means_ignore() -> None:
    picture = np.zeros((50, 80), np.uint8)
    picture[:, 40:] = 255
    out = ignore_mask((80, 50), picture)
    assert out is not None and out.shape == (50, 80)
    assert (out[:, 40:] == 255).all() and (out[:, :40] == 0).all()
    # A half-size mask is stretched to the frame; a colour or 16-bit one works the same.
    small = cv2.resize(picture, (40, 25), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(ignore_mask((80, 50), small), out)
    np.testing.assert_array_equal(ignore_mask((80, 50), cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR)), out)
    np.testing.assert_array_equal(ignore_mask((80, 50), picture.astype(np.uint16) * 257), out)
    bgra = cv2.cvtColor(picture, cv2.COLOR_GRAY2BGRA)
    bgra[..., 3] = 0  # alpha does not matter, only the drawn colour
    np.testing.assert_array_equal(ignore_mask((80, 50), bgra), out)


def test_ignore_mask_boxes() -> None:
    assert ignore_mask((80, 50)) is None
    out = ignore_mask((80, 50), boxes=[(10, 5, 20, 10), (70, 40, 50, 50)])  # the second hangs off the edge
    assert out is not None and out.sum() == 255 * (20 * 10 + 10 * 10)
    assert (out[5:15, 10:30] == 255).all()
    with pytest.raises(InputError, match="outside"):
        ignore_mask((80, 50), boxes=[(100, 100, 5, 5)])


def test_ignored_change_is_not_reported() -> None:
    a = photo_gray("astronaut")
    b = _with_object(a, TRUTH)
    b = _with_object(b, (40, 400, 50, 50))
    h, w = a.shape
    ign = ignore_mask((w, h), boxes=[parse_box("290,110,90,65")])
    diff = absdiff(blur(a, 1.0), blur(b, 1.0))
    diff[ign > 0] = 0
    regions = find_regions(clean_mask(threshold_map(diff, auto_threshold(diff, ign == 0))), min_area=20)
    assert len(regions) == 1 and _iou(regions[0].box, (40, 400, 50, 50)) > 0.8


def test_parse_box() -> None:
    assert parse_box("10,20,30,40") == (10, 20, 30, 40)
    assert parse_box(" 1, 2 ,3,4 ") == (1, 2, 3, 4)
    assert parse_box("1,2,3.0,4") == (1, 2, 3, 4)


@pytest.mark.parametrize(
    "text",
    [
        "1,2,3",
        "1,2,3,4,5",
        "a,b,c,d",
        "",
        "1,2,0,4",
        "-1,2,3,4",
        "1,2,3,-4",
        "inf,0,1,1",
        "1.5,2,3,4",
        "nan,1,1,1",
    ],
)
def test_parse_box_errors(text: str) -> None:
    with pytest.raises(OptionError) as info:
        parse_box(text)
    assert repr(text) in str(info.value)
    assert info.value.hint  # every error says what to do
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "good,bad",
    [
        ((0, 0, 5, 5), (0, 0, 0, 5)),  # an empty size
        ((3, 4, 5, 6), (-1, 4, 5, 6)),  # a negative corner
        ((0, 0, 1_000_000, 1), (0, 0, 1_000_001, 1)),  # past the largest end, in every notation
        ((1, 2, 3, 4), (1, 2, 3.5, 4)),  # not whole
    ],
)
def test_one_box_rule_for_every_notation_and_every_job(good: tuple, bad: tuple) -> None:
    """A box is checked by one rule (issue 20), whether it comes as a command line's ``x,y,w,h``, a
    settings file's ``[x, y, w, h]``, numpy integers or a Python tuple, and whether compare or watch
    gets it."""
    from framediff import ChangeDetector, compare
    from framediff.watch.settings import check_box as settings_check_box

    assert settings_check_box is check_box  # the watch settings file uses the same rule
    text = ",".join(str(v) for v in good)
    assert parse_box(text) == check_box(text) == check_box(list(good)) == check_box(np.array(good)) == good
    bad_text = ",".join(str(v) for v in bad)
    for value in (bad_text, list(bad), tuple(bad)):
        with pytest.raises(OptionError) as info:
            check_box(value, "zone 'door'")
        assert str(info.value).startswith("zone 'door' ") and info.value.hint
    picture = np.full((40, 40, 3), 128, np.uint8)
    with pytest.raises(OptionError, match="ignore box"):
        compare(picture, picture.copy(), ignore_boxes=[bad])
    with pytest.raises(OptionError, match="ignore box"):
        ChangeDetector(ignore_boxes=[bad])
    with pytest.raises(OptionError, match="zone 'door'"):
        ChangeDetector(zones={"door": bad})
    detector = ChangeDetector(ignore_boxes=[good], zones={"door": good})
    with pytest.raises(OptionError):
        detector.set_areas(ignore_boxes=[good], zones={"door": bad})
    assert detector.zones == {"door": good}  # a refused edit changes nothing


def test_keep_seeded_keeps_only_blobs_with_a_strong_core() -> None:
    diff = np.zeros((40, 40), np.uint8)
    diff[5:15, 5:15] = 20  # a weak blob with a strong core: kept whole
    diff[9:11, 9:11] = 60
    diff[25:35, 25:35] = 20  # a weak blob alone: dropped
    kept = keep_seeded(diff > 10, diff > 40)
    assert kept[5:15, 5:15].all() and not kept[25:35, 25:35].any()
    assert not keep_seeded(diff > 10, diff > 40, min_seeds=5).any()  # 4 strong pixels are not enough


@pytest.mark.parametrize("blobs", [12, 400])  # a flood fill per kept blob, and the table lookup past 256
def test_keep_seeded_matches_counting_seeds_blob_by_blob(blobs: int) -> None:
    rng = np.random.default_rng(blobs)
    weak = np.zeros((240, 400), bool)
    # Separate square blobs of 1-4 px sides on a grid of 6 px cells (never touching, even diagonally).
    cells = [(y, x) for y in range(0, 240, 6) for x in range(0, 400, 6)]
    for i in rng.choice(len(cells), blobs, replace=False):
        y, x = cells[i]
        side = int(rng.integers(1, 5))
        weak[y : y + side, x : x + side] = True
    strong = rng.random(weak.shape) < 0.3  # strong pixels fall inside and outside the weak blobs
    for min_seeds, min_pixels in ((1, 1), (3, 1), (2, 6)):
        kept = keep_seeded(weak, strong, min_seeds=min_seeds, min_pixels=min_pixels)
        n, labels = cv2.connectedComponents(weak.view(np.uint8), connectivity=8)
        expected = np.zeros(weak.shape, bool)
        for label in range(1, n):
            blob = labels == label
            if np.count_nonzero(blob & strong) >= min_seeds and np.count_nonzero(blob) >= min_pixels:
                expected |= blob
        assert expected.any() and not expected.all()
        assert np.array_equal(kept, expected), (min_seeds, min_pixels)


def test_a_fragment_between_two_objects_joins_one_of_them_and_does_not_bridge_them() -> None:
    mask = np.zeros((200, 300), np.uint8)
    mask[50:130, 40:80] = 255  # a person where they stood in A
    mask[60:140, 120:160] = 255  # the same person in B, 40 px further on
    mask[90:93, 84:90] = 255  # a speck between them (a fluttering tape), close to both
    mask[94:96, 100:116] = 255
    boxes = sorted(r.box for r in find_regions(mask, merge_gap=24, solid=24))
    assert len(boxes) == 2, boxes
    assert boxes[0][0] == 40 and boxes[0][0] + boxes[0][2] <= 116 and boxes[1][0] <= 120 and boxes[1][2] >= 40


def test_two_objects_whose_boxes_overlap_but_which_do_not_touch_stay_two() -> None:
    mask = np.zeros((200, 200), np.uint8)
    cv2.line(mask, (20, 20), (100, 100), 255, 12)  # two diagonal bars: boxes overlap, pixels 30+ px apart
    cv2.line(mask, (60, 20), (140, 100), 255, 12)
    assert len(find_regions(mask, merge_gap=24, solid=24)) == 2
    cv2.line(mask, (60, 60), (100, 60), 255, 6)  # joined by a bar: one change
    assert len(find_regions(mask, merge_gap=24, solid=24)) == 1
