"""The ``dedup --plot`` picture: per-frame change score over time, the threshold, dropped and kept frames.

Drawn by hand, as PNG (OpenCV) or SVG (text), from one list of shapes, so both show the same thing;
matplotlib is not needed. Scores span 0-255 grey levels while the threshold sits near 1-3, so the vertical
axis is logarithmic (``log(1 + score)``) to show both the noise floor and the cuts.

Dropped frames shade the plot pink. A screen recording drops most frames, and one kept frame between two
long drops would be a hairline gap in the pink, so a strip under the plot marks the kept frames: in each
pixel column a green bar as tall as the share of its frames that were kept, and never less than a few
pixels high and 2 pixels wide when one was, so a kept frame stays visible at any length of video.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import cv2
import numpy as np

from ..errors import OptionError
from ..media.images import write_bytes, write_image

__all__ = ["PlotData", "PLOT_SUFFIXES", "check_plot_path", "render_plot", "render_svg", "write_plot"]

WIDTH, HEIGHT = 1400, 500
LEFT, RIGHT, TOP = 60, 20, 40
PLOT_BOTTOM = HEIGHT - 76  # lowest row of the score area
STRIP_TOP, STRIP_BOTTOM = PLOT_BOTTOM + 8, PLOT_BOTTOM + 26  # the kept-frames strip
MIN_BAR = 5  # pixels: the shortest bar of a column where a frame was kept
TICKS = (0, 1, 2, 5, 10, 20, 50, 100, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX
PLOT_SUFFIXES = (".png", ".svg")

# Colours, BGR as OpenCV takes them.
WHITE = (255, 255, 255)
PINK = (200, 200, 250)
GREEN = (60, 150, 30)
STRIP = (238, 238, 238)
BLUE = (170, 90, 20)
RED = (0, 0, 220)
AXIS = (90, 90, 90)
LABEL = (60, 60, 60)
BLACK = (0, 0, 0)


class PlotData:
    """Compact per-frame series for the plot: ~17 bytes a frame, so memory stays flat in practice.

    Attributes:
        images: The frames are images of a folder: the horizontal axis counts frames, not seconds.
    """

    def __init__(self, images: bool = False) -> None:
        self.times = array("d")
        self.scores = array("f")
        self.thresholds = array("f")
        self.keep = bytearray()
        self.images = images

    def add(self, decision: Any) -> None:
        """Record one :class:`~framediff.dedup.Decision`."""
        self.times.append(decision.time)
        self.scores.append(decision.score)
        self.thresholds.append(decision.threshold)
        self.keep.append(1 if decision.keep else 0)

    def __len__(self) -> int:
        return len(self.keep)


def check_plot_path(path: str | Path, label: str = "plot") -> None:
    """Refuse a plot name whose suffix is not one the plot is written as (before any work is done).

    Args:
        path: The requested plot file.
        label: How the message names the plot (a command line: ``--plot``).

    Raises:
        OptionError: when it does not end in ``.png`` or ``.svg``.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise OptionError(
            f"{label} {path}: a plot is written as PNG or SVG, not {suffix or 'a file without a suffix'}",
            "name it FILE.png or FILE.svg",
        )


@dataclass(frozen=True)
class _Rect:
    x0: int
    y0: int
    x1: int  # inclusive, as OpenCV's filled rectangles
    y1: int
    fill: tuple[int, int, int] | None
    stroke: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class _Line:
    points: tuple[tuple[int, int], ...]
    color: tuple[int, int, int]
    width: int = 1


@dataclass(frozen=True)
class _Text:
    x: int
    y: int  # baseline
    text: str
    scale: float
    color: tuple[int, int, int]


def _y(value: np.ndarray | float) -> np.ndarray:
    """Pixel row of a score on the log(1 + score) axis."""
    span = math.log1p(255.0)
    v = np.log1p(np.clip(np.nan_to_num(np.asarray(value, np.float64), nan=255.0), 0, 255)) / span
    return TOP + (PLOT_BOTTOM - TOP) * (1.0 - v)


def _columns(xs: np.ndarray, weights: np.ndarray, pw: int) -> np.ndarray:
    """Per pixel column, the sum of ``weights`` of the frames whose span covers it.

    A frame spans from half-way after the previous frame to half-way before the next, so frames wider
    than a pixel fill every column they cover and narrower ones add up in the column they fall in.
    """
    n = xs.size
    mid = (xs[1:] + xs[:-1]) / 2 if n > 1 else np.zeros(0)
    lo = np.concatenate(([xs[0] - 0.5], mid)) if n else np.zeros(0)
    hi = np.concatenate((mid, [xs[-1] + 0.5])) if n else np.zeros(0)
    a = np.clip(np.floor(lo).astype(np.int64), 0, pw - 1)
    b = np.clip(np.maximum(a, np.ceil(hi).astype(np.int64) - 1), 0, pw - 1)
    diff = np.zeros(pw + 1)
    np.add.at(diff, a, weights)
    np.add.at(diff, b + 1, -weights)
    return np.cumsum(diff[:pw])


