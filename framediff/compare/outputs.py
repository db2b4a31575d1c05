"""The pictures a comparison is drawn as: A and B side by side with the regions boxed, the changed-pixel
mask, the difference heatmap; and the checks that refuse a bad output before any work."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np

from ..analysis.prepare import to_bgr8
from ..draw import draw_regions, heatmap, side_by_side
from ..errors import OutputError
from ..errors import named as label
from ..media.images import read_image, write_image
from ..paths import Named, check_parent_folder
from .inputs import split_image
from .options import CompareOptions
from .result import Comparison

__all__ = ["CompareOutputs", "check_output_files", "write_outputs", "output_names", "planned"]


@dataclass(frozen=True)
class CompareOutputs:
    """The pictures to write for a comparison (each ``None`` when not wanted).

    For a comparison of two folders each is a folder, with one file per differing pair.

    Attributes:
        picture: A and B side by side, every region boxed and numbered.
        mask: The changed-pixel mask (white = changed), A's size.
        heatmap: The difference heatmap over A.
    """

    picture: str | os.PathLike | None = None
    mask: str | os.PathLike | None = None
    heatmap: str | os.PathLike | None = None

    def named(self, labels: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
        """``(label, path)`` of each output, in field order; the label is the field's name, or what
        ``labels`` calls it (a command line names its flags)."""
        return [
            (label(f.name, labels), None if getattr(self, f.name) is None else os.fspath(getattr(self, f.name)))
            for f in fields(self)
        ]

    def any(self) -> bool:
        """Whether any output is wanted."""
        return any(path for _, path in self.named())


def check_output_files(outputs: CompareOutputs, labels: Mapping[str, str] | None = None) -> None:
    """Refuse, before any work, an output picture whose folder does not exist or whose type framediff
    cannot write; each error names the output (overlaps are :func:`~framediff.paths.check_outputs`').

    Raises:
        OutputError: naming the output and what to do.
    """
    for option, out in outputs.named(labels):
        if not out:
            continue
        check_parent_folder(out, option)
        if Path(out).suffix and not cv2.haveImageWriter(out):
            raise OutputError(
                f"{option} {out}: not a picture type framediff writes", "use .png, .jpg or .webp"
            )


def _write(option: str, path: str, image: np.ndarray) -> None:
    """Write one output picture; an error names the output that asked for it."""
    try:
        write_image(path, image)
    except OutputError as e:
        raise OutputError(f"{option}: {e.message}", e.hint) from None


def write_outputs(
    result: Comparison,
    a: str | os.PathLike,
    b: str | os.PathLike | None,
    opts: CompareOptions,
    outputs: CompareOutputs,
    labels: Mapping[str, str] | None = None,
) -> None:
    """Write the pictures ``outputs`` asks for, for the comparison of files ``a`` and ``b``.

    The working images the comparison kept are drawn on; after an answer that needed none (identical
    files, pictures decoded reduced) the inputs are read again.

    Args:
        result: The comparison of ``a`` and ``b``.
        a: A's path.
        b: B's path, or ``None`` when ``a`` held both pictures (``split``).
        opts: The options of the comparison (its ``split``).
        outputs: Where to write each picture.
        labels: What the caller calls each output in messages (``{"picture": "-o"}``).

    Raises:
        OutputError: when a picture cannot be written (the disk refused it).
    """
    named = dict(zip(("picture", "mask", "heatmap"), outputs.named(labels), strict=True))
    if outputs.picture:
        left = draw_regions(
            result.image_a if result.image_a is not None else _load_bgr(a, b, opts, 0), result.regions
        )
        right_img = result.image_b if result.image_b is not None else _load_bgr(a, b, opts, 1)
        right = draw_regions(right_img, result.regions_in_b())
        if b is not None:
            labels_ab = (f"A: {Path(a).name}", f"B: {Path(b).name}")
        else:  # both halves of one picture (split)
            labels_ab = (f"A: {Path(a).name}, first half", f"B: {Path(a).name}, second half")
        _write(named["picture"][0], named["picture"][1], side_by_side(left, right, labels=labels_ab))
    if outputs.mask:
        w, h = result.size_a
        m = np.zeros((h, w), np.uint8)
        if result.mask is not None:
            m = cv2.resize(result.mask, (w, h), interpolation=cv2.INTER_NEAREST)
        _write(named["mask"][0], named["mask"][1], m)
    if outputs.heatmap:
        base = result.image_a if result.image_a is not None else _load_bgr(a, b, opts, 0)
        diff = result.diff if result.diff is not None else np.zeros(base.shape[:2], np.uint8)
        _write(named["heatmap"][0], named["heatmap"][1], heatmap(base, diff))


def _load_bgr(a: str | os.PathLike, b: str | os.PathLike | None, opts: CompareOptions, which: int) -> np.ndarray:
    """Re-read an input as BGR for drawing (only needed after a fast-path answer or a reduced read)."""
    if b is None:
        return to_bgr8(split_image(read_image(a), opts.split or "auto")[which])
    return to_bgr8(read_image(a if which == 0 else b))


def output_names(names: list[str]) -> dict[str, str]:
    """The PNG each pair's pictures are written as: ``x.png`` for ``x.jpg``, unless another pair's name
    would give the same (``x.jpg`` next to ``x.png``): then the whole name, ``x.jpg.png``.

    Args:
        names: The pairs' relative names.

    Returns:
        Each name's output file name (relative, as the name).
    """
    stems = {n: Path(n).with_suffix(".png").as_posix() for n in names}
    count = Counter(stems.values())
    return {n: s if s == n or count[s] == 1 else n + ".png" for n, s in stems.items()}


def planned(outputs: CompareOutputs, out_names: Mapping[str, str], labels: Mapping[str, str] | None) -> list[Named]:
    """Every file a folder comparison may write: one per pair and output folder, then the folders."""
    named = outputs.named(labels)
    files = [(lab, os.path.join(folder, out_names[n])) for lab, folder in named if folder for n in out_names]
    return files + named
