"""Fuzzing the readers: broken variants of the bundled samples through compare, dedup and watch.

Hundreds of variants of ``samples/*.jpg``, ``*.png``, ``clip.mp4`` and ``camera.mp4`` are made here with
a fixed seed: truncated, bit-flipped, and with header fields (PNG chunks, JPEG segments, MP4 boxes) set
to the values that break parsers (0, 1, too long, huge). Each goes through the commands as a user would
give it. Every run must end with exit status 0, 1 or 2 and never with a traceback, and no run may take
more than 2 GB of memory.

The runs are made in-process (``framediff.cli.main``), in a child Python process per command, so a
crash in a decoder's C code, a hang or a memory blow-up is caught and named without taking pytest down;
the child measures its own peak memory (``ru_maxrss``). A sample of the variants also goes through the
real ``python -m framediff`` entry point.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import shutil
import struct
import subprocess
import sys
import traceback
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
ROOT = SAMPLES.parent
SEED = 19
GB = 1 << 30
MEMORY_LIMIT = 2 * GB
IMAGES = {"same_a.png": "same_b.jpg", "same_b.jpg": "same_a.png", "shelf_a.jpg": "shelf_b.jpg", "shelf_b.jpg": "shelf_a.jpg"}  # fmt: skip
VIDEOS = ("clip.mp4", "camera.mp4")
# The values that break length and size fields: nothing, one, off by one around the truth, huge, sign bit.
EDGE_32 = (0, 1, 2, 7, 8, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


# -- mutations -------------------------------------------------------------------------------------------


def truncated(data: bytes, rng: np.random.Generator) -> bytes:
    """The file cut short: within the first bytes, in the header, or anywhere."""
    where = rng.choice(["tiny", "head", "any"], p=[0.2, 0.3, 0.5])
    if where == "tiny":
        n = int(rng.integers(1, 40))
    elif where == "head":
        n = int(rng.integers(40, min(len(data), 4096)))
    else:
        n = int(rng.integers(1, len(data)))
    return data[:n]


def bit_flipped(data: bytes, rng: np.random.Generator) -> bytes:
    """A few to many random bits flipped, in the header or anywhere."""
    buf = bytearray(data)
    span = min(len(buf), 2048) if rng.random() < 0.5 else len(buf)
    for _ in range(int(rng.integers(1, 64))):
        pos = int(rng.integers(0, span))
        buf[pos] ^= 1 << int(rng.integers(0, 8))
    return bytes(buf)


def _put32(buf: bytearray, pos: int, value: int) -> None:
    buf[pos : pos + 4] = struct.pack(">I", value & 0xFFFFFFFF)


def _edge32(rng: np.random.Generator, truth: int) -> int:
    near = [truth - 1, truth + 1, truth * 2, truth // 2]
    return int(rng.choice([*EDGE_32, *near, int(rng.integers(0, 1 << 32))]))


def png_chunks(data: bytes) -> list[tuple[int, int, bytes]]:
    """``(offset, length, type)`` of each chunk of a PNG (offset of the length field)."""
    out, pos = [], 8
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        out.append((pos, length, kind))
        pos += 12 + length
    return out


def _fix_crc(buf: bytearray, pos: int, length: int) -> None:
    """Recompute a PNG chunk's CRC, so the mangled field gets past libpng's CRC check."""
    end = pos + 8 + length
    if end + 4 <= len(buf):
        buf[end : end + 4] = struct.pack(">I", zlib.crc32(bytes(buf[pos + 4 : end])) & 0xFFFFFFFF)


def png_mangled(data: bytes, rng: np.random.Generator) -> bytes:
    """One PNG header field broken: IHDR's size, depth or type; a chunk's length or type; IDAT's data."""
    buf = bytearray(data)
    chunks = png_chunks(data)
    ihdr = chunks[0][0]
    # The declared size most often: it decides how much memory a decoder allocates before reading data.
    how = rng.choice(
        ["size", "format", "length", "type", "zlib", "signature"], p=[0.3, 0.2, 0.15, 0.1, 0.15, 0.1]
    )
    if how == "size":
        width, height = struct.unpack(">II", data[ihdr + 8 : ihdr + 16])
        sizes = [0, 1, 3, 30000, 60000, 65535, 1 << 20, 0x7FFFFFFF, 0xFFFFFFFF]
        _put32(buf, ihdr + 8, int(rng.choice([width, *sizes])))
        _put32(buf, ihdr + 12, int(rng.choice([height, *sizes])))
        _fix_crc(buf, ihdr, 13)
    elif how == "format":
        field = ihdr + 16 + int(rng.integers(0, 5))  # depth, colour type, compression, filter, interlace
        buf[field] = int(rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 255]))
        _fix_crc(buf, ihdr, 13)
    elif how == "length":
        pos, length, _ = chunks[int(rng.integers(0, len(chunks)))]
        _put32(buf, pos, _edge32(rng, length))
    elif how == "type":
        pos, length, _ = chunks[int(rng.integers(0, len(chunks)))]
        buf[pos + 4 : pos + 8] = rng.choice([b"IDAT", b"IEND", b"IHDR", b"PLTE", b"tRNS", b"iCCP", b"zzzz"])
        _fix_crc(buf, pos, length)
    elif how == "zlib":
        idats = [c for c in chunks if c[2] == b"IDAT"]
        pos, length, _ = idats[int(rng.integers(0, len(idats)))]
        for _ in range(int(rng.integers(1, 16))):
            buf[pos + 8 + int(rng.integers(0, min(length, 64)))] = int(rng.integers(0, 256))
        _fix_crc(buf, pos, length)
    else:
        buf[int(rng.integers(0, 8))] = int(rng.integers(0, 256))
    return bytes(buf)


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """``(offset, marker, length)`` of each header segment of a JPEG, up to and with its first scan."""
    out, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        out.append((pos, marker, length))
        if marker == 0xDA:
            break
        pos += 2 + length
    return out


