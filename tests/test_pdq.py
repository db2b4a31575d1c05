"""PDQ (framediff.collection.pdq) on real photos.

The oracle for the bits is a second, plain implementation of the published algorithm written the way Meta
describes it (a running-sum box filter along every row then every column, twice, one sample per cell, the
DCT as a double sum, the 128th value as the median, 16-bit words printed from the last), which must agree
bit for bit with the vectorised module. The rest are the properties a duplicate finder relies on: copies
close, unrelated photos far, the dihedral forms equal to the hashes of the turned and mirrored pictures.
(No wheel of Meta's C++ binding, ``pdqhash``, installs here, so it cannot serve as a second oracle.)
"""

from __future__ import annotations

import itertools
import math
import tracemalloc

import cv2
import numpy as np
import pytest
from PIL import Image

from framediff.collection import pdq
from tests.conftest import PHOTO_NAMES, photo_bgr

# numpy forms of the 8 dihedral transforms, in pdq.DIHEDRAL_NAMES order.
TRANSFORMS = {
    "original": lambda a: a,
    "rotate90": lambda a: np.rot90(a, 1),
    "rotate180": lambda a: np.rot90(a, 2),
    "rotate270": lambda a: np.rot90(a, 3),
    "flipx": lambda a: a[::-1],
    "flipy": lambda a: a[:, ::-1],
    "flip_plus1": lambda a: a.swapaxes(0, 1),
    "flip_minus1": lambda a: np.rot90(a, 2).swapaxes(0, 1),
}


def _running_box(x: np.ndarray, window: int) -> np.ndarray:
    """The published 1-D box filter along axis 0 (all columns at once): a running sum that starts with a
    half window, divides by the samples summed so far, and shrinks again at the far edge."""
    n = x.shape[0]
    half = (window + 2) // 2
    out = np.zeros_like(x)
    total = np.zeros_like(x[0])
    count = 0
    right = left = o = 0
    for _ in range(half - 1):
        total = total + x[right]
        count += 1
        right += 1
    for _ in range(window - half + 1):
        total = total + x[right]
        count += 1
        out[o] = total / count
        right += 1
        o += 1
    for _ in range(n - window):
        total = total + x[right] - x[left]
        out[o] = total / count
        left += 1
        right += 1
        o += 1
    for _ in range(half - 1):
        total = total - x[left]
        count -= 1
        out[o] = total / count
        left += 1
        o += 1
    return out


def _plain_coefficients(bgr: np.ndarray) -> np.ndarray:
    """PDQ's 16 x 16 DCT coefficients step by step as published, on a picture that already fits 512 x 512."""
    b, g, r = (bgr[..., k].astype(np.float64) for k in range(3))
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    rows, cols = luma.shape
    win_rows = (rows + 2 * 64 - 1) // (2 * 64)
    win_cols = (cols + 2 * 64 - 1) // (2 * 64)
    for _ in range(2):  # two passes of rows then columns make the tent
        luma = _running_box(luma.T, win_cols).T
        luma = _running_box(luma, win_rows)
    grid = np.array(
        [[luma[int((i + 0.5) * rows / 64), int((j + 0.5) * cols / 64)] for j in range(64)] for i in range(64)]
    )
    dct = np.array(
        [
            [math.sqrt(2 / 64) * math.cos(math.pi / 128 * (i + 1) * (2 * j + 1)) for j in range(64)]
            for i in range(16)
        ]
    )
    return dct @ grid @ dct.T


def _plain_hex(coeffs: np.ndarray) -> str:
    """Bits above the 128th smallest coefficient, row i as 16-bit word i (bit j = column j), words printed
    from the 16th to the 1st."""
    median = sorted(coeffs.ravel())[127]
    words = [sum(1 << j for j in range(16) if coeffs[i, j] > median) for i in range(16)]
    return "".join(f"{w:04x}" for w in reversed(words))


def _plain_pdq_hex(bgr: np.ndarray) -> str:
    return _plain_hex(_plain_coefficients(bgr))


