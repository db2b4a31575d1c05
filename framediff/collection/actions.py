"""Act on a :class:`DuplicateReport`'s duplicates (move, trash, hardlink, symlink, delete), safely, with a
JSON-lines log that :func:`undo` reads to put the files back.

Safe by default:

- :func:`apply_action` is a dry run unless ``dry_run=False``: it returns the plan (each file, what would
  be done, the bytes) and touches nothing. ``delete`` also needs ``confirmed=True``.
- Never acted on: a group's kept file (nor any file that is kept in another group), files in reference
  folders, ``edited``/``similar`` members (unless ``include_edited``), a duplicate whose kept file is gone
  or changed since it was fingerprinted, a duplicate that changed since and does not re-check.
- ``hardlink`` and ``symlink`` replace only byte-identical copies (checked on the bytes, at the time):
  a link to the kept file in place of a resized, re-encoded or cropped copy would lose that copy's own
  pixels, so those are skipped with the reason (``move`` or ``trash`` them instead).
- Every action is written to the log (flushed and fsynced) before it is done, and confirmed by a line
  after it; each is one rename where the OS allows, and Ctrl-C (SIGINT) is held until the file in hand
  is finished, so an interrupted run leaves no half-done file and a log that says exactly what was done.
- A file that cannot be acted on (permission denied, read-only disk) is reported in its step and the run
  goes on with the others.

Undo (:func:`undo`): moves go back; links are replaced by a copy of the kept file's bytes (identical, as
checked by the digest in the log), with the duplicate's own mode and mtime; trashed files are taken back
from a freedesktop.org trash (Linux desktops: the home trash or a volume's ``.Trash-UID``) when found
there with the logged digest, and on other systems must be restored from the desktop's trash by hand;
deleted files cannot come back.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import stat
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote

from ..errors import OptionError, OutputError
from ..paths import same_file
from .report import DuplicateReport, FileInfo, Group, Member, file_digest

__all__ = [
    "ACTIONS",
    "LOG_VERSION",
    "Step",
    "ActionReport",
    "parse_action",
    "apply_action",
    "undo",
    "move_target",
    "default_log_path",
    "find_in_trash",
    "read_log",
]

ACTIONS = ("move", "trash", "hardlink", "symlink", "delete")
LOG_VERSION = 1
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


# -- the log ------------------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class _Log:
    """An append-only JSON-lines file; every line is flushed and fsynced before :meth:`write` returns."""

    def __init__(self, path: Path, mode: str) -> None:
        self.path = path
        try:
            self.f: IO[str] = open(path, mode, encoding="utf-8")  # noqa: SIM115 - closed by close()
        except FileExistsError:
            raise OutputError(f"action log {path} exists already", "give a new log file name") from None
        except OSError as e:
            raise OutputError(
                f"cannot write the action log {path}: {e.strerror or e}", "choose another log file"
            ) from None

    def write(self, record: dict[str, Any]) -> None:
        try:
            self.f.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.f.flush()
            os.fsync(self.f.fileno())
        except OSError as e:
            # Nothing may be done that the log does not hold: stop the whole run.
            raise OutputError(
                f"cannot write the action log {self.path}: {e.strerror or e}", "free some space"
            ) from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.f.close()


def _fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows has no directory handles to sync)."""
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _held_sigint() -> Iterator[Callable[[], None]]:
    """Hold Ctrl-C while a file is being acted on: the handler only notes it, and the returned ``check``
    raises :class:`KeyboardInterrupt` between files. Outside the main thread signals cannot be caught,
    and nothing is held."""
    pending: list[bool] = []

    def note(signum: int, frame: Any) -> None:
        pending.append(True)

    def check() -> None:
        if pending:
            pending.clear()
            raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGINT, note)
    except ValueError:  # not the main thread
        yield lambda: None
        return
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, old)
    check()


# -- file operations, each atomic where the OS allows ----------------------------------------------------------


def _tmp_beside(path: str | os.PathLike) -> str:
    p = Path(path)
    return str(p.with_name(f".{p.name}.framediff-{os.getpid()}-{uuid.uuid4().hex[:8]}"))


