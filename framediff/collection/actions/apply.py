"""Acting on a report's duplicates: :func:`apply_action` (the plan, or the plan done, logged step by step)."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import OptionError, OutputError
from ..report import DuplicateReport, Group, Member
from .files import find_in_trash, fsync_dir, held_sigint, import_send2trash, link_over, move_file, os_reason
from .log import LOG_VERSION, ActionLog, now
from .plan import (
    ActionReport,
    Hook,
    Recheck,
    Step,
    default_log_path,
    may_act,
    move_target,
    parse_action,
    writable_folder,
)

__all__ = ["apply_action"]


def apply_action(
    report: DuplicateReport,
    action: str,
    *,
    roots: Sequence[str | os.PathLike] = (),
    dry_run: bool = True,
    confirmed: bool = False,
    include_edited: bool = False,
    log_path: str | os.PathLike | None = None,
    recheck: Recheck | None = None,
    on_step: Hook | None = None,
) -> ActionReport:
    """Apply an action to every duplicate of ``report`` that may be acted on.

    Args:
        report: The duplicate groups.
        action: ``move:DIR``, ``trash``, ``hardlink``, ``symlink`` or ``delete`` (see :func:`parse_action`).
        roots: The folders (and files) the duplicates were found under: ``move`` keeps each file's path
            relative to its root.
        dry_run: When True (the default) nothing is touched and the plan is returned.
        confirmed: ``delete`` is refused unless True (the command line's ``--yes``).
        include_edited: Also act on ``edited`` and ``similar`` members.
        log_path: The JSON-lines log to write (a new file); default :func:`default_log_path`.
        recheck: ``recheck(path) -> bool``: whether a file whose size or mtime changed since it was
            fingerprinted is still the same picture; default: its bytes against :attr:`FileInfo.digest`
            (a file without a digest is then skipped).
        on_step: Called after each file with its :class:`Step` (progress); it may raise
            :class:`KeyboardInterrupt` to stop between files.

    Returns:
        Every step with its status; ``log`` names the log file.

    Raises:
        OptionError: an unknown action, or ``delete`` not confirmed.
        OutputError: the log cannot be written (nothing more is done once it cannot).
        KeyboardInterrupt: on Ctrl-C, once the file in hand is finished and the log closed.
    """
    op, folder = parse_action(action)
    if op == "delete" and not dry_run and not confirmed:
        raise OptionError(
            "delete needs confirmation", "set confirmed=True, or move or trash the copies"
        )
    if op == "trash" and not dry_run:
        import_send2trash()
    planner = _Planner(op, folder, roots, report, include_edited, recheck)
    out = ActionReport(action=op, dry_run=dry_run)
    log = None if dry_run else _begin_log(log_path, op, folder, roots)
    out.log = str(log.path) if log is not None else None
    seq = 0
    interrupted = False
    try:
        with held_sigint() as check:
            for group in report.groups:
                for member in group.duplicates:
                    check()
                    step, digest, kept_digest = planner.step(group, member)
                    if step.status == "planned" and log is not None:
                        seq += 1
                        _act(log, seq, step, member, digest, kept_digest)
                    out.steps.append(step)
                    if on_step is not None:
                        on_step(step)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if log is not None:
            _end_log(log, out, interrupted)
    return out


class _Planner:
    """Each duplicate's step: its target, and whether it may be acted on (the rules of :func:`may_act`,
    and, for moves, a target that is free, also of the moves planned before it in this run)."""

    def __init__(
        self,
        op: str,
        folder: str | None,
        roots: Sequence[str | os.PathLike],
        report: DuplicateReport,
        include_edited: bool,
        recheck: Recheck | None,
    ) -> None:
        self.op, self.folder, self.roots = op, folder, roots
        self.include_edited, self.recheck = include_edited, recheck
        self.kept_paths = {os.path.abspath(g.keep.path) for g in report.groups}
        self.kept_ok: dict[str, str | None] = {}  # each kept file's check, made once
        self.targets: set[str] = set()  # move targets taken in this run (a dry run creates none to see)

    def step(self, group: Group, member: Member) -> tuple[Step, str | None, str | None]:
        """``(step, digest, kept digest)``: the step ``planned``, ``skipped`` or ``failed`` (with why)."""
        op = self.op
        step = Step(op, member.file.path, group.keep.path, member.file.size, relation=member.relation)
        if op == "move":
            step.target = str(move_target(member.file.path, self.folder or ".", self.roots))
        elif op in ("hardlink", "symlink"):
            step.target = os.path.abspath(group.keep.path)
        reason, digest, kept_digest = may_act(
            op, group, member, self.kept_paths, self.include_edited, self.recheck, self.kept_ok
        )
        if reason is None and op == "move" and step.target is not None:
            if os.path.lexists(step.target) or os.path.abspath(step.target) in self.targets:
                reason = f"target {step.target} exists"
            elif os.path.abspath(step.target) in self.kept_paths:
                reason = "the target is a kept file"
        if reason is not None:
            step.status, step.reason = "skipped", reason
        elif (refused := writable_folder(member.file.path)) is not None:
            # Not a choice but a problem the user can fix: reported as a failure.
            step.status, step.reason = "failed", refused
        elif step.target is not None and op == "move":
            self.targets.add(os.path.abspath(step.target))
        return step, digest, kept_digest


def _begin_log(
    log_path: str | os.PathLike | None, op: str, folder: str | None, roots: Sequence[str | os.PathLike]
) -> ActionLog:
    """Create the run's log (a new file) and write its ``begin`` line."""
    lp = Path(log_path) if log_path is not None else default_log_path()
    try:
        lp.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(
            f"cannot write the action log {lp}: {e.strerror or e}", "choose another log file"
        ) from None
    log = ActionLog(lp, "x")
    log.write(
        {
            "type": "begin",
            "version": LOG_VERSION,
            "action": op,
            "folder": os.path.abspath(folder) if folder else None,
            "folder_existed": bool(folder) and os.path.isdir(folder),
            "roots": [os.path.abspath(os.fspath(r)) for r in roots],
            "time": now(),
            "pid": os.getpid(),
        }
    )
    return log


