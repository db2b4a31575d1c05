"""Range search over many 256-bit PDQ hashes: a flat scan while few, multi-index hashing beyond.

Multi-index hashing (Norouzi, Punjani and Fleet, "Fast search in Hamming space with multi-index hashing",
CVPR 2012; PDQ's own C++ matcher uses it too): ``t`` tables, each keyed by one ``w``-bit substring of the
hash. A search looks up, in each table, the bucket of the query's substring and of every variant of it with
up to ``s`` bits flipped, and computes the full distance of the hashes found there only. With ``w`` about
log2(n) a bucket holds a few hashes, so a query touches tens of thousands of hashes instead of n.

Pigeonhole: a hash that no table finds differs from the query in more than ``s`` bits in every one of the
``t`` substrings, so in at least ``t * (s + 1)`` bits. With the defaults (8 tables, 2-bit variants) every
hash within 23 bits is found; within 24-31 bits, a hash is missed only when its differing bits spread over
all 8 substrings three or more each: 2 in 10,000 at 31 bits, 1 in 100,000 over 0-31 bits evenly (measured
by ``benchmarks/bench_search.py --parts scale`` against a full scan). Ask for 11 tables for an exact search
at PDQ's 31 bits (and 35% more memory).

Memory, about 60 bytes a hash at 1M-10M hashes: the hashes (32), and per table the positions of the hashes
in the order of their substring (3 bytes each below 2^24 hashes) and where each substring value's bucket
starts (a 2-byte offset per value from a 4-byte start every 256 values; ``w`` is chosen so that a value has
2-4 hashes). The search loop is compiled with numba when it is installed (the ``scale`` extra: ~1 ms a query
of 8 forms at 10M hashes), else done with numpy (~10 times slower, same answers).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

__all__ = ["TABLES", "MultiIndexHash", "compiled", "substring_bits"]

# Tables of a multi-index hash: 8 keep within ~64 bytes a hash (see the module's docstring).
TABLES = 8


def substring_bits(n: int) -> int:
    """The substring width for ``n`` hashes: 1-2 hashes a substring value (16-24 bits)."""
    return int(min(24, max(16, math.floor(math.log2(max(n, 2))))))


def _flips(width: int, most: int) -> np.ndarray:
    """Every mask of ``width`` bits with at most ``most`` bits set (0 first)."""
    masks = [0]
    for k in range(1, most + 1):
        masks += [sum(1 << b for b in c) for c in itertools.combinations(range(width), k)]
    return np.array(masks, np.uint32)


def _keys(codes: np.ndarray, offset: int, width: int) -> np.ndarray:
    """(n,) uint32: the ``width``-bit substring of each hash starting at bit ``offset`` (bit order of the hex
    string: the first byte's high bit first)."""
    first = offset // 8
    window = np.zeros((len(codes), 4), np.uint8)
    take = min(4, 32 - first)
    window[:, :take] = codes[:, first : first + take]
    word = window.view(">u4")[:, 0].astype(np.uint32)
    return (word >> np.uint32(32 - offset % 8 - width)) & np.uint32((1 << width) - 1)


def _prefetch(array: np.ndarray, index: int) -> None:
    """Ask for ``array[index]``'s cache line ahead of its use (replaced by an LLVM intrinsic when compiled)."""


def _search_loop(words, qwords, qkeys, masks, hi, lo, shift, pos, pos_bytes, radius):  # noqa: ANN001, ANN202
    """The search, compiled by numba (see :func:`compiled`); ``words`` and ``lo`` flattened.

    In three passes rather than one loop, so that the memory reads of each pass do not wait on each other
    (a bucket's bounds, then its positions, then the hashes: each read is far from the last, and a loop
    whose length depends on the read before it stalls on every bucket); each pass asks for the memory it
    will read a few steps ahead.
    """
    nq, t = qkeys.shape
    n = words.shape[0] // 4
    values = lo.shape[0] // t  # 2**w + 1
    probes = masks.shape[0]
    # 1: every probed bucket's bounds.
    starts = np.empty(nq * t * probes, np.int64)
    counts = np.empty(nq * t * probes, np.int64)
    total = 0
    for q in range(nq):
        for j in range(t):
            row = j * values
            for m in range(min(8, probes)):
                _prefetch(lo, row + np.int64(qkeys[q, j] ^ masks[m]))
            for m in range(probes):
                if m + 8 < probes:
                    _prefetch(lo, row + np.int64(qkeys[q, j] ^ masks[m + 8]))
                k = np.int64(qkeys[q, j] ^ masks[m])
                a = np.int64(hi[j, k >> shift]) + np.int64(lo[row + k])
                c = np.int64(hi[j, (k + 1) >> shift]) + np.int64(lo[row + k + 1]) - a
                at = (q * t + j) * probes + m
                starts[at] = j * n + a
                counts[at] = c
                total += c
    # 2: the candidates' positions (and which query each is for).
    cand = np.empty(total, np.int64)
    owner = np.empty(total, np.int64)
    c = 0
    buckets = starts.shape[0]
    for at in range(buckets):
        if at + 8 < buckets:
            _prefetch(pos, pos_bytes * starts[at + 8])
        q = at // (t * probes)
        for i in range(starts[at], starts[at] + counts[at]):
            o = pos_bytes * i
            p = np.int64(pos[o]) | (np.int64(pos[o + 1]) << 8) | (np.int64(pos[o + 2]) << 16)
            if pos_bytes == 4:
                p |= np.int64(pos[o + 3]) << 24
            cand[c] = p
            owner[c] = q
            c += 1
    # 3: their distances (LLVM makes popcnt of this); the near ones kept.
    m1, m2, m4 = np.uint64(0x5555555555555555), np.uint64(0x3333333333333333), np.uint64(0x0F0F0F0F0F0F0F0F)
    h01 = np.uint64(0x0101010101010101)
    near = np.empty(total, np.int64)
    dist = np.empty(total, np.int64)
    kept = 0
    for c in range(total):
        if c + 16 < total:
            _prefetch(words, 4 * cand[c + 16])
        p, q = cand[c], owner[c]
        d = 0
        for w in range(4):
            x = words[4 * p + w] ^ qwords[q, w]
            x = x - ((x >> np.uint64(1)) & m1)
            x = (x & m2) + ((x >> np.uint64(2)) & m2)
            x = (x + (x >> np.uint64(4))) & m4
            d += np.int64((x * h01) >> np.uint64(56))
        near[kept] = c
        dist[kept] = d
        kept += d <= radius
    # A hash found through several tables is listed once (there are few near ones).
    out_q, out_p, out_d = np.empty(kept, np.int64), np.empty(kept, np.int64), np.empty(kept, np.int64)
    found = 0
    for r in range(kept):
        p, q = cand[near[r]], owner[near[r]]
        seen = False
        for e in range(found):
            if out_p[e] == p and out_q[e] == q:
                seen = True
                break
        if not seen:
            out_q[found], out_p[found], out_d[found] = q, p, dist[r]
            found += 1
    return out_q[:found], out_p[:found], out_d[:found]


def _prefetch_intrinsic() -> object:
    """LLVM's prefetch as a numba intrinsic: ``_prefetch(array, index)`` on a 1-D array."""
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def prefetch(typingctx, array, index):  # noqa: ANN001, ANN202, ARG001
        def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
            kind = signature.args[0]
            data = context.make_array(kind)(context, builder, args[0])
            at = cgutils.get_item_pointer(context, builder, kind, data, [args[1]], wraparound=False)
            byte, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32]), "llvm.prefetch.p0"
            )
            # read, keep in all cache levels, data cache
            builder.call(fn, [builder.bitcast(at, byte), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(array, index), codegen

    return prefetch


_COMPILED: list = []  # [the compiled loop, or None when numba is missing]


def compiled() -> object | None:
    """The compiled search loop (numba, the ``scale`` extra), compiled on first use; ``None`` without numba.

    Kept in numba's cache when a cache folder can be written (then loaded in ~0.1 s instead of compiled in
    ~2 s); compiled afresh in each process where none can.
    """
    global _prefetch
    if not _COMPILED:
        try:
            import numba
        except ImportError:
            _COMPILED.append(None)
            return None
        _prefetch = _prefetch_intrinsic()
        try:
            fn = numba.njit(cache=True, nogil=True)(_search_loop)
        except Exception:  # noqa: BLE001 - no writable cache folder (numba says so in several ways)
            fn = numba.njit(cache=False, nogil=True)(_search_loop)
        _COMPILED.append(fn)
    return _COMPILED[0]


class MultiIndexHash:
    """Hamming range search over (n, 32) uint8 hashes.

    Args:
        codes: The hashes.
        flat: Scan every hash (FAISS ``IndexBinaryFlat``) instead of building tables; default: when there
            are fewer than 200,000.
        bits: Substring width (default :func:`substring_bits` of n).
        tables: How many substrings are tables (at most ``256 // bits``).

    Attributes:
        use_numba: Search with numba's compiled loop when numba is installed (True), else with numpy.
    """

    use_numba = True

    def __init__(self, codes: np.ndarray, flat: bool | None = None, bits: int | None = None, tables: int = TABLES) -> None:
        self.codes = np.ascontiguousarray(codes, np.uint8).reshape(-1, 32)
        n = len(self.codes)
        self.flat = n < 200_000 if flat is None else bool(flat)
        width = int(bits or substring_bits(n))
        if not 8 <= width <= 25 or not 1 <= tables <= 256 // width:
            raise ValueError(f"{tables} tables of {width} bits do not fit 256 bits (8-25 bits a table)")
        self.widths = [] if self.flat else [width] * int(tables)
        self.hi = np.zeros((0, 0), np.uint32)
        self.lo = np.zeros((0, 0), np.uint8)
        self.shift = 0
        self.pos = np.zeros(0, np.uint8)
        self.pos_bytes = 3 if n < 1 << 24 else 4
        if not self.flat:
            self._build()
        self._ready()

    def _build(self) -> None:
        n, w, t = len(self.codes), self.widths[0], len(self.widths)
        values = 1 << w
        # Bucket starts: a 4-byte start every 2**shift values, and each value's 1-byte offset from it (a group
        # holding ~64 hashes, never 256 in practice; 2-byte offsets should it ever).
        self.shift = max(0, min(w, math.floor(math.log2(96 * values / max(n, 1)))))
        self.hi = np.zeros((t, (values >> self.shift) + 1), np.uint32)
        self.lo = np.zeros((t, values + 1), np.uint8)
        self.pos = np.zeros(t * n * self.pos_bytes, np.uint8)
        for j in range(t):
            keys = _keys(self.codes, j * w, w)
            order = np.argsort(keys, kind="stable").astype(np.uint32)
            starts = np.zeros(values + 1, np.int64)
            np.cumsum(np.bincount(keys, minlength=values), out=starts[1:])
            group = 1 << self.shift
            self.hi[j] = starts[::group]
            offsets = starts - np.repeat(starts[::group], group)[: values + 1]
            while offsets.max(initial=0) > np.iinfo(self.lo.dtype).max:
                self.lo = self.lo.astype(np.uint16 if self.lo.dtype == np.uint8 else np.uint32)
            self.lo[j] = offsets
            part = self.pos[j * n * self.pos_bytes : (j + 1) * n * self.pos_bytes].reshape(n, self.pos_bytes)
            part[:] = order.astype("<u4").view(np.uint8).reshape(n, 4)[:, : self.pos_bytes]

    def _ready(self) -> None:
        """Derived views (not stored): the hashes as 4 words; FAISS's flat index when flat."""
        self._words = self.codes.view(np.uint64).reshape(-1, 4)
        self._masks: dict[int, np.ndarray] = {}
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
        return int(self.codes.nbytes + self.hi.nbytes + self.lo.nbytes + self.pos.nbytes)

    def exact_within(self, radius: int) -> bool:
        """True when a search at ``radius`` finds every hash a full scan finds (pigeonhole)."""
        return self.flat or len(self.widths) * (self._most(radius) + 1) > radius

    def arrays(self) -> dict[str, np.ndarray]:
        """What :meth:`from_arrays` needs, to keep in a file."""
        return {
            "mih_codes": self.codes, "mih_flat": np.array(self.flat), "mih_widths": np.array(self.widths, np.int64),
            "mih_hi": self.hi, "mih_lo": self.lo, "mih_pos": self.pos, "mih_pos_bytes": np.array(self.pos_bytes),
            "mih_shift": np.array(self.shift),
        }  # fmt: skip

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray]) -> MultiIndexHash:
        """The structure :meth:`arrays` described, without building it again.

        Raises:
            KeyError: when ``data`` lacks one of the arrays (written by another version).
        """
        self = cls.__new__(cls)
        self.codes = np.ascontiguousarray(data["mih_codes"], np.uint8).reshape(-1, 32)
        self.flat = bool(data["mih_flat"])
        self.widths = [int(w) for w in data["mih_widths"]]
        self.hi, self.lo, self.pos = data["mih_hi"], data["mih_lo"], data["mih_pos"]
        self.pos_bytes, self.shift = int(data["mih_pos_bytes"]), int(data["mih_shift"])
        self._ready()
        return self

    def _most(self, radius: int) -> int:
        """Bits flipped in each table's probes: 2 at most (past that a probe set grows as w**3), fewer when
        fewer suffice to be exact at ``radius``."""
        t = max(1, len(self.widths))
        return max(0, min(2, math.ceil((radius + 1) / t) - 1))

    def range_search(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The hashes within ``radius`` bits (inclusive) of each query (every one when :meth:`exact_within`).

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
        w = self.widths[0]
        most = self._most(int(radius))
        if most not in self._masks:
            self._masks[most] = _flips(w, most)
        masks = self._masks[most]
        qkeys = np.stack([_keys(queries, j * w, w) for j in range(len(self.widths))], axis=1)
        qwords = queries.view(np.uint64).reshape(-1, 4)
        loop = compiled() if self.use_numba else None
        if loop is not None:
            return loop(self._words.ravel(), qwords, qkeys, masks, self.hi, self.lo.ravel(), self.shift, self.pos, self.pos_bytes, int(radius))
        return self._search_numpy(qwords, qkeys, masks, int(radius))

    def _search_numpy(
        self, qwords: np.ndarray, qkeys: np.ndarray, masks: np.ndarray, radius: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n, t = len(self.codes), len(self.widths)
        probes = (qkeys[:, :, None] ^ masks[None, None, :]).astype(np.int64)  # (q, t, P)
        table = np.broadcast_to(np.arange(t)[None, :, None], probes.shape)
        lo = self.hi[table, probes >> self.shift].astype(np.int64) + self.lo[table, probes]
        hi = self.hi[table, (probes + 1) >> self.shift].astype(np.int64) + self.lo[table, probes + 1]
        counts = (hi - lo).ravel()
        owner = np.broadcast_to(np.arange(len(qkeys))[:, None, None], probes.shape).ravel()
        start = (lo + table * n).ravel()
        keep = counts > 0
        counts, owner, start = counts[keep], owner[keep], start[keep]
        total = int(counts.sum())
        empty = np.zeros(0, np.int64)
        if total == 0:
            return empty, empty, empty
        # The buckets laid end to end: one gather of every candidate's position.
        first = np.cumsum(counts) - counts
        slots = np.arange(total) - np.repeat(first - start, counts)
        raw = self.pos.reshape(-1, self.pos_bytes)[slots].astype(np.int64)
        pos = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        if self.pos_bytes == 4:
            pos |= raw[:, 3] << 24
        who = np.repeat(owner, counts)
        dist = np.bitwise_count(self._words[pos] ^ qwords[who]).sum(axis=1, dtype=np.int64)
        near = dist <= radius
        who, pos, dist = who[near], pos[near], dist[near]
        # A hash found through several tables is listed once.
        pair = np.unique(who * n + pos, return_index=True)[1]
        return who[pair], pos[pair], dist[pair]