def _copy_into(src: str, dst: str) -> None:
    """Copy ``src`` to ``dst`` (which must not exist) under a temporary name in ``dst``'s folder, fsynced,
    then renamed: ``dst`` is whole or absent, never half-written."""
    tmp = _tmp_beside(dst)
    try:
        with open(src, "rb") as fi, open(tmp, "xb") as fo:
            shutil.copyfileobj(fi, fo, 1 << 20)
            fo.flush()
            os.fsync(fo.fileno())
        shutil.copystat(src, tmp)
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "target exists", dst)
        os.rename(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(os.path.dirname(dst) or ".")


def _move_file(src: str, dst: str) -> None:
    """Move one file without overwriting: a rename on one device; across devices a copy (fsynced, renamed
    into place), then the original removed; if the original cannot be removed the copy is taken back."""
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "target exists", dst)
    try:
        os.rename(src, dst)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        _copy_into(src, dst)
        try:
            os.unlink(src)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(dst)
            raise
        _fsync_dir(os.path.dirname(src) or ".")
    _fsync_dir(os.path.dirname(dst) or ".")


def _link_over(kept: str, path: str, op: str) -> None:
    """Replace ``path`` by a hard or symbolic link to ``kept``: made under a temporary name in the same
    folder, then renamed over ``path`` in one step."""
    tmp = _tmp_beside(path)
    if op == "hardlink":
        os.link(kept, tmp)
    else:
        os.symlink(os.path.abspath(kept), tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(os.path.dirname(path) or ".")


def _os_reason(e: OSError) -> str:
    return e.strerror or str(e)


# -- the trash (freedesktop.org spec) ---------------------------------------------------------------------


def _trash_dirs(path: str) -> list[Path]:
    """The freedesktop.org trash folders a file at ``path`` may have gone to: the home trash and its
    volume's ``.Trash/UID`` and ``.Trash-UID``."""
    home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    dirs = [Path(home) / "Trash"]
    if hasattr(os, "getuid"):
        top = os.path.realpath(os.path.dirname(os.path.abspath(path)) or ".")
        while not os.path.ismount(top) and os.path.dirname(top) != top:
            top = os.path.dirname(top)
        uid = str(os.getuid())
        dirs += [Path(top) / ".Trash" / uid, Path(top) / f".Trash-{uid}"]
    return dirs


def find_in_trash(path: str | os.PathLike, digest: str | None = None) -> tuple[Path, Path] | None:
    """Find a trashed file in a freedesktop.org trash (Linux desktops; what ``send2trash`` and GIO write).

    Args:
        path: Where the file was before it was trashed.
        digest: Its :func:`file_digest`, to pick the right one among several trashed under that name.

    Returns:
        ``(file in the trash, its .trashinfo)`` (the newest match), or ``None``.
    """
    want = os.path.abspath(os.fspath(path))
    found: list[tuple[str, Path, Path]] = []
    for trash in _trash_dirs(want):
        info_dir = trash / "info"
        if not info_dir.is_dir():
            continue
        top = trash.parent if trash.name.startswith(".Trash-") else trash.parent.parent
        for info in info_dir.glob("*.trashinfo"):
            try:
                lines = info.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            fields = dict(line.split("=", 1) for line in lines if "=" in line)
            where = unquote(fields.get("Path", ""))
            if not os.path.isabs(where):  # a volume's trash stores paths relative to the volume
                where = os.path.join(str(top), where)
            if os.path.abspath(where) != want:
                continue
            f = trash / "files" / info.name[: -len(".trashinfo")]
            if not f.is_file():
                continue
            if digest is not None:
                try:
                    if file_digest(f) != digest:
                        continue
                except OSError:
                    continue
            found.append((fields.get("DeletionDate", ""), f, info))
    if not found:
        return None
    _, f, info = max(found, key=lambda x: x[0])
    return f, info


# -- deciding --------------------------------------------------------------------------------------------


def _stat_changed(info: FileInfo, st: os.stat_result) -> bool:
    return st.st_size != info.size or abs(st.st_mtime - info.mtime) > MTIME_SLACK


def _still_same(info: FileInfo, recheck: Recheck | None) -> tuple[bool, str | None]:
    """Whether a file is still what was fingerprinted: its size and mtime as they were, or, if they
    changed, its content re-checked (``recheck``, else the stored digest).

    Returns:
        ``(ok, digest)``: the digest when it had to be computed (so it is not computed twice).
    """
    try:
        st = os.stat(info.path)
    except OSError:
        return False, None
    if not _stat_changed(info, st):
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


def _decide(
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
            ok, _ = _still_same(keep, recheck)
            kept_ok[keep.path] = None if ok else "the kept file changed since it was fingerprinted"
    if kept_ok[keep.path]:
        return kept_ok[keep.path], None, None
    ok, digest = _still_same(f, recheck)
    if not ok:
        return "changed since it was fingerprinted (and does not re-check)", None, None
    try:
        digest = digest or file_digest(f.path)
    except OSError as e:
        return f"cannot read it: {_os_reason(e)}", None, None
    if f.digest is not None and digest != f.digest and recheck is None:
        return "its bytes changed since it was fingerprinted", None, None
    kept_digest = None
    if op in ("hardlink", "symlink"):
        try:
            kept_digest = file_digest(keep.path)
        except OSError as e:
            return f"cannot read the kept file: {_os_reason(e)}", None, None
        if kept_digest != digest:
            return (
                "not a byte-identical copy: a link would lose its own pixels (move or trash it)",
                None,
                None,
            )
    return None, digest, kept_digest


def _writable_folder(path: str) -> str | None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"its folder {folder} is not writable"
    return None


# -- acting ------------------------------------------------------------------------------------------------


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
            "delete needs confirmation", "pass --yes (confirmed=True), or move or trash the copies"
        )
    if op == "trash" and not dry_run:
        _import_send2trash()
    kept_paths = {os.path.abspath(g.keep.path) for g in report.groups}
    kept_ok: dict[str, str | None] = {}
    out = ActionReport(action=op, dry_run=dry_run)
    log: _Log | None = None
    if not dry_run:
        lp = Path(log_path) if log_path is not None else default_log_path()
        try:
            lp.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(
                f"cannot write the action log {lp}: {e.strerror or e}", "choose another log file"
            ) from None
        log = _Log(lp, "x")
        out.log = str(lp)
        log.write(
            {
                "type": "begin",
                "version": LOG_VERSION,
                "action": op,
                "folder": os.path.abspath(folder) if folder else None,
                "folder_existed": bool(folder) and os.path.isdir(folder),
                "roots": [os.path.abspath(os.fspath(r)) for r in roots],
                "time": _now(),
                "pid": os.getpid(),
            }
        )
    seq = 0
    targets: set[str] = set()  # move targets taken in this run (a dry run creates none to see)
    interrupted = False
    try:
        with _held_sigint() as check:
            for group in report.groups:
                for member in group.duplicates:
                    check()
                    step = Step(
                        op, member.file.path, group.keep.path, member.file.size, relation=member.relation
                    )
                    if op == "move":
                        step.target = str(move_target(member.file.path, folder or ".", roots))
                    elif op in ("hardlink", "symlink"):
                        step.target = os.path.abspath(group.keep.path)
                    reason, digest, kept_digest = _decide(
                        op, group, member, kept_paths, include_edited, recheck, kept_ok
                    )
                    if reason is None and op == "move" and step.target is not None:
                        if os.path.lexists(step.target) or os.path.abspath(step.target) in targets:
                            reason = f"target {step.target} exists"
                        elif os.path.abspath(step.target) in kept_paths:
                            reason = "the target is a kept file"
                    if reason is not None:
                        step.status, step.reason = "skipped", reason
                    elif (refused := _writable_folder(member.file.path)) is not None:
                        # Not a choice but a problem the user can fix: reported as a failure.
                        step.status, step.reason, reason = "failed", refused, refused
                    elif step.target is not None and op == "move":
                        targets.add(os.path.abspath(step.target))
                    if reason is None and log is not None:
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
            with contextlib.suppress(OutputError):
                log.write(
                    {
                        "type": "end",
                        "time": _now(),
                        "done": len(out.done),
                        "failed": len(out.failed),
                        "skipped": len(out.skipped),
                        "interrupted": interrupted,
                    }
                )
            log.close()
    return out


def _import_send2trash() -> Callable[[str], None]:
    try:
        from send2trash import send2trash
    except ImportError:
        raise OptionError("the trash action needs send2trash", "pip install send2trash") from None
    return send2trash


def _act(
    log: _Log, seq: int, step: Step, member: Member, digest: str | None, kept_digest: str | None
) -> None:
    """Do one step: the intent line first (fsynced), then the action, then its outcome line."""
    path = member.file.path
    try:
        st = os.stat(path)
    except OSError as e:  # gone or unreadable since it was checked: nothing was done, nothing to log
        step.status, step.reason = "failed", _os_reason(e)
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
            "time": _now(),
        }
    )
    extra: dict[str, Any] = {}
    try:
        if step.op == "move":
            assert step.target is not None
            os.makedirs(os.path.dirname(step.target), exist_ok=True)
            _move_file(path, step.target)
        elif step.op == "trash":
            _import_send2trash()(path)
            found = find_in_trash(path, digest)
            if found is not None:
                extra = {"trash_file": str(found[0]), "trash_info": str(found[1])}
        elif step.op in ("hardlink", "symlink"):
            _link_over(step.kept, path, step.op)
        elif step.op == "delete":
            os.unlink(path)
            _fsync_dir(os.path.dirname(os.path.abspath(path)))
    except OSError as e:
        step.status, step.reason = "failed", _os_reason(e)
        log.write({"type": "failed", "seq": seq, "error": step.reason, "time": _now()})
        return
    step.status = "done"
    log.write({"type": "done", "seq": seq, "time": _now(), **extra})


