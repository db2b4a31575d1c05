"""Tests of ``framediff index`` / ``framediff search`` (framediff.collection.search, the Index API and the
commands) on pictures the test writes from ``skimage.data`` photos: an indexed folder, queries that are
copies of several kinds (a picture inside a collage among them), unrelated queries; a real SQLite file and
the search structures kept beside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import framediff
from framediff.collection.index import Index
from framediff.collection.searchindex import SearchStructures, sidecar_path

from .conftest import photo_bgr

REFS = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "camera", "coins", "page", "brick"]
OTHERS = ["hubble_deep_field", "moon", "gravel", "cell", "colorwheel"]


def _write(path: Path, image: np.ndarray, quality: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix == ".jpg" else []
    assert cv2.imwrite(str(path), image, params)
    return path


def _caption(image: np.ndarray) -> np.ndarray:
    out = image.copy()
    h, w = out.shape[:2]
    cv2.putText(out, "REPOST", (w // 8, h // 3), cv2.FONT_HERSHEY_DUPLEX, w / 260, (0, 255, 255), max(3, w // 90))
    return out


def collage_page(a: np.ndarray, others: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """``a`` shown at 45% of the width in the top left of a 1000 x 800 page, the others around it; returns the
    page and where ``a`` lies."""
    page = np.full((800, 1000, 3), 235, np.uint8)
    w = 450
    h = round(a.shape[0] * w / a.shape[1])
    page[20 : 20 + h, 30 : 30 + w] = cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)
    for k, o in enumerate(others):
        small = cv2.resize(o, (400, 300), interpolation=cv2.INTER_AREA)
        x, y = (540, 20) if k == 0 else (540, 460) if k == 1 else (30, 480)
        page[y : y + 300, x : x + 400] = small
    return page, [30, 20, w, h]


def _screenshot(a: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """``a`` in a phone screenshot of a post (a bar, a name, captions under it); returns it and where ``a`` is."""
    page = np.full((1600, 900, 3), 255, np.uint8)
    page[:110] = (60, 40, 30)
    cv2.putText(page, "12:41", (30, 75), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (255, 255, 255), 3)
    cv2.putText(page, "someone_reposting", (30, 200), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (20, 20, 20), 3)
    h = round(a.shape[0] * 860 / a.shape[1])
    page[260 : 260 + h, 20:880] = cv2.resize(a, (860, h), interpolation=cv2.INTER_AREA)
    for k in range(4):
        cv2.putText(page, "look at this amazing picture #wow", (30, 360 + h + 70 * k), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (40, 40, 40), 2)
    return page, [20, 260, 860, h]


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Indexed pictures (``refs/``), queries with their truth, and an index file with the refs in it."""
    root = tmp_path_factory.mktemp("search")
    for name in REFS:
        _write(root / "refs" / f"{name}.png", photo_bgr(name))
    a, c, r, ch = photo_bgr("astronaut"), photo_bgr("coffee"), photo_bgr("rocket"), photo_bgr("chelsea")
    page, where = collage_page(ch, [photo_bgr("moon"), photo_bgr("gravel"), photo_bgr("hubble_deep_field")])
    shot, shot_where = _screenshot(r)
    truth = {
        "astronaut-small.jpg": ("astronaut", cv2.resize(a, (256, 256), interpolation=cv2.INTER_AREA)),
        "astronaut-selfie.jpg": ("astronaut", cv2.flip(a, 1)),
        "coffee-caption.jpg": ("coffee", _caption(c)),
        "coffee-crop.jpg": ("coffee", c[60:340, 100:520].copy()),
        "rocket-turned.jpg": ("rocket", np.ascontiguousarray(np.rot90(r))),
        "chelsea-collage.jpg": ("chelsea", page),
        "rocket-screenshot.jpg": ("rocket", shot),
        "coffee-heavy-crop.jpg": ("coffee", c[150:330, 300:560].copy()),
    }
    queries = {}
    for name, (ref, image) in truth.items():
        queries[name] = ref
        _write(root / "queries" / name, image)
    for name in OTHERS:
        _write(root / "queries" / f"{name}.jpg", photo_bgr(name))
        queries[f"{name}.jpg"] = None
    db = root / "index.sqlite"
    with Index(db) as index:
        report = index.add([root / "refs"])
    assert report.files == len(REFS) and report.fingerprinted == len(REFS) and not report.errors
    return {"root": root, "db": db, "queries": queries, "where": where, "shot_where": shot_where}


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "framediff", *args], capture_output=True, text=True, timeout=300, input=stdin
    )


