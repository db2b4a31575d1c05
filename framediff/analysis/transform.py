"""What B is relative to A when both show the same picture: mirrored, turned, resized, cropped, recoloured.

Read off the fitted alignment (a homography from B's pixels to A's) and the tone correction; this is the
explanation that the collection jobs give for every duplicate they group ("B is A mirrored, at half
size"), so it is a plain function of those two results.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from .align import Alignment

__all__ = ["describe_transform", "tone_change", "transform_words"]

FULL = 0.97  # a picture covering at least this share of the other's extent is not a crop of it


def _box_of(points: np.ndarray, w: int, h: int) -> list[int]:
    """The bounding box ``[x, y, w, h]`` of ``points``, clipped to a ``w`` x ``h`` picture."""
    x0, y0 = np.clip(points.min(axis=0), 0, [w, h])
    x1, y1 = np.clip(points.max(axis=0), 0, [w, h])
    return [int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0))]


def _quarter(rotation: float) -> float:
    """A rotation snapped to the nearest quarter turn when within 2 degrees of it (90, 180, -90)."""
    q = round(rotation / 90.0) * 90.0
    if abs(rotation - q) <= 2.0:
        q = 180.0 if abs(q) == 180.0 else q
        return float(q if q != -0.0 else 0.0)
    return round(rotation, 2)


def describe_transform(
    alignment: Alignment, size_a: tuple[int, int], size_b: tuple[int, int], tone: dict[str, Any]
) -> dict[str, Any]:
    """Describe B relative to A.

    Args:
        alignment: How B was registered onto A (its matrix maps B's full-size pixels onto A's).
        size_a: ``(width, height)`` of A.
        size_b: ``(width, height)`` of B.
        tone: From :func:`tone_change` (``light``, ``colour``, ``grey``).

    Returns:
        ``mirrored``, ``rotation`` (degrees, counter-clockwise positive, quarter turns exact),
        ``scale`` (B's linear size over A's), ``aspect`` (B's horizontal over vertical scale),
        ``crop`` (``b_in_a`` and/or ``a_in_b`` boxes, or ``None``), ``light``, ``colour``, ``grey``.
    """
    (wa, ha), (wb, hb) = size_a, size_b
    out: dict[str, Any] = {"mirrored": bool(alignment.mirrored), "rotation": 0.0, "scale": 1.0, "aspect": 1.0}
    crop: dict[str, list[int]] = {}
    if alignment.warped:
        m = alignment.matrix
        out["rotation"] = _quarter(alignment.rotation)
        lin = np.linalg.inv(m)[:2, :2]  # A's pixels -> B's pixels
        if alignment.mirrored:
            lin = lin @ np.diag([-1.0, 1.0])
        # Undo the rotation so the two axis scales read along A's axes.
        t = np.radians(alignment.rotation)
        rot = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
        s = lin @ rot.T
        sx, sy = float(np.hypot(s[0, 0], s[1, 0])), float(np.hypot(s[0, 1], s[1, 1]))
        if abs(out["rotation"]) == 90.0:
            sx, sy = sy, sx
        out["scale"] = round(float(np.sqrt(abs(np.linalg.det(lin)))), 4)
        out["aspect"] = round(sx / sy, 4) if sy > 0 else 1.0
        corners_b = np.float32([[0, 0], [wb, 0], [wb, hb], [0, hb]]).reshape(-1, 1, 2)
        b_in_a = cv2.perspectiveTransform(corners_b, m).reshape(-1, 2)
        corners_a = np.float32([[0, 0], [wa, 0], [wa, ha], [0, ha]]).reshape(-1, 1, 2)
        a_in_b = cv2.perspectiveTransform(corners_a, np.linalg.inv(m)).reshape(-1, 2)
        box = _box_of(b_in_a, wa, ha)
        if box[2] * box[3] < FULL * wa * ha:
            crop["b_in_a"] = box
        box = _box_of(a_in_b, wb, hb)
        if box[2] * box[3] < FULL * wb * hb:
            crop["a_in_b"] = box
    elif (wa, ha) != (wb, hb):
        # Compared as they lie (top-left on top-left): B is a part of A, or A of B.
        if wb <= wa and hb <= ha:
            crop["b_in_a"] = [0, 0, wb, hb]
        elif wa <= wb and ha <= hb:
            crop["a_in_b"] = [0, 0, wa, ha]
    out["crop"] = crop or None
    out["light"] = bool(tone.get("light", False))
    out["colour"] = bool(tone.get("colour", False))
    out["grey"] = bool(tone.get("grey", False))
    return out


def tone_change(
    a: np.ndarray, b: np.ndarray, luts: list[np.ndarray | None], valid: np.ndarray | None = None
) -> dict[str, bool]:
    """Whether the light or the colours changed from A to B, or B became grey.

    Args:
        a: A, BGR uint8, aligned with ``b``.
        b: B, BGR uint8.
        luts: The per-channel tone tables fitted from A to B (``None`` = that channel unchanged).
        valid: Optional mask of the pixels to judge on.

    Returns:
        ``{"light": ..., "colour": ..., "grey": ...}``.
    """
    grey = colourfulness(b, valid) < 1.5 and colourfulness(a, valid) > 4.0
    tables = [np.arange(256, dtype=np.int16) if t is None else t.astype(np.int16) for t in luts]
    light = any(t is not None for t in luts)
    colour = False
    if light and len(tables) == 3:
        # Channels moved differently: the colour balance changed, not only the exposure.
        spread = np.max(tables, axis=0) - np.min(tables, axis=0)
        colour = bool(np.percentile(spread[32:224], 75) > 6)
    return {"light": bool(light and not grey), "colour": bool(colour and not grey), "grey": bool(grey)}


def colourfulness(image: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean colourfulness: the mean spread between the channels (0 for a grey picture).

    Args:
        image: Grey or BGR uint8.
        valid: Optional mask of the pixels to judge on.

    Returns:
        The mean of max - min over the channels, on every 4th pixel.
    """
    if image.ndim == 2 or image.shape[2] == 1:
        return 0.0
    # OpenCV's per-pixel max and min over the planes: several times faster than NumPy's over an axis.
    planes = cv2.split(np.ascontiguousarray(image[::4, ::4]))
    hi, lo = planes[0], planes[0]
    for p in planes[1:]:
        hi, lo = cv2.max(hi, p), cv2.min(lo, p)
    spread = cv2.subtract(hi, lo)
    if valid is not None:
        v = (valid[::4, ::4] > 0).view(np.uint8)
        return float(cv2.mean(spread, mask=v)[0]) if v.any() else 0.0
    return float(cv2.mean(spread)[0])


def transform_words(t: dict[str, Any]) -> list[str]:
    """The transform in a few words for the one-line summary (nothing when B is A as it is)."""
    words = []
    if t.get("mirrored"):
        words.append("mirrored")
    rot = float(t.get("rotation") or 0.0)
    if abs(rot) >= 0.5:
        words.append(f"turned {rot:+g} deg")
    sc = float(t.get("scale") or 1.0)
    if abs(sc - 1.0) > 0.02:
        words.append(f"scaled x{sc:.2f}")
    if abs(float(t.get("aspect") or 1.0) - 1.0) > 0.03:
        words.append(f"aspect x{t['aspect']:.2f}")
    crop = t.get("crop") or {}
    if "b_in_a" in crop:
        words.append("B is a crop of A at {},{} {}x{}".format(*crop["b_in_a"]))
    if "a_in_b" in crop:
        words.append("A lies in B at {},{} {}x{}".format(*crop["a_in_b"]))
    if t.get("grey"):
        words.append("B is grey")
    elif t.get("colour"):
        words.append("colours changed")
    elif t.get("light"):
        words.append("light changed")
    return words
