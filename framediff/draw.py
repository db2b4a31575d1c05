"""Every picture framediff draws: compare's numbered boxes, side-by-side pictures and heatmaps; watch's
regions, zones and ignored areas on snapshots, recordings and the live view (dedup's plot is drawn by
:mod:`framediff.dedup.plot`).

Functions that return new BGR uint8 arrays, and the few that draw in place say so. Pictures are written
by :func:`framediff.media.images.write_image`.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .analysis.prepare import to_bgr8
from .analysis.regions import Region

__all__ = [
    "CHANGE_COLOUR",
    "IGNORE_COLOUR",
    "IGNORE_SHADE",
    "PALETTE",
    "ZONE_COLOUR",
    "draw_live",
    "draw_recording",
    "draw_regions",
    "draw_watch_frame",
    "heatmap",
    "outline",
    "put_label",
    "shade_ignored",
    "side_by_side",
]

Box = tuple[int, int, int, int]

# High-contrast colours (BGR) that stay visible on photos; boxes cycle through them.
PALETTE = [(0, 0, 255), (0, 200, 255), (255, 0, 255), (255, 160, 0), (0, 255, 0), (255, 255, 0)]
# What watch draws (BGR): changed regions red, zones yellow, ignore boxes magenta, alike everywhere.
CHANGE_COLOUR = (0, 0, 255)
ZONE_COLOUR = (0, 220, 255)
IGNORE_COLOUR = (255, 0, 200)
IGNORE_SHADE = 0.35  # ignored pixels keep this much of their brightness: still visible, clearly apart


def _thickness(image: np.ndarray) -> int:
    return max(2, round(max(image.shape[:2]) / 400))


def draw_regions(
    image: np.ndarray,
    regions: Sequence[Region] | Sequence[tuple[int, int, int, int]],
    *,
    numbered: bool = True,
    color: tuple[int, int, int] | None = None,
    labels: Sequence[str] | None = None,
) -> np.ndarray:
    """Draw boxes (with their number) on a copy of ``image``.

    Args:
        image: BGR uint8 picture.
        regions: Regions or ``(x, y, w, h)`` boxes in the picture's pixels.
        numbered: Write 1, 2, 3... next to the boxes.
        color: One colour for all boxes (default: cycle through :data:`PALETTE`).
        labels: Text per box instead of its number.

    Returns:
        The annotated copy.
    """
    out = image.copy()
    t = _thickness(out)
    font_scale = max(0.5, max(out.shape[:2]) / 1400)
    for i, r in enumerate(regions):
        x, y, w, h = r.box if isinstance(r, Region) else r
        c = color or PALETTE[i % len(PALETTE)]
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), c, t, cv2.LINE_AA)
        text = labels[i] if labels else (str(i + 1) if numbered else "")
        if text:
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, t)
            ty = y - 4 if y - th - 6 >= 0 else y + h + th + 4
            ty = min(ty, out.shape[0] - 2)
            cv2.rectangle(out, (x, ty - th - 3), (x + tw + 4, ty + base - 1), c, -1)
            cv2.putText(
                out,
                text,
                (x + 2, ty - 1),
                cv2.FONT_HERSHEY_SIMPLEX,
                font_scale,
                (255, 255, 255),
                max(1, t - 1),
                cv2.LINE_AA,
            )
    return out


def side_by_side(
    left: np.ndarray, right: np.ndarray, gap: int = 8, labels: Sequence[str] | None = None
) -> np.ndarray:
    """Put two BGR pictures next to each other (the shorter one padded), separated by a white gap.

    Args:
        left: BGR uint8 picture.
        right: BGR uint8 picture.
        gap: Width of the separator in pixels.
        labels: A caption for each picture (e.g. ``"A: before.png"``), written in a white band above it;
            shortened with ``...`` to fit its picture's width.

    Returns:
        The combined picture.
    """
    band = _label_band(max(left.shape[1], right.shape[1])) if labels else 0
    h = band + max(left.shape[0], right.shape[0])
    out = np.full((h, left.shape[1] + gap + right.shape[1], 3), 255, np.uint8)
    out[band : band + left.shape[0], : left.shape[1]] = left
    out[band : band + right.shape[0], left.shape[1] + gap :] = right
    if labels:
        for text, x0, width in zip(
            labels, (0, left.shape[1] + gap), (left.shape[1], right.shape[1]), strict=False
        ):
            _caption(out, text, x0, width, band)
    return out


def _label_band(width: int) -> int:
    """Height of the caption band over a picture ``width`` pixels wide: its text grows with the picture."""
    return max(26, round(width / 24))


def _caption(out: np.ndarray, text: str, x0: int, width: int, band: int) -> None:
    """Write ``text`` in the band ``[0, band)`` over ``x0 .. x0 + width``, shortened to fit."""
    scale = (band * 0.55) / 22  # FONT_HERSHEY_SIMPLEX capitals are ~22 px tall at scale 1
    thick = max(1, round(band / 22))
    # OpenCV's fonts are ASCII: other characters would come out as question marks anyway.
    text = text.encode("ascii", "replace").decode()
    room = width - 2 * max(4, band // 4)

    def size(t: str) -> int:
        return cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0][0]

    if size(text) > room:
        while len(text) > 1 and size(text + "...") > room:
            text = text[:-1]
        text += "..."
    y = round(band * 0.5 + band * 0.55 / 2)
    cv2.putText(
        out, text, (x0 + max(4, band // 4), y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA
    )


def heatmap(image: np.ndarray, diff: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Overlay a difference map (resized to the picture) as a colour heatmap.

    Args:
        image: BGR uint8 picture.
        diff: Difference map (uint8, 0..255), any size; stretched to use the full colour range.
        alpha: Weight of the heatmap.

    Returns:
        The blended picture.
    """
    d = cv2.resize(diff, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    top = float(max(np.percentile(d, 99.9), 1))
    d = np.clip(d.astype(np.float32) * (255.0 / top), 0, 255).astype(np.uint8)
    colored = cv2.applyColorMap(d, cv2.COLORMAP_JET)
    grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return cv2.addWeighted(grey, 1 - alpha, colored, alpha, 0)


# -- watch: snapshots, recordings, the live view ---------------------------------------------------------


def shade_ignored(image: np.ndarray, mask: np.ndarray) -> None:
    """Darken, in place, the pixels the detector does not look at (as the live view shows them).

    Args:
        image: BGR picture.
        mask: Its ignore mask, same height and width, non-zero where ignored.
    """
    dark = cv2.convertScaleAbs(image, alpha=IGNORE_SHADE)
    cv2.copyTo(dark, mask.astype(np.uint8, copy=False), image)


def put_label(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, weight: int) -> None:
    """Write white text on a darkened band, in place (readable on a white wall as on a night sky; a thin
    outline alone does not survive video or JPEG compression).

    Args:
        image: BGR picture to write on.
        text: The text.
        origin: Left end of the band and the text's baseline, in pixels.
        scale: OpenCV font scale.
        weight: Stroke thickness.
    """
    (tw, tht), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, weight)
    x0, y0 = origin
    band = image[max(0, y0 - tht - 4) : y0 + base + 2, max(0, x0) : x0 + tw + 8]
    band //= 3  # darkened, not blacked out: what is under the label still shows
    cv2.putText(
        image, text, (x0 + 4, y0), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), weight, cv2.LINE_AA
    )


