"""Threads: one small pool of helpers for the image work that can run beside the caller, and OpenCV's own.

OpenCV releases the GIL, so decoding B while A decodes, or finding B's features while A's are found,
uses the second core. Every task submitted here is a leaf: no task waits for another task of this
pool, so sharing one pool between modules cannot deadlock (only callers wait).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import cv2

__all__ = ["POOL", "few_malloc_arenas", "keep_freed_buffers", "one_opencv_thread", "usable_cores"]

POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="framediff-worker")


@contextmanager
def one_opencv_thread() -> Iterator[None]:
    """Run the block with OpenCV's own thread pool off, and put it back as it was afterwards.

    Video jobs already keep every core busy with the decoder's threads; on their small analysis images
    OpenCV's pool would only add hand-offs and spinning on those cores (measured: the watch's analysis
    used 1.25 CPU-s over 600 frames with it and 0.85 without, in the same wall time; dedup ~4% more CPU).
    """
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def few_malloc_arenas(arenas: int = 2) -> bool:
    """Ask glibc's allocator for at most ``arenas`` memory arenas (no effect elsewhere).

    glibc gives each thread that allocates its own arena (up to 8 per core), and freed image buffers stay
    in them: ``framediff dupes`` peaked at 333 MB with the default and at 218 MB with two arenas on the
    kit's 591-file library, in the same time. Call it before the threads start.

    Returns:
        True when the allocator took the setting.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(-8, arenas))  # M_ARENA_MAX
    except (OSError, AttributeError):
        return False


# Image buffers up to this size are served from the heap (glibc's own dynamic rule goes up to 32 MB, but
# starts at 128 kB and resets as buffers of new sizes come), and this much free memory stays at its top.
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 64 * 1024 * 1024
_kept: bool | None = None


def keep_freed_buffers() -> bool:
    """Let glibc keep freed image buffers for reuse instead of giving them back to the system (once).

    A comparison allocates and frees tens of megabytes per pair (decoded pictures, working copies, maps).
    With glibc's defaults most of them are mapped afresh and touched page by page: measured on 40 photo
    pairs, 90,000 page faults and 0.35 s of system time (a tenth of the run); keeping up to
    ``TRIM_THRESHOLD`` free at the top of the heap and serving buffers under ``MMAP_THRESHOLD`` from it,
    30,000 and 0.2 s, for ~10 MB more peak memory. Process-wide, glibc only, and only when the caller set
    neither ``MALLOC_MMAP_THRESHOLD_`` nor ``MALLOC_TRIM_THRESHOLD_`` (its own choice wins).

    Returns:
        True when the allocator took the settings (now or at an earlier call).
    """
    global _kept
    if _kept is not None:
        return _kept
    _kept = False
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") or os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return False
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        # M_TRIM_THRESHOLD (-1) and M_MMAP_THRESHOLD (-3); mallopt returns 1 on success.
        _kept = bool(libc.mallopt(-1, TRIM_THRESHOLD)) and bool(libc.mallopt(-3, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        _kept = False
    return _kept