def test_each_query_finds_the_picture_it_copies_and_nothing_else(collection: dict) -> None:
    root = collection["root"]
    with framediff.Index(collection["db"]) as index:
        for name, ref in collection["queries"].items():
            result = index.search(root / "queries" / name, top=3)
            assert result.error is None
            found = [Path(m.path).stem for m in result.matches]
            if ref is None:
                assert found == [], f"{name} is a copy of nothing indexed, yet matched {found}"
            else:
                assert found[:1] == [ref], f"{name}: {found}"
                assert all(m.relation not in ("different", "similar") for m in result.matches)


def test_matches_say_how_the_query_relates(collection: dict) -> None:
    root = collection["root"]
    want = {
        "astronaut-small.jpg": {"resized"}, "astronaut-selfie.jpg": {"mirrored"}, "coffee-caption.jpg": {"edited"},
        "coffee-crop.jpg": {"cropped"}, "rocket-turned.jpg": {"rotated"},
    }  # fmt: skip
    with Index(collection["db"]) as index:
        for name, relations in want.items():
            m = index.search(root / "queries" / name).matches[0]
            assert m.relation in relations, (name, m.relation, m.transform)
        caption = index.search(root / "queries" / "coffee-caption.jpg").matches[0]
        # The caption lies in the top third of the picture (600 x 400): the region says so.
        assert caption.regions and all(y < 250 for _, y, _, _ in caption.regions)
        crop = index.search(root / "queries" / "coffee-crop.jpg").matches[0]
        x, y, w, h = crop.transform["crop"]["b_in_a"]
        assert abs(x - 100) <= 12 and abs(y - 60) <= 12 and abs(w - 420) <= 20 and abs(h - 280) <= 20


def _iou(a: list[int], b: list[int]) -> float:
    inter = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])) * max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.mark.parametrize("query, ref, key", [("chelsea-collage.jpg", "chelsea", "where"), ("rocket-screenshot.jpg", "rocket", "shot_where")])
def test_a_picture_inside_a_collage_or_a_screenshot_is_found_with_where_it_lies(
    collection: dict, query: str, ref: str, key: str
) -> None:
    with Index(collection["db"]) as index:
        result = index.search(collection["root"] / "queries" / query)
    assert [Path(m.path).stem for m in result.matches] == [ref]
    m = result.matches[0]
    assert m.where is not None and m.relation in ("bordered", "edited")
    assert _iou(m.where, collection[key]) > 0.7, (m.where, collection[key])


def test_a_heavy_crop_is_found_with_where_it_was_cut(collection: dict) -> None:
    """A fifth of the picture's area: compare on the whole thumbnails does not take it for a crop (it sees
    another shot); the features say where it lies, and that part of the picture verifies."""
    with Index(collection["db"]) as index:
        m = index.search(collection["root"] / "queries" / "coffee-heavy-crop.jpg").matches[0]
    assert Path(m.path).stem == "coffee" and m.relation in ("cropped", "edited")
    assert _iou(m.transform["crop"]["b_in_a"], [300, 150, 260, 180]) > 0.7, m.transform


def test_a_decoded_picture_can_be_the_query(collection: dict) -> None:
    with framediff.Index(collection["db"]) as index:
        result = index.search(cv2.flip(photo_bgr("coffee"), 1))
    assert [Path(m.path).stem for m in result.matches] == ["coffee"]
    assert result.matches[0].relation == "mirrored"


