"""``framediff dupes``: find the duplicate pictures in a collection; a thin layer over
:func:`~framediff.collection.dupes.find_duplicates`."""

from __future__ import annotations

import json
import sys
import time

import click

from ..collection.actions import ActionReport, undo
from ..collection.dupes import KEEP_RULES, DupesOptions
from ..collection.job import DupesJob, DupesResult, run_dupes
from ..collection.outputs import human_bytes, report_text
from ..workers import few_malloc_arenas
from .app import cli
from .options import cluster_option, max_pixels_option


class ProgressLine:
    """A one-line progress display on a terminal's stderr: stage, count, files per second."""

    def __init__(self) -> None:
        self.shown = sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.shown:
            return
        now = time.perf_counter()
        if stage != self.stage:
            self.stage, self.t0 = stage, now
        if now - self.last < 0.1 and done < total:
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-6)
        click.echo(f"\r{stage}: {done}/{total} ({rate:.0f}/s)   ", nl=False, err=True)

    def close(self) -> None:
        if self.shown and self.stage:
            click.echo("\r" + " " * 60 + "\r", nl=False, err=True)


def paths_from_args(given: tuple[str, ...]) -> list[str]:
    """The paths given, ``-`` replaced by the paths read from stdin (one a line)."""
    out: list[str] = []
    for p in given:
        if p == "-":
            out += [line.rstrip("\n") for line in sys.stdin if line.strip()]
        else:
            out.append(p)
    return out


def _print_actions(acted: ActionReport) -> None:
    for step in acted.steps:
        if step.status in ("skipped", "failed"):
            click.echo(f"{step.status}: {step.path}: {step.reason}", err=True)
    if acted.dry_run:
        click.echo(
            f"dry run: {acted.action} would handle {len(acted.planned)} files ({human_bytes(acted.bytes)}); "
            f"{len(acted.skipped)} skipped",
            err=True,
        )
    else:
        click.echo(
            f"{acted.action}: {len(acted.done)} done ({human_bytes(acted.bytes)}), {len(acted.skipped)} skipped, "
            f"{len(acted.failed)} failed; log {acted.log} (undo: framediff dupes --undo {acted.log})",
            err=True,
        )


@cli.command("dupes")
@click.argument("paths", nargs=-1, metavar="PATH...")
@click.option("--db", metavar="FILE", help="The index (default: framediff/index.sqlite in the user's cache folder).")
@click.option(
    "--keep", default="largest", show_default=True, metavar="RULE",
    help=f"Which file of a group is kept: {', '.join(KEEP_RULES)}.",
)
@click.option("--similar", is_flag=True, help="Also group other shots of the same scene (bursts), not only copies.")
@click.option(
    "--reference", "references", multiple=True, metavar="DIR",
    help="A folder matched against but never touched; its files are always the kept ones (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON on stdout.")
