"""Outputs of ``dedup``: the folder of unique images and the CSV report (the trimmed video, with its audio,
is written by :mod:`framediff.media.encode`).

Every output is written under a temporary name in its final folder and renamed when complete, so a
reader never sees a half-written file and an interrupted run still leaves a valid one.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from pathlib import Path

from ..errors import OutputError
from ..media.encode import EncodeThread, VideoWriter, video_error
from ..media.frames import Frame
from ..paths import check_parent_folder, disk_error, remove_quietly, temp_path

# The video writer lives with the one encoder stack; named here too, where dedup's outputs were.
__all__ = ["VideoWriter", "EncodeThread", "FolderWriter", "ReportWriter", "check_folder", "video_error"]


# The one parent-folder check lives with the output paths; named here too, where dedup's outputs were.
check_folder = check_parent_folder


class ReportWriter:
    """The per-frame CSV report ``frame,time,score,action``, streamed row by row (memory stays flat).

    Args:
        path: The report's path.
        label: How messages name the report (a command line: ``--report``).
    """

    def __init__(self, path: Path, label: str = "report") -> None:
        self.path = path
        self.tmp = temp_path(path)
        try:
            self.file = open(self.tmp, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in finish()
            self.file.write("frame,time,score,action\n")
        except OSError as e:
            remove_quietly(self.tmp)
            raise OutputError(
                f"{label} {path}: cannot write it: {e.strerror or e}",
                "free some space / choose another folder",
            ) from None

    def write(self, index: int, time: float, score: float, action: str) -> None:
        """Append one row (``nan`` score for the first frame, which has no reference).

        Raises:
            OutputError: when the disk refuses it (full); :meth:`abort` then removes the partial file.
        """
        s = "nan" if math.isnan(score) else f"{score:.3f}"
        try:
            self.file.write(f"{index},{time:.4f},{s},{action}\n")
        except OSError as e:
            raise disk_error(self.path, e) from None

    def finish(self) -> None:
        """Close and move into place.

        Raises:
            OutputError: when the disk refuses the last rows; nothing is left behind.
        """
        try:
            self.file.close()
            os.replace(self.tmp, self.path)
        except OSError as e:
            self.abort()
            raise disk_error(self.path, e) from None

    def abort(self) -> None:
        """Close and delete the partial file."""
        with contextlib.suppress(OSError):  # the rows still buffered cannot go anywhere: dropped
            self.file.close()
        remove_quietly(self.tmp)


class FolderWriter:
    """Copies the kept images of a folder input, byte for byte, into a new folder.

    Args:
        output: The new (or empty) folder.
        root: The folder the kept images are named relative to (the common folder of a glob's files);
            ``None`` keeps their bare names.
        label: How messages name the folder (a command line: ``-o``).

    Raises:
        OutputError: when the folder exists and is not empty, or cannot be created.
    """

    def __init__(self, output: Path, root: Path | None = None, label: str = "output") -> None:
        if output.exists() and (not output.is_dir() or any(output.iterdir())):
            raise OutputError(f"{output} already exists", f"give a new or empty folder as {label}")
        self.output = output
        self.root = root
        self.tmp = temp_path(output)
        try:
            self.tmp.mkdir()
        except OSError as e:
            raise disk_error(output, e) from None
        self.written = 0
        self.warnings: list[str] = []

    def write(self, frame: Frame) -> None:
        """Copy the frame's image file (``frame.raw`` is its path).

        Raises:
            OutputError: when the disk refuses it (full); :meth:`abort` then removes the partial folder.
        """
        src = Path(frame.raw)
        # Named as under the inputs' common folder, so files of one name in two folders both stay.
        name = src.resolve().relative_to(self.root) if self.root is not None else Path(src.name)
        try:
            (self.tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, self.tmp / name)
        except OSError as e:
            raise disk_error(self.output / name, e) from None
        self.written += 1

    def finish(self) -> None:
        """Move the finished folder into place.

        Raises:
            OutputError: when it cannot be moved; nothing is left behind.
        """
        try:
            if self.output.exists():
                self.output.rmdir()  # checked empty at the start
            os.replace(self.tmp, self.output)
        except OSError as e:
            self.abort()
            raise disk_error(self.output, e) from None

    def abort(self) -> None:
        """Delete the partial folder."""
        shutil.rmtree(self.tmp, ignore_errors=True)
