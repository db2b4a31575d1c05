"""The ``dedup --plot`` picture: per-frame change score over time, the threshold, dropped runs shaded.

Drawn with OpenCV and numpy only. Scores span 0-255 grey levels while the threshold sits near 1-3, so the
vertical axis is logarithmic (``log(1 + score)``) to show both the noise floor and the cuts.
"""

from __future__ import annotations

import math
from array import array
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .render import write_image

__all__ = ["PlotData", "write_plot"]

WIDTH, HEIGHT = 1400, 460
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 40, 40
TICKS = (0, 1, 2, 5, 10, 20, 50, 100, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX


class PlotData:
    """Compact per-frame series for the plot: ~17 bytes a frame, so memory stays flat in practice."""

    def __init__(self) -> None:
        self.times = array("d")
        self.scores = array("f")
        self.thresholds = array("f")
        self.keep = bytearray()

    def add(self, decision: Any) -> None:
        """Record one :class:`~framediff.dedup.Decision`."""
        self.times.append(decision.time)
        self.scores.append(decision.score)
        self.thresholds.append(decision.threshold)
        self.keep.append(1 if decision.keep else 0)

    def __len__(self) -> int:
        return len(self.keep)


def _y(value: np.ndarray | float, top: float) -> np.ndarray:
    """Pixel row of a score on the log(1 + score) axis."""
    span = math.log1p(255.0)
    v = np.log1p(np.clip(np.nan_to_num(np.asarray(value, np.float64), nan=255.0), 0, 255)) / span
    return top + (HEIGHT - TOP - BOTTOM) * (1.0 - v)


def render_plot(data: PlotData, title: str = "") -> np.ndarray:
    """Draw the plot.

    Args:
        data: The recorded series.
        title: One line drawn at the top.

    Returns:
        A BGR image, ``HEIGHT`` x ``WIDTH``.
    """
    img = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    pw = WIDTH - LEFT - RIGHT
    n = len(data)
    times = np.frombuffer(data.times, np.float64) if n else np.zeros(1)
    t0, t1 = float(times[0]), float(times[-1])
    span = max(t1 - t0, 1e-9)

    def x_of(t: np.ndarray) -> np.ndarray:
        return LEFT + (np.asarray(t) - t0) / span * (pw - 1)

    if n:
        keep = np.frombuffer(bytes(data.keep), np.uint8).astype(bool)
        scores = np.frombuffer(data.scores, np.float32)
        thr = np.frombuffer(data.thresholds, np.float32)
        xs = x_of(times)
        half = max(0.5, (pw / max(n, 1)) / 2)
        # Dropped runs: one shaded band per run of consecutive drops, at least a pixel wide.
        edges = np.flatnonzero(np.diff(np.concatenate(([0], (~keep).astype(np.int8), [0]))))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            xa, xb = int(xs[a] - half), int(math.ceil(xs[b - 1] + half))
            cv2.rectangle(img, (xa, TOP), (max(xb, xa + 1), HEIGHT - BOTTOM), (200, 200, 250), -1)
        # Scores: per pixel column the range of the frames that fall in it, so long videos stay readable.
        cols = np.clip(xs.astype(np.int64) - LEFT, 0, pw - 1)
        ys = _y(scores, TOP)
        lo = np.full(pw, np.inf)
        hi = np.full(pw, -np.inf)
        np.minimum.at(lo, cols, ys)
        np.maximum.at(hi, cols, ys)
        used = np.isfinite(lo)
        prev: tuple[int, int] | None = None
        for c in np.flatnonzero(used):
            top, bottom = int(hi[c]), int(lo[c])
            x = LEFT + int(c)
            cv2.line(img, (x, bottom), (x, top), (170, 90, 20), 1)
            if prev is not None:
                cv2.line(img, prev, (x, bottom), (170, 90, 20), 1)
            prev = (x, top)
        # Threshold: a red step line (it moves with the noise floor when automatic).
        ty = _y(thr, TOP).astype(np.int32)
        pts = np.stack([xs.astype(np.int32), ty], axis=1).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], False, (0, 0, 220), 2)
    # Axes and ticks.
    cv2.rectangle(img, (LEFT, TOP), (WIDTH - RIGHT, HEIGHT - BOTTOM), (90, 90, 90), 1)
    for v in TICKS:
        y = int(_y(float(v), TOP))
        cv2.line(img, (LEFT - 4, y), (LEFT, y), (90, 90, 90), 1)
        cv2.putText(img, str(v), (8, y + 4), FONT, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    for i in range(6):
        t = t0 + span * i / 5
        x = int(x_of(np.array(t)))
        cv2.line(img, (x, HEIGHT - BOTTOM), (x, HEIGHT - BOTTOM + 4), (90, 90, 90), 1)
        cv2.putText(img, f"{t:.1f}s", (x - 14, HEIGHT - BOTTOM + 18), FONT, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.putText(img, title[:150], (LEFT, 24), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    legend = "blue: change score (log scale)   red: threshold   shaded: dropped frames"
    cv2.putText(img, legend, (LEFT, HEIGHT - 8), FONT, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    return img


def write_plot(path: Path, data: PlotData, title: str = "") -> None:
    """Render and save the plot as PNG (via a temporary name, renamed when written).

    Args:
        path: Where to write (``.png``).
        data: The recorded series.
        title: One line drawn at the top.

    Raises:
        OutputError: when the file cannot be written.
    """
    write_image(path, render_plot(data, title), fmt=".png")
