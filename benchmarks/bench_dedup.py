"""Benchmark ``framediff dedup`` against ffmpeg's mpdecimate (issue 4), in one run.

Material and scores: clips from real photos with known duplicates (holds, frames on twos, grain) and
traps (slow fade, 1 px/frame pan, blinking caret, small moving ball), and a scorer of one ``keep``/``drop``
a frame against the truth. They come from the shared kit (``../shared/bench`` from the repository root:
``make_dedup_video.py``, ``score_decisions.py``) when it is there, which the README's figures need; from a
clone without it, from this project's own ``benchmarks/material.py`` (the same kinds of clips, not the
same clips: the figures are the same measurements on other material). ``--material own`` forces the
latter; every figure is printed with the material it was measured on.

It prints, for the 720p public clip and a 1080p one (plus any ``--extra`` clips):

* duplicate recall and false drops of framediff and of mpdecimate (acceptance: >= 0.98 and <= 1%);
* wall time of ``framediff dedup CLIP --dry-run`` against ``ffmpeg -i CLIP -vf mpdecimate -f null -`` on a
  1080p H.264 clip of >= 1500 frames, measured pairwise, interleaved, several rounds (the machine is
  shared: the median of the per-round ratios is the figure; acceptance: <= 1.0, issue 7: <= 0.8);
* wall time of writing the trimmed video, ``framediff dedup CLIP -o OUT.mp4`` against
  ``ffmpeg -i CLIP -vf mpdecimate -fps_mode vfr -c:v libx264 -crf 18 -preset medium OUT.mp4`` (framediff's
  encoder settings), the same way (issue 7: <= 1.1), and the ratio per written frame: framediff keeps the
  fade frames mpdecimate loses, so it encodes more frames. It also checks that the real run decided
  exactly as the dry run;
* peak RSS of the dry run on a clip and on the same clip 10 times longer (acceptance: within 1.2x).

Usage (from the repository root)::

    python benchmarks/bench_dedup.py [--work DIR] [--rounds 7] [--write-rounds 3] [--extra "--crf 30 --seed 5" ...]

Needs ffmpeg on PATH (the peer; the kit also encodes its clips with it).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KIT = (ROOT / ".." / "shared" / "bench").resolve()
FRAMEDIFF = [sys.executable, "-m", "framediff"]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import material  # noqa: E402 - the benchmarks' own material, beside this script

USE_KIT = True  # set by main(): the kit's clips and scorer, else material.py's


def make_clip(work: Path, name: str, args: list[str]) -> Path:
    """Generate a clip once (cached in ``work``): the kit's, or material.py's from the same options.

    Either way in a process of its own, so this one stays small (a child's peak RSS counts its parent's
    memory at the fork).
    """
    if not USE_KIT:
        name = f"own-{name}"
    out = work / f"{name}.mp4"
    if not out.exists() or not out.with_suffix(".truth.json").exists():
        print(f"  making {out.name} ({' '.join(args) or 'defaults'})...", flush=True)
        maker = [str(KIT / "make_dedup_video.py")] if USE_KIT else [str(Path(material.__file__)), "dedup"]
        subprocess.run([sys.executable, *maker, str(out), *args], check=True, stdout=subprocess.DEVNULL)
    return out


class Run:
    """One finished command: wall time and CPU time (s), peak RSS (MB), stderr."""

    def __init__(self, wall: float, cpu: float, rss: int, err: str) -> None:
        self.wall, self.cpu, self.rss, self.err = wall, cpu, rss, err


def run(cmd: list[str]) -> Run:
    """Run a command and measure it (its own rusage: CPU of all its threads, its peak RSS)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)  # this child's own rusage, not the max over all children
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"failed ({code}): {' '.join(cmd)}\n{err[-2000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, err)


def mpdecimate_cmd(clip: Path, debug: bool = False) -> list[str]:
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-nostats",
        "-hide_banner",
        "-i",
        str(clip),
        "-vf",
        "mpdecimate",
        "-f",
        "null",
        "-",
    ]
    return cmd[:1] + ["-loglevel", "debug" if debug else "error"] + cmd[1:]


# The dry run's floor: a fresh Python decoding the clip as the dry run decodes it and doing nothing else
# (no analysis). It imports the decoder from framediff, so it decodes exactly as the dry run does: key-frame
# chunks on every core (framediff.gop_decode) where the file suits that, else FFmpeg's frame threads with
# the settings of framediff.dedup.dry_run_decoding.
DECODE_ONLY = r"""
import sys
from framediff.dedup import dry_run_decoding
from framediff.gop_decode import GopDecoder, suits
from framediff.sources import open_source
with open_source(sys.argv[1], gray=True) as src:
    src.raw_luma = True
    if suits(src):
        with GopDecoder(src, lambda frame: None) as frames:
            for _ in frames:
                pass
    else:
        dry_run_decoding(src)
        for _ in src:
            pass
"""