def jpeg_mangled(data: bytes, rng: np.random.Generator) -> bytes:
    """One JPEG header field broken: the frame's size or components, a segment's length, marker or
    contents (tables, EXIF), or a whole segment left out."""
    buf = bytearray(data)
    segments = jpeg_segments(data)
    sof = next(s for s in segments if 0xC0 <= s[1] <= 0xCF and s[1] not in (0xC4, 0xC8, 0xCC))
    how = rng.choice(
        ["size", "components", "length", "marker", "contents", "drop"], p=[0.3, 0.15, 0.15, 0.15, 0.15, 0.1]
    )
    if how == "size":
        sizes = [0, 1, 3, 16, 30000, 65500, 65535]
        fields = [sof[0] + 5, sof[0] + 7]  # height, width: one of them, or both (a bomb: 65535 x 30000)
        for field in fields if rng.random() < 0.5 else [fields[int(rng.integers(0, 2))]]:
            buf[field : field + 2] = struct.pack(">H", int(rng.choice(sizes)))
    elif how == "components":
        # Component count, then per component: id, sampling factors, quantisation table.
        field = sof[0] + 9 + int(rng.integers(0, 10))
        buf[field] = int(rng.choice([0, 1, 2, 3, 4, 0x11, 0x22, 0x44, 0xFF, int(rng.integers(0, 256))]))
    elif how == "length":
        pos, _, length = segments[int(rng.integers(0, len(segments)))]
        value = int(rng.choice([0, 1, 2, 3, length - 1, length + 1, 0xFFFF, int(rng.integers(0, 1 << 16))]))
        buf[pos + 2 : pos + 4] = struct.pack(">H", value & 0xFFFF)
    elif how == "marker":
        pos = segments[int(rng.integers(0, len(segments)))][0]
        buf[pos + 1] = int(
            rng.choice([0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC9, 0xCF, 0xD8, 0xD9, 0xDA, 0xDB, 0xDD, 0xE1])
        )
    elif how == "contents":
        pos, _, length = segments[int(rng.integers(0, len(segments)))]
        for _ in range(int(rng.integers(1, 12))):
            buf[pos + 4 + int(rng.integers(0, max(1, length - 2)))] = int(rng.integers(0, 256))
    else:
        pos, _, length = segments[int(rng.integers(0, len(segments)))]
        del buf[pos : pos + 2 + length]
    return bytes(buf)


MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"udta"}


def mp4_boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, int, bytes]]:
    """``(offset, size, type)`` of every box of an MP4, the boxes inside ``moov`` included."""
    end = len(data) if end is None else end
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        size = end - pos if size == 0 else size
        if size < 8:
            break
        out.append((pos, size, kind))
        if kind in MP4_CONTAINERS:
            out += mp4_boxes(data, pos + 8, pos + size)
        pos += size
    return out


