"""Comparing files as ``framediff compare`` does: two pictures (or one holding both) with their output
pictures, or two folders pair by pair. Every check that refuses an input or an output runs before any
work, so nothing is half-written and no input is overwritten."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FramediffError, InputError, OutputError
from ..errors import named as label
from ..media.images import is_image_file
from ..paths import check_outputs, make_folder
from .core import compare, compare_pairs
from .options import CompareOptions, merged_options
from .outputs import CompareOutputs, check_output_files, output_names, planned, write_outputs
from .result import RELATIONS, Comparison

__all__ = ["compare_files", "compare_folders", "FolderComparison", "is_folder_pair", "images_under"]

PairResult = Comparison | FramediffError


def is_folder_pair(a: str | os.PathLike, b: str | os.PathLike | None) -> bool:
    """Whether ``a`` and ``b`` are two folders (compared file by file by :func:`compare_folders`)."""
    return b is not None and os.path.isdir(a) and os.path.isdir(b)


def compare_files(
    a: str | os.PathLike,
    b: str | os.PathLike | None = None,
    outputs: CompareOutputs | None = None,
    *,
    ignore: str | os.PathLike | None = None,
    ignore_boxes: Any = (),
    options: CompareOptions | None = None,
    labels: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Comparison:
    """Compare two picture files and write the output pictures asked for.

    Args:
        a: A's path.
        b: B's path; ``None`` with ``split`` when ``a`` holds both pictures.
        outputs: The pictures to write (:class:`CompareOutputs`), or ``None``.
        ignore: Optional mask picture of areas to ignore (white = ignore), A's size.
        ignore_boxes: Boxes of A to ignore (see :func:`~framediff.compare.compare`).
        options: A :class:`CompareOptions`; or give its fields as keyword arguments.
        labels: What the caller calls the outputs and the mask in messages (``{"picture": "-o",
            "ignore": "--ignore"}``); by default their names here.
        **kwargs: Fields of :class:`CompareOptions`.

    Returns:
        The :class:`Comparison`.

    Raises:
        InputError: when an input is a folder, missing or unreadable.
        OutputError: when an output is a folder, would overwrite an input or another output, or cannot
            be written (all refused before the comparison, except a disk that fills up).
    """
    opts = merged_options(options, kwargs)
    outputs = outputs or CompareOutputs()
    for path in (a, b):
        if path is not None and os.path.isdir(path):
            raise InputError(f"{path} is a folder", "give two images, or two folders to compare file by file")
    for option, out in outputs.named(labels):
        if out and os.path.isdir(out):
            raise OutputError(f"{option} {out} is a folder", "give a file name (folders are for two folders)")
    check_outputs(outputs.named(labels), [("A", a), ("B", b), (label("ignore", labels), ignore)])
    check_output_files(outputs, labels)
    result = compare(a, b, ignore=ignore, ignore_boxes=ignore_boxes, options=opts)
    write_outputs(result, a, b, opts, outputs, labels)
    return result


def images_under(folder: str | os.PathLike) -> set[str]:
    """Relative paths of the image files under ``folder`` (recursively, by the one suffix list)."""
    root = Path(folder)
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if is_image_file(p)}


@dataclass
class FolderComparison:
    """The answer of :func:`compare_folders`.

    Attributes:
        a: Folder A.
        b: Folder B.
        pairs: ``(relative name, result)`` of every pair, in name order: a :class:`Comparison` (without
            its working images) or the :class:`~framediff.errors.FramediffError` that stopped it.
        only_in_a: Pictures of A without a namesake in B.
        only_in_b: Pictures of B without a namesake in A.
    """

    a: str
    b: str
    pairs: list[tuple[str, PairResult]] = field(default_factory=list)
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """How many pairs could not be compared."""
        return sum(isinstance(r, FramediffError) for _, r in self.pairs)

    @property
    def different(self) -> int:
        """How many pairs were compared and are not the same."""
        return sum(isinstance(r, Comparison) and not r.identical for _, r in self.pairs)

    @property
    def identical(self) -> bool:
        """True when every pair is the same and every picture has its partner."""
        return not self.different and not self.failed and not self.only_in_a and not self.only_in_b

    def relations(self) -> dict[str, int]:
        """How many pairs have each relation (``identical``, ``same``, ``changed``, ``different``)."""
        counts = {r: 0 for r in RELATIONS}
        for _, r in self.pairs:
            if isinstance(r, Comparison):
                counts[r.relation] += 1
        return {r: n for r, n in counts.items() if n}

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``framediff compare --json`` prints for two folders."""
        records = [
            {"name": name, "error": str(r)} if isinstance(r, FramediffError) else {"name": name, **r.to_dict()}
            for name, r in self.pairs
        ]
        return {"identical": self.identical, "pairs": records, "only_in_a": self.only_in_a, "only_in_b": self.only_in_b}

    def summary(self) -> str:
        """One line: how many pairs, by relation; how many failed or have no partner."""
        n = len(self.pairs)
        relations = self.relations()
        counts = [f"{relations[r]} {r}" for r in RELATIONS if relations.get(r)]
        failed, alone = self.failed, len(self.only_in_a) + len(self.only_in_b)
        return (
            f"{n} pair{'s' if n != 1 else ''}: " + (", ".join(counts) or "none compared")
            + (f", {failed} failed" if failed else "")
            + (f"; {alone} without a partner" if alone else "")
        )