def outline(
    image: np.ndarray, box: Box, colour: tuple[int, int, int], thickness: int, scale: float = 1.0
) -> tuple[int, int]:
    """Outline a box in place, in a picture drawn at ``scale`` times the size the box is given in.

    Args:
        image: BGR picture.
        box: ``(x, y, w, h)`` in source pixels.
        colour: BGR.
        thickness: Line width in the picture's pixels.
        scale: The picture's size over the source's.

    Returns:
        The box's top-left corner in the picture.
    """
    x, y, bw, bh = (round(v * scale) for v in box)
    cv2.rectangle(image, (x, y), (x + max(bw, 1) - 1, y + max(bh, 1) - 1), colour, thickness)
    return x, y


def draw_watch_frame(
    image: np.ndarray,
    regions: Sequence[Region],
    zones: dict[str, Box] | None = None,
    label: str | None = None,
) -> np.ndarray:
    """Draw changed regions (red), zones (yellow, named) and a label on a copy of a frame (a snapshot).

    Args:
        image: The frame (grey or BGR).
        regions: Boxes in the frame's pixels.
        zones: Named zone boxes to outline.
        label: Text for the top-left corner (e.g. the frame and time).

    Returns:
        An annotated BGR copy.
    """
    out = to_bgr8(image).copy()
    th = max(1, round(max(out.shape[:2]) / 500))
    for name, (x, y, w, h) in (zones or {}).items():
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), ZONE_COLOUR, th)
        cv2.putText(out, name, (x + 3, y + 14 * th), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * th, ZONE_COLOUR, th)
    for r in regions:
        cv2.rectangle(out, (r.x, r.y), (r.x + r.w - 1, r.y + r.h - 1), CHANGE_COLOUR, th)
    if label:
        put_label(out, label, (4, 20 * th), 0.6 * th, th + 1)
    return out


