"""Shared fixtures: real photos from ``skimage.data`` and a small PyAV video writer.

Everything here needs only framediff's own dependencies (scikit-image ships the photos; PyAV writes the
videos), so the suite runs on a fresh machine. :class:`MjpegServer` is a real local camera over HTTP.
"""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import skimage.data

# A run started in the background by a non-interactive shell (`nohup ... &`, some CI runners) inherits
# SIGINT ignored, and Python then turns no Ctrl-C into KeyboardInterrupt, here or in the processes the
# tests start (an ignored signal stays ignored across exec). The Ctrl-C tests need Python's own handler.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_framediff(*args: str, cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """``framediff ARGS`` run in this process through click's :class:`~click.testing.CliRunner` isolation:
    the exit status, stdout and stderr as the command's entry point leaves them (its one ``Error:`` line,
    status 2), without starting an interpreter. Tests of signals and real processes start one instead.

    Args:
        args: The command line after ``framediff``.
        cwd: The working folder to run in.
        input: What the command reads on stdin.

    Returns:
        ``returncode``, ``stdout`` and ``stderr``, as :func:`subprocess.run` gives them.
    """
    from click.testing import CliRunner

    from framediff.cli.app import main

    here = os.getcwd()
    with CliRunner().isolation(input=input) as (out, err, _):
        try:
            if cwd is not None:
                os.chdir(cwd)
            main(list(args))
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        finally:
            os.chdir(here)
    return subprocess.CompletedProcess(["framediff", *args], code, out.getvalue().decode(), err.getvalue().decode())


# Photos bundled with scikit-image (no download needed), in colour or grey.
PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "camera")


def photo_bgr(name: str) -> np.ndarray:
    """A ``skimage.data`` photo as an OpenCV-style BGR uint8 array (grey photos are expanded)."""
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2BGR)


def photo_gray(name: str) -> np.ndarray:
    """A ``skimage.data`` photo as a grey uint8 array."""
    image = getattr(skimage.data, name)()
    return image if image.ndim == 2 else cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2GRAY)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """The astronaut photo, 512 x 512 BGR."""
    return photo_bgr("astronaut")


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    """The coffee-cup photo, 600 x 400 BGR."""
    return photo_bgr("coffee")


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    """The cat photo, 451 x 300 BGR."""
    return photo_bgr("chelsea")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator, so every run sees the same noise."""
    return np.random.default_rng(12345)


VideoWriter = Callable[..., Path]


def write_video(
    path: Path,
    frames: Sequence[np.ndarray],
    pts_ms: Sequence[int] | None = None,
    *,
    codec: str = "libx264",
    rate: int = 25,
    container_options: dict[str, str] | None = None,
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
) -> Path:
    """Encode BGR frames to ``path`` with PyAV, at the given presentation times.

    Args:
        path: Output file; the extension picks the container.
        frames: BGR uint8 frames, all the same size (even for 4:2:0).
        pts_ms: Presentation time of each frame in milliseconds (default: ``rate`` fps).
        codec: Encoder name.
        rate: Nominal frame rate given to the encoder.
        container_options: Muxer options, e.g. ``{"movflags": "+faststart"}``.
        pix_fmt: The encoder's pixel format (``yuv444p`` for odd sizes with ``ffv1``).
        options: Encoder options, e.g. ``{"g": "12"}`` for a key frame every 12 frames.

    Returns:
        ``path``.
    """
    if pts_ms is None:
        pts_ms = [round(i * 1000 / rate) for i in range(len(frames))]
    h, w = frames[0].shape[:2]
    tb = Fraction(1, 1000)
    with av.open(str(path), "w", options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=rate, options=options or {})
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.time_base = tb
        stream.codec_context.time_base = tb  # else the encoder rounds pts to 1/rate steps
        for image, pts in zip(frames, pts_ms, strict=True):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            frame.pts, frame.time_base = int(pts), tb
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture
def make_video() -> VideoWriter:
    """The :func:`write_video` helper, as a fixture."""
    return write_video


@pytest.fixture(scope="session")
def moving_frames() -> list[np.ndarray]:
    """Twelve 320 x 240 frames panning across the astronaut photo (each one visibly different)."""
    base = cv2.resize(photo_bgr("astronaut"), (400, 240), interpolation=cv2.INTER_AREA)
    return [np.ascontiguousarray(base[:, 6 * i : 6 * i + 320]) for i in range(12)]


class MjpegServer:
    """An MJPEG camera over HTTP (multipart/x-mixed-replace, as IP cameras serve it) on a given port.

    Each request gets ``frames`` JPEGs at ``fps``; ``once`` closes the server after the first request is
    served, so the port is closed when the watch tries to reconnect.
    """

    def __init__(self, port: int, frames: list[np.ndarray], fps: float = 30, once: bool = False) -> None:
        jpegs = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]
        server = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    for j in jpegs:
                        head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(j)
                        self.wfile.write(head + j + b"\r\n")
                        time.sleep(1 / fps)
                except OSError:
                    return  # the watch went away
                if once:
                    threading.Thread(target=server.close, daemon=True).start()

            def log_message(self, *args: object) -> None:
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{port}/cam.mjpg"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.httpd.shutdown()
            self.httpd.server_close()
