"""Reading a pair for comparison: both pictures decoded side by side, byte-identical files noticed, large
JPEGs decoded at about the working size, one picture split in two."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..analysis.prepare import analysis_scale, to_bgr8
from ..errors import OptionError
from ..media.images import jpeg_header, jpeg_reduction, load_image, read_jpeg_reduced
from ..workers import POOL
from .options import CompareOptions

__all__ = ["split_image", "Reduced", "working_scale", "read_inputs", "read_reduced", "load_pair", "ignore_input"]


def split_image(image: np.ndarray, how: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Cut one picture holding both halves of a puzzle into its two images.

    Args:
        image: The combined picture.
        how: ``h`` (left | right), ``v`` (top over bottom) or ``auto`` (the cut whose halves look most alike).

    Returns:
        ``(first, second)``; any gutter between the halves is left to alignment to absorb.
    """
    h, w = image.shape[:2]
    if how == "auto":
        g = cv2.cvtColor(to_bgr8(image), cv2.COLOR_BGR2GRAY)

        def likeness(p: np.ndarray, q: np.ndarray) -> float:
            size = (64, 64)
            p = cv2.resize(p, size, interpolation=cv2.INTER_AREA).astype(np.float32)
            q = cv2.resize(q, size, interpolation=cv2.INTER_AREA).astype(np.float32)
            return float(np.mean(np.abs(p - q)))

        how = (
            "h"
            if likeness(g[:, : w // 2], g[:, w - w // 2 :]) <= likeness(g[: h // 2], g[h - h // 2 :])
            else "v"
        )
    if how == "h":
        return image[:, : w // 2], image[:, w - w // 2 :]
    return image[: h // 2], image[h - h // 2 :]


@dataclass(frozen=True)
class Reduced:
    """Both images were decoded at 1/ka and 1/kb of their size; their full sizes are given."""

    ka: int
    kb: int
    size_a: tuple[int, int]
    size_b: tuple[int, int]


def working_scale(size_a: tuple[int, int], analysis_size: int) -> float:
    """The analysis scale for an A of ``size_a``, snapped to a whole shrink factor when that costs little."""
    scale = analysis_scale(*size_a, analysis_size)
    if 0 < scale < 1.0:
        # Whole-number shrink factors take OpenCV's fast area-averaging path; take one when it costs at
        # most a quarter of the working resolution.
        n = int(np.ceil(1.0 / scale - 1e-9))
        if n * scale <= 1.34:
            scale = 1.0 / n
    return scale


def read_inputs(
    a: Any, b: Any, opts: CompareOptions
) -> tuple[np.ndarray, np.ndarray, str | None, Reduced | None]:
    """Read (or take) both images, noticing byte-identical files; split ``a`` when ``b`` is None.

    Large JPEGs are decoded at a reduced size when only the working resolution is needed; the returned
    :class:`Reduced` then says by how much and gives the full sizes.
    """
    if b is not None and opts.split:
        raise OptionError("split cuts one picture in two, but two were given", "give only A, or drop split", "split")
    # Byte-identical files need no decoding beyond A's size.
    fast = None
    if b is not None and not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        pa, pb = os.fspath(a), os.fspath(b)
        if os.path.isfile(pa) and os.path.isfile(pb) and os.path.getsize(pa) == os.path.getsize(pb) > 0:
            with open(pa, "rb") as fa, open(pb, "rb") as fb:
                if fa.read() == fb.read():
                    fast = "bytes"
    if b is not None and fast is None:
        if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray) and opts.analysis_size > 0:
            got = read_reduced(os.fspath(a), os.fspath(b), opts)
            if got is not None:
                return got[0], got[1], None, got[2]
        # Decoding dominates small comparisons; OpenCV releases the GIL, so decode A and B side by side.
        img_a, img_b = load_pair(a, b)
    else:
        img_a = load_image(a)
    if b is None:
        if not opts.split:
            raise OptionError(
                "compare needs two images", "give B, or set split to auto for one picture holding both", "split"
            )
        img_a, img_b = split_image(img_a, opts.split)
    elif fast == "bytes":
        img_b = img_a
    return img_a, img_b, fast, None


def read_reduced(pa: str, pb: str, opts: CompareOptions) -> tuple[np.ndarray, np.ndarray, Reduced] | None:
    """Read large JPEGs straight at (about) the working resolution; ``None`` when that does not apply."""
    head_a = jpeg_header(pa)
    if head_a is None:
        return None
    size_a, orient_a = head_a
    k = jpeg_reduction(working_scale(size_a, opts.analysis_size))
    if k == 1:
        return None
    head_b = jpeg_header(pb)
    if head_b is not None:
        size_b, orient_b = head_b
        kb = k
        img_a, img_b = read_side_by_side(
            lambda: read_jpeg_reduced(pa, k, orient_a), lambda: read_jpeg_reduced(pb, k, orient_b)
        )
    else:
        kb = 1
        img_a, img_b = read_side_by_side(lambda: read_jpeg_reduced(pa, k, orient_a), lambda: load_image(pb))
        size_b = (img_b.shape[1], img_b.shape[0])
    return img_a, img_b, Reduced(k, kb, size_a, size_b)


def load_pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Load two images, decoding them in two threads when both are files."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return load_image(a), load_image(b)
    return read_side_by_side(lambda: load_image(a), lambda: load_image(b))


def read_side_by_side(
    read_a: Callable[[], np.ndarray], read_b: Callable[[], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Run two image reads at once (OpenCV decodes without the GIL): B on the pool, A here.

    B's read is always waited for, even when A's fails, so no decode outlives the call; A's error wins.
    """
    fb = POOL.submit(read_b)
    try:
        img_a = read_a()
    finally:
        img_b_or_error = fb.exception()
    if img_b_or_error is not None:
        raise img_b_or_error
    return img_a, fb.result()


def ignore_input(ignore: Any) -> np.ndarray | None:
    """The ignore picture as an array (read once, however many pairs use it)."""
    return load_image(ignore) if ignore is not None and not isinstance(ignore, np.ndarray) else ignore
