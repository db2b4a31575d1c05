"""Benchmark material with known truth, made here, so every benchmark runs from a clone.

The benchmark kit (``../shared/bench``, next to the repository) has its own generators and scorers, used
for the figures in the README when it is there; this module makes material of the same kinds from the
photos that ship with scikit-image, and scores it, when it is not:

* :func:`make_dedup_clip`: a video with known duplicate frames (holds, animation on twos, a held picture
  under fresh sensor grain) and traps that must all be kept (a 1 px/frame pan, a slow cross-fade, a
  blinking caret, a small moving ball); :func:`score_decisions` scores ``keep``/``drop`` decisions.
* :func:`make_watch_clip`: a fixed camera with known events (people and a cart crossing), sensor noise,
  a slow light drift and a flickering screen that an ignore mask covers; :func:`score_events` scores
  ``framediff watch --events`` output.

Usage (from the repository root)::

    python benchmarks/material.py dedup OUT.mp4 [--size 1280x720 --crf 23 --seed 0 --repeat 1]
    python benchmarks/material.py watch OUT.mp4 [--photo chelsea --seed 5 --size 960x540 --fps 15 --crf 26]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import skimage.data

__all__ = ["Encoder", "make_dedup_clip", "score_decisions", "make_watch_clip", "score_events", "truth_path"]

PHOTOS = ("coffee", "astronaut", "rocket", "chelsea")


def truth_path(clip: Path) -> Path:
    """Where a clip's truth is written: ``CLIP.truth.json`` beside it (``OUT.mp4`` -> ``OUT.truth.json``)."""
    return clip.with_suffix(".truth.json")


def _photo(name: str, width: int, height: int) -> np.ndarray:
    """A ``skimage.data`` photo as BGR, resized (cubic) to cover ``width`` x ``height``, cropped centred."""
    image = getattr(skimage.data, name)()
    image = (
        cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if image.ndim == 2
        else cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2BGR)
    )
    scale = max(width / image.shape[1], height / image.shape[0])
    big = cv2.resize(
        image,
        (round(image.shape[1] * scale) + 1, round(image.shape[0] * scale) + 1),
        interpolation=cv2.INTER_CUBIC,
    )
    y, x = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return big[y : y + height, x : x + width].copy()


