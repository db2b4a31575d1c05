"""The catalog: what grouping needs of every file of a run, held in arrays (under 1 kB a file).

A run over a collection must not hold every file's fingerprint: with its descriptors and thumbnail that
is ~35 kB a file, 35 GB for a million photos. The catalog keeps the PDQ hashes, the layout facts and
what ranking and the report name (path, size, dates, dimensions); descriptors stream from the index in
chunks, and the fingerprints of the pairs being verified are read when they are verified.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .fingerprint import LAYOUT_SIDE, ThumbFacts, read_thumb, thumb_facts
from .index import Index
from .report import FileInfo

__all__ = ["Catalog"]


@dataclass
class Catalog:
    """The files of a run, in the run's order, as arrays.

    Attributes:
        paths: Absolute paths.
        sizes: Bytes, (n,) int64.
        mtimes: Modification times, (n,) float64.
        widths: Full widths, upright, (n,) int32.
        heights: Full heights, (n,) int32.
        formats: Container formats.
        taken: EXIF dates taken (or ``None``).
        digests: Digests of the bytes.
        pdq: (n, 8, 32) uint8 dihedral PDQ hashes.
        grids: (n, 16, 16) float16 layout grids.
        levels: (n, 2) float32 grey means and spreads.
        framed: (n,) bool: a picture in a plain frame.
    """

    paths: list[str]
    sizes: np.ndarray
    mtimes: np.ndarray
    widths: np.ndarray
    heights: np.ndarray
    formats: list[str]
    taken: list[str | None]
    digests: list[bytes]
    pdq: np.ndarray
    grids: np.ndarray
    levels: np.ndarray
    framed: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)

    @classmethod
    def load(cls, index: Index, paths: Sequence[str], jobs: int = 1) -> Catalog:
        """The catalog of the readable indexed files among ``paths``, in that order.

        Files indexed before their thumbnail facts were stored get them now, from their thumbnails
        (once: they are stored back).

        Args:
            index: The index the files were fingerprinted into.
            paths: The run's files.
            jobs: Threads for the thumbnails that must be decoded.
        """
        n = len(paths)
        cat = cls(
            paths=[], sizes=np.zeros(n, np.int64), mtimes=np.zeros(n, np.float64), widths=np.zeros(n, np.int32),
            heights=np.zeros(n, np.int32), formats=[], taken=[], digests=[], pdq=np.zeros((n, 8, 32), np.uint8),
            grids=np.zeros((n, LAYOUT_SIDE, LAYOUT_SIDE), np.float16), levels=np.zeros((n, 2), np.float32),
            framed=np.zeros(n, bool),
        )  # fmt: skip
        missing: list[int] = []
        formats: dict[str, str] = {}  # one string object per format, not one per file
        for i, (path, size, mtime, digest, width, height, fmt, taken, pdq, facts) in enumerate(index.summaries(paths)):
            cat.paths.append(path)
            cat.sizes[i], cat.mtimes[i], cat.widths[i], cat.heights[i] = size, mtime, width, height
            cat.formats.append(formats.setdefault(fmt, fmt))
            cat.taken.append(taken)
            cat.digests.append(digest)
            cat.pdq[i] = pdq
            if facts is None:
                missing.append(i)
            else:
                cat.set_facts(i, facts)
        cat.trim()
        if missing:
            cat.fill_facts(index, missing, jobs)
        return cat

    def set_facts(self, i: int, facts: ThumbFacts) -> None:
        """Hold file ``i``'s thumbnail facts."""
        self.grids[i] = facts.grid
        self.levels[i] = facts.mean, facts.spread
        self.framed[i] = facts.framed

    def fill_facts(self, index: Index, which: list[int], jobs: int) -> None:
        """Measure the thumbnail facts of files ``which`` from their thumbnails and store them."""
        wanted = {self.paths[i]: i for i in which}
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="framediff-facts") as pool:
            chunk: list[tuple[str, bytes]] = []
            for row in index.thumbs(list(wanted)):
                chunk.append(row)
                if len(chunk) == 256:
                    self._measure(index, wanted, chunk, pool)
                    chunk = []
            self._measure(index, wanted, chunk, pool)
        index.commit()

    def _measure(self, index: Index, wanted: dict[str, int], chunk: list[tuple[str, bytes]], pool: ThreadPoolExecutor) -> None:
        for (path, _), facts in zip(chunk, pool.map(lambda r: thumb_facts(read_thumb(r[1])), chunk), strict=True):
            self.set_facts(wanted[path], facts)
            index.put_facts(path, facts)

    def trim(self) -> None:
        """Drop the rows past the files actually found (files not indexed are left out)."""
        n = len(self.paths)
        for name in ("sizes", "mtimes", "widths", "heights", "pdq", "grids", "levels", "framed"):
            setattr(self, name, getattr(self, name)[:n])

    def layout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(grids, levels, aspects)`` for :func:`~.candidates.layout_pairs`."""
        aspects = (self.widths / np.maximum(1, self.heights)).astype(np.float32)
        return self.grids, self.levels, aspects

    def info(self, i: int, reference: bool) -> FileInfo:
        """File ``i`` as the report names it."""
        return FileInfo(
            path=self.paths[i], size=int(self.sizes[i]), mtime=float(self.mtimes[i]), width=int(self.widths[i]),
            height=int(self.heights[i]), format=self.formats[i], taken=self.taken[i], reference=reference,
            digest=self.digests[i].hex(),
        )  # fmt: skip

    def date(self, i: int) -> str:
        """File ``i``'s date: taken, else modified (``YYYY-MM-DDTHH:MM:SS``)."""
        return self.taken[i] or time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(float(self.mtimes[i])))

