"""Files in and out, as an unlucky user or an attacker meets them (issue 19): no output overwrites an input
or another output, whatever its name; a picture that declares a huge size is refused from its header;
a full or read-only disk is one error line and leaves nothing half-written; a failed run leaves no empty
or truncated output behind."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from framediff.cli import main
from framediff.errors import OutputError
from framediff.paths import check_outputs

from .conftest import photo_bgr

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def run(args: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI in this process; its exit status, stdout and stderr."""
    with pytest.raises(SystemExit) as e:
        main(args)
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def one_error(err: str, *words: str) -> str:
    """The single ``Error:`` line of ``err`` (nothing else on stderr), holding ``words``."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert all(w in lines[0] for w in words), err
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (``None`` for folders), to see what a run changed."""
    return {
        p.relative_to(folder).as_posix(): (None if p.is_dir() else p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if not p.is_symlink()
    }


# -- item 2: outputs never overwrite inputs, nor each other --------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder with a video, two photos, a mask, a reference picture and a settings file."""
    shutil.copy(SAMPLES / "camera.mp4", tmp_path / "camera.mp4")
    shutil.copy(SAMPLES / "shelf_a.jpg", tmp_path / "a.jpg")
    shutil.copy(SAMPLES / "shelf_b.jpg", tmp_path / "b.jpg")
    first = cv2.VideoCapture(str(tmp_path / "camera.mp4")).read()[1]
    cv2.imwrite(str(tmp_path / "ref.png"), first)
    mask = np.zeros(first.shape[:2], np.uint8)
    mask[:20] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    (tmp_path / "a.json").write_text(json.dumps({"ignore_boxes": [], "zones": {}}))
    (tmp_path / "frames").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "frames" / f"f{i}.png"), np.roll(first, 40 * i, axis=1))
    return tmp_path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["watch", "camera.mp4", "--ignore", "mask.png", "--events", "mask.png"], ["--events", "--ignore"]),
        (
            ["watch", "camera.mp4", "--reference", "ref.png", "--regions", "ref.png"],
            ["--regions", "--reference"],
        ),
        (["watch", "camera.mp4", "--config", "a.json", "--events", "a.json"], ["--events", "--config"]),
        (["watch", "camera.mp4", "--config", "a.json", "--serve", "0", "--regions", "a.json"], ["--config"]),
        (["watch", "camera.mp4", "--events", "e.jsonl", "--regions", "e.jsonl"], ["--regions", "--events"]),
        (["watch", "frames", "--snapshots", "frames/"], ["--snapshots", "SOURCE"]),
        (["watch", "frames/*.png", "--events", "frames/f1.png"], ["--events", "SOURCE", "f1.png"]),
        (["dedup", "frames", "-o", "kept", "--report", "frames/f2.png"], ["--report", "INPUT", "f2.png"]),
        (["compare", "a.jpg", "b.jpg", "--ignore", "mask.png", "-o", "mask.png"], ["-o", "--ignore"]),
        (["compare", "a.jpg", "b.jpg", "-o", "x.png", "--mask", "x.png"], ["--mask", "-o"]),
        (["compare", "a.jpg", "b.jpg", "--heatmap", "b.jpg"], ["--heatmap", "B"]),
        (["dedup", "camera.mp4", "-o", "same.mp4", "--report", "same.mp4"], ["--report", "-o"]),
        (
            ["dedup", "camera.mp4", "--dry-run", "--report", "x.png", "--plot", "x.png"],
            ["--plot", "--report"],
        ),
        (["dedup", "camera.mp4", "-o", "out.mp4", "--report", "camera.mp4"], ["--report", "INPUT"]),
    ],
)
def test_an_output_that_is_an_input_or_another_output_is_refused(
    files: Path, capsys, monkeypatch, args: list[str], words: list[str]
) -> None:
    monkeypatch.chdir(files)
    before = snapshot(files)
    code, out, err = run(args, capsys)
    assert code == 2
    one_error(err, "would overwrite", *words)
    assert snapshot(files) == before, "a file was written, changed or removed"


