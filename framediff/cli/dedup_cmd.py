"""``framediff dedup``: drop duplicate frames; a thin layer over :func:`~framediff.dedup.dedup_video`."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..dedup import DedupInterrupted, DedupResult, dedup_video
from .app import cli
from .options import max_pixels_option, threshold_option

# The library names the outputs and settings as its arguments; a user of the command line typed these.
LABELS = {
    "output": "-o",
    "report": "--report",
    "plot": "--plot",
    "dry_run": "--dry-run",
    "codec": "--codec",
    "crf": "--crf",
    "timing": "--timing",
}


def _print_result(result: DedupResult) -> None:
    for w in result.warnings:
        click.echo(f"Warning: {w}", err=True)
    target = f" -> {result.output}" if result.output else " (dry run: nothing written)"
    click.echo(f"{result.summary()}{target}", err=True)


@cli.command("dedup")
@click.argument("input", metavar="INPUT", type=click.Path(dir_okay=True, path_type=str))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=True, path_type=str),
    help="Trimmed video, or folder of unique images for a folder INPUT.",
)
@threshold_option("Fixed change threshold in grey levels (default: auto, from the video's noise floor).")
@click.option("--max-drop", metavar="N", help="Keep a frame anyway after N consecutive drops.")
@click.option(
    "--timing",
    default="keep",
    show_default=True,
    metavar="keep|compact",
    help="keep: original timestamps, same duration, audio in sync. "
    "compact: constant frame rate, shorter, audio dropped.",
)
@click.option("--codec", metavar="NAME", help="Video encoder (default libx264; libvpx-vp9 for .webm).")
@click.option(
    "--crf", default="18", show_default=True, metavar="N", help="Encoder quality (lower is better)."
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=str),
    help="Write FILE.csv: frame,time,score,action.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=str),
    help="Write FILE.png or FILE.svg: score over time, threshold, dropped and kept frames.",
)
@click.option("--dry-run", is_flag=True, help="Analyse and report only; write no video.")
@max_pixels_option
def dedup_command(
    input: str,
    output: str | None,
    threshold: str | None,
    max_drop: str | None,
    timing: str,
    codec: str | None,
    crf: str,
    report: str | None,
    plot: str | None,
    dry_run: bool,
) -> None:
    """Drop repeated frames from a video; keep every real change.

    Each frame is compared with the previous frame and the last kept frame; it is dropped when both
    differ by no more than the video's own noise floor (grain and compression noise). Fades, slow pans,
    a blinking caret and small moving objects are kept.

    \b
    framediff dedup talk.mp4 -o talk-trimmed.mp4              same duration, audio in sync
    framediff dedup talk.mp4 --dry-run --report r.csv --plot r.png
    framediff dedup anim.mkv -o short.mp4 --timing compact    constant rate, no audio
    framediff dedup frames/ -o unique/                        folder of unique images
    """
    bar: Any = None
    progress = on_total = None
    if sys.stderr.isatty():
        done = [0]

        def on_total(total: int | None) -> None:
            nonlocal bar
            bar = click.progressbar(length=total or 1, label="dedup", file=sys.stderr, show_pos=bool(total))
            bar.__enter__()

        def progress(n: int) -> None:
            bar.update(n - done[0])
            done[0] = n

    try:
        result = dedup_video(
            input,
            output,
            threshold=threshold,
            max_drop=max_drop,
            timing=timing,
            codec=codec,
            crf=crf,
            report=report,
            plot=plot,
            dry_run=dry_run,
            progress=progress,
            on_total=on_total,
            labels=LABELS,
        )
    except DedupInterrupted as e:
        if bar is not None:
            bar.__exit__(None, None, None)
        _print_result(e.result)
        # The summary says it was interrupted; exit 130 without click's extra "Aborted." line.
        raise click.exceptions.Exit(130) from None
    if bar is not None:
        bar.__exit__(None, None, None)
    _print_result(result)
