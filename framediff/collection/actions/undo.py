"""Putting back what an action did, as its log says: :func:`undo`."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from ...paths import same_file
from ..report import file_digest
from .files import copy_bytes, find_in_trash, fsync_dir, held_sigint, move_file, os_reason, tmp_beside
from .log import ActionLog, now, read_log
from .plan import ActionReport, Hook, Step

__all__ = ["undo"]


def undo(log_path: str | os.PathLike, *, on_step: Hook | None = None) -> ActionReport:
    """Put back what an action did, newest first, as its log says; each undone file is appended to the
    log (so a second undo, or one after an interrupted undo, does only what is left).

    A file is put back only when it is exactly what the action left: a moved or trashed file with the
    logged digest, a link still pointing to the kept file whose bytes still have the logged digest. Links
    become copies of the kept bytes again, with the duplicate's own mode and mtime.

    Args:
        log_path: The log :func:`apply_action` wrote.
        on_step: Called after each file with its :class:`Step`; may raise :class:`KeyboardInterrupt`.

    Returns:
        One step per logged action: ``done`` (put back), ``skipped`` (nothing to undo: it had failed, was
        undone already, or was never done) or ``failed`` (with the reason: e.g. deleted files, or a trash
        that cannot be searched on this system).

    Raises:
        OptionError: the log cannot be read.
        OutputError: the log cannot be appended to.
    """
    begin, intents = read_log(log_path)
    out = ActionReport(action="undo", dry_run=False, log=os.fspath(log_path))
    log = ActionLog(Path(log_path), "a")
    try:
        with held_sigint() as check:
            for rec in reversed(intents):
                check()
                step = Step(
                    rec["op"],
                    rec["path"],
                    rec["kept"],
                    rec["size"],
                    target=rec.get("target"),
                    relation=rec.get("relation"),
                )
                if rec["undone"]:
                    step.status, step.reason = "skipped", "undone already"
                elif rec["outcome"] == "failed":
                    step.status, step.reason = "skipped", "the action had failed: nothing to undo"
                else:
                    try:
                        reason = _undo_one(rec, begin.get("folder"), bool(begin.get("folder_existed", True)))
                    except OSError as e:
                        reason = os_reason(e)
                    if reason is None:
                        step.status = "done"
                        log.write({"type": "undone", "seq": rec["seq"], "time": now()})
                    elif reason.startswith("-"):
                        step.status, step.reason = "skipped", reason[1:]
                    else:
                        step.status, step.reason = "failed", reason
                out.steps.append(step)
                if on_step is not None:
                    on_step(step)
    finally:
        log.close()
    return out


def _digest_or_none(path: str) -> str | None:
    try:
        return file_digest(path)
    except OSError:
        return None


def _undo_one(rec: dict[str, Any], folder: str | None, folder_existed: bool) -> str | None:
    """Undo one logged action. Returns ``None`` when put back, a reason when it failed, or a reason
    starting with ``-`` when there was nothing to undo (an intent whose action never happened)."""
    op, path, digest = rec["op"], rec["path"], rec.get("digest")
    maybe = rec["outcome"] is None  # stopped between the intent and its outcome: look at the files
    if op == "delete":
        if maybe and os.path.lexists(path):
            return "-it was never deleted"
        return "deleted: cannot be undone"
    if op == "move":
        target = rec["target"]
        if os.path.lexists(path):
            if (
                os.path.lexists(target)
                and _digest_or_none(target) == digest
                and _digest_or_none(path) == digest
            ):
                os.unlink(target)  # a cross-device move stopped between its copy and removing the original
                return None
            return "-it was never moved" if maybe else f"{path} exists again: {target} left where it is"
        if not os.path.lexists(target):
            return f"{target} is gone"
        if _digest_or_none(target) != digest:
            return f"{target} changed since it was moved: left where it is"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        move_file(target, path)
        _remove_empty_parents(os.path.dirname(target), folder, folder_existed)
        return None
    if op == "trash":
        if os.path.lexists(path):
            return "-it was never trashed" if maybe else f"{path} exists again: left in the trash"
        found = None
        if (
            rec.get("trash_file")
            and os.path.isfile(rec["trash_file"])
            and _digest_or_none(rec["trash_file"]) == digest
        ):
            found = (Path(rec["trash_file"]), Path(rec.get("trash_info") or ""))
        else:
            found = find_in_trash(path, digest)
        if found is None:
            return "not found in a freedesktop.org trash: restore it from the desktop's trash"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        move_file(str(found[0]), path)
        if found[1].name.endswith(".trashinfo"):
            with contextlib.suppress(OSError):
                os.unlink(found[1])
        return None
    if op in ("hardlink", "symlink"):
        kept = rec["kept"]
        linked = (
            os.path.islink(path) and os.readlink(path) == kept
            if op == "symlink"
            else os.path.lexists(path) and not os.path.islink(path) and same_file(path, kept)
        )
        if not linked:
            if maybe:
                return "-it was never linked"
            return f"{path} is no longer a link to {kept}: left as it is"
        if _digest_or_none(kept) != digest:
            return f"the kept file {kept} changed since: the copy's bytes are gone"
        tmp = tmp_beside(path)
        try:
            copy_bytes(kept, tmp)
            os.chmod(tmp, rec.get("mode", 0o644))
            os.utime(tmp, (rec["mtime"], rec["mtime"]))
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        fsync_dir(os.path.dirname(path))
        return None
    return f"unknown action {op!r} in the log"


def _remove_empty_parents(folder: str, stop: str | None, keep_stop: bool) -> None:
    """Remove the folders a move created once undo has emptied them, up to the move's folder (that one
    too when the move created it)."""
    if not stop:
        return
    stop = os.path.abspath(stop)
    d = os.path.abspath(folder)
    while d.startswith(stop.rstrip(os.sep) + os.sep) or (d == stop and not keep_stop):
        try:
            os.rmdir(d)
        except OSError:
            return
        d = os.path.dirname(d)
