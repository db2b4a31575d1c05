"""Drawing results: numbered boxes, side-by-side pictures, heatmaps, score timelines.

Pure functions that return new BGR uint8 arrays, plus :func:`write_image`, which writes atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .errors import OutputError
from .paths import disk_error, remove_quietly, temp_path
from .regions import Region

__all__ = ["draw_regions", "side_by_side", "heatmap", "write_image", "write_bytes", "PALETTE"]

# High-contrast colours (BGR) that stay visible on photos; boxes cycle through them.
PALETTE = [(0, 0, 255), (0, 200, 255), (255, 0, 255), (255, 160, 0), (0, 255, 0), (255, 255, 0)]


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


def write_image(
    path: str | os.PathLike, image: np.ndarray, quality: int = 92, fmt: str | None = None
) -> None:
    """Write a picture atomically (a temporary file in the same folder, renamed when complete).

    Args:
        path: Destination; the format follows the extension (.png, .jpg, .webp...) unless ``fmt`` is given.
        image: The pixels.
        quality: JPEG/WebP quality.
        fmt: Encode as this format (e.g. ``".png"``) whatever the file is called.

    Raises:
        OutputError: when the format is unknown or the file cannot be written; nothing is left behind.
    """
    p = Path(path)
    ext = (fmt or p.suffix or ".png").lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else []
    try:
        ok, buf = cv2.imencode(ext, image, params)
    except cv2.error:
        ok = False
    if not ok:
        raise OutputError(f"cannot write {p}: unknown image type {ext!r}", "use .png, .jpg or .webp")
    write_bytes(p, buf.tobytes())


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a file atomically (a temporary file in the same folder, renamed when complete).

    Args:
        path: Destination.
        data: The whole content.

    Raises:
        OutputError: when the file cannot be written; nothing is left behind.
    """
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {p}: folder {folder} does not exist", "create it first")
    # A name of our own per call (threads may write at once); plain open() keeps the usual permissions.
    tmp = temp_path(p)
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, p)
    except OSError as e:
        remove_quietly(tmp)
        raise disk_error(p, e) from None
