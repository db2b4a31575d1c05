"""Tests of ``framediff.collection.actions``: every action on a photo library the test writes, the dry run,
the log and undo, reference folders, edited copies, files changed since they were fingerprinted, Ctrl-C
(from a hook and a real SIGINT), a read-only folder and a cross-device move.

The reports are built directly from :class:`FileInfo`/:class:`Member` (what the finder would return), on
real JPEG/PNG files made from ``skimage.data`` photos.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from framediff.collection.actions import (
    apply_action,
    find_in_trash,
    move_target,
    parse_action,
    read_log,
    undo,
)
from framediff.collection.report import DuplicateReport, FileInfo, Group, Member, file_digest
from framediff.errors import OptionError, OutputError

from .conftest import photo_bgr

REPO = Path(__file__).resolve().parents[1]


def info(path: Path, reference: bool = False) -> FileInfo:
    """What the index would hold for ``path``."""
    st = path.stat()
    h, w = cv2.imread(str(path)).shape[:2]
    fmt = {".jpg": "jpeg", ".png": "png"}[path.suffix]
    return FileInfo(
        str(path), st.st_size, st.st_mtime, w, h, fmt, reference=reference, digest=file_digest(path)
    )


def write(path: Path, image, quality: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return path


def copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())
    return dst


def library(tmp_path: Path) -> tuple[DuplicateReport, dict[str, Path]]:
    """A library with a reference folder: exact copies, a resized copy, an edited copy, a re-encoded copy.

    Returns:
        The report and the files by role.
    """
    lib, ref = tmp_path / "lib", tmp_path / "ref"
    astro, coffee, cat, rocket = (photo_bgr(n) for n in ("astronaut", "coffee", "chelsea", "rocket"))
    f = {
        "a": write(lib / "a.jpg", astro),
        "b": write(lib / "b.png", coffee),
        "c": write(lib / "c.jpg", cat),
        "d": write(ref / "d.jpg", rocket),
    }
    f["a_copy"] = copy(f["a"], lib / "2020" / "trip" / "a_copy.jpg")
    f["a_small"] = write(
        lib / "2020" / "a_small.jpg", cv2.resize(astro, (256, 256), interpolation=cv2.INTER_AREA)
    )
    f["b_copy"] = copy(f["b"], lib / "sub" / "b_copy.png")
    edited = cat.copy()
    cv2.rectangle(edited, (40, 40), (140, 120), (0, 0, 255), -1)
    f["c_edit"] = write(lib / "c_edit.jpg", edited)
    f["c_q50"] = write(lib / "sub" / "c_q50.jpg", cat, quality=50)
    f["d_copy"] = copy(f["d"], lib / "d_copy.jpg")
    f["d_ref_copy"] = copy(f["d"], ref / "old" / "d_again.jpg")
    i = {k: info(p, reference=p.is_relative_to(ref)) for k, p in f.items()}
    groups = [
        Group(i["a"], [Member(i["a_copy"], "exact"), Member(i["a_small"], "resized", {"scale": 0.5})]),
        Group(i["b"], [Member(i["b_copy"], "exact")]),
        Group(
            i["c"],
            [Member(i["c_edit"], "edited", regions=[[40, 40, 101, 81]]), Member(i["c_q50"], "recompressed")],
        ),
        Group(i["d"], [Member(i["d_copy"], "exact"), Member(i["d_ref_copy"], "exact")]),
    ]
    return DuplicateReport(groups, files=len(f)), f


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: its bytes, mtime, inode and whether it is a link."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        data = p.read_bytes() if p.is_file() and not p.is_symlink() else None
        out[str(p.relative_to(root))] = (data, st.st_mtime_ns, st.st_ino, p.is_symlink())
    return out


def no_temp_files(root: Path) -> None:
    left = [p for p in root.rglob("*") if ".framediff-" in p.name or ".partial-" in p.name]
    assert not left, left


def log_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


ACTED = {"a_copy", "a_small", "b_copy", "c_q50", "d_copy"}  # not kept, not reference, not edited
EXACT = {"a_copy", "b_copy", "d_copy"}


# -- the plan --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["move:{t}/dupes", "trash", "hardlink", "symlink", "delete"])
def test_a_dry_run_touches_nothing_and_lists_what_it_would_do(tmp_path: Path, spec: str) -> None:
    report, f = library(tmp_path)
    before = snapshot(tmp_path)
    plan = apply_action(report, spec.format(t=tmp_path), roots=[tmp_path / "lib", tmp_path / "ref"])
    assert snapshot(tmp_path) == before
    assert plan.dry_run and plan.log is None
    planned = {Path(s.path) for s in plan.planned}
    want = EXACT if spec in ("hardlink", "symlink") else ACTED
    assert planned == {f[k] for k in want}
    assert plan.bytes == sum(f[k].stat().st_size for k in want)
    reasons = {Path(s.path).name: s.reason for s in plan.skipped}
    assert "reference" in reasons["d_again.jpg"]
    assert "edited" in reasons["c_edit.jpg"]
    if spec in ("hardlink", "symlink"):
        assert "not a byte-identical copy" in reasons["a_small.jpg"]
        assert "not a byte-identical copy" in reasons["c_q50.jpg"]
    assert not plan.failed


def test_parse_action_and_its_errors() -> None:
    assert parse_action("move:/x/y") == ("move", "/x/y")
    assert parse_action("TRASH") == ("trash", None)
    for bad in ("move", "move:", "burn", "delete:/x"):
        with pytest.raises(OptionError):
            parse_action(bad)


def test_move_target_keeps_the_path_under_the_deepest_root(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    assert move_target(lib / "2020" / "x.jpg", "/d", [lib]) == Path("/d/2020/x.jpg")
    assert move_target(lib / "2020" / "x.jpg", "/d", [lib, lib / "2020"]) == Path("/d/x.jpg")
    assert move_target(lib / "x.jpg", "/d", [lib / "x.jpg"]) == Path("/d/x.jpg")  # a file given as a root
    assert move_target("/elsewhere/x.jpg", "/d", [lib]) == Path("/d/elsewhere/x.jpg")
    assert (
        move_target(tmp_path / "libx" / "y.jpg", "/d", [lib]) == Path("/d") / str(tmp_path / "libx/y.jpg")[1:]
    )


# -- each action and its undo ------------------------------------------------------------------------------


def test_move_keeps_the_layout_logs_first_and_undo_puts_every_byte_back(tmp_path: Path) -> None:
    report, f = library(tmp_path)
    before = snapshot(tmp_path)
    dest, log = tmp_path / "dupes", tmp_path / "move.jsonl"
    out = apply_action(
        report, f"move:{dest}", roots=[tmp_path / "lib", tmp_path / "ref"], dry_run=False, log_path=log
    )
    assert {Path(s.path) for s in out.done} == {f[k] for k in ACTED}
    for k in ACTED:
        target = dest / f[k].relative_to(tmp_path / "lib")
        assert not f[k].exists() and target.read_bytes() == before[str(f[k].relative_to(tmp_path))][0]
    for k in ("a", "b", "c", "d", "c_edit", "d_ref_copy"):  # kept, edited, reference: untouched
        assert snapshot(f[k].parent)[f[k].name] == before[str(f[k].relative_to(tmp_path))]

    recs = log_records(log)
    assert recs[0]["type"] == "begin" and recs[-1]["type"] == "end" and recs[-1]["interrupted"] is False
    intents = [r for r in recs if r["type"] == "intent"]
    assert len(intents) == len(ACTED)
    for r in intents:
        assert {"op", "path", "target", "kept", "size", "digest", "time"} <= r.keys()
        done = [i for i, x in enumerate(recs) if x.get("seq") == r["seq"] and x["type"] == "done"]
        assert len(done) == 1 and done[0] > recs.index(r)  # the intent is written before the action
        assert r["digest"] == file_digest(r["target"])

    back = undo(log)
    assert len(back.done) == len(ACTED) and not back.failed
    after = snapshot(tmp_path)
    after.pop("move.jsonl")
    assert {k: v[0] for k, v in after.items()} == {
        k: v[0] for k, v in before.items()
    }  # every byte, no folder left
    assert not dest.exists() or not any(dest.iterdir())
    again = undo(log)
    assert not again.done and all(s.reason == "undone already" for s in again.skipped)


@pytest.mark.parametrize("op", ["hardlink", "symlink"])
def test_links_replace_only_byte_identical_copies_and_undo_makes_them_copies_again(
    tmp_path: Path, op: str
) -> None:
    report, f = library(tmp_path)
    f["a_copy"].chmod(0o600)
    os.utime(f["a_copy"], (1_500_000_000, 1_500_000_000))
    report.groups[0].duplicates[0].file = info(f["a_copy"])
    before = snapshot(tmp_path)
    log = tmp_path / "links.jsonl"
    out = apply_action(report, op, dry_run=False, log_path=log)
    assert {Path(s.path) for s in out.done} == {f[k] for k in EXACT}
    for k in EXACT:
        kept = {"a_copy": "a", "b_copy": "b", "d_copy": "d"}[k]
        if op == "symlink":
            assert f[k].is_symlink() and os.readlink(f[k]) == str(f[kept])
        else:
            assert not f[k].is_symlink() and f[k].stat().st_ino == f[kept].stat().st_ino
        assert f[k].read_bytes() == f[kept].read_bytes()
    assert (
        snapshot(tmp_path)["lib/2020/a_small.jpg"] == before["lib/2020/a_small.jpg"]
    )  # resized: kept its pixels
    no_temp_files(tmp_path)
    again = apply_action(report, op)  # a second run finds the links and leaves them
    assert not again.planned
    assert {s.reason for s in again.skipped if Path(s.path).name in ("a_copy.jpg", "b_copy.png")} == {
        "already the kept file under another name (a link)"
    }

    back = undo(log)
    assert len(back.done) == 3 and not back.failed
    for k in EXACT:
        assert not f[k].is_symlink() and f[k].stat().st_nlink == 1
        assert f[k].read_bytes() == before[str(f[k].relative_to(tmp_path))][0]
    st = f["a_copy"].stat()
    assert (st.st_mode & 0o777, st.st_mtime) == (0o600, 1_500_000_000)  # its own mode and date again


def test_delete_needs_confirmation_and_cannot_be_undone(tmp_path: Path) -> None:
    report, f = library(tmp_path)
    with pytest.raises(OptionError, match="confirmation"):
        apply_action(report, "delete", dry_run=False, log_path=tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists() and all(p.exists() for p in f.values())
    log = tmp_path / "del.jsonl"
    out = apply_action(report, "delete", dry_run=False, confirmed=True, log_path=log)
    assert {Path(s.path) for s in out.done} == {f[k] for k in ACTED}
    assert all(not f[k].exists() for k in ACTED) and all(f[k].exists() for k in f.keys() - ACTED)
    back = undo(log)
    assert len(back.failed) == len(ACTED) and all("cannot be undone" in s.reason for s in back.failed)


def test_an_existing_log_is_never_overwritten(tmp_path: Path) -> None:
    report, f = library(tmp_path)
    log = tmp_path / "old.jsonl"
    log.write_text("mine\n")
    with pytest.raises(OutputError, match="exists already"):
        apply_action(report, "trash", dry_run=False, log_path=log)
    assert log.read_text() == "mine\n" and all(p.exists() for p in f.values())


TRASH_SCRIPT = """
import pickle, sys, json
from framediff.collection.actions import apply_action, undo, find_in_trash
report = pickle.load(open(sys.argv[1], "rb"))
out = apply_action(report, "trash", dry_run=False, log_path=sys.argv[2])
found = {s.path: str(find_in_trash(s.path)[0]) for s in out.done}
print(json.dumps({"done": [s.path for s in out.done], "found": found}))
"""


def test_trash_goes_to_the_desktop_trash_and_undo_takes_it_back(tmp_path: Path) -> None:
    """In a child process whose freedesktop.org trash is in tmp_path (send2trash reads XDG_DATA_HOME
    when imported), so the user's own trash is left alone."""
    pytest.importorskip("send2trash", reason="send2trash is not installed (pip install -e '.[dev]')")
    if sys.platform in ("win32", "darwin"):
        pytest.skip("the freedesktop.org trash is Linux's")
    report, f = library(tmp_path)
    before = snapshot(tmp_path / "lib")
    (tmp_path / "report.pickle").write_bytes(pickle.dumps(report))
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "share"), "PYTHONPATH": str(REPO)}

    r = subprocess.run(
        [sys.executable, "-c", TRASH_SCRIPT, str(tmp_path / "report.pickle"), str(tmp_path / "t1.jsonl")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert set(res["done"]) == {str(f[k]) for k in ACTED}
    trash = tmp_path / "share" / "Trash"
    for k in ACTED:
        assert not f[k].exists()
        in_trash = Path(res["found"][str(f[k])])
        assert (
            in_trash.parent == trash / "files"
            and in_trash.read_bytes() == before[str(f[k].relative_to(tmp_path / "lib"))][0]
        )
    done = [r for r in log_records(tmp_path / "t1.jsonl") if r["type"] == "done"]
    assert all(r["trash_file"].startswith(str(trash)) for r in done)
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from framediff.collection.actions import undo; "
            "b = undo(sys.argv[1]); print(len(b.done), len(b.failed))",
            str(tmp_path / "t1.jsonl"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.stdout.split() == [str(len(ACTED)), "0"], r.stderr
    assert {k: v[0] for k, v in snapshot(tmp_path / "lib").items()} == {k: v[0] for k, v in before.items()}
    assert not any((trash / "files").iterdir()) and not any((trash / "info").iterdir())


def test_undo_of_a_trash_without_the_trash_says_so(tmp_path: Path) -> None:
    """A trashed file the trash no longer holds (emptied, or another system's trash) is a failed step
    with the reason, and nothing else is touched."""
    report, f = library(tmp_path)
    log = tmp_path / "t.jsonl"
    lines = [
        {"type": "begin", "version": 1, "action": "trash"},
        {
            "type": "intent",
            "seq": 1,
            "op": "trash",
            "path": str(tmp_path / "gone.jpg"),
            "target": None,
            "kept": str(f["a"]),
            "size": 10,
            "digest": "0" * 32,
            "mtime": 0,
            "mode": 0o644,
        },
        {"type": "done", "seq": 1},
    ]
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert find_in_trash(tmp_path / "gone.jpg") is None
    back = undo(log)
    assert len(back.failed) == 1 and "restore it from the desktop's trash" in back.failed[0].reason


# -- what is never acted on ----------------------------------------------------------------------------------


def test_reference_files_and_kept_files_are_never_touched_even_when_listed_as_duplicates(
    tmp_path: Path,
) -> None:
    report, f = library(tmp_path)
    i = info(f["b"])
    # A finder bug listing a kept file (of another group) or the kept file itself as a duplicate.
    report.groups[0].duplicates.append(Member(i, "exact"))
    report.groups[1].duplicates.append(Member(info(f["b"]), "exact"))
    before = snapshot(tmp_path)
    out = apply_action(
        report, "delete", dry_run=False, confirmed=True, include_edited=True, log_path=tmp_path / "l.jsonl"
    )
    after = snapshot(tmp_path)
    for k in ("a", "b", "c", "d", "d_ref_copy"):
        rel = str(f[k].relative_to(tmp_path))
        assert after[rel] == before[rel]
    assert [s.reason for s in out.skipped if Path(s.path) == f["b"]] == ["it is a kept file"] * 2
    assert not f["c_edit"].exists()  # include_edited acts on edited copies


def test_a_file_changed_since_it_was_fingerprinted_is_rechecked(tmp_path: Path) -> None:
    report, f = library(tmp_path)
    # Only touched: its bytes re-check against the digest and it is acted on.
    os.utime(f["a_copy"], (time.time() + 100, time.time() + 100))
    # Rewritten: skipped.
    f["b_copy"].write_bytes(f["b_copy"].read_bytes() + b"\0")
    # The kept file changed: its duplicates are left alone.
    write(f["d"], photo_bgr("camera"))
    out = apply_action(
        report,
        f"move:{tmp_path / 'm'}",
        roots=[tmp_path / "lib"],
        dry_run=False,
        log_path=tmp_path / "l.jsonl",
    )
    reasons = {Path(s.path).name: s.reason for s in out.skipped}
    assert "a_copy.jpg" in {Path(s.path).name for s in out.done}
    assert "changed since it was fingerprinted" in reasons["b_copy.png"] and f["b_copy"].exists()
    assert (
        reasons["d_copy.jpg"] == "the kept file changed since it was fingerprinted" and f["d_copy"].exists()
    )

    # A caller's own re-check decides for a file whose size or mtime changed.
    report, f = library(tmp_path / "2")
    for k in ("a_copy", "b_copy"):
        os.utime(f[k], (time.time() + 100, time.time() + 100))
    asked = []

    def recheck(path: str) -> bool:
        asked.append(Path(path).name)
        return path.endswith("a_copy.jpg")

    plan = apply_action(report, "trash", recheck=recheck)
    assert sorted(asked) == ["a_copy.jpg", "b_copy.png"]
    assert {Path(s.path).name for s in plan.planned} >= {"a_copy.jpg"}
    assert "b_copy.png" in {Path(s.path).name for s in plan.skipped}

    # A file changed without a digest to re-check it against is skipped.
    report.groups[1].duplicates[0].file.digest = None
    plan = apply_action(report, "trash")
    assert "b_copy.png" in {Path(s.path).name for s in plan.skipped}


def test_a_kept_file_that_is_gone_protects_its_duplicates(tmp_path: Path) -> None:
    report, f = library(tmp_path)
    f["a"].unlink()
    out = apply_action(report, "delete", dry_run=False, confirmed=True, log_path=tmp_path / "l.jsonl")
    assert f["a_copy"].exists() and f["a_small"].exists()
    assert {s.reason for s in out.skipped if Path(s.kept) == f["a"]} == {"the kept file no longer exists"}


# -- Ctrl-C --------------------------------------------------------------------------------------------------


def check_consistent(log: Path, root: Path) -> list[dict]:
    """The log of a stopped run: every intent has its outcome and the files agree with it."""
    begin, intents = read_log(log)
    for r in intents:
        assert r["outcome"] in ("done", "failed"), r
        if r["outcome"] == "done" and r["op"] == "move":
            assert not os.path.lexists(r["path"]) and file_digest(r["target"]) == r["digest"]
    assert log_records(log)[-1] == {**log_records(log)[-1], "type": "end", "interrupted": True}
    no_temp_files(root)
    return intents


def test_ctrl_c_between_files_leaves_a_consistent_log_and_undo_works(tmp_path: Path) -> None:
    report, f = library(tmp_path)
    before = snapshot(tmp_path)
    log = tmp_path / "l.jsonl"
    seen = []

    def hook(step) -> None:
        seen.append(step)
        if sum(s.status == "done" for s in seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        apply_action(
            report,
            f"move:{tmp_path / 'm'}",
            roots=[tmp_path / "lib"],
            dry_run=False,
            log_path=log,
            on_step=hook,
        )
    intents = check_consistent(log, tmp_path)
    assert len(intents) == 2
    moved = [p for k, p in f.items() if not p.exists()]
    assert len(moved) == 2
    undo(log)
    after = snapshot(tmp_path)
    assert {k: v[0] for k, v in after.items() if not k.endswith(".jsonl")} == {
        k: v[0] for k, v in before.items()
    }


SIGINT_SCRIPT = """
import pickle, sys, time
from framediff.collection.actions import apply_action
report = pickle.load(open(sys.argv[1], "rb"))
print("ready", flush=True)
apply_action(report, "move:" + sys.argv[2], roots=[sys.argv[3]], dry_run=False, log_path=sys.argv[4],
             on_step=lambda s: time.sleep(0.002))
"""


def test_a_real_sigint_during_a_cross_device_move_leaves_no_half_done_file(tmp_path: Path) -> None:
    """Big files moved to another file system (copied, fsynced, renamed, removed): SIGINT arrives in the
    middle of one; that file is finished, the log says so, the rest are untouched, undo restores all."""
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system (/dev/shm) to move to")
    import numpy as np

    lib = tmp_path / "lib"
    big = cv2.resize(photo_bgr("astronaut"), (1200, 1200))
    noise = np.random.default_rng(1).integers(0, 40, big.shape, dtype=np.uint8)
    kept = write(lib / "kept.png", cv2.add(big, noise))
    copies = [copy(kept, lib / f"d{i // 10}" / f"copy{i:02d}.png") for i in range(30)]
    ki = info(kept)
    report = DuplicateReport([Group(ki, [Member(info(c), "exact") for c in copies])])
    (tmp_path / "r.pickle").write_bytes(pickle.dumps(report))
    dest = other / f"framediff-test-{os.getpid()}-{time.monotonic_ns()}"
    log = tmp_path / "l.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", SIGINT_SCRIPT, str(tmp_path / "r.pickle"), str(dest), str(lib), str(log)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not log.exists() or log.read_text().count('"intent"') < 5):
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode != 0 and "KeyboardInterrupt" in err
        intents = check_consistent(log, tmp_path)
        no_temp_files(dest)
        assert 5 <= len(intents) < 30
        for c in copies:  # each file is in one place, whole
            target = dest / c.relative_to(lib)
            assert c.exists() != target.exists()
            assert file_digest(c if c.exists() else target) == ki.digest
        back = undo(log)
        assert len(back.done) == len(intents) and not back.failed
        assert all(file_digest(c) == ki.digest for c in copies)
        assert not dest.exists() or not any(dest.rglob("*.png"))
    finally:
        subprocess.run(["rm", "-rf", str(dest)], check=False)


# -- the system says no ----------------------------------------------------------------------------------------


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def read_only_copies(tmp_path: Path):
    """A folder holding copies that cannot be removed: a read-only bind mount as root (who ignores
    permissions), else a folder without write permission."""
    src, ro = tmp_path / "ro-src", tmp_path / "ro"
    src.mkdir(), ro.mkdir()
    write(src / "locked.jpg", photo_bgr("astronaut"))
    if os.geteuid() != 0:
        src.chmod(0o555)
        yield src
        src.chmod(0o755)
        return
    if not (_mount("--bind", str(src), str(ro)) and _mount("-o", "remount,ro,bind", str(ro))):
        subprocess.run(["umount", str(ro)], capture_output=True)
        pytest.skip("cannot mount a read-only folder here")
    yield ro
    subprocess.run(["umount", str(ro)], check=True)


@pytest.mark.parametrize("spec", ["move:{t}/m", "delete", "hardlink"])
def test_a_read_only_folder_is_a_per_file_error_and_the_others_go_on(
    tmp_path: Path, read_only_copies: Path, spec: str
) -> None:
    lib = tmp_path / "lib"
    kept = copy(read_only_copies / "locked.jpg", lib / "kept.jpg")
    free = copy(kept, lib / "free.jpg")
    report = DuplicateReport(
        [
            Group(
                info(kept),
                [Member(info(read_only_copies / "locked.jpg"), "exact"), Member(info(free), "exact")],
            )
        ]
    )
    out = apply_action(
        report,
        spec.format(t=tmp_path),
        roots=[tmp_path],
        dry_run=False,
        confirmed=True,
        log_path=tmp_path / "l.jsonl",
    )
    assert [Path(s.path).name for s in out.failed] == ["locked.jpg"] and "not writable" in out.failed[
        0
    ].reason
    assert [Path(s.path).name for s in out.done] == ["free.jpg"]
    assert (read_only_copies / "locked.jpg").exists()


def test_an_os_refusal_mid_action_is_a_per_file_error(tmp_path: Path) -> None:
    """A hard link across file systems is refused by the system itself: that file fails, the others go on."""
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system (/dev/shm)")
    far = other / f"framediff-test-{os.getpid()}-{time.monotonic_ns()}"
    try:
        kept_far = write(far / "kept.jpg", photo_bgr("coffee"))
        near = copy(kept_far, tmp_path / "near.jpg")
        kept = write(tmp_path / "k.jpg", photo_bgr("chelsea"))
        ok = copy(kept, tmp_path / "sub" / "k2.jpg")
        report = DuplicateReport(
            [
                Group(info(kept_far), [Member(info(near), "exact")]),
                Group(info(kept), [Member(info(ok), "exact")]),
            ]
        )
        log = tmp_path / "l.jsonl"
        out = apply_action(report, "hardlink", dry_run=False, log_path=log)
        assert [Path(s.path).name for s in out.failed] == ["near.jpg"] and "cross-device" in out.failed[
            0
        ].reason.lower()
        assert [Path(s.path).name for s in out.done] == ["k2.jpg"]
        assert near.read_bytes() == kept_far.read_bytes() and near.stat().st_nlink == 1
        assert [r["type"] for r in log_records(log)] == ["begin", "intent", "failed", "intent", "done", "end"]
        no_temp_files(tmp_path)
    finally:
        subprocess.run(["rm", "-rf", str(far)], check=False)


def test_a_cross_device_move_and_its_undo(tmp_path: Path) -> None:
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system (/dev/shm)")
    report, f = library(tmp_path)
    before = snapshot(tmp_path)
    dest = other / f"framediff-test-{os.getpid()}-{time.monotonic_ns()}"
    try:
        log = tmp_path / "l.jsonl"
        out = apply_action(report, f"move:{dest}", roots=[tmp_path / "lib"], dry_run=False, log_path=log)
        assert len(out.done) == len(ACTED)
        for k in ACTED:
            assert (dest / f[k].relative_to(tmp_path / "lib")).read_bytes() == before[
                str(f[k].relative_to(tmp_path))
            ][0]
        undo(log)
        after = snapshot(tmp_path)
        assert {k: v[0] for k, v in after.items() if k != "l.jsonl"} == {k: v[0] for k, v in before.items()}
    finally:
        subprocess.run(["rm", "-rf", str(dest)], check=False)