def test_search_structures_are_kept_beside_the_index_and_rebuilt_when_stale(collection: dict, tmp_path: Path) -> None:
    db = tmp_path / "i.sqlite"
    _write(tmp_path / "a" / "coffee.png", photo_bgr("coffee"))
    query = _write(tmp_path / "q" / "rocket.jpg", photo_bgr("rocket"))
    with Index(db) as index:
        index.add([tmp_path / "a"])
        assert index.search(query).matches == []
        side = sidecar_path(index)
        assert side is not None and side.exists()
        built = side.stat().st_mtime_ns
        # Unchanged: loaded as it is.
        assert SearchStructures.load(side, index.generation) is not None
        index.search(query)
        assert side.stat().st_mtime_ns == built
        # A picture added: the kept structures no longer match the index, and are built again.
        _write(tmp_path / "a" / "rocket.png", photo_bgr("rocket"))
        index.add([tmp_path / "a"])
        assert SearchStructures.load(side, index.generation) is None
        assert [Path(m.path).stem for m in index.search(query).matches] == ["rocket"]
        # A damaged file is no trouble: built again.
        side.write_bytes(b"not an npz")
        assert [Path(m.path).stem for m in index.search(query).matches] == ["rocket"]
        # Forgotten: no longer found.
        index.remove_under([str(tmp_path / "a" / "rocket.png")])
        assert index.search(query).matches == []