def _shapes(data: PlotData, title: str) -> list[Any]:
    """Everything the plot draws, back to front, in pixels of a ``WIDTH`` x ``HEIGHT`` picture."""
    shapes: list[Any] = [_Rect(0, 0, WIDTH - 1, HEIGHT - 1, WHITE)]
    pw = WIDTH - LEFT - RIGHT
    n = len(data)
    times = np.frombuffer(data.times, np.float64) if n else np.zeros(1)
    t0, t1 = float(times[0]), float(times[-1])
    span = max(t1 - t0, 1e-9)

    def x_of(t: np.ndarray | float) -> np.ndarray:
        return (np.asarray(t, np.float64) - t0) / span * (pw - 1)  # from LEFT

    if n:
        keep = np.frombuffer(bytes(data.keep), np.uint8).astype(np.float64)
        scores = np.frombuffer(data.scores, np.float32)
        thr = np.frombuffer(data.thresholds, np.float32)
        xs = x_of(times) if n > 1 else np.array([pw / 2])
        frames = _columns(xs, np.ones(n), pw)
        kept = _columns(xs, keep, pw)
        used = frames > 0.5
        dropped_share = np.where(used, 1.0 - kept / np.maximum(frames, 1e-9), 0.0)
        kept_share = np.where(used, kept / np.maximum(frames, 1e-9), 0.0)
        # Dropped frames: pink, paler where a column mixes kept and dropped frames (long videos).
        for c0, c1, share in _runs(np.round(dropped_share * 8) / 8):
            if share > 0:
                color = tuple(int(round(255 - (255 - p) * share)) for p in PINK)
                shapes.append(_Rect(LEFT + c0, TOP, LEFT + c1, PLOT_BOTTOM, color))
        # Kept frames: the strip's green bars, at least MIN_BAR high and 2 px wide where one was kept.
        shapes.append(_Rect(LEFT, STRIP_TOP, LEFT + pw - 1, STRIP_BOTTOM, STRIP))
        bar = np.where(
            kept_share > 0, np.maximum(MIN_BAR, np.round(kept_share * (STRIP_BOTTOM - STRIP_TOP + 1))), 0
        )
        # A lone kept column also paints its right-hand neighbour (never over a taller bar).
        bar[1:] = np.maximum(bar[1:], np.where(bar[1:] == 0, bar[:-1], 0))
        for c0, c1, h in _runs(bar):
            if h > 0:
                shapes.append(_Rect(LEFT + c0, STRIP_BOTTOM - int(h) + 1, LEFT + c1, STRIP_BOTTOM, GREEN))
        # Scores: per pixel column the range of the frames that fall in it, so long videos stay readable.
        cols = np.clip(np.rint(xs).astype(np.int64), 0, pw - 1)
        ys = _y(scores)
        lo = np.full(pw, np.inf)
        hi = np.full(pw, -np.inf)
        np.minimum.at(lo, cols, ys)
        np.maximum.at(hi, cols, ys)
        points: list[tuple[int, int]] = []
        for c in np.flatnonzero(np.isfinite(lo)):
            points += [(LEFT + int(c), int(lo[c])), (LEFT + int(c), int(hi[c]))]
        shapes.append(_Line(tuple(points), BLUE, 1))
        # Threshold: a red line (it moves with the noise floor when automatic); one point per change.
        tpts = np.stack([LEFT + cols, _y(thr).astype(np.int64)], axis=1)
        change = np.ones(n, bool)
        change[1:-1] = np.any(tpts[1:-1] != tpts[:-2], axis=1) | np.any(tpts[1:-1] != tpts[2:], axis=1)
        shapes.append(_Line(tuple((int(x), int(y)) for x, y in tpts[change]), RED, 2))
    # Axes and ticks.
    shapes.append(_Rect(LEFT, TOP, WIDTH - RIGHT, PLOT_BOTTOM, None, AXIS))
    for v in TICKS:
        y = int(_y(float(v)))
        shapes.append(_Line(((LEFT - 4, y), (LEFT, y)), AXIS))
        shapes.append(_Text(8, y + 4, str(v), 0.4, LABEL))
    shapes.append(_Text(8, STRIP_BOTTOM - 4, "kept", 0.4, GREEN))
    for i in range(6):
        t = t0 + span * i / 5
        x = LEFT + int(x_of(t))
        shapes.append(_Line(((x, STRIP_BOTTOM + 2), (x, STRIP_BOTTOM + 6)), AXIS))  # under the strip
        label = f"{t:.0f}" if data.images else f"{t:.1f}s"
        shapes.append(_Text(x - 14, STRIP_BOTTOM + 20, label, 0.4, LABEL))
    shapes.append(_Text(LEFT, 24, title[:150], 0.45, BLACK))
    axis = "image number" if data.images else "time"
    legend = (
        "blue: change score (log scale)   red: threshold   pink: dropped frames   "
        f"green: kept frames (bar height: share of the column's frames kept)   across: {axis}"
    )
    shapes.append(_Text(LEFT, HEIGHT - 8, legend, 0.4, LABEL))
    return shapes


