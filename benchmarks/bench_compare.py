"""Benchmark ``framediff compare``: spot-the-difference pairs against its peers, and the verdict sets of issue 18.

Sets (``--sets``, comma-separated; all of them by default):

  pairs      ``../shared/bench/make_pairs.py`` pair sets (clean and with all nuisances): framediff, blazediff-interpret
             (and, with ``--ssim``, the SSIM + Otsu + contours recipe), one process per tool in the same run, scored
             with ``score_pairs.py``: F1, verdict accuracy, time and framediff's time ratios. A "decode only" row
             times just reading every image (the floor for any tool that decodes them with OpenCV). framediff runs
             twice: one ``compare()`` call per pair (as the peers are called) and through ``compare_pairs()`` (the
             batch API behind ``framediff compare DIR_A DIR_B``). The speed figure of issue 18 is the nuisance
             set's framediff time / blazediff time.
  unrelated  about 100 pairs of unrelated photos from ``--photos`` (half brought to the same size, half as they are;
             near-identical pictures left out: a low-resolution DCT hash within ``--hash-min`` bits, or names of one
             series in one package folder), photos against flat grey, and scikit-image's astronaut / coffee /
             chelsea: share judged ``different``, share ``same``/``identical`` (must be 0), errors, and the smallest
             and median ``changed_fraction`` (must be >= 0.5).
  same       about 100 photos against themselves after a seeded random mix of JPEG (quality 50-90), exposure
             (+-15%), Gaussian noise (sigma <= 3) and a 1-2 px shift: share judged ``same`` (target >= 99%).
  camera     pairs of vtest.avi frames 5-20 apart (fixed camera, pedestrians; ``../shared/media/get-real-media.sh``),
             every person who moved boxed by hand where they are in A and where in B
             (``benchmarks/data/vtest_pairs.json``): region precision / recall / F1 by ``score_pairs.py`` and the
             alignment's largest |dx|, |dy| (must be <= 1 px).
  copies     ``make_copies.py`` copies of ``--photos`` pictures: every search query that has a ref, compared as
             ``compare(ref, query)``, and every library copy against its original: share judged ``same``,
             ``changed`` or ``identical`` (target >= 95%) and, for single-kind flip / rot90 / crop / resize copies,
             the share whose ``transform`` is right (mirrored; rotation 90/180/270 as made; a crop; the scale made).

The verdict is read from ``relation`` in ``Comparison.to_dict()`` when present; otherwise it is derived from
``identical`` (identical when the fast path answered, same when no region was found, changed otherwise: such code
never says ``different``). The transform likewise comes from ``transform`` when present, otherwise from the
alignment (mirrored when its matrix flips, its rotation and scale, a crop when B covers < 95% of A).

Material is made into ``--out`` once and reused. A few annotated outputs of each set
(``framediff compare A B -o``: the first pairs and the first wrong ones) go to ``OUT/annotated/SET/``.

Usage (from the repository root):
    python benchmarks/bench_compare.py [--sets pairs,unrelated,same,camera,copies] [--seeds 7,3] [--n 40]
        [--rounds 3] [--ssim] [--photos /tmp/photos] [--video /tmp/media/vtest.avi] [--out bench-out/compare]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# The kit beside the clone (../shared/bench); a helper's worktree under wt/ finds it one level further up.
BENCH = next(
    (p for p in (ROOT.parent / "shared" / "bench", ROOT.parent.parent / "shared" / "bench") if p.is_dir()),
    ROOT.parent / "shared" / "bench",
)
LABELS = ROOT / "benchmarks" / "data" / "vtest_pairs.json"
EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

# One compare() call per pair, as the peers are called.
RUNNER = r"""
import json, sys, time
from framediff import compare
d = sys.argv[1]; truth = json.load(open(d + "/truth.json")); out = {}
t0 = time.perf_counter()
for k, t in truth.items():
    r = compare(f"{d}/{t['a']}", f"{d}/{t['b']}")
    out[k] = {"identical": r.identical, "boxes": [list(x.box) for x in r.regions]}
json.dump(out, open(sys.argv[2], "w"))
print(f"{len(truth)} pairs in {time.perf_counter() - t0:.2f}s")
"""

# The batch API (what `framediff compare DIR_A DIR_B` uses): the next pair is decoded meanwhile.
BATCH_RUNNER = r"""
import json, sys, time
from framediff import compare_pairs
d = sys.argv[1]; truth = json.load(open(d + "/truth.json")); out = {}
t0 = time.perf_counter()
pairs = [(f"{d}/{t['a']}", f"{d}/{t['b']}") for t in truth.values()]
for k, r in zip(truth, compare_pairs(pairs)):
    out[k] = {"identical": r.identical, "boxes": [list(x.box) for x in r.regions]}
