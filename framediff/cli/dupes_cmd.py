"""``framediff dupes``: find the duplicate pictures in a collection; a thin layer over
:func:`~framediff.collection.dupes.find_duplicates`."""

from __future__ import annotations

import json
import sys
import time

import click

from ..collection.dupes import KEEP_RULES, DupesOptions, find_duplicates
from ..collection.outputs import report_text, write_csv
from ..collection.report import DuplicateReport
from ..paths import check_outputs
from .app import cli
from .options import max_pixels_option


class _Progress:
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


def _paths(given: tuple[str, ...]) -> list[str]:
    """The paths given, ``-`` replaced by the paths read from stdin (one a line)."""
    out: list[str] = []
    for p in given:
        if p == "-":
            out += [line.rstrip("\n") for line in sys.stdin if line.strip()]
        else:
            out.append(p)
    return out


@cli.command("dupes")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
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
@click.option("--jobs", default="0", show_default=True, metavar="N", help="Threads (0: every core).")
@max_pixels_option
def dupes_command(
    paths: tuple[str, ...],
    db: str | None,
    keep: str,
    similar: bool,
    references: tuple[str, ...],
    as_json: bool,
    csv_path: str | None,
    jobs: str,
) -> None:
    """Find the copies of the same picture in folders and files.

    \b
    Every picture is fingerprinted once into an index (a second run reads only new or changed files);
    candidates are verified by compare's verdict, and each duplicate says how it relates to the kept
    file: exact, same-pixels, resized, recompressed, cropped, bordered, mirrored, rotated, recoloured,
    or edited (with the changed regions). Nothing is touched.

    \b
    framediff dupes ~/Pictures
    framediff dupes ~/Pictures --reference ~/Archive --json > dupes.json
    find . -name '*.jpg' | framediff dupes - --csv dupes.csv

    Exit status: 0 no duplicates, 1 duplicates found, 2 trouble.
    """
    try:
        n_jobs = int(jobs)
    except ValueError:
        raise click.BadParameter(f"{jobs!r} is not a whole number", param_hint="--jobs") from None
    opts = DupesOptions(db=db, keep=keep, similar=similar, references=references, jobs=n_jobs)
    given = _paths(paths)
    check_outputs([("--csv", csv_path), ("--db", db)], [("PATH", p) for p in given])
    progress = _Progress()
    try:
        report: DuplicateReport = find_duplicates(given, opts, progress=progress)
    finally:
        progress.close()
    for e in report.errors:
        click.echo(f"unreadable: {e.path}: {e.message}", err=True)
    if csv_path:
        write_csv(report, csv_path)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=1))
    else:
        click.echo(report_text(report))
    sys.exit(1 if report.groups else 0)
