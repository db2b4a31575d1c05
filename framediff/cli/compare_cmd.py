"""``framediff compare``: spot the difference between two images."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import click
import cv2
import numpy as np

from ..compare import RELATIONS, CompareOptions, Comparison, compare, compare_pairs
from ..draw import draw_regions, heatmap, side_by_side
from ..errors import FramediffError, InputError, OutputError
from ..media.images import write_image
from ..paths import check_outputs, make_folder
from .app import cli
from .options import (
    analysis_size_option,
    ignore_options,
    max_pixels_option,
    min_area_option,
    quiet_option,
    threshold_option,
)

OUTPUT_OPTIONS = ("-o", "--mask", "--heatmap")  # in the order of the outputs passed around below


def _outputs(
    output: str | None, mask_out: str | None, heatmap_out: str | None
) -> list[tuple[str, str | None]]:
    return [("-o", output), ("--mask", mask_out), ("--heatmap", heatmap_out)]


def _check_output_files(outputs: list[str | None]) -> None:
    """Refuse, before any work, an output picture whose folder does not exist or whose type framediff
    cannot write; each error names the option that gave it (overlaps are :func:`check_outputs`'s)."""
    for option, out in zip(OUTPUT_OPTIONS, outputs, strict=True):
        if not out:
            continue
        folder = os.path.dirname(out)
        if folder and not os.path.isdir(folder):
            raise OutputError(
                f"{option} {out}: folder {folder} does not exist", f"create it or choose another {option}"
            )
        if Path(out).suffix and not cv2.haveImageWriter(out):
            raise OutputError(
                f"{option} {out}: not a picture type framediff writes", "use .png, .jpg or .webp"
            )


def _write(option: str, path: str, image: np.ndarray) -> None:
    """Write one output picture; an error names the option that asked for it."""
    try:
        write_image(path, image)
    except OutputError as e:
        raise OutputError(f"{option}: {e.message}", e.hint) from None


@cli.command("compare", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path(), required=False)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object: verdict, regions, scores, sizes, alignment.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    help="Write A and B side by side, every region boxed and numbered (folders: a folder, one file per differing pair).",
)
@click.option(
    "--mask",
    "mask_out",
    type=click.Path(),
    help="Write the changed-pixel mask (white = changed), A's size.",
)
@click.option("--heatmap", "heatmap_out", type=click.Path(), help="Write the difference heatmap over A.")
@ignore_options(
    "Mask picture of areas to ignore (white = ignore), A's size.",
    "Box of A to ignore (repeatable).",
    box_metavar="X,Y,W,H",
)
@click.option(
    "--align",
    default="auto",
    show_default=True,
    help="auto: register B onto A when they do not line up; off: compare pixel to pixel.",
    metavar="auto|off",
)
@threshold_option(
    "Colour difference (0-255) that counts as a change; auto follows the pair's noise.", "N|auto", "auto"
)
@min_area_option("Smallest region reported, in A's pixels (auto: 0.03% of A).", "PX|auto", "auto")
@click.option(
    "--blur",
    default="1.0",
    show_default=True,
    help="Gaussian blur sigma (analysis pixels) before differencing.",
    metavar="SIGMA",
)
@click.option(
    "--method",
    default="absdiff",
    show_default=True,
    help="absdiff (colour difference) or ssim (structural).",
    metavar="absdiff|ssim",
)
@click.option(
    "--split",
    default=None,
    metavar="auto|h|v",
    help="A holds both pictures: side by side (h), stacked (v) or auto.",
)
@analysis_size_option("Longest side of the working images (0 = full size).", "1200")
@click.option(
    "--tolerance",
    default="auto",
    show_default=True,
    help="Residual misregistration forgiven, in analysis pixels (0 = exact; auto: 1, or 0 for a lossless pair in place).",
    metavar="PX",
)
@quiet_option("Print nothing; only the exit status tells.")
@max_pixels_option
def compare_command(
    a: str,
    b: str | None,
    as_json: bool,
    output: str | None,
    mask_out: str | None,
    heatmap_out: str | None,
    ignore: str | None,
    ignore_box: tuple[str, ...],
    align: str,
    threshold: str,
    min_area: str,
    blur: str,
    method: str,
    split: str | None,
    analysis_size: str,
    tolerance: str,
    quiet: bool,
) -> int:
    """Compare image A with image B: exit 0 when the same, 1 when different, 2 on trouble.

    B may be a hand-held photo of the same scene: it is registered onto A, its exposure matched, and
    JPEG noise ignored. Regions are reported in A's pixels.

    When A and B are folders, every image in A is compared with the file of the same relative name in B
    (the next pair is read while one is analysed): one line per pair, files found on one side only are
    listed, and the exit status is 0 only when every pair is the same and nothing is missing.

    \b
    Examples:
      framediff compare before.png after.png
      framediff compare shelf1.jpg shelf2.jpg --json -o diff.png
      framediff compare puzzle.jpg --split auto -o answer.png
      framediff compare ui_old.png ui_new.png --align off --ignore-box 0,0,1920,40
      framediff compare baseline/ screenshots/ -o diffs/
    """
    opts = CompareOptions(
        threshold=threshold,
        min_area=min_area,
        blur=blur,
        method=method,
        align=align,
        analysis_size=analysis_size,
        tolerance=tolerance,
        split=split,
    )
    if b is not None and os.path.isdir(a) and os.path.isdir(b):
        return compare_folders(
            a, b, opts, ignore, ignore_box, output, mask_out, heatmap_out, as_json=as_json, quiet=quiet
        )
    for path in (a, b):
        if path is not None and os.path.isdir(path):
            raise InputError(f"{path} is a folder", "give two images, or two folders to compare file by file")
    for label, out in _outputs(output, mask_out, heatmap_out):
        if out and os.path.isdir(out):
            raise OutputError(f"{label} {out} is a folder", "give a file name (folders are for two folders)")
    check_outputs(_outputs(output, mask_out, heatmap_out), [("A", a), ("B", b), ("--ignore", ignore)])
    _check_output_files([output, mask_out, heatmap_out])
    result = compare(a, b, ignore=ignore, ignore_boxes=ignore_box, options=opts)
    _write_outputs(result, a, b, opts, output, mask_out, heatmap_out)

    if as_json:
        click.echo(json.dumps(result.to_dict()))
    elif not quiet:
        name_b = Path(b).name if b else f"({result.size_b[0]}x{result.size_b[1]} half)"
        click.echo(f"{Path(a).name} vs {name_b}: {result.summary()}")
        for i, r in enumerate(result.regions, 1):
            click.echo(f"  {i}: x={r.x} y={r.y} w={r.w} h={r.h} area={r.area} score={r.score:.3f}")
    return 0 if result.identical else 1


