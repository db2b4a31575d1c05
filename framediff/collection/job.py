"""The dupes command as one library call: find the groups, write the reports, apply the action."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutputError
from ..paths import check_outputs
from .actions import ActionReport, apply_action
from .dupes import DupesOptions, Progress, find_duplicates
from .fingerprint import is_picture_file
from .html import write_html
from .outputs import write_csv
from .report import DuplicateReport

__all__ = ["DupesJob", "DupesResult", "run_dupes"]


@dataclass
class DupesJob:
    """What to do besides finding the groups.

    Attributes:
        csv: Write the groups as CSV here.
        html: Write the report page here.
        action: ``move:DIR``, ``trash``, ``hardlink``, ``symlink`` or ``delete`` (``None``: touch nothing).
        dry_run: Plan the action only.
        confirmed: ``delete`` was confirmed (``--yes``).
        include_edited: Act on edited copies too.
        log: The action log (default: a new file in the user's state folder).
    """

    csv: str | os.PathLike | None = None
    html: str | os.PathLike | None = None
    action: str | None = None
    dry_run: bool = False
    confirmed: bool = False
    include_edited: bool = False
    log: str | os.PathLike | None = None


@dataclass
class DupesResult:
    """The groups, and what the action did (``None`` without one)."""

    report: DuplicateReport
    actions: ActionReport | None = None


def _check_not_in_collection(outputs: list[tuple[str, object]], inputs: list[tuple[str, object]]) -> None:
    """Refuse an output that is one of the pictures the folders given hold (it would be read, then
    overwritten); other files written into a collection folder are fine."""
    folders = [os.path.realpath(p) for _, p in inputs if os.path.isdir(p)]  # type: ignore[arg-type]
    for label, out in outputs:
        if out is None or os.fspath(out) in ("", "-"):  # type: ignore[arg-type]
            continue
        real = os.path.realpath(out)  # type: ignore[arg-type]
        inside = any(real.startswith(f.rstrip(os.sep) + os.sep) for f in folders)
        if inside and is_picture_file(Path(real)):
            raise OutputError(
                f"{label} {out} would overwrite a picture of the collection",
                f"an input is never overwritten: give {label} another name",
            )


def run_dupes(
    paths: Sequence[str | os.PathLike],
    options: DupesOptions,
    job: DupesJob | None = None,
    progress: Progress | None = None,
    on_step: Callable[..., None] | None = None,
) -> DupesResult:
    """Find the duplicates under ``paths``, write the reports and apply the action.

    Args:
        paths: Folders and files.
        options: How duplicates are found.
        job: Reports and action.
        progress: ``progress(stage, done, total)``.
        on_step: Called after each file the action handles.

    Returns:
        The :class:`DupesResult`.

    Raises:
        OutputError: when an output would overwrite an input or another output (checked before any work).
    """
    job = job or DupesJob()
    inputs = [("PATH", p) for p in paths] + [("--reference", r) for r in options.references]
    outputs = [("--csv", job.csv), ("--html", job.html), ("--db", options.db), ("--log", job.log)]
    check_outputs(outputs, inputs)
    _check_not_in_collection(outputs, inputs)
    if job.action:
        from .actions import parse_action

        parse_action(job.action)  # a bad action is refused before the collection is read
    report = find_duplicates(paths, options, progress=progress)
    if job.csv:
        write_csv(report, job.csv)
    if job.html:
        write_html(report, job.html)
    acted = None
    if job.action:
        acted = apply_action(
            report, job.action, roots=[os.path.abspath(p) for p in paths], dry_run=job.dry_run,
            confirmed=job.confirmed, include_edited=job.include_edited, log_path=job.log, on_step=on_step,
        )  # fmt: skip
    return DupesResult(report, acted)
