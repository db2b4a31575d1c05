"""Neural descriptors in the index: made from the thumbnails it holds, searched through a FAISS float index
kept beside it (``INDEX.neural.npz``), and turned into candidates for ``search`` and ``dupes``.

The structures carry the index's two generation counters (files, neural descriptors) and the descriptor
version, and are rebuilt when one of them moved on, or when the file is missing or unreadable, as the hash
structures are (:mod:`~.searchindex`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..paths import save_arrays
from .fingerprint import read_thumb
from .index import Index
from .neural import DIM, FAST_FROM, NEURAL_VERSION, REGIONS, describer, normalised

__all__ = [
    "NEURAL_CANDIDATES", "NEURAL_MIN", "DUPES_MIN", "NeuralStructures", "NeuralHit", "fill_vectors",
    "neural_sidecar_path", "float_index", "neural_pairs",
]  # fmt: skip

# Indexed pictures a query takes from the neural search (best first; each is verified), and the least
# normalised similarity one needs (measured on the kit's search set and the partial copies: a copy's lies
# at 0.03-0.4, but so do some unrelated photos' - verification tells them apart).
NEURAL_CANDIDATES = 5
NEURAL_MIN = 0.02
# In dupes every file's whole picture is looked up among the others' regions; pairs above this normalised
# similarity are verified (the few best per file).
DUPES_MIN = 0.05
DUPES_PER_FILE = 4
# Neighbours a query's descriptor is looked up with (regions of several pictures), and the ranks of the
# pictures (after the best few, which may be copies) whose similarity is the query's background level.
_K = 64
_BACKGROUND = (4, 16)
# Vectors past which the flat scan becomes an inverted file.
_FLAT_VECTORS = 1_000_000
_FORMAT = 1


def neural_sidecar_path(index: Index) -> Path | None:
    """Where the neural structures of ``index`` are kept (``None`` for an index in memory)."""
    return None if index.path == ":memory:" else Path(index.path + ".neural.npz")


def fill_vectors(
    index: Index, progress: Callable[[str, int, int], None] | None = None, only: Iterable[bytes] | None = None
) -> int:
    """Describe every readable indexed picture that has no neural descriptors yet (from its thumbnail).

    Args:
        index: The index (written: the descriptors are stored there).
        progress: ``progress("neural", done, total)``.
        only: Content digests to describe (default: every indexed picture's).

    Returns:
        How many contents were described.
    """
    todo = index.neural_missing(NEURAL_VERSION)
    if only is not None:
        wanted = set(only)
        todo = [d for d in todo if d in wanted]
    if not todo:
        return 0
    net = describer()
    if len(todo) >= FAST_FROM:
        net.speed_up()
    done = 0
    if progress:
        progress("neural", 0, len(todo))
    for start in range(0, len(todo), 128):
        part = todo[start : start + 128]
        thumbs = index.thumbs_of(part)
        have = [d for d in part if d in thumbs]
        vectors = net.regions([read_thumb(thumbs[d]) for d in have])
        for d, v in zip(have, vectors, strict=True):
            index.put_neural(d, NEURAL_VERSION, v)
        done += len(part)
        if progress:
            progress("neural", done, len(todo))
    index.commit()
    index.forget_unused_neural()
    return done


def float_index(vectors: np.ndarray) -> object:
    """A FAISS inner-product index over L2-normalised ``vectors`` ((n, DIM) float32), codes kept as float16
    (half the memory of float32, the same ranking to 1e-3): exact while small, an inverted file beyond
    :data:`_FLAT_VECTORS`."""
    import faiss

    n = len(vectors)
    fp16 = faiss.ScalarQuantizer.QT_fp16
    if n < _FLAT_VECTORS:
        index = faiss.IndexScalarQuantizer(DIM, fp16, faiss.METRIC_INNER_PRODUCT)
    else:
        nlist = int(min(65536, 4 * np.sqrt(n)))
        index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(DIM), DIM, nlist, fp16, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors[np.random.default_rng(0).permutation(n)[: nlist * 40]])
        index.nprobe = 16
    if n:
        index.add(np.ascontiguousarray(vectors, np.float32))
    return index


@dataclass
class NeuralHit:
    """An indexed picture the neural search proposes for a query.

    Attributes:
        picture: Its position in :attr:`NeuralStructures.paths`.
        score: The normalised similarity (raw cosine less the query's background level).
        part: Which of the query's parts matched best (its position in the boxes given).
        region: Which of the picture's :data:`~.neural.REGIONS` matched best (0: the whole).
    """

    picture: int
    score: float
    part: int
    region: int


@dataclass
class NeuralStructures:
    """The neural descriptors of an index's pictures, searchable.

    Attributes:
        key: ``(files generation, neural generation, descriptor version)`` when built.
        paths: The pictures, in the order of ``owner``'s values.
        index: FAISS float index of every region descriptor (``REGIONS`` a picture, in picture order).
    """

    key: tuple[int, int, int]
    paths: list[str]
    index: object

    @staticmethod
    def key_of(index: Index) -> tuple[int, int, int]:
        """What the structures of ``index`` must have been built from to be current."""
        return index.generation, index.neural_generation, NEURAL_VERSION

    @classmethod
    def build(cls, index: Index) -> NeuralStructures:
        """Read every picture's descriptors from the index."""
        paths, vecs = [], []
        for path, v in index.neural_rows(NEURAL_VERSION, DIM):
            paths.append(path)
            vecs.append(v)
        flat = np.concatenate(vecs).astype(np.float32) if vecs else np.zeros((0, DIM), np.float32)
        return cls(cls.key_of(index), paths, float_index(flat))

    @classmethod
    def load_or_build(cls, index: Index) -> NeuralStructures:
        """The structures kept beside the index when they are current, else built (and kept)."""
        path = neural_sidecar_path(index)
        key = cls.key_of(index)
        if path is not None and path.exists():
            loaded = cls.load(path, key)
            if loaded is not None:
                return loaded
        built = cls.build(index)
        if path is not None:
            built.save(path)
        return built

    def save(self, path: Path) -> bool:
        """Write the structures whole (a temporary file renamed); False when the place is read-only."""
        import faiss

        arrays = {
            "format": np.array(_FORMAT), "key": np.array(self.key, np.int64),
            "paths": np.array(self.paths, dtype=str) if self.paths else np.zeros(0, "U1"),
            "index": faiss.serialize_index(self.index),
        }  # fmt: skip
        return save_arrays(path, arrays)

    @classmethod
    def load(cls, path: Path, key: tuple[int, int, int]) -> NeuralStructures | None:
        """The structures in ``path`` if they were built from ``key``, else ``None``."""
        import faiss

        try:
            with np.load(path, allow_pickle=False) as z:
                if int(z["format"]) != _FORMAT or tuple(int(k) for k in z["key"]) != tuple(key):
                    return None
                paths, blob = [str(p) for p in z["paths"]], z["index"]
            index = faiss.deserialize_index(blob)
        except (OSError, ValueError, KeyError, EOFError, RuntimeError):
            return None  # damaged or from another version: built again
        return cls(tuple(key), paths, index)  # type: ignore[arg-type]

    def search(self, parts: np.ndarray) -> list[NeuralHit]:
        """The pictures that the query's part descriptors ((m, DIM) float32) lie nearest, best first.

        Each picture's similarity is its best over the query's parts and its regions; the query's
        background level is the mean similarity of the pictures ranked :data:`_BACKGROUND` (fewer pictures
        than that: a fixed level, :data:`~.neural.BACKGROUND_LEVEL`).
        """
        import faiss

        n = len(self.paths)
        if n == 0 or not len(parts):
            return []
        faiss.omp_set_num_threads(1)
        sims, ids = self.index.search(np.ascontiguousarray(parts, np.float32), min(_K, n * REGIONS))
        best: dict[int, tuple[float, int, int]] = {}
        for part, (row_s, row_i) in enumerate(zip(sims, ids, strict=True)):
            for s, i in zip(row_s.tolist(), row_i.tolist(), strict=True):
                if i < 0:
                    continue
                pic, region = divmod(i, REGIONS)
                if s > best.get(pic, (-2.0, 0, 0))[0]:
                    best[pic] = (s, part, region)
        ranked = sorted(best.items(), key=lambda kv: -kv[1][0])
        raw = np.array([v[0] for _, v in ranked], np.float32)
        background = raw[_BACKGROUND[0] : _BACKGROUND[1]] if n > _BACKGROUND[1] else np.zeros(0, np.float32)
        scores = normalised(raw, background)
        return [NeuralHit(pic, float(sc), part, region) for (pic, (_, part, region)), sc in zip(ranked, scores, strict=True)]


def neural_pairs(vectors: list[np.ndarray]) -> dict[tuple[int, int], float]:
    """Candidate pairs of a collection from its neural descriptors: each file's whole picture looked up among
    every file's regions (a crop finds its original's part), normalised by the file's background level.

    Args:
        vectors: Per file, its (REGIONS, DIM) descriptors (an empty array for a file without).

    Returns:
        ``{(i, j): normalised similarity}`` for i < j, at least :data:`DUPES_MIN`, the best
        :data:`DUPES_PER_FILE` of each file.
    """
    import faiss

    have = [i for i, v in enumerate(vectors) if len(v)]
    if len(have) < 2:
        return {}
    flat = np.concatenate([vectors[i] for i in have]).astype(np.float32)
    owner = np.repeat(np.array(have), REGIONS)
    index = float_index(flat)
    faiss.omp_set_num_threads(1)
    queries = np.ascontiguousarray(np.stack([vectors[i][0] for i in have]).astype(np.float32))
    k = min(_K, len(flat))
    sims, ids = index.search(queries, k)
    out: dict[tuple[int, int], float] = {}
    for a, row_s, row_i in zip(have, sims, ids, strict=True):
        best: dict[int, float] = {}
        for s, i in zip(row_s.tolist(), row_i.tolist(), strict=True):
            if i < 0:
                continue
            b = int(owner[i])
            if b != a and s > best.get(b, -2.0):
                best[b] = s
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        raw = np.array([s for _, s in ranked], np.float32)
        background = raw[_BACKGROUND[0] : _BACKGROUND[1]] if len(raw) > _BACKGROUND[1] else np.zeros(0, np.float32)
        for (b, _), sc in list(zip(ranked, normalised(raw, background), strict=True))[:DUPES_PER_FILE]:
            if sc >= DUPES_MIN:
                key = (a, b) if a < b else (b, a)
                out[key] = max(out.get(key, -1.0), float(sc))
    return out
