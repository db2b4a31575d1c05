"""What an action would do: its steps and report, the action as text, where a move puts a file, and
whether a duplicate may be acted on at all (the safety rules of :mod:`framediff.collection.actions`)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import OptionError
from ...paths import same_file
from ..report import FileInfo, Group, Member, file_digest
from .files import os_reason

__all__ = [
    "ACTIONS",
    "MTIME_SLACK",
    "Recheck",
    "Hook",
    "Step",
    "ActionReport",
    "parse_action",
    "default_log_path",
    "move_target",
    "stat_changed",
    "still_same",
    "may_act",
    "writable_folder",
]

ACTIONS = ("move", "trash", "hardlink", "symlink", "delete")
MTIME_SLACK = 1e-3  # seconds: file systems and JSON round mtimes differently

Recheck = Callable[[str], bool]
Hook = Callable[["Step"], None]


@dataclass
class Step:
    """One file's part of an action (or of an undo).

    Attributes:
        op: ``move``, ``trash``, ``hardlink``, ``symlink``, ``delete`` (or the undone op, for undo).
        path: The duplicate acted on.
        kept: Its group's kept file.
        size: The duplicate's size in bytes (what the action frees; a move frees it from the library).
        target: Where a move puts it; what a link points to.
        status: ``planned`` (dry run), ``done``, ``skipped`` (see ``reason``), ``failed`` (see ``reason``).
        reason: Why it was skipped or failed.
        relation: The member's relation to the kept file.
    """

    op: str
    path: str
    kept: str
    size: int
    target: str | None = None
    status: str = "planned"
    reason: str | None = None
    relation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "op": self.op,
            "path": self.path,
            "kept": self.kept,
            "size": self.size,
            "target": self.target,
            "status": self.status,
            "reason": self.reason,
            "relation": self.relation,
        }


@dataclass
class ActionReport:
    """What :func:`apply_action` did or would do (or what :func:`undo` did).

    Attributes:
        action: ``move``, ``trash``, ``hardlink``, ``symlink``, ``delete`` or ``undo``.
        dry_run: True when nothing was touched (the plan).
        steps: One per duplicate considered, in order.
        log: The log file written (``None`` for a dry run).
    """

    action: str
    dry_run: bool
    steps: list[Step] = field(default_factory=list)
    log: str | None = None

    def _with(self, status: str) -> list[Step]:
        return [s for s in self.steps if s.status == status]

    @property
    def planned(self) -> list[Step]:
        """Steps a dry run would do."""
        return self._with("planned")

    @property
    def done(self) -> list[Step]:
        """Steps done."""
        return self._with("done")

    @property
    def skipped(self) -> list[Step]:
        """Steps left alone on purpose, each with its reason."""
        return self._with("skipped")

    @property
    def failed(self) -> list[Step]:
        """Steps the system refused, each with its reason."""
        return self._with("failed")

    @property
    def bytes(self) -> int:
        """Bytes of the files planned (dry run) or done."""
        return sum(s.size for s in self.steps if s.status in ("planned", "done"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "action": self.action,
            "dry_run": self.dry_run,
            "log": self.log,
            "planned": len(self.planned),
            "done": len(self.done),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "bytes": self.bytes,
            "steps": [s.to_dict() for s in self.steps],
        }


def parse_action(spec: str) -> tuple[str, str | None]:
    """Split an action as the command line gives it: ``move:DIR``, ``trash``, ``hardlink``, ``symlink``,
    ``delete``.

    Args:
        spec: The text.

    Returns:
        ``(name, folder)``: the folder only for ``move``.

    Raises:
        OptionError: for an unknown action, or ``move`` without a folder.
    """
    name, _, arg = spec.partition(":")
    name = name.strip().lower()
    if name not in ACTIONS:
        raise OptionError(
            f"action {spec!r} is not an action", "use move:DIR, trash, hardlink, symlink or delete", "action"
        )
    if name == "move":
        if not arg:
            raise OptionError("action move needs a folder: move:DIR", "e.g. action move:~/duplicates", "action")
        return name, os.path.expanduser(arg)
    if arg:
        raise OptionError(f"action {name} takes no folder (got {spec!r})", f"use action {name}", "action")
    return name, None


def default_log_path(now: float | None = None) -> Path:
    """Where an action's log goes when the caller does not choose: the user's state folder
    (``$XDG_STATE_HOME/framediff``, else ``~/.local/state/framediff``), one file per run.

    Args:
        now: The time to name it by (default: now).

    Returns:
        ``.../dupes-YYYYmmdd-HHMMSS-XXXX.jsonl`` (the folder is not created here).
    """
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return Path(base) / "framediff" / f"dupes-{stamp}-{uuid.uuid4().hex[:4]}.jsonl"


def move_target(
    path: str | os.PathLike, folder: str | os.PathLike, roots: Sequence[str | os.PathLike]
) -> Path:
    """Where ``move:FOLDER`` puts a file: its path under the deepest of ``roots`` that holds it, inside
    ``folder`` (``ROOT/2020/x.jpg`` -> ``FOLDER/2020/x.jpg``); a file given as a root keeps its name; a file
    under no root keeps its whole absolute path inside ``folder``.

    Args:
        path: The file.
        folder: The move's folder.
        roots: The folders and files the duplicates were found under.

    Returns:
        The target path.
    """
    p = os.path.abspath(os.fspath(path))
    best: str | None = None
    for r in roots:
        root = os.path.abspath(os.fspath(r))
        if p == root:
            return Path(folder) / os.path.basename(p)
        if p.startswith(root.rstrip(os.sep) + os.sep) and (best is None or len(root) > len(best)):
            best = root
    if best is not None:
        return Path(folder) / os.path.relpath(p, best)
    drive, rest = os.path.splitdrive(p)
    return Path(folder) / (drive.strip(":\\/") or "") / rest.lstrip("\\/")


def stat_changed(info: FileInfo, st: os.stat_result) -> bool:
    """Whether a file's size or mtime differs from what was fingerprinted."""
    return st.st_size != info.size or abs(st.st_mtime - info.mtime) > MTIME_SLACK


