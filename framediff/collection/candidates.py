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

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "CANDIDATES_VERSION", "PDQ_RADIUS", "PDQ_TRUSTED", "MIN_VOTES", "MIN_SUPPORT", "STRONG_VOTES", "pdq_pairs", "feature_pairs", "layout_pairs",
    "candidate_pairs", "FeatureSource", "list_source", "feature_cap",
    "geometric_support", "geometric_fit",
]  # fmt: skip

# Bumped whenever which pairs are candidates changes (a stored run's groups are then not reused).
CANDIDATES_VERSION = 4
# PDQ hashes of unrelated photos lie ~128 bits apart (rarely under 80); copies that keep the whole frame
# stay under ~60 even through heavy JPEG, light or colour changes.
PDQ_RADIUS = 72
# Distinct descriptors of one file whose nearest neighbour lies in the other: chance gives 0-3 on
# unrelated photos of 96 descriptors; a crop to half the area keeps ~15 or more.
MIN_VOTES = 6
# Pairs this close in PDQ go to verification directly; farther ones need geometric support first. On the
# 1987-file bench library, PDQ 40-72 held 102 true pairs and 106 chance ones, and only half of the true
# ones had support (captions, pasted patches and borders move keypoints as much as they move PDQ): all go
# to verification, which costs ~10 ms a pair on whole-frame copies.
PDQ_TRUSTED = PDQ_RADIUS
# Features of A that B shows in one plausible geometry (see _plausible): chance gives under ~6 on
# unrelated photos.
MIN_SUPPORT = 9
# Votes past which a pair is verified without geometric support: chance gives 0-3 votes, and a border or a
# tilt that keeps dozens of keypoints can still defeat the support test's single affine fit (its RANSAC, or
# the plausibility of the map). On the kit's small library, pairs of 30 votes and more without support were
# 6 true copies and 7 other pictures (which verification turns away).
STRONG_VOTES = 30
# Two ORB descriptors of the same point under resizing or JPEG usually differ in under 50 of 256 bits.
FEATURE_RADIUS = 56
# Descriptors past which the feature search uses an inverted file (cells of similar descriptors, a few
# searched per query) instead of comparing every pair, and how many cells a query searches.
IVF_FROM = 20_000
NPROBE = 16
# Layout candidates: a file's nearest grey grids (16 x 16 cells, each picture's levels scaled by its own
# spread) are kept when this share of cells agree within this many spreads. Unrelated pictures agree on
# under 60% of the cells mostly; an edit of a fifth of the frame leaves ~80%. On the 1987-file bench
# library this adds 176 true pairs PDQ and keypoints missed (captions, flat pictures) for 35 chance ones.
LAYOUT_NEIGHBOURS = 4
LAYOUT_MATCH = 0.75
LAYOUT_TOLERANCE = 0.2
# Candidates kept per file from the votes (most votes first): a picture has a handful of copies, and
# verification costs a comparison per pair.
PER_FILE = 8
# Files past which PDQ candidates come from an inverted file of the upright hashes (cells around hashes
# drawn at random, PDQ_NPROBE searched per query) instead of comparing every hash with every other: an
# exact range search costs 8 n^2 comparisons (a day at a million files).
PDQ_IVF_FROM = 50_000
PDQ_NPROBE = 24
# Descriptors per file the feature search may use, in all (32 bytes each in the index): up to ~40k files
# every descriptor of a file is indexed and queried; past that each file gives only its strongest
# :func:`feature_cap` (down to LEAST_FEATURES at a million files), since each query's cost grows with the
# root of the index (cells to pick, then a few cells to scan) and 2 cores must get through a million
# files in minutes. Crops and captions that keep few of the strongest corners are then found less often
# in very large collections; whole-frame copies still come from PDQ.
DESCRIPTOR_BUDGET = 4_000_000
LEAST_FEATURES = 8
# Past this many descriptors the inverted file's cells are sized for the search's cost
# (sqrt(nprobe x descriptors) cells) and fewer are searched per query.
BIG_INDEX = 2_000_000
BIG_NPROBE = 4
# Files handled at a time while the candidates stream through a collection (bounds memory: a chunk's
# queries, their neighbours and votes take ~150 MB).
CHUNK = 5_000

