"""The action log: an append-only JSON-lines file, each line fsynced before the action it announces, and
its reader (what :func:`~framediff.collection.actions.undo` follows)."""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from ...errors import OptionError, OutputError

__all__ = ["LOG_VERSION", "ActionLog", "now", "read_log"]

LOG_VERSION = 1


def now() -> str:
    """The time a log line is stamped with: UTC, ISO 8601, to the millisecond."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class ActionLog:
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
        """Append one record as a line, flushed and fsynced.

        Raises:
            OutputError: when it cannot be written (the run must then stop).
        """
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
        """Close the file (errors ignored: every line is already on disk)."""
        with contextlib.suppress(OSError):
            self.f.close()


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