json.dump(out, open(sys.argv[2], "w"))
print(f"{len(truth)} pairs in {time.perf_counter() - t0:.2f}s")
"""


# The floor: only reading every image of the set (cv2.imread, one after another), nothing compared.
DECODE_ONLY = r"""
import json, sys, time
import cv2
d = sys.argv[1]; truth = json.load(open(d + "/truth.json"))
t0 = time.perf_counter()
for t in truth.values():
    cv2.imread(f"{d}/{t['a']}"); cv2.imread(f"{d}/{t['b']}")
json.dump({k: {"identical": True, "boxes": []} for k in truth}, open(sys.argv[2], "w"))
print(f"{len(truth)} pairs read in {time.perf_counter() - t0:.2f}s")
"""

# The verdict sets: compare() on every listed pair, its whole JSON answer kept; an exception is a result
# here (the sets count errors), so it is recorded instead of ending the run.
JSON_RUNNER = r"""
import json, sys, time
from framediff import compare
items = json.load(open(sys.argv[1])); out = {}
for it in items:
    t0 = time.perf_counter()
    try:
        d = compare(it["a"], it["b"]).to_dict()
    except Exception as e:
        d = {"error": f"{type(e).__name__}: {e}"}
    d["seconds"] = round(time.perf_counter() - t0, 4)
    out[it["key"]] = d
json.dump(out, open(sys.argv[2], "w"))
"""

# The acceptance table: (set, measure, value text, target text, met: True / False / None = no target).
Row = tuple[str, str, str, str, "bool | None"]


def timed(cmd: list[str]) -> float:
    """Run a command (a whole process, imports included) and return its wall time in seconds."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