def compare_folders(
    a: str | os.PathLike,
    b: str | os.PathLike,
    outputs: CompareOutputs | None = None,
    *,
    ignore: str | os.PathLike | None = None,
    ignore_boxes: Any = (),
    options: CompareOptions | None = None,
    labels: Mapping[str, str] | None = None,
    on_pair: Callable[[str, PairResult], None] | None = None,
    **kwargs: Any,
) -> FolderComparison:
    """Compare every picture of folder ``a`` with the file of the same relative name in folder ``b``.

    The next pair is read while one is analysed. For each pair that is not the same, the pictures
    ``outputs`` asks for are written into its folders, as ``<name>.png`` (see
    :func:`~framediff.compare.outputs.output_names`).

    Args:
        a: Folder A (searched recursively).
        b: Folder B.
        outputs: Output folders (:class:`CompareOutputs`), or ``None``.
        ignore: Optional mask picture applied to every pair.
        ignore_boxes: Boxes ignored in every pair.
        options: A :class:`CompareOptions`; or give its fields as keyword arguments.
        labels: What the caller calls the outputs and the mask in messages (see :func:`compare_files`).
        on_pair: Called with ``(name, result)`` as each pair is done (after its outputs are written).
        **kwargs: Fields of :class:`CompareOptions`.

    Returns:
        The :class:`FolderComparison`; a pair that cannot be compared is in it with its error, and the
        others go on.

    Raises:
        InputError: when neither folder holds a picture.
        OutputError: when an output is a file, or one of the files to write would overwrite an input or
            another output (refused before any pair is compared).
    """
    opts = merged_options(options, kwargs)
    outputs = outputs or CompareOutputs()
    a, b = os.fspath(a), os.fspath(b)
    for _, out in outputs.named(labels):
        if out and os.path.exists(out) and not os.path.isdir(out):
            raise OutputError(f"{out} is a file", "with two folders, outputs are folders (one file per pair)")
    in_a, in_b = images_under(a), images_under(b)
    names = sorted(in_a & in_b)
    folder = FolderComparison(a, b, only_in_a=sorted(in_a - in_b), only_in_b=sorted(in_b - in_a))
    if not names and not folder.only_in_a and not folder.only_in_b:
        raise InputError(
            f"no images in {a} or {b}", "give folders holding PNG, JPEG, TIFF, WebP or BMP files"
        )
    out_names = output_names(names)
    # Every file that may be written (one per pair and output folder) against every file read, before
    # any is: an output folder inside an input folder could otherwise overwrite its pictures.
    read = [("A", a), ("B", b), (label("ignore", labels), ignore)]
    read += [("A", os.path.join(a, n)) for n in sorted(in_a)] + [("B", os.path.join(b, n)) for n in sorted(in_b)]
    check_outputs(planned(outputs, out_names, labels), read)
    results = compare_pairs(
        ((os.path.join(a, n), os.path.join(b, n)) for n in names),
        ignore=ignore, ignore_boxes=ignore_boxes, options=opts,
    )  # fmt: skip
    for name, result in zip(names, results, strict=True):
        if isinstance(result, Comparison) and not result.identical and outputs.any():
            pair_outputs = CompareOutputs(
                *(os.path.join(d, out_names[name]) if d else None for _, d in outputs.named())
            )
            for _, path in pair_outputs.named():
                if path:
                    make_folder(os.path.dirname(path))
            write_outputs(result, os.path.join(a, name), os.path.join(b, name), opts, pair_outputs, labels)
        if isinstance(result, Comparison):
            # The working images are for drawing; a folder of thousands of pairs keeps only the answers.
            result = dataclasses.replace(result, image_a=None, image_b=None, diff=None, mask=None, valid=None)
        folder.pairs.append((name, result))
        if on_pair is not None:
            on_pair(name, result)
    return folder
