"""Memory of ``framediff watch`` over a long stream: peak RSS against RSS after the first minute (issue 7).

A generated fixed-camera clip (people walk through, so events, snapshots and the live view all have work)
from the shared kit's ``make_watch_video.py`` when ``../shared/bench`` is there (the README's figure
needs it), else from this project's ``benchmarks/material.py`` (or with ``--material own``), is served
on 127.0.0.1 over HTTP, looped into one MPEG-TS stream with continuous timestamps (``ffmpeg -stream_loop``, packets copied, nothing
re-encoded), as fast as watch reads it. ``framediff watch`` runs on it as a separate process with every
sink that keeps something per event or per frame: ``--events``, ``--regions``, ``--snapshots`` and
``--serve`` with a viewer reading the live picture the whole time. The benchmark samples the process's
``VmRSS`` from ``/proc`` and the stream time from the live view's ``/api/status``, and prints the RSS once
the first minute of stream time is watched, the peak RSS after that, and their ratio (issue 7 wants at
most 1.10).

Usage::

    python benchmarks/bench_watch_memory.py                          # 30 minutes of stream at 1280x720
    python benchmarks/bench_watch_memory.py --minutes 5 --size 640x360
    python benchmarks/bench_watch_memory.py --file                   # a long generated file instead
    python benchmarks/bench_watch_memory.py --workdir /tmp/bwm       # keep the clip and the outputs
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import math
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KIT = (ROOT / ".." / "shared" / "bench").resolve()
MATERIAL = Path(__file__).resolve().parent / "material.py"  # the benchmarks' own clips, when there is no kit

LIMIT = 1.10  # issue 7: peak RSS within 10% of the RSS after the first minute


def run(cmd: list[str]) -> None:
    """Run a command, failing loudly with its output."""
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_clip(workdir: Path, size: str, fps: int, kit: bool) -> tuple[Path, float, int]:
    """The looped clip (made once per size and rate; the kit's or material.py's), its duration in seconds
    and its frame count."""
    clip = workdir / f"{'' if kit else 'own-'}memory_{size}_{fps}.mp4"
    if not clip.exists():
        maker = [str(KIT / "make_watch_video.py")] if kit else [str(MATERIAL), "watch"]
        run([sys.executable, *maker, str(clip), "--photo", "chelsea", "--seed", "5", "--size", size,
             "--fps", str(fps)])  # fmt: skip
    truth = json.loads(clip.with_suffix(".truth.json").read_text())
    return clip, truth["frames"] / truth["fps"], int(truth["frames"])


def ffmpeg_loop(clip: Path, loops: int, fmt: str, out: str) -> list[str]:
    """ffmpeg playing ``clip`` ``loops`` times in a row, timestamps continued, packets copied."""
    return ["ffmpeg", "-nostdin", "-loglevel", "error", "-stream_loop", str(loops - 1), "-i", str(clip),
            "-map", "0:v", "-c", "copy", "-f", fmt, out]  # fmt: skip


class StreamServer:
    """Serves the looped clip as one endless-looking MPEG-TS stream at ``http://127.0.0.1:PORT/live.ts``.

    Each request gets its own ffmpeg, whose output is copied to the socket as fast as the reader takes it.
    """

    def __init__(self, clip: Path, loops: int) -> None:
        cmd = ffmpeg_loop(clip, loops, "mpegts", "pipe:1")

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the base class's naming
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.end_headers()
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
                try:
                    assert proc.stdout is not None
                    while chunk := proc.stdout.read(1 << 16):
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # watch stopped reading: it reached its frame limit
                finally:
                    proc.kill()
                    proc.wait()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/live.ts"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


def rss_kb(pid: int) -> tuple[int, int] | None:
    """``(VmRSS, VmHWM)`` of a process in KiB, from /proc; ``None`` once it has gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    vals = dict(line.split(":", 1) for line in text.splitlines() if line.startswith(("VmRSS", "VmHWM")))
    try:
        return int(vals["VmRSS"].split()[0]), int(vals["VmHWM"].split()[0])
    except (KeyError, ValueError):
        return None


def stream_time(port: int) -> float | None:
    """Stream time of the last analysed frame, from the live view (``None`` while it is not up)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as r:
            return float(json.load(r).get("time", 0.0))
    except (OSError, ValueError):
        return None


def viewer(port: int, stop: threading.Event, got: list[int]) -> None:
    """Keep the live picture open like a browser would, reading and dropping the JPEGs."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream.mjpg", timeout=5) as r:
                while not stop.is_set() and (chunk := r.read(1 << 15)):
                    got[0] += len(chunk)
        except OSError:
            stop.wait(0.2)  # not up yet, or gone at the end