def framediff_cmd(clip: Path, report: Path | None = None) -> list[str]:
    cmd = [*FRAMEDIFF, "dedup", str(clip), "--dry-run"]
    return cmd + (["--report", str(report)] if report else [])


def write_cmds(clip: Path, work: Path, report: Path | None = None) -> tuple[list[str], list[str]]:
    """framediff and ffmpeg writing the trimmed video with the same encoder settings (libx264, crf 18,
    preset medium: framediff's defaults)."""
    ours = [*FRAMEDIFF, "dedup", str(clip), "-o", str(work / "trim.framediff.mp4")]
    ours += ["--report", str(report)] if report else []
    theirs = mpdecimate_cmd(clip)[:-3] + ["-fps_mode", "vfr", "-c:v", "libx264", "-crf", "18"]
    theirs += ["-preset", "medium", "-y", str(work / "trim.mpdecimate.mp4")]
    return ours, theirs


def count_frames(path: Path) -> int:
    """Video packets in a written file (one per frame)."""
    import av

    with av.open(str(path)) as c:
        return sum(1 for p in c.demux(c.streams.video[0]) if p.size)


def score(
    truth: Path, decisions: list[str], out: Path
) -> tuple[float, float, list[tuple[str, int, int, int, int]]]:
    """Score decisions with the kit's scorer (or material.py's); return recall, false-drop rate and per
    segment ``(name, repeats dropped, repeats, unique frames lost, unique frames)``."""
    if not USE_KIT:
        recall, false_drops, segments = material.score_decisions(truth, decisions)
        return recall, false_drops, [(k, *v) for k, v in segments.items()]
    out.write_text("\n".join(decisions) + "\n")
    text = subprocess.run(
        [sys.executable, str(KIT / "score_decisions.py"), str(truth), str(out)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    m = re.search(r"recall=([\d.]+) false_drop_rate=([\d.]+)", text)
    assert m, text
    rows = re.findall(r"^(\S+)\s+dup_recall (\d+)/(\d+)\s+false_drops (\d+)/(\d+)", text, re.M)
    segments = [(seg, int(a), int(b), int(c), int(d)) for seg, a, b, c, d in rows if seg != "ALL"]
    return float(m.group(1)), float(m.group(2)), segments


def quality(work: Path, clip: Path) -> None:
    """Decisions of both tools on one clip, scored."""
    truth = clip.with_suffix(".truth.json")
    report = work / f"{clip.stem}.framediff.csv"
    run(framediff_cmd(clip, report))
    with open(report, newline="") as f:
        ours = [row["action"] for row in csv.DictReader(f)]
    log = run(mpdecimate_cmd(clip, debug=True)).err
    theirs = re.findall(r"\b(keep|drop) pts:-?\d+", log)
    r1, f1, seg1 = score(truth, ours, work / f"{clip.stem}.framediff.txt")
    r2, f2, seg2 = score(truth, theirs, work / f"{clip.stem}.mpdecimate.txt")
    print(f"\n{clip.name} ({len(ours)} frames; {'the kit' if USE_KIT else 'material.py'}'s clip and scorer)")
    print(
        f"  framediff   dup recall {r1:.3f}  false drops {100 * f1:.1f}%  {'PASS' if r1 >= 0.98 and f1 <= 0.01 else 'FAIL'}"
    )
    print(f"  mpdecimate  dup recall {r2:.3f}  false drops {100 * f2:.1f}%")
    for name, segments in (("framediff", seg1), ("mpdecimate", seg2)):
        for seg, hit, dups, lost, uniq in segments:
            if lost or hit != dups:
                print(f"    {name:10s} {seg}: dropped {hit}/{dups} repeats, lost {lost}/{uniq} unique frames")


def race(
    commands: Callable[[], tuple[list[str], list[str]]],
    rounds: int,
    floor: list[str] | None = None,
    floor_name: str = "decoding alone",
) -> tuple[list[float], list[float], list[float]]:
    """Time framediff against ffmpeg, interleaved (order alternates each round), and print every round.

    Args:
        commands: Gives ``(framediff command, ffmpeg command)`` for a round.
        rounds: How many rounds.
        floor: A command timed in the same rounds as a reference (decoding alone).
        floor_name: What ``floor`` is, for the printed rounds.

    Returns:
        Per round, the wall-time and the CPU-time ratio framediff / ffmpeg, and the floor's wall ratio to
        ffmpeg (empty without ``floor``).
    """
    walls, cpus, floors = [], [], []
    for i in range(rounds):
        ours_cmd, theirs_cmd = commands()
        pair = [("framediff", ours_cmd), ("ffmpeg", theirs_cmd)] + ([("floor", floor)] if floor else [])
        r = {}
        for name, cmd in pair if i % 2 == 0 else pair[::-1]:
            r[name] = run(cmd)
        ours, theirs = r["framediff"], r["ffmpeg"]
        walls.append(ours.wall / theirs.wall)
        cpus.append(ours.cpu / theirs.cpu)
        extra = ""
        if floor:
            floors.append(r["floor"].wall / theirs.wall)
            extra = f", {floor_name} {r['floor'].wall:.2f} s (ratio {floors[-1]:.2f})"
        print(f"  round {i + 1}: framediff {ours.wall:.2f} s (cpu {ours.cpu:.2f} s), "
              f"mpdecimate {theirs.wall:.2f} s (cpu {theirs.cpu:.2f} s), wall ratio {walls[-1]:.2f}{extra}")  # fmt: skip
    return walls, cpus, floors


def speed(clip: Path, rounds: int) -> None:
    """Pairwise, interleaved wall times (order alternates each round); CPU times too, which the load of a
    shared machine disturbs less."""
    run(framediff_cmd(clip))  # warm the page cache and Python's bytecode cache
    floor = [sys.executable, "-c", DECODE_ONLY, str(clip)]
    walls, cpus, floors = race(lambda: (framediff_cmd(clip), mpdecimate_cmd(clip)), rounds, floor)
    med = statistics.median(walls)
    print(f"  median wall ratio framediff/mpdecimate {med:.2f}  {'PASS' if med <= 0.8 else 'FAIL'} (<= 0.8, issue 7; issue 4: <= 1.0); "
          f"median CPU ratio {statistics.median(cpus):.2f}; "
          f"floor (Python + PyAV decoding alone, as the dry run decodes) {statistics.median(floors):.2f}")  # fmt: skip


def write_speed(clip: Path, work: Path, rounds: int) -> None:
    """Writing the trimmed video, pairwise and interleaved as :func:`speed`; the same decisions as the dry
    run are checked on the first (untimed) run."""
    dry, real = work / f"{clip.stem}.dry.csv", work / f"{clip.stem}.real.csv"
    run(framediff_cmd(clip, dry))
    run(write_cmds(clip, work, real)[0])
    with open(dry, newline="") as f1, open(real, newline="") as f2:
        a = [r["action"] for r in csv.DictReader(f1)]
        rows = list(csv.DictReader(f2))
    b = [r["action"] for r in rows]
    agree = sum(x == y for x, y in zip(a, b, strict=True))
    print(
        f"  decisions of -o and --dry-run agree on {agree}/{len(a)} frames  {'PASS' if agree == len(a) else 'FAIL'}"
    )
    same = same_frames_cmd(clip, work, [int(r["frame"]) for r in rows if r["action"] == "keep"])
    walls, cpus, sames = race(
        lambda: write_cmds(clip, work), rounds, same, "ffmpeg writing framediff's frames"
    )
    n1, n2 = count_frames(work / "trim.framediff.mp4"), count_frames(work / "trim.mpdecimate.mp4")
    n3 = count_frames(work / "trim.same.mp4")
    med = statistics.median(walls)
    print(f"  median write wall ratio framediff/mpdecimate {med:.2f}  {'PASS' if med <= 1.1 else 'FAIL'} (<= 1.1); "
          f"median CPU ratio {statistics.median(cpus):.2f}")  # fmt: skip
    print(f"  frames written: framediff {n1}, mpdecimate {n2}; per written frame the write ratio is "
          f"{med * n2 / n1:.2f}")  # fmt: skip
    # The same work for both: ffmpeg decoding the clip and encoding exactly the frames framediff keeps (its
    # fade frames included), so the ratio is the pipelines' cost and not what each decided to keep.
    same_ratio = statistics.median(w / s for w, s in zip(walls, sames, strict=True))
    print(f"  ffmpeg writing framediff's {n3} frames: median framediff/that wall ratio {same_ratio:.2f} "
          f"({'PASS' if same_ratio <= 1.1 else 'FAIL'} <= 1.1 on equal work)")  # fmt: skip


def _balanced_sum(terms: list[str]) -> str:
    """``a+b+c+...`` as a balanced tree of brackets: FFmpeg's expression parser refuses deep nesting, and a
    flat sum of 160 terms nests 160 deep."""
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    return f"({_balanced_sum(terms[:half])}+{_balanced_sum(terms[half:])})"


def same_frames_cmd(clip: Path, work: Path, kept: list[int]) -> list[str]:
    """ffmpeg keeping exactly the frames in ``kept`` (a ``select`` over runs of frame numbers), encoded with
    the settings of :func:`write_cmds`."""
    runs: list[list[int]] = []
    for k in kept:
        if runs and runs[-1][1] == k - 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    select = "select='" + _balanced_sum([f"between(n,{a},{b})" for a, b in runs]) + "'"
    cmd = mpdecimate_cmd(clip)[:-5] + ["-vf", select, "-fps_mode", "vfr", "-c:v", "libx264", "-crf", "18"]
    return cmd + ["-preset", "medium", "-y", str(work / "trim.same.mp4")]


def sampled_rss(cmd: list[str], every: float = 0.25) -> list[int]:
    """Run a command and sample its resident memory (MB) every ``every`` seconds until it ends."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                samples += [int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS")]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            break
        time.sleep(every)
    p.wait()
    return [x for x in samples if x > 0]


def memory(short: Path, long: Path) -> None:
    """Peak RSS of the dry run on a clip and on a 10x longer one, and whether the long run's memory grows.

    The dry run's memory moves up and down by tens of MB as the decoders' queues fill and drain, so a
    longer run simply meets a higher peak more often; growth is judged within the long run, half
    against half (the same chances each), as well as run against run.
    """
    a = min(run(framediff_cmd(short)).rss for _ in range(2))
    b = min(run(framediff_cmd(long)).rss for _ in range(2))
    print(f"  peak RSS {short.name}: {a} MB, {long.name}: {b} MB, ratio {b / a:.2f}")
    samples = sampled_rss(framediff_cmd(long))
    half = len(samples) // 2
    first, second = max(samples[1:half] or samples), max(samples[half:] or samples)
    growth = second / first
    print(
        f"  {long.name}, RSS sampled every 0.25 s ({len(samples)} samples): median {statistics.median(samples)} MB, "
        f"peak of the first half {first} MB, of the second half {second} MB: growth {growth:.2f}  "
        f"{'PASS' if growth <= 1.2 else 'FAIL'} (<= 1.2)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--work", type=Path, default=Path("/tmp/framediff-bench-dedup"), help="where clips are cached"
    )
    ap.add_argument("--rounds", type=int, default=7, help="timing rounds (pairs)")
    ap.add_argument(
        "--extra", action="append", default=[], help="more kit clips: make_dedup_video.py options"
    )
    ap.add_argument("--write-rounds", type=int, default=3, help="timing rounds (pairs) of writing the video")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-dry", action="store_true", help="skip the dry-run timing")
    ap.add_argument(
        "--material",
        choices=("auto", "kit", "own"),
        default="auto",
        help="the kit's clips and scorer (auto: when ../shared/bench is there) or benchmarks/material.py's",
    )
    a = ap.parse_args()
    global USE_KIT
    have_kit = (KIT / "make_dedup_video.py").exists()
    if a.material == "kit" and not have_kit:
        raise SystemExit(f"--material kit: the shared bench kit is not at {KIT}")
    USE_KIT = have_kit and a.material != "own"
    a.work.mkdir(parents=True, exist_ok=True)
    if USE_KIT:
        print(f"material: the shared kit's ({KIT}): clips from make_dedup_video.py, decisions scored by "
              "score_decisions.py; every figure below is on the kit's clips (the README's table needs the kit)")  # fmt: skip
    else:
        why = "--material own" if have_kit else f"no kit at {KIT}"
        print(f"material: benchmarks/material.py's own clips and scorer ({why}); the README's figures need the "
              "kit (../shared/bench): these are the same measurements on other clips of the same kinds")  # fmt: skip
    print(f"clips in {a.work}")
    c720 = make_clip(a.work, "public720", [])
    c1080 = make_clip(a.work, "clip1080", ["--size", "1920x1080"])
    extras = [make_clip(a.work, "extra" + re.sub(r"\W+", "_", e), e.split()) for e in a.extra]
    long1080 = make_clip(a.work, "clip1080x3", ["--size", "1920x1080", "--repeat", "3"])

    if not a.skip_quality:
        print("\n== decisions (score_decisions.py)")
        for clip in [c720, c1080, *extras]:
            quality(a.work, clip)

    frames = len(json.loads(long1080.with_suffix(".truth.json").read_text())["frames"])
    if not a.skip_dry:
        print(
            f"\n== speed: dry run vs mpdecimate on {long1080.name} (1080p H.264, {frames} frames), {a.rounds} rounds"
        )
        speed(long1080, a.rounds)

    if a.write_rounds > 0:
        print(
            f"\n== speed: writing the trimmed video on {long1080.name} ({frames} frames), {a.write_rounds} rounds"
        )
        write_speed(long1080, a.work, a.write_rounds)

    if not a.skip_memory:
        # Both long enough to be decoded in key-frame chunks (the 540-frame clip is only 5 chunks and goes
        # to FFmpeg's threads), so the ratio is growth with length, not the difference of two decoders.
        short720 = make_clip(a.work, "public720x3", ["--repeat", "3"])
        long720 = make_clip(a.work, "public720x30", ["--repeat", "30"])
        print("\n== memory: dry run, clip vs 10x longer clip")
        memory(short720, long720)


if __name__ == "__main__":
    main()
