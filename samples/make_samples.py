"""Regenerate every file in ``samples/`` from the real photos that ship with scikit-image.

Run ``python samples/make_samples.py`` (from anywhere). The output is deterministic: the same versions of
OpenCV, PyAV and scikit-image give byte-identical files. What is in each file, and where the changes are,
is written to ``samples/truth.json``:

* ``shelf_a.jpg`` / ``shelf_b.jpg``: the coffee-cup photo, and a re-take with three known changes (a coin
  added on the table, the coffee recoloured, a coin on the table removed), taken slightly off (a hand-held
  shift of about 3 pixels and a 0.5 degree rotation), brighter, and saved as JPEG quality 85.
* ``same_a.png`` / ``same_b.jpg``: the cat photo, and the same picture only brighter and JPEG-compressed.
* ``clip.mp4``: 4 s of 640x360 H.264 at 25 fps with an AAC tone: a slow pan over the rocket photo with
  two held stretches (repeated frames) and a slow fade to black at the end.
* ``camera.mp4``: 6 s of a fixed camera (480x270, 15 fps) over the coffee table, with sensor noise, and a
  coin that slides into view and stays.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import skimage.data

HERE = Path(__file__).resolve().parent
CAMERA_CRF = 22
Box = tuple[int, int, int, int]


# --- building blocks ----------------------------------------------------------------------------------


def photo(name: str) -> np.ndarray:
    """A ``skimage.data`` colour photo as BGR uint8."""
    return cv2.cvtColor(getattr(skimage.data, name)(), cv2.COLOR_RGB2BGR)


def coin(index: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A coin cut out of ``skimage.data.coins()``, tinted brass, with its soft alpha mask.

    Args:
        index: Which coin (0 or 1).
        scale: Size factor.

    Returns:
        ``(bgr, alpha)``: a square float32 BGR patch and a float32 alpha in [0, 1].
    """
    cx, cy, r = [(347.0, 186.5, 31.0), (334.4, 43.5, 28.5)][index]
    grey = skimage.data.coins().astype(np.float32)
    half = int(np.ceil(r)) + 2
    patch = grey[int(cy) - half : int(cy) + half, int(cx) - half : int(cx) + half]
    yy, xx = np.mgrid[: patch.shape[0], : patch.shape[1]].astype(np.float32)
    dist = np.hypot(xx - (cx - int(cx) + half), yy - (cy - int(cy) + half))
    alpha = np.clip(r - dist, 0.0, 1.0)  # a one-pixel anti-aliased rim
    bgr = np.dstack([patch * 0.45, patch * 0.75, patch * 0.95]) + 10.0  # brass
    if scale != 1.0:
        size = (round(patch.shape[1] * scale), round(patch.shape[0] * scale))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_CUBIC)
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR)
    return bgr, alpha