def _write_outputs(
    result: Comparison,
    a: str,
    b: str | None,
    opts: CompareOptions,
    output: str | None,
    mask_out: str | None,
    heatmap_out: str | None,
) -> None:
    """Write the annotated picture, the mask and the heatmap that were asked for."""

    if output:
        left = draw_regions(
            result.image_a if result.image_a is not None else _load_bgr(a, b, opts, 0), result.regions
        )
        right_img = result.image_b if result.image_b is not None else _load_bgr(a, b, opts, 1)
        right = draw_regions(right_img, result.regions_in_b())
        if b is not None:
            labels = (f"A: {Path(a).name}", f"B: {Path(b).name}")
        else:  # both halves of one picture (--split)
            labels = (f"A: {Path(a).name}, first half", f"B: {Path(a).name}, second half")
        _write("-o", output, side_by_side(left, right, labels=labels))
    if mask_out:
        w, h = result.size_a
        m = np.zeros((h, w), np.uint8)
        if result.mask is not None:
            m = cv2.resize(result.mask, (w, h), interpolation=cv2.INTER_NEAREST)
        _write("--mask", mask_out, m)
    if heatmap_out:
        base = result.image_a if result.image_a is not None else _load_bgr(a, b, opts, 0)
        diff = result.diff if result.diff is not None else np.zeros(base.shape[:2], np.uint8)
        _write("--heatmap", heatmap_out, heatmap(base, diff))


def _images_under(folder: str) -> set[str]:
    """Relative paths of the image files under ``folder`` (recursively, by the one suffix list)."""
    from ..media.images import is_image_file

    root = Path(folder)
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if is_image_file(p)}


