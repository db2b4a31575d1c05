"""The pictures framediff compare writes: the side-by-side picture of ``-o``, its captions, and the
outputs' errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from framediff.cli import main
from framediff.render import side_by_side

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


def _dark_columns(band: np.ndarray) -> np.ndarray:
    """Columns of a caption band holding text (dark pixels)."""
    return np.flatnonzero((band.min(axis=2) < 100).any(axis=0))


def test_compare_picture_has_each_file_name_over_its_half(tmp_path: Path, capsys) -> None:
    out = tmp_path / "diff.png"
    with pytest.raises(SystemExit) as e:
        main(["compare", str(SAMPLES / "shelf_a.jpg"), str(SAMPLES / "shelf_b.jpg"), "-o", str(out)])
    assert e.value.code == 1
    capsys.readouterr()
    picture = cv2.imread(str(out))
    a, b = cv2.imread(str(SAMPLES / "shelf_a.jpg")), cv2.imread(str(SAMPLES / "shelf_b.jpg"))
    band = picture.shape[0] - max(a.shape[0], b.shape[0])
    assert band >= 20, "a caption band above the pictures"
    assert picture.shape[1] == a.shape[1] + 8 + b.shape[1]
    top = picture[:band]
    text = _dark_columns(top)
    left, right = text[text < a.shape[1]], text[text >= a.shape[1] + 8]
    assert left.size and right.size, "a caption over each half"
    assert left.max() < a.shape[1] // 2 and right.min() < a.shape[1] + 8 + b.shape[1] // 2, "left-aligned"
    # Under the band, each half is its picture (boxes drawn on it), not shifted: mostly the same pixels.
    assert np.mean(np.abs(picture[band:, : a.shape[1]].astype(int) - a) < 40) > 0.9
    # The captions differ where the names do ("A: shelf_a.jpg" / "B: shelf_b.jpg") and match the text
    # the same call writes for those names.
    expected = side_by_side(np.zeros_like(a), np.zeros_like(b), labels=("A: shelf_a.jpg", "B: shelf_b.jpg"))
    assert np.array_equal(expected[:band], top)
    other = side_by_side(np.zeros_like(a), np.zeros_like(b), labels=("A: other.jpg", "B: shelf_b.jpg"))
    assert not np.array_equal(other[:band, : a.shape[1]], top[:, : a.shape[1]])


def test_a_long_name_is_shortened_to_its_own_half() -> None:
    left, right = np.zeros((100, 200, 3), np.uint8), np.zeros((100, 300, 3), np.uint8)
    out = side_by_side(left, right, labels=("A: " + "x" * 200 + ".png", "B: short.png"))
    band = out.shape[0] - 100
    text = _dark_columns(out[:band])
    assert text.size and not np.any((text >= 196) & (text < 208)), "nothing written over the gap"
    assert np.any((text > 0) & (text < 196)) and np.any(text > 208), "both captions written"
    assert side_by_side(left, right).shape == (100, 508, 3), "no band without labels"


@pytest.mark.parametrize("option", ["-o", "--mask", "--heatmap"])
@pytest.mark.parametrize("where", ["missing/out.png", "out.unknown"])
def test_an_output_that_cannot_be_written_names_its_own_option(
    tmp_path: Path, capsys, option: str, where: str
) -> None:
    """Refused before the comparison, one line naming the option that failed, nothing written."""
    others = [o for o in ("-o", "--mask", "--heatmap") if o != option]
    args = [str(SAMPLES / "shelf_a.jpg"), str(SAMPLES / "shelf_b.jpg"), option, str(tmp_path / where)]
    args += [others[0], str(tmp_path / "fine.png")]  # a good output beside it is not written either
    with pytest.raises(SystemExit) as e:
        main(["compare", *args])
    assert e.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {option} {tmp_path / where}: "), lines
    assert not any(f"{o} " in lines[0] for o in others)
    assert not captured.out and not list(tmp_path.iterdir())