def test_index_refreshes_only_what_changed_and_forgets_what_is_gone(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    for name in ("coffee", "rocket", "camera"):
        _write(folder / f"{name}.png", photo_bgr(name))
    with Index(tmp_path / "i.sqlite") as index:
        assert index.add([folder]).fingerprinted == 3
        again = index.add([folder])
        assert (again.files, again.fingerprinted, again.removed) == (3, 0, 0)
        (folder / "camera.png").unlink()
        _write(folder / "rocket.png", cv2.flip(photo_bgr("rocket"), 0))
        os.utime(folder / "rocket.png", (1e9, 1e9))
        third = index.add([folder])
        assert (third.files, third.fingerprinted, third.removed) == (2, 1, 1)
        assert index.stats()["files"] == 2


def test_cli_search_exit_status_text_and_json(collection: dict) -> None:
    root, db = collection["root"], str(collection["db"])
    hit = _cli("search", str(root / "queries" / "astronaut-selfie.jpg"), "--db", db)
    assert hit.returncode == 1, hit.stderr
    assert "astronaut.png" in hit.stdout and "mirrored" in hit.stdout
    miss = _cli("search", str(root / "queries" / "moon.jpg"), "--db", db)
    assert miss.returncode == 0 and "no match" in miss.stdout
    listed = "\n".join(str(root / "queries" / n) for n in ("coffee-crop.jpg", "gravel.jpg")) + "\n"
    js = _cli("search", "-", "--db", db, "--json", "--top", "1", stdin=listed)
    assert js.returncode == 1, js.stderr
    results = json.loads(js.stdout)["results"]
    assert [len(r["matches"]) for r in results] == [1, 0]
    m = results[0]["matches"][0]
    assert Path(m["path"]).name == "coffee.png" and m["relation"] == "cropped" and 0 < m["score"] <= 1


def test_cli_index_adds_removes_and_counts(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    for name in ("coffee", "rocket"):
        _write(folder / f"{name}.png", photo_bgr(name))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    db = str(tmp_path / "i.sqlite")
    added = _cli("index", str(folder), "--db", db)
    assert added.returncode == 0, added.stderr
    assert "2 pictures" in added.stdout or "3 pictures" in added.stdout
    assert "broken.jpg" in added.stderr
    stats = _cli("index", "--db", db, "--stats", "--json")
    assert json.loads(stats.stdout)["index"]["files"] == 2
    gone = _cli("index", "--db", db, "--remove", str(folder / "rocket.png"), "--json")
    assert json.loads(gone.stdout)["removed"] == 1 and json.loads(gone.stdout)["index"]["files"] == 1


@pytest.mark.parametrize(
    "args, words",
    [
        (["search", "{q}", "--db", "{tmp}/none.sqlite"], "no index at"),
        (["search", "{tmp}/missing.jpg", "--db", "{db}"], "no such file"),
        (["search", "{q}", "--db", "{db}", "--top", "0"], "--top"),
        (["search", "{q}", "--db", "{db}", "--max-distance", "300"], "--max-distance"),
        (["index", "{tmp}/missing", "--db", "{tmp}/new.sqlite"], "no such file"),
        (["index", "--db", "{tmp}/none.sqlite", "--stats"], "no index at"),
        (["index", "--db", "{db}", "--export-hashes", "{db}"], "would overwrite"),
    ],
)
def test_bad_input_is_one_error_line_and_status_2(collection: dict, tmp_path: Path, args: list[str], words: str) -> None:
    q = str(collection["root"] / "queries" / "moon.jpg")
    filled = [a.format(q=q, tmp=tmp_path, db=collection["db"]) for a in args]
    r = _cli(*filled)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], r.stderr
    assert not (tmp_path / "none.sqlite").exists() and not (tmp_path / "new.sqlite").exists()


def test_an_unreadable_query_among_good_ones_is_trouble(collection: dict, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    r = _cli("search", str(collection["root"] / "queries" / "coffee-crop.jpg"), str(bad), "--db", str(collection["db"]))
    assert r.returncode == 2
    assert "coffee.png" in r.stdout and "bad.png" in r.stderr and "Traceback" not in r.stderr


def _as_reader() -> list[str]:
    """A command prefix that runs a command as someone who may read the shared folder but not write it:
    yourself when not root (the folder is made read-only), root without the capability to write through
    permissions when root (``setpriv``, util-linux)."""
    if os.geteuid() != 0:
        return []
    drop = "-dac_override,-dac_read_search,-fowner"
    return ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", "--"]


def _set_writable(root: Path, writable: bool) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod((0o755 if p.is_dir() else 0o644) if writable else (0o555 if p.is_dir() else 0o444))


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_a_read_only_shared_index_is_searched_without_writing(tmp_path: Path) -> None:
    """An index on a read-only share (or owned by someone else): searching it opens SQLite read-only and
    writes nothing - no journal files, no search structures -, uses the structures kept beside it while
    they are current, and builds them in memory when they are stale."""
    share = tmp_path / "share"
    try:
        for name in ("coffee", "rocket"):
            _write(share / "pics" / f"{name}.png", photo_bgr(name))
            _write(share / "q" / f"{name}.jpg", cv2.resize(photo_bgr(name), (300, 200), interpolation=cv2.INTER_AREA))
        (share / "pics" / "rocket.png").rename(share / "rocket.png")  # indexed later
        db = share / "i.sqlite"
        with Index(db) as index:
            index.add([share / "pics"])
            index.search(share / "q" / "coffee.jpg")  # keeps the search structures beside the index
        assert sidecar_path(index).exists()
        def search(query: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [*_as_reader(), sys.executable, "-m", "framediff", "search", str(share / "q" / query), "--db", str(db), "--json"],
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip

        _set_writable(share, False)
        before = _snapshot(share)
        fresh = search("coffee.jpg")
        assert fresh.returncode == 1, fresh.stderr
        assert [Path(m["path"]).name for m in json.loads(fresh.stdout)["results"][0]["matches"]] == ["coffee.png"]
        stats = subprocess.run(
            [*_as_reader(), sys.executable, "-m", "framediff", "index", "--db", str(db), "--stats", "--json"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert stats.returncode == 0 and json.loads(stats.stdout)["index"]["files"] == 1, stats.stderr
        assert _snapshot(share) == before

        # A picture added by the index's owner after the structures were kept: they are stale, and the
        # reader builds them in memory (the new picture is found) without writing them.
        _set_writable(share, True)
        (share / "rocket.png").rename(share / "pics" / "rocket.png")
        with Index(db) as index:
            index.add([share / "pics"])
        _set_writable(share, False)
        before = _snapshot(share)
        stale = search("rocket.jpg")
        assert stale.returncode == 1, stale.stderr
        assert [Path(m["path"]).name for m in json.loads(stale.stdout)["results"][0]["matches"]] == ["rocket.png"]
        assert _snapshot(share) == before
    finally:
        _set_writable(share, True)  # so that pytest can clean up


def _turned(image: np.ndarray, degrees: float) -> np.ndarray:
    """``image`` turned by a few degrees and cut to the inside of the turn (no corner of background)."""
    h, w = image.shape[:2]
    turned = cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h))
    t = np.radians(abs(degrees))
    k = 1 / (np.cos(t) + np.sin(t) * max(w, h) / min(w, h))
    cw, ch = int(w * k), int(h * k)
    return turned[(h - ch) // 2 : (h + ch) // 2, (w - cw) // 2 : (w + cw) // 2].copy()


def test_a_turned_copy_cut_to_its_inside_is_found(collection: dict, tmp_path: Path) -> None:
    """Turned by 10 degrees and cut to 60% of its area: the bricks' stored keypoints fit no map onto it
    (a repetitive texture), but most of the query's descriptors point to it, and it verifies as turned."""
    query = _write(tmp_path / "brick-turned.jpg", _turned(photo_bgr("brick"), -10))
    with Index(collection["db"]) as index:
        result = index.search(query)
    assert [Path(m.path).stem for m in result.matches][:1] == ["brick"], result.matches
    m = result.matches[0]
    assert m.relation == "rotated" and abs(abs(m.transform["rotation"]) - 10) < 1.5, m.transform


def _wallpaper(seed: int) -> np.ndarray:
    """A smooth picture with few keypoints (a desktop wallpaper): soft colours and blurred discs."""
    rng = np.random.default_rng(seed)
    image = cv2.resize(rng.integers(0, 256, (5, 7, 3)).astype(np.float32), (1200, 800), interpolation=cv2.INTER_CUBIC)
    for _ in range(4):
        centre, radius = (int(rng.integers(0, 1200)), int(rng.integers(0, 800))), int(rng.integers(60, 200))
        cv2.circle(image, centre, radius, [float(v) for v in rng.integers(0, 256, 3)], -1)
    return np.clip(cv2.GaussianBlur(image, (0, 0), 6), 0, 255).astype(np.uint8)


def test_a_smooth_picture_cut_by_a_collage_tile_is_found_where_it_lies(tmp_path: Path) -> None:
    """A wallpaper in a collage's last tile, its bottom and right cut off by the page: too few keypoints to
    place it, and its hash no longer near; the query's picture-shaped blocks on the plain page are verified
    against the pictures its descriptors point to."""
    for name in ("coffee", "rocket", "camera"):
        _write(tmp_path / "refs" / f"{name}.png", photo_bgr(name))
    for seed in range(6):
        _write(tmp_path / "refs" / f"wall{seed}.png", _wallpaper(seed))
    page = np.full((900, 1200, 3), 225, np.uint8)
    tile = cv2.resize(_wallpaper(1), (640, 427), interpolation=cv2.INTER_AREA)[:420, :570]
    page[470:890, 620:1190] = tile
    for (x, y), other in zip([(20, 20), (620, 20), (20, 470)], ["moon", "gravel", "hubble_deep_field"], strict=True):
        page[y : y + 410, x : x + 560] = cv2.resize(photo_bgr(other), (560, 410), interpolation=cv2.INTER_AREA)
    query = _write(tmp_path / "collage.jpg", page, quality=88)
    with Index(tmp_path / "i.sqlite") as index:
        index.add([tmp_path / "refs"])
        result = index.search(query)
    assert [Path(m.path).stem for m in result.matches] == ["wall1"], result.matches
    m = result.matches[0]
    assert m.relation in ("bordered", "edited") and _iou(m.where, [620, 470, 570, 420]) > 0.7, m.where
