"""``dedup`` over a library: every video under a folder, each trimmed exactly as :func:`dedup_video` trims one.

The clips run side by side in local processes (``jobs``) or on a Dask cluster's workers (``cluster``, see
:mod:`framediff.distribute`); each clip is one task that calls :func:`dedup_video` with the same settings
as the single-file command, so its video, report and plot are the ones that command writes. A clip that
fails is listed with its error and the others go on. Outputs mirror the folder's layout under the output
folder; every output is checked against every input before the first clip starts.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FramediffError, OptionError, OutputError, named
from ..media.images import image_paths, natural_key
from ..options import choice, number
from ..paths import check_outputs, make_folder, partial_files, remove_quietly
from ..workers import usable_cores
from .core import ANALYSIS_SIZE, Deduplicator
from .video import DedupInterrupted, DedupResult, dedup_video

__all__ = [
    "VIDEO_EXTENSIONS", "ClipJob", "ClipResult", "LibraryResult", "dedup_clip", "dedup_library", "is_video_library",
    "video_files",
]  # fmt: skip

# The containers a library's videos come in (a folder holding pictures is a folder of frames instead).
VIDEO_EXTENSIONS = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".wmv", ".flv",
    ".ogv", ".3gp",
}  # fmt: skip


def video_files(folder: str | os.PathLike, skip: tuple[str | os.PathLike, ...] = ()) -> list[Path]:
    """The video files under ``folder`` (recursively, hidden files and folders skipped), in natural order.

    Args:
        folder: The library.
        skip: Folders not to walk into (the output folders, when they lie inside the library).

    Returns:
        The files, by path.
    """
    skipped = {os.path.realpath(s) for s in skip}
    found: list[Path] = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(
            (d for d in dirs if not d.startswith(".") and os.path.realpath(os.path.join(here, d)) not in skipped),
            key=natural_key,
        )  # fmt: skip
        for name in sorted(files, key=natural_key):
            if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                found.append(Path(here) / name)
    return found


def is_video_library(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder of videos: a folder with no picture at its top (a folder of pictures is
    the frames of one video) and at least one video under it."""
    p = Path(os.fspath(path))
    if not p.is_dir() or image_paths(p):
        return False
    return bool(video_files(p))


@dataclass
class ClipJob:
    """One clip's task: where it is read and written, and the settings (those of :func:`dedup_video`)."""

    input: str
    output: str | None
    report: str | None
    plot: str | None
    settings: dict[str, Any]
    labels: dict[str, str] | None = None


@dataclass
class ClipResult:
    """What became of one clip.

    Attributes:
        input: The clip.
        output: Its trimmed video (``None`` for a dry run).
        report: Its CSV report, when asked for.
        plot: Its plot, when asked for.
        result: :func:`dedup_video`'s result; ``None`` when the clip failed.
        error: Why it failed (one line), else ``None``.
    """

    input: str
    output: str | None = None
    report: str | None = None
    plot: str | None = None
    result: DedupResult | None = None
    error: str | None = None


