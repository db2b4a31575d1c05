"""The search structures of an index: FAISS binary indexes of its PDQ hashes and ORB descriptors.

Built from the SQLite index and kept beside it (``INDEX.search.npz``), so that a search loads them instead of
reading every fingerprint; they carry the index's generation counter (moved on by every change of its files
or hash-list entries) and are rebuilt when it no longer matches, or when the file is missing or unreadable.

Three parts:

- the pictures' upright PDQ hashes (a query's 8 dihedral forms are searched against them: mirrors and
  quarter turns);
- the pictures' ORB descriptors, with the picture each belongs to (votes for crops, borders, rotations,
  pictures inside a screenshot or a collage);
- the hash-list entries' PDQ hashes, matched at PDQ's own distance: an exact FAISS ``IndexBinaryFlat``
  while the list is small, multi-index hashing (:mod:`~.mih`) beyond :data:`FLAT_HASHES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..paths import save_arrays
from .index import Index
from .mih import MultiIndexHash

__all__ = ["FLAT_HASHES", "SearchStructures", "binary_index", "sidecar_path"]

# A flat scan of 8 dihedral forms costs ~7 ms per query at 1M hashes on one core (measured, 2-core box):
# past this many, the multi-index hash answers in a fraction of that.
FLAT_HASHES = 200_000
# ORB descriptors past which a k-NN search over all of them becomes an inverted file (as candidates does).
FLAT_DESCRIPTORS = 2_000_000
_FORMAT = 2  # bumped when what the sidecar file holds changes


def sidecar_path(index: Index) -> Path | None:
    """Where the search structures of ``index`` are kept (``None`` for an index in memory)."""
    return None if index.path == ":memory:" else Path(index.path + ".search.npz")


def binary_index(base: np.ndarray, nprobe: int = 8) -> object:
    """A FAISS binary index for k-NN search over ``base`` ((n, 32) uint8): exact while small, an inverted
    file beyond :data:`FLAT_DESCRIPTORS` (each query then visits a few cells rather than every code)."""
    import faiss

    total = len(base)
    if total < FLAT_DESCRIPTORS:
        index = faiss.IndexBinaryFlat(256)
    else:
        nlist = int(min(65536, 4 * np.sqrt(total)))
        index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(256), 256, nlist)
        index.train(base[np.random.default_rng(0).permutation(total)[: nlist * 40]])
        index.nprobe = nprobe
    if total:
        index.add(np.ascontiguousarray(base))
    return index


@dataclass
class SearchStructures:
    """What a search looks candidates up in.

    Attributes:
        generation: The index's generation counter when these were built.
        paths: The indexed pictures, in the order of ``pdq`` and of ``owner``'s values.
        pdq: FAISS ``IndexBinaryFlat`` of the pictures' upright PDQ hashes.
        orb: FAISS binary index of every picture's ORB descriptors.
        owner: (m,) int32: the picture (position in ``paths``) each descriptor belongs to.
        hash_ids: The hash-list entries' ids, in the order of ``hashes``: (k,) int64, or (1,) holding the first
            when they run on one by one (as they do unless entries were removed): 8 bytes a hash not held.
            :meth:`entry_id` reads them.
        hashes: The entries' PDQ hashes: :class:`~.mih.MultiIndexHash` (exact range search).
    """

    generation: int
    paths: list[str]
    pdq: object
    orb: object
    owner: np.ndarray
    hash_ids: np.ndarray
    hashes: MultiIndexHash

    def entry_id(self, position: int) -> int:
        """The id of the hash-list entry at ``position`` of ``hashes``."""
        if len(self.hash_ids) == 1 and len(self.hashes) != 1:
            return int(self.hash_ids[0]) + int(position)
        return int(self.hash_ids[position])

    @classmethod
    def build(cls, index: Index) -> SearchStructures:
        """Read every picture's hashes and descriptors, and the hash-list entries, from the index."""
        import faiss

        generation = index.generation
        paths, codes, descs, owner = [], [], [], []
        for n, (path, pdq, feats) in enumerate(index.search_rows()):
            paths.append(path)
            codes.append(pdq)
            if len(feats):
                descs.append(feats)
                owner.append(np.full(len(feats), n, np.int32))
        pdq_index = faiss.IndexBinaryFlat(256)
        if codes:
            pdq_index.add(np.ascontiguousarray(np.stack(codes)))
        base = np.concatenate(descs) if descs else np.zeros((0, 32), np.uint8)
        ids, hashes = index.hash_arrays()
        if len(ids) > 1 and int(ids[-1] - ids[0]) == len(ids) - 1:
            ids = ids[:1]  # ids in order, none missing: the first says them all
        return cls(
            generation, paths, pdq_index, binary_index(base),
            np.concatenate(owner) if owner else np.zeros(0, np.int32), ids,
            MultiIndexHash(hashes, flat=len(hashes) < FLAT_HASHES),
        )  # fmt: skip

    @classmethod
    def load_or_build(cls, index: Index) -> SearchStructures:
        """The structures kept beside the index when they are current, else built (and kept)."""
        path = sidecar_path(index)
        if path is not None and path.exists():
            loaded = cls.load(path, index.generation)
            if loaded is not None:
                return loaded
        built = cls.build(index)
        if path is not None:
            built.save(path)
        return built

    def save(self, path: Path) -> bool:
        """Write the structures to ``path`` whole (a temporary file renamed); False when it cannot be written
        (a read-only place: the next search builds them again)."""
        import faiss

        arrays = {
            "format": np.array(_FORMAT), "generation": np.array(self.generation),
            "paths": np.array(self.paths, dtype=str) if self.paths else np.zeros(0, "U1"),
            "pdq": faiss.serialize_index_binary(self.pdq), "orb": faiss.serialize_index_binary(self.orb),
            "owner": self.owner, "hash_ids": self.hash_ids, **self.hashes.arrays(),
        }  # fmt: skip
        return save_arrays(path, arrays)

    @classmethod
    def load(cls, path: Path, generation: int) -> SearchStructures | None:
        """The structures in ``path`` if they were built at ``generation``, else ``None``."""
        import faiss

        try:
            with np.load(path, allow_pickle=False) as z:
                if int(z["format"]) != _FORMAT or int(z["generation"]) != generation:
                    return None
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError, EOFError):
            return None  # damaged or from another version: built again
        try:
            pdq = faiss.deserialize_index_binary(data["pdq"])
            orb = faiss.deserialize_index_binary(data["orb"])
        except RuntimeError:
            return None
        return cls(
            generation, [str(p) for p in data["paths"]], pdq, orb, data["owner"], data["hash_ids"],
            MultiIndexHash.from_arrays(data),
        )  # fmt: skip