@pytest.mark.parametrize("alias", ["dotdot", "symlink", "hardlink"])
def test_the_refusal_sees_through_dotdot_and_links(files: Path, capsys, monkeypatch, alias: str) -> None:
    """The mask and the video under other names: through ``..``, a symbolic link, a hard link."""
    (files / "sub").mkdir()
    for name in ("mask.png", "camera.mp4"):
        (files / f"soft-{name}").symlink_to(files / name)
        os.link(files / name, files / f"hard-{name}")
    prefix = {"dotdot": "sub/../", "symlink": "soft-", "hardlink": "hard-"}[alias]
    monkeypatch.chdir(files)
    before = snapshot(files)
    for args in (
        ["watch", "camera.mp4", "--ignore", "mask.png", "--events", f"{prefix}mask.png"],
        ["compare", "a.jpg", "b.jpg", "--ignore", "mask.png", "--mask", f"{prefix}mask.png"],
        ["dedup", "camera.mp4", "--dry-run", "--report", f"{prefix}camera.mp4"],
        ["watch", "camera.mp4", "--record", f"{prefix}camera.mp4"],
    ):
        code, _, err = run(args, capsys)
        assert code == 2, args
        one_error(err, "would overwrite")
        assert snapshot(files) == before, args


def test_a_folder_compare_never_writes_over_a_picture_it_reads(files: Path, capsys) -> None:
    """``-o a/sub`` puts the diff of ``x.png`` at ``a/sub/x.png``, which is itself one of the pairs."""
    a, b = files / "A", files / "B"
    for d in (a / "sub", b / "sub"):
        d.mkdir(parents=True)
    pic, other = photo_bgr("coffee"), photo_bgr("coffee").copy()
    other[100:200, 100:200] = 0
    for name in ("x.png", "sub/x.png"):
        cv2.imwrite(str(a / name), pic)
        cv2.imwrite(str(b / name), other)
    before = snapshot(files)
    code, _, err = run(["compare", str(a), str(b), "-o", str(a / "sub")], capsys)
    assert code == 2
    one_error(err, "would overwrite", "sub/x.png")
    assert snapshot(files) == before


def test_check_outputs_allows_a_settings_file_read_and_saved_on_purpose(tmp_path: Path) -> None:
    cfg = tmp_path / "a.json"
    cfg.write_text("{}")
    check_outputs([("--config", cfg), ("--events", tmp_path / "e.jsonl")], [("--config", cfg)])
    with pytest.raises(OutputError, match="would overwrite"):
        check_outputs([("--events", tmp_path / "x" / ".." / "a.json")], [("--config", cfg)])
    with pytest.raises(OutputError, match="own name"):  # two outputs, neither existing yet
        check_outputs([("-o", tmp_path / "n.png"), ("--mask", tmp_path / "." / "n.png")])


# -- item 14: a folder compare runs again into its existing output folders -----------------------------------


def test_a_folder_compare_runs_again_into_its_output_folders(tmp_path: Path, capsys) -> None:
    a, b, out, masks = tmp_path / "A", tmp_path / "B", tmp_path / "diffs", tmp_path / "masks"
    a.mkdir(), b.mkdir()
    pic = photo_bgr("coffee")
    other = pic.copy()
    cv2.rectangle(other, (100, 100), (220, 200), (0, 0, 0), -1)
    cv2.imwrite(str(a / "x.png"), pic)
    cv2.imwrite(str(b / "x.png"), other)
    cv2.imwrite(str(a / "x.jpg"), pic)  # x.jpg and x.png both give a picture: neither may hide the other
    cv2.imwrite(str(b / "x.jpg"), other)
    args = ["compare", str(a), str(b), "-o", str(out), "--mask", str(masks)]
    for _ in range(2):
        code, stdout, err = run(args, capsys)
        assert code == 1, err
        assert sorted(p.name for p in out.iterdir()) == ["x.jpg.png", "x.png"]
        assert sorted(p.name for p in masks.iterdir()) == ["x.jpg.png", "x.png"]
    mask = cv2.imread(str(masks / "x.png"), cv2.IMREAD_GRAYSCALE)
    assert mask[150, 160] == 255 and mask[350, 500] == 0
    # One pair of pictures: an existing folder as -o is a clear refusal, not click's.
    code, _, err = run(["compare", str(a / "x.png"), str(b / "x.png"), "-o", str(out)], capsys)
    assert code == 2
    one_error(err, "-o", "is a folder")


# -- item 3: decompression bombs are refused from the header; item 13: no libpng lines ----------------------


