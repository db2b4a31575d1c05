"""Benchmark of ``framediff watch``: events on generated fixed-camera clips, and speed at 1080p30.

With the shared kit (``../shared/bench`` next to the repository), which the README's figures need:
``make_watch_video.py`` makes each clip with its ignore mask and truth, ``score_events.py`` scores the
events, and ``baseline_motion.py`` (the classic OpenCV recipe, the peer) runs on the same clips in the
same run. From a clone without the kit (or with ``--material own``), this project's
``benchmarks/material.py`` makes clips of the same kind (fixed camera, noise, light drift, a flickering
screen under the ignore mask, people and a cart crossing) and scores them the same way; the peer is the
kit's and is left out. Speed is measured on a 1080p30 H.264 clip made from the public case's clip
(``chelsea:5``) with ffmpeg, decoding included.

Usage::

    python benchmarks/bench_watch.py                      # public case + 5 other photos/seeds/sizes
    python benchmarks/bench_watch.py --cases chelsea:5    # only the public case
    python benchmarks/bench_watch.py --workdir /tmp/bw    # keep the clips (reused when present)
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KIT = (ROOT / ".." / "shared" / "bench").resolve()
sys.path.insert(0, str(Path(__file__).resolve().parent))
import material  # noqa: E402 - the benchmarks' own material, beside this script

USE_KIT = True  # set by main(): the kit's clips, scorer and peer, else material.py's clips and scorer

# photo:seed[:WxH[:fps[:crf]]]. The first is the public case; the others vary photo, noise seed, size,
# frame rate and compression, as the unseen acceptance clips may.
DEFAULT_CASES = [
    "chelsea:5",
    "coffee:1",
    "astronaut:3",
    "rocket:7:960x540:25:32",
    "camera:9:1280x720",
    "coffee:12:1280x720:30:30",
]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """Run a command, failing loudly with its output."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p


def make_clip(workdir: Path, case: str) -> Path:
    """Make (or reuse) the clip for ``photo:seed[:size[:fps[:crf]]]``."""
    parts = case.split(":")
    photo, seed = parts[0], parts[1]
    clip = workdir / f"{'' if USE_KIT else 'own-'}watch_{case.replace(':', '_')}.mp4"
    if not clip.exists():
        maker = [str(KIT / "make_watch_video.py")] if USE_KIT else [str(Path(material.__file__)), "watch"]
        cmd = [sys.executable, *maker, str(clip), "--photo", photo, "--seed", seed]
        for opt, value in zip(("--size", "--fps", "--crf"), parts[2:], strict=False):
            cmd += [opt, value]
        run(cmd)
    return clip


def score(truth: Path, events: Path) -> dict[str, str]:
    """caught, false_events and median_latency as printed by score_events.py (or material.py's scorer)."""
    if not USE_KIT:
        return {k: str(v) for k, v in material.score_events(truth, events).items()}
    out = run([sys.executable, str(KIT / "score_events.py"), str(truth), str(events)]).stdout
    return dict(re.findall(r"(caught|false_events|median_latency)=(\S+)", out.strip().splitlines()[-1]))


def bench_events(workdir: Path, cases: list[str]) -> bool:
    """Run framediff and the classic recipe on every case; print a table; True when all accept."""
    print(f"{'case':28s} {'tool':18s} {'caught':>7s} {'false':>6s} {'latency':>8s}")
    ok = True
    for case in cases:
        clip = make_clip(workdir, case)
        stem = clip.with_suffix("")
        truth, mask = Path(f"{stem}.truth.json"), Path(f"{stem}.ignore.png")
        ours, base = Path(f"{stem}.framediff.jsonl"), Path(f"{stem}.baseline.jsonl")
        cmd = [
            sys.executable,
            "-m",
            "framediff",
            "watch",
            str(clip),
            "--ignore",
            str(mask),
            "--events",
            str(ours),
            "-q",
        ]
        run(cmd, cwd=ROOT)
        tools = [("framediff watch", ours)]
        if USE_KIT:  # the peer is the kit's
            run([sys.executable, str(KIT / "baseline_motion.py"), str(clip), str(base)])
            tools.append(("classic recipe", base))
        for tool, path in tools:
            s = score(truth, path)
            print(
                f"{case:28s} {tool:18s} {s['caught']:>7s} {s['false_events']:>6s} {s['median_latency']:>8s}"
            )
            if tool == "framediff watch":
                c, n = s["caught"].split("/")
                lat = s["median_latency"]
                ok &= c == n and s["false_events"] == "0" and lat != "None" and int(lat) <= 3
    return ok


def make_speed_clip(workdir: Path, public: Path) -> Path:
    """A 20 s 1080p30 H.264 clip: the public clip's 600 frames upscaled and played at 30 fps."""
    out = workdir / f"{'' if USE_KIT else 'own-'}watch_1080p30.mp4"
    if not out.exists():
        if shutil.which("ffmpeg") is None:
            sys.exit("ffmpeg is needed to make the 1080p clip")
        vf = "setpts=PTS/2,scale=1920:1080:flags=bicubic"
        run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(public), "-vf", vf, "-r", "30", "-c:v", "libx264",
             "-preset", "medium", "-crf", "23", "-pix_fmt", "yuv420p", str(out)])  # fmt: skip
    return out


