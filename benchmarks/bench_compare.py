"""Benchmark ``framediff compare`` against its peers on spot-the-difference pair sets.

Builds pair sets with ``../shared/bench/make_pairs.py`` (clean and with all nuisances), runs framediff,
blazediff-interpret and the SSIM + Otsu + contours recipe on them, one process per tool in the same run,
scores every tool with ``score_pairs.py`` and prints F1, verdict accuracy, time and framediff's time
ratios. A "decode only" row times just reading every image (the floor for any tool that decodes
them with OpenCV, single-threaded). framediff runs twice: one ``compare()`` call per pair (as the peers are called) and through
``compare_pairs()`` (the batch API behind ``framediff compare DIR_A DIR_B``, which decodes the next pair
during the analysis).

Usage (from the repository root):
    python benchmarks/bench_compare.py [--seeds 7,3] [--n 40] [--rounds 3] [--out bench-out/compare] [--no-ssim]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench"

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


def timed(cmd: list[str]) -> float:
    """Run a command (a whole process, imports included) and return its wall time in seconds."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


def score(pairdir: Path, pred: Path) -> dict:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="7,3")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--out", default=str(ROOT / "bench-out" / "compare"))
    ap.add_argument("--no-ssim", action="store_true", help="skip the slow SSIM recipe")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (best time kept)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runner = out / "run_framediff.py"
    runner.write_text(RUNNER)
    batch = out / "run_framediff_batch.py"
    batch.write_text(BATCH_RUNNER)
    decode = out / "decode_only.py"
    decode.write_text(DECODE_ONLY)
    tools = {
        "decode only (floor)": lambda d, p: [sys.executable, str(decode), str(d), str(p)],
        "framediff": lambda d, p: [sys.executable, str(runner), str(d), str(p)],
        "framediff-batch": lambda d, p: [sys.executable, str(batch), str(d), str(p)],
        "blazediff": lambda d, p: [sys.executable, str(BENCH / "baseline_blazediff.py"), str(d), str(p)],
    }
    if not args.no_ssim:
        tools["ssim-recipe"] = lambda d, p: [
            sys.executable,
            str(BENCH / "baseline_pyimagesearch.py"),
            str(d),
            str(p),
        ]
    rows = []
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
            for name in tools:
                rows.append((case, name, score(d, d / f"pred_{name}.json"), times[name]))
            for mine in ("framediff", "framediff-batch"):
                for name in tools:
                    if not name.startswith(("framediff", "decode")):
                        rows.append((case, f"  {mine} time / {name}", None, times[mine] / times[name]))
            if "ssim-recipe" in times:
                # How much faster than the recipe anything that must decode the images could be at all.
                ratio = times["decode only (floor)"] / times["ssim-recipe"]
                rows.append((case, "  decode floor / ssim-recipe", None, ratio))
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


if __name__ == "__main__":
    main()