def draw_recording(
    picture: np.ndarray,
    regions: Sequence[Region],
    zones: dict[str, Box],
    label: str,
    *,
    ignored: np.ndarray | None = None,
    ignore_boxes: Sequence[Box] = (),
    changing: bool = False,
) -> np.ndarray:
    """A frame of the debug recording (``watch --record``): a snapshot's drawing, the ignored areas shaded
    and their boxes outlined, and a red border while a change is open.

    Args:
        picture: The frame, BGR uint8 (not changed: drawn on a copy).
        regions: Changed regions, in its pixels.
        zones: Named zones.
        label: Text for the top-left corner.
        ignored: The ignore mask at the picture's size (``None``: nothing ignored).
        ignore_boxes: The ignore boxes to outline (with a mask only).
        changing: A change is open.

    Returns:
        The annotated copy.
    """
    if ignored is not None:
        picture = picture.copy()  # it may be the frame's own picture, which others read
        shade_ignored(picture, ignored)
        th = max(1, round(max(picture.shape[:2]) / 500))  # as draw_watch_frame's lines
        for box in ignore_boxes:
            outline(picture, box, IGNORE_COLOUR, th)
    picture = draw_watch_frame(picture, regions, zones, label)
    if changing:
        h, w = picture.shape[:2]
        th = max(2, round(max(h, w) / 250))
        cv2.rectangle(picture, (0, 0), (w - 1, h - 1), CHANGE_COLOUR, 2 * th)  # half of it is outside
    return picture


def draw_live(
    img: np.ndarray,
    scale: float,
    regions: Sequence[Region],
    zones: dict[str, Box],
    ignore_boxes: Sequence[Box],
    ignored: np.ndarray | None,
    label: str | None,
) -> None:
    """Draw, in place, the live view's picture: ignored areas shaded and outlined, zones, regions, a label.

    Args:
        img: The frame shrunk to the viewers' size, BGR uint8.
        scale: Its size over the source's (boxes are in source pixels).
        regions: Changed regions.
        zones: Named zones.
        ignore_boxes: Ignore boxes.
        ignored: The ignore mask at the picture's size, or ``None``.
        label: Text for the bottom-left corner, or ``None``.
    """
    h, w = img.shape[:2]
    if ignored is not None:
        shade_ignored(img, ignored)
    th = max(2, round(max(w, h) / 480))  # 1 px lines vanish in JPEG and in a scaled-down <img>
    fs = 0.5 * max(1.0, max(w, h) / 800)  # text: readable, never covering much of the picture
    ft = max(1, round(fs * 2))
    for b in ignore_boxes:
        outline(img, b, IGNORE_COLOUR, th, scale)
    for name, b in zones.items():
        x, y = outline(img, b, ZONE_COLOUR, th, scale)
        cv2.putText(
            img, name, (x + 4, y + round(20 * fs) + th), cv2.FONT_HERSHEY_SIMPLEX, fs, ZONE_COLOUR, ft
        )
    for r in regions:
        outline(img, (r.x, r.y, r.w, r.h), CHANGE_COLOUR, th, scale)
    if label:
        put_label(img, label, (4, h - 10), fs, ft)
