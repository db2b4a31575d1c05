"""Traffic clips made from real pictures, with exact truth boxes: the development check for the watch's
boxes on traffic (far small cars, swaying trees, light changes).

No traffic footage ships with the project, so the clips are composed from real photos (OpenCV's sample
pictures from Debian's ``opencv-doc`` package, which ``../shared/media/get-photos.sh`` puts in
``/tmp/photos``):

* ``campus``: a fixed camera over a campus road (OpenCV's background-subtraction tutorial frame, a real
  surveillance picture), two foliage patches cut from a street photo set beside the road and swaying;
  vehicles drive the road's curve, far and small at the top right (down to ~20 px long), large near the
  bottom right.
* ``country``: a real landscape (OpenCV's retina tone-mapping sample: scrub, a row of trees against the
  sky) with its trees swaying in the wind; a far road along the horizon (cars 16-30 px long, passing the
  tree trunks), a middle road and a near road.

The vehicles are real: a London bus, a silver estate car and a white van, cut out of their photos with
GrabCut (holes such as windows filled), some recoloured (a blue or green bus, a dark car), scaled along
each road by its perspective (a picture is never blown up more than twice), at town speeds (about three
car lengths a second); one stops for a few seconds and drives on. The lanes are drawn far to near, so
near vehicles hide far ones. Every frame gets a slow light drift, one automatic-exposure step, sensor
noise (sigma 3) and x264 compression (crf 23). The truth of every frame is each vehicle's box around
what shows of it; a vehicle of which less than 60% shows (cut by the frame's edge, or hidden behind a
nearer one) is an ``ignore`` area (neither right nor wrong), as in the hand-labelled ``vtest.avi`` set.

The sway is a smooth random displacement field (two scales: boughs ~2-3 px, leaves ~0.7 px) driven by
a few sines of 0.2-1.5 Hz with gusts, zero at the trunk's foot, applied to the picture by ``remap``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from material import Encoder

Box = tuple[int, int, int, int]
PHOTOS = Path("/tmp/photos")
FILES = {
    "campus": "doc_opencv-doc_opencv4_html_Background_Subtraction_Tutorial_frame.jpg",
    "country": "doc_opencv-doc_opencv4_html_retina_TreeHdr_small.jpg",
    "bus": "doc_opencv-doc_opencv4_html_pexels_double_decker_bus.jpg",
    "street": "doc_opencv-doc_examples_text_scenetext01.jpg",
}
VERSION = 4  # bump when the material changes: clips made by an older version are made again


@dataclass
class Sprite:
    """A vehicle cut out of a photo: its colours, its alpha (0..1) and the way it faces (+1 right)."""

    bgr: np.ndarray
    alpha: np.ndarray
    faces: int


def photo(photos: Path, key: str) -> np.ndarray:
    """One of the pictures in :data:`FILES`, as BGR uint8."""
    image = cv2.imread(str(photos / FILES[key]), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(photos / FILES[key])
    return image


def cut(image: np.ndarray, rect: Box, faces: int) -> Sprite:
    """Cut the object inside ``rect`` out of ``image`` with GrabCut; holes (windows) filled, edge feathered."""
    mask = np.zeros(image.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(image, mask, rect, bgd, fgd, 6, cv2.GC_INIT_WITH_RECT)
    fg = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(fg)
    big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    fg = (lab == big).astype(np.uint8)
    contours = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0]
    fg = cv2.drawContours(np.zeros_like(fg), contours, -1, 1, -1)
    x, y, w, h = cv2.boundingRect(fg)
    alpha = cv2.GaussianBlur(fg.astype(np.float32), (0, 0), 0.8)[y : y + h, x : x + w]
    return Sprite(image[y : y + h, x : x + w].astype(np.float32), alpha, faces)


def recolour(s: Sprite, hue: int | None = None, value: float = 1.0) -> Sprite:
    """The same vehicle painted another colour: saturated pixels' hue turned by ``hue`` (OpenCV's 0..180
    scale); every pixel's brightness scaled by ``value``."""
    hsv = cv2.cvtColor(np.clip(s.bgr, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV).astype(np.int32)
    if hue is not None:
        paint = hsv[..., 1] > 90
        hsv[..., 0] = np.where(paint, (hsv[..., 0] + hue) % 180, hsv[..., 0])
    hsv[..., 2] = np.clip(hsv[..., 2] * value, 0, 255)
    bgr = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    return Sprite(bgr, s.alpha, s.faces)


def vehicles(photos: Path) -> list[Sprite]:
    """The fleet: a bus, an estate car and a van from real photos, and recoloured copies."""
    bus = cut(photo(photos, "bus"), (62, 112, 415, 280), +1)
    estate = cut(photo(photos, "street"), (398, 418, 290, 160), -1)
    campus = photo(photos, "campus")
    van = cut(campus, (498, 30, 50, 45), -1)
    return [
        estate,
        bus,
        van,
        recolour(estate, value=0.45),  # a dark car
        recolour(bus, hue=110),  # a blue bus
        recolour(estate, hue=None, value=1.25),  # a light car
        recolour(bus, hue=60),  # a green bus
        recolour(van, value=0.7),
    ]


class Sway:
    """Foliage moving in the wind: a displacement field over a box of the picture, changing smoothly."""

    def __init__(self, box: Box, rng: np.random.Generator, amplitude: float, foot: float = 1.0) -> None:
        self.box = box
        x, y, w, h = box
        self.fields = []
        for sigma, amp, freqs in ((14.0, amplitude, (0.2, 0.6)), (3.0, 0.35 * amplitude, (0.8, 1.5))):
            for _ in range(2):  # two independent patterns per scale and direction
                f = cv2.GaussianBlur(rng.normal(0, 1, (h, w, 2)).astype(np.float32), (0, 0), sigma)
                f *= amp / max(1e-6, float(np.abs(f).max()))
                self.fields.append((f, rng.uniform(*freqs), rng.uniform(0, 2 * np.pi)))
        # Zero at the box's edges (the picture around stays put) and, from ``foot`` of the height down, at
        # the trunk's foot: a tree sways at its crown.
        yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        xx = np.linspace(0, 1, w, dtype=np.float32)[None, :]
        edge = np.minimum(np.minimum(xx, 1 - xx), np.minimum(yy, 1 - yy)) * 8.0
        self.taper = np.clip(edge, 0, 1) * np.clip((foot - yy) / max(foot, 1e-3) * 3.0, 0, 1)
        self.gx, self.gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        self.gust = (rng.uniform(0.05, 0.12), rng.uniform(0, 2 * np.pi))

    def apply(self, frame: np.ndarray, source: np.ndarray, t: float) -> None:
        """Write ``source``'s box, displaced as at time ``t`` (seconds), into ``frame``."""
        x, y, w, h = self.box
        d = np.zeros((h, w, 2), np.float32)
        gust = 0.55 + 0.45 * np.sin(2 * np.pi * self.gust[0] * t + self.gust[1])
        for f, freq, phase in self.fields:
            d += f * np.float32(np.sin(2 * np.pi * freq * t + phase))
        d *= (gust * self.taper)[..., None]
        frame[y : y + h, x : x + w] = cv2.remap(
            source[y : y + h, x : x + w],
            self.gx + d[..., 0],
            self.gy + d[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )


@dataclass
class Road:
    """A lane: points (x, y) of the vehicle's bottom centre and its length there, in frame pixels."""

    points: list[tuple[float, float, float]]
    speed: tuple[float, float]  # px per frame at the lane's start, range

    def at(self, s: float) -> tuple[float, float, float, float] | None:
        """Position, length and direction (radians) at arc length ``s`` along the lane (None past it)."""
        for (x0, y0, l0), (x1, y1, l1) in zip(self.points, self.points[1:], strict=False):
            seg = float(np.hypot(x1 - x0, y1 - y0))
            if s <= seg:
                f = s / seg
                return (
                    x0 + f * (x1 - x0),
                    y0 + f * (y1 - y0),
                    l0 + f * (l1 - l0),
                    float(np.arctan2(y1 - y0, x1 - x0)),
                )
            s -= seg
        return None


def place(frame: np.ndarray, s: Sprite, x: float, y: float, length: float, angle: float) -> np.ndarray | None:
    """Draw ``s`` with its bottom centre at ``(x, y)``, ``length`` px long, along ``angle``; the pixels it
    covers (its alpha over one half), or None when nothing of it shows."""
    heading = 1 if np.cos(angle) >= 0 else -1
    bgr, alpha = s.bgr, s.alpha
    if heading != s.faces:
        bgr, alpha = bgr[:, ::-1], alpha[:, ::-1]
    # The road's slope (whichever way the vehicle drives), a side view turned with it by at most 25 degrees.
    tilt = float(np.clip(np.degrees(np.arctan(np.tan(angle))), -25, 25))
    k = length / bgr.shape[1]
    hs, ws = bgr.shape[:2]
    m = cv2.getRotationMatrix2D((ws / 2.0, float(hs)), -tilt, k)
    m[0, 2] += x - ws / 2.0
    m[1, 2] += y - hs
    H, W = frame.shape[:2]
    a = cv2.warpAffine(alpha, m, (W, H), flags=cv2.INTER_LINEAR)
    covers = a > 0.5
    if not covers.any():
        return None
    c = cv2.warpAffine(
        np.ascontiguousarray(bgr), m, (W, H), flags=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    )
    frame *= 1.0 - a[..., None]
    frame += c * a[..., None]
    return covers


@dataclass
class Scene:
    """A clip's recipe: the picture, its size, the swaying boxes, the roads and how busy they are."""

    key: str
    size: tuple[int, int]
    sway: list[tuple[Box, float, float]]  # (box, amplitude px, foot)
    roads: list[Road]
    gap: tuple[float, float]  # seconds between vehicles on a lane
    stop: tuple[int, float, float] | None = None  # (lane, where (arc length), seconds) for one vehicle


def scenes() -> dict[str, Scene]:
    """The two clips' recipes (frame pixels)."""
    c = 4.0 / 3.0  # the campus picture is 576 x 432, the clip 768 x 576
    campus_upper = [(600, 74, 20), (520, 94, 26), (470, 110, 30), (400, 128, 36), (300, 146, 44), (180, 158, 52),
                    (60, 164, 58), (-90, 168, 64)]  # fmt: skip
    campus_lower = [(640, 340, 120), (520, 292, 104), (420, 252, 90), (330, 214, 78), (250, 186, 66), (150, 172, 60),
                    (-90, 172, 58)]  # fmt: skip

    def scaled(points, dy=0.0):
        return [(x * c, (y + dy) * c, ln * c) for x, y, ln in points]

    campus = Scene(
        "campus",
        (768, 576),
        [((30, 300, 240, 220), 2.5, 1.0), ((70, 70, 230, 110), 2.0, 1.0), ((620, 250, 148, 180), 2.2, 1.0)],
        [
            Road(scaled(campus_upper), (2.5, 4.0)),
            Road(scaled(campus_upper[::-1], dy=-14), (7.0, 10.0)),
            Road(scaled(campus_lower), (12.0, 18.0)),
        ],
        gap=(1.5, 5.0),
        stop=(2, 300.0, 4.0),
    )
    k = 768 / 720.0  # the landscape is 720 x 479, the clip 768 x 512
    country = Scene(
        "country",
        (768, 512),
        [((425 * k, 110 * k, 290 * k, 140 * k), 2.2, 0.92), ((55 * k, 185 * k, 85 * k, 45 * k), 1.5, 0.85)],
        [
            Road([(-40, 244 * k, 17), (808, 244 * k, 22)], (2.0, 3.5)),
            Road([(810, 252 * k, 24), (-40, 252 * k, 30)], (2.5, 4.0)),
            Road([(-100, 330 * k, 80), (870, 336 * k, 90)], (6.0, 9.0)),
            Road([(920, 430 * k, 230), (-160, 440 * k, 240)], (14.0, 20.0)),
        ],
        gap=(2.0, 6.0),
        stop=(2, 520.0, 5.0),
    )
    for sc in (campus, country):
        sc.sway = [((int(b[0]), int(b[1]), int(b[2]), int(b[3])), a, f) for b, a, f in sc.sway]
    return {"campus": campus, "country": country}


def background(photos: Path, sc: Scene) -> np.ndarray:
    """The scene's picture at the clip's size (float32 BGR), with the campus scene's foliage set in."""
    w, h = sc.size
    pic = cv2.resize(photo(photos, sc.key), (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    if sc.key == "campus":
        # Foliage cut from the street photo (the trees behind the sign), set on the grass beside the road
        # with a soft oval edge: bushes and small trees.
        street = photo(photos, "street").astype(np.float32)
        crowns = [street[20:300, 0:250], street[40:200, 420:760], street[60:330, 560:780]]
        for (x, y, bw, bh), _, _ in sc.sway:
            leaves = cv2.resize(crowns.pop(0), (bw, bh), interpolation=cv2.INTER_AREA)
            oval = np.zeros((bh, bw), np.float32)
            cv2.ellipse(oval, (bw // 2, bh // 2), (bw // 2 - 12, bh // 2 - 12), 0, 0, 360, 1.0, -1)
            oval = cv2.GaussianBlur(oval, (0, 0), 5)[..., None]
            pic[y : y + bh, x : x + bw] = pic[y : y + bh, x : x + bw] * (1 - oval) + leaves * oval
    return pic


def make_traffic_clip(path: Path, scene: str, photos: Path = PHOTOS, seed: int = 3, seconds: float = 40.0,
                      fps: int = 15) -> dict[int, tuple[list[Box], list[Box]]]:  # fmt: skip
    """Write one traffic clip (``path``, H.264) and its truth beside it (``PATH.truth.json``); kept when both
    exist from this :data:`VERSION`.

    Args:
        path: The ``.mp4`` to write.
        scene: ``campus`` or ``country``.
        photos: Where the pictures of :data:`FILES` are.
        seed: Seed of the traffic, the sway and the noise.
        seconds: Length of the clip.
        fps: Frame rate.

    Returns:
        ``{frame: (vehicle boxes, ignore boxes)}`` for every frame, ``(x, y, w, h)`` in frame pixels.

    Raises:
        FileNotFoundError: when a picture is missing.
    """
    truth_file = path.with_suffix(".truth.json")
    if path.exists() and truth_file.exists():
        doc = json.loads(truth_file.read_text())
        if doc.get("version") == VERSION and doc.get("seed") == seed:
            return {
                int(k): ([tuple(b) for b in v[0]], [tuple(b) for b in v[1]]) for k, v in doc["frames"].items()
            }
    sc = scenes()[scene]
    rng = np.random.default_rng(seed)
    fleet = vehicles(photos)
    pic = background(photos, sc)
    sways = [Sway(b, rng, a, f) for b, a, f in sc.sway]
    w, h = sc.size
    total = int(round(seconds * fps))
    # The traffic: on each lane a vehicle every gap seconds, from before the clip starts (so the road is
    # busy at frame 0); each one's arc length per frame.
    plan: list[tuple[int, int, int, float]] = []  # (lane, vehicle, first frame, speed)
    for lane, road in enumerate(sc.roads):
        # Vehicles whose picture is at least half as long as the lane makes them (no blurry giants).
        longest = max(p[2] for p in road.points)
        fits = [i for i, v in enumerate(fleet) if v.bgr.shape[1] >= 0.5 * longest]
        t = -rng.uniform(0, 6) * fps
        while t < total:
            plan.append((lane, fits[int(rng.integers(len(fits)))], int(t), float(rng.uniform(*road.speed))))
            t += rng.uniform(*sc.gap) * fps
    stopper = None
    if sc.stop is not None:
        later = [i for i, p in enumerate(plan) if p[0] == sc.stop[0] and p[2] > 4 * fps]
        stopper = later[0] if later else None
    exposure_at = rng.uniform(0.45, 0.6) * total
    # Vehicles that started before the clip are already on their way.
    arc = [0.0] * len(plan)
    for i, (lane, _, first, speed) in enumerate(plan):
        for _ in range(max(0, -first)):
            pos = sc.roads[lane].at(arc[i])
            if pos is None:
                break
            arc[i] += speed * pos[2] / sc.roads[lane].points[0][2]
        plan[i] = (lane, plan[i][1], max(0, first), speed)
    held = 0
    enc = Encoder(path, w, h, fps, 23)
    truth: dict[int, tuple[list[Box], list[Box]]] = {}
    try:
        for n in range(total):
            t = n / fps
            frame = pic.copy()
            for sw in sways:
                sw.apply(frame, pic, t)
            drawn: list[tuple[np.ndarray, float]] = []  # (pixels covered, the whole vehicle's area)
            for i, (lane, v, first, speed) in enumerate(plan):
                if n < first:
                    continue
                road = sc.roads[lane]
                pos = road.at(arc[i])
                if pos is None:
                    continue
                x, y, length, angle = pos
                # Perspective: the lane's speed is at its start; farther on it scales with the length.
                step = speed * length / road.points[0][2]
                if i == stopper and sc.stop[1] <= arc[i] and held < sc.stop[2] * fps:
                    held += 1
                else:
                    arc[i] += step
                covers = place(frame, fleet[v], x, y, length, angle)
                if covers is not None:
                    k = length / fleet[v].bgr.shape[1]
                    drawn.append((covers, float(np.count_nonzero(fleet[v].alpha > 0.5)) * k * k))
            # The lanes are drawn far to near, so a vehicle is hidden by those drawn after it. What shows
            # of it (in the frame, not hidden) decides: 60% or more is a vehicle to find, less is an
            # ignore area (cut by the frame's edge or mostly hidden, neither right nor wrong to box).
            boxes: list[Box] = []
            ignore: list[Box] = []
            hidden = np.zeros((h, w), bool)
            for covers, whole in reversed(drawn):
                seen = covers & ~hidden
                hidden |= covers
                if seen.any():
                    box = tuple(int(b) for b in cv2.boundingRect(seen.view(np.uint8)))
                    (boxes if np.count_nonzero(seen) >= 0.6 * whole else ignore).append(box)
            # Light: a slow drift (clouds) and one automatic-exposure step of +10% over half a second.
            gain = (
                1.0
                + 0.05 * np.sin(2 * np.pi * t / 27.0)
                + 0.1 * float(np.clip((n - exposure_at) / (0.5 * fps), 0, 1))
            )
            frame *= np.float32(gain)
            frame += rng.normal(0, 3.0, frame.shape).astype(np.float32)
            enc.write(np.clip(frame, 0, 255).astype(np.uint8))
            truth[n] = (boxes, ignore)
    except BaseException:
        enc.close()
        path.unlink(missing_ok=True)
        raise
    enc.close()
    truth_file.write_text(
        json.dumps(
            {
                "version": VERSION,
                "seed": seed,
                "scene": scene,
                "fps": fps,
                "size": [w, h],
                "frames": {str(k): [v[0], v[1]] for k, v in truth.items()},
            }
        )  # fmt: skip
    )
    return truth


def draw_truth(path: Path, truth: dict[int, tuple[list[Box], list[Box]]], out: Path, every: int = 30) -> None:
    """Write every ``every``-th frame of a clip with its truth drawn (green; ignore grey), for looking."""
    out.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(path))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if n % every == 0:
            for color, group in (((0, 200, 0), truth[n][0]), ((160, 160, 160), truth[n][1])):
                for x, y, bw, bh in group:
                    cv2.rectangle(frame, (x, y), (x + bw - 1, y + bh - 1), color, 1)
            cv2.imwrite(str(out / f"{n:04d}.png"), frame)
        n += 1
    cap.release()


def subsample(
    src: Path, truth: dict[int, tuple[list[Box], list[Box]]], step: int, out: Path, fps: int = 15
) -> dict[int, tuple[list[Box], list[Box]]]:
    """Every ``step``-th frame of a traffic clip as a clip of its own (``fps / step`` frames a second,
    as a camera recording a few frames a second gives them), kept when it exists; its truth."""
    kept = {k: truth[n] for k, n in enumerate(range(0, len(truth), step))}
    if out.exists():
        return kept
    cap = cv2.VideoCapture(str(src))
    enc = None
    n = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if n % step == 0:
                if enc is None:
                    enc = Encoder(out, frame.shape[1], frame.shape[0], max(1, round(fps / step)), 23)
                enc.write(frame)
            n += 1
    finally:
        cap.release()
        if enc is not None:
            enc.close()
    return kept
