"""Candidate pairs: which files might be copies of each other, found without comparing every pair.

Two sources, each a nearest-neighbour search in a FAISS binary index (no all-pairs matrix):

- PDQ: a file's 8 dihedral hashes against every file's upright hash. Finds copies of the whole picture,
  mirrored or turned by quarter turns, resized, recompressed, recoloured; the radius is generous
  (:data:`PDQ_RADIUS`, against PDQ's own 31) because every candidate is verified afterwards.
- Local features: each ORB descriptor of a file (and of its mirror image) votes for the files that own
  one of its nearest descriptors. A crop, a border, a small rotation or a caption keeps most keypoints,
  so copies that hash far apart still share many votes; unrelated pictures share a few by chance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PDQ_RADIUS", "MIN_VOTES", "pdq_pairs", "feature_pairs", "candidate_pairs"]

# PDQ hashes of unrelated photos lie ~128 bits apart (rarely under 80); copies that keep the whole frame
# stay under ~60 even through heavy JPEG, light or colour changes.
PDQ_RADIUS = 72
# Distinct descriptors of one file whose nearest neighbour lies in the other: chance gives 0-3 on
# unrelated photos of 96 descriptors; a crop to half the area keeps ~15 or more.
MIN_VOTES = 9
# Two ORB descriptors of the same point under resizing or JPEG usually differ in under 50 of 256 bits.
FEATURE_RADIUS = 56
# Candidates kept per file from the votes (most votes first): a picture has a handful of copies, and
# verification costs a comparison per pair.
PER_FILE = 8


def _unique_pairs(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Unordered pairs (i < j) without repeats, as an (n, 2) int array."""
    keep = i != j
    lo, hi = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
    if lo.size == 0:
        return np.zeros((0, 2), np.int64)
    return np.unique(np.stack([lo, hi], axis=1).astype(np.int64), axis=0)


def pdq_pairs(hashes: np.ndarray, radius: int = PDQ_RADIUS) -> dict[tuple[int, int], int]:
    """Pairs of files whose PDQ hashes (over the dihedral forms) lie within ``radius`` bits.

    Args:
        hashes: (n, 8, 32) uint8: each file's dihedral PDQ hashes, upright first.
        radius: Largest Hamming distance (inclusive).

    Returns:
        ``{(i, j): distance}`` for i < j, the smallest distance over the forms.
    """
    import faiss

    n = len(hashes)
    if n < 2:
        return {}
    index = faiss.IndexBinaryFlat(256)
    index.add(np.ascontiguousarray(hashes[:, 0]))
    queries = np.ascontiguousarray(hashes.reshape(n * 8, 32))
    lims, dist, ids = index.range_search(queries, radius + 1)
    owner = np.repeat(np.arange(n * 8) // 8, np.diff(lims).astype(np.int64))
    out: dict[tuple[int, int], int] = {}
    for a, b, d in zip(owner.tolist(), ids.tolist(), dist.tolist(), strict=False):
        if a == b:
            continue
        key = (a, b) if a < b else (b, a)
        if d < out.get(key, 257):
            out[key] = int(d)
    return out


def feature_pairs(
    features: Sequence[np.ndarray],
    mirrored: Sequence[np.ndarray],
    min_votes: int = MIN_VOTES,
    per_file: int = PER_FILE,
) -> dict[tuple[int, int], int]:
    """Pairs of files that share many local features (also through a mirror).

    Args:
        features: Per file, its (k, 32) uint8 ORB descriptors.
        mirrored: Per file, the descriptors of its mirror image.
        min_votes: Least number of a file's distinct descriptors that must vote for the other file.
        per_file: Most candidates kept per file (most votes first).

    Returns:
        ``{(i, j): votes}`` for i < j.
    """
    import faiss

    n = len(features)
    counts = np.array([len(f) for f in features])
    if n < 2 or counts.sum() == 0:
        return {}
    base = np.ascontiguousarray(np.concatenate([f for f in features if len(f)]))
    owner = np.repeat(np.arange(n), counts)
    total = len(base)
    if total < 20000:
        index = faiss.IndexBinaryFlat(256)
    else:
        # An inverted file: each descriptor is compared with those of a few nearby cells only, so the
        # search grows with the collection rather than with its square.
        nlist = int(min(65536, 4 * np.sqrt(total)))
        quantizer = faiss.IndexBinaryFlat(256)
        index = faiss.IndexBinaryIVF(quantizer, 256, nlist)
        index.train(base[np.random.default_rng(0).permutation(total)[: nlist * 40]])
        index.nprobe = 8
    index.add(base)
    votes: dict[tuple[int, int], int] = {}
    k = 4
    for form in (features, mirrored):
        qcounts = np.array([len(f) for f in form])
        if qcounts.sum() == 0:
            continue
        query = np.ascontiguousarray(np.concatenate([f for f in form if len(f)]))
        qowner = np.repeat(np.arange(n), qcounts)
        dist, ids = index.search(query, k)
        valid = (ids >= 0) & (dist <= FEATURE_RADIUS)
        rows = np.repeat(np.arange(len(query)), k).reshape(-1, k)
        q_img = qowner[rows[valid]]
        r_img = owner[ids[valid]]
        q_desc = rows[valid]
        other = q_img != r_img
        # One vote per (query descriptor, file): several near neighbours in one file count once.
        key = np.unique(np.stack([q_desc[other], r_img[other]], axis=1), axis=0)
        if len(key) == 0:
            continue
        pair = np.stack([qowner[key[:, 0]], key[:, 1]], axis=1)
        uniq, cnt = np.unique(pair, axis=0, return_counts=True)
        for (a, b), c in zip(uniq.tolist(), cnt.tolist(), strict=False):
            kk = (a, b) if a < b else (b, a)
            votes[kk] = max(votes.get(kk, 0), int(c))
    # The strongest few per file, and only those with enough votes.
    best: dict[int, list[tuple[int, tuple[int, int]]]] = {}
    for kk, c in votes.items():
        if c >= min_votes:
            best.setdefault(kk[0], []).append((c, kk))
            best.setdefault(kk[1], []).append((c, kk))
    out: dict[tuple[int, int], int] = {}
    for items in best.values():
        for c, kk in sorted(items, reverse=True)[:per_file]:
            out[kk] = c
    return out


def candidate_pairs(
    hashes: np.ndarray,
    features: Sequence[np.ndarray],
    mirrored: Sequence[np.ndarray],
    digests: Sequence[bytes],
) -> list[tuple[int, int]]:
    """Every candidate pair (i < j) from equal bytes, PDQ and local features, most likely first.

    Args:
        hashes: (n, 8, 32) dihedral PDQ hashes.
        features: Per file, ORB descriptors.
        mirrored: Per file, ORB descriptors of the mirror image.
        digests: Per file, the digest of its bytes.

    Returns:
        The pairs, exact copies and close hashes first.
    """
    score: dict[tuple[int, int], float] = {}
    by_digest: dict[bytes, list[int]] = {}
    for i, d in enumerate(digests):
        by_digest.setdefault(d, []).append(i)
    for same in by_digest.values():
        for a in same:
            for b in same:
                if a < b:
                    score[(a, b)] = -1.0
    if len(hashes):
        for kk, d in pdq_pairs(hashes).items():
            score[kk] = min(score.get(kk, 1e9), float(d))
    for kk, v in feature_pairs(features, mirrored).items():
        score.setdefault(kk, 256.0 - v)
    return sorted(score, key=lambda kk: score[kk])
