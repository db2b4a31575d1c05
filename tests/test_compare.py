"""framediff compare: verdicts, boxes where the changes are, alignment, outputs and bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from framediff import compare
from framediff.compare import Comparison
from framediff.errors import InputError, OptionError

from .conftest import photo_bgr, run_framediff

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_framediff(*args, cwd=cwd)


def hand_held(
    image: np.ndarray, angle: float, shift: tuple[float, float], gain: float, offset: float
) -> np.ndarray:
    """A second shot 'taken by hand': rotated, shifted, brighter, then JPEG-compressed."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[:, 2] += shift
    out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    out = np.clip(out.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


@pytest.fixture(scope="module")
def changed_pair() -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]]:
    """Astronaut photo and a copy with two known changes (a pasted patch, a recoloured patch)."""
    a = photo_bgr("astronaut")
    b = a.copy()
    b[60:120, 380:450] = a[300:360, 100:170]  # an object copied from elsewhere
    roi = b[380:440, 60:140]
    hsv = cv2.cvtColor(roi, cv2.COLOR_BGR2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(int) + 90) % 180
    hsv[..., 1] = np.maximum(hsv[..., 1], 120)
    roi[:] = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    return a, b, [(380, 60, 70, 60), (60, 380, 80, 60)]


def matched(regions: list, truth: list[tuple[int, int, int, int]], min_iou: float = 0.5) -> bool:
    return all(any(iou(r.box, t) >= min_iou for r in regions) for t in truth)


def test_samples_shelf_boxes_every_change_and_nothing_else() -> None:
    truth = json.loads((SAMPLES / "truth.json").read_text())["shelf"]
    boxes = [tuple(c["box_a"]) for c in truth["changes"]]
    r = compare(SAMPLES / truth["a"], SAMPLES / truth["b"])
    assert not r.identical
    assert r.alignment.warped  # B was taken "by hand"
    assert matched(r.regions, boxes, 0.4)
    assert len(r.regions) == len(boxes)


def test_samples_same_pair_is_identical_despite_jpeg_and_light() -> None:
    r = compare(SAMPLES / "same_a.png", SAMPLES / "same_b.jpg")
    assert r.identical and r.regions == []
    assert r.ssim > 0.9


def test_clean_pair_finds_both_changes(changed_pair) -> None:
    a, b, truth = changed_pair
    r = compare(a, b)
    assert isinstance(r, Comparison)
    assert not r.identical
    assert matched(r.regions, truth)
    assert len(r.regions) == 2
    assert r.alignment.method == "none"  # pixel-aligned: nothing resampled
    assert 0 < r.changed_fraction < 0.1


def test_hand_held_pair_is_registered_and_boxes_are_in_a_pixels(changed_pair) -> None:
    a, b, truth = changed_pair
    b2 = hand_held(b, angle=0.8, shift=(4.0, -3.0), gain=1.15, offset=-10)
    r = compare(a, b2)
    assert r.alignment.warped
    assert abs(r.alignment.rotation - 0.8) < 0.2
    assert abs(r.alignment.shift[0] - 4.0) < 1.5 and abs(r.alignment.shift[1] + 3.0) < 1.5
    assert matched(r.regions, truth, 0.4)
    assert len(r.regions) == 2  # the warped border and the JPEG noise are not changes


def test_light_and_noise_only_is_identical(changed_pair) -> None:
    a, _, _ = changed_pair
    rng = np.random.default_rng(1)
    b = np.clip(a.astype(np.float32) * 0.85 + 12 + rng.normal(0, 3, a.shape), 0, 255).astype(np.uint8)
    b = hand_held(b, angle=-0.5, shift=(-2.5, 1.5), gain=1.0, offset=0)
    r = compare(a, b)
    assert r.identical, [x.box for x in r.regions]


def test_white_balance_change_is_not_a_change() -> None:
    a = photo_bgr("coffee")
    b = np.clip(a.astype(np.float32) * np.array([1.15, 1.0, 0.85]), 0, 255).astype(np.uint8)
    assert compare(a, b).identical


