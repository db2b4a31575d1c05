"""Tests of ``framediff dupes`` (framediff.collection.dupes and the command) on a photo library the test
writes from ``skimage.data`` photos: copies of several kinds, unrelated photos, a stereo pair (two shots of
one scene), unreadable files; the SQLite index across runs; the command's outputs, actions and undo.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import skimage.data

from framediff import find_duplicates
from framediff.collection.index import SCHEMA_VERSION, Index

from .conftest import photo_bgr, run_framediff

REPO = Path(__file__).resolve().parents[1]

# Photos that are no copies of each other (textures and grey scans included: the hard negatives).
BASES = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "camera",
         "coins", "page", "moon", "brick", "grass", "gravel", "cell", "colorwheel"]  # fmt: skip


def _write(path: Path, image: np.ndarray, quality: int = 92) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix == ".jpg" else []
    assert cv2.imwrite(str(path), image, params)


def _caption(image: np.ndarray) -> np.ndarray:
    out = image.copy()
    h, w = out.shape[:2]
    cv2.putText(out, "SALE 2026", (w // 10, h // 4), cv2.FONT_HERSHEY_DUPLEX, w / 300, (0, 0, 0), max(3, w // 80))
    cv2.putText(out, "SALE 2026", (w // 10, h // 4), cv2.FONT_HERSHEY_DUPLEX, w / 300, (0, 255, 255), max(2, w // 160))
    return out


def _rotated(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    r = cv2.warpAffine(image, m, (w, h))
    k = 1 / (np.cos(np.radians(abs(degrees))) + np.sin(np.radians(abs(degrees))) * max(w, h) / min(w, h))
    cw, ch = int(w * k), int(h * k)
    return r[(h - ch) // 2 : (h + ch) // 2, (w - cw) // 2 : (w + cw) // 2].copy()


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[str, str]]]:
    """A library: every base photo once, copies of three of them, a stereo pair, unreadable files.

    Returns the folder and ``{copy: (original, kind)}`` (relative paths).
    """
    root = tmp_path_factory.mktemp("dupes") / "photos"
    for name in BASES:
        _write(root / "originals" / f"{name}.jpg", photo_bgr(name))
    a, c, r = photo_bgr("astronaut"), photo_bgr("coffee"), photo_bgr("rocket")
    copies = {
        "backup/astronaut-copy.jpg": ("originals/astronaut.jpg", "exact"),
        "phone/astronaut-small.jpg": ("originals/astronaut.jpg", "resized"),
        "phone/astronaut-selfie.png": ("originals/astronaut.jpg", "mirrored"),
        "shared/astronaut-crop.png": ("originals/astronaut.jpg", "cropped"),
        "shared/coffee-q20.jpg": ("originals/coffee.jpg", "recompressed"),
        "shared/coffee-caption.png": ("originals/coffee.jpg", "edited"),
        "2019/coffee-turned.png": ("originals/coffee.jpg", "rotated"),
        "2019/rocket-grey.png": ("originals/rocket.jpg", "recoloured"),
        "2019/rocket-tilted.jpg": ("originals/rocket.jpg", "rotated"),
        "2019/rocket-framed.png": ("originals/rocket.jpg", "bordered"),
    }
    (root / "backup").mkdir()
    (root / "backup" / "astronaut-copy.jpg").write_bytes((root / "originals" / "astronaut.jpg").read_bytes())
    _write(root / "phone/astronaut-small.jpg", cv2.resize(a, (256, 256), interpolation=cv2.INTER_AREA))
    _write(root / "phone/astronaut-selfie.png", cv2.flip(a, 1))
    _write(root / "shared/astronaut-crop.png", a[60:460, 40:440])
    _write(root / "shared/coffee-q20.jpg", c, quality=20)
    _write(root / "shared/coffee-caption.png", _caption(c))
    _write(root / "2019/coffee-turned.png", np.ascontiguousarray(np.rot90(c)))
    _write(root / "2019/rocket-grey.png", cv2.cvtColor(cv2.cvtColor(r, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR))
    _write(root / "2019/rocket-tilted.jpg", _rotated(r, 7))
    _write(root / "2019/rocket-framed.png", cv2.copyMakeBorder(r, 50, 50, 50, 50, cv2.BORDER_CONSTANT, value=(30, 200, 90)))
    # Two shots of one scene (a stereo pair): alike, but not copies of one picture.
    left, right, _ = skimage.data.stereo_motorcycle()
    _write(root / "originals/moto-left.jpg", cv2.cvtColor(left, cv2.COLOR_RGB2BGR))
    _write(root / "originals/moto-right.jpg", cv2.cvtColor(right, cv2.COLOR_RGB2BGR))
    # Unreadable files among the good ones.
    (root / "bad").mkdir()
    (root / "bad/empty.jpg").write_bytes(b"")
    (root / "bad/notes.jpg").write_bytes(b"this is text, not a picture\n" * 20)
    data = (root / "originals/coffee.jpg").read_bytes()
    (root / "bad/truncated.jpg").write_bytes(data[: len(data) // 2])
    # A decompression bomb: a valid PNG header declaring 100000 x 100000 pixels.
    png = bytearray(cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes())
    png[16:24] = (100000).to_bytes(4, "big") * 2
    (root / "bad/bomb.png").write_bytes(bytes(png))
    return root, copies


def _groups(report: object, root: Path) -> dict[str, dict[str, str]]:
    """``{kept: {member: relation}}`` with paths relative to ``root``."""
    return {
        os.path.relpath(g.keep.path, root): {os.path.relpath(m.file.path, root): m.relation for m in g.duplicates}
        for g in report.groups  # type: ignore[attr-defined]
    }


def test_copies_are_grouped_with_their_original_and_say_how(library, tmp_path) -> None:
    root, copies = library
    report = find_duplicates([root], db=tmp_path / "index.sqlite")
    groups = _groups(report, root)
    member_of = {m: (k, rel) for k, ms in groups.items() for m, rel in ms.items()}
    for copy, (original, kind) in copies.items():
        # The exact copy may be the kept one (same bytes): then the original is its member.
        if kind == "exact" and copy in groups:
            assert groups[copy].get(original) == "exact"
            continue
        assert copy in member_of, f"{copy} ({kind}) not grouped: {groups}"
        kept, relation = member_of[copy]
        originals = {original, "backup/astronaut-copy.jpg"} if "astronaut" in original else {original}
        assert kept in originals, f"{copy} kept with {kept}"
        assert relation == kind, f"{copy}: {relation}, expected {kind}"
    # No chains, no unrelated photos: each group holds copies of one original only.
    for kept, members in groups.items():
        stems = {Path(p).name.split("-")[0].split(".")[0] for p in [kept, *members]}
        assert len(stems) == 1, f"unrelated pictures grouped: {kept} {members}"
    # The stereo pair is two shots, not copies.
    assert "originals/moto-left.jpg" not in member_of and "originals/moto-right.jpg" not in member_of
    edited = member_of["shared/coffee-caption.png"]
    assert edited[1] == "edited"
    caption = next(m for g in report.groups for m in g.duplicates if m.file.path.endswith("coffee-caption.png"))
    # The caption's box lies in the top part of the picture, where it was drawn.
    assert caption.regions and all(y < 200 for _, y, _, _ in caption.regions)
    crop = next(m for g in report.groups for m in g.duplicates if m.file.path.endswith("astronaut-crop.png"))
    x, y, w, h = crop.transform["crop"]["b_in_a"]
    assert abs(x - 40) <= 12 and abs(y - 60) <= 12 and abs(w - 400) <= 20 and abs(h - 400) <= 20
    # Unreadable files are listed, each with a reason, and did not stop the run.
    bad = {Path(e.path).name: e.message for e in report.errors}
    assert set(bad) == {"empty.jpg", "notes.jpg", "truncated.jpg", "bomb.png"}
    assert "pixels" in bad["bomb.png"] and "truncated" in bad["truncated.jpg"]


def test_the_index_is_read_again_and_follows_changes(library, tmp_path) -> None:
    root, _ = library
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        _write(lib / f"{name}.jpg", photo_bgr(name))
    (lib / "copy.jpg").write_bytes((lib / "astronaut.jpg").read_bytes())
    db = tmp_path / "index.sqlite"
    first = find_duplicates([lib], db=db)
    assert first.fingerprinted == 4 and len(first.groups) == 1
    again = find_duplicates([lib], db=db)
    assert again.fingerprinted == 0 and _groups(again, lib) == _groups(first, lib)
    # A changed file is fingerprinted again; a deleted one leaves the index.
    _write(lib / "copy.jpg", cv2.resize(photo_bgr("chelsea"), (300, 200)))
    (lib / "coffee.jpg").unlink()
    third = find_duplicates([lib], db=db)
    assert third.fingerprinted == 1
    assert _groups(third, lib) == {"chelsea.jpg": {"copy.jpg": "resized"}}
    with sqlite3.connect(db) as con:
        paths = {Path(p).name for (p,) in con.execute("SELECT path FROM files")}
        assert paths == {"astronaut.jpg", "chelsea.jpg", "copy.jpg"}
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == str(SCHEMA_VERSION)


def test_an_index_from_a_newer_framediff_or_a_read_only_place_is_said_and_the_run_goes_on(tmp_path) -> None:
    lib = tmp_path / "lib"
    _write(lib / "a.jpg", photo_bgr("astronaut"))
    (lib / "b.jpg").write_bytes((lib / "a.jpg").read_bytes())
    db = tmp_path / "newer.sqlite"
    Index(db).close()
    with sqlite3.connect(db) as con:
        con.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION + 1),))
    report = find_duplicates([lib], db=db)
    assert len(report.groups) == 1 and "newer framediff" in report.warnings[0]
    with sqlite3.connect(db) as con:  # untouched
        assert con.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 0
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        report = find_duplicates([lib], db=ro / "index.sqlite")
        assert len(report.groups) == 1 and "index" in report.warnings[0]


def _run(*args: str, **kw: Any) -> subprocess.CompletedProcess:
    return run_framediff("dupes", *args, **kw)


def test_the_command_prints_json_and_csv_and_exits_1_on_duplicates(library, tmp_path) -> None:
    root, copies = library
    db = str(tmp_path / "i.sqlite")
    out = _run(str(root), "--db", db, "--json", "--csv", str(tmp_path / "d.csv"))
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    assert {"groups", "errors", "duplicates", "reclaimable"} <= set(data)
    members = {os.path.relpath(d["path"], root) for g in data["groups"] for d in g["duplicates"]}
    assert set(copies) - {"backup/astronaut-copy.jpg"} <= members | {"originals/astronaut.jpg"}
    assert all({"path", "relation", "transform", "score", "regions"} <= set(d) for g in data["groups"] for d in g["duplicates"])
    assert len(data["errors"]) == 4 and out.stderr.count("unreadable:") == 4
    rows = (tmp_path / "d.csv").read_text().splitlines()
    assert rows[0].startswith("group,role,path,relation") and len(rows) == 1 + len(data["groups"]) + len(members)
    # No duplicates: exit 0.
    solo = tmp_path / "solo"
    _write(solo / "x.jpg", photo_bgr("chelsea"))
    _write(solo / "y.jpg", photo_bgr("coffee"))
    assert _run(str(solo), "--db", db).returncode == 0


def test_bad_input_gets_one_line_and_status_2(library, tmp_path) -> None:
    root, _ = library
    out = _run(str(tmp_path / "missing"), "--db", str(tmp_path / "i.sqlite"))
    assert out.returncode == 2 and out.stderr.startswith("Error: ") and "Traceback" not in out.stderr
    target = root / "originals" / "coffee.jpg"
    before = target.read_bytes()
    out = _run(str(root), "--db", str(tmp_path / "i.sqlite"), "--csv", str(target))
    assert out.returncode == 2 and "would overwrite" in out.stderr and target.read_bytes() == before
    out = _run(str(root), "--db", str(tmp_path / "i.sqlite"), "--action", "delete", "--apply")
    assert out.returncode == 2 and "--yes" in out.stderr and target.read_bytes() == before
    out = _run(str(root), "--db", str(tmp_path / "i.sqlite"), "--keep", "prettiest")
    assert out.returncode == 2 and "keep" in out.stderr


def test_move_reference_folders_and_undo(tmp_path) -> None:
    lib, ref = tmp_path / "lib", tmp_path / "archive"
    _write(ref / "astronaut.jpg", photo_bgr("astronaut"))
    (lib / "trip").mkdir(parents=True)
    (lib / "trip" / "astronaut.jpg").write_bytes((ref / "astronaut.jpg").read_bytes())
    _write(lib / "coffee.jpg", photo_bgr("coffee"))
    _write(lib / "coffee-small.jpg", cv2.resize(photo_bgr("coffee"), (300, 200), interpolation=cv2.INTER_AREA))
    _write(lib / "coffee-caption.png", _caption(photo_bgr("coffee")))
    before = {p: p.read_bytes() for p in [*lib.rglob("*.*"), *ref.rglob("*.*")]}
    db, log, dest = str(tmp_path / "i.sqlite"), tmp_path / "moves.jsonl", tmp_path / "dupes"
    # --action alone is the plan: nothing moves until --apply.
    for flags in ([], ["--dry-run"]):
        plan = _run(str(lib), "--reference", str(ref), "--db", db, "--action", f"move:{dest}", *flags)
        assert plan.returncode == 1 and "dry run" in plan.stderr and not dest.exists()
        assert {p: p.read_bytes() for p in before} == before
    out = _run(str(lib), "--reference", str(ref), "--db", db, "--action", f"move:{dest}", "--apply", "--log", str(log))
    assert out.returncode == 1, out.stderr
    # The reference copy was kept and never touched; the library's copy of it moved, keeping its folder.
    assert (ref / "astronaut.jpg").exists() and (dest / "trip" / "astronaut.jpg").exists()
    assert not (lib / "trip" / "astronaut.jpg").exists()
    # The resized copy moved; the captioned one is edited and stays; the kept original stays.
    assert (dest / "coffee-small.jpg").exists() and (lib / "coffee-caption.png").exists() and (lib / "coffee.jpg").exists()
    assert log.exists() and all(json.loads(line) for line in log.read_text().splitlines())
    back = _run("--undo", str(log))
    assert back.returncode == 0, back.stderr
    assert {p: p.read_bytes() for p in before} == before


def test_ctrl_c_keeps_what_was_fingerprinted_and_the_next_run_resumes(tmp_path) -> None:
    lib = tmp_path / "lib"
    rng = np.random.default_rng(3)
    base = cv2.resize(photo_bgr("hubble_deep_field"), (1600, 1400))
    for i in range(120):  # different crops of a large photo: real decoding work for each
        x, y = rng.integers(0, 600), rng.integers(0, 500)
        _write(lib / f"f{i:03d}.png", np.ascontiguousarray(base[y : y + 900, x : x + 1000]))
    db = tmp_path / "i.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "framediff", "dupes", str(lib), "--db", str(db), "--jobs", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.3)
        try:
            with sqlite3.connect(db, timeout=1) as con:
                if con.execute("SELECT COUNT(*) FROM files").fetchone()[0] >= 5:
                    break
        except sqlite3.Error:
            continue
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Interrupted" in err
    with sqlite3.connect(db) as con:
        kept = con.execute("SELECT COUNT(*) FROM files WHERE error IS NULL").fetchone()[0]
    assert 5 <= kept < 120
    report = find_duplicates([lib], db=db)
    assert report.fingerprinted == 120 - kept and not report.errors


def test_one_layout_over_other_photos_is_no_copy(tmp_path) -> None:
    """Screens of one layout (clock, fields, buttons) over different, blurred photos share a layout and
    nothing else: no verdict may call one a mirrored, turned, cropped or bordered copy of another."""
    from framediff.collection.fingerprint import fingerprint_file
    from framediff.collection.verify import verify

    names = ["coffee", "chelsea", "astronaut", "rocket", "hubble_deep_field", "immunohistochemistry"]
    fps = {}
    for name in names:
        bg = cv2.GaussianBlur(cv2.resize(photo_bgr(name), (960, 600)), (0, 0), 40)
        cv2.putText(bg, "12:41", (400, 200), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
        cv2.rectangle(bg, (380, 300), (580, 330), (240, 240, 240), -1)
        cv2.rectangle(bg, (380, 350), (580, 380), (240, 240, 240), -1)
        for x in (420, 480, 540):
            cv2.circle(bg, (x, 260), 18, (60, 60, 60), -1)
        _write(tmp_path / f"{name}.jpg", bg)
        fps[name] = fingerprint_file(tmp_path / f"{name}.jpg")[0]
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            v = verify(fps[a], fps[b])
            assert v.relation not in ("mirrored", "rotated", "cropped", "bordered", "resized", "recompressed"), (a, b, v)


def test_pictures_drawn_in_their_transparency_are_told_apart(tmp_path) -> None:
    """Overlays that are white everywhere and drawn only in their alpha (desktop patterns meant to lie
    over a colour) are different pictures, not two blank ones; laid over white they would be."""
    for name, photo in (("waves", "coffee"), ("silk", "chelsea")):
        rgba = np.full((300, 400, 4), 255, np.uint8)
        rgba[..., 3] = cv2.resize(cv2.cvtColor(photo_bgr(photo), cv2.COLOR_BGR2GRAY), (400, 300)) // 2
        _write(tmp_path / "lib" / f"{name}.png", rgba)
    report = find_duplicates([tmp_path / "lib"], db=tmp_path / "i.sqlite")
    assert report.groups == [] and report.errors == []
