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

from .apply import apply_action
from .files import find_in_trash
from .log import LOG_VERSION, read_log
from .plan import ACTIONS, ActionReport, Step, default_log_path, move_target, parse_action
from .undo import undo

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