def test_fast_paths(tmp_path: Path, changed_pair) -> None:
    a, _, _ = changed_pair
    p1, p2 = tmp_path / "a.png", tmp_path / "copy.png"
    cv2.imwrite(str(p1), a)
    p2.write_bytes(p1.read_bytes())
    assert compare(p1, p2).fast_path == "bytes"
    r = compare(a, a.copy())
    assert r.identical and r.fast_path == "pixels" and r.to_dict()["identical"] is True


def test_to_dict_is_the_json_object(changed_pair) -> None:
    a, b, _ = changed_pair
    d = compare(a, b).to_dict()
    json.dumps(d)  # JSON-ready
    for key in (
        "identical",
        "regions",
        "ssim",
        "mse",
        "psnr",
        "changed_fraction",
        "hash_distance",
        "alignment",
    ):
        assert key in d
    for reg in d["regions"]:
        assert {"x", "y", "w", "h", "area", "score"} <= set(reg)
    assert d["size_a"] == {"width": 512, "height": 512}


def test_options_accept_strings_like_the_cli(changed_pair) -> None:
    a, b, truth = changed_pair
    r = compare(a, b, threshold="30", min_area="100", blur="1.5", method="absdiff", align="off")
    assert r.threshold == 30.0 and matched(r.regions, truth)
    with pytest.raises(OptionError):
        compare(a, b, threshold="lots")
    with pytest.raises(OptionError):
        compare(a, b, method="magic")


def test_ssim_method_also_finds_the_changes(changed_pair) -> None:
    a, b, truth = changed_pair
    r = compare(a, b, method="ssim")
    assert matched(r.regions, truth[:1], 0.3)  # the pasted patch is a structural change


def test_ignore_box_and_mask_remove_a_change(changed_pair) -> None:
    a, b, truth = changed_pair
    r = compare(a, b, ignore_boxes=["370,50,90,80"])
    assert len(r.regions) == 1 and iou(r.regions[0].box, truth[1]) > 0.5
    mask = np.zeros(a.shape[:2], np.uint8)
    mask[370:450, 50:150] = 255
    r = compare(a, b, ignore=mask)
    assert len(r.regions) == 1 and iou(r.regions[0].box, truth[0]) > 0.5


def test_different_sizes_are_handled_and_reported(changed_pair) -> None:
    a, b, truth = changed_pair
    bigger = cv2.resize(b, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC)
    r = compare(a, bigger)
    assert r.size_b == (768, 768) and r.to_dict()["same_size"] is False
    assert r.alignment.warped and abs(r.alignment.scale - 1 / 1.5) < 0.02
    assert matched(r.regions, truth, 0.4)


def test_split_puzzle_image(changed_pair) -> None:
    a, b, truth = changed_pair
    both = np.hstack([a, np.full((512, 10, 3), 255, np.uint8), b])
    r = compare(both, split="auto")
    assert matched(r.regions, truth, 0.3)
    stacked = np.vstack([a, b])
    r = compare(stacked, split="v")
    assert matched(r.regions, truth)


def test_grey_vs_colour_16bit_and_alpha_inputs(tmp_path: Path, changed_pair) -> None:
    a, b, truth = changed_pair
    grey = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY)
    assert compare(grey, cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)).identical
    a16 = tmp_path / "a16.png"
    cv2.imwrite(str(a16), a.astype(np.uint16) * 257)
    bgra = tmp_path / "b_alpha.png"
    cv2.imwrite(str(bgra), np.dstack([b, np.full(b.shape[:2], 255, np.uint8)]))
    r = compare(a16, bgra)
    assert matched(r.regions, truth)


def test_tiny_image_is_refused() -> None:
    with pytest.raises(InputError, match="too small"):
        compare(np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1, 3), np.uint8))


# --- the command line -------------------------------------------------------------------------


def test_cli_exit_status_and_summary() -> None:
    diff = run_cli("compare", str(SAMPLES / "shelf_a.jpg"), str(SAMPLES / "shelf_b.jpg"))
    assert diff.returncode == 1 and diff.stdout.startswith("shelf_a.jpg vs shelf_b.jpg: changed: 3 regions,")
    same = run_cli("compare", str(SAMPLES / "same_a.png"), str(SAMPLES / "same_b.jpg"))
    assert same.returncode == 0 and "same" in same.stdout