# Per chunk of files [start, stop): their descriptors and those of their mirror images.
FeatureSource = Callable[[int, int], tuple[Sequence[np.ndarray], Sequence[np.ndarray]]]


def list_source(features: Sequence[np.ndarray], mirrored: Sequence[np.ndarray]) -> FeatureSource:
    """A :data:`FeatureSource` over descriptors held in memory."""
    return lambda start, stop: (features[start:stop], mirrored[start:stop])


def feature_cap(n: int) -> int:
    """Descriptors per file (strongest first) that the feature search uses in a collection of ``n`` files."""
    from .fingerprint import FEATURES

    return int(min(FEATURES, max(LEAST_FEATURES, DESCRIPTOR_BUDGET // max(1, n))))


def _search(index: object, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k-NN search, the queries split over the usable cores by our own threads.

    FAISS's OpenMP threads spin while they wait for each other: on a busy machine two of them ran 5x
    slower than one (measured: 10k ORB queries against 36k, 1.9 s vs 0.38 s), so it runs one thread per
    call and the calls run side by side (FAISS releases the GIL while it searches).
    """
    import faiss

    from ..workers import POOL, usable_cores

    faiss.omp_set_num_threads(1)
    parts = max(1, min(usable_cores(), len(query) // 2000))
    chunks = np.array_split(query, parts)
    results = list(POOL.map(lambda q: index.search(q, k), chunks)) if parts > 1 else [index.search(query, k)]
    return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])


def pdq_pairs(hashes: np.ndarray, radius: int = PDQ_RADIUS) -> dict[tuple[int, int], int]:
    """Pairs of files whose PDQ hashes (over the dihedral forms) lie within ``radius`` bits.

    Exact up to :data:`PDQ_IVF_FROM` files; past that an inverted file finds nearly all of them (a copy's
    hash lies in one of the few cells nearest to its original's in all but rare cases) in time that
    grows with n rather than n^2.

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
    upright = np.ascontiguousarray(hashes[:, 0])
    if n < PDQ_IVF_FROM:
        index = faiss.IndexBinaryFlat(256)
    else:
        nlist = int(4 * np.sqrt(n))
        quantizer = faiss.IndexBinaryFlat(256)
        quantizer.add(upright[np.random.default_rng(0).choice(n, nlist, replace=False)])
        index = faiss.IndexBinaryIVF(quantizer, 256, nlist)
        index.train(upright[:nlist])  # the quantizer is full: FAISS keeps its cells
        index.nprobe = PDQ_NPROBE
    index.add(upright)
    faiss.omp_set_num_threads(1)  # see _search
    step = max(1, CHUNK // 8)

    def part(start: int) -> np.ndarray:
        stop = min(n, start + step)
        lims, dist, ids = index.range_search(np.ascontiguousarray(hashes[start:stop].reshape(-1, 32)), radius + 1)
        owner = start + np.repeat(np.arange((stop - start) * 8) // 8, np.diff(lims).astype(np.int64))
        keep = owner != ids
        return _closest(owner[keep], ids[keep], dist[keep])

    from ..workers import POOL

    found = list(POOL.map(part, range(0, n, step)))
    rows = _closest(*(np.concatenate([f[:, k] for f in found]) for k in range(3)))
    return {(a, b): d for a, b, d in rows.tolist()}


def _closest(a: np.ndarray, b: np.ndarray, d: np.ndarray) -> np.ndarray:
    """(m, 3) rows ``(i, j, distance)``, i < j, each unordered pair once with its smallest distance."""
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    if lo.size == 0:
        return np.zeros((0, 3), np.int64)
    order = np.lexsort((d, hi, lo))
    lo, hi, d = lo[order], hi[order], d[order]
    first = np.ones(len(lo), bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return np.stack([lo[first], hi[first], d[first].astype(np.int64)], axis=1)


def feature_pairs(
    n: int,
    source: FeatureSource,
    min_votes: int = MIN_VOTES,
    per_file: int = PER_FILE,
) -> dict[tuple[int, int], int]:
    """Pairs of files that share many local features (also through a mirror).

    The files' descriptors stream through twice, :data:`CHUNK` files at a time (into the index, then as
    queries), so memory holds the index and one chunk, never every file's descriptors.

    Args:
        n: Files.
        source: Their descriptors and mirror-image descriptors, per chunk (:data:`FeatureSource`).
        min_votes: Least number of a file's distinct descriptors that must vote for the other file, when
            every descriptor is used; scaled down with :func:`feature_cap` in larger collections.
        per_file: Most candidates kept per file (most votes first).

    Returns:
        ``{(i, j): votes}`` for i < j.
    """
    from .fingerprint import FEATURES

    if n < 2:
        return {}
    if n <= CHUNK:  # one chunk: read it once for both passes
        source = list_source(*source(0, n))
    cap = feature_cap(n)
    # Votes asked scale with the descriptors used, but never under 2: at 8 a file (a million files) half-area
    # crops of real photos share 2 votes with their original far more often than 3 (40 crops of 10 photos:
    # 33 found with 2, 23 with 3), and one chance vote is common while two in the same file are rare; every
    # such pair still needs geometric support before verification.
    need = max(2, int(min_votes * cap / FEATURES + 0.5))
    index, owner = _feature_index(n, source, cap)
    if index is None:
        return {}
    found: list[np.ndarray] = []
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        feats, mirr = source(start, stop)
        for form in (feats, mirr):
            rows = _votes(index, owner, [f[:cap] for f in form], start)
            if len(rows):
                found.append(rows[rows[:, 2] >= need])
    if not found:
        return {}
    rows = np.concatenate(found)
    # A pair's votes: the most that either file, either way round, gave the other.
    rows = rows[np.lexsort((-rows[:, 2], rows[:, 1], rows[:, 0]))]
    first = np.ones(len(rows), bool)
    first[1:] = (rows[1:, 0] != rows[:-1, 0]) | (rows[1:, 1] != rows[:-1, 1])
    rows = rows[first]
    # The strongest few per file.
    out: dict[tuple[int, int], int] = {}
    for side in (0, 1):
        ranked = rows[np.lexsort((-rows[:, 2], rows[:, side]))]
        start_at = np.r_[0, np.flatnonzero(np.diff(ranked[:, side])) + 1]
        rank = np.arange(len(ranked)) - np.repeat(start_at, np.diff(np.r_[start_at, len(ranked)]))
        for a, b, c in ranked[rank < per_file].tolist():
            out[(a, b)] = c
    return out


def _feature_index(n: int, source: FeatureSource, cap: int) -> tuple[object | None, np.ndarray]:
    """Every file's first ``cap`` descriptors in a FAISS binary index, and which file owns each."""
    index: object | None = None
    owners: list[np.ndarray] = []
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        feats = [f[:cap] for f in source(start, stop)[0]]
        counts = np.array([len(f) for f in feats])
        if counts.sum() == 0:
            continue
        base = np.ascontiguousarray(np.concatenate([f for f in feats if len(f)]))
        if index is None:  # sized by the first chunk's descriptors (all of them when n <= CHUNK)
            index = _empty_index(base, int(counts.sum() * n / (stop - start)))
        index.add(base)
        owners.append(np.repeat(np.arange(start, stop), counts))
    return index, (np.concatenate(owners) if owners else np.zeros(0, np.int64))


def _empty_index(sample: np.ndarray, estimate: int) -> object:
    """A binary index fit for ``estimate`` descriptors, its cells (if any) drawn from ``sample``."""
    import faiss

    if estimate < IVF_FROM:
        return faiss.IndexBinaryFlat(256)
    # An inverted file: each descriptor is compared with those of a few nearby cells only, so the
    # search grows with the collection rather than with its square.
    # The cells are centred on descriptors drawn at random: k-means on binary codes (FAISS's
    # training) took 2 s of a 4 s search at 130k descriptors and found no better cells for voting.
    # A query compares itself with every cell's centre, then with the descriptors of nprobe cells: past
    # BIG_INDEX the cells are as many as makes those two costs equal, and fewer are searched.
    nprobe = NPROBE if estimate <= BIG_INDEX else BIG_NPROBE
    cells = 2 * np.sqrt(estimate) if estimate <= BIG_INDEX else np.sqrt(nprobe * estimate)
    nlist = int(min(65536, cells, len(sample)))
    centres = sample[np.random.default_rng(0).choice(len(sample), nlist, replace=False)]
    quantizer = faiss.IndexBinaryFlat(256)
    quantizer.add(centres)
    index = faiss.IndexBinaryIVF(quantizer, 256, nlist)
    index.train(centres)  # the quantizer is full: FAISS keeps its cells
    index.nprobe = nprobe  # (FAISS's wrapper keeps the quantizer alive as long as the index)
    return index


def _votes(index: object, owner: np.ndarray, form: Sequence[np.ndarray], start: int) -> np.ndarray:
    """(m, 3) rows ``(i, j, votes)`` (i < j) for the query files ``start, start + 1, ...`` of ``form``."""
    k = 4
    qcounts = np.array([len(f) for f in form])
    if qcounts.sum() == 0:
        return np.zeros((0, 3), np.int64)
    query = np.ascontiguousarray(np.concatenate([f for f in form if len(f)]))
    qowner = start + np.repeat(np.arange(len(form)), qcounts)
    dist, ids = _search(index, query, k)
    valid = (ids >= 0) & (dist <= FEATURE_RADIUS)
    rows = np.repeat(np.arange(len(query)), k).reshape(-1, k)
    q_img = qowner[rows[valid]]
    r_img = owner[ids[valid]]
    q_desc = rows[valid]
    other = q_img != r_img
    # One vote per (query descriptor, file): several near neighbours in one file count once. Pairs are
    # packed into one int64 each (numpy's unique over rows sorts ~10x slower than over numbers).
    files = np.int64(max(int(owner.max()), int(qowner.max())) + 1)
    key = _distinct(q_desc[other].astype(np.int64) * files + r_img[other])
    if len(key) == 0:
        return np.zeros((0, 3), np.int64)
    pair = np.sort(qowner[key // files].astype(np.int64) * files + key % files)
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    cnt = np.diff(np.r_[starts, len(pair)])
    pair = pair[starts]
    i, j = pair // files, pair % files
    return np.column_stack([np.minimum(i, j), np.maximum(i, j), cnt])


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of an int64 array, sorted (a sort and a mask: numpy's unique hashes them,
    several times slower on these arrays)."""
    v = np.sort(values)
    return v[np.r_[True, v[1:] != v[:-1]]] if len(v) else v


def _plausible(m: np.ndarray | None) -> bool:
    """Whether an affine map is one a copy can make: a scale (up to a squeeze of 1.5), a rotation, a crop.

    Chance matches between unrelated pictures fit shears, folds and wild squeezes; a copy's map keeps
    its axes nearly square to each other and does not mirror (mirrors are matched by their own features).
    """
    if m is None:
        return False
    a, b, c, d = float(m[0, 0]), float(m[0, 1]), float(m[1, 0]), float(m[1, 1])
    sx, sy = np.hypot(a, c), np.hypot(b, d)
    if a * d - b * c <= 0 or min(sx, sy) < 0.05:
        return False
    return 1 / 1.5 <= sx / sy <= 1.5 and abs(a * b + c * d) / (sx * sy) < 0.2


def geometric_support(
    fa: np.ndarray, pa: np.ndarray, fb: np.ndarray, pb: np.ndarray, mb: np.ndarray, qb: np.ndarray
) -> int:
    """How many of A's features B shows in one consistent geometry (also through a mirror).

    Features are matched by nearest descriptor (with Lowe's ratio test), then RANSAC fits one affine map
    (a crop, a scale, a squeeze, a small rotation); its inliers are the support. Unrelated pictures that
    share a few descriptors by chance share no geometry.

    Args:
        fa: A's descriptors; pa: their positions.
        fb: B's descriptors; pb: their positions.
        mb: B's mirror-image descriptors; qb: their positions.

    Returns:
        The larger inlier count of the two forms (0 when too few matches).
    """
    return geometric_fit(fa, pa, fb, pb, mb, qb)[0]


def geometric_fit(
    fa: np.ndarray, pa: np.ndarray, fb: np.ndarray, pb: np.ndarray, mb: np.ndarray, qb: np.ndarray
) -> tuple[int, np.ndarray | None, bool]:
    """:func:`geometric_support` with the map it found.

    Returns:
        ``(support, map, mirrored)``: the inlier count, the 2 x 3 affine map from A's feature positions
        to B's (to the mirror image's when ``mirrored``), ``None`` when no plausible map was found.
    """
    import cv2

    best: tuple[int, np.ndarray | None, bool] = (0, None, False)
    if len(fa) < 4:
        return best
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    for mirrored, (d, p) in enumerate(((fb, pb), (mb, qb))):
        if len(d) < 4:
            continue
        pairs = matcher.knnMatch(fa, d, k=2)
        good = [m[0] for m in pairs if len(m) == 2 and m[0].distance <= FEATURE_RADIUS and m[0].distance < 0.75 * m[1].distance]
        if len(good) < max(4, best[0]):
            continue
        src = np.float32([pa[m.queryIdx] for m in good])
        dst = np.float32([p[m.trainIdx] for m in good])
        # A similarity (turn, scale, shift) first: 2 points fix it, so RANSAC finds it among few matches
        # where a full affine fits a chance fold; then the affine, for squeezed copies.
        for fit in (cv2.estimateAffinePartial2D, cv2.estimateAffine2D):
            m, inliers = fit(src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0, maxIters=1000)
            if inliers is not None and _plausible(m) and int(inliers.sum()) > best[0]:
                best = (int(inliers.sum()), m, bool(mirrored))
    return best


def layout_pairs(
    grids: np.ndarray, levels: np.ndarray, aspects: np.ndarray, k: int = LAYOUT_NEIGHBOURS
) -> set[tuple[int, int]]:
    """Pairs that keep one layout in place: most cells of their grey grids agree.

    A pasted patch, a caption or a sticker moves PDQ (a global DCT) far and hides keypoints, and a
    nearly flat picture has neither stable hash bits nor keypoints; but the cells the edit leaves alone
    still match one by one. Each file's nearest grids (L2, FAISS) are kept when the aspect ratios, the
    grey means (within 16 levels) and spreads (within 1.5x) agree and at least :data:`LAYOUT_MATCH` of
    the cells lie within :data:`LAYOUT_TOLERANCE`.

    Args:
        grids: (n, g, g) grids from :func:`~.fingerprint.layout_grid` (float16 is enough).
        levels: (n, 2) grey means and spreads, from the same.
        aspects: (n,) width / height of each picture.
        k: Neighbours looked at per file.

    Returns:
        Pairs ``(i, j)``, i < j.
    """
    import faiss

    n = len(grids)
    if n < 2:
        return set()
    flat = grids.reshape(n, -1)
    g = grids.shape[1]
    big = n >= 20_000

    def rows(start: int, stop: int) -> np.ndarray:
        return np.ascontiguousarray(flat[start:stop], dtype=np.float32)

    def keys(start: int, stop: int) -> np.ndarray:
        if not big:
            return rows(start, stop)
        # Past 20k files the neighbours are looked up on the grids pooled 2 x 2 (64 numbers, a quarter
        # of the cost): a layout that agrees cell by cell agrees pooled too; the cells are checked below.
        part = grids[start:stop].astype(np.float32).reshape(-1, g // 2, 2, g // 2, 2).mean(axis=(2, 4))
        return np.ascontiguousarray(part.reshape(stop - start, -1))

    d = keys(0, 1).shape[1]
    if not big:
        index = faiss.IndexFlatL2(d)
    else:
        nlist = int(2 * np.sqrt(n))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
        sample = np.sort(np.random.default_rng(0).choice(n, min(n, nlist * 40), replace=False))
        index.train(_pooled_sample(keys, sample))
        index.nprobe = 8
    for start in range(0, n, CHUNK):
        index.add(keys(start, min(n, start + CHUNK)))
    out: set[tuple[int, int]] = set()
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        x = rows(start, stop)
        _, ids = _search(index, keys(start, stop), min(k + 1, n))
        i = start + np.repeat(np.arange(stop - start), ids.shape[1])
        j = ids.reshape(-1)
        keep = (j >= 0) & (j != i)
        i, j = i[keep], j[keep]
        ratio = aspects[i] / aspects[j]
        agree = (np.abs(x[i - start] - flat[j].astype(np.float32)) < LAYOUT_TOLERANCE).mean(axis=1)
        spread = (levels[i, 1] + 4) / (levels[j, 1] + 4)
        same_levels = (np.abs(levels[i, 0] - levels[j, 0]) <= 16) & (spread > 1 / 1.5) & (spread < 1.5)
        ok = (np.abs(ratio - 1) < 0.03) & same_levels & (agree >= LAYOUT_MATCH)
        out.update((int(a), int(b)) if a < b else (int(b), int(a)) for a, b in zip(i[ok], j[ok], strict=True))
    return out


def _pooled_sample(keys: Callable[[int, int], np.ndarray], sample: np.ndarray) -> np.ndarray:
    """The pooled grids of the files ``sample`` (sorted), read a chunk at a time."""
    out = []
    for start in range(0, int(sample[-1]) + 1, CHUNK):
        inside = sample[(sample >= start) & (sample < start + CHUNK)]
        if len(inside):
            out.append(keys(start, min(start + CHUNK, int(sample[-1]) + 1))[inside - start])
    return np.concatenate(out)


def candidate_pairs(
    hashes: np.ndarray,
    features: FeatureSource,
    digests: Sequence[bytes],
    layout: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> dict[tuple[int, int], float]:
    """Every candidate pair (i < j) from equal bytes, PDQ, local features and layouts.

    Args:
        hashes: (n, 8, 32) dihedral PDQ hashes.
        features: The files' ORB descriptors and those of their mirror images, per chunk
            (:func:`list_source` over lists held in memory).
        digests: Per file, the digest of its bytes.
        layout: ``(grids, levels, aspects)`` for :func:`layout_pairs`, when given.

    Returns:
        ``{(i, j): evidence}``: -1 for equal bytes, the PDQ distance (0-256) for close hashes,
        :data:`PDQ_TRUSTED` for pairs found by their layout (verified as they are), and ``1000 - votes``
        for pairs found by their features only.
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
    del by_digest
    if len(hashes):
        for kk, d in pdq_pairs(hashes).items():
            score[kk] = min(score.get(kk, 1e9), float(d))
    if layout is not None:
        for kk in layout_pairs(*layout):
            score.setdefault(kk, float(PDQ_TRUSTED))
    for kk, v in feature_pairs(len(digests), features).items():
        score.setdefault(kk, 1000.0 - v)
    return score
