"""Benchmark of ``dupes`` at a million files: candidate generation and grouping on synthetic fingerprints.

Material (made here, nothing from the kit): an index (the real SQLite schema, written through
:class:`framediff.collection.index.Index`) of N synthetic fingerprints. Most are unrelated (random PDQ
hashes, ORB descriptors, keypoint positions gathered towards the
centre as a photo's subject gathers them, and layout grids); one in 25 is an original with 1-3
planted copies of five kinds, each changing the fingerprint the way that kind of copy changes a real one:

* ``exact``: the same bytes (same digest);
* ``near`` (resized, recompressed, recoloured): each PDQ form 0-36 bits off, 70% of the keypoints kept
  (2-20 bits of descriptor noise, positions under one similarity map), the rest new;
* ``mirror``: the upright hash near the original's mirror form and the other way round, the
  descriptors those of the original's mirror image;
* ``crop`` (a window of 40-60% of the area, anywhere in the frame): fewer pixels than the original, PDQ and
  layout unrelated; of the original's keypoints inside the window 55% are found again (8-46 bits of
  descriptor noise, positions shifted and scaled up to the crop's own feature picture), at random ranks
  among the crop's own new ones (in roughly the original's order), so its strongest keypoints are mostly not
  its original's strongest.
  These shares are what real ORB shows on half-area crops of the get-photos pictures (55 crops: a window
  holds 70% of the original's keypoints and 45-55% of those are found again, 32 in all, descriptors 27
  bits apart at the median, ranks correlated at 0.76, 1.2 of the original's 8 strongest among the crop's
  8 strongest). One difference remains: real crops are more all-or-nothing (a window that holds the
  textured subject shares most of its strongest corners, one that misses it almost none), so at 8
  descriptors a file 55% of real crops share 2 of them with their original (ideal matching) against
  32% of these;
* ``caption``: PDQ 45-70 bits off (beyond PDQ's own 31), half the keypoints kept, the layout kept.

The run is the real path of ``framediff dupes`` after fingerprinting (:func:`framediff.collection.dupes.group_indexed`:
the catalog read from the index, descriptors streamed from it, PDQ/feature/layout candidates, the support
test, grouping), in a process of its own whose peak RSS is measured. Only the verification is replaced,
since synthetic fingerprints have no pictures to compare: a pair is a copy when two of its dihedral
hashes lie within 40 bits or it has geometric support (the test dupes itself applies to feature
candidates). Its time per pair is printed beside; real verification costs 10-25 ms a pair
(``bench_dupes.py``).

Printed for each size: build time, run time (catalog, candidates, grouping), peak RSS, candidate pairs,
planted groups found whole (all of a group's files in one reported group), files wrongly grouped, and
the growth of the run time from the smallest to the largest size against n and n log n.

Usage (from the repository root)::

    python benchmarks/scale_synthetic.py --sizes 100000,1000000 --work /tmp/fd-scale
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = ("exact", "near", "mirror", "crop", "caption")
GROUP_EVERY = 25
MIRROR_FORM = 4  # framediff.collection.pdq.pdq_dihedral: flipx
# Part of the index file names: bumped when the generator changes, so that an index it made before is not reused.
GENERATOR = 3


def _plan(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per position: the original it copies (-1: none), the kind of copy, and the planted group number."""
    rng = np.random.default_rng(seed)
    original = np.full(n, -1, np.int64)
    kind = np.full(n, -1, np.int64)
    group = np.full(n, -1, np.int64)
    perm = rng.permutation(n)
    pos = 0
    g = 0
    while pos + 4 <= n * 0.16:  # ~1 file in 25 an original, each with 1-3 copies
        k = int(rng.integers(1, 4))
        members = perm[pos : pos + 1 + k]
        pos += 1 + k
        group[members] = g
        original[members[1:]] = members[0]
        kind[members[1:]] = rng.integers(0, len(KINDS), k)
        g += 1
    return original, kind, group