@pytest.mark.parametrize("name", ["chelsea", "coffee", "astronaut"])
def test_bits_equal_the_published_algorithm_step_by_step(name: str) -> None:
    image = photo_bgr(name)
    expected = _plain_pdq_hex(pdq.fit_reference(image))  # coffee (600 px) is shrunk first, as the reference
    h, quality = pdq.pdq_hash(image)
    assert h.shape == (32,) and h.dtype == np.uint8
    assert pdq.to_hex(h) == expected
    assert int(np.unpackbits(h).sum()) == 128  # above the 128th value of 256
    assert quality == 100  # detailed photos


def test_large_pictures_are_shrunk_as_the_reference_does() -> None:
    big = cv2.resize(photo_bgr("astronaut"), (1600, 1600), interpolation=cv2.INTER_CUBIC)[:, :1300]
    shrunk = pdq.fit_reference(big)
    assert shrunk.shape == (512, 416, 3)
    pil = Image.fromarray(big)
    pil.thumbnail((512, 512))
    assert np.array_equal(shrunk, np.asarray(pil))
    assert pdq.to_hex(pdq.pdq_hash(big)[0]) == _plain_pdq_hex(shrunk)
    # Meta's C++ hasher filters the full picture instead: other bits, a few of them.
    full = pdq.pdq_hash(big, shrink="none")[0]
    assert pdq.to_hex(full) == _plain_pdq_hex(big)
    assert 0 < pdq.hamming(full, pdq.pdq_hash(big)[0]) <= 16


def test_fast_shrink_stays_close_to_exact() -> None:
    for name in PHOTO_NAMES:
        big = cv2.resize(photo_bgr(name), (1800, 1350), interpolation=cv2.INTER_CUBIC)
        exact, q_exact = pdq.pdq_hash(big)
        fast, q_fast = pdq.pdq_hash(big, shrink="fast")
        assert pdq.hamming(exact, fast) <= 10, name
        assert abs(q_exact - q_fast) <= 5
    small = photo_bgr("chelsea")  # fits already: the same pixels, the same bits
    assert np.array_equal(pdq.pdq_hash(small)[0], pdq.pdq_hash(small, shrink="fast")[0])


@pytest.mark.parametrize("name,size", [("astronaut", None), ("chelsea", None), ("rocket", (1500, 1001))])
def test_dihedral_forms_are_the_hashes_of_the_transformed_pictures(name: str, size) -> None:
    image = photo_bgr(name)
    if size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    for shrink in pdq.SHRINKS:
        hashes, quality = pdq.pdq_dihedral(image, shrink=shrink)
        assert hashes.shape == (8, 32) and hashes.dtype == np.uint8
        assert quality == pdq.pdq_hash(image, shrink=shrink)[1]
        for k, form in enumerate(pdq.DIHEDRAL_NAMES):
            turned = np.ascontiguousarray(TRANSFORMS[form](image))
            assert pdq.hamming(hashes[k], pdq.pdq_hash(turned, shrink=shrink)[0]) <= 2, (form, shrink)
        # A photo is not symmetric: its 8 forms are as far apart as unrelated pictures.
        for i, j in itertools.combinations(range(8), 2):
            assert pdq.hamming(hashes[i], hashes[j]) > 60, (pdq.DIHEDRAL_NAMES[i], pdq.DIHEDRAL_NAMES[j])


def test_the_coefficient_shortcut_is_near_but_not_exact() -> None:
    image = photo_bgr("astronaut")
    exact, _ = pdq.pdq_dihedral(image)
    shortcut = pdq.dihedral_coefficients(_plain_coefficients(image))
    assert shortcut.shape == (8, 16, 16)
    distances = [pdq.hamming(exact[k], pdq.from_hex(_plain_hex(shortcut[k]))) for k in range(8)]
    assert distances[0] == 0 and distances[6] == 0  # the original and its transpose are exact
    # The reference filter's asymmetry shows in the reversed forms, still within the match distance.
    assert 0 < max(distances) <= pdq.MATCH_DISTANCE
    for k in range(8):
        assert pdq.hamming(exact[k], pdq.from_hex(_plain_hex(shortcut[(k + 1) % 8]))) > 60