def score(pairdir: Path, pred: Path) -> dict:
    """Score a prediction file with the kit's ``score_pairs.py``."""
    out = subprocess.run(
        [sys.executable, str(BENCH / "score_pairs.py"), str(pairdir), str(pred)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    m = re.search(r"precision=([\d.]+) recall=([\d.]+) F1=([\d.]+) pair_accuracy=([\d.]+)", out)
    fa = re.search(r"false alarms (\d+)", out)
    return {
        "precision": float(m.group(1)),
        "recall": float(m.group(2)),
        "f1": float(m.group(3)),
        "verdicts": float(m.group(4)),
        "false_alarms": int(fa.group(1)),
    }


# ---------------------------------------------------------------------------------------------------------------
# Reading framediff's answers (the verdict fields of issue 18, or what older code gives)


def relation(d: dict) -> str:
    """The verdict of one answer: identical / same / changed / different, or ``error``."""
    if "error" in d:
        return "error"
    if d.get("relation"):
        return str(d["relation"])
    if d["identical"]:
        return "identical" if d.get("fast_path") else "same"
    return "changed"


def derived_rows(set_name: str, res: dict[str, dict]) -> list[Row]:
    """A note in the table when the code under test has no ``relation`` field (its verdicts are derived)."""
    if any("relation" in v for v in res.values()):
        return []
    return [(set_name, "(no 'relation' field: derived, never 'different')", "", "", None)]


def _number(v: Any) -> float | None:
    """A number from a field that may be a number or a small dict holding one (the format is not fixed yet)."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, dict):
        for k in ("degrees", "angle", "value", "factor", "x", "scale"):
            if isinstance(v.get(k), (int, float)) and not isinstance(v.get(k), bool):
                return float(v[k])
    return None


def transform_of(d: dict) -> dict:
    """What B is relative to A: ``transform`` when the answer has it, else derived from the alignment."""
    t = d.get("transform")
    if isinstance(t, dict):
        return t
    al = d.get("alignment") or {}
    m = al.get("matrix") or [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    return {
        "mirrored": m[0][0] * m[1][1] - m[0][1] * m[1][0] < 0,
        "rotation": al.get("rotation", 0.0),
        "scale": al.get("scale", 1.0),
        "crop": d.get("overlap", 1.0) < 0.95 or None,
        "derived": True,
    }


def angle_off(a: float, b: float) -> float:
    """Distance between two angles in degrees (0-180)."""
    return abs((a - b + 180.0) % 360.0 - 180.0)


def transform_right(kind: str, t: dict, truth: dict) -> bool:
    """Whether a transform answer matches what ``make_copies.py`` did for a single-kind copy."""
    rot = _number(t.get("rotation")) or 0.0
    if kind == "flip":
        # A horizontal mirror may also be told as a vertical one turned by 180 degrees.
        return bool(t.get("mirrored"))
    if kind == "rot90":
        # np.rot90(k) turns counter-clockwise; the sign convention of ``rotation`` is not fixed yet, so
        # either sign of 90k passes (for k = 2 they are the same).
        k = truth["rot90_k"]
        return not t.get("mirrored") and min(angle_off(rot, 90 * k), angle_off(rot, -90 * k)) <= 3.0
    if kind == "crop":
        c = t.get("crop")
        return c is not None and c is not False and c != {} and c != []
    if kind == "resize":
        s, f = _number(t.get("scale")), truth["scale"]
        return s is not None and s > 0 and min(abs(s - f) / f, abs(1 / s - f) / f) <= 0.05
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------------------------------
# Material helpers


def write_image(path: Path, img: np.ndarray, quality: int | None = None) -> None:
    """Write an image (JPEG at ``quality`` when the name ends in .jpg), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality or 95] if path.suffix == ".jpg" else []
    if not cv2.imwrite(str(path), img, params):
        raise RuntimeError(f"cannot write {path}")


def load_photo(path: Path, max_side: int) -> np.ndarray | None:
    """A photo as BGR, at most ``max_side`` px (None when unreadable or smaller than 120 px)."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None or min(img.shape[:2]) < 120:
        return None
    s = max_side / max(img.shape[:2])
    return cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else img


def photo_files(photos: Path) -> list[Path]:
    """Picture files of the photo folder, sorted."""
    return sorted(p for p in photos.rglob("*") if p.suffix.lower() in EXTS and p.is_file())


def dct_hash(img: np.ndarray) -> np.ndarray:
    """64-bit perceptual hash: signs of the 8x8 lowest DCT coefficients of a 32x32 grey copy vs their median."""
    g = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), (32, 32), interpolation=cv2.INTER_AREA)
    low = cv2.dct(g.astype(np.float32))[:8, :8].ravel()
    return low > np.median(low[1:])


# get-photos.sh flattens each package's folders into the name ('/' -> '_'); these are the folders that hold
# unrelated pictures, so a name that shares more than one of them with another is a series (one tutorial's
# figures, one theme's artwork, one wallpaper at several sizes).
FOLDERS = (
    "doc_opencv-doc_opencv4_html_",
    "doc_opencv-doc_examples_data_",
    "doc_opencv-doc_examples_",
    "backgrounds_gnome_",
    "backgrounds_mate_abstract_",
    "backgrounds_mate_desktop_",
    "backgrounds_mate_nature_",
    "wallpapers_",
    "desktop-base_",
)


def _folder(name: str) -> str:
    for f in FOLDERS:
        if name.startswith(f):
            return f
    return name.rsplit("_", 1)[0] + "_" if "_" in name else ""


def _series_name(name: str) -> str:
    """A file name past its folder, without what varies along a series: sizes, numbers, dark/light, L/R, A/B."""
    stem = os.path.splitext(name[len(_folder(name)) :])[0]
    stem = re.sub(r"[-_]?\d+x\d+", "", stem)
    stem = re.sub(r"([-_](d|l|dark|light|left|right)|[LRAB])$", "", stem)
    return re.sub(r"\d+", "", stem).lower()


def same_series(a: str, b: str) -> bool:
    """Whether two photo file names look like one series of one package folder (see FOLDERS)."""
    fa, fb = _folder(a), _folder(b)
    na, nb = _series_name(a), _series_name(b)
    if na == nb:
        return True  # one picture in two folders, or numbered / sized / dark-light variants in one
    if fa in ("wallpapers_", "desktop-base_") and a.split("_")[:2] == b.split("_")[:2]:
        return True  # one wallpaper or one theme: its sizes, dark version, screenshot, login and boot screens
    # A word shared past the folder: 'homography_pose' / 'homography_findobj', 'singlemarkersaxes' / '...detection'.
    return fa == fb and len(os.path.commonprefix([na, nb])) >= 4


def fit_to(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """The largest centred crop of ``img`` with the aspect of w x h, resized to w x h."""
    ih, iw = img.shape[:2]
    s = min(iw / w, ih / h)
    cw, ch = int(round(w * s)), int(round(h * s))
    x, y = (iw - cw) // 2, (ih - ch) // 2
    return cv2.resize(img[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA)


def save_items(d: Path, items: list[dict]) -> None:
    """Write a set's pair list last: its presence marks the material as complete."""
    (d / "pairs.json").write_text(json.dumps(items, indent=1))


def load_items(d: Path) -> list[dict] | None:
    f = d / "pairs.json"
    return json.loads(f.read_text()) if f.exists() else None


def run_json(d: Path, items: list[dict]) -> dict[str, dict]:
    """framediff's JSON answer for every pair of a set (one process, ``compare()`` per pair)."""
    runner = d / "run_json.py"
    runner.write_text(JSON_RUNNER)
    todo = d / "todo.json"
    todo.write_text(json.dumps(items))
    subprocess.run([sys.executable, str(runner), str(todo), str(d / "results.json")], check=True)
    return json.loads((d / "results.json").read_text())


def annotate(d: Path, items: list[dict], wrong: list[str], n_first: int = 2, n_wrong: int = 4) -> None:
    """``framediff compare A B -o`` for a set's first pairs and first wrong ones, into OUT/annotated/SET/."""
    dest = d.parent / "annotated" / d.name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    by_key = {it["key"]: it for it in items}
    picks = [(k, "") for k in list(by_key)[:n_first]] + [(k, "WRONG_") for k in wrong[:n_wrong]]
    exe = [sys.executable, "-m", "framediff", "compare"]
    for k, tag in picks:
        it = by_key[k]
        # exit status 1 (a difference) is an answer here; only the picture matters
        subprocess.run(
            [*exe, it["a"], it["b"], "-o", str(dest / f"{tag}{k}.png")], capture_output=True, timeout=120
        )


def pct(n: int, total: int) -> str:
    return f"{100 * n / max(total, 1):.1f}% ({n}/{total})"


# ---------------------------------------------------------------------------------------------------------------
# Set: pairs (make_pairs.py; framediff vs blazediff-interpret and the SSIM recipe)


def run_pairs(args: argparse.Namespace, out: Path) -> list[Row]:
    """The make_pairs.py sets: prints the per-tool table, returns the speed and accuracy rows."""
    runner = out / "run_framediff.py"
    runner.write_text(RUNNER)
    batch = out / "run_framediff_batch.py"
    batch.write_text(BATCH_RUNNER)
    decode = out / "decode_only.py"
    decode.write_text(DECODE_ONLY)
    tools: dict[str, Callable[[Path, Path], list[str]]] = {
        "decode only (floor)": lambda d, p: [sys.executable, str(decode), str(d), str(p)],
        "framediff": lambda d, p: [sys.executable, str(runner), str(d), str(p)],
        "framediff-batch": lambda d, p: [sys.executable, str(batch), str(d), str(p)],
        "blazediff": lambda d, p: [sys.executable, str(BENCH / "baseline_blazediff.py"), str(d), str(p)],
    }
    if args.ssim:
        tools["ssim-recipe"] = lambda d, p: [
            sys.executable,
            str(BENCH / "baseline_pyimagesearch.py"),
            str(d),
            str(p),
        ]
    rows = []
    summary: list[Row] = []
    for seed in args.seeds.split(","):
        for nuisance in ("none", "all"):
            d = out / f"pairs_{nuisance}_s{seed}"
            if not (d / "truth.json").exists():
                subprocess.run(
                    [sys.executable, str(BENCH / "make_pairs.py"), str(d), "--seed", seed, "--n", str(args.n), "--nuisance", nuisance],
                    check=True, capture_output=True,
                )  # fmt: skip
            # Interleave the tools round by round and keep each one's best time: on a shared machine
            # that is the figure least disturbed by other work.
            times: dict[str, float] = {}
            for _ in range(args.rounds):
                for name, cmd in tools.items():
                    t = timed(cmd(d, d / f"pred_{name}.json"))
                    times[name] = min(times.get(name, t), t)
            case = f"{nuisance:4s} seed {seed}"
            scores = {name: score(d, d / f"pred_{name}.json") for name in tools}
            for name in tools:
                rows.append((case, name, scores[name], times[name]))
            for mine in ("framediff", "framediff-batch"):
                for name in tools:
                    if not name.startswith(("framediff", "decode")):
                        rows.append((case, f"  {mine} time / {name}", None, times[mine] / times[name]))
            if "ssim-recipe" in times:
                # How much faster than the recipe anything that must decode the images could be at all.
                rows.append(
                    (
                        case,
                        "  decode floor / ssim-recipe",
                        None,
                        times["decode only (floor)"] / times["ssim-recipe"],
                    )
                )
            f1_target = 0.95 if nuisance == "none" else 0.93
            f, bz = scores["framediff"], scores["blazediff"]
            summary.append(
                (
                    f"pairs {case}",
                    "region F1 (blazediff)",
                    f"{f['f1']:.3f} ({bz['f1']:.3f})",
                    f">= {f1_target}",
                    f["f1"] >= f1_target,
                )
            )
            summary.append(
                (f"pairs {case}", "verdicts", f"{f['verdicts']:.3f}", ">= 0.95", f["verdicts"] >= 0.95)
            )
            if nuisance == "all":
                r = times["framediff"] / times["blazediff"]
                summary.append(
                    (f"speed {case}", "framediff / blazediff time", f"{r:.2f}x", "<= 1.0x", r <= 1.0)
                )
    print(
        f"{'case':16s} {'tool':34s} {'F1':>6s} {'prec':>6s} {'recall':>6s} {'verdicts':>8s} {'false':>6s} {'time':>8s}"
    )
    for case, name, s, t in rows:
        if s is None:
            print(f"{case:16s} {name:34s} {'':>6s} {'':>6s} {'':>6s} {'':>8s} {'':>6s} {t:7.2f}x")
        else:
            print(
                f"{case:16s} {name:34s} {s['f1']:6.3f} {s['precision']:6.3f} {s['recall']:6.3f} "
                f"{s['verdicts']:8.3f} {s['false_alarms']:6d} {t:7.2f}s"
            )
    sys.stdout.flush()
    return summary


# ---------------------------------------------------------------------------------------------------------------
# Set: unrelated pictures


def make_unrelated(d: Path, photos: Path, n: int, seed: int, hash_min: int) -> list[dict]:
    """Unrelated photo pairs (half fitted to one size), photo vs flat grey, skimage's astronaut/coffee/chelsea."""
    items = load_items(d)
    if items is not None:
        return items
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = photo_files(photos)
    cache: dict[Path, tuple[np.ndarray, np.ndarray] | None] = {}

    def get(p: Path) -> tuple[np.ndarray, np.ndarray] | None:
        if p not in cache:
            img = load_photo(p, 1600)
            cache[p] = None if img is None else (img, dct_hash(img))
        return cache[p]

    items, uses, seen = [], {}, set()
    tries = 0
    while len(items) < n and tries < 50 * n:
        tries += 1
        i, j = (int(x) for x in rng.choice(len(files), 2, replace=False))
        pa, pb = files[i], files[j]
        if (i, j) in seen or (j, i) in seen or uses.get(i, 0) >= 2 or uses.get(j, 0) >= 2:
            continue
        seen.add((i, j))
        if same_series(pa.name, pb.name):
            continue
        ga, gb = get(pa), get(pb)
        if ga is None or gb is None:
            continue
        dist = int(np.count_nonzero(ga[1] != gb[1]))
        if dist < hash_min:
            continue  # pictures that look alike (the same artwork in other colours, one board at two angles)
        a, b = ga[0], gb[0]
        same_size = len(items) % 2 == 0
        if same_size:
            b = fit_to(b, a.shape[1], a.shape[0])
        k = f"u{len(items):03d}{'_same-size' if same_size else ''}"
        write_image(d / f"{k}_a.png", a)
        write_image(d / f"{k}_b.png", b)
        items.append(
            {
                "key": k,
                "a": str(d / f"{k}_a.png"),
                "b": str(d / f"{k}_b.png"),
                "from": [pa.name, pb.name],
                "hash": dist,
            }
        )
        uses[i], uses[j] = uses.get(i, 0) + 1, uses.get(j, 0) + 1
    # Photos against flat grey: mid grey, and the photo's own mean (what a tone mapping could flatten it to).
    for m, it in enumerate(items[:3]):
        a = cv2.imread(it["a"])
        for name, value in (("grey128", 128), ("greymean", int(a.mean()))):
            k = f"g{m}_{name}"
            write_image(d / f"{k}_b.png", np.full_like(a, value))
            items.append({"key": k, "a": it["a"], "b": str(d / f"{k}_b.png"), "from": [it["from"][0], name]})
    import skimage.data

    pics = {
        n: cv2.cvtColor(getattr(skimage.data, n)(), cv2.COLOR_RGB2BGR)
        for n in ("astronaut", "coffee", "chelsea")
    }
    for n_, img in pics.items():
        write_image(d / f"sk_{n_}.png", img)
    for x, y in (("astronaut", "coffee"), ("astronaut", "chelsea"), ("chelsea", "coffee")):
        items.append(
            {"key": f"sk_{x}_{y}", "a": str(d / f"sk_{x}.png"), "b": str(d / f"sk_{y}.png"), "from": [x, y]}
        )
        a = pics[x]
        write_image(d / f"sk_{y}_as_{x}.png", fit_to(pics[y], a.shape[1], a.shape[0]))
        items.append(
            {
                "key": f"sk_{x}_{y}_same-size",
                "a": str(d / f"sk_{x}.png"),
                "b": str(d / f"sk_{y}_as_{x}.png"),
                "from": [x, y],
            }
        )
    save_items(d, items)
    return items


def score_unrelated(d: Path, items: list[dict]) -> list[Row]:
    res = run_json(d, items)
    rel = {k: relation(v) for k, v in res.items()}
    n = len(items)
    n_diff = sum(r == "different" for r in rel.values())
    n_same = sum(r in ("same", "identical") for r in rel.values())
    errors = [k for k, r in rel.items() if r == "error"]
    fr = sorted(v["changed_fraction"] for v in res.values() if "changed_fraction" in v)
    wrong = [k for k, r in rel.items() if r != "different"]
    # The worst first: a 'same' answer, then an error, then the smallest changed area.
    wrong.sort(
        key=lambda k: (
            rel[k] not in ("same", "identical"),
            rel[k] != "error",
            res[k].get("changed_fraction", 0),
        )
    )
    annotate(d, items, wrong)
    for k in errors[:3]:
        print(f"  unrelated {k}: {res[k]['error']}")
    lo, med = (fr[0], fr[len(fr) // 2]) if fr else (math.nan, math.nan)
    return [
        ("unrelated", "different", pct(n_diff, n), "100%", n_diff == n),
        ("unrelated", "same or identical", pct(n_same, n), "0", n_same == 0),
        ("unrelated", "errors", pct(len(errors), n), "0", not errors),
        ("unrelated", "changed_fraction min / median", f"{lo:.3f} / {med:.3f}", ">= 0.5", lo >= 0.5),
        *derived_rows("unrelated", res),
    ]


# ---------------------------------------------------------------------------------------------------------------
# Set: the same photo after compression, light, noise and a small shift


def make_same(d: Path, photos: Path, n: int, seed: int) -> list[dict]:
    items = load_items(d)
    if items is not None:
        return items
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = photo_files(photos)
    order = rng.permutation(len(files))
    items, hashes = [], []
    for i in order:
        if len(items) >= n:
            break
        a = load_photo(files[int(i)], 1200)
        if a is None:
            continue
        h = dct_hash(a)
        if any(np.count_nonzero(h != o) < 6 for o in hashes):
            continue  # one picture twice (one wallpaper at two sizes) would only repeat a case
        hashes.append(h)
        while True:
            use = {x: rng.random() < 0.6 for x in ("jpeg", "exposure", "noise", "shift")}
            if any(use.values()):
                break
        b = a.astype(np.float32)
        how = []
        if use["exposure"]:
            f = 1 + rng.choice([-1, 1]) * rng.uniform(0.03, 0.15)
            b *= f
            how.append(f"exposure {f:.3f}")
        if use["shift"]:
            while True:
                dx, dy = (int(v) for v in rng.integers(-2, 3, 2))
                if dx or dy:
                    break
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            b = cv2.warpAffine(b, m, (a.shape[1], a.shape[0]), borderMode=cv2.BORDER_REPLICATE)
            how.append(f"shift {dx:+d},{dy:+d}")
        if use["noise"]:
            s = rng.uniform(0.5, 3.0)
            b = b + rng.normal(0, s, b.shape)
            how.append(f"noise {s:.2f}")
        b = np.clip(np.rint(b), 0, 255).astype(np.uint8)
        q = int(rng.integers(50, 91)) if use["jpeg"] else None
        if q:
            how.append(f"jpeg {q}")
        k = f"s{len(items):03d}"
        write_image(d / f"{k}_a.png", a)
        pb = d / f"{k}_b.{'jpg' if q else 'png'}"
        write_image(pb, b, q)
        items.append(
            {"key": k, "a": str(d / f"{k}_a.png"), "b": str(pb), "from": files[int(i)].name, "how": how}
        )
    save_items(d, items)
    return items


def score_same(d: Path, items: list[dict]) -> list[Row]:
    res = run_json(d, items)
    rel = {k: relation(v) for k, v in res.items()}
    n = len(items)
    n_same = sum(r == "same" for r in rel.values())
    counts = {r: sum(x == r for x in rel.values()) for r in ("identical", "changed", "different", "error")}
    wrong = [k for k, r in rel.items() if r != "same"]
    annotate(d, items, wrong)
    how = {it["key"]: ", ".join(it["how"]) for it in items}
    for k in wrong[:6]:
        print(f"  same {k} ({how[k]}): {rel[k]} {res[k].get('error', '')}")
    others = ", ".join(f"{r} {c}" for r, c in counts.items() if c)
    return [
        (
            "same",
            "same" + (f" (others: {others})" if others else ""),
            pct(n_same, n),
            ">= 99%",
            n_same >= 0.99 * n,
        ),
        *derived_rows("same", res),
    ]


# ---------------------------------------------------------------------------------------------------------------
# Set: a fixed camera, people moved (vtest.avi, boxes drawn by hand)


def make_camera(d: Path, video: Path) -> list[dict]:
    """The labelled frame pairs as PNGs, and a ``truth.json`` in ``score_pairs.py``'s format.

    Every person's box in A and box in B are both changes (what was there is gone, and what is there is new);
    the camera does not move, so both are in the same pixels.
    """
    items = load_items(d)
    if items is not None:
        return items
    labels = json.loads(LABELS.read_text())
    want = {f for p in labels["pairs"] for f in (p["a"], p["b"])}
    frames: dict[int, np.ndarray] = {}
    cap = cv2.VideoCapture(str(video))
    i = 0
    while len(frames) < len(want):
        ok, frame = cap.read()
        if not ok:
            break
        if i in want:
            frames[i] = frame
        i += 1
    cap.release()
    if len(frames) < len(want):
        raise RuntimeError(f"{video}: only {i} frames, the labels need frame {max(want)}")
    d.mkdir(parents=True, exist_ok=True)
    for f, img in frames.items():
        write_image(d / f"frame{f:04d}.png", img)
    items, truth = [], {}
    for p in labels["pairs"]:
        k = f"f{p['a']:04d}_{p['b']:04d}"
        boxes = [q[s] for q in p["people"] for s in ("a", "b") if s in q]
        truth[k] = {
            "a": f"frame{p['a']:04d}.png",
            "b": f"frame{p['b']:04d}.png",
            "boxes": boxes,
            "boxes_a": boxes,
        }
        items.append(
            {"key": k, "a": str(d / truth[k]["a"]), "b": str(d / truth[k]["b"]), "people": len(p["people"])}
        )
    (d / "truth.json").write_text(json.dumps(truth, indent=1))
    save_items(d, items)
    return items


def score_camera(d: Path, items: list[dict]) -> list[Row]:
    res = run_json(d, items)
    pred = {
        k: {
            "identical": relation(v) in ("identical", "same"),
            "boxes": [[r["x"], r["y"], r["w"], r["h"]] for r in v.get("regions", [])],
        }
        for k, v in res.items()
    }
    (d / "pred_framediff.json").write_text(json.dumps(pred))
    s = score(d, d / "pred_framediff.json")
    errors = [k for k, v in res.items() if "error" in v]
    shifts = [
        max(abs(v["alignment"]["dx"]), abs(v["alignment"]["dy"])) for v in res.values() if "alignment" in v
    ]
    methods: dict[str, int] = {}
    for v in res.values():
        m = v.get("alignment", {}).get("method", "error")
        methods[m] = methods.get(m, 0) + 1
    worst = max(shifts) if shifts else math.nan
    moved = [
        k
        for k, v in res.items()
        if "alignment" in v and max(abs(v["alignment"]["dx"]), abs(v["alignment"]["dy"])) > 1
    ]
    n_changed = sum(relation(v) == "changed" for v in res.values())
    # The pairs worth looking at: an alignment shift, an error, then the lowest recall (scored one by one).
    truth = json.loads((d / "truth.json").read_text())
    one = d / "one_pair"
    one.mkdir(exist_ok=True)
    recall = {}
    for k in truth:
        (one / "truth.json").write_text(json.dumps({k: truth[k]}))
        (one / "pred.json").write_text(json.dumps({k: pred[k]}))
        recall[k] = score(one, one / "pred.json")["recall"]
    low = sorted(recall, key=recall.get)
    print("  camera lowest recall: " + ", ".join(f"{k} {recall[k]:.2f}" for k in low[:5]))
    annotate(d, items, moved + errors + [k for k in low if k not in moved and k not in errors])
    n = len(items)
    return [
        (
            "camera",
            f"region F1 (precision {s['precision']:.3f}, recall {s['recall']:.3f})",
            f"{s['f1']:.3f}",
            ">= 0.85",
            s["f1"] >= 0.85,
        ),
        (
            "camera",
            f"false boxes ({sum(it['people'] for it in items)} people)",
            str(s["false_alarms"]),
            "",
            None,
        ),
        ("camera", "judged changed", pct(n_changed, n), "100%", n_changed == n),
        ("camera", "alignment max |dx|,|dy| px", f"{worst:.2f}", "<= 1", worst <= 1),
        ("camera", "alignment methods", ", ".join(f"{m} {c}" for m, c in sorted(methods.items())), "", None),
        ("camera", "errors", pct(len(errors), n), "0", not errors),
    ]


# ---------------------------------------------------------------------------------------------------------------
# Set: copies from make_copies.py


def _rot90_k(ref: np.ndarray, q: np.ndarray) -> int:
    """Which np.rot90 turn (1-3) made ``q`` from ``ref``: the one that matches best at low resolution."""
    small = cv2.resize(q, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    errs = []
    for k in (1, 2, 3):
        r = cv2.resize(np.ascontiguousarray(np.rot90(ref, k)), (32, 32), interpolation=cv2.INTER_AREA)
        errs.append(float(np.mean((r.astype(np.float32) - small) ** 2)))
    return 1 + int(np.argmin(errs))


def make_copies(d: Path, photos: Path, seed: int, n_base: int) -> list[dict]:
    items = load_items(d)
    if items is not None:
        return items
    mat = d / "material"
    subprocess.run(
        [sys.executable, str(BENCH / "make_copies.py"), str(photos), str(mat), "--seed", str(seed), "--n-base", str(n_base)],
        check=True, capture_output=True,
    )  # fmt: skip
    items = []
    queries = json.loads((mat / "queries.json").read_text())["queries"]
    for q, t in sorted(queries.items()):
        if t["ref"]:
            items.append(
                {
                    "key": f"query_{Path(q).stem}",
                    "a": str(mat / "refs" / t["ref"]),
                    "b": str(mat / "queries" / q),
                    "kinds": t["kinds"],
                }
            )
    copies = json.loads((mat / "truth.json").read_text())["copies"]
    for c, t in sorted(copies.items()):
        key = "lib_" + re.sub(r"[^A-Za-z0-9]+", "_", os.path.splitext(c)[0])
        items.append(
            {
                "key": key,
                "a": str(mat / "library" / t["of"]),
                "b": str(mat / "library" / c),
                "kinds": t["kinds"],
            }
        )
    for it in items:
        if it["kinds"] == ["rot90"]:
            it["rot90_k"] = _rot90_k(cv2.imread(it["a"]), cv2.imread(it["b"]))
        if it["kinds"] == ["resize"]:
            it["scale"] = cv2.imread(it["b"]).shape[1] / cv2.imread(it["a"]).shape[1]
    save_items(d, items)
    return items


def score_copies(d: Path, items: list[dict]) -> list[Row]:
    res = run_json(d, items)
    rel = {k: relation(v) for k, v in res.items()}
    n = len(items)
    ok = [k for k, r in rel.items() if r in ("identical", "same", "changed")]
    wrong = [k for k in rel if k not in ok]
    rows: list[Row] = []
    for src, label in (("query_", "queries vs refs"), ("lib_", "library copies")):
        keys = [it["key"] for it in items if it["key"].startswith(src)]
        n_ok = sum(k in ok for k in keys)
        rows.append(
            ("copies", f"same/changed, {label}", pct(n_ok, len(keys)), ">= 95%", n_ok >= 0.95 * len(keys))
        )
    rows.insert(0, ("copies", "same/changed, all", pct(len(ok), n), ">= 95%", len(ok) >= 0.95 * n))
    derived = False
    bad_transform = []
    for kind in ("flip", "rot90", "crop", "resize"):
        its = [it for it in items if it["kinds"] == [kind]]
        good = 0
        for it in its:
            d_ = res[it["key"]]
            if "error" in d_:
                bad_transform.append(it["key"])
                continue
            t = transform_of(d_)
            derived = derived or bool(t.get("derived"))
            if transform_right(kind, t, it):
                good += 1
            else:
                bad_transform.append(it["key"])
        rows.append(
            (
                "copies",
                f"right transform, {kind}",
                pct(good, len(its)),
                ">= 90%",
                good >= 0.9 * len(its) if its else None,
            )
        )
    rows += derived_rows("copies", res)
    if derived:
        rows.append(("copies", "(transform derived from the alignment: no 'transform' field)", "", "", None))
    by_kind: dict[str, list[int]] = {}
    for it in items:
        kind = it["kinds"][0]
        by_kind.setdefault(kind, [0, 0])
        by_kind[kind][0] += it["key"] in ok
        by_kind[kind][1] += 1
    print(
        "  copies judged same/changed by kind: "
        + ", ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(by_kind.items()))
    )
    annotate(d, items, wrong + [k for k in bad_transform if k not in wrong], n_wrong=6)
    return rows


# ---------------------------------------------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    print(f"\n{'set':22s} {'measure':52s} {'value':>22s} {'target':>9s}  met")
    for s, m, v, t, ok in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{s:22s} {m:52s} {v:>22s} {t:>9s}  {mark}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--sets", default="pairs,unrelated,same,camera,copies", help="comma-separated sets to run"
    )
    ap.add_argument("--seeds", default="7,3", help="make_pairs.py seeds (pairs set)")
    ap.add_argument("--n", type=int, default=40, help="pairs per make_pairs.py set")
    ap.add_argument("--out", default=str(ROOT / "bench-out" / "compare"))
    ap.add_argument("--ssim", action="store_true", help="also run the slow SSIM recipe on the pairs set")
    # No SSIM recipe is the default now; the flag stays for older calls.
    ap.add_argument("--no-ssim", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (best time kept)")
    ap.add_argument("--photos", default="/tmp/photos", help="pictures from ../shared/media/get-photos.sh")
    ap.add_argument(
        "--video", default="/tmp/media/vtest.avi", help="vtest.avi from ../shared/media/get-real-media.sh"
    )
    ap.add_argument("--n-unrelated", type=int, default=100)
    ap.add_argument("--n-same", type=int, default=100)
    ap.add_argument(
        "--hash-min", type=int, default=16, help="unrelated pairs: least DCT hash distance (of 64 bits)"
    )
    ap.add_argument("--copies-base", type=int, default=150, help="make_copies.py --n-base")
    ap.add_argument("--seed", type=int, default=1, help="seed of the photo sets")
    args = ap.parse_args()
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = set(sets) - {"pairs", "unrelated", "same", "camera", "copies"}
    if unknown:
        ap.error(f"unknown set(s): {', '.join(sorted(unknown))}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    photos = Path(args.photos)
    have_photos = photos.is_dir() and bool(photo_files(photos))
    have_kit = BENCH.is_dir()
    table: list[Row] = []

    def skip(s: str, why: str) -> None:
        print(f"[{s}] skipped: {why}")
        table.append((s, f"skipped: {why}", "", "", None))

    for s in sets:
        t0 = time.perf_counter()
        print(f"\n== {s}", flush=True)
        if s in ("pairs", "copies", "camera") and not have_kit:
            skip(s, f"the benchmark kit {BENCH} is missing")
            continue
        if s in ("unrelated", "same", "copies") and not have_photos:
            skip(s, f"no pictures in {photos} (bash ../shared/media/get-photos.sh {photos})")
            continue
        if s == "pairs":
            table += run_pairs(args, out)
        elif s == "unrelated":
            table += score_unrelated(
                out / "unrelated",
                make_unrelated(out / "unrelated", photos, args.n_unrelated, args.seed, args.hash_min),
            )
        elif s == "same":
            table += score_same(out / "same", make_same(out / "same", photos, args.n_same, args.seed))
        elif s == "copies":
            table += score_copies(
                out / "copies", make_copies(out / "copies", photos, args.seed, args.copies_base)
            )
        elif s == "camera":
            if not Path(args.video).is_file():
                skip(s, f"no {args.video} (bash ../shared/media/get-real-media.sh {Path(args.video).parent})")
                continue
            table += score_camera(out / "camera", make_camera(out / "camera", Path(args.video)))
        print(f"[{s}] {time.perf_counter() - t0:.0f} s", flush=True)
    print_table(table)
    print(f"\nannotated outputs: {out / 'annotated'}")


if __name__ == "__main__":
    main()