def main() -> None:
    """Parse arguments, run the watch, print the RSS figures and the verdict."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="Stream time to watch (default 30).")
    ap.add_argument("--size", default="1280x720", help="Frame size of the generated clip (default 1280x720).")
    ap.add_argument("--fps", type=int, default=15, help="Frame rate of the generated clip (default 15).")
    ap.add_argument("--file", action="store_true", help="Watch one long generated file instead of a stream.")
    ap.add_argument("--workdir", help="Folder for the clip and the outputs (default: a temporary folder).")
    ap.add_argument("--interval", type=float, default=0.2, help="Seconds between RSS samples.")
    ap.add_argument(
        "--material",
        choices=("auto", "kit", "own"),
        default="auto",
        help="the kit's clip (auto: when ../shared/bench is there) or benchmarks/material.py's",
    )
    a = ap.parse_args()
    have_kit = (KIT / "make_watch_video.py").exists()
    if a.material == "kit" and not have_kit:
        sys.exit(f"--material kit: benchmark kit not found at {KIT}")
    kit = have_kit and a.material != "own"
    if kit:
        print(f"material: the shared kit's make_watch_video.py ({KIT}); the README's figure needs the kit")
    else:
        why = "--material own" if have_kit else f"no kit at {KIT}"
        print(f"material: benchmarks/material.py's own clip ({why}); the README's figure needs the kit "
              "(../shared/bench): this is the same measurement on another clip of the same kind")  # fmt: skip
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is needed to loop the clip")
    tmp = None if a.workdir else tempfile.TemporaryDirectory(prefix="bench_watch_memory_")
    workdir = Path(a.workdir or tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)

    clip, clip_s, clip_frames = make_clip(workdir, a.size, a.fps, kit)
    loops = max(2, math.ceil(a.minutes * 60.0 / clip_s))
    frames = int(round(a.minutes * 60.0 * a.fps))
    server = None
    if a.file:
        source = str(workdir / f"memory_{a.size}_{a.fps}_{loops}x.mp4")
        if not Path(source).exists():
            run(ffmpeg_loop(clip, loops, "mp4", source))
    else:
        server = StreamServer(clip, loops)
        source = server.url
    out = workdir / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    port = free_port()
    cmd = [sys.executable, "-m", "framediff", "watch", source, "--events", str(out / "events.jsonl"),
           "--regions", str(out / "regions.jsonl"), "--snapshots", str(out / "snapshots"),
           "--serve", f"127.0.0.1:{port}", "--max-frames", str(frames), "-q"]  # fmt: skip
    print(f"watching {a.minutes:g} min of {a.size} {a.fps} fps ({frames} frames: a {clip_s:.0f} s clip x "
          f"{loops}) from {'a file' if a.file else 'an HTTP stream on 127.0.0.1'}, with events, regions, "
          f"snapshots and the live view (one viewer)", flush=True)  # fmt: skip

    stop = threading.Event()
    got = [0]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    threading.Thread(target=viewer, args=(port, stop, got), daemon=True).start()
    samples: list[tuple[float, float, int, int]] = []  # (wall s, stream s, VmRSS KiB, VmHWM KiB)
    last_t = 0.0
    next_status = 0.0
    while proc.poll() is None:
        now = time.monotonic()
        if now >= next_status:  # the status costs the server a little: ask twice a second
            st = stream_time(port)
            last_t = st if st is not None else last_t
            next_status = now + 0.5
        mem = rss_kb(proc.pid)
        if mem is not None:
            samples.append((now - t0, last_t, *mem))
        time.sleep(a.interval)
    wall = time.monotonic() - t0
    stop.set()
    err = proc.stderr.read() if proc.stderr else ""
    if server is not None:
        server.close()
    if proc.returncode != 0:
        sys.exit(f"watch failed with status {proc.returncode}:\n{err[-2000:]}")

    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines() if line.strip()]
    starts = sum(1 for e in events if e.get("event") == "change_start")
    shots = len(list((out / "snapshots").glob("*.jpg")))
    after = [s for s in samples if s[1] >= 60.0]
    if not after:
        sys.exit("the watch never got past the first minute of stream time")
    first = after[0]
    peak = max(after, key=lambda s: s[2])
    ratio = peak[2] / first[2]
    print(f"watched {last_t / 60:.1f} min of stream in {wall:.0f} s ({last_t / wall:.1f}x real time); "
          f"{len(events)} events ({starts} change starts), {shots} snapshots, "
          f"{got[0] / 1e6:.1f} MB of live picture read; {len(samples)} RSS samples")  # fmt: skip
    for frac in (0.25, 0.5, 0.75, 1.0):
        s = after[min(len(after) - 1, int(frac * (len(after) - 1)))]
        print(f"  at {s[1] / 60:5.1f} min of stream: RSS {s[2] / 1024:.1f} MiB")
    print(f"RSS after the first minute: {first[2] / 1024:.1f} MiB (at {first[1]:.0f} s of stream); "
          f"peak RSS after it: {peak[2] / 1024:.1f} MiB (at {peak[1] / 60:.1f} min); "
          f"ratio {ratio:.3f}; process peak (VmHWM) {samples[-1][3] / 1024:.1f} MiB")  # fmt: skip
    print(f"acceptance: memory {'PASS' if ratio <= LIMIT else 'FAIL'} (peak / first minute {ratio:.3f} "
          f"<= {LIMIT:.2f})")  # fmt: skip
    if tmp:
        with contextlib.suppress(OSError):
            tmp.cleanup()


if __name__ == "__main__":
    main()