def mp4_mangled(data: bytes, rng: np.random.Generator) -> bytes:
    """One MP4 field broken: a box's size or type, a count or size in a sample table, the timing
    (timescales, durations, edit list), the H.264 parameter sets, or the first samples' NAL lengths."""
    buf = bytearray(data)
    boxes = mp4_boxes(data)
    by_kind: dict[bytes, list[tuple[int, int, bytes]]] = {}
    for b in boxes:
        by_kind.setdefault(b[2], []).append(b)
    how = rng.choice(["size", "type", "table", "timing", "avcc", "nal"])
    if how == "size":
        pos, size, _ = boxes[int(rng.integers(0, len(boxes)))]
        _put32(buf, pos, _edge32(rng, size))
    elif how == "type":
        pos = boxes[int(rng.integers(0, len(boxes)))][0]
        buf[pos + 4 : pos + 8] = rng.choice([b"moov", b"mdat", b"trak", b"free", b"stbl", b"zzzz"])
    elif how == "table":
        kinds = [k for k in (b"stsd", b"stts", b"stss", b"ctts", b"stsc", b"stsz", b"stco") if k in by_kind]
        boxes_of = by_kind[kinds[int(rng.integers(0, len(kinds)))]]
        pos, size, _ = boxes_of[int(rng.integers(0, len(boxes_of)))]
        # The entry count (right after version and flags), or any 32-bit field of the table.
        field = (
            pos + 12 if rng.random() < 0.5 else pos + 12 + 4 * int(rng.integers(0, max(1, (size - 12) // 4)))
        )
        _put32(buf, field, _edge32(rng, 1000))
    elif how == "timing":
        kinds = [k for k in (b"mvhd", b"tkhd", b"mdhd", b"elst") if k in by_kind]
        boxes_of = by_kind[kinds[int(rng.integers(0, len(kinds)))]]
        pos, size, _ = boxes_of[int(rng.integers(0, len(boxes_of)))]
        field = pos + 12 + 4 * int(rng.integers(0, max(1, (size - 12) // 4)))
        _put32(buf, field, int(rng.choice([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF])))
    elif how == "avcc":
        at = data.find(b"avcC")
        for _ in range(int(rng.integers(1, 8))):
            buf[at + 4 + int(rng.integers(0, 40))] = int(rng.integers(0, 256))
    else:
        mdat = by_kind[b"mdat"][0][0] + 8
        for _ in range(int(rng.integers(1, 6))):
            _put32(buf, mdat + 4 * int(rng.integers(0, 64)), _edge32(rng, 1000))
    return bytes(buf)


def variants(
    data: bytes, mangle: Callable[[bytes, np.random.Generator], bytes], rng: np.random.Generator, n: int
) -> list[tuple[str, bytes]]:
    """``n`` broken copies of ``data``: a third truncated, a third bit-flipped, a third header-mangled."""
    kinds: list[tuple[str, Callable[[bytes, np.random.Generator], bytes]]] = [
        ("cut", truncated),
        ("flip", bit_flipped),
        ("hdr", mangle),
    ]
    out = []
    for i in range(n):
        name, how = kinds[i % 3]
        out.append((f"{name}{i:03d}", how(data, rng)))
    return out


# -- the runs --------------------------------------------------------------------------------------------


def _run_one(args: list[str]) -> dict:
    """One command in this process, as the ``framediff`` entry point runs it: exit status and stderr."""
    from framediff.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: object = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as e:
            code = e.code if e.code is not None else 0
        except BaseException:  # noqa: BLE001 - what escapes main() would be a traceback for the user
            code = "raised"
            traceback.print_exc(file=err)
    return {"args": args, "code": code, "stderr": err.getvalue()[-3000:]}


def drive(manifest: str, results: str, progress: str) -> None:
    """The child process: run every command of ``manifest`` (JSON list of argument lists), write what
    each ended with, and this process's peak memory, to ``results``; ``progress`` names the run under way
    (so a crash or a hang is pinned on its input)."""
    runs = json.loads(Path(manifest).read_text())
    done = []
    for i, args in enumerate(runs):
        Path(progress).write_text(json.dumps({"index": i, "args": args}))
        done.append(_run_one(args))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    Path(results).write_text(json.dumps({"runs": done, "peak_bytes": peak}))


def _limit_memory() -> None:
    """In the child: a hard stop well above the 2 GB asserted on, so a blow-up fails fast instead of
    swapping the machine (address space counts more than memory used: threads reserve their arenas)."""
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (8 * GB, 8 * GB))


def run_in_child(runs: list[list[str]], tmp: Path, timeout: float) -> dict:
    """Run the commands in one child Python process; fail the test on a crash, a hang or a traceback."""
    manifest, results, progress = tmp / "manifest.json", tmp / "results.json", tmp / "progress.json"
    manifest.write_text(json.dumps(runs))
    code = f"from tests.test_fuzz import drive; drive({str(manifest)!r}, {str(results)!r}, {str(progress)!r})"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung on {progress.read_text() if progress.exists() else '?'}")
    if proc.returncode != 0 or not results.exists():
        where = progress.read_text() if progress.exists() else "?"
        pytest.fail(f"the child died (status {proc.returncode}) on {where}:\n{proc.stderr[-3000:]}")
    report = json.loads(results.read_text())
    bad = [r for r in report["runs"] if r["code"] not in (0, 1, 2) or "Traceback" in r["stderr"]]
    assert not bad, f"{len(bad)} of {len(runs)} runs crashed, first:\n" + json.dumps(bad[:3], indent=1)
    assert report["peak_bytes"] < MEMORY_LIMIT, f"peak memory {report['peak_bytes'] / GB:.2f} GB"
    return report


def _write(folder: Path, items: list[tuple[str, bytes]], suffix: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in items:
        p = folder / f"{name}{suffix}"
        p.write_bytes(data)
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> dict[str, list[Path]]:
    """The variants on disk: ``{sample name: [paths]}``, 60 per image, 90 per video and 45 of a short-GOP
    copy of camera.mp4 (465 in all)."""
    rng = np.random.default_rng(SEED)
    root = tmp_path_factory.mktemp("fuzz")
    out: dict[str, list[Path]] = {}
    for name in IMAGES:
        data = (SAMPLES / name).read_bytes()
        mangle = png_mangled if name.endswith(".png") else jpeg_mangled
        out[name] = _write(root / Path(name).stem, variants(data, mangle, rng, 60), Path(name).suffix)
    for name in VIDEOS:
        data = (SAMPLES / name).read_bytes()
        out[name] = _write(root / Path(name).stem, variants(data, mp4_mangled, rng, 90), ".mp4")
    data = short_gop_camera(root / "camera-gop.mp4").read_bytes()
    out[GOP] = _write(root / "camera-gop", variants(data, mp4_mangled, rng, 45), ".mp4")
    return out


GOP = "camera-gop.mp4"


def short_gop_camera(path: Path) -> Path:
    """camera.mp4 three times over, re-encoded with a key frame every 24 frames: the samples have one
    key frame each, and dedup's GOP-parallel decoder (``gop_decode``) only takes files with many."""
    import av

    from .conftest import write_video

    with av.open(str(SAMPLES / "camera.mp4")) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    return write_video(path, frames * 3, rate=15, options={"g": "24"}, container_options={"movflags": "+faststart"})


def _outdir(tmp: Path, path: Path, what: str) -> Path:
    d = tmp / "out" / f"{path.parent.name}-{path.stem}-{what}"
    d.mkdir(parents=True)
    return d


def test_fuzz_compare(broken: dict[str, list[Path]], tmp_path: Path) -> None:
    runs = []
    for name, partner in IMAGES.items():
        for i, path in enumerate(broken[name]):
            pair = [str(path), str(SAMPLES / partner)]
            if i % 2:
                pair.reverse()
            if i % 3 == 0:
                out = _outdir(tmp_path, path, "compare")
                runs.append(["compare", *pair, "-o", str(out / "o.png"), "--mask", str(out / "m.png"),
                             "--heatmap", str(out / "h.png")])  # fmt: skip
            else:
                runs.append(["compare", *pair, "--json"])
            if i % 4 == 1:  # the broken picture as the mask of areas to ignore
                runs.append(["compare", str(SAMPLES / name), str(SAMPLES / partner), "--ignore", str(path), "-q"])
        # Folder mode: each broken picture against the sample under its name (a bad one is reported, the
        # others go on).
        good = tmp_path / "good" / Path(name).stem
        good.mkdir(parents=True)
        for path in broken[name]:
            shutil.copyfile(SAMPLES / name, good / path.name)
        runs.append(["compare", str(good), str(broken[name][0].parent), "--json"])
    report = run_in_child(runs, tmp_path, timeout=600)
    codes = [r["code"] for r in report["runs"]]
    assert codes.count(2) > len(runs) / 3  # most variants are refused, with one line each
    refused = [r["stderr"] for r in report["runs"] if r["code"] == 2]
    assert all(s.strip().splitlines()[-1].startswith("Error:") for s in refused)


def test_fuzz_dedup(broken: dict[str, list[Path]], tmp_path: Path) -> None:
    runs = []
    for name in VIDEOS:
        for i, path in enumerate(broken[name]):
            out = _outdir(tmp_path, path, "dedup")
            if i % 3 == 0:  # a real run: every kept frame re-encoded, the audio copied
                timing = "compact" if i % 2 else "keep"
                runs.append(["dedup", str(path), "-o", str(out / "o.mp4"), "--timing", timing,
                             "--report", str(out / "r.csv")])  # fmt: skip
            else:  # a dry run: decoded in parallel chunks when the file suits it
                runs.append(["dedup", str(path), "--dry-run", "--plot", str(out / "p.png")])
    for path in broken[GOP]:  # dry runs decoded in parallel chunks (on two cores or more)
        runs.append(["dedup", str(path), "--dry-run", "--report", str(_outdir(tmp_path, path, "dedup") / "r.csv")])
    for name in IMAGES:  # a folder of broken pictures, with the sample among them
        folder = broken[name][0].parent
        shutil.copyfile(SAMPLES / name, folder / f"zz-original{Path(name).suffix}")
        runs.append(["dedup", str(folder), "-o", str(tmp_path / "out" / f"{folder.name}-unique")])
    run_in_child(runs, tmp_path, timeout=900)


def test_fuzz_watch(broken: dict[str, list[Path]], tmp_path: Path) -> None:
    runs = []
    for name in VIDEOS:
        for i, path in enumerate(broken[name]):
            out = _outdir(tmp_path, path, "watch")
            run = ["watch", str(path), "--events", str(out / "ev.jsonl"), "-q"]
            if i % 4 == 0:  # frames decoded in full, and pictures made of them
                run += ["--snapshots", str(out / "snaps"), "--regions", str(out / "r.jsonl")]
            elif i % 4 == 1:  # and re-encoded
                run += ["--record", str(out / "rec.mp4")]
            runs.append(run)
    for name in IMAGES:
        for i, path in enumerate(broken[name]):
            if i % 5 == 0:  # a single picture
                runs.append(["watch", str(path), "-q", "--events", str(_outdir(tmp_path, path, "watch") / "e")])
            elif i % 5 in (1, 2):  # the fixed reference picture, or the mask of areas to ignore
                use = "--reference" if i % 5 == 1 else "--ignore"
                runs.append(["watch", str(SAMPLES / "camera.mp4"), "--max-frames", "5", "-q", use, str(path)])
        runs.append(["watch", str(broken[name][0].parent), "-q", "--reference", "previous"])  # a folder
    run_in_child(runs, tmp_path, timeout=600)


def test_fuzz_sample_through_the_real_command(broken: dict[str, list[Path]], tmp_path: Path) -> None:
    """A few of the variants through ``python -m framediff`` itself: the real entry point, exit codes
    and stderr, and the child's own peak memory."""
    rng = np.random.default_rng(SEED + 1)
    picks = [
        (n, broken[n][int(rng.integers(0, len(broken[n])))]) for n in [*IMAGES, *VIDEOS] for _ in range(2)
    ]
    args_seen: list[list[str]] = []
    for name, path in picks:
        if name in IMAGES:
            args = ["compare", str(path), str(SAMPLES / IMAGES[name])]
        elif len(args_seen) % 2:
            args = ["dedup", str(path), "--dry-run"]
        else:
            args = ["watch", str(path), "--events", "-"]
        args_seen.append(args)
        code = (
            "import resource, runpy, sys\n"
            f"sys.argv = ['framediff', *{args!r}]\n"
            "try:\n"
            "    runpy.run_module('framediff', run_name='__main__')\n"
            "finally:\n"
            '    sys.stderr.write(f"\\npeak={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}\\n")\n'
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
            preexec_fn=_limit_memory,
        )  # fmt: skip
        err = proc.stderr
        peak = int(err.rsplit("peak=", 1)[1])
        assert proc.returncode in (0, 1, 2), (args, err)
        assert "Traceback" not in err, (args, err)
        assert peak < MEMORY_LIMIT, (args, peak)
        if proc.returncode == 2:
            lines = [line for line in err.splitlines() if line.strip() and not line.startswith("peak=")]
            assert lines[-1].startswith("Error:"), (args, err)


if __name__ == "__main__":  # pragma: no cover - the child of run_in_child() imports drive() instead
    drive(*sys.argv[1:4])


# -- what the fuzzing found, each pinned by a test of its own ----------------------------------------


def test_dedup_folder_with_slivers_of_pictures(tmp_path: Path, capsys) -> None:
    """A 4000 x 3 picture (a JPEG whose height field was hit) shrinks to one pixel high, not to nothing."""
    import cv2

    from framediff.cli import main

    rng = np.random.default_rng(SEED)
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copyfile(SAMPLES / "shelf_a.jpg", folder / "a.jpg")
    cv2.imwrite(str(folder / "b.png"), rng.integers(0, 255, (3, 4000, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "c.png"), rng.integers(0, 255, (4000, 2), dtype=np.uint8))
    with pytest.raises(SystemExit) as e:
        main(["dedup", str(folder), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert e.value.code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "b.png", "c.png"]


def test_video_with_a_broken_tag_is_read(tmp_path: Path, capsys) -> None:
    """A stray byte in a tag (the encoder's name) is replaced; the video is read as before."""
    from framediff.cli import main

    data = (SAMPLES / "clip.mp4").read_bytes()
    at = data.find(b"Lavf")  # the encoder tag in udta/meta
    assert at > 0
    path = tmp_path / "tag.mp4"
    path.write_bytes(data[:at] + b"\xc8\xc8" + data[at + 2 :])
    for args in (["dedup", str(path), "--dry-run"], ["dedup", str(path), "-o", str(tmp_path / "o.mp4")],
                 ["watch", str(path), "-q"]):  # fmt: skip
        with pytest.raises(SystemExit) as e:
            main(args)
        err = capsys.readouterr().err
        assert e.value.code == 0 and "Traceback" not in err, (args, err)
    assert (tmp_path / "o.mp4").exists()


def test_video_cut_before_its_codec_is_one_error_line(tmp_path: Path, capsys) -> None:
    """An MP4 cut short just before its sample description: a video stream of no known codec, refused
    with one line and exit 2."""
    from framediff.cli import main

    data = (SAMPLES / "camera.mp4").read_bytes()
    stsd = next(pos for pos, _, kind in mp4_boxes(data) if kind == b"stsd")
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[:stsd])
    for args in (["dedup", str(path), "--dry-run"], ["watch", str(path), "-q"]):
        with pytest.raises(SystemExit) as e:
            main(args)
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert e.value.code == 2 and len(lines) == 1 and "cannot decode" in lines[0], (args, err)


def test_watch_with_a_tiny_watched_spot(tmp_path: Path, capsys) -> None:
    """An ignore mask (a JPEG whose width field was hit, stretched over the frame) that leaves a watched
    spot smaller than the detector's sampling grid: the spot is sampled whole, the watch runs."""
    import cv2

    from framediff.cli import main

    for size in (9, 10, 11, 12):
        for off in range(4):
            mask = np.full((270, 480), 255, np.uint8)  # camera.mp4's size: white = ignore
            mask[100 + off : 100 + off + size, 100 + off : 100 + off + size] = 0
            path = tmp_path / f"mask-{size}-{off}.png"
            cv2.imwrite(str(path), mask)
            with pytest.raises(SystemExit) as e:
                main(["watch", str(SAMPLES / "camera.mp4"), "--ignore", str(path), "--max-frames", "5",
                      "--events", "-"])  # fmt: skip
            out, err = capsys.readouterr()
            assert e.value.code == 0 and "Traceback" not in err, (size, off, err)
            assert "cover the whole frame" not in err
