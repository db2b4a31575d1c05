"""Benchmark framediff at scale (issue 24), on material it makes itself, in parts (``--parts``).

* ``cluster``: a library of distinct picture files (each scikit-image photo at several sizes, crops and
  JPEG qualities, ``--pictures`` of them) fingerprinted into a fresh index through a Dask cluster of 1
  worker process, then of 2 (one thread each, on this machine: ``distributed.LocalCluster``), the same
  files each time, interleaved over ``--rounds`` (best time of each kept). The clusters are started
  before the clock starts; what is timed is ``framediff.collection.search.add_pictures(index, [LIBRARY],
  cluster=CONNECTED)``: the walk, the workers' fingerprinting, the results sent back and written to the
  index here. Every run's index must equal a local (threads) run's, row for row. Also printed: the peak
  RSS of a worker and of this client process, and the index's bytes per picture. Target: 2 workers
  >= 1.6x 1 worker on 2 cores.
* ``dedup``: a folder of short generated clips (``--clips``, each a photo panning with every position
  held a few frames, under grain) trimmed by ``python -m framediff dedup FOLDER -o OUT --jobs 2`` against
  ``python -m framediff dedup CLIP -o OUT`` run on each clip one after another (each a process of its own,
  as a script would), interleaved over ``--rounds`` (best of each). Every output must be byte-identical
  to the single-file command's. Target: the folder in <= 0.8x the time of the clips one after another.

The machine may be shared: the load average (``os.getloadavg``) is printed before and after each part, and
the figures only compare within one run. Results also go to ``OUT/results.json``.

Usage (from the repository root; needs ``pip install -e '.[cluster]'`` for the cluster part)::

    python benchmarks/bench_scale.py [--parts cluster,dedup] [--pictures 400] [--clips 8] [--rounds 2]
        [--out bench-out/scale]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import skimage.data

PARTS = ("cluster", "dedup")
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry", "hubble_deep_field", "coins")


def load() -> str:
    """The load averages over 1, 5 and 15 minutes."""
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def photo(name: str) -> np.ndarray:
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2BGR)


# -- cluster ------------------------------------------------------------------------------------------


def make_pictures(root: Path, count: int) -> Path:
    """``count`` distinct JPEGs (and a few PNGs): each photo at sizes from 1600 px down, shifted crops and
    qualities, spread over sub-folders."""
    done = root / ".done"
    if done.is_file() and done.read_text() == str(count):
        return root
    shutil.rmtree(root, ignore_errors=True)
    bases = [photo(n) for n in PHOTOS]
    for k in range(count):
        base = bases[k % len(bases)]
        step = k // len(bases)
        side = 1600 - (step * 37) % 900
        scale = side / max(base.shape[:2])
        img = cv2.resize(base, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        img = np.ascontiguousarray(img[(step * 7) % 40 :, (step * 11) % 60 :])
        folder = root / f"part{k % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        suffix = "png" if k % 17 == 0 else "jpg"
        cv2.imwrite(str(folder / f"{k:06d}.{suffix}"), img, [cv2.IMWRITE_JPEG_QUALITY, 70 + (step * 3) % 28])
    done.write_text(str(count))
    return root


def index_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT * FROM files ORDER BY path").fetchall()


def fresh(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".search.npz"):
        Path(str(db) + suffix).unlink(missing_ok=True)


def cpu_seconds() -> float:
    """CPU seconds this process has used (run on each worker, and here)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def worker_peak_rss() -> int:
    """This process's peak resident memory in bytes (run on each worker)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def part_cluster(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    import distributed

    from framediff.collection.index import Index
    from framediff.collection.search import add_pictures
    from framediff.distribute import Cluster, ClusterSpec

    lib = make_pictures(out / "pictures", args.pictures)
    n_files = sum(1 for p in lib.rglob("*.*") if not p.name.startswith("."))
    print(f"cluster: {n_files} picture files in {lib} ({sum(p.stat().st_size for p in lib.rglob('*.*')) / 1e6:.0f} MB)")
    local_db = out / "local.sqlite"
    fresh(local_db)
    t0 = time.perf_counter()
    with Index(local_db) as index:
        add_pictures(index, [lib], jobs=2)
    local_s = time.perf_counter() - t0
    want = index_rows(local_db)
    per_picture = local_db.stat().st_size / max(1, len(want))
    print(f"  local run (2 threads): {local_s:.2f} s; index {local_db.stat().st_size / 1e6:.1f} MB, {per_picture / 1e3:.1f} kB a picture")

    clusters = {}
    for n in (1, 2):
        lc = distributed.LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
        )  # fmt: skip
        clusters[n] = lc
    times: dict[int, list[float]] = {1: [], 2: []}
    equal = True
    worker_rss = 0
    print(f"  {load()}")
    try:
        for r in range(args.rounds):
            for n in (1, 2) if r % 2 == 0 else (2, 1):
                db = out / f"cluster{n}.sqlite"
                fresh(db)
                with Cluster(ClusterSpec(address=clusters[n].scheduler_address)) as c, Index(db) as index:
                    cpu0 = sum(c.client.run(cpu_seconds).values()) + cpu_seconds()
                    t0 = time.perf_counter()
                    report = add_pictures(index, [lib], cluster=c)
                    times[n].append(time.perf_counter() - t0)
                    cpu = sum(c.client.run(cpu_seconds).values()) + cpu_seconds() - cpu0
                    worker_rss = max([worker_rss, *c.client.run(worker_peak_rss).values()])
                same = index_rows(db) == want
                equal = equal and same
                # The cores the run got (workers' and this client's CPU time over the wall time): on a
                # shared machine, what a second worker can add is bounded by it.
                print(f"  round {r + 1}, {n} worker{'s' if n > 1 else ''}: {times[n][-1]:.2f} s, "
                      f"{cpu / times[n][-1]:.2f} cores busy ({report.fingerprinted} fingerprinted; index "
                      f"{'equals' if same else 'DIFFERS FROM'} the local one)")  # fmt: skip
    finally:
        for lc in clusters.values():
            lc.close()
    print(f"  {load()}")
    best1, best2 = min(times[1]), min(times[2])
    speedup = best1 / best2
    client_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ok = speedup >= 1.6 and equal
    print(f"  2 workers vs 1: {best1:.2f} s / {best2:.2f} s = {speedup:.2f}x (target >= 1.6x): {'PASS' if ok else 'FAIL'}")
    print(f"  peak RSS: a worker {worker_rss / 1e6:.0f} MB, this client {client_rss / 1e6:.0f} MB")
    return {
        "files": n_files, "local_seconds": local_s, "seconds_1_worker": times[1], "seconds_2_workers": times[2],
        "speedup": speedup, "indexes_equal": equal, "index_bytes_per_picture": per_picture,
        "worker_peak_rss": worker_rss, "client_peak_rss": client_rss, "pass": ok,
    }  # fmt: skip


# -- dedup --------------------------------------------------------------------------------------------


def write_clip(path: Path, name: str, frames: int, seed: int, size: tuple[int, int] = (640, 360), fps: int = 24) -> None:
    """A photo panning, every position held for 2-4 frames, under fresh grain each frame."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = cv2.resize(photo(name), (w + 200, h), interpolation=cv2.INTER_AREA)
    tb = Fraction(1, fps)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "23"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        x, held, hold = 0, 0, 2
        for i in range(frames):
            if held >= hold:
                x, held, hold = min(x + 3, 200), 0, int(rng.integers(2, 5))
            held += 1
            noise = rng.normal(0, 2.0, (h, w, 3)).astype(np.float32)
            img = np.clip(base[:, x : x + w].astype(np.float32) + noise, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
            frame.pts, frame.time_base = i, tb
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def make_clips(root: Path, count: int, frames: int) -> Path:
    done = root / ".done"
    if done.is_file() and done.read_text() == f"{count} {frames}":
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for k in range(count):
        folder = root / ("" if k % 2 else "more")
        folder.mkdir(exist_ok=True)
        write_clip(folder / f"clip{k:02d}.mp4", PHOTOS[k % len(PHOTOS)], frames, seed=k)
    done.write_text(f"{count} {frames}")
    return root


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def part_dedup(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    lib = make_clips(out / "clips", args.clips, args.frames)
    clips = sorted(lib.rglob("*.mp4"))
    print(f"dedup: {len(clips)} clips of {args.frames} frames at 640x360 in {lib}")
    command = [sys.executable, "-m", "framediff", "dedup"]
    folder_t: list[float] = []
    each_t: list[float] = []
    identical = True
    print(f"  {load()}")
    for r in range(args.rounds):
        for how in ("folder", "each") if r % 2 == 0 else ("each", "folder"):
            dest = out / f"trimmed-{how}"
            shutil.rmtree(dest, ignore_errors=True)
            t0 = time.perf_counter()
            if how == "folder":
                subprocess.run([*command, str(lib), "-o", str(dest), "--jobs", "2"], check=True, capture_output=True)
                folder_t.append(time.perf_counter() - t0)
            else:
                for clip in clips:
                    target = dest / clip.relative_to(lib)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    subprocess.run([*command, str(clip), "-o", str(target)], check=True, capture_output=True)
                each_t.append(time.perf_counter() - t0)
        for clip in clips:
            rel = clip.relative_to(lib)
            identical = identical and digest(out / "trimmed-folder" / rel) == digest(out / "trimmed-each" / rel)
        print(f"  round {r + 1}: folder --jobs 2 {folder_t[-1]:.2f} s, one after another {each_t[-1]:.2f} s; "
              f"outputs {'byte-identical' if identical else 'DIFFER'}")  # fmt: skip
    print(f"  {load()}")
    ratio = min(folder_t) / min(each_t)
    ok = ratio <= 0.8 and identical
    print(f"  folder --jobs 2 / one after another: {min(folder_t):.2f} s / {min(each_t):.2f} s = {ratio:.2f}x "
          f"(target <= 0.8x): {'PASS' if ok else 'FAIL'}")  # fmt: skip
    return {
        "clips": len(clips), "frames": args.frames, "seconds_folder_jobs2": folder_t, "seconds_one_after_another": each_t,
        "ratio": ratio, "identical": identical, "pass": ok,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated: {', '.join(PARTS)}")
    parser.add_argument("--pictures", type=int, default=400, help="picture files of the cluster part")
    parser.add_argument("--clips", type=int, default=8, help="clips of the dedup part")
    parser.add_argument("--frames", type=int, default=96, help="frames a clip")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default="bench-out/scale")
    args = parser.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}: choose from {', '.join(PARTS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}; {load()}")
    results: dict[str, Any] = {"cores": os.cpu_count()}
    runners = {"cluster": part_cluster, "dedup": part_dedup}
    for part in parts:
        results[part] = runners[part](args, out)
    (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
