"""The large-collection paths of ``dupes`` (issue 24), on real photos: the paths taken past tens of
thousands of files (streamed descriptors, inverted files) find what the exact in-memory paths find, and an
index written before the layout facts were stored still groups the same."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest

from framediff import find_duplicates
from framediff.collection import candidates
from framediff.collection.candidates import feature_pairs, list_source, pdq_pairs
from framediff.collection.fingerprint import measure_picture

from .conftest import photo_bgr

BASES = ["astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "page", "brick", "grass", "cell"]


def _variants() -> list[tuple[str, np.ndarray]]:
    """Each base photo, and copies of three of them (resized, mirrored, cropped, captioned)."""
    out = [(name, photo_bgr(name)) for name in BASES]
    a, c, r = photo_bgr("astronaut"), photo_bgr("coffee"), photo_bgr("rocket")
    captioned = c.copy()
    cv2.putText(captioned, "SALE 2026", (40, 120), cv2.FONT_HERSHEY_DUPLEX, 2.0, (0, 255, 255), 6)
    out += [
        ("astronaut-small", cv2.resize(a, (256, 256), interpolation=cv2.INTER_AREA)),
        ("astronaut-mirrored", cv2.flip(a, 1)),
        ("astronaut-crop", a[60:460, 40:440].copy()),
        ("coffee-caption", captioned),
        ("rocket-crop", r[40:380, 100:560].copy()),
    ]
    return out


@pytest.fixture(scope="module")
def fingerprints() -> tuple[list[str], list]:
    named = _variants()
    return [n for n, _ in named], [measure_picture(img, n) for n, img in named]


def _named(pairs: dict, names: list[str]) -> set[frozenset[str]]:
    return {frozenset((names[a], names[b])) for a, b in pairs}


def test_streamed_feature_votes_across_chunks_equal_the_votes_of_one_chunk(fingerprints, monkeypatch) -> None:
    names, fps = fingerprints
    source = list_source([f.features for f in fps], [f.mirrored for f in fps])
    whole = feature_pairs(len(fps), source)
    monkeypatch.setattr(candidates, "CHUNK", 3)  # a file's copies lie in other chunks than the file
    streamed = feature_pairs(len(fps), source)
    assert streamed == whole
    found = _named(whole, names)
    for copy in ("astronaut-small", "astronaut-mirrored", "astronaut-crop", "rocket-crop"):
        assert frozenset((copy.split("-")[0], copy)) in found, copy


def test_large_collection_feature_budget_keeps_the_strongest_corners_of_crops(fingerprints, monkeypatch) -> None:
    names, fps = fingerprints
    # A "million files" budget here: 24 descriptors a file, the inverted file sized for its query cost.
    monkeypatch.setattr(candidates, "DESCRIPTOR_BUDGET", 24 * len(fps))
    monkeypatch.setattr(candidates, "BIG_INDEX", 100)
    monkeypatch.setattr(candidates, "IVF_FROM", 100)
    assert candidates.feature_cap(len(fps)) == 24
    found = _named(feature_pairs(len(fps), list_source([f.features for f in fps], [f.mirrored for f in fps])), names)
    # The strongest corners are the ones a copy keeps: resized and mirrored copies and a crop still vote.
    for copy in ("astronaut-small", "astronaut-mirrored", "astronaut-crop"):
        assert frozenset((copy.split("-")[0], copy)) in found, copy


def test_million_file_feature_budget_still_finds_most_half_area_crops(monkeypatch) -> None:
    # Each photo and four crops to half its area (71% x 71%, one in each corner): a crop keeps the
    # original's keypoints inside it at other ranks (its own strongest are finer corners the original's
    # feature picture cannot show), so few of its 8 strongest are among its original's 8 strongest.
    named = []
    for name in BASES:
        image = photo_bgr(name)
        h, w = image.shape[:2]
        ch, cw = int(h * 0.71), int(w * 0.71)
        named.append((name, image))
        for corner, (y, x) in {"tl": (0, 0), "tr": (0, w - cw), "bl": (h - ch, 0), "br": (h - ch, w - cw)}.items():
            named.append((f"{name}-{corner}", image[y : y + ch, x : x + cw].copy()))
    names = [n for n, _ in named]
    fps = [measure_picture(img, n) for n, img in named]
    # The budget of a million files: 8 descriptors a file, the inverted file sized for its query cost.
    monkeypatch.setattr(candidates, "DESCRIPTOR_BUDGET", 8 * len(fps))
    monkeypatch.setattr(candidates, "BIG_INDEX", 100)
    monkeypatch.setattr(candidates, "IVF_FROM", 100)
    assert candidates.feature_cap(len(fps)) == 8
    found = _named(feature_pairs(len(fps), list_source([f.features for f in fps], [f.mirrored for f in fps])), names)
    crops = [n for n in names if "-" in n]
    missed = [c for c in crops if frozenset((c.split("-")[0], c)) not in found]
    # Measured: 7 of the 40 are missed with 2 votes asked, 17 with 3 (the rule before); every
    # descriptor of every file (a collection under ~40k files) misses 1.
    assert len(missed) <= 10, missed


def test_pdq_inverted_file_finds_the_pairs_of_the_exact_search(fingerprints, monkeypatch) -> None:
    names, fps = fingerprints
    hashes = np.stack([f.pdq for f in fps])
    exact = pdq_pairs(hashes)
    monkeypatch.setattr(candidates, "PDQ_IVF_FROM", 2)
    monkeypatch.setattr(candidates, "PDQ_NPROBE", 4)
    approx = pdq_pairs(hashes)
    assert _named(exact, names) >= {frozenset(("astronaut", "astronaut-small")), frozenset(("astronaut", "astronaut-mirrored"))}
    # Copies of the whole frame lie in one of the few cells nearest their original.
    for pair, d in exact.items():
        if d <= 31:
            assert approx.get(pair) == d, _named({pair: d}, names)


def test_an_index_written_before_layout_facts_were_stored_groups_the_same(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    for name, image in _variants():
        assert cv2.imwrite(str(root / f"{name}.png"), image)
    db = tmp_path / "index.sqlite"
    first = find_duplicates([root], db=db)
    groups = {(os.path.basename(g.keep.path), tuple(sorted(os.path.basename(m.file.path) for m in g.duplicates)))
              for g in first.groups}  # fmt: skip
    assert ("astronaut.png", ("astronaut-crop.png", "astronaut-mirrored.png", "astronaut-small.png")) in groups
    # As an index of schema 3 holds it: no facts; and no stored run to answer from.
    with sqlite3.connect(db) as con:
        con.execute("UPDATE files SET grid = NULL, levels = NULL, framed = NULL")
        con.execute("DELETE FROM results")
    again = find_duplicates([root], db=db)
    assert again.fingerprinted == 0
    assert {(os.path.basename(g.keep.path), tuple(sorted(os.path.basename(m.file.path) for m in g.duplicates)))
            for g in again.groups} == groups  # fmt: skip
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM files WHERE grid IS NULL AND error IS NULL").fetchone()[0] == 0
