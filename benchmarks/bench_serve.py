"""Analysis frame rate of ``watch`` with 0 and with 5 live viewers connected, in the same run.

A 1080p30 H.264 clip (a real photo from ``skimage.data``, sensor noise, an object crossing now and then)
is watched as fast as possible while five MJPEG viewers come and go in alternating phases of about a
second (jittered, so phases never line up with the clip's rhythm): four read the live picture as a
browser does, one connects and never reads, so its socket fills up and its connection thread blocks.
Interleaving short phases inside one watch makes both conditions see the same machine load (other
processes, CPU clocks) and the same content. The viewers run in a child process, as browsers would, so
their reading does not compete for this process's interpreter lock. The first quarter second of each
phase (connecting, disconnecting) is not counted. The analysis rate includes decoding.

Prints each condition's frames per second (pooled over its phases) and their ratio; acceptance: the
rate with 5 viewers >= 0.90 x the rate with none.

Usage::

    python benchmarks/bench_serve.py [--frames 1800] [--repeat 3] [--min-phases 8] [--phase 1.0] [--out bench-out]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import skimage.data

from framediff.serve import LiveServer, LiveView
from framediff.watch import Watcher

W, H, FPS = 1920, 1080, 30


def make_clip(path: Path, frames: int) -> Path:
    """Write the 1080p30 test clip (kept and reused when it already exists with the same length).

    Args:
        path: The MP4 to write.
        frames: Number of frames.

    Returns:
        The path.
    """
    stamp = path.with_suffix(".frames")
    if path.exists() and stamp.exists() and stamp.read_text().strip() == str(frames):
        return path
    rng = np.random.default_rng(3)
    base = cv2.resize(
        cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR), (W, H), interpolation=cv2.INTER_CUBIC
    )
    # A few noise fields, cycled: per-frame fresh 1080p noise would make the clip slow to build.
    noise = [rng.normal(0, 3, (H, W, 3)).astype(np.int16) for _ in range(7)]
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        stream.time_base = Fraction(1, FPS)
        for i in range(frames):
            f = base.astype(np.int16) + noise[i % len(noise)]
            phase = i % 150
            if 40 <= phase < 100:  # an object crosses for 2 s of every 5
                x = 100 + (phase - 40) * 25
                cv2.rectangle(f, (x, 420), (x + 220, 820), (40, 60, 200), -1)
            frame = av.VideoFrame.from_ndarray(np.clip(f, 0, 255).astype(np.uint8), format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(tmp, path)
    path.with_suffix(".frames").write_text(str(frames))
    return path


# -- the viewers (child process) ---------------------------------------------------------------------------


def viewers_main(port: int, readers: int, stalled: int) -> None:
    """Child process: on ``on`` (stdin), connect ``readers`` viewers that read the stream as it comes and
    ``stalled`` that never read; on ``off``, disconnect them all and print how many JPEGs each reader got.

    A line is printed after each command once it is done (``on``: connected; ``off``: a JSON object).
    """
    marker = b"Content-Type: image/jpeg"

    def read(s: socket.socket, counts: list[int], i: int) -> None:
        tail = b""
        while True:
            try:
                data = s.recv(1 << 16)
            except OSError:
                break
            if not data:
                break
            chunk = tail + data
            counts[i] += chunk.count(marker)
            # Keep a little of the end for a marker split across two reads, but not a whole one.
            tail = chunk[-(len(marker) - 1) :]

    socks: list[socket.socket] = []
    threads: list[threading.Thread] = []
    counts: list[int] = []
    since = time.perf_counter()
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "on":
            counts = [0] * readers
            socks, threads = [], []
            for _ in range(stalled):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills up after a frame or so
                s.connect(("127.0.0.1", port))
                s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                socks.append(s)
            for i in range(readers):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                socks.append(s)
                threads.append(threading.Thread(target=read, args=(s, counts, i), daemon=True))
                threads[-1].start()
            since = time.perf_counter()
            print("on", flush=True)
        elif cmd == "off":
            for s in socks:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            for t in threads:
                t.join(timeout=5)
            print(json.dumps({"jpegs": counts, "seconds": time.perf_counter() - since}), flush=True)
        elif cmd == "quit":
            return


# -- the run ----------------------------------------------------------------------------------------------


class Phases:
    """Toggles the viewers on and off during a watch and records the analysis rate of each phase."""

    def __init__(
        self, watcher: Watcher, live: LiveView, port: int, viewers: int, seconds: float, seed: int
    ) -> None:
        self.watcher, self.live, self.viewers = watcher, live, viewers
        self.seconds = seconds
        self.rng = np.random.default_rng(seed)
        self.child = subprocess.Popen(
            [sys.executable, __file__, "--viewers", str(port), str(viewers - 1), "1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        # (viewers, frames, seconds, JPEGs per second received by each reading viewer)
        self.records: list[tuple[int, int, float, list[float] | None]] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def _frames(self) -> int:
        with self.watcher.state.lock:
            return self.watcher.state.frames

    def _say(self, cmd: str) -> str:
        assert self.child.stdin is not None and self.child.stdout is not None
        self.child.stdin.write(cmd + "\n")
        self.child.stdin.flush()
        return self.child.stdout.readline().strip()

    def run(self) -> None:
        n = 0
        while self.watcher.state.status != "ended" and not self.watcher.stopped:
            on = n % 2 == 1
            got = None
            if on:
                self._say("on")
                deadline = time.monotonic() + 5
                while self.live.viewers < self.viewers and time.monotonic() < deadline:
                    time.sleep(0.005)
            time.sleep(0.25)  # settle: connections made or gone, the encoder started or idle
            f0, t0 = self._frames(), time.perf_counter()
            # Phase lengths jitter, so phases never line up with the clip's own rhythm.
            end = t0 + self.seconds * float(self.rng.uniform(0.8, 1.2))
            while time.perf_counter() < end and self.watcher.state.status != "ended":
                time.sleep(0.02)
            f1, t1 = self._frames(), time.perf_counter()
            if on:
                reply = json.loads(self._say("off"))
                got = [n / reply["seconds"] for n in reply["jpegs"]]
            if self.watcher.state.status != "ended" and f1 > f0:
                self.records.append((self.viewers if on else 0, f1 - f0, t1 - t0, got))
            n += 1

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._say("quit")
        self.child.wait(timeout=10)


def watch_with_phases(clip: Path, viewers: int, seconds: float, seed: int) -> tuple[list, int, float]:
    """Watch the whole clip as fast as possible while viewers come and go in alternating phases.

    Returns:
        ``(records, encoded JPEGs, seconds of the watch)``.
    """
    watcher = Watcher(str(clip))
    live = LiveView(watcher)
    server = LiveServer(live, ("127.0.0.1", 0))
    server.start()
    phases = Phases(watcher, live, server.port, viewers, seconds, seed)
    try:
        with watcher.state.lock:
            watcher.state.status = "starting"
        phases.thread.start()
        t0 = time.perf_counter()
        watcher.run(handle_signals=False)
        took = time.perf_counter() - t0
        phases.thread.join(timeout=30)
    finally:
        server.close()
        phases.close()
    return phases.records, live.encoded, took


def main() -> None:
    """Build the clip, watch it with viewers coming and going, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=1800, help="clip length in frames (30 fps)")
    ap.add_argument("--repeat", type=int, default=3, help="watches of the whole clip (at least)")
    ap.add_argument(
        "--min-phases",
        type=int,
        default=8,
        help="watch again (up to 4 x --repeat) until this many phases had viewers: on a fast minute a"
        " watch of the clip holds only ~3, too few to pair",
    )
    ap.add_argument("--phase", type=float, default=1.0, help="seconds per phase (jittered +-20%%)")
    ap.add_argument("--out", default="bench-out", help="where the clip is kept between runs")
    ap.add_argument(
        "--viewers", nargs=3, type=int, metavar=("PORT", "READERS", "STALLED"), help=argparse.SUPPRESS
    )
    a = ap.parse_args()
    if a.viewers:
        viewers_main(*a.viewers)
        return
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    clip = make_clip(out / f"serve-1080p30-{a.frames}.mp4", a.frames)
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"# clip: {clip} ({a.frames} frames, {W}x{H} H.264, {FPS} fps); live view: <= 10 fps, 960 px JPEG")
    print("# 5 viewers = 4 reading the MJPEG stream + 1 connected that never reads (child process)")
    records: list = []
    r = -1
    while True:
        r += 1
        with_viewers = sum(1 for x in records if x[0])
        if r >= a.repeat and (with_viewers >= a.min_phases or r >= 4 * a.repeat):
            break
        recs, encoded, took = watch_with_phases(clip, 5, a.phase, seed=r)
        records += recs
        on = [x for x in recs if x[0]]
        got = [statistics.median(x[3][i] for x in on) for i in range(4)] if on else []
        print(
            f"watch {r + 1}: {a.frames / took:.1f} frames/s overall, {len(recs)} phases;"
            f" live picture {encoded} JPEGs, received per reading viewer "
            + ", ".join(f"{g:.1f}/s" for g in got)
        )
    rate = {}
    for v in (0, 5):
        sel = [x for x in records if x[0] == v]
        rate[v] = sum(x[1] for x in sel) / sum(x[2] for x in sel)
        per = [x[1] / x[2] for x in sel]
        print(
            f"{v} viewers: {rate[v]:.1f} frames/s over {len(sel)} phases"
            f" (per phase: median {statistics.median(per):.1f}, min {min(per):.1f}, max {max(per):.1f})"
        )
    # Paired: each phase with viewers against the mean of the phases without just before and after it
    # (robust to the machine's load drifting during the run).
    paired = []
    for i, x in enumerate(records):
        near = [records[j] for j in (i - 1, i + 1) if 0 <= j < len(records) and records[j][0] == 0]
        if x[0] and near:
            paired.append((x[1] / x[2]) / statistics.mean(y[1] / y[2] for y in near))
    ratio = rate[5] / rate[0]
    print(f"ratio 5 viewers / none, pooled: {ratio:.3f}")
    if paired:
        q = statistics.quantiles(paired, n=4) if len(paired) > 1 else [paired[0]] * 3
        med = statistics.median(paired)
        print(
            f"ratio 5 viewers / neighbouring phases without: median {med:.3f} (quartiles {q[0]:.3f}-{q[2]:.3f}, {len(paired)} pairs)"
        )
        ratio = min(ratio, med)
    verdict = "PASS" if ratio >= 0.9 else "FAIL"
    print(f"acceptance (the lower ratio >= 0.900, i.e. within 10%): {verdict}")


if __name__ == "__main__":
    main()