def png_bytes(width: int, height: int, rows: int | None = None) -> bytes:
    """A grey 8-bit PNG written chunk by chunk: all ``height`` rows of zeros, or only the first ``rows``
    (a small file that still declares the whole size)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte, then the pixels
    idat = b"".join(z.compress(row) for _ in range(height if rows is None else rows)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    """``tiny``: under a kilobyte, declares 60000x60000; ``real``: a complete 32000x32000 PNG (~1 MB)."""
    folder = tmp_path_factory.mktemp("bombs")
    tiny, real = folder / "tiny.png", folder / "real.png"
    tiny.write_bytes(png_bytes(60000, 60000, rows=8))
    real.write_bytes(png_bytes(32000, 32000))
    assert tiny.stat().st_size < 1000 and real.stat().st_size < 2_000_000
    return {"tiny": tiny, "real": real}


def run_measured(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str, int]:
    """Run the CLI in a fresh Python process; its exit status, stdout, stderr and peak memory (MB)."""
    code = (
        "import resource, sys\n"
        "from framediff.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    status = e.code\n"
        "sys.stdout.flush()\n"
        # VmHWM: this program's own peak (ru_maxrss would also count the test process it was forked from,
        # as it is kept across exec).
        "try:\n    kb = int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])\n"
        "except OSError:\n    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print('PEAK', kb // 1024, status, file=sys.stderr)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    lines = p.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("PEAK "), p.stderr
    _, peak, status = lines[-1].split()
    return int(status if status != "None" else 0), p.stdout, "\n".join(lines[:-1]) + "\n", int(peak)


@pytest.mark.parametrize("bomb", ["tiny", "real"])
@pytest.mark.parametrize("command", ["compare", "dedup", "watch"])
def test_a_picture_that_declares_a_huge_size_is_refused_from_its_header(
    bombs: dict[str, Path], tmp_path: Path, bomb: str, command: str
) -> None:
    path = bombs[bomb]
    args = {
        "compare": ["compare", str(path), str(SAMPLES / "same_a.png")],
        "dedup": ["dedup", str(path), "-o", str(tmp_path / "kept")],
        "watch": ["watch", str(path), "--events", "-"],
    }[command]
    code, out, err, peak = run_measured(args)
    assert code == 2
    one_error(err, str(path), "32000x32000" if bomb == "real" else "60000x60000", "over the limit of 200 MP")
    assert peak < 200, f"{peak} MB to refuse a picture"  # ~55 MB measured; decoding it took 3.9 GB
    assert not list(tmp_path.iterdir())


def test_folder_modes_report_the_bomb_and_go_on(bombs: dict[str, Path], tmp_path: Path, capsys) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    pic = photo_bgr("chelsea")
    for name in ("p1.png", "p2.png", "p3.png"):
        cv2.imwrite(str(a / name), pic)
        cv2.imwrite(str(b / name), pic)
    shutil.copy(bombs["tiny"], a / "p2.png")
    code, out, err = run(["compare", str(a), str(b)], capsys)
    assert code == 2
    assert "p1.png: identical" in out and "p3.png: identical" in out
    assert "p2.png: error:" in out and "60000x60000" in out and "over the limit" in out
    assert err.strip().startswith("Error: 1 of 3 pairs could not be compared")

    code, out, err = run(["dedup", str(a), "-o", str(tmp_path / "kept")], capsys)
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["p1.png", "p3.png"]  # the last is kept
    warning, summary = err.strip().splitlines()
    assert warning.startswith("Warning: ") and "p2.png" in warning and "over the limit" in warning
    assert summary.startswith("kept 2 of 2 images")


def test_the_limit_is_an_option_and_an_environment_variable(tmp_path: Path, capsys, monkeypatch) -> None:
    a = str(SAMPLES / "same_a.png")  # 451 x 300 = 135300 pixels
    code, _, err = run(["compare", a, a, "--max-pixels", "100k"], capsys)
    assert code == 2
    one_error(err, "451x300", "over the limit of 100000 pixels", "--max-pixels", "FRAMEDIFF_MAX_PIXELS")
    monkeypatch.setenv("FRAMEDIFF_MAX_PIXELS", "100000")
    code, _, err = run(["dedup", a, "--dry-run"], capsys)
    assert code == 2
    one_error(err, "over the limit of 100000 pixels")
    code, out, err = run(["compare", a, a, "--max-pixels", "140k"], capsys)  # the option wins
    assert code == 0 and "identical" in out
    monkeypatch.setenv("FRAMEDIFF_MAX_PIXELS", "lots")
    code, _, err = run(["compare", a, a], capsys)
    assert code == 2
    one_error(err, "FRAMEDIFF_MAX_PIXELS must be a pixel count")
    code, _, err = run(["compare", a, a, "--max-pixels", "-5"], capsys)
    assert code == 2
    one_error(err, "--max-pixels must be a pixel count")


@pytest.mark.parametrize("damage", ["truncated", "bit_flipped"])
def test_the_png_library_says_nothing_of_its_own(tmp_path: Path, damage: str) -> None:
    """A damaged PNG is one ``Error:`` line: libpng's own ``libpng error: ...`` is not printed."""
    ok, data = cv2.imencode(".png", photo_bgr("chelsea"))
    data = bytearray(data.tobytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x55
    bad = tmp_path / "bad.png"
    bad.write_bytes(bytes(data))
    for args in (
        ["compare", str(bad), str(SAMPLES / "same_a.png")],
        ["watch", str(bad), "--events", "-"],
        ["dedup", str(bad), "--dry-run"],
    ):
        code, _, err, _ = run_measured(args)
        assert code == 2, err
        one_error(err, "bad.png")
        assert "libpng error" not in err and "libpng warning" not in err


# -- item 4: a read-only or full disk is one error line, and leaves nothing half-written ---------------------


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def read_only(tmp_path: Path):
    """An empty folder nobody can write to: a read-only bind mount as root (who ignores permissions),
    else a folder without write permission."""
    src, ro = tmp_path / "ro-src", tmp_path / "ro"
    src.mkdir(), ro.mkdir()
    if os.geteuid() != 0:
        ro.chmod(0o555)
        yield ro
        ro.chmod(0o755)
        return
    if not (_mount("--bind", str(src), str(ro)) and _mount("-o", "remount,ro,bind", str(ro))):
        subprocess.run(["umount", str(ro)], capture_output=True)
        pytest.skip("cannot mount a read-only folder here")
    yield ro
    subprocess.run(["umount", str(ro)], check=True)


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 1 MB tmpfs filled but for ``free`` bytes (call it with the room to leave)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)):
        pytest.skip("cannot mount a small tmpfs here (needs root)")

    def fill(free: int) -> Path:
        (disk / "filler").write_bytes(b"\0" * (1024 * 1024 - free))  # tmpfs counts whole pages
        return disk

    yield fill
    subprocess.run(["umount", str(disk)], check=True)


