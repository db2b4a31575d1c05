"""One small pool of helper threads for the image work that can run beside the caller.

OpenCV releases the GIL, so decoding B while A decodes, or finding B's features while A's are found,
uses the second core. Every task submitted here is a leaf: no task waits for another task of this
pool, so sharing one pool between modules cannot deadlock (only callers wait).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

__all__ = ["POOL"]

POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="framediff-worker")
