"""The names ``framediff.dedup_io`` held before it moved to :mod:`framediff.dedup.io` (kept for one release)."""

from __future__ import annotations

from .dedup.io import EncodeThread, FolderWriter, ReportWriter, VideoWriter, check_folder, video_error

__all__ = ["VideoWriter", "EncodeThread", "FolderWriter", "ReportWriter", "check_folder", "video_error"]