def pair_folders(tmp_path: Path) -> tuple[Path, Path]:
    """Two folders holding one differing pair of photos."""
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(exist_ok=True), b.mkdir(exist_ok=True)
    pic = photo_bgr("coffee")
    cv2.imwrite(str(a / "x.png"), pic)
    cv2.rectangle(pic, (100, 100), (220, 200), (0, 0, 0), -1)
    cv2.imwrite(str(b / "x.png"), pic)
    return a, b


DISK_CASES = {
    "compare -o": ["compare", "{s}/shelf_a.jpg", "{s}/shelf_b.jpg", "-o", "{d}/x.png"],
    "compare folders -o": ["compare", "{t}/A", "{t}/B", "-o", "{d}/diffs"],
    "dedup video": ["dedup", "{s}/clip.mp4", "-o", "{d}/out.mp4"],
    "dedup folder": ["dedup", "{t}/A", "-o", "{d}/kept"],
    "dedup --report": ["dedup", "{s}/clip.mp4", "--dry-run", "--report", "{d}/r.csv"],
    "dedup --plot": ["dedup", "{s}/clip.mp4", "--dry-run", "--plot", "{d}/p.png"],
    "watch --events": ["watch", "{s}/camera.mp4", "--events", "{d}/e.jsonl"],
    "watch --regions": ["watch", "{s}/camera.mp4", "--regions", "{d}/r.jsonl"],
    "watch --snapshots": ["watch", "{s}/camera.mp4", "--snapshots", "{d}/snaps"],
    "watch --clips": ["watch", "{s}/camera.mp4", "--clips", "{d}/clips"],
    "watch --record": ["watch", "{s}/camera.mp4", "--record", "{d}/rec.mp4"],
}


@pytest.mark.parametrize("case", list(DISK_CASES))
def test_a_read_only_folder_is_one_error_line(read_only: Path, tmp_path: Path, case: str) -> None:
    pair_folders(tmp_path)
    args = [a.format(s=SAMPLES, t=tmp_path, d=read_only) for a in DISK_CASES[case]]
    code, _, err, _ = run_measured(args)
    assert code == 2, err
    one_error(err, "cannot write", str(read_only), "(free some space / choose another folder)")
    assert not list(read_only.iterdir())