def _end_log(log: ActionLog, out: ActionReport, interrupted: bool) -> None:
    """Write the ``end`` line (if the log still can be written) and close the log."""
    with contextlib.suppress(OutputError):
        log.write(
            {
                "type": "end",
                "time": now(),
                "done": len(out.done),
                "failed": len(out.failed),
                "skipped": len(out.skipped),
                "interrupted": interrupted,
            }
        )
    log.close()


def _act(
    log: ActionLog, seq: int, step: Step, member: Member, digest: str | None, kept_digest: str | None
) -> None:
    """Do one step: the intent line first (fsynced), then the action, then its outcome line."""
    path = member.file.path
    try:
        st = os.stat(path)
    except OSError as e:  # gone or unreadable since it was checked: nothing was done, nothing to log
        step.status, step.reason = "failed", os_reason(e)
        return
    log.write(
        {
            "type": "intent",
            "seq": seq,
            "op": step.op,
            "path": os.path.abspath(path),
            "target": step.target,
            "kept": os.path.abspath(step.kept),
            "size": st.st_size,
            "digest": digest,
            "kept_digest": kept_digest,
            "mtime": st.st_mtime,
            "mode": stat.S_IMODE(st.st_mode),
            "relation": member.relation,
            "time": now(),
        }
    )
    extra: dict[str, Any] = {}
    try:
        if step.op == "move":
            assert step.target is not None
            os.makedirs(os.path.dirname(step.target), exist_ok=True)
            move_file(path, step.target)
        elif step.op == "trash":
            import_send2trash()(path)
            found = find_in_trash(path, digest)
            if found is not None:
                extra = {"trash_file": str(found[0]), "trash_info": str(found[1])}
        elif step.op in ("hardlink", "symlink"):
            link_over(step.kept, path, step.op)
        elif step.op == "delete":
            os.unlink(path)
            fsync_dir(os.path.dirname(os.path.abspath(path)))
    except OSError as e:
        step.status, step.reason = "failed", os_reason(e)
        log.write({"type": "failed", "seq": seq, "error": step.reason, "time": now()})
        return
    step.status = "done"
    log.write({"type": "done", "seq": seq, "time": now(), **extra})