def test_copies_match_and_unrelated_photos_do_not() -> None:
    hashes = {}
    for name in PHOTO_NAMES:
        image = photo_bgr(name)
        h, _ = pdq.pdq_hash(image)
        hashes[name] = h
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 40])
        assert ok
        copies = {
            "half size": cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
            "jpeg 40": cv2.imdecode(jpeg, cv2.IMREAD_COLOR),
            "brighter": cv2.convertScaleAbs(image, alpha=1.1, beta=12),
            "grey": cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR),
        }
        for what, copy in copies.items():
            assert pdq.hamming(h, pdq.pdq_hash(copy)[0]) <= pdq.MATCH_DISTANCE, (name, what)
    for a, b in itertools.combinations(PHOTO_NAMES, 2):
        assert pdq.hamming(hashes[a], hashes[b]) > 2 * pdq.MATCH_DISTANCE, (a, b)


def test_grey_bgr_and_bgra_inputs_agree() -> None:
    bgr = photo_bgr("coffee")
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    as_bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    assert np.array_equal(pdq.pdq_hash(grey)[0], pdq.pdq_hash(as_bgr)[0])
    assert np.array_equal(pdq.pdq_hash(grey[:, :, None])[0], pdq.pdq_hash(grey)[0])
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    bgra[:, :, 3] = np.random.default_rng(1).integers(0, 256, grey.shape, dtype=np.uint8)  # alpha is ignored
    assert np.array_equal(pdq.pdq_hash(bgra)[0], pdq.pdq_hash(bgr)[0])


def test_quality_tells_flat_pictures_from_photos() -> None:
    flat = np.full((300, 400, 3), 128, np.uint8)
    assert pdq.pdq_hash(flat)[1] == 0
    ramp = np.tile(np.linspace(0, 255, 400).astype(np.uint8), (300, 1))  # smooth: few gradients
    assert pdq.pdq_hash(ramp)[1] < 50
    assert pdq.pdq_hash(photo_bgr("camera"))[1] == 100
    tiny = np.full((4, 40), 200, np.uint8)  # under 5 px: the reference's empty hash
    h, q = pdq.pdq_hash(tiny)
    assert q == 0 and not h.any()
    hs, q = pdq.pdq_dihedral(tiny)
    assert hs.shape == (8, 32) and q == 0 and not hs.any()


def test_hex_round_trip_and_bad_hex() -> None:
    h, _ = pdq.pdq_hash(photo_bgr("rocket"))
    text = pdq.to_hex(h)
    assert len(text) == 64 and text == text.lower()
    assert np.array_equal(pdq.from_hex(text), h)
    assert np.array_equal(pdq.from_hex(f"  {text.upper()}\n"), h)
    for bad in ("", text[:-1], text + "0", "g" + text[1:], text[:30] + "  " + text[32:]):
        with pytest.raises(ValueError, match="64 hex digits"):
            pdq.from_hex(bad)
    with pytest.raises(ValueError, match="32 bytes"):
        pdq.to_hex(h[:16])


def test_large_pictures_are_filtered_in_bounded_memory() -> None:
    big = cv2.resize(photo_bgr("chelsea"), (6000, 4000), interpolation=cv2.INTER_LINEAR)
    tracemalloc.start()
    try:
        pdq.pdq_dihedral(big, shrink="none")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 << 20  # the picture itself is 69 MB; a float copy of its tents would be 10x that


def test_bad_pictures_are_refused() -> None:
    with pytest.raises(ValueError, match="uint8"):
        pdq.pdq_hash(np.zeros((50, 50), np.float32))
    with pytest.raises(ValueError, match="shape"):
        pdq.pdq_hash(np.zeros((50, 50, 2), np.uint8))
    with pytest.raises(ValueError, match="reference, fast, none"):
        pdq.pdq_hash(np.zeros((50, 50), np.uint8), shrink="bicubic")


def test_hamming_is_vectorised() -> None:
    hashes = np.stack([pdq.pdq_hash(photo_bgr(n))[0] for n in PHOTO_NAMES])
    one = hashes[0]
    got = pdq.hamming(one, hashes)
    assert got.shape == (len(PHOTO_NAMES),)
    expected = [int(np.unpackbits(one ^ other).sum()) for other in hashes]
    assert got.tolist() == expected and got[0] == 0
    assert isinstance(pdq.hamming(hashes[1], hashes[2]), int)
    all_pairs = pdq.hamming(hashes[:, None], hashes[None, :])
    assert all_pairs.shape == (5, 5) and np.array_equal(all_pairs, all_pairs.T)
    assert pdq.hamming(np.zeros(32, np.uint8), np.full(32, 255, np.uint8)) == 256