@dataclass
class LibraryResult:
    """What :func:`dedup_library` did: every clip, in the library's order, and the wall time."""

    clips: list[ClipResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[ClipResult]:
        """The clips that failed."""
        return [c for c in self.clips if c.error is not None]

    def summary(self) -> str:
        """One line: clips done and failed, frames kept, the time."""
        done = [c.result for c in self.clips if c.result is not None]
        frames, kept = sum(r.frames for r in done), sum(r.kept for r in done)
        return (
            f"{len(self.clips)} clips: {len(done)} done, {len(self.failed)} failed; kept {kept} of {frames} frames "
            f"({self.seconds:.1f} s)"
        )


def dedup_clip(job: ClipJob) -> ClipResult:
    """Trim one clip as :func:`dedup_video` does (a task that runs in any process that sees the files).

    Args:
        job: The clip and its settings.

    Returns:
        The :class:`ClipResult`; a clip that fails gives its error, it does not raise.
    """
    out = ClipResult(job.input, job.output, job.report, job.plot)
    try:
        for target in (job.output, job.report, job.plot):
            if target is not None:
                make_folder(Path(target).parent)
        out.result = dedup_video(
            job.input, job.output, report=job.report, plot=job.plot, dry_run=job.output is None, labels=job.labels,
            **job.settings,
        )  # fmt: skip
    except DedupInterrupted as e:
        out.result, out.error = e.result, "interrupted"
    except FramediffError as e:
        out.error = str(e)
    except Exception as e:  # noqa: BLE001 - a decoder's bug on one clip must not stop a library
        out.error = f"{type(e).__name__}: {e}"
    return out


def _under(root: str, path: str | os.PathLike | None) -> bool:
    if path is None:
        return False
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def dedup_library(
    folder: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    report: str | os.PathLike | None = None,
    plot: str | os.PathLike | None = None,
    dry_run: bool = False,
    jobs: int = 0,
    cluster: Any = None,
    threshold: float | None = None,
    max_drop: int | None = None,
    timing: str = "keep",
    codec: str | None = None,
    crf: float | None = 18,
    analysis_size: int = ANALYSIS_SIZE,
    on_clip: Callable[[ClipResult], None] | None = None,
    labels: Mapping[str, str] | None = None,
) -> LibraryResult:
    """Drop the duplicate frames of every video under ``folder``, each written as :func:`dedup_video` writes it.

    Args:
        folder: The library: videos in it and its sub-folders.
        output: The folder the trimmed videos go to, under the same relative paths and names (made when
            missing). Not needed with ``dry_run``.
        report: A folder for each clip's CSV report, named after the clip with ``.csv`` added
            (``talk.mp4.csv``); it may be ``output`` itself.
        plot: A folder for each clip's plot, ``.png`` added likewise.
        dry_run: Analyse and report only; write no video.
        jobs: Clips trimmed at once in local processes (0: one per usable core; 1: one after another
            here); ignored with ``cluster``.
        cluster: Trim on a Dask cluster's workers instead (``tcp://HOST:PORT``, ``local:N``, or a connected
            :class:`~framediff.distribute.Cluster`); the library and the output folders must lie on
            storage the workers see under the same paths.
        threshold: As :func:`dedup_video`.
        max_drop: As :func:`dedup_video`.
        timing: As :func:`dedup_video`.
        codec: As :func:`dedup_video`.
        crf: As :func:`dedup_video`.
        analysis_size: As :func:`dedup_video`.
        on_clip: Called with each clip's :class:`ClipResult` as it finishes.
        labels: What the caller calls the settings in messages (see :func:`dedup_video`).

    Returns:
        A :class:`LibraryResult`; a clip that fails is listed there, it does not stop the others.

    Raises:
        InputError: when ``folder`` holds no video.
        OptionError: when a setting is out of range, or no output is given without ``dry_run``.
        OutputError: when an output would overwrite an input or another output, or ``output`` is a file
            (all checked before the first clip starts).
        ClusterError: when the cluster cannot be used.
    """
    from ..distribute import process_pool, work_pool
    from ..errors import InputError

    t0 = time.perf_counter()
    settings: dict[str, Any] = {
        "threshold": threshold, "max_drop": max_drop, "timing": choice("timing", timing, ("keep", "compact")),
        "codec": codec, "crf": number("crf", crf, lo=0, hi=63, allow_none=True), "analysis_size": analysis_size,
    }  # fmt: skip
    Deduplicator(threshold=threshold, max_drop=max_drop, analysis_size=analysis_size)  # a bad setting, once, now
    if int(jobs) < 0:
        raise OptionError(f"jobs {jobs} is negative", "use 0 (every core) or a positive number")
    root = os.path.abspath(folder)
    if output is None and not dry_run:
        raise OptionError("no output given", f"give {named('output', labels)}, or {named('dry_run', labels)} to analyse only")
    out_dir = None if dry_run or output is None else os.path.abspath(output)
    for target, setting in ((out_dir, "output"), (report, "report"), (plot, "plot")):
        if target is not None and os.path.exists(target) and not os.path.isdir(target):
            raise OutputError(
                f"{named(setting, labels)} {target} is a file", "give a folder: the library's clips each get their own"
            )
    if out_dir is not None and Path(out_dir).suffix.lower() in VIDEO_EXTENSIONS:
        raise OutputError(
            "a folder of videos gives a folder of videos", f"give a folder name as {named('output', labels)}"
        )
    # Trimmed videos written into the library (an earlier run's) are not part of it.
    clips = video_files(root, skip=(out_dir,) if out_dir is not None and _under(root, out_dir) else ())
    if not clips:
        raise InputError(f"no video in {folder}", f"give a folder of videos ({', '.join(sorted(VIDEO_EXTENSIONS))})")
    jobs_list = []
    for clip in clips:
        rel = os.path.relpath(clip, root)
        jobs_list.append(ClipJob(
            str(clip), os.path.join(out_dir, rel) if out_dir else None,
            os.path.join(os.path.abspath(report), rel + ".csv") if report is not None else None,
            os.path.join(os.path.abspath(plot), rel + ".png") if plot is not None else None,
            settings, dict(labels) if labels else None,
        ))  # fmt: skip
    inputs = [("INPUT", j.input) for j in jobs_list]
    outputs = [
        (named(s, labels), p) for j in jobs_list for s, p in (("output", j.output), ("report", j.report), ("plot", j.plot))
    ]  # fmt: skip
    check_outputs(outputs, inputs)

    result = LibraryResult()
    by_input: dict[str, ClipResult] = {}

    def finished(r: ClipResult) -> None:
        by_input[r.input] = r
        if on_clip is not None:
            on_clip(r)

    parallel = int(jobs) or usable_cores()
    if cluster is None and (parallel == 1 or len(jobs_list) == 1):
        for j in jobs_list:  # one after another, here: no process to start
            finished(dedup_clip(j))
    else:
        with work_pool(cluster, parallel) as (executor, width):
            pool = executor if executor is not None else process_pool(min(width, len(jobs_list)))
            try:
                _run_all(pool, jobs_list, width, finished)
            finally:
                if executor is None:
                    pool.shutdown(wait=True, cancel_futures=True)
    # A worker killed mid-clip (its clip was redone elsewhere) leaves its temporary file behind.
    for j in jobs_list:
        for target in (j.output, j.report, j.plot):
            if target is not None and j.input in by_input and Path(target).parent.is_dir():
                for leftover in partial_files(Path(target)):
                    remove_quietly(leftover)
    result.clips = [by_input[j.input] for j in jobs_list if j.input in by_input]
    result.seconds = time.perf_counter() - t0
    return result


def _run_all(pool: cf.Executor, jobs: list[ClipJob], width: int, finished: Callable[[ClipResult], None]) -> None:
    """Hand the clips to ``pool``, a few more than run at once (so none waits for a hand-off), and collect
    each result as it comes."""
    queue = iter(jobs)
    pending: dict[cf.Future, ClipJob] = {}

    def top_up() -> None:
        for j in queue:
            pending[pool.submit(dedup_clip, j)] = j
            if len(pending) >= 2 * width:
                return

    top_up()
    try:
        while pending:
            done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            for f in done:
                j = pending.pop(f)
                try:
                    finished(f.result())
                except FramediffError as e:  # the cluster gave up on it (its workers died)
                    finished(ClipResult(j.input, j.output, j.report, j.plot, error=str(e)))
                except BrokenProcessPool as e:
                    finished(ClipResult(j.input, j.output, j.report, j.plot, error=f"its process died ({e})"))
            top_up()
    except BaseException:
        for f in pending:
            f.cancel()
        raise
