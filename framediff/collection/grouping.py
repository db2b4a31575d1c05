"""Groups from candidate pairs: each formed around its kept file, holding only files that verify
against that file itself, so A~B and B~C never put an unrelated A and C together.

Works on arrays (the pairs, each file's rank), so a million files with a few million candidate pairs
fit in a few hundred MB; verification is whatever the caller gives (:class:`Verifier`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from .verify import Verdict

__all__ = ["Verifier", "group_pairs", "neighbours"]

Progress = Callable[[str, int, int], None]


class Verifier(Protocol):
    """Verdicts of pairs ``(kept, other)`` of file numbers."""

    def many(self, pairs: list[tuple[int, int]], progress: Progress | None) -> None:
        """Make the verdicts of ``pairs`` ready (all at once, in parallel where it can)."""

    def get(self, a: int, b: int) -> Verdict:
        """The verdict of the pair (made now if not ready)."""

    def supported(self, pairs: list[tuple[int, int]]) -> list[bool]:
        """For candidates found by their features only: whether each is worth verifying."""


def neighbours(n: int, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each file's candidates, as compressed rows: file i's are ``cols[ptr[i]:ptr[i + 1]]``, in order.

    Args:
        n: Files.
        pairs: (m, 2) candidate pairs (either way round).
    """
    both = np.concatenate([pairs, pairs[:, ::-1]]) if len(pairs) else np.zeros((0, 2), np.int64)
    both = both[np.lexsort((both[:, 1], both[:, 0]))]
    ptr = np.zeros(n + 1, np.int64)
    np.add.at(ptr, both[:, 0] + 1, 1)
    return np.cumsum(ptr), both[:, 1].copy()


def group_pairs(
    n: int,
    pairs: np.ndarray,
    rank: np.ndarray,
    verifier: Verifier,
    linked: Callable[[Verdict], bool],
    progress: Progress | None = None,
) -> list[tuple[int, list[tuple[int, Verdict]]]]:
    """Groups around kept files, from candidate pairs and their verdicts.

    Files with no better-ranked candidate are kept files for sure: their pairs are verified first, all at
    once; the rest only as the groups need them (a pair of two copies of one kept file is never compared).
    Around the best-ranked file not yet placed: its candidates, then theirs through each verified member,
    each verified against the kept file itself.

    Args:
        n: Files.
        pairs: (m, 2) candidate pairs.
        rank: (n,) each file's place in the order of keeping (smaller is kept first; all distinct).
        verifier: Gives the verdicts.
        linked: Whether a verdict puts the other file in the kept file's group.
        progress: ``progress("verification", done, total)`` for the first, largest batch.

    Returns:
        ``(kept file, [(member, verdict), ...])`` for each group with members, kept files in rank order.
    """
    ptr, cols = neighbours(n, np.asarray(pairs, np.int64).reshape(-1, 2))
    involved = np.flatnonzero(np.diff(ptr))
    # Kept files for sure: every candidate ranks after them.
    best_other = np.full(n, np.iinfo(np.int64).max)
    if len(cols):
        owner = np.repeat(np.arange(n), np.diff(ptr))
        np.minimum.at(best_other, owner, rank[cols])
    roots = involved[rank[involved] < best_other[involved]]
    verifier.many([(int(a), int(b)) for a in roots for b in cols[ptr[a] : ptr[a + 1]].tolist()], progress)
    groups: list[tuple[int, list[tuple[int, Verdict]]]] = []
    placed = np.zeros(n, bool)
    for keep in involved[np.argsort(rank[involved], kind="stable")].tolist():
        if placed[keep]:
            continue
        members: list[tuple[int, Verdict]] = []
        tried = {keep}
        frontier = set(cols[ptr[keep] : ptr[keep + 1]].tolist())
        while frontier:
            batch = sorted(
                (m for m in frontier if m not in tried and not placed[m] and rank[m] > rank[keep]), key=lambda i: rank[i]
            )  # fmt: skip
            if not batch:
                break
            tried.update(batch)
            verifier.many([(keep, m) for m in batch], None)
            found_now = [(m, v) for m in batch if linked(v := verifier.get(keep, m))]
            members += found_now
            frontier = {x for m, _ in found_now for x in cols[ptr[m] : ptr[m + 1]].tolist()}
        if members:
            groups.append((keep, members))
            placed[keep] = True
            placed[[m for m, _ in members]] = True
    return groups
