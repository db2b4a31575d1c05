"""Benchmark of fingerprinting a large library of real picture files from cold, then again (issue 24).

Material (made here): a library of N JPEG files built from real photos (``--photos DIR``, e.g. the ~500
pictures of ``../shared/media/get-photos.sh``; without it, scikit-image's photos): each file a resized
variant of one photo (long side 1000-1999 px, quality 80-94, so every file is distinct), in folders
of 500. Libraries of each size are built once under ``--work`` and reused.

For each size, in the same run:

* the decoding floor on both cores: every file decoded by OpenCV on 2 threads, in full
  (``IMREAD_COLOR``) and at the DCT-reduced scale framediff reads a JPEG at (``IMREAD_REDUCED_COLOR_k``
  to reach 512 px);
* ``framediff index LIB --db FILE`` from cold (a fresh index), wall time and peak RSS of its process;
* the same command again with nothing changed (it reads no file).

Printed: files/s, the ratio of the cold run to each decoding floor (target: within 1.3x of decoding
alone), the re-run's seconds (target <= 5 s at 50,000 files), peak RSS per size and its growth from the
smallest to the largest (target: within 20%).

Usage (from the repository root)::

    python benchmarks/scale_files.py --sizes 5000,50000 --photos /tmp/photos --work /tmp/fd-files
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _sources(photos: str | None) -> list[Path] | list[str]:
    if photos:
        exts = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
        found = sorted(p for p in Path(photos).rglob("*") if p.suffix.lower() in exts)
        if found:
            return found
    return ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "motorcycle_left"]


def _load(src: Path | str) -> np.ndarray | None:
    if isinstance(src, Path):
        img = cv2.imread(str(src), cv2.IMREAD_COLOR)
        return img if img is not None and min(img.shape[:2]) >= 64 else None
    import skimage.data

    rgb = skimage.data.stereo_motorcycle()[0] if src == "motorcycle_left" else getattr(skimage.data, src)()
    rgb = np.stack([rgb] * 3, axis=-1) if rgb.ndim == 2 else rgb[..., :3]
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _make(job: tuple[str, list[tuple[int, str]]]) -> int:
    """Write the variants ``[(k, path)]`` of one photo."""
    src, todo = job
    img = _load(Path(src) if os.path.sep in src else src)
    if img is None:
        return 0
    for k, out in todo:
        side = 1000 + (k * 7919) % 1000
        scale = side / max(img.shape[:2])
        size = (max(16, round(img.shape[1] * scale)), max(16, round(img.shape[0] * scale)))
        v = cv2.resize(img, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(out + ".part.jpg", v, [cv2.IMWRITE_JPEG_QUALITY, 80 + k % 15])
        os.replace(out + ".part.jpg", out)
    return len(todo)


def build(n: int, photos: str | None, lib: Path) -> float:
    """Make the library of ``n`` files at ``lib`` (kept when complete); returns the seconds it took."""
    done = lib / ".complete"
    if done.exists():
        return 0.0
    t0 = time.perf_counter()
    srcs = list(_sources(photos))
    jobs: dict[str, list[tuple[int, str]]] = {}
    for k in range(n):
        src = srcs[k % len(srcs)]
        jobs.setdefault(str(src), []).append((k, str(lib / f"{k // 500:04d}" / f"v{k:07d}.jpg")))
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_make, jobs.items()))
    done.write_text(str(n))
    return time.perf_counter() - t0


def decode_floor(lib: Path, reduced: bool) -> float:
    """Seconds to decode every file of ``lib`` on 2 threads (full, or DCT-reduced to ~512 px)."""
    cv2.setNumThreads(1)
    paths = sorted(str(p) for p in lib.rglob("*.jpg"))

    def one(p: str) -> None:
        if not reduced:
            assert cv2.imread(p, cv2.IMREAD_COLOR) is not None
            return
        # framediff's read: the largest DCT reduction that keeps the long side >= 512 px (1000-1999 px: 1/2).
        assert cv2.imread(p, cv2.IMREAD_REDUCED_COLOR_2) is not None

    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, paths))
    return time.perf_counter() - t0


# Runs the command as its only child and prints that child's peak RSS (kB) last on stderr.
_WRAP = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)"
)


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of ``cmd``."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _WRAP, *cmd], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    return seconds, int(r.stderr.strip().splitlines()[-1]) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="5000,50000")
    ap.add_argument("--photos", default="/tmp/photos", help="folder of real pictures to vary (default /tmp/photos)")
    ap.add_argument("--work", default="/tmp/fd-files")
    ap.add_argument("--framediff-cmd", default=f"{sys.executable} -m framediff")
    a = ap.parse_args()
    work = Path(a.work)
    photos = a.photos if Path(a.photos).is_dir() else None
    rows = []
    for n in sorted(int(s) for s in a.sizes.split(",")):
        lib = work / f"lib-{n}"
        built = build(n, photos, lib)
        full = decode_floor(lib, reduced=False)
        reduced = decode_floor(lib, reduced=True)
        db = work / f"index-{n}.sqlite"
        for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            p.unlink(missing_ok=True)
        cmd = [*a.framediff_cmd.split(), "index", str(lib), "--db", str(db)]
        cold, peak = timed(cmd)
        again, _ = timed(cmd)
        rows.append((n, cold, peak, again))
        print(
            f"n={n:>7,}  built {built:6.0f} s  decode floor (2 threads): full {full:6.1f} s, reduced {reduced:6.1f} s  "
            f"framediff index cold {cold:6.1f} s ({n / cold:5.0f} files/s; x{cold / full:.2f} full decode, "
            f"x{cold / reduced:.2f} reduced decode)  peak {peak:5.0f} MB  re-run {again:5.2f} s",
            flush=True,
        )
    if len(rows) > 1:
        (n0, _, p0, _), (n1, _c1, p1, a1) = rows[0], rows[-1]
        print(f"peak RSS {n0:,} -> {n1:,}: {p0:.0f} -> {p1:.0f} MB ({100 * (p1 / p0 - 1):+.0f}%; target within 20%)")
        print(f"re-run at {n1:,}: {a1:.2f} s (target <= 5 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