def paste(scene: np.ndarray, obj: tuple[np.ndarray, np.ndarray], centre: tuple[float, float]) -> np.ndarray:
    """Lay an object (with a soft drop shadow) on a scene, clipped at the frame edges.

    Args:
        scene: BGR uint8 image (not modified).
        obj: ``(bgr, alpha)`` from :func:`coin`.
        centre: Where the object's centre goes, in scene pixels (may lie outside the frame).

    Returns:
        The new image.
    """
    bgr, alpha = obj
    out = scene.astype(np.float32)
    h, w = alpha.shape
    x0, y0 = round(centre[0] - w / 2), round(centre[1] - h / 2)

    def blend(layer: np.ndarray | None, a: np.ndarray, dx: int, dy: int) -> None:
        sx0, sy0 = max(0, x0 + dx), max(0, y0 + dy)
        sx1, sy1 = min(out.shape[1], x0 + dx + w), min(out.shape[0], y0 + dy + h)
        if sx1 <= sx0 or sy1 <= sy0:
            return
        ax0, ay0 = sx0 - (x0 + dx), sy0 - (y0 + dy)
        aa = a[ay0 : ay0 + sy1 - sy0, ax0 : ax0 + sx1 - sx0, None]
        region = out[sy0:sy1, sx0:sx1]
        if layer is None:  # a shadow darkens
            region *= 1.0 - 0.45 * aa
        else:
            region[:] = region * (1.0 - aa) + layer[ay0 : ay0 + sy1 - sy0, ax0 : ax0 + sx1 - sx0] * aa

    blend(None, cv2.GaussianBlur(alpha, (0, 0), 2.0), 3, 3)
    blend(bgr, alpha, 0, 0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def changed_box(a: np.ndarray, b: np.ndarray, level: int = 12) -> Box:
    """Bounding box of the pixels that differ by more than ``level`` between two aligned images."""
    diff = cv2.absdiff(a, b).max(axis=2) > level
    ys, xs = np.nonzero(diff)
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def map_box(box: Box, matrix: np.ndarray, size: tuple[int, int]) -> Box:
    """The bounds of a box after an affine transform, clipped to ``size`` (width, height)."""
    x, y, w, h = box
    corners = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]], np.float64)
    pts = corners @ matrix.T
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(size[0], x1), min(size[1], y1)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def expose(image: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """A global exposure change."""
    return cv2.convertScaleAbs(image, alpha=gain, beta=offset)


def write_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    path.write_bytes(data.tobytes())


def write_png(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    path.write_bytes(data.tobytes())


def write_video(
    path: Path,
    frames: list[np.ndarray],
    fps: int,
    crf: int,
    tone_hz: float | None = None,
    tune: str | None = None,
) -> None:
    """Encode BGR frames as H.264 (yuv420p, single-threaded so the bytes are reproducible) in MP4.

    Args:
        path: Output ``.mp4``.
        frames: BGR uint8 frames of one even size.
        fps: Frame rate.
        crf: x264 constant rate factor (higher = smaller).
        tone_hz: Add a mono AAC track with a sine tone of this pitch, as long as the video.
        tune: x264 tuning (``grain`` keeps sensor noise instead of smoothing it away).
    """
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        options = {"crf": str(crf), "preset": "medium", "threads": "1"}
        if tune:
            options["tune"] = tune
        video = out.add_stream("libx264", rate=fps, options=options)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.codec_context.time_base = Fraction(1, fps)
        audio = None
        if tone_hz:
            audio = out.add_stream("aac", rate=44100, layout="mono")
            audio.bit_rate = 48_000
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            rate, n = 44100, 1024
            total = round(len(frames) / fps * rate)
            t = np.arange(total) / rate
            envelope = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)  # no clicks at the ends
            tone = (0.25 * envelope * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
            for start in range(0, total, n):
                chunk = tone[start : start + n]
                frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                frame.sample_rate, frame.pts = rate, start
                for packet in audio.encode(frame):
                    out.mux(packet)
            for packet in audio.encode():
                out.mux(packet)


# --- the samples --------------------------------------------------------------------------------------


def make_shelf() -> dict:
    """Two takes of the coffee table: three known changes, a hand-held shift, brighter, JPEG 85."""
    scene = photo("coffee")  # 600 x 400
    h, w = scene.shape[:2]
    removed_at, added_at = (44.0, 338.0), (545.0, 340.0)
    take_a = paste(scene, coin(1), removed_at)  # a coin lies on the table in A only

    take_b = paste(scene, coin(0), added_at)  # a different coin lies elsewhere in B only
    # The coffee turns green (matcha?): rotate the hue inside the cup.
    hsv = cv2.cvtColor(take_b, cv2.COLOR_BGR2HSV)
    inside = np.zeros((h, w), np.uint8)
    cv2.ellipse(inside, (287, 144), (72, 42), 0, 0, 360, 255, -1)
    soft = cv2.GaussianBlur(inside.astype(np.float32) / 255, (0, 0), 2.0)
    hue = hsv[..., 0].astype(np.float32)
    hsv[..., 0] = np.rint(hue * (1 - soft) + ((hue + 40) % 180) * soft).astype(np.uint8)
    recoloured = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    boxes_a = {
        "added": changed_box(scene, take_b),
        "recoloured": changed_box(take_b, recoloured),
        "removed": changed_box(scene, take_a),
    }
    take_b = recoloured
    # The camera moved a little between the takes: 0.5 degrees about the centre, 3 px right, 1 px up.
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 0.5, 1.0)
    matrix[:, 2] += (3.0, -1.0)
    gain, offset = 1.08, 6.0
    take_b = cv2.warpAffine(take_b, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    take_b = expose(take_b, gain, offset)
    write_jpeg(HERE / "shelf_a.jpg", take_a, 92)
    write_jpeg(HERE / "shelf_b.jpg", take_b, 85)
    what = {
        "added": "a brass coin on the table, bottom right (in B only)",
        "recoloured": "the coffee in the cup turns green",
        "removed": "a brass coin on the table, bottom left (in A only)",
    }
    return {
        "a": "shelf_a.jpg",
        "b": "shelf_b.jpg",
        "size": [w, h],
        "b_from_a": {
            "affine": np.round(matrix, 6).tolist(),
            "rotation_deg": 0.5,
            "shift_px": [3.0, -1.0],
            "gain": gain,
            "offset": offset,
            "jpeg_quality": 85,
        },
        "changes": [
            {
                "kind": k,
                "what": what[k],
                "box_a": list(boxes_a[k]),
                "box_b": list(map_box(boxes_a[k], matrix, (w, h))),
            }
            for k in ("added", "recoloured", "removed")
        ],
    }


def make_same() -> dict:
    """The cat photo twice: no change, only brighter and JPEG-compressed."""
    cat = photo("chelsea")
    gain, offset = 1.05, 8.0
    write_png(HERE / "same_a.png", cat)
    write_jpeg(HERE / "same_b.jpg", expose(cat, gain, offset), 80)
    return {
        "a": "same_a.png",
        "b": "same_b.jpg",
        "size": [cat.shape[1], cat.shape[0]],
        "b_from_a": {"gain": gain, "offset": offset, "jpeg_quality": 80},
        "changes": [],
    }


def make_clip() -> dict:
    """4 s at 25 fps, 640 x 360: pan, hold, pan, short hold, then a slow fade to black; a 440 Hz tone."""
    fps, n, size = 25, 100, (640, 360)
    rocket = photo("rocket")  # 640 x 427
    wide = cv2.resize(rocket, (960, 640), interpolation=cv2.INTER_CUBIC)
    # Where the 640 x 360 window sits in each frame, and how bright the frame is.
    positions: list[int] = []
    brightness: list[float] = []
    held: list[int] = []  # frames that repeat the frame before them exactly
    x = 0
    for i in range(n):
        if 20 <= i < 40 or 60 <= i < 65:
            held.append(i)  # the window stays, nothing changes
        elif i < 65:
            x += 6
        positions.append(x)
        brightness.append(1.0 if i < 65 else 1.0 - (i - 64) / 36.0)  # frames 65..99 fade out
    frames = []
    for x, k in zip(positions, brightness, strict=True):
        window = wide[140 : 140 + size[1], x : x + size[0]]
        frames.append(cv2.convertScaleAbs(window, alpha=k) if k < 1.0 else np.ascontiguousarray(window))
    write_video(HERE / "clip.mp4", frames, fps, crf=30, tone_hz=440.0)
    return {
        "file": "clip.mp4",
        "fps": fps,
        "frames": n,
        "duration": n / fps,
        "size": list(size),
        "held_frames": held,
        "held_ranges": [[20, 39], [60, 64]],
        "unique_frames": n - len(held),
        "pan_px_per_frame": 6,
        "fade_frames": [65, n - 1],
        "fade": "brightness falls by 1/36 per frame from frame 65 to black after frame 99",
        "audio": {"codec": "aac", "tone_hz": 440.0, "sample_rate": 44100, "channels": 1},
    }


def make_camera() -> dict:
    """6 s at 15 fps of a fixed camera over the table, with sensor noise; a coin slides in and stays."""
    fps, n, size = 15, 90, (480, 270)
    table = cv2.resize(photo("coffee"), (480, 320), interpolation=cv2.INTER_AREA)[25:295]
    obj = coin(0, scale=1.1)
    rng = np.random.default_rng(2024)
    sigma = 4.0
    enter, settle = 30, 54  # the coin slides in from the right between these frames
    start_x, end_x, y = size[0] + obj[1].shape[1] / 2 + 4, 400.0, 205.0
    frames, boxes = [], {}
    for i in range(n):
        image = table
        if i >= enter:
            t = min(1.0, (i - enter) / (settle - enter))
            ease = 1 - (1 - t) ** 2  # it slows down as it stops
            image = paste(table, obj, (start_x + (end_x - start_x) * ease, y))
            if np.any(image != table):
                boxes[i] = list(changed_box(table, image, level=12))
        # Sensor grain: slightly soft (demosaicing), fresh in every frame; x264's "grain" tuning keeps it.
        noise = cv2.GaussianBlur(rng.normal(0.0, 1.0, image.shape).astype(np.float32), (0, 0), 0.7)
        noise *= sigma / float(noise.std())
        frames.append(np.clip(image + noise, 0, 255).astype(np.uint8))
    write_video(HERE / "camera.mp4", frames, fps, crf=CAMERA_CRF, tune="grain")
    first = min(boxes)
    return {
        "file": "camera.mp4",
        "fps": fps,
        "frames": n,
        "duration": n / fps,
        "size": list(size),
        "noise_sigma": sigma,
        "object": {
            "what": "a brass coin slides in from the right edge and stops",
            "first_visible_frame": first,
            "first_visible_time": first / fps,
            "settled_frame": settle,
            "settled_time": settle / fps,
            "final_box": boxes[n - 1],
            "boxes": {str(k): v for k, v in sorted(boxes.items())},
        },
    }


def main() -> None:
    """Write every sample and ``truth.json``; print the sizes."""
    truth = {
        "about": "Made by samples/make_samples.py from skimage.data photos. Boxes are [x, y, w, h].",
        "shelf": make_shelf(),
        "same": make_same(),
        "clip": make_clip(),
        "camera": make_camera(),
    }
    (HERE / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    total = 0
    for path in sorted(HERE.iterdir()):
        if path.suffix in (".jpg", ".png", ".mp4", ".json"):
            total += path.stat().st_size
            print(f"{path.name:14s} {path.stat().st_size / 1024:8.1f} KiB")
    print(f"{'total':14s} {total / 1024:8.1f} KiB")


if __name__ == "__main__":
    main()
