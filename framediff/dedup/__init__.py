"""``dedup``: drop the repeated frames of a video (or the repeated pictures of a folder).

- :mod:`~framediff.dedup.core`: :class:`Deduplicator` (push frames, get keep/drop decisions) and its scores;
- :mod:`~framediff.dedup.video`: :func:`dedup_video` over a file or folder, with its outputs;
- :mod:`~framediff.dedup.io`: the folder of unique images and the CSV report (the video is written by
  :mod:`framediff.media.encode`); :mod:`~framediff.dedup.plot`: the score plot.
"""

from __future__ import annotations

from .core import ANALYSIS_SIZE, Decision, Deduplicator
from .video import DedupInterrupted, DedupResult, dedup_video, dry_run_decoding, expected_frames, trim

__all__ = [
    "ANALYSIS_SIZE",
    "Decision",
    "DedupInterrupted",
    "DedupResult",
    "Deduplicator",
    "dedup_video",
    "dry_run_decoding",
    "expected_frames",
    "trim",
]