def _runs(values: np.ndarray) -> list[tuple[int, int, float]]:
    """``(first, last, value)`` of each run of equal values (columns, inclusive)."""
    if values.size == 0:
        return []
    edges = np.flatnonzero(np.diff(values)) + 1
    starts = np.concatenate(([0], edges))
    ends = np.concatenate((edges - 1, [values.size - 1]))
    return [(int(a), int(b), float(values[a])) for a, b in zip(starts, ends, strict=True)]


def render_plot(data: PlotData, title: str = "") -> np.ndarray:
    """Draw the plot as pixels.

    Args:
        data: The recorded series.
        title: One line drawn at the top.

    Returns:
        A BGR image, ``HEIGHT`` x ``WIDTH``.
    """
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for s in _shapes(data, title):
        if isinstance(s, _Rect):
            if s.fill is not None:
                cv2.rectangle(img, (s.x0, s.y0), (s.x1, s.y1), s.fill, -1)
            if s.stroke is not None:
                cv2.rectangle(img, (s.x0, s.y0), (s.x1, s.y1), s.stroke, 1)
        elif isinstance(s, _Line):
            if len(s.points) == 1:
                cv2.circle(img, s.points[0], max(1, s.width // 2), s.color, -1)
            elif s.points:
                pts = np.array(s.points, np.int32).reshape(-1, 1, 2)
                cv2.polylines(img, [pts], False, s.color, s.width)
        else:
            cv2.putText(img, s.text, (s.x, s.y), FONT, s.scale, s.color, 1, cv2.LINE_AA)
    return img


def _rgb(color: tuple[int, int, int]) -> str:
    b, g, r = color
    return f"#{r:02x}{g:02x}{b:02x}"


def render_svg(data: PlotData, title: str = "") -> str:
    """Draw the plot as an SVG document (the same shapes as :func:`render_plot`).

    Args:
        data: The recorded series.
        title: One line drawn at the top.

    Returns:
        The SVG text, ``WIDTH`` x ``HEIGHT`` user units.
    """
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" xml:space="preserve" font-family="Helvetica, Arial, sans-serif">',
    ]
    for s in _shapes(data, title):
        if isinstance(s, _Rect):
            fill = _rgb(s.fill) if s.fill is not None else "none"
            stroke = f' stroke="{_rgb(s.stroke)}"' if s.stroke is not None else ""
            # Pixel edges: a filled pixel x covers x..x+1; a 1-unit stroke is centred on the pixel.
            off = 0.5 if s.fill is None else 0.0
            w, h = s.x1 - s.x0 + (0 if s.fill is None else 1), s.y1 - s.y0 + (0 if s.fill is None else 1)
            out.append(
                f'<rect x="{s.x0 + off}" y="{s.y0 + off}" width="{w}" height="{h}" fill="{fill}"{stroke}/>'
            )
        elif isinstance(s, _Line):
            if s.points:
                pts = " ".join(f"{x + 0.5},{y + 0.5}" for x, y in s.points)
                if len(s.points) == 1:
                    pts += f" {s.points[0][0] + 1.5},{s.points[0][1] + 0.5}"
                out.append(
                    f'<polyline points="{pts}" fill="none" stroke="{_rgb(s.color)}" '
                    f'stroke-width="{s.width}" stroke-linejoin="round"/>'
                )
        else:
            size = round(s.scale * 30)
            out.append(
                f'<text x="{s.x}" y="{s.y}" font-size="{size}" fill="{_rgb(s.color)}">{escape(s.text)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_plot(path: Path, data: PlotData, title: str = "") -> None:
    """Render and save the plot, as PNG or SVG by the file's suffix (written under a temporary name,
    renamed when complete).

    Args:
        path: Where to write (``.png`` or ``.svg``).
        data: The recorded series.
        title: One line drawn at the top.

    Raises:
        OptionError: when the suffix is neither ``.png`` nor ``.svg``.
        OutputError: when the file cannot be written.
    """
    check_plot_path(path)
    if path.suffix.lower() == ".svg":
        write_bytes(path, render_svg(data, title).encode("utf-8"))
    else:
        write_image(path, render_plot(data, title), fmt=".png")