@pytest.mark.parametrize(
    ("case", "free"),
    [
        ("compare -o", 20_000),
        ("compare folders -o", 20_000),
        ("dedup video", 20_000),
        ("dedup folder", 100_000),
        ("dedup --report", 1_000),
        ("dedup --plot", 10_000),
        ("watch --events", 200),
        ("watch --regions", 5_000),
        ("watch --snapshots", 30_000),
        ("watch --clips", 4_096),
        ("watch --record", 4_096),
    ],
)
def test_a_full_disk_is_one_error_line_and_leaves_only_whole_files(
    full_disk, tmp_path: Path, case: str, free: int
) -> None:
    pair_folders(tmp_path)
    cv2.imwrite(str(tmp_path / "A" / "y.png"), photo_bgr("astronaut"))  # kept too: more than fits
    disk = full_disk(free)
    args = [a.format(s=SAMPLES, t=tmp_path, d=disk) for a in DISK_CASES[case]]
    code, _, err, _ = run_measured(args)
    if case == "watch --clips":  # by design one lost clip does not end the watch: it is a warning
        assert code == 0, err
        assert "warning: --clips: cannot write" in err and "No space left on device" in err, err
    else:
        assert code == 2, err
        one_error(err, "cannot write", "No space left on device", "(free some space / choose another folder)")
    left = sorted(p for p in disk.rglob("*") if p.name != "filler")
    assert not [p for p in left if "partial" in p.name], left
    for p in left:
        if p.suffix == ".jsonl":  # written as it goes: whole lines only
            text = p.read_text()
            assert not text or text.endswith("\n")
            assert all(json.loads(line) for line in text.splitlines())
        elif p.is_file():
            pytest.fail(f"{p.name} was left on the full disk")


# -- items 11 and 12: a glob's namesakes all kept; a failed run leaves earlier outputs as they were ---------


def test_dedup_of_a_glob_keeps_files_of_one_name_from_two_folders(tmp_path: Path, capsys) -> None:
    for g in ("G1", "G2"):
        (tmp_path / g).mkdir()
        for i in range(2):
            pic = np.zeros((120, 160, 3), np.uint8)
            cv2.putText(pic, f"{g}{i}", (10, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
            cv2.imwrite(str(tmp_path / g / f"x{i}.png"), pic)
    code, _, err = run(["dedup", str(tmp_path / "G*" / "x*.png"), "-o", str(tmp_path / "kept")], capsys)
    assert code == 0, err
    assert "kept 4 of 4 images" in err
    kept = sorted(p.relative_to(tmp_path / "kept").as_posix() for p in (tmp_path / "kept").rglob("*.png"))
    assert kept == ["G1/x0.png", "G1/x1.png", "G2/x0.png", "G2/x1.png"]
    for name in kept:
        assert (tmp_path / "kept" / name).read_bytes() == (tmp_path / name).read_bytes()


@pytest.mark.parametrize(
    "failure",
    [
        ["{d}/missing.mp4"],
        ["{s}/camera.mp4", "--reference", "{d}/broken.png"],
        ["http://127.0.0.1:9/cam.ts", "--reconnect-timeout", "0.3", "--timeout", "1"],
    ],
)
def test_a_failed_watch_leaves_no_empty_output_and_no_truncated_events(
    tmp_path: Path, capsys, failure: list[str]
) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    events = tmp_path / "events.jsonl"
    events.write_text('{"event": "change_start", "id": 1}\n')  # from an earlier run
    before = snapshot(tmp_path)
    args = [a.format(d=tmp_path, s=SAMPLES) for a in failure]
    outs = ["--events", str(events), "--regions", str(tmp_path / "r.jsonl")]
    outs += ["--snapshots", str(tmp_path / "snaps"), "--clips", str(tmp_path / "clips")]
    code, _, err = run(["watch", *args, *outs, "-q"], capsys)
    assert code == 2
    one_error(err)
    assert snapshot(tmp_path) == before


def test_a_good_watch_without_events_still_leaves_its_files(tmp_path: Path, capsys) -> None:
    still = tmp_path / "still"
    still.mkdir()
    for i in range(4):
        cv2.imwrite(str(still / f"{i}.png"), photo_bgr("chelsea"))
    events = tmp_path / "events.jsonl"
    events.write_text('{"event": "change_start", "id": 1}\n')  # an earlier run's: replaced by this one's
    code, _, err = run(
        ["watch", str(still), "--events", str(events), "--snapshots", str(tmp_path / "s")], capsys
    )
    assert code == 0, err
    assert events.read_text() == ""
    assert (tmp_path / "s").is_dir()


def test_dedup_with_no_readable_picture_is_an_error_and_leaves_no_folder(
    bombs: dict[str, Path], tmp_path: Path, capsys
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(bombs["tiny"], bad / "a.png")
    (bad / "b.png").write_bytes(b"not a picture")
    code, _, err = run(
        ["dedup", str(bad), "-o", str(tmp_path / "kept"), "--report", str(tmp_path / "r.csv")], capsys
    )
    assert code == 2
    one_error(err, "no frame of", "could be read", "a.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]
