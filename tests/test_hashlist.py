"""Tests of PDQ hash lists (framediff.collection.hashlist, ``framediff index --import-hashes/--export-hashes``,
search of an index holding hashes only) and of the exact range search behind them (framediff.collection.mih),
on pictures the test writes from ``skimage.data`` photos and on random 256-bit codes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from framediff import Index
from framediff.collection import mih, pdq
from framediff.collection.fingerprint import reference_pdq
from framediff.collection.hashlist import HashEntry, parse_line, read_hash_list, write_hash_list
from framediff.collection.mih import MultiIndexHash
from framediff.errors import InputError

from .conftest import photo_bgr


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framediff", *args], capture_output=True, text=True, timeout=300)


def _write(path: Path, image: np.ndarray, quality: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix == ".jpg" else [])
    return path


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hashlist")
    big = cv2.resize(photo_bgr("astronaut"), (1400, 1400), interpolation=cv2.INTER_CUBIC)
    _write(root / "known" / "astronaut.jpg", big)
    _write(root / "known" / "coffee.png", photo_bgr("coffee"))
    _write(root / "queries" / "astronaut-q40.jpg", big, quality=40)
    _write(root / "queries" / "astronaut-turned.png", np.ascontiguousarray(np.rot90(photo_bgr("astronaut"))))
    _write(root / "queries" / "coffee-mirrored.jpg", cv2.flip(photo_bgr("coffee"), 1))
    _write(root / "queries" / "rocket.jpg", photo_bgr("rocket"))
    _write(root / "queries" / "flat.png", np.full((300, 300, 3), 128, np.uint8))
    return root


def test_lines_parse_with_optional_quality_and_label() -> None:
    h = "f" * 8 + "0" * 56
    assert parse_line("") is None and parse_line("# a comment") is None
    e = parse_line(h)
    assert e is not None and pdq.to_hex(e.pdq) == h and e.quality is None and e.label is None
    e = parse_line(f"{h.upper()},87,case 12, part b")
    assert e is not None and pdq.to_hex(e.pdq) == h and e.quality == 87 and e.label == "case 12, part b"
    e = parse_line(f"{h},,only a label")
    assert e is not None and e.quality is None and e.label == "only a label"
    for bad, words in ((h[:-1], "not a PDQ hash"), ("z" * 64, "not a PDQ hash"), (f"{h},high", "quality"), (f"{h},101", "0-100")):
        with pytest.raises(InputError, match=words):
            parse_line(bad, "list.txt:3")


def test_a_list_written_reads_back_the_same(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    entries = [HashEntry(rng.integers(0, 256, 32, dtype=np.uint8), q, label) for q, label in ((90, "a"), (None, None), (55, "x,y"))]
    assert write_hash_list(entries, tmp_path / "l.txt") == 3
    back = read_hash_list(tmp_path / "l.txt")
    assert [(pdq.to_hex(b.pdq), b.quality, b.label) for b in back] == [(pdq.to_hex(e.pdq), e.quality, e.label) for e in entries]


def test_a_query_is_hashed_as_the_reference_does(pictures: Path) -> None:
    """The reference decodes the file in full and shrinks it with Pillow: reference_pdq does the same."""
    from PIL import Image

    path = pictures / "known" / "astronaut.jpg"
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    want, _ = pdq.pdq_hash(np.ascontiguousarray(rgb[:, :, ::-1]))
    hashes, quality = reference_pdq(path)
    assert pdq.hamming(hashes[0], want) == 0 and quality >= 50


def test_hash_only_index_matches_copies_by_pdq_distance_with_labels(pictures: Path, tmp_path: Path) -> None:
    lines = []
    for name in ("astronaut.jpg", "coffee.png"):
        h, q = reference_pdq(pictures / "known" / name)
        lines.append(f"{pdq.to_hex(h[0])},{q},known:{name}")
    (tmp_path / "list.txt").write_text("# shared list\n" + "\n".join(lines) + "\n")
    with Index(tmp_path / "known.sqlite") as index:
        assert index.import_hashes(tmp_path / "list.txt") == 2
        assert index.import_hashes(tmp_path / "list.txt") == 0  # held already
        assert index.stats()["files"] == 0 and index.stats()["hashes"] == 2
        found = {}
        for name in ("astronaut-q40.jpg", "astronaut-turned.png", "coffee-mirrored.jpg", "rocket.jpg", "flat.png"):
            found[name] = [(m.label, m.relation, m.distance) for m in index.search(pictures / "queries" / name).matches]
        strict = index.search(pictures / "queries" / "astronaut-q40.jpg", max_distance=0).matches
    assert [f[0] for f in found["astronaut-q40.jpg"]] == ["known:astronaut.jpg"]
    assert [f[0] for f in found["astronaut-turned.png"]] == ["known:astronaut.jpg"]  # a dihedral form
    assert [f[0] for f in found["coffee-mirrored.jpg"]] == ["known:coffee.png"]
    assert found["rocket.jpg"] == [] and found["flat.png"] == []
    assert all(rel == "pdq" and d <= 31 for v in found.values() for _, rel, d in v)
    # Heavy JPEG moves a few bits: with no distance allowed it is no longer on the list.
    assert found["astronaut-q40.jpg"][0][2] > 0 and strict == []


def test_a_list_exported_and_imported_again_matches_the_same_queries(pictures: Path, tmp_path: Path) -> None:
    db, other = str(tmp_path / "pictures.sqlite"), str(tmp_path / "hashes.sqlite")
    assert _cli("index", str(pictures / "known"), "--db", db).returncode == 0
    out = tmp_path / "exported.txt"
    r = _cli("index", "--db", db, "--export-hashes", str(out))
    assert r.returncode == 0, r.stderr
    exported = read_hash_list(out)
    assert sorted(Path(e.label).name for e in exported) == ["astronaut.jpg", "coffee.png"]
    r = _cli("index", "--db", other, "--import-hashes", str(out), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["imported"] == 2
    queries = [str(pictures / "queries" / n) for n in ("astronaut-q40.jpg", "coffee-mirrored.jpg", "rocket.jpg")]
    by_pictures = json.loads(_cli("search", *queries, "--db", db, "--json").stdout)["results"]
    by_hashes = json.loads(_cli("search", *queries, "--db", other, "--json").stdout)["results"]
    names = [[Path(m["path"]).name for m in r["matches"]] for r in by_pictures]
    labels = [[Path(m["label"]).name for m in r["matches"]] for r in by_hashes]
    assert names == labels == [["astronaut.jpg"], ["coffee.png"], []]


def test_a_bad_list_is_refused_whole(pictures: Path, tmp_path: Path) -> None:
    good = pdq.to_hex(reference_pdq(pictures / "known" / "coffee.png")[0][0])
    (tmp_path / "bad.txt").write_text(f"{good},90,fine\nnot-a-hash\n")
    db = tmp_path / "new.sqlite"
    r = _cli("index", "--db", str(db), "--import-hashes", str(tmp_path / "bad.txt"))
    assert r.returncode == 2 and r.stderr.startswith("Error: ") and "bad.txt:2" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not db.exists()


def _planted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    targets = rng.choice(n, 40, replace=False)
    bits = np.unpackbits(codes[targets], axis=1)
    for row, d in zip(bits, np.linspace(0, 31, 40).astype(int), strict=True):
        row[rng.choice(256, d, replace=False)] ^= 1
    return codes, np.packbits(bits, axis=1), targets


@pytest.fixture(params=["compiled", "numpy"])
def search_loop(request: pytest.FixtureRequest) -> bool:
    """Each test of the multi-index hash runs with numba's compiled loop and with numpy's."""
    if request.param == "compiled" and mih.compiled() is None:
        pytest.skip("numba is not installed (the scale extra)")
    return request.param == "compiled"


def _pairs(found: tuple[np.ndarray, ...]) -> set[tuple[int, int, int]]:
    return set(zip(*(a.tolist() for a in found), strict=True))


@pytest.mark.parametrize("bits", [16, 20])
def test_multi_index_hashing_finds_what_a_full_scan_finds(bits: int, search_loop: bool) -> None:
    """Exact where the pigeonhole says so (8 tables with 2-bit variants: every hash within 23 bits), and at
    PDQ's 31 bits every planted copy found, nothing a full scan would not find."""
    codes, queries, targets = _planted(30_000, bits)
    index = MultiIndexHash(codes, flat=False, bits=bits)
    index.use_numba = search_loop
    flat = MultiIndexHash(codes, flat=True)
    assert index.exact_within(23) and not index.exact_within(31)
    for radius in (12, 23):
        assert _pairs(index.range_search(queries, radius)) == _pairs(flat.range_search(queries, radius))
    got, want = _pairs(index.range_search(queries, 31)), _pairs(flat.range_search(queries, 31))
    assert got <= want and len(got) == len(want)
    assert {(w, p) for w, p, _ in got} >= {(k, int(t)) for k, t in enumerate(targets)}
    again = MultiIndexHash.from_arrays(index.arrays())
    again.use_numba = search_loop
    assert _pairs(again.range_search(queries, 31)) == got
    # 11 tables cover PDQ's radius: exact there too.
    wide = MultiIndexHash(codes, flat=False, bits=bits, tables=11)
    wide.use_numba = search_loop
    assert wide.exact_within(31) and _pairs(wide.range_search(queries, 31)) == want