def ffmpeg_decode_seconds(clip: Path) -> float:
    """Wall time of ``ffmpeg -i CLIP -f null -``: FFmpeg decoding the clip alone, its default threads.

    Issue 7 states its 12x target against this ("FFmpeg decodes 1080p H.264 at about 620 frames/s, 20x
    real time"); the machine's speed drifts by a third between minutes, so each watch run is paired
    with a decode-alone run of its own.
    """
    t0 = time.perf_counter()
    run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(clip), "-f", "null", "-"])
    return time.perf_counter() - t0


def decoder_alone_seconds(clip: Path) -> float:
    """Wall time of framediff's own decoder on the clip with the watch's settings and no analysis: the
    ceiling of the watch's speed on this machine in these minutes."""
    from framediff.sources import open_source
    from framediff.watch import Watcher

    t0 = time.perf_counter()
    with open_source(clip, gray=True) as src:
        Watcher(str(clip)).tune_decoder(src)
        for _ in src:
            pass
    return time.perf_counter() - t0


def bench_speed(clip: Path, repeats: int) -> tuple[float, float]:
    """Watch the 1080p clip with the Python API (decode + analysis), each run paired with FFmpeg decoding
    it alone; print every pair and return the best x real time and the best watch / decode-alone ratio."""
    sys.path.insert(0, str(ROOT))
    from framediff.sources import open_source
    from framediff.watch import Watcher

    with open_source(clip) as src:
        duration = src.duration or 0.0
        size, fps = src.size, src.fps
    best, best_ratio = 0.0, 0.0
    for _ in range(repeats):
        decode = ffmpeg_decode_seconds(clip)
        ours_alone = decoder_alone_seconds(clip)
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        state = Watcher(str(clip)).run(handle_signals=False)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        x = duration / wall
        best = max(best, x)
        best_ratio = max(best_ratio, decode / wall)
        print(
            f"speed {size[0]}x{size[1]} {fps:g} fps, {duration:.1f} s, {state.frames} frames: "
            f"{state.frames / wall:.0f} frames/s = {x:.2f}x real time "
            f"(CPU {cpu:.1f} s = {duration / cpu:.2f}x real time on one core; "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}); "
            f"ffmpeg decoding alone just before: {duration / decode:.2f}x real time, "
            f"watch / decode-alone speed {decode / wall:.2f}; "
            f"framediff's decoder alone (the watch's settings, no analysis): {duration / ours_alone:.2f}x real "
            f"time, watch / that {ours_alone / wall:.2f}"
        )
    return best, best_ratio


def main() -> None:
    """Parse arguments, run both parts, print the verdict."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", help="Folder for clips and outputs (default: a temporary folder).")
    ap.add_argument("--cases", nargs="*", default=DEFAULT_CASES, help="photo:seed[:WxH[:fps[:crf]]] ...")
    ap.add_argument(
        "--repeats", type=int, default=3, help="Speed runs (the best is kept: the machine is shared)."
    )
    ap.add_argument(
        "--material",
        choices=("auto", "kit", "own"),
        default="auto",
        help="the kit's clips, scorer and peer (auto: when ../shared/bench is there) or material.py's",
    )
    a = ap.parse_args()
    global USE_KIT
    have_kit = (KIT / "make_watch_video.py").exists()
    if a.material == "kit" and not have_kit:
        sys.exit(f"--material kit: benchmark kit not found at {KIT}")
    USE_KIT = have_kit and a.material != "own"
    if USE_KIT:
        print(f"material: the shared kit's ({KIT}): clips from make_watch_video.py, events scored by "
              "score_events.py, the classic recipe from baseline_motion.py; the README's figures need the kit")  # fmt: skip
    else:
        why = "--material own" if have_kit else f"no kit at {KIT}"
        print(f"material: benchmarks/material.py's own clips and scorer ({why}); the README's figures and the "
              "classic-recipe peer need the kit (../shared/bench): left out here")  # fmt: skip
    tmp = None if a.workdir else tempfile.TemporaryDirectory(prefix="bench_watch_")
    workdir = Path(a.workdir or tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    events_ok = bench_events(workdir, a.cases)
    public = make_clip(workdir, "chelsea:5")
    x, ratio = bench_speed(make_speed_clip(workdir, public), a.repeats)
    # Issue 7's 12x is 0.6 of the 20x it gives for FFmpeg decoding alone: the second figure is the same
    # target against what decoding alone reaches on this machine in the same minutes.
    print(f"acceptance: events {'PASS' if events_ok else 'FAIL'} (all caught, 0 false, median latency <= 3); "
          f"speed {'PASS' if x >= 4 else 'FAIL'} ({x:.2f}x >= 4x real time at 1080p30); "
          f"issue 7 speed {'PASS' if x >= 12 else 'FAIL'} ({x:.2f}x >= 12x); "
          f"against decoding alone {'PASS' if ratio >= 0.6 else 'FAIL'} ({ratio:.2f} >= 12/20)")  # fmt: skip
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