# -- undo ----------------------------------------------------------------------------------------------------


def read_log(log_path: str | os.PathLike) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read an action log.

    Args:
        log_path: The file :func:`apply_action` wrote.

    Returns:
        ``(begin record, intents)``: each intent with ``outcome`` (``done``, ``failed``, or ``None`` when
        the run stopped between the intent and its outcome), its outcome's fields and ``undone``.

    Raises:
        OptionError: the file is missing, unreadable or not an action log.
    """
    p = Path(log_path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise OptionError(
            f"cannot read the action log {p}: {e.strerror or e}", "give the log an action wrote"
        ) from None
    begin: dict[str, Any] | None = None
    intents: dict[int, dict[str, Any]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if n == len(text.splitlines()):
                break  # a last line cut short by a crash: what it said was not done
            raise OptionError(f"{p} line {n} is not JSON", "give the log an action wrote") from None
        kind = rec.get("type")
        if kind == "begin":
            begin = rec
        elif kind == "intent":
            intents[rec["seq"]] = {**rec, "outcome": None, "undone": False}
        elif kind in ("done", "failed") and rec.get("seq") in intents:
            intents[rec["seq"]].update({k: v for k, v in rec.items() if k not in ("type", "seq", "time")})
            intents[rec["seq"]]["outcome"] = kind
        elif kind == "undone" and rec.get("seq") in intents:
            intents[rec["seq"]]["undone"] = True
    if begin is None or begin.get("version") != LOG_VERSION:
        raise OptionError(
            f"{p} is not a framediff dupes action log (version {LOG_VERSION})", "give the log an action wrote"
        )
    return begin, [intents[k] for k in sorted(intents)]


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
    log = _Log(Path(log_path), "a")
    try:
        with _held_sigint() as check:
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
                        reason = _os_reason(e)
                    if reason is None:
                        step.status = "done"
                        log.write({"type": "undone", "seq": rec["seq"], "time": _now()})
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
        _move_file(target, path)
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
        _move_file(str(found[0]), path)
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
        tmp = _tmp_beside(path)
        try:
            with open(kept, "rb") as fi, open(tmp, "xb") as fo:
                shutil.copyfileobj(fi, fo, 1 << 20)
                fo.flush()
                os.fsync(fo.fileno())
            os.chmod(tmp, rec.get("mode", 0o644))
            os.utime(tmp, (rec["mtime"], rec["mtime"]))
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(os.path.dirname(path))
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
