"""Exact range search over many 256-bit PDQ hashes: a flat scan while few, multi-index hashing beyond.

Multi-index hashing (Norouzi, Punjani and Fleet, "Fast search in Hamming space with multi-index hashing",
CVPR 2012; PDQ's own C++ matcher uses it too): cut each hash into ``m`` substrings. Two hashes within
``r`` bits differ in at most ``r // m`` bits in at least one substring (pigeonhole), so a search looks up,
in each substring's table, the buckets of the query's substring and of every variant of it with up to
``r // m`` bits flipped, and computes the full distance of the hashes found there only. With substrings
of about log2(n) bits a bucket holds a few hashes, and a query touches thousands of hashes instead of n.

The tables are arrays (no hash maps): per substring, the positions of the hashes sorted by their
substring (``order``, uint32) and where each substring value's bucket starts (``starts``); nothing else
besides the hashes themselves.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

__all__ = ["MultiIndexHash", "substring_bits"]


def substring_bits(n: int) -> int:
    """The substring width for ``n`` hashes (measured at PDQ's radius 31 over 8 dihedral forms).

    16 bits (16 substrings, each looked up with its 1-bit variants: 17 buckets) up to a few million
    hashes; 22 bits beyond (12 substrings with their 2-bit variants: 254 buckets each, but 64 times fewer
    hashes a bucket). At 10M random hashes: 35 ms a query at 16 bits, 9.4 ms at 22 (a full scan: ~70 ms).
    """
    return 16 if n < 3_000_000 else 22


def _widths(bits: int) -> list[int]:
    """Substring widths covering 256 bits, as equal as they can be, none wider than ``bits``."""
    m = math.ceil(256 / bits)
    base, extra = divmod(256, m)
    return [base + 1] * extra + [base] * (m - extra)


def _keys(codes: np.ndarray, widths: list[int]) -> np.ndarray:
    """(n, m) uint32: each hash's substrings as integers (bit order of the hex string)."""
    out = np.empty((len(codes), len(widths)), np.uint32)
    step = 262_144  # rows at a time: the bits of a row take 256 bytes
    for s in range(0, len(codes), step):
        bits = np.unpackbits(codes[s : s + step], axis=1)
        pos = 0
        for j, w in enumerate(widths):
            field = np.zeros((len(bits), 32), np.uint8)
            field[:, 32 - w :] = bits[:, pos : pos + w]
            out[s : s + step, j] = np.packbits(field, axis=1).view(">u4")[:, 0]
            pos += w
    return out


def _flips(width: int, most: int) -> np.ndarray:
    """Every mask of ``width`` bits with at most ``most`` bits set (0 first)."""
    masks = [0]
    for k in range(1, most + 1):
        masks += [sum(1 << b for b in c) for c in itertools.combinations(range(width), k)]
    return np.array(masks, np.uint32)


class MultiIndexHash:
    """Exact Hamming range search over (n, 32) uint8 hashes.

    Args:
        codes: The hashes.
        flat: Scan every hash (FAISS ``IndexBinaryFlat``) instead of building tables; default: when there
            are fewer than 200,000.
        bits: Substring width (default :func:`substring_bits` of n).
    """

    def __init__(self, codes: np.ndarray, flat: bool | None = None, bits: int | None = None) -> None:
        self.codes = np.ascontiguousarray(codes, np.uint8).reshape(-1, 32)
        n = len(self.codes)
        self.flat = n < 200_000 if flat is None else bool(flat)
        self.widths = [] if self.flat else _widths(bits or substring_bits(n))
        self.starts = np.zeros(0, np.uint32)
        self.order = np.zeros(0, np.uint32)
        if not self.flat:
            self._build()
        self._ready()

    def _build(self) -> None:
        n = len(self.codes)
        keys = _keys(self.codes, self.widths)
        starts, order = [], []
        for j, w in enumerate(self.widths):
            column = keys[:, j]
            order.append(np.argsort(column, kind="stable").astype(np.uint32))
            counts = np.bincount(column, minlength=1 << w)
            starts.append(np.concatenate([[0], np.cumsum(counts)]).astype(np.uint32 if n < 2**32 else np.uint64))
        self.starts = np.concatenate(starts)
        self.order = np.concatenate(order)

    def _ready(self) -> None:
        """Derived views (not stored): the hashes as 4 words, each table's offset into the arrays."""
        self._words = self.codes.view(np.uint64).reshape(-1, 4)
        self._start_base = np.cumsum([0] + [(1 << w) + 1 for w in self.widths])[:-1].astype(np.int64)
        self._order_base = (np.arange(len(self.widths)) * len(self.codes)).astype(np.int64)
        self._masks: dict[tuple[int, int], np.ndarray] = {}
        self._faiss = None
        if self.flat:
            import faiss

            self._faiss = faiss.IndexBinaryFlat(256)
            if len(self.codes):
                self._faiss.add(self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def nbytes(self) -> int:
        """Bytes the hashes and the tables take."""
        return int(self.codes.nbytes + self.starts.nbytes + self.order.nbytes)

    def arrays(self) -> dict[str, np.ndarray]:
        """What :meth:`from_arrays` needs, to keep in a file."""
        return {
            "mih_codes": self.codes, "mih_flat": np.array(self.flat), "mih_widths": np.array(self.widths, np.int64),
            "mih_starts": self.starts, "mih_order": self.order,
        }  # fmt: skip

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray]) -> MultiIndexHash:
        """The structure :meth:`arrays` described, without building it again."""
        self = cls.__new__(cls)
        self.codes = np.ascontiguousarray(data["mih_codes"], np.uint8).reshape(-1, 32)
        self.flat = bool(data["mih_flat"])
        self.widths = [int(w) for w in data["mih_widths"]]
        self.starts, self.order = data["mih_starts"], data["mih_order"]
        self._ready()
        return self

    def range_search(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every hash within ``radius`` bits (inclusive) of each query.

        Args:
            queries: (q, 32) uint8.
            radius: Largest Hamming distance.

        Returns:
            ``(query, position, distance)`` arrays, one row per (query, hash) found, each pair once.
        """
        queries = np.ascontiguousarray(queries, np.uint8).reshape(-1, 32)
        if len(self.codes) == 0 or len(queries) == 0:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        if self.flat:
            import faiss

            faiss.omp_set_num_threads(1)
            lims, dist, ids = self._faiss.range_search(queries, int(radius) + 1)  # FAISS: strictly below
            owner = np.repeat(np.arange(len(queries)), np.diff(lims).astype(np.int64))
            return owner, ids.astype(np.int64), dist.astype(np.int64)
        return self._mih_search(queries, int(radius))

    def _probes(self, j: int, most: int) -> np.ndarray:
        key = (self.widths[j], most)
        if key not in self._masks:
            self._masks[key] = _flips(*key)
        return self._masks[key]

    def _mih_search(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = len(self.widths)
        most = radius // m  # pigeonhole: some substring is within this many bits
        qkeys = _keys(queries, self.widths)
        lo_parts, hi_parts, owner_parts, base_parts = [], [], [], []
        for j in range(m):
            probes = qkeys[:, j][:, None] ^ self._probes(j, most)[None, :]  # (q, P)
            at = probes.astype(np.int64) + self._start_base[j]
            lo_parts.append(self.starts[at].ravel().astype(np.int64))
            hi_parts.append(self.starts[at + 1].ravel().astype(np.int64))
            owner_parts.append(np.repeat(np.arange(len(queries)), probes.shape[1]))
            base_parts.append(np.full(probes.size, self._order_base[j]))
        lo, hi = np.concatenate(lo_parts), np.concatenate(hi_parts)
        counts = hi - lo
        keep = counts > 0
        lo, counts = lo[keep], counts[keep]
        owner, base = np.concatenate(owner_parts)[keep], np.concatenate(base_parts)[keep]
        total = int(counts.sum())
        if total == 0:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        # The ranges [lo, lo + count) laid end to end: one gather of every candidate.
        first = np.cumsum(counts) - counts
        flat = np.arange(total) - np.repeat(first, counts) + np.repeat(lo + base, counts)
        pos = self.order[flat].astype(np.int64)
        who = np.repeat(owner, counts)
        qwords = queries.view(np.uint64).reshape(-1, 4)
        dist = np.bitwise_count(self._words[pos] ^ qwords[who]).sum(axis=1, dtype=np.int64)
        near = dist <= radius
        who, pos, dist = who[near], pos[near], dist[near]
        # A hash found through several substrings is listed once.
        pair = np.unique(who * len(self.codes) + pos, return_index=True)[1]
        return who[pair], pos[pair], dist[pair]
