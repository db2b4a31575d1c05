"""Measuring stage: SSIM parity with scikit-image on real photos, MSE/PSNR, perceptual hashes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from framediff.analysis.measure import ImageHash, absdiff, dhash, mse, phash, psnr, ssim, ssim_map
from framediff.errors import InputError

from .conftest import photo_bgr, photo_gray

PARITY = 1e-3


def _distort(gray: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "noise":
        return np.clip(gray + rng.normal(0, 12, gray.shape), 0, 255).astype(np.uint8)
    if kind == "blur":
        return cv2.GaussianBlur(gray, (0, 0), 2.0)
    if kind == "brightness":
        return cv2.convertScaleAbs(gray, alpha=0.9, beta=35)
    raise AssertionError(kind)


@pytest.mark.parametrize("name", ["camera", "astronaut", "coffee", "rocket"])
@pytest.mark.parametrize("kind", ["noise", "blur", "brightness"])
def test_ssim_matches_scikit_image(name: str, kind: str, rng: np.random.Generator) -> None:
    a = photo_gray(name)
    b = _distort(a, kind, rng)
    ref_mean, ref_map = structural_similarity(a, b, data_range=255, full=True)
    m = ssim_map(a, b)
    assert m.shape == a.shape and m.dtype == np.float32
    assert np.abs(m - ref_map).max() < PARITY
    assert abs(ssim(a, b) - ref_mean) < PARITY
    assert ref_mean < 0.99  # the distortion is real, so the parity means something


def test_ssim_parity_other_window_float_and_16bit(rng: np.random.Generator) -> None:
    a = photo_gray("chelsea")
    b = _distort(a, "noise", rng)
    ref = structural_similarity(a, b, data_range=255, win_size=11)
    assert abs(ssim(a, b, win_size=11) - ref) < PARITY
    af, bf = a.astype(np.float64) / 255, b.astype(np.float64) / 255
    assert abs(ssim(af, bf) - structural_similarity(af, bf, data_range=1.0)) < PARITY
    a16, b16 = a.astype(np.uint16) * 257, b.astype(np.uint16) * 257
    assert abs(ssim(a16, b16) - structural_similarity(a16, b16, data_range=65535)) < PARITY


def test_ssim_orders_distortions() -> None:
    a = photo_gray("astronaut")
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    mild = cv2.GaussianBlur(a, (0, 0), 0.8)
    strong = cv2.GaussianBlur(a, (0, 0), 3.0)
    assert 1.0 > ssim(a, mild) > ssim(a, strong) > 0.0
    # A local change shows up where it is in the map.
    b = a.copy()
    b[200:260, 300:380] = 0
    m = ssim_map(a, b)
    assert m[230, 340] < 0.5 and m[50, 50] == pytest.approx(1.0, abs=1e-5)


def test_ssim_rejects_bad_input() -> None:
    a = photo_gray("camera")
    with pytest.raises(InputError, match="shape"):
        ssim(a, a[:-1])
    with pytest.raises(InputError, match="grey"):
        ssim(photo_bgr("coffee"), photo_bgr("coffee"))
    with pytest.raises(InputError, match="odd"):
        ssim(a, a, win_size=8)
    with pytest.raises(InputError, match="exceeds"):
        ssim(a[:5, :5], a[:5, :5])


@pytest.mark.parametrize("name", ["coffee", "camera"])
def test_mse_and_psnr_match_scikit_image(name: str, rng: np.random.Generator) -> None:
    a = photo_bgr(name) if name != "camera" else photo_gray(name)
    b = np.clip(a + rng.normal(0, 8, a.shape), 0, 255).astype(np.uint8)
    assert mse(a, b) == pytest.approx(mean_squared_error(a, b), rel=1e-9)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), rel=1e-9)
    assert mse(a, a) == 0.0 and psnr(a, a) == float("inf")


def test_psnr_range_follows_dtype(rng: np.random.Generator) -> None:
    a = photo_gray("camera").astype(np.float32) / 255
    b = np.clip(a + rng.normal(0, 0.03, a.shape), 0, 1).astype(np.float32)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), rel=1e-4)
    a16 = (a * 65535).astype(np.uint16)
    b16 = (b * 65535).astype(np.uint16)
    assert psnr(a16, b16) == pytest.approx(peak_signal_noise_ratio(a16, b16), rel=1e-6)


def test_absdiff_is_symmetric_and_takes_max_over_channels() -> None:
    a = photo_bgr("chelsea")
    b = a.copy()
    b[10, 20] = (a[10, 20].astype(int) + (5, 40, 10)).clip(0, 255)
    d = absdiff(a, b)
    assert d.shape == a.shape[:2]
    assert d[10, 20] == np.abs(b[10, 20].astype(int) - a[10, 20]).max()
    assert np.count_nonzero(d) == 1
    np.testing.assert_array_equal(d, absdiff(b, a))
    with pytest.raises(InputError):
        absdiff(a, a[1:])


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)


@pytest.mark.parametrize("hasher", [phash, dhash])
def test_hash_is_robust_to_recompression_and_tells_photos_apart(hasher) -> None:
    photos = {n: photo_bgr(n) for n in ("astronaut", "coffee", "chelsea", "rocket")}
    for image in photos.values():
        h = hasher(image)
        assert hasher(_jpeg(image, 50)) - h <= 6
        assert hasher(cv2.convertScaleAbs(image, alpha=1.0, beta=20)) - h <= 8
        # Resizing keeps the hash close too: it is computed on a tiny thumbnail.
        assert hasher(cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)) - h <= 6
    names = list(photos)
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            assert hasher(photos[x]) - hasher(photos[y]) >= 16, (x, y)


def test_hash_value_object() -> None:
    h1, h2 = phash(photo_bgr("coffee")), phash(photo_bgr("rocket"))
    text = str(h1)
    assert len(text) == 16 and int(text, 16) == h1.bits
    assert ImageHash.from_hex(text) == h1
    assert ImageHash.from_hex(str(h2)) - h1 == h2 - h1 == bin(h1.bits ^ h2.bits).count("1")
    assert h1 - h1 == 0
    with pytest.raises(TypeError):
        h1 - 5  # type: ignore[operator]
    with pytest.raises(TypeError):
        h1 - ImageHash(0, 32)
    # Grey and colour versions of one photo hash alike (the hash works on luma).
    assert phash(photo_gray("coffee")) - h1 <= 2


def _fine_match_by_definition(gray_a: np.ndarray, gray_b: np.ndarray, matrix: np.ndarray) -> float:
    """fine_match as its docstring defines it: B warped onto all of A, A's judged grid taken from it, the
    covered pixels among A's strongest gradients (top 20%) correlated."""
    from framediff.analysis.register import fine_reference

    h, w = gray_a.shape
    ref = fine_reference(gray_a)
    s = ref.step
    b = cv2.warpPerspective(gray_b, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)[::s, ::s]
    ones = np.full(gray_b.shape, 255, np.uint8)
    cover = cv2.warpPerspective(ones, matrix, (w, h), flags=cv2.INTER_NEAREST)[::s, ::s]
    cover = cv2.erode(cover, np.ones((5, 5), np.uint8)) > 0
    sel = cover & (ref.mag >= np.percentile(ref.mag[cover], 80))
    x, y = ref.a[sel] - ref.a[sel].mean(), b[sel].astype(np.float32) - b[sel].mean()
    return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))


