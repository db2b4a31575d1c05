"""Output paths: the temporary name an output is written under, and whether an output would overwrite an
input or another output.

Every output is written under a hidden temporary name in its final folder and renamed when complete, so
nobody sees a half-written file; and no output may overwrite an input. Every command (compare, dedup,
watch) hands :func:`check_outputs` all it reads and all it will write, before it opens anything for
writing, so they all decide alike.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import OutputError

__all__ = [
    "temp_path",
    "partial_files",
    "save_arrays",
    "same_file",
    "check_outputs",
    "make_folder",
    "disk_error",
    "remove_quietly",
    "check_folder_writable",
    "check_parent_folder",
    "Named",
]

# (what the command calls the path, e.g. "-o" or "--ignore"; the path, or None when not given)
Named = tuple[str, "str | os.PathLike | None"]


def temp_path(final: Path) -> Path:
    """A hidden name in ``final``'s folder, unique to this call, with the same extension (so the container
    or image format is the same).

    Args:
        final: The output's final path.

    Returns:
        The path to write to before renaming it to ``final``.
    """
    return final.with_name(f".{final.stem}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}{final.suffix}")


def save_arrays(final: Path, arrays: dict[str, Any]) -> bool:
    """Write ``arrays`` to ``final`` as one ``.npz``, whole or not at all (a temporary file renamed).

    Args:
        final: The file to write.
        arrays: Its arrays by name (as :func:`numpy.savez` takes them).

    Returns:
        ``False`` when the place cannot be written (nothing is left behind).
    """
    import numpy as np

    tmp = temp_path(final)
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, final)
    except OSError:
        tmp.unlink(missing_ok=True)
        return False
    return True


def partial_files(final: Path) -> list[Path]:
    """The temporary files :func:`temp_path` names for ``final`` that are still there: left by a writer that
    was killed before it could remove its own (a cluster's worker that died mid-clip).

    Args:
        final: The output's final path.

    Returns:
        The leftovers, if any.
    """
    stem, suffix = final.stem, final.suffix
    return sorted(p for p in final.parent.glob(f".{stem}.partial-*{suffix}") if p.is_file())


def _identity(path: str | os.PathLike) -> tuple[str, tuple[int, int] | None]:
    """The path with ``..`` and symbolic links resolved, and the file's (device, inode) when it exists:
    two names of one file share one or the other (a hard link or a bind mount shares only the inode)."""
    real = os.path.realpath(os.fspath(path))
    try:
        st = os.stat(real)
    except OSError:
        return real, None
    return real, (st.st_dev, st.st_ino)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file: the same path once resolved (``..``, symbolic links), or,
    when both exist, one file under two names (a hard link, a bind mount).

    Args:
        a: A path (it need not exist).
        b: Another path (it need not exist).

    Returns:
        ``True`` when writing to one would overwrite the other.
    """
    ra, ia = _identity(a)
    rb, ib = _identity(b)
    return ra == rb or (ia is not None and ia == ib)


def check_outputs(outputs: Iterable[Named], inputs: Iterable[Named] = ()) -> None:
    """Refuse, before anything is written, an output that is an input or another output under any name.

    Names are compared once resolved (``..``, symbolic links) and, for files that exist, by device and
    inode (hard links, bind mounts). A name given both as an input and as an output under the *same* label
    is one file the command reads and updates on purpose (``watch --config`` with ``--serve``) and is
    allowed; two outputs never share a file, whatever their labels. ``None`` (not given) and ``-`` (standard output) are skipped.

    Args:
        outputs: ``(label, path)`` of everything the command will write; the label is how the user named
            it (``-o``, ``--report``...), for the message.
        inputs: ``(label, path)`` of everything the command reads (sources, masks, reference pictures,
            settings files; for a folder or glob source, the folder and each of its files).

    Raises:
        OutputError: naming both sides: ``--plot x would overwrite --report x``.
    """
    by_path: dict[str, tuple[str, str, bool]] = {}
    by_inode: dict[tuple[int, int], tuple[str, str, bool]] = {}

    def seen(real: str, inode: tuple[int, int] | None) -> tuple[str, str, bool] | None:
        return by_path.get(real) or (by_inode.get(inode) if inode is not None else None)

    def add(label: str, path: str, real: str, inode: tuple[int, int] | None, is_input: bool) -> None:
        by_path.setdefault(real, (label, path, is_input))
        if inode is not None:
            by_inode.setdefault(inode, (label, path, is_input))

    for label, path in inputs:
        if path is not None and os.fspath(path) not in ("", "-"):
            p = os.fspath(path)
            add(label, p, *_identity(p), True)
    for label, path in outputs:
        if path is None or os.fspath(path) in ("", "-"):
            continue
        p = os.fspath(path)
        real, inode = _identity(p)
        other = seen(real, inode)
        if other is not None and not (other[2] and other[0] == label):
            other_label, other_path, is_input = other
            if is_input:
                raise OutputError(
                    f"{label} {p} would overwrite {other_label} {other_path}",
                    f"an input is never overwritten: give {label} another name",
                )
            raise OutputError(
                f"{label} {p} would overwrite {other_label} {other_path}", "give each output its own name"
            )
        add(label, p, real, inode, False)


def disk_error(path: str | os.PathLike, e: OSError) -> OutputError:
    """The one-line error for an output that the disk refused (full, read-only, no permission).

    Args:
        path: The output being written.
        e: What the system said.

    Returns:
        An :class:`OutputError` to raise.
    """
    return OutputError(
        f"cannot write {os.fspath(path)}: {e.strerror or e}", "free some space / choose another folder"
    )


def make_folder(path: str | os.PathLike) -> None:
    """Create an output folder and its parents (nothing when it exists).

    Args:
        path: The folder.

    Raises:
        OutputError: when it cannot be created (a read-only or full disk, a file in the way).
    """
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise disk_error(path, e) from None


def remove_quietly(path: str | os.PathLike) -> None:
    """Delete a partial output if it is there; a disk that refuses even that (read-only) is left as it is,
    since the error being reported already says why."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def check_folder_writable(folder: str | os.PathLike, label: str) -> None:
    """Refuse, before the run, an output folder that could not be created or written to later, without
    creating it (a run that fails must not leave an empty folder behind).

    Args:
        folder: The folder (it need not exist yet).
        label: How the user named it (``--snapshots``...).

    Raises:
        OutputError: when a file is in the way, or the nearest existing folder is not writable.
    """
    p = Path(os.path.abspath(folder))
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        raise OutputError(f"cannot write {label} into {folder}: {p} is a file", "choose another folder")
    if not os.access(p, os.W_OK | os.X_OK):
        raise OutputError(
            f"cannot write {label} into {folder}: {p} is not writable",
            "free some space / choose another folder",
        )


def check_parent_folder(output: str | os.PathLike, label: str = "output") -> None:
    """Refuse an output whose folder does not exist: the one check every command makes before it writes
    a file (whether it would overwrite an input is decided by :func:`check_outputs`).

    Args:
        output: The requested output file (or folder).
        label: How the caller names it in messages (``report``; a command line: ``--report``).

    Raises:
        OutputError: when the folder ``output`` goes into does not exist.
    """
    parent = Path(os.fspath(output)).parent
    if not parent.resolve().is_dir():
        raise OutputError(f"{label} {os.fspath(output)}: folder {parent} does not exist", f"create it or choose another {label}")