def test_cli_json_and_outputs(tmp_path: Path) -> None:
    out, mask, heat = tmp_path / "diff.png", tmp_path / "mask.png", tmp_path / "heat.jpg"
    p = run_cli(
        "compare", str(SAMPLES / "shelf_a.jpg"), str(SAMPLES / "shelf_b.jpg"), "--json",
        "-o", str(out), "--mask", str(mask), "--heatmap", str(heat),
    )  # fmt: skip
    assert p.returncode == 1, p.stderr
    d = json.loads(p.stdout)
    assert d["identical"] is False and len(d["regions"]) == 3
    a = cv2.imread(str(SAMPLES / "shelf_a.jpg"))
    side = cv2.imread(str(out))
    assert side.shape[1] > 2 * a.shape[1] and a.shape[0] < side.shape[0] <= a.shape[0] + 60  # captions on top
    m = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
    assert m.shape == a.shape[:2]
    for reg in d["regions"]:  # the mask is white inside each reported region
        assert m[reg["y"] : reg["y"] + reg["h"], reg["x"] : reg["x"] + reg["w"]].mean() > 40
    assert cv2.imread(str(heat)).shape == a.shape
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d: ["compare", str(d / "missing.png"), str(SAMPLES / "shelf_a.jpg")], "no such file"),
        (lambda d: ["compare", str(d / "notimage.png"), str(SAMPLES / "shelf_a.jpg")], "not an image"),
        (lambda d: ["compare", str(d / "empty.png"), str(SAMPLES / "shelf_a.jpg")], "empty"),
        (lambda d: ["compare", str(d / "truncated.jpg"), str(SAMPLES / "shelf_a.jpg")], "truncated"),
        (lambda d: ["compare", str(d / "one.png"), str(d / "one.png"), "--align", "off"], "too small"),
        (lambda d: ["compare", str(SAMPLES / "shelf_a.jpg"), str(SAMPLES / "shelf_b.jpg"), "--threshold", "-5"], "threshold"),
        (lambda d: ["compare", str(SAMPLES / "shelf_a.jpg"), str(SAMPLES / "shelf_b.jpg"), "--min-area", "abc"], "--min-area must be a number"),
        (lambda d: ["compare", str(SAMPLES / "shelf_a.jpg"), str(SAMPLES / "shelf_b.jpg"), "--method", "x"], "method"),
        (lambda d: ["compare", str(SAMPLES / "shelf_a.jpg"), str(SAMPLES / "shelf_b.jpg"), "--blur", "1e9"], "blur"),
        (lambda d: ["compare", str(SAMPLES / "shelf_a.jpg"), str(SAMPLES / "shelf_b.jpg"), "--ignore-box", "1,2,3"], "box"),
        (lambda d: ["compare", str(SAMPLES / "shelf_a.jpg")], "two images"),
        (lambda d: ["compare", str(d), str(SAMPLES / "shelf_b.jpg")], "is a folder"),
        (lambda d: ["compare", str(d), str(SAMPLES), "-o", str(d / "a.png")], "outputs are folders"),
        (lambda d: ["compare", str(d / "a.png"), str(SAMPLES / "shelf_b.jpg"), "-o", str(d / "a.png")], "would overwrite A"),
        (lambda d: ["compare", str(SAMPLES / "shelf_a.jpg"), str(SAMPLES / "shelf_b.jpg"), "-o", str(d / "no" / "x.png")], "does not exist"),
    ],
)  # fmt: skip
def test_cli_bad_input_gives_one_error_line_and_exit_2(tmp_path: Path, make_args, message: str) -> None:
    (tmp_path / "notimage.png").write_text("hello, I am not a picture\n")
    (tmp_path / "empty.png").write_bytes(b"")
    data = (SAMPLES / "shelf_a.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    cv2.imwrite(str(tmp_path / "one.png"), np.zeros((1, 1, 3), np.uint8))
    original = (SAMPLES / "shelf_a.jpg").read_bytes()
    (tmp_path / "a.png").write_bytes(original)
    before = sorted(p.name for p in tmp_path.iterdir())
    p = run_cli(*make_args(tmp_path))
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), p.stderr
    assert message in lines[0]
    assert "Traceback" not in p.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == before  # nothing written, nothing half-written
    assert (tmp_path / "a.png").read_bytes() == original  # the input is untouched


