"""Run every framediff benchmark against its peer in one go and print one table of where framediff stands.

Each job's own benchmark does the work (material from ``../shared/bench`` when it is there, which the
README's figures need, else the benchmarks' own ``material.py``; peers in the same run; each says which
material it used); this runner calls them one after another, shows their full output, and ends with the
key figures pulled from that output: accuracy next to the peer's, and time ratios (framediff / peer: below
1 is faster).

Usage (from the repository root)::

    python benchmarks/run_all.py            # everything (about 15-25 minutes on 2 cores)
    python benchmarks/run_all.py --quick    # fewer rounds and cases
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script: str, args: list[str]) -> str:
    """Run one benchmark script, echoing its output, and return that output."""
    cmd = [sys.executable, str(HERE / script), *args]
    print(f"\n$ {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    print(proc.stdout, end="")
    if proc.returncode != 0:
        print(proc.stderr[-2000:], end="")
        print(f"  ({script} failed with status {proc.returncode})")
    print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return proc.stdout


def grab(text: str, pattern: str) -> list[str]:
    """All matches of ``pattern`` (its first group, or the whole match) in ``text``."""
    return [m.group(1) if m.groups() else m.group(0) for m in re.finditer(pattern, text, re.MULTILINE)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer rounds and cases")
    args = ap.parse_args()
    q = args.quick
    out = {
        "ssim": run("bench_ssim.py", ["--repeat", "3" if q else "7"]),
        "compare": run("bench_compare.py", ["--seeds", "7" if q else "7,3", "--rounds", "2" if q else "3"]),
        "dedup": run("bench_dedup.py", ["--rounds", "3" if q else "7", "--write-rounds", "1" if q else "3"]),
        "watch": run("bench_watch.py", ["--cases", "chelsea:5"] if q else []),
        "serve": run("bench_serve.py", ["--repeat", "2" if q else "3"]),
        "watch_memory": run("bench_watch_memory.py", ["--minutes", "5", "--size", "640x360"] if q else []),
    }
    print("\n== summary (framediff / peer time ratios: below 1.0 means framediff is faster)")
    # (label, benchmark, the lines of its output that go in the summary)
    summary = [
        ("SSIM vs scikit-image", "ssim", r"^(1080p.*|4K.*)$"),
        ("compare", "compare", r"^((?:none|all).*(?:framediff|ratio|/).*)$"),
        ("dedup", "dedup", r"^(?!\s*round)(.*(?:recall|ratio|RSS|peak|agree).*)$"),
        ("watch", "watch", r"^(.*(?:framediff watch|real time|acceptance).*)$"),
        ("watch --serve", "serve", r"^(.*(?:ratio|PASS|FAIL).*)$"),
        ("watch memory", "watch_memory", r"^((?:RSS after|acceptance).*)$"),
    ]
    for label, key, pattern in summary:
        for line in grab(out[key], pattern):
            print(f"{label:22s} {line.strip()}")
    # Which figures are on the kit's material (the README's) and which on the benchmarks' own.
    for key, text in out.items():
        for line in grab(text, r"^(material: .*)$"):
            print(f"{key:22s} {line.strip()}")


if __name__ == "__main__":
    main()