def _flip(rng: np.random.Generator, rows: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``rows`` (m, 32) uint8 with lo..hi random bits flipped in each row."""
    bits = np.unpackbits(rows, axis=1)
    count = rng.integers(lo, hi + 1, len(rows))
    ranks = np.argsort(rng.random(bits.shape), axis=1).argsort(axis=1)
    bits ^= (ranks < count[:, None]).astype(np.uint8)
    return np.packbits(bits, axis=1)


def _centred_points(rng: np.random.Generator, box: tuple[float, float] = (320, 240)) -> np.ndarray:
    """96 keypoint positions in a feature picture of ``box`` px, gathered towards its centre as a photo's are
    (its subject): a window of half the area holds ~70% of them, as on real photos."""
    w, h = box
    return np.clip(rng.normal([w / 2, h / 2], [0.22 * w, 0.22 * h], (96, 2)), 0, [w - 0.01, h - 0.01]).astype(np.float32)


def _random_entry(rng: np.random.Generator) -> dict:
    return {
        "pdq": rng.integers(0, 256, (8, 32), dtype=np.uint8),
        "features": rng.integers(0, 256, (96, 32), dtype=np.uint8),
        "mirrored": rng.integers(0, 256, (96, 32), dtype=np.uint8),
        "points": _centred_points(rng),
        "mpoints": _centred_points(rng),
        "grid": rng.normal(0, 1, (16, 16)).astype(np.float32),
        "levels": (float(rng.uniform(60, 190)), float(rng.uniform(25, 70))),
        "digest": rng.bytes(16),
        "size": (4000, 3000),
    }


def _keep_some(rng: np.random.Generator, feats: np.ndarray, pts: np.ndarray, share: float, top: int,
               scale: float, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Keep ``share`` of the strongest ``top`` keypoints (noisy, mapped), in their order, among new ones."""
    src = np.flatnonzero(rng.random(min(top, len(feats))) < share)
    kept_f = _flip(rng, feats[src], 2, 20)
    kept_p = (pts[src] * scale + shift + rng.normal(0, 0.4, (len(src), 2))).astype(np.float32)
    new = 96 - len(src)
    new_f = rng.integers(0, 256, (new, 32), dtype=np.uint8)
    new_p = _centred_points(rng)[:new]
    # Interleave: the kept keypoints stay among the strongest (slots drawn towards the front), in order.
    weights = 1 / (1 + np.arange(96) / 30)
    slots = np.sort(rng.choice(96, len(src), replace=False, p=weights / weights.sum()))
    order = np.full(96, -1)
    order[slots] = np.arange(len(src))
    f = np.zeros((96, 32), np.uint8)
    p = np.zeros((96, 2), np.float32)
    fill = order < 0
    f[~fill], p[~fill] = kept_f[order[~fill]], kept_p[order[~fill]]
    f[fill], p[fill] = new_f, new_p
    return f, p


def _crop_keypoints(
    rng: np.random.Generator, feats: np.ndarray, pts: np.ndarray, origin: tuple[float, float], fw: float, fh: float,
    up: float, box: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """A crop's 96 keypoints: 55% of the original's inside the window (noisy, mapped), at random ranks among new ones."""
    x0, y0 = origin
    inside = (pts[:, 0] >= x0) & (pts[:, 0] < x0 + 320 * fw) & (pts[:, 1] >= y0) & (pts[:, 1] < y0 + 240 * fh)
    src = np.flatnonzero(inside & (rng.random(len(pts)) < 0.55))
    kept_f = _flip(rng, feats[src], 8, 46)
    kept_p = ((pts[src] - [x0, y0]) * up + rng.normal(0, 0.5, (len(src), 2))).astype(np.float32)
    f = rng.integers(0, 256, (96, 32), dtype=np.uint8)
    p = _centred_points(rng, box)
    # The crop's own strongest corners are mostly finer ones the original's feature picture could not
    # show, so the shared ones lie at any rank, in roughly the original's order: on real crops the ranks
    # of shared keypoints correlate at 0.76 (Spearman) and a crop's first 8 hold ~3 of them.
    slots = np.sort(rng.choice(96, len(src), replace=False))
    order = np.argsort(src + rng.normal(0, 24, len(src)))
    f[slots], p[slots] = kept_f[order], kept_p[order]
    return f, p


def _copy_of(rng: np.random.Generator, o: dict, kind: str) -> dict:
    c = _random_entry(rng)
    scale, shift = float(rng.uniform(0.6, 1.0)), (float(rng.uniform(0, 20)), float(rng.uniform(0, 20)))
    if kind == "exact":
        return dict(o)
    if kind == "near":
        c["pdq"] = _flip(rng, o["pdq"], 0, 36)
        c["features"], c["points"] = _keep_some(rng, o["features"], o["points"], 0.7, 96, scale, shift)
        c["mirrored"], c["mpoints"] = _keep_some(rng, o["mirrored"], o["mpoints"], 0.7, 96, scale, shift)
        c["grid"] = o["grid"] + rng.normal(0, 0.05, (16, 16)).astype(np.float32)
        c["levels"] = o["levels"]
    elif kind == "mirror":
        c["pdq"][0] = _flip(rng, o["pdq"][MIRROR_FORM : MIRROR_FORM + 1], 0, 30)[0]
        c["pdq"][MIRROR_FORM] = _flip(rng, o["pdq"][:1], 0, 30)[0]
        c["features"], c["points"] = _keep_some(rng, o["mirrored"], o["mpoints"], 0.7, 96, scale, shift)
        c["mirrored"], c["mpoints"] = _keep_some(rng, o["features"], o["points"], 0.7, 96, scale, shift)
    elif kind == "crop":
        # A window of the original's feature picture (320 x 240 px for 4000 x 3000), anywhere in it; the
        # crop has that many fewer pixels, and its own feature picture (long side 320) enlarges the window.
        area = float(rng.uniform(0.4, 0.6))
        fw = min(1.0, np.sqrt(area) * float(rng.uniform(0.85, 1.15)))
        fh = min(1.0, area / fw)
        x0, y0 = float(rng.uniform(0, 320 * (1 - fw))), float(rng.uniform(0, 240 * (1 - fh)))
        up = 1 / max(fw, 0.75 * fh)
        box = (320 * fw * up, 240 * fh * up)
        c["size"] = (round(4000 * fw), round(3000 * fh))
        c["features"], c["points"] = _crop_keypoints(rng, o["features"], o["points"], (x0, y0), fw, fh, up, box)
        # Its mirror image is the mirror of the window: the same window seen from the other side.
        mx0 = 320 * (1 - fw) - x0
        c["mirrored"], c["mpoints"] = _crop_keypoints(rng, o["mirrored"], o["mpoints"], (mx0, y0), fw, fh, up, box)
    else:  # caption
        c["pdq"] = _flip(rng, o["pdq"], 45, 70)
        c["features"], c["points"] = _keep_some(rng, o["features"], o["points"], 0.5, 96, 1.0, (0.0, 0.0))
        c["mirrored"], c["mpoints"] = _keep_some(rng, o["mirrored"], o["mpoints"], 0.5, 96, 1.0, (0.0, 0.0))
        c["grid"] = o["grid"] + rng.normal(0, 0.05, (16, 16)).astype(np.float32)
        c["levels"] = o["levels"]
    return c


def build(n: int, seed: int, db: Path) -> float:
    """Write the synthetic index of ``n`` files to ``db``; returns the seconds it took."""
    from framediff.collection.fingerprint import FINGERPRINT_VERSION, Fingerprint, ThumbFacts
    from framediff.collection.index import Index

    t0 = time.perf_counter()
    tmp = db.with_suffix(".part")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    original, kind, _ = _plan(n, seed)
    originals: dict[int, dict] = {}
    # Originals first, so that their copies can be derived wherever they lie.
    for i in np.flatnonzero(np.isin(np.arange(n), original[original >= 0])).tolist():
        originals[i] = _random_entry(np.random.default_rng([seed, i]))
    with Index(tmp) as index:
        index.keep_fingerprints_of(FINGERPRINT_VERSION)
        for i in range(n):
            rng = np.random.default_rng([seed, i])
            if i in originals:
                e = originals[i]
            elif original[i] >= 0:
                e = _copy_of(rng, originals[int(original[i])], KINDS[int(kind[i])])
            else:
                e = _random_entry(rng)
            index.put(Fingerprint(
                path=f"/synthetic/{i:07d}.jpg", size=100_000 + i, mtime=1.7e9 + i, digest=e["digest"],
                width=e["size"][0], height=e["size"][1], format="jpeg", taken=None, pdq=e["pdq"], quality=100,
                features=e["features"], mirrored=e["mirrored"], points=e["points"], mirrored_points=e["mpoints"],
                pixels=e["digest"], thumb=b"",
                facts=ThumbFacts(grid=e["grid"], mean=e["levels"][0], spread=e["levels"][1], framed=False),
            ))  # fmt: skip
        index.commit()
    os.replace(tmp, db)
    return time.perf_counter() - t0


class SyntheticVerifier:
    """Stands in for compare's verdict on pictures that do not exist (see the module's docstring)."""

    def __init__(self, index: object, cat: object, jobs: int) -> None:
        self.index, self.cat, self.jobs = index, cat, jobs
        self.memo: dict[tuple[int, int], object] = {}
        self.calls = 0
        self.seconds = 0.0

    def _fps(self, pairs: list[tuple[int, int]]) -> dict[int, object]:
        want = sorted({i for p in pairs for i in p})
        by_path = {fp.path: fp for fp in self.index.fingerprints([self.cat.paths[i] for i in want])}
        return {i: by_path[self.cat.paths[i]] for i in want}

    @staticmethod
    def _close(a: object, b: object) -> bool:
        d = np.unpackbits(np.bitwise_xor(a.pdq[:, None, :], b.pdq[None, :1, :]), axis=2).sum(axis=2)
        e = np.unpackbits(np.bitwise_xor(b.pdq[:, None, :], a.pdq[None, :1, :]), axis=2).sum(axis=2)
        return min(int(d.min()), int(e.min())) <= 40

    @staticmethod
    def _support(a: object, b: object) -> bool:
        from framediff.collection.candidates import MIN_SUPPORT, geometric_support

        return max(
            geometric_support(a.features, a.points, b.features, b.points, b.mirrored, b.mirrored_points),
            geometric_support(b.features, b.points, a.features, a.points, a.mirrored, a.mirrored_points),
        ) >= MIN_SUPPORT  # fmt: skip

    def supported(self, pairs: list[tuple[int, int]]) -> list[bool]:
        out: list[bool] = []
        for start in range(0, len(pairs), 256):
            batch = pairs[start : start + 256]
            fps = self._fps(batch)
            out += [self._support(fps[a], fps[b]) for a, b in batch]
        return out

    def many(self, pairs: list[tuple[int, int]], progress: object) -> None:
        from framediff.collection.verify import Verdict

        todo = [p for p in pairs if p not in self.memo]
        t0 = time.perf_counter()
        for start in range(0, len(todo), 256):
            batch = todo[start : start + 256]
            fps = self._fps(batch)
            for a, b in batch:
                fa, fb = fps[a], fps[b]
                copy = fa.digest == fb.digest or self._close(fa, fb) or self._support(fa, fb)
                self.memo[(a, b)] = Verdict("resized" if copy else "different")
        self.calls += len(todo)
        self.seconds += time.perf_counter() - t0

    def get(self, a: int, b: int) -> object:
        if (a, b) not in self.memo:
            self.many([(a, b)], None)
        return self.memo[(a, b)]


def run_one(db: Path, n: int, seed: int, out: Path) -> None:
    """The measured run (in its own process): group every file of the synthetic index, write the figures."""
    import resource

    from framediff.collection.dupes import DupesOptions, group_indexed
    from framediff.collection.index import Index

    made: list[SyntheticVerifier] = []

    def verifier(index: object, cat: object, jobs: int) -> SyntheticVerifier:
        made.append(SyntheticVerifier(index, cat, jobs))
        return made[0]

    t0 = time.perf_counter()
    with Index(db) as index:
        paths = [f"/synthetic/{i:07d}.jpg" for i in range(n)]
        groups = group_indexed(index, paths, DupesOptions(db=str(db)), None, verifier)
    seconds = time.perf_counter() - t0
    original, kind, planted = _plan(n, seed)
    found_in: dict[str, int] = {}
    for k, g in enumerate(groups):
        for f in [g.keep, *(m.file for m in g.duplicates)]:
            found_in[f.path] = k
    whole = 0
    wrong = 0
    groups_of: dict[int, list[int]] = {}
    for i in np.flatnonzero(planted >= 0).tolist():
        groups_of.setdefault(int(planted[i]), []).append(i)
    missed: dict[str, int] = {}
    for members in groups_of.values():
        got = {found_in.get(f"/synthetic/{i:07d}.jpg", -1 - i) for i in members}
        whole += len(got) == 1
        if len(got) > 1:
            for i in members:
                if original[i] >= 0 and found_in.get(f"/synthetic/{i:07d}.jpg") != found_in.get(f"/synthetic/{original[i]:07d}.jpg", -2):
                    missed[KINDS[int(kind[i])]] = missed.get(KINDS[int(kind[i])], 0) + 1
    for path in found_in:
        i = int(path[11:18])
        if planted[i] < 0:
            wrong += 1
    v = made[0] if made else None
    out.write_text(json.dumps({
        "n": n, "seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "groups": len(groups), "planted": len(groups_of), "whole": whole, "wrong": wrong,
        "verified": v.calls if v else 0, "verify_seconds": v.seconds if v else 0.0, "missed": missed,
    }))  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated numbers of files")
    ap.add_argument("--work", default="/tmp/fd-scale", help="where the synthetic indexes are kept (reused)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rerun", action="store_true", help="run again where a result for the index exists")
    ap.add_argument("--run-one", nargs=3, metavar=("DB", "N", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.run_one:
        run_one(Path(a.run_one[0]), int(a.run_one[1]), a.seed, Path(a.run_one[2]))
        return 0
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in [int(s) for s in a.sizes.split(",")]:
        db = work / f"synthetic-{n}-{a.seed}-g{GENERATOR}.sqlite"
        built = 0.0 if db.exists() else build(n, a.seed, db)
        out = work / f"result-{n}-g{GENERATOR}.json"
        if a.rerun or not out.exists() or out.stat().st_mtime < db.stat().st_mtime:
            subprocess.run([sys.executable, __file__, "--seed", str(a.seed), "--run-one", str(db), str(n), str(out)], check=True)
        else:
            print(f"(n={n:,}: the result of an earlier run on this index, {out}; --rerun to run again)")
        r = json.loads(out.read_text())
        r["built"] = built
        rows.append(r)
        print(
            f"n={n:>9,}  build {built:7.1f} s  run {r['seconds']:7.1f} s  peak {r['peak_mb']:7.0f} MB  "
            f"groups {r['groups']:,}  planted found whole {r['whole']:,}/{r['planted']:,}  wrong files {r['wrong']}  "
            f"pairs verified {r['verified']:,} ({1000 * r['verify_seconds'] / max(1, r['verified']):.2f} ms each, stand-in)  "
            f"copies missed by kind {r['missed']}",
            flush=True,
        )
    if len(rows) > 1:
        a0, a1 = rows[0], rows[-1]
        k = a1["n"] / a0["n"]
        print(
            f"growth {a0['n']:,} -> {a1['n']:,}: time x{a1['seconds'] / a0['seconds']:.1f} "
            f"(n: x{k:.1f}, n log n: x{k * math.log(a1['n']) / math.log(a0['n']):.1f}); "
            f"time without the stand-in verification x"
            f"{(a1['seconds'] - a1['verify_seconds']) / max(1e-9, a0['seconds'] - a0['verify_seconds']):.1f}"
        )
        print(f"acceptance (issue 24): 1M run <= 600 s: {'PASS' if a1['seconds'] <= 600 else 'FAIL'}; "
              f"peak <= 4096 MB: {'PASS' if a1['peak_mb'] <= 4096 else 'FAIL'}; every planted group found: "
              f"{'PASS' if a1['whole'] == a1['planted'] else 'FAIL'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