def still_same(info: FileInfo, recheck: Recheck | None) -> tuple[bool, str | None]:
    """Whether a file is still what was fingerprinted: its size and mtime as they were, or, if they
    changed, its content re-checked (``recheck``, else the stored digest).

    Returns:
        ``(ok, digest)``: the digest when it had to be computed (so it is not computed twice).
    """
    try:
        st = os.stat(info.path)
    except OSError:
        return False, None
    if not stat_changed(info, st):
        return True, None
    if recheck is not None:
        return bool(recheck(info.path)), None
    if info.digest is None:
        return False, None
    try:
        d = file_digest(info.path)
    except OSError:
        return False, None
    return d == info.digest, d


def may_act(
    op: str,
    group: Group,
    member: Member,
    kept_paths: set[str],
    include_edited: bool,
    recheck: Recheck | None,
    kept_ok: dict[str, str | None],
) -> tuple[str | None, str | None, str | None]:
    """Whether ``member`` may be acted on.

    Returns:
        ``(reason, digest, kept_digest)``: a reason to skip it (or ``None``), the duplicate's digest and,
        for links, the kept file's.
    """
    f, keep = member.file, group.keep
    path = os.path.abspath(f.path)
    if path in kept_paths:
        return "it is a kept file", None, None
    if same_file(f.path, keep.path):
        return "already the kept file under another name (a link)", None, None
    if f.reference:
        return "in a reference folder", None, None
    if member.edited and not include_edited:
        return f"{member.relation} copy (not acted on unless include_edited)", None, None
    if not os.path.lexists(f.path):
        return "no longer exists", None, None
    if os.path.islink(f.path):
        return "already a symbolic link", None, None
    if keep.path not in kept_ok:
        if not os.path.exists(keep.path):
            kept_ok[keep.path] = "the kept file no longer exists"
        else:
            ok, _ = still_same(keep, recheck)
            kept_ok[keep.path] = None if ok else "the kept file changed since it was fingerprinted"
    if kept_ok[keep.path]:
        return kept_ok[keep.path], None, None
    ok, digest = still_same(f, recheck)
    if not ok:
        return "changed since it was fingerprinted (and does not re-check)", None, None
    try:
        digest = digest or file_digest(f.path)
    except OSError as e:
        return f"cannot read it: {os_reason(e)}", None, None
    if f.digest is not None and digest != f.digest and recheck is None:
        return "its bytes changed since it was fingerprinted", None, None
    kept_digest = None
    if op in ("hardlink", "symlink"):
        try:
            kept_digest = file_digest(keep.path)
        except OSError as e:
            return f"cannot read the kept file: {os_reason(e)}", None, None
        if kept_digest != digest:
            return (
                "not a byte-identical copy: a link would lose its own pixels (move or trash it)",
                None,
                None,
            )
    return None, digest, kept_digest


def writable_folder(path: str) -> str | None:
    """Why the folder of ``path`` cannot be changed (a file in it moved, linked or removed), or ``None``."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"its folder {folder} is not writable"
    return None
