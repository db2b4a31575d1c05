"""PDQ hash lists: the text format in which known pictures are shared without the pictures.

One hash a line: 64 hex digits (Meta's PDQ, the bit order of the reference's hex string), optionally
followed by ``,quality`` (0-100) and ``,label`` (the rest of the line, commas included); blank lines and
lines starting with ``#`` are skipped. This is the form that ThreatExchange, Hasher-Matcher-Actioner and
StopNCII exchange (``hash,quality`` in their exports; a label is this project's addition, and a reader that
splits on the first two commas keeps it whole).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from ..errors import InputError, OutputError
from .pdq import HASH_BYTES, to_hex

__all__ = ["HashEntry", "parse_line", "read_hash_list", "write_hash_list", "format_entry"]


@dataclass
class HashEntry:
    """One hash of a list.

    Attributes:
        pdq: (32,) uint8, the reference's byte order.
        quality: PDQ quality 0-100, when the list gives it.
        label: What the list calls the picture, when it says.
    """

    pdq: np.ndarray
    quality: int | None = None
    label: str | None = None


def parse_line(line: str, where: str = "line") -> HashEntry | None:
    """One line of a list as an entry (``None`` for a blank line or a comment).

    Args:
        line: The text.
        where: Names the line in the error (``list.txt:12``).

    Raises:
        InputError: when the line holds no valid hash or quality.
    """
    text = line.strip().lstrip("\ufeff")
    if not text or text.startswith("#"):
        return None
    parts = text.split(",", 2)
    hex_ = parts[0].strip().lower()
    if len(hex_) != 2 * HASH_BYTES or any(c not in "0123456789abcdef" for c in hex_):
        raise InputError(
            f"{where}: {parts[0][:70]!r} is not a PDQ hash (64 hex digits)", "one hash a line: HEX[,quality[,label]]"
        )
    quality = None
    if len(parts) > 1 and parts[1].strip():
        try:
            quality = int(parts[1])
        except ValueError:
            raise InputError(f"{where}: quality {parts[1].strip()!r} is not a whole number", "give 0-100") from None
        if not 0 <= quality <= 100:
            raise InputError(f"{where}: quality {quality} is not within 0-100", "give 0-100")
    label = parts[2].strip() if len(parts) > 2 and parts[2].strip() else None
    return HashEntry(np.frombuffer(bytes.fromhex(hex_), np.uint8).copy(), quality, label)


def read_hash_list(source: str | os.PathLike | TextIO) -> list[HashEntry]:
    """Every entry of a list file (``-``: stdin), checked in full before any is used.

    Raises:
        InputError: when the file cannot be read or a line is not an entry (the first such line is named).
    """
    if hasattr(source, "read"):
        return list(_entries(source, "stdin"))  # type: ignore[arg-type]
    if os.fspath(source) == "-":  # type: ignore[arg-type]
        return list(_entries(sys.stdin, "stdin"))
    path = Path(source)  # type: ignore[arg-type]
    try:
        with open(path, encoding="utf-8") as f:
            return list(_entries(f, str(path)))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", "check the path of the hash list") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a text file", "give a list of hex PDQ hashes, one a line") from None
    except OSError as e:
        raise InputError(f"cannot read {path} ({e.strerror or e})", "check the path of the hash list") from None


def _entries(lines: Iterable[str], name: str) -> Iterator[HashEntry]:
    for n, line in enumerate(lines, 1):
        entry = parse_line(line, f"{name}:{n}")
        if entry is not None:
            yield entry


def format_entry(entry: HashEntry) -> str:
    """The entry as one line of a list (quality and label when known)."""
    line = to_hex(entry.pdq)
    if entry.quality is not None or entry.label:
        line += f",{'' if entry.quality is None else entry.quality}"
    if entry.label:
        # A line break would start a new entry: a label is one line.
        line += "," + " ".join(entry.label.splitlines())
    return line


def write_hash_list(entries: Iterable[HashEntry], dest: str | os.PathLike) -> int:
    """Write entries as a list file (``-``: stdout); the file is replaced whole, never left half-written.

    Returns:
        How many entries were written.

    Raises:
        OutputError: when the file cannot be written.
    """
    lines = [format_entry(e) + "\n" for e in entries]
    if os.fspath(dest) == "-":
        sys.stdout.writelines(lines)
        return len(lines)
    path = Path(dest)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(lines)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path} ({e.strerror or e})", "give a writable place") from None
    return len(lines)