def _output_names(names: list[str]) -> dict[str, str]:
    """The PNG each pair's pictures are written as: ``x.png`` for ``x.jpg``, unless another pair's name
    would give the same (``x.jpg`` next to ``x.png``): then the whole name, ``x.jpg.png``."""
    stems = {n: Path(n).with_suffix(".png").as_posix() for n in names}
    count = Counter(stems.values())
    return {n: s if s == n or count[s] == 1 else n + ".png" for n, s in stems.items()}


def compare_folders(
    a: str,
    b: str,
    opts: CompareOptions,
    ignore: str | None,
    ignore_box: tuple[str, ...],
    output: str | None,
    mask_out: str | None,
    heatmap_out: str | None,
    *,
    as_json: bool,
    quiet: bool,
) -> int:
    """Compare every image of folder ``a`` with its namesake in folder ``b``; returns the exit status."""
    for out in (output, mask_out, heatmap_out):
        if out and os.path.exists(out) and not os.path.isdir(out):
            raise OutputError(f"{out} is a file", "with two folders, outputs are folders (one file per pair)")
    in_a, in_b = _images_under(a), _images_under(b)
    names = sorted(in_a & in_b)
    only_a, only_b = sorted(in_a - in_b), sorted(in_b - in_a)
    if not names and not only_a and not only_b:
        raise InputError(
            f"no images in {a} or {b}", "give folders holding PNG, JPEG, TIFF, WebP or BMP files"
        )
    out_names = _output_names(names)
    # Every file that may be written (one per pair and output folder) against every file read, before
    # any is: an output folder inside an input folder could otherwise overwrite its pictures.
    read = [("A", a), ("B", b), ("--ignore", ignore)]
    read += [("A", os.path.join(a, n)) for n in sorted(in_a)] + [
        ("B", os.path.join(b, n)) for n in sorted(in_b)
    ]
    planned = [
        (label, os.path.join(folder, out_names[n]))
        for label, folder in _outputs(output, mask_out, heatmap_out)
        if folder
        for n in names
    ]
    check_outputs(planned + _outputs(output, mask_out, heatmap_out), read)
    results = compare_pairs(((os.path.join(a, n), os.path.join(b, n)) for n in names), ignore=ignore, ignore_boxes=ignore_box, options=opts)  # fmt: skip
    records, different, failed = [], 0, 0
    relations: dict[str, int] = {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, FramediffError):
            failed += 1
            records.append({"name": name, "error": str(result)})
            if not as_json and not quiet:
                click.echo(f"{name}: error: {result}")
            continue
        different += not result.identical
        relations[result.relation] = relations.get(result.relation, 0) + 1
        if not result.identical:
            outs = [os.path.join(d, out_names[name]) if d else None for d in (output, mask_out, heatmap_out)]
            for path in outs:
                if path:
                    make_folder(os.path.dirname(path))
            _write_outputs(result, os.path.join(a, name), os.path.join(b, name), opts, *outs)
        records.append({"name": name, **result.to_dict()})
        if not as_json and not quiet:
            click.echo(f"{name}: {result.summary()}")
    if as_json:
        same = not different and not failed and not only_a and not only_b
        click.echo(
            json.dumps({"identical": same, "pairs": records, "only_in_a": only_a, "only_in_b": only_b})
        )
    elif not quiet:
        for n in only_a:
            click.echo(f"{n}: only in {a}")
        for n in only_b:
            click.echo(f"{n}: only in {b}")
        counts = [f"{relations[r]} {r}" for r in RELATIONS if relations.get(r)]
        click.echo(
            f"{len(names)} pair{'s' if len(names) != 1 else ''}: " + (", ".join(counts) or "none compared")
            + (f", {failed} failed" if failed else "")
            + (f"; {len(only_a) + len(only_b)} without a partner" if only_a or only_b else "")
        )
    if failed:
        click.echo(f"Error: {failed} of {len(names)} pairs could not be compared (listed above)", err=True)
        return 2
    return 1 if different or only_a or only_b else 0


def _load_bgr(a: str, b: str | None, opts: CompareOptions, which: int) -> np.ndarray:
    """Re-read an input as BGR for drawing (only needed after a fast-path answer)."""
    from ..compare import split_image
    from ..media.images import read_image
    from ..prepare import to_bgr8

    if b is None:
        return to_bgr8(split_image(read_image(a), opts.split or "auto")[which])
    return to_bgr8(read_image(a if which == 0 else b))
