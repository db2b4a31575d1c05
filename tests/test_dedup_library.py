"""Tests of ``framediff dedup DIR -o OUTDIR`` over a folder of videos (framediff.dedup.library): clips the
test encodes from ``skimage.data`` photos (panning, every position held for three frames), trimmed side by
side in 2 processes and on a 2-worker Dask cluster, each output compared with what the single-file command
writes for that clip: the same bytes, the same decoded frames, the same report.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from .conftest import photo_bgr, run_framediff, write_video

CLIPS = {"astronaut": "sub", "coffee": "", "chelsea": "sub/deeper", "rocket": ""}


def write_clips(root: Path, frames: int = 45) -> list[Path]:
    """Short clips of each photo panning, each position held for 3 frames (two thirds are repeats)."""
    paths = []
    for name, folder in CLIPS.items():
        base = cv2.resize(photo_bgr(name), (352, 240), interpolation=cv2.INTER_AREA)
        shots = [np.roll(base, 6 * (i // 3), axis=1) for i in range(frames)]
        (root / folder).mkdir(parents=True, exist_ok=True)
        paths.append(write_video(root / folder / f"{name}.mp4", shots))
    return paths


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    write_clips(root)
    (root / "broken.mp4").write_bytes(b"not a video at all")
    (root / "notes.txt").write_text("not a video, not listed")
    return root


@pytest.fixture(scope="module")
def singles(library: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """What the single-file command writes for each clip: ``relative path -> (video, report)``."""
    out = tmp_path_factory.mktemp("singles")
    done = {}
    for clip in sorted(library.rglob("*.mp4")):
        if clip.name == "broken.mp4":
            continue
        rel = clip.relative_to(library).as_posix()
        video, report = out / rel.replace("/", "_"), out / (rel.replace("/", "_") + ".csv")
        # The command itself, in a process of its own, as a user runs it on one clip.
        r = subprocess.run(
            [sys.executable, "-m", "framediff", "dedup", str(clip), "-o", str(video), "--report", str(report)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        done[rel] = (video, report)
    assert len(done) == 4
    return done


def decoded(path: Path) -> list[tuple[int, np.ndarray]]:
    with av.open(str(path)) as c:
        return [(f.pts, f.to_ndarray(format="gray")) for f in c.decode(video=0)]


def digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def check_like_singles(out: Path, singles: dict[str, tuple[Path, Path]]) -> None:
    for rel, (video, report) in singles.items():
        got = out / rel
        assert got.read_bytes() == video.read_bytes(), rel
        a, b = decoded(got), decoded(video)
        assert len(a) == len(b) and 0 < len(a) < 45  # repeats were dropped
        assert all(pa == pb and np.array_equal(fa, fb) for (pa, fa), (pb, fb) in zip(a, b, strict=True))
        assert (out / (rel + ".csv")).read_bytes() == report.read_bytes(), rel


def test_jobs_2_writes_what_the_single_command_writes(library: Path, singles, tmp_path: Path) -> None:
    before = digests(library)
    out = tmp_path / "out"
    r = run_framediff("dedup", str(library), "-o", str(out), "--report", str(out), "--jobs", "2")
    assert r.returncode == 2  # the broken clip is listed, the others are done
    assert f"failed: {library / 'broken.mp4'}: " in r.stderr
    assert "5 clips: 4 done, 1 failed" in r.stderr
    check_like_singles(out, singles)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mp4")) == sorted(singles)
    assert not list(out.rglob("broken*")) and not list(out.rglob(".*"))  # no partial output of the failure
    assert digests(library) == before  # inputs untouched


def test_cluster_writes_what_the_single_command_writes(library: Path, singles, tmp_path: Path) -> None:
    out, plots = tmp_path / "out", tmp_path / "plots"
    r = run_framediff("dedup", str(library), "-o", str(out), "--report", str(out), "--plot", str(plots), "--cluster", "local:2")
    assert r.returncode == 2 and "5 clips: 4 done, 1 failed" in r.stderr, r.stderr
    check_like_singles(out, singles)
    for rel in singles:
        assert (plots / (rel + ".png")).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_output_inside_the_library_is_not_read_back(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    write_clips(lib, frames=12)
    for _ in range(2):
        r = run_framediff("dedup", str(lib), "-o", str(lib / "trimmed"), "--jobs", "2")
        assert r.returncode == 0, r.stderr
        assert "4 clips: 4 done, 0 failed" in r.stderr
    assert not (lib / "trimmed" / "trimmed").exists()


def test_outputs_never_overwrite_inputs(library: Path, tmp_path: Path) -> None:
    before = digests(library)
    r = run_framediff("dedup", str(library), "-o", str(library), "--jobs", "2")
    assert r.returncode == 2
    assert r.stderr.startswith("Error: -o ") and "would overwrite INPUT" in r.stderr and r.stderr.count("\n") == 1
    assert digests(library) == before


def test_report_folder_inside_the_library(library: Path, tmp_path: Path) -> None:
    reports = tmp_path / "lib"
    write_clips(reports, frames=12)
    r = run_framediff("dedup", str(reports), "--dry-run", "--report", str(reports / "sub"), "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert "4 clips: 4 done" in r.stderr  # the clips of sub/ are trimmed too, their reports beside them
    assert (reports / "sub" / "sub" / "astronaut.mp4.csv").is_file()
    assert (reports / "sub" / "coffee.mp4.csv").is_file()


def test_output_folder_named_like_a_video_is_refused(library: Path, tmp_path: Path) -> None:
    r = run_framediff("dedup", str(library), "-o", str(tmp_path / "out.mp4"), "--jobs", "2")
    assert r.returncode == 2 and "a folder of videos gives a folder of videos" in r.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_jobs_and_cluster_are_for_a_folder_of_videos(library: Path, tmp_path: Path) -> None:
    clip = next(library.rglob("coffee.mp4"))
    for extra in (["--jobs", "2"], ["--cluster", "local:2"]):
        r = run_framediff("dedup", str(clip), "-o", str(tmp_path / "x.mp4"), *extra)
        assert r.returncode == 2 and "--jobs and --cluster are for a folder of videos" in r.stderr


def test_cluster_without_the_extra_or_with_a_bad_address(library: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = "import sys; sys.modules['distributed'] = None\nfrom framediff.cli import main\nmain(sys.argv[1:])\n"
    r = subprocess.run(
        [sys.executable, "-c", code, "dedup", str(library), "-o", str(out), "--cluster", "local:2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("Error: ") and "pip install 'framediff[cluster]'" in r.stderr
    r = run_framediff("dedup", str(library), "-o", str(out), "--cluster", "tcp://127.0.0.1:1")
    assert r.returncode == 2 and r.stderr.startswith("Error: cannot reach the Dask scheduler"), r.stderr
    assert not out.exists()  # no clip was started


def test_worker_killed_mid_clip_loses_nothing(tmp_path: Path) -> None:
    import os
    import signal
    import threading

    distributed = pytest.importorskip("distributed")
    from framediff.dedup.library import dedup_library

    lib, out = tmp_path / "lib", tmp_path / "out"
    write_clips(lib, frames=240)
    killed: list[str] = []
    stop = threading.Event()

    def kill_a_writer() -> None:
        # The first temporary output that shows up names its writer (.NAME.partial-PID-...): that worker dies.
        while not stop.is_set() and not killed:
            for p in out.rglob(".*.partial-*"):
                os.kill(int(p.name.split(".partial-")[1].split("-")[0]), signal.SIGKILL)
                killed.append(p.name)
                return
            time.sleep(0.005)

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
    ) as c:
        watcher = threading.Thread(target=kill_a_writer)
        watcher.start()
        try:
            result = dedup_library(lib, out, report=out, cluster=c.scheduler_address)
        finally:
            stop.set()
            watcher.join()
    assert killed, "no clip was caught in the middle"
    assert not result.failed and len(result.clips) == 4
    assert not list(out.rglob(".*"))  # the killed writer's temporary file is gone too
    for clip in sorted(lib.rglob("*.mp4"))[:2]:
        rel = clip.relative_to(lib).as_posix()
        video, report = tmp_path / "single.mp4", tmp_path / "single.csv"
        r = subprocess.run(
            [sys.executable, "-m", "framediff", "dedup", str(clip), "-o", str(video), "--report", str(report)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert (out / rel).read_bytes() == video.read_bytes()
        assert (out / (rel + ".csv")).read_bytes() == report.read_bytes()