def test_compare_pairs_reads_ahead_and_keeps_going_past_a_bad_pair(tmp_path: Path, changed_pair) -> None:
    from framediff import compare_pairs

    a, b, truth = changed_pair
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    pairs = [(a, b), (str(SAMPLES / "same_a.png"), str(SAMPLES / "same_b.jpg")), (str(broken), a), (b, a)]
    results = list(compare_pairs(pairs, min_area="100"))
    assert len(results) == 4
    first, same, bad, swapped = results
    assert isinstance(first, Comparison) and matched(first.regions, truth)
    assert first.to_dict() == compare(a, b, min_area=100).to_dict()  # same answer as one by one
    assert isinstance(same, Comparison) and same.identical
    assert isinstance(bad, InputError) and "broken.png" in str(bad)
    assert isinstance(swapped, Comparison) and matched(swapped.regions, truth)


def test_compare_pairs_flattens_transparency_as_compare_does(tmp_path: Path) -> None:
    """A PNG with a transparent hole whose hidden pixels are black, against the same picture flattened
    over white: compare() flattens the transparency alike on both sides and finds them identical;
    compare_pairs() gives the very same answer (it skipped the flattening and called them only 'same')."""
    from framediff import compare_pairs

    picture = cv2.imread(str(SAMPLES / "shelf_a.jpg"))
    h, w = picture.shape[:2]
    holed = cv2.cvtColor(picture, cv2.COLOR_BGR2BGRA)
    holed[h // 4 : h // 2, w // 4 : w // 2] = 0  # transparent, over black
    flat = picture.copy()
    flat[h // 4 : h // 2, w // 4 : w // 2] = 255  # what a viewer shows: the page's white
    a, b = tmp_path / "holed.png", tmp_path / "flat.png"
    assert cv2.imwrite(str(a), holed) and cv2.imwrite(str(b), flat)
    alone = compare(a, b)
    assert alone.relation == "identical" and not alone.regions
    for pair in ((a, b), (holed, flat)):
        batch = next(compare_pairs([pair]))
        assert isinstance(batch, Comparison) and batch.to_dict() == compare(*pair).to_dict()


def test_cli_two_folders_compares_namesakes(tmp_path: Path) -> None:
    base, shots, outs = tmp_path / "base", tmp_path / "shots", tmp_path / "diffs"
    (base / "ui").mkdir(parents=True)
    (shots / "ui").mkdir(parents=True)
    shelf_a, shelf_b = cv2.imread(str(SAMPLES / "shelf_a.jpg")), cv2.imread(str(SAMPLES / "shelf_b.jpg"))
    cv2.imwrite(str(base / "ui" / "shelf.png"), shelf_a)
    cv2.imwrite(str(shots / "ui" / "shelf.png"), shelf_b)
    cv2.imwrite(str(base / "same.png"), cv2.imread(str(SAMPLES / "same_a.png")))
    cv2.imwrite(str(shots / "same.png"), cv2.imread(str(SAMPLES / "same_b.jpg")))
    cv2.imwrite(str(base / "gone.png"), shelf_a)
    (base / "notes.txt").write_text("not an image, not compared")

    p = run_cli("compare", str(base), str(shots), "-o", str(outs))
    assert p.returncode == 1, p.stderr
    lines = p.stdout.splitlines()
    assert any(ln.startswith("ui/shelf.png: changed: 3 regions") for ln in lines), p.stdout
    assert any(ln.startswith("same.png: same") for ln in lines), p.stdout
    assert f"gone.png: only in {base}" in lines
    # Only the differing pair gets an annotated picture: A and B side by side.
    assert sorted(x.relative_to(outs).as_posix() for x in outs.rglob("*.png")) == ["ui/shelf.png"]
    assert cv2.imread(str(outs / "ui" / "shelf.png")).shape[1] > 2 * shelf_a.shape[1]

    j = run_cli("compare", str(base), str(shots), "--json")
    d = json.loads(j.stdout)
    assert d["identical"] is False and d["only_in_a"] == ["gone.png"] and d["only_in_b"] == []
    by_name = {r["name"]: r for r in d["pairs"]}
    assert len(by_name["ui/shelf.png"]["regions"]) == 3 and by_name["same.png"]["identical"] is True

    (base / "gone.png").unlink()
    (shots / "ui" / "shelf.png").write_bytes(b"corrupt")
    bad = run_cli("compare", str(base), str(shots))
    assert bad.returncode == 2
    assert "ui/shelf.png: error:" in bad.stdout and bad.stderr.startswith("Error: 1 of 2 pairs")
    assert "Traceback" not in bad.stderr

    (base / "same.png").unlink()
    (shots / "same.png").unlink()
    still_bad = run_cli("compare", str(base), str(shots), "-q")
    assert still_bad.returncode == 2 and still_bad.stdout == ""  # the corrupt pair is still there
    (shots / "ui" / "shelf.png").unlink()
    (base / "ui" / "shelf.png").unlink()
    empty = run_cli("compare", str(base), str(shots))
    assert empty.returncode == 2 and empty.stderr.startswith("Error: no images")


def test_library_compares_folders_and_writes_outputs_as_the_command_does(tmp_path: Path) -> None:
    """Folder comparison and the output pictures are the library's (issue 20): the command only prints
    what :func:`compare_folders` and :func:`compare_files` answer, so the JSON objects agree; messages
    name the outputs by their settings unless the caller names them."""
    from framediff.compare.files import FolderComparison, compare_files, compare_folders
    from framediff.compare.outputs import CompareOutputs
    from framediff.errors import OutputError

    base, shots, outs = tmp_path / "base", tmp_path / "shots", tmp_path / "diffs"
    base.mkdir()
    shots.mkdir()
    shutil.copyfile(SAMPLES / "shelf_a.jpg", base / "shelf.jpg")
    shutil.copyfile(SAMPLES / "shelf_b.jpg", shots / "shelf.jpg")
    shutil.copyfile(SAMPLES / "same_a.png", base / "same.png")
    shutil.copyfile(SAMPLES / "same_b.jpg", shots / "same.png")
    shutil.copyfile(SAMPLES / "same_a.png", shots / "extra.png")
    seen: list[str] = []
    got = compare_folders(base, shots, CompareOutputs(mask=outs), on_pair=lambda name, r: seen.append(name))
    assert isinstance(got, FolderComparison) and seen == ["same.png", "shelf.jpg"]
    assert got.only_in_b == ["extra.png"] and not got.identical and got.different == 1 and got.failed == 0
    assert got.summary() == "2 pairs: 1 same, 1 changed; 1 without a partner"
    assert [x.name for x in outs.iterdir()] == ["shelf.png"]  # only the differing pair, as a PNG
    mask = cv2.imread(str(outs / "shelf.png"), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == cv2.imread(str(SAMPLES / "shelf_a.jpg")).shape[:2] and mask.max() == 255
    cli = json.loads(run_cli("compare", str(base), str(shots), "--json").stdout)
    assert got.to_dict() == cli

    one = compare_files(SAMPLES / "shelf_a.jpg", SAMPLES / "shelf_b.jpg", CompareOutputs(picture=tmp_path / "p.png"))
    assert len(one.regions) == 3 and cv2.imread(str(tmp_path / "p.png")).shape[1] > 2 * mask.shape[1]
    with pytest.raises(OutputError, match=r"^picture .* would overwrite A "):
        compare_files(base / "same.png", shots / "same.png", CompareOutputs(picture=base / "same.png"))
    with pytest.raises(OutputError, match=r"^-o .* would overwrite A "):
        compare_files(base / "same.png", shots / "same.png", CompareOutputs(base / "same.png"), labels={"picture": "-o"})
    assert (base / "same.png").read_bytes() == (SAMPLES / "same_a.png").read_bytes()


def test_large_jpegs_are_decoded_reduced_with_the_same_answer(tmp_path: Path) -> None:
    from PIL import Image

    # A 2400x1800 photo pair: analysis runs at 1200 px, so both JPEGs are decoded at half size.
    a = cv2.resize(photo_bgr("astronaut"), (2400, 1800), interpolation=cv2.INTER_CUBIC)
    b = a.copy()
    cv2.circle(b, (1500, 500), 90, (0, 0, 255), -1)
    m = cv2.getRotationMatrix2D((1200, 900), 0.6, 1.0)
    m[:, 2] += (9, -5)
    b = cv2.warpAffine(b, m, (2400, 1800), borderMode=cv2.BORDER_REFLECT)
    pa, pb = tmp_path / "a.jpg", tmp_path / "b.jpg"
    cv2.imwrite(str(pa), a, [cv2.IMWRITE_JPEG_QUALITY, 92])
    # B is stored sideways with an EXIF tag saying "rotate to display": it must still be read upright.
    sideways = cv2.rotate(b, cv2.ROTATE_90_COUNTERCLOCKWISE)
    im = Image.fromarray(cv2.cvtColor(sideways, cv2.COLOR_BGR2RGB))
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(pb, quality=88, exif=exif)

    r = compare(pa, pb)
    assert r.size_a == (2400, 1800) and r.size_b == (2400, 1800)
    assert len(r.regions) == 1 and iou(r.regions[0].box, (1410, 410, 180, 180)) > 0.5, r.regions
    assert r.alignment.warped and abs(r.alignment.rotation) == pytest.approx(0.6, abs=0.1)
    full = compare(cv2.imread(str(pa)), cv2.imread(str(pb)))  # full size; imread turns B upright itself
    assert iou(r.regions[0].box, full.regions[0].box) > 0.8

    out = tmp_path / "side.png"
    p = run_cli("compare", str(pa), str(pb), "-o", str(out), "--heatmap", str(tmp_path / "h.png"))
    assert p.returncode == 1, p.stderr
    assert 1800 < cv2.imread(str(out)).shape[0] <= 1800 + 2400 // 20  # full-size pictures under captions
    assert cv2.imread(str(tmp_path / "h.png")).shape[:2] == (1800, 2400)


def test_compare_loads_neither_dedup_nor_watch_nor_the_collection(tmp_path: Path) -> None:
    """Start-up counts in every short comparison: ``from framediff import compare`` and one comparison load
    none of the other jobs' packages; their names still import from ``framediff`` when asked for."""
    a = tmp_path / "a.png"
    cv2.imwrite(str(a), cv2.resize(photo_bgr("astronaut"), (200, 200)))
    code = (
        "import sys\n"
        "from framediff import compare\n"
        f"compare({str(a)!r}, {str(a)!r})\n"
        "jobs = ('framediff.dedup', 'framediff.watch', 'framediff.collection', 'framediff.serve')\n"
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith(jobs)}))\n"
        "from framediff import Deduplicator, dedup_video, Decision, DedupResult\n"
        "print(Deduplicator.__module__, dedup_video.__module__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, names = done.stdout.strip().splitlines()
    assert loaded == "[]", done.stdout
    assert names == "framediff.dedup.core framediff.dedup.video"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_compare_reuses_freed_buffers_unless_the_environment_says_otherwise(tmp_path: Path) -> None:
    """compare() has glibc keep freed image buffers for the next pair: a run over pairs of several sizes
    takes a small fraction of the fresh pages (page faults) that it takes when every large buffer is
    mapped afresh, as a caller's own MALLOC_MMAP_THRESHOLD_ asks (and is obeyed). glibc's default
    (measured: a fifth of the fresh pages here) is not enough."""
    pairs = []
    for i, (name, side) in enumerate([("astronaut", 1800), ("coffee", 1100), ("chelsea", 1500), ("astronaut", 900)]):
        im = cv2.resize(photo_bgr(name), (side, side * 3 // 4), interpolation=cv2.INTER_CUBIC)
        edited = im.copy()
        cv2.circle(edited, (side // 2, side // 3), side // 20, (0, 0, 255), -1)
        a, b = tmp_path / f"{i}a.png", tmp_path / f"{i}b.png"
        cv2.imwrite(str(a), im)
        cv2.imwrite(str(b), edited)
        pairs.append((str(a), str(b)))
    code = (
        "import resource, sys\n"
        "from framediff import compare\n"
        f"pairs = {pairs!r}\n"
        "compare(*pairs[0])\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "found = [len(compare(a, b).regions) for a, b in pairs[1:] + pairs[:1]]\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, found)\n"
    )

    def faults(env: dict[str, str]) -> int:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
        n, found = done.stdout.split(" ", 1)
        assert found.strip() == "[1, 1, 1, 1]", done.stdout
        return int(n)

    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    kept = faults(base)
    fresh = faults({**base, "MALLOC_MMAP_THRESHOLD_": "131072"})
    assert kept < 0.1 * fresh, (kept, fresh)