class Encoder:
    """H.264 (yuv420p) through PyAV, written under a temporary name and renamed when complete."""

    def __init__(self, path: Path, width: int, height: int, fps: int, crf: int) -> None:
        self.path, self.tmp = path, path.with_name(path.stem + ".part" + path.suffix)
        self.out = av.open(str(self.tmp), "w")
        self.stream = self.out.add_stream("libx264", rate=fps)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.options = {"crf": str(crf), "preset": "medium"}
        self.stream.time_base = Fraction(1, fps)
        self.n = 0

    def write(self, bgr: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(bgr, format="bgr24")
        frame.pts = self.n
        self.n += 1
        for packet in self.stream.encode(frame):
            self.out.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.out.mux(packet)
        self.out.close()
        self.tmp.replace(self.path)


# ---------------------------------------------------------------------------------------------- dedup


def _dedup_scenes(
    width: int, height: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, str, bool]]:
    """``(picture, segment, grain)`` per frame of one pass of the sequence; ``grain`` asks for fresh
    sensor noise on top (the scene itself is the picture, noise is not a change)."""
    canvases = [_photo(name, width * 2, height * 2) for name in PHOTOS]

    def crop(canvas: np.ndarray, x: int, y: int) -> np.ndarray:
        x, y = min(x, canvas.shape[1] - width), min(y, canvas.shape[0] - height)
        return canvas[y : y + height, x : x + width]

    for i in range(90):  # every frame one pixel further: all unique
        yield crop(canvases[0], 30 + i, 50), "slow_pan", False
    for i in range(60):  # a new picture every second frame: every other frame a repeat
        yield crop(canvases[1], 80 + 7 * (i // 2), 70), "on_twos", False
    still = crop(canvases[2], 150, 90).copy()
    for _ in range(60):
        yield still, "hold", False
    other = crop(canvases[3], 10, 10).copy()
    for i in range(60):  # 1/61 of the way per frame: each step is faint, none is a repeat
        yield cv2.addWeighted(still, 1 - (i + 1) / 61, other, (i + 1) / 61, 0), "slow_fade", False
    page = np.full((height, width, 3), 246, np.uint8)
    scale = height / 720
    for r in range(8):
        cv2.putText(page, f"{r + 1}. the quick brown fox jumps over the lazy dog", (int(40 * scale), int((60 + 48 * r) * scale)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.9 * scale, (30, 30, 30), max(1, round(2 * scale)), cv2.LINE_AA)  # fmt: skip
    on = page.copy()
    cx, cy = int(700 * scale), int(396 * scale)
    cv2.rectangle(on, (cx, cy - int(26 * scale)), (cx + max(1, int(2 * scale)), cy), (30, 30, 30), -1)
    for i in range(90):  # a caret blinking every 15 frames: each blink is a change, the rest repeats
        yield (on if (i // 15) % 2 == 0 else page), "caret", False
    base = crop(canvases[0], 400, 300).copy()
    for i in range(60):  # a ball of 1.5% of the height crossing: every frame unique
        f = base.copy()
        cv2.circle(
            f,
            (int((100 + 9 * i) * scale), int(500 * scale)),
            max(3, int(11 * scale)),
            (40, 200, 240),
            -1,
            cv2.LINE_AA,
        )
        yield f, "small_object", False
    grainy = crop(canvases[1], 300, 200).copy()
    for _ in range(60):  # the same scene under fresh sensor noise: repeats of the scene
        yield grainy, "grain", True
    for _ in range(30):
        yield grainy, "hold_end", False


def make_dedup_clip(
    path: Path,
    size: tuple[int, int] = (1280, 720),
    crf: int = 23,
    seed: int = 0,
    repeat: int = 1,
    fps: int = 30,
) -> Path:
    """Write a clip with known duplicate frames and ``CLIP.truth.json`` beside it (kept when both exist).

    A frame is a duplicate (``dup``) when its scene is the previous frame's scene: grain on a held scene is
    not a change, everything else that moves is.

    Args:
        path: The ``.mp4`` to write.
        size: ``(width, height)``, even.
        crf: x264 quality.
        seed: Seed of the sensor noise.
        repeat: Play the whole sequence this many times (longer clips for timing).
        fps: Frame rate.

    Returns:
        The path.
    """
    truth_file = truth_path(path)
    if path.exists() and truth_file.exists():
        return path
    width, height = size
    rng = np.random.default_rng(seed)
    enc = Encoder(path, width, height, fps, crf)
    frames: list[dict] = []
    previous: np.ndarray | None = None
    for _ in range(repeat):
        for scene, segment, grain in _dedup_scenes(width, height, rng):
            dup = previous is not None and (previous is scene or np.array_equal(previous, scene))
            frames.append({"dup": bool(dup), "segment": segment})
            picture = scene
            if grain:
                noise = rng.normal(0.0, 2.5, scene.shape).astype(np.float32)
                picture = np.clip(scene.astype(np.float32) + noise, 0, 255).astype(np.uint8)
            enc.write(np.ascontiguousarray(picture))
            previous = scene
    enc.close()
    truth_file.write_text(json.dumps({"fps": fps, "size": [width, height], "frames": frames}))
    return path


def score_decisions(
    truth_file: Path, decisions: list[str]
) -> tuple[float, float, dict[str, tuple[int, int, int, int]]]:
    """Score ``keep``/``drop`` decisions (one per frame) against a dedup clip's truth.

    Args:
        truth_file: The clip's ``.truth.json``.
        decisions: ``"keep"`` or ``"drop"`` for every frame, in order.

    Returns:
        ``(duplicate recall, false-drop rate, per segment (repeats dropped, repeats, unique frames dropped,
        unique frames))``: recall is the share of duplicates dropped, the false-drop rate the share of
        unique frames dropped.
    """
    frames = json.loads(Path(truth_file).read_text())["frames"]
    if len(decisions) != len(frames):
        raise ValueError(f"{len(decisions)} decisions for {len(frames)} frames")
    segments: dict[str, list[int]] = {}
    for t, d in zip(frames, decisions, strict=True):
        s = segments.setdefault(t["segment"], [0, 0, 0, 0])
        if t["dup"]:
            s[0] += d == "drop"
            s[1] += 1
        else:
            s[2] += d == "drop"
            s[3] += 1
    dups = sum(s[1] for s in segments.values())
    uniq = sum(s[3] for s in segments.values())
    recall = sum(s[0] for s in segments.values()) / dups if dups else 1.0
    false_drops = sum(s[2] for s in segments.values()) / uniq if uniq else 0.0
    return recall, false_drops, {k: (s[0], s[1], s[2], s[3]) for k, s in segments.items()}


# ---------------------------------------------------------------------------------------------- watch


def _walker(
    frame: np.ndarray, x: float, y: int, h: int, shirt: tuple[int, int, int], texture: np.ndarray
) -> None:
    """A person-sized figure, ``h`` pixels tall, its left edge at ``x``: head, body, legs."""
    w = h // 3
    x0 = int(round(x))
    body = texture[: h // 2, :w].astype(np.int16) // 3 + np.array(shirt, np.int16)
    y_body = y + h // 6
    xs, xe = max(0, x0), min(frame.shape[1], x0 + w)
    if xe > xs:
        frame[y_body : y_body + h // 2, xs:xe] = np.clip(body[:, xs - x0 : xe - x0], 0, 255).astype(np.uint8)
        legs = (y_body + h // 2, y + h)
        cv2.rectangle(frame, (x0 + w // 8, legs[0]), (x0 + w // 2 - 2, legs[1]), (40, 40, 60), -1)
        cv2.rectangle(frame, (x0 + w // 2 + 2, legs[0]), (x0 + w - w // 8, legs[1]), (40, 40, 60), -1)
    cv2.circle(frame, (x0 + w // 2, y + h // 12), h // 12, (120, 150, 200), -1, cv2.LINE_AA)


def make_watch_clip(
    path: Path,
    photo: str = "chelsea",
    seed: int = 5,
    size: tuple[int, int] = (960, 540),
    fps: int = 15,
    crf: int = 26,
) -> dict:
    """Write a fixed-camera clip with known events, ``CLIP.ignore.png`` (white: the flickering screen) and
    ``CLIP.truth.json`` (kept when all three exist).

    Args:
        path: The ``.mp4`` to write.
        photo: The ``skimage.data`` photo the camera looks at.
        seed: Seed of the noise, the flicker and the events' order.
        size: ``(width, height)``, even.
        fps: Frame rate.
        crf: x264 quality.

    Returns:
        The truth: ``{"fps", "frames", "size", "events": [[first, last, kind], ...]}``, frames 0-based and
        inclusive (the frames the object is in the picture).
    """
    truth_file, mask_file = truth_path(path), path.with_suffix(".ignore.png")
    if path.exists() and truth_file.exists() and mask_file.exists():
        return json.loads(truth_file.read_text())
    width, height = size
    rng = np.random.default_rng(seed)
    background = _photo(photo, width, height).astype(np.float32)
    # The flickering screen: a box in the top-right corner, ignored by the mask.
    sx0, sy0, sx1, sy1 = int(width * 0.78), int(height * 0.05), int(width * 0.95), int(height * 0.25)
    mask = np.zeros((height, width), np.uint8)
    mask[max(0, sy0 - 4) : sy1 + 4, max(0, sx0 - 4) : sx1 + 4] = 255
    texture = rng.integers(0, 90, (height, width, 3)).astype(np.uint8)
    texture = cv2.GaussianBlur(texture, (0, 0), 2)
    speed = width / (5.0 * fps)  # across the picture in 5 s
    h = int(height * 0.45)
    shirts = [(40, 40, 200), (200, 90, 30), (60, 170, 60), (30, 200, 220)]
    order = rng.permutation(len(shirts))
    # (start frame, direction, kind): quiet for 4 s first (the background settles), 4-6 s between events.
    events: list[list] = []
    plan: list[tuple[int, int, str, int]] = []
    t = 4 * fps
    for k, i in enumerate(order):
        kind = "cart" if k == 2 else "walker"
        direction = 1 if k % 2 == 0 else -1
        plan.append((t, direction, kind, int(i)))
        t += int(5 * fps) + int(rng.integers(4 * fps, 6 * fps))
    total = t + 2 * fps
    positions: dict[int, list[tuple[float, int, str, int]]] = {}
    for start, direction, kind, i in plan:
        w = h // 3 if kind == "walker" else int(h * 0.9)
        v = speed if kind == "walker" else speed * 1.6
        first = last = None
        for n in range(start, total):
            x = -w + (n - start) * v if direction > 0 else width - (n - start) * v
            if x > width or x + w < 0:
                if first is not None:
                    break
                continue
            first = n if first is None else first
            last = n
            positions.setdefault(n, []).append((x, w, kind, i))
        events.append([first, last, kind])
    enc = Encoder(path, width, height, fps, crf)
    for n in range(total):
        gain = 1.0 + 0.06 * np.sin(2 * np.pi * n / (fps * 23.0))  # a slow light drift (clouds)
        frame = background * gain
        frame[sy0:sy1, sx0:sx1] = rng.uniform(40, 230)  # the screen flickers every frame
        frame = np.clip(frame + rng.normal(0, 3.0, frame.shape).astype(np.float32), 0, 255).astype(np.uint8)
        for x, w, kind, i in positions.get(n, []):
            y = height - h - int(height * 0.06)
            if kind == "walker":
                _walker(frame, x, y, h, shirts[i], texture)
            else:
                x0 = int(round(x))
                top = y + h // 2
                cv2.rectangle(frame, (x0, top), (x0 + w, y + h - h // 8), shirts[i], -1)
                for cx in (x0 + w // 5, x0 + 4 * w // 5):
                    cv2.circle(frame, (cx, y + h - h // 8), h // 10, (30, 30, 30), -1, cv2.LINE_AA)
        enc.write(frame)
    enc.close()
    cv2.imwrite(str(mask_file), mask)
    truth = {"fps": fps, "frames": total, "size": [width, height], "events": events}
    truth_file.write_text(json.dumps(truth))
    return truth


def score_events(truth_file: Path, events_file: Path) -> dict[str, object]:
    """Score ``framediff watch --events`` output against a watch clip's truth.

    A truth event is caught by a ``change_start`` within two frames of it (before its first frame or after
    its last); its latency is the frames from its first frame to the first such start. A start within no
    truth event (nor the 20 frames after one, while the object leaves) is a false event.

    Args:
        truth_file: The clip's ``.truth.json``.
        events_file: JSON lines; those with ``"event": "change_start"`` carry ``"frame"``.

    Returns:
        ``{"caught": "n/N", "false_events": int, "median_latency": int | None, "false_frames": [...]}``.
    """
    truth = json.loads(Path(truth_file).read_text())
    starts = []
    for line in Path(events_file).read_text().splitlines():
        if line.strip():
            e = json.loads(line)
            if e.get("event") == "change_start":
                starts.append(int(e["frame"]))
    caught, latencies = 0, []
    for first, last, _ in truth["events"]:
        hits = [f for f in starts if first - 2 <= f <= last + 2]
        if hits:
            caught += 1
            latencies.append(max(0, min(hits) - first))
    false = [f for f in starts if not any(a - 2 <= f <= b + 20 for a, b, _ in truth["events"])]
    return {
        "caught": f"{caught}/{len(truth['events'])}",
        "false_events": len(false),
        "median_latency": int(statistics.median_low(latencies)) if latencies else None,
        "false_frames": false[:20],
    }


def main() -> None:
    """Make one clip from the command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="kind", required=True)
    d = sub.add_parser("dedup", help="a clip with known duplicate frames")
    d.add_argument("out", type=Path)
    d.add_argument("--size", default="1280x720")
    d.add_argument("--crf", type=int, default=23)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--repeat", type=int, default=1)
    w = sub.add_parser("watch", help="a fixed-camera clip with known events")
    w.add_argument("out", type=Path)
    w.add_argument("--photo", default="chelsea")
    w.add_argument("--seed", type=int, default=5)
    w.add_argument("--size", default="960x540")
    w.add_argument("--fps", type=int, default=15)
    w.add_argument("--crf", type=int, default=26)
    a = ap.parse_args()
    size = tuple(int(v) for v in a.size.split("x"))
    if a.kind == "dedup":
        make_dedup_clip(a.out, size, a.crf, a.seed, a.repeat)  # type: ignore[arg-type]
    else:
        make_watch_clip(a.out, a.photo, a.seed, size, a.fps, a.crf)  # type: ignore[arg-type]
    print(f"wrote {a.out} and {truth_path(a.out).name}")


if __name__ == "__main__":
    main()