@click.option("--csv", "csv_path", metavar="FILE", help="Write the groups as CSV (one row per file).")
@click.option("--html", "html_path", metavar="FILE", help="Write a self-contained report page (thumbnails side by side).")
@click.option(
    "--action", metavar="ACTION",
    help="Do something with the duplicates: move:DIR (keeps the layout), trash, hardlink, symlink, delete.",
)
@click.option("--apply", is_flag=True, help="With --action: do it (without, --action only lists what it would do).")
@click.option("--dry-run", is_flag=True, help="With --action: list what would be done, touch nothing (the default).")
@click.option("--yes", is_flag=True, help="Confirm --action delete (with --apply).")
@click.option("--include-edited", is_flag=True, help="Also act on edited copies (never by default).")
@click.option("--log", "log_path", metavar="FILE", help="The action log (default: a new file in the state folder).")
@click.option("--undo", "undo_log", metavar="LOG", help="Put back what an earlier --action did (its log).")
@click.option("--jobs", default="0", show_default=True, metavar="N", help="Threads (0: every core).")
@click.option(
    "--neural", is_flag=True,
    help="Also take candidates from neural descriptors (crops to a part, pictures inside others); needs "
    "pip install 'framediff[neural]'.",
)
@cluster_option
@max_pixels_option
def dupes_command(
    paths: tuple[str, ...],
    db: str | None,
    keep: str,
    similar: bool,
    references: tuple[str, ...],
    as_json: bool,
    csv_path: str | None,
    html_path: str | None,
    action: str | None,
    apply: bool,
    dry_run: bool,
    yes: bool,
    include_edited: bool,
    log_path: str | None,
    undo_log: str | None,
    jobs: str,
    cluster: str | None,
    neural: bool,
) -> None:
    """Find the copies of the same picture in folders and files.

    \b
    Every picture is fingerprinted once into an index (a second run reads only new or changed files);
    candidates are verified by compare's verdict, and each duplicate says how it relates to the kept
    file: exact, same-pixels, resized, recompressed, cropped, bordered, mirrored, rotated, recoloured,
    or edited (with the changed regions). Nothing is touched unless --action is given, and --action
    only lists what it would do until --apply is added (a log of every step: --undo LOG puts files back).

    \b
    framediff dupes ~/Pictures
    framediff dupes ~/Pictures --reference ~/Archive --json > dupes.json
    find . -name '*.jpg' | framediff dupes - --csv dupes.csv
    framediff dupes ~/Pictures --action trash            # the plan
    framediff dupes ~/Pictures --action trash --apply    # done, logged

    Exit status: 0 no duplicates, 1 duplicates found, 2 trouble.
    """
    if undo_log:
        _undo(undo_log, paths)
    if not paths:
        raise click.UsageError("give a folder or file to look at (or - for paths on stdin)")
    if apply and dry_run:
        raise click.UsageError("--apply and --dry-run contradict each other: give one")
    if apply and not action:
        raise click.UsageError("--apply needs an --action to apply")
    if apply and action == "delete" and not yes:
        # The library's own refusal names its setting (confirmed); on the command line it is --yes.
        raise click.UsageError("--action delete needs --yes (deleted files cannot be put back; move or trash them instead)")
    try:
        n_jobs = int(jobs)
    except ValueError:
        raise click.BadParameter(f"{jobs!r} is not a whole number", param_hint="--jobs") from None
    few_malloc_arenas()  # a long run of many threads over many pictures: keep freed memory reusable
    opts = DupesOptions(
        db=db, keep=keep, similar=similar, references=references, jobs=n_jobs, cluster=cluster, neural=neural
    )
    job = DupesJob(
        csv=csv_path, html=html_path, action=action, dry_run=not apply, confirmed=yes,
        include_edited=include_edited, log=log_path,
    )  # fmt: skip
    progress = ProgressLine()
    try:
        result = run_dupes(paths_from_args(paths), opts, job, progress=progress)
    except KeyboardInterrupt:
        progress.close()
        click.echo("Interrupted: the index keeps every file fingerprinted so far; nothing half-done.", err=True)
        sys.exit(130)
    finally:
        progress.close()
    _print_found(result, as_json)
    sys.exit(1 if result.report.groups else 0)


def _undo(undo_log: str, paths: tuple[str, ...]) -> None:
    """``--undo LOG``: put the files back, say what could not be, exit."""
    if paths:
        raise click.UsageError("--undo takes the log only, no PATH")
    back = undo(undo_log)
    for step in back.steps:
        if step.status != "done":
            click.echo(f"{step.status}: {step.path}: {step.reason}", err=True)
    click.echo(f"undo: {len(back.done)} files put back, {len(back.skipped) + len(back.failed)} not", err=True)
    sys.exit(2 if back.failed else 0)


def _print_found(result: DupesResult, as_json: bool) -> None:
    """The run's warnings, unreadable files and actions on stderr; the groups (or JSON) on stdout."""
    report = result.report
    for w in report.warnings:
        click.echo(f"Warning: {w}", err=True)
    for e in report.errors:
        click.echo(f"unreadable: {e.text}", err=True)
    if result.actions is not None:
        _print_actions(result.actions)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=1))
    else:
        click.echo(report_text(report))
