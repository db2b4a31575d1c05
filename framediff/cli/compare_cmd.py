"""``framediff compare``: spot the difference between two images (or two folders of them)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..compare import CompareOptions, Comparison
from ..compare.files import compare_files, compare_folders, is_folder_pair
from ..compare.outputs import CompareOutputs
from ..errors import FramediffError
from .app import cli
from .options import (
    analysis_size_option,
    ignore_options,
    max_pixels_option,
    min_area_option,
    quiet_option,
    threshold_option,
)

# The library names the outputs and the mask by their settings; a user of the command line typed these.
LABELS = {"picture": "-o", "mask": "--mask", "heatmap": "--heatmap", "ignore": "--ignore"}


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
    outputs = CompareOutputs(output, mask_out, heatmap_out)
    if b is not None and is_folder_pair(a, b):
        return _folders(a, b, outputs, opts, ignore, ignore_box, as_json, quiet)
    result = compare_files(
        a, b, outputs, ignore=ignore, ignore_boxes=ignore_box, options=opts, labels=LABELS
    )
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    elif not quiet:
        name_b = Path(b).name if b else f"({result.size_b[0]}x{result.size_b[1]} half)"
        click.echo(f"{Path(a).name} vs {name_b}: {result.summary()}")
        for i, r in enumerate(result.regions, 1):
            click.echo(f"  {i}: x={r.x} y={r.y} w={r.w} h={r.h} area={r.area} score={r.score:.3f}")
    return 0 if result.identical else 1


def _folders(
    a: str,
    b: str,
    outputs: CompareOutputs,
    opts: CompareOptions,
    ignore: str | None,
    ignore_box: tuple[str, ...],
    as_json: bool,
    quiet: bool,
) -> int:
    """Two folders: a line per pair as it is compared, then the files on one side only and the summary."""
    talk = not as_json and not quiet

    def said(name: str, result: Comparison | FramediffError) -> None:
        if talk:
            what = f"error: {result}" if isinstance(result, FramediffError) else result.summary()
            click.echo(f"{name}: {what}")

    folders = compare_folders(
        a, b, outputs, ignore=ignore, ignore_boxes=ignore_box, options=opts, labels=LABELS, on_pair=said
    )
    if as_json:
        click.echo(json.dumps(folders.to_dict()))
    elif talk:
        for n in folders.only_in_a:
            click.echo(f"{n}: only in {a}")
        for n in folders.only_in_b:
            click.echo(f"{n}: only in {b}")
        click.echo(folders.summary())
    if folders.failed:
        click.echo(
            f"Error: {folders.failed} of {len(folders.pairs)} pairs could not be compared (listed above)",
            err=True,
        )
        return 2
    return 0 if folders.identical else 1
