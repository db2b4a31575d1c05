"""File operations of the actions, each atomic where the OS allows (a rename, or a copy under a temporary
name, fsynced, then renamed), Ctrl-C held while a file is in hand, and the freedesktop.org trash."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ...errors import OptionError
from ..report import file_digest

__all__ = [
    "copy_bytes",
    "copy_into",
    "find_in_trash",
    "fsync_dir",
    "held_sigint",
    "import_send2trash",
    "link_over",
    "move_file",
    "os_reason",
    "tmp_beside",
    "trash_dirs",
]


def fsync_dir(folder: str | os.PathLike) -> None:
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
def held_sigint() -> Iterator[Callable[[], None]]:
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


def tmp_beside(path: str | os.PathLike) -> str:
    """A hidden name, unique to this call, in ``path``'s folder (a rename from it is one step)."""
    p = Path(path)
    return str(p.with_name(f".{p.name}.framediff-{os.getpid()}-{uuid.uuid4().hex[:8]}"))


def copy_bytes(src: str, dst: str) -> None:
    """Copy ``src``'s bytes into a new file ``dst`` (which must not exist), flushed and fsynced."""
    with open(src, "rb") as fi, open(dst, "xb") as fo:
        shutil.copyfileobj(fi, fo, 1 << 20)
        fo.flush()
        os.fsync(fo.fileno())


def copy_into(src: str, dst: str) -> None:
    """Copy ``src`` to ``dst`` (which must not exist) under a temporary name in ``dst``'s folder, fsynced,
    then renamed: ``dst`` is whole or absent, never half-written."""
    tmp = tmp_beside(dst)
    try:
        copy_bytes(src, tmp)
        shutil.copystat(src, tmp)
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "target exists", dst)
        os.rename(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(os.path.dirname(dst) or ".")


def move_file(src: str, dst: str) -> None:
    """Move one file without overwriting: a rename on one device; across devices a copy (fsynced, renamed
    into place), then the original removed; if the original cannot be removed the copy is taken back."""
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "target exists", dst)
    try:
        os.rename(src, dst)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        copy_into(src, dst)
        try:
            os.unlink(src)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(dst)
            raise
        fsync_dir(os.path.dirname(src) or ".")
    fsync_dir(os.path.dirname(dst) or ".")


def link_over(kept: str, path: str, op: str) -> None:
    """Replace ``path`` by a hard or symbolic link to ``kept``: made under a temporary name in the same
    folder, then renamed over ``path`` in one step."""
    tmp = tmp_beside(path)
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
    fsync_dir(os.path.dirname(path) or ".")


def os_reason(e: OSError) -> str:
    """What the system said, as a step's reason."""
    return e.strerror or str(e)


# -- the trash (freedesktop.org spec) ---------------------------------------------------------------------


def trash_dirs(path: str) -> list[Path]:
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
    for trash in trash_dirs(want):
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


def import_send2trash() -> Callable[[str], None]:
    """``send2trash.send2trash``, the trash action's one dependency.

    Raises:
        OptionError: when send2trash is not installed.
    """
    try:
        from send2trash import send2trash
    except ImportError:
        raise OptionError("the trash action needs send2trash", "pip install send2trash") from None
    return send2trash
