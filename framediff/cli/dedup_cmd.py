"""``framediff dedup``: drop duplicate frames; a thin layer over :func:`~framediff.dedup.dedup_video`."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ..dedup import DedupInterrupted, DedupResult, dedup_video
from ..dedup.library import ClipResult, dedup_library, is_video_library
from .app import cli
from .options import cluster_option, max_pixels_option, threshold_option

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


def _library(
    folder: str, output: str | None, report: str | None, plot: str | None, dry_run: bool, jobs: str | None,
    cluster: str | None, settings: dict[str, Any],
) -> None:
    """A folder of videos: each clip trimmed as the single-file command trims it, a line per clip as it ends."""
    try:
        n_jobs = int(jobs) if jobs is not None else 0
    except ValueError:
        raise click.BadParameter(f"{jobs!r} is not a whole number", param_hint="--jobs") from None

    def on_clip(c: ClipResult) -> None:
        if c.error is not None:
            click.echo(f"failed: {c.input}: {c.error}", err=True)
            return
        assert c.result is not None
        for w in c.result.warnings:
            click.echo(f"Warning: {c.input}: {w}", err=True)
        target = f" -> {c.output}" if c.output else ""
        click.echo(f"{c.input}: {c.result.summary()}{target}", err=True)

    done = dedup_library(
        folder, output, report=report, plot=plot, dry_run=dry_run, jobs=n_jobs, cluster=cluster, on_clip=on_clip,
        labels=LABELS, **settings,
    )  # fmt: skip
    click.echo(done.summary(), err=True)
    if done.failed:
        sys.exit(2)


@cli.command("dedup")
@click.argument("input", metavar="INPUT", type=click.Path(dir_okay=True, path_type=str))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=True, path_type=str),
    help="Trimmed video; for a folder INPUT of images, the folder of unique images; of videos, the folder of trimmed videos.",
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
    type=click.Path(dir_okay=True, path_type=str),
    help="Write FILE.csv: frame,time,score,action (for a folder of videos: a folder, with CLIP.mp4.csv for each clip).",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=True, path_type=str),
    help="Write FILE.png or FILE.svg: score over time, threshold, dropped and kept frames (for a folder of videos: a folder, with CLIP.mp4.png for each clip).",
)
@click.option("--dry-run", is_flag=True, help="Analyse and report only; write no video.")
@click.option(
    "--jobs", metavar="N",
    help="For a folder of videos: clips trimmed at once in local processes (default: one per core).",
)
@cluster_option
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
    jobs: str | None,
    cluster: str | None,
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
    framediff dedup videos/ -o trimmed/ --report trimmed/     folder of videos, clips side by side
    """
    if is_video_library(input):
        _library(input, output, report, plot, dry_run, jobs, cluster,
                 dict(threshold=threshold, max_drop=max_drop, timing=timing, codec=codec, crf=crf))  # fmt: skip
        return
    if jobs is not None or cluster is not None:
        raise click.UsageError("--jobs and --cluster are for a folder of videos")
    for flag, path in (("--report", report), ("--plot", plot)):
        if path is not None and os.path.isdir(path):
            raise click.BadParameter(f"{path} is a folder (a folder is for a folder of videos): give a file", param_hint=flag)
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