@pytest.mark.parametrize(
    "matrix",
    [
        np.eye(3),  # B covers A
        np.array([[1.0, 0.0, 2.4], [0.0, 1.0, -1.7], [0.0, 0.0, 1.0]]),  # a strip of A uncovered
        np.array([[0.99, 0.02, -9.0], [-0.02, 0.99, 14.0], [0.0, 0.0, 1.0]]),  # turned and shifted
        np.array([[1.002, 0.0, 0.3], [0.0, 1.002, 0.2], [1e-6, 0.0, 1.0]]),  # nearly in place, perspective
    ],
)
@pytest.mark.parametrize("side", [300, 1000])  # judged on every pixel, and on every other one
def test_fine_match_is_its_definition(matrix: np.ndarray, side: int) -> None:
    """fine_match resamples B straight onto A's judged grid and skips the cover map when B covers it all:
    the same figure as warping B onto the whole of A first, for fits that cover A and fits that do not."""
    from framediff.analysis.register import fine_match

    a = cv2.resize(photo_gray("astronaut"), (side, side), interpolation=cv2.INTER_AREA)
    # B: A re-taken a little turned and brighter, so that no fit is exact.
    turn = cv2.getRotationMatrix2D((side / 2, side / 2), 0.7, 1.0)
    b = cv2.convertScaleAbs(cv2.warpAffine(a, turn, (side, side), borderMode=cv2.BORDER_REFLECT), alpha=1.1)
    assert fine_match(a, b, matrix) == pytest.approx(_fine_match_by_definition(a, b, matrix), abs=2e-4)
