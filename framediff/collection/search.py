"""Search: which indexed pictures, and which hash-list entries, a query picture is a copy of.

Candidates come from the search structures (:mod:`~.searchindex`): the indexed pictures whose PDQ hash lies
near one of the query's 8 dihedral forms, and those that many of the query's ORB descriptors vote for (crops,
borders, rotations, a picture inside a screenshot or a collage). Every candidate is verified by compare's
verdict (:func:`~.verify.verify`, the indexed picture as A and the query as B), so nothing is listed that
did not verify. When the query holds the indexed picture as a part (a screenshot, a collage, a larger
scene), the feature geometry says where: that part of the query is verified on its own, and the match says
where it lies in the query.

Hash-list entries have no picture to verify against: they match by PDQ distance (PDQ's own 31 bits by
default) between the entry and any of the query's 8 dihedral forms, the query hashed as Meta's reference
hasher does (:func:`~.fingerprint.reference_pdq`) so that lists made elsewhere match.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import FramediffError, InputError
from ..workers import usable_cores
from .candidates import (
    FEATURE_RADIUS,
    MIN_SUPPORT,
    MIN_VOTES,
    PDQ_RADIUS,
    geometric_fit,
    geometric_support,
)
from .dupes import fingerprint_all, walk
from .fingerprint import (
    FINGERPRINT_VERSION,
    THUMB_SIDE,
    WORK_SIDE,
    Fingerprint,
    local_features,
    measure_picture,
    read_picture,
    read_thumb,
    reference_pdq,
)  # fmt: skip
from .hashlist import HashEntry, write_hash_list
from .index import Index
from .neural import FAST_FROM, query_boxes
from .neural import require as require_neural
from .neuralindex import NEURAL_CANDIDATES, NEURAL_MIN, NeuralHit, NeuralStructures, fill_vectors
from .pdq import MATCH_DISTANCE, hamming, pdq_dihedral
from .report import FileError, FileInfo, Member
from .searchindex import SearchStructures
from .verify import Verdict, verify

__all__ = [
    "MIN_HASH_QUALITY", "QUERY_FEATURES", "AddReport", "Match", "QueryResult", "Searcher", "add_pictures",
    "export_hashes", "search_queries",
]  # fmt: skip

# A query's descriptors: many more than an indexed picture keeps (64), on a larger picture, so that an
# indexed picture shown small inside the query (a collage, a screenshot) still has keypoints there.
QUERY_FEATURES = 256
# And a denser set on a larger picture, for finding an indexed picture shown small inside the query (a
# collage, a screenshot): there most keypoints of the sparse set fall on the rest of the query.
DENSE_FEATURES = 1024
QUERY_SIDE = 1024
# Indexed pictures kept per query from the feature votes (most votes first).
PER_QUERY = 8
# Votes at which a candidate is verified as a whole even without a geometric fit, for the most voted few.
STRONG_VOTES = 12
STRONG_PER_QUERY = 2
# Picture-shaped blocks of a query on a plain page tried against each of those (nearest in PDQ first).
BLOCKS_TRIED = 2
# PDQ's advice: hashes of quality under 50 (flat or nearly flat pictures) are not to be matched.
MIN_HASH_QUALITY = 50
# compare's explained share under which a verified pair is not listed (see Searcher._verify).
MIN_SCORE = 0.6
# Features of an indexed picture's thumbnail, measured when a query may hold it as a part, and how many of
# them must fit one map into the query: a low bar, since the part is verified by compare afterwards.
THUMB_FEATURES = 512
PART_SUPPORT = 5
# A part of the query smaller than this share of it is too small to verify; larger than the other share,
# it is the whole query (compare's own crop finding covers it).
_PART_MIN, _PART_MAX = 0.02, 0.85
# The keypoints an indexed picture needs before a part the neural search points at is verified against it
# (the kit's plain pictures, a grey ramp and a blank page, have 0-14; the copies it found have 65 or more).
PART_FEATURES = 24
# A neural candidate whose thumbnail did not verify is verified once more against its file read at more
# detail, for the best few candidates only: a crop of a third of a picture is ~220 px of its 384 px
# thumbnail, too little detail for compare's registration. Tried as (the file's long side, the query's): at
# 1.6 times the query's side a crop of 25-50% of the area lies at about the query's own scale; at the same
# side compare's registration sees both whole (measured on the benchmark's heavy crops: each try alone
# verifies 3 of the 4 the thumbnails missed, both together all 4).
DETAIL_HITS = 3
DETAIL_TRIES = ((1024, 640), (640, 640))


@dataclass
class AddReport:
    """What :func:`add_pictures` did.

    Attributes:
        files: Picture files found under the paths given.
        fingerprinted: Files fingerprinted this time (new or changed).
        removed: Files forgotten because they are gone from the folders given.
        errors: Files that could not be read.
        seconds: Wall time.
    """

    files: int
    fingerprinted: int
    removed: int
    errors: list[FileError] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "files": self.files, "fingerprinted": self.fingerprinted, "removed": self.removed,
            "errors": [{"path": e.path, "message": e.message} for e in self.errors], "seconds": round(self.seconds, 3),
        }  # fmt: skip


def add_pictures(
    index: Index, paths: Iterable[str | os.PathLike], jobs: int = 0, progress: Callable[[str, int, int], None] | None = None,
    cluster: Any = None,
    neural: bool = False,
) -> AddReport:
    """Fingerprint the pictures under ``paths`` into ``index`` (as ``framediff dupes`` does).

    Unchanged files (same size and modification time) are not read again; files gone from a folder given
    are forgotten.

    Args:
        index: The index written to (by this process only, in batches as the fingerprints come).
        paths: Folders (walked recursively) and files.
        jobs: Threads (0: every usable core); ignored with ``cluster``.
        progress: ``progress(stage, done, total)``.
        cluster: Fingerprint on a Dask cluster's workers (``tcp://HOST:PORT`` or ``local:N``, see
            :mod:`framediff.distribute`, or a connected :class:`~framediff.distribute.Cluster`); they read the
            files, which must lie on storage they share.
        neural: Also make the neural descriptors of the pictures that have none (the neural extra).

    Raises:
        InputError: when a path does not exist.
        ClusterError: when the cluster cannot be used.
        NeuralMissingError: when ``neural`` is asked without the extra (before any file is read).
    """
    if neural:
        require_neural()
    from ..distribute import work_pool

    t0 = time.perf_counter()
    given = [os.fspath(p) for p in paths]
    with work_pool(cluster, int(jobs) or usable_cores()) as (executor, parallel):
        files = list(dict.fromkeys(walk(given)))
        index.keep_fingerprints_of(FINGERPRINT_VERSION)
        run = fingerprint_all(files, index, parallel, progress, executor)
    folders = [os.path.abspath(p) for p in given if os.path.isdir(p)]
    removed = index.prune(folders, {p for p, _ in files})
    index.commit()
    if neural:
        fill_vectors(index, progress)
    return AddReport(len(files), run.fresh, removed, run.errors, time.perf_counter() - t0)


@dataclass
class Match:
    """An indexed picture (or a hash-list entry) that the query is a copy of.

    Attributes:
        path: The indexed picture (``None`` for a hash-list entry).
        label: The hash-list entry's label (``None`` for a picture).
        relation: How the query relates to the indexed picture, as :class:`~.verify.Verdict` says
            (``exact``, ``resized``, ``cropped``, ``bordered`` - the picture inside the query -, ``mirrored``,
            ``rotated``, ``recoloured``, ``edited``...); ``pdq`` for a hash-list entry.
        score: How alike, 0-1 (compare's explained share; ``1 - distance / 256`` for a hash-list entry).
        transform: compare's transform of the query relative to the picture.
        regions: Edited regions, ``[x, y, w, h]`` in the query's pixels.
        where: Where the picture lies in the query, ``[x, y, w, h]`` in the query's pixels, when the query
            holds it as a part (a border, a screenshot, a collage); ``None`` otherwise.
        distance: PDQ distance over the 8 dihedral forms, when the hashes are near.
        id: The hash-list entry's id.
        neural: The neural similarity (normalised: see :mod:`~.neural`) when the neural search proposed the
            picture; ``None`` otherwise.
    """

    path: str | None
    label: str | None
    relation: str
    score: float
    transform: dict[str, Any] | None = None
    regions: list[list[int]] = field(default_factory=list)
    where: list[int] | None = None
    distance: int | None = None
    id: int | None = None
    neural: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "path": self.path, "label": self.label, "relation": self.relation, "score": self.score,
            "transform": self.transform, "regions": self.regions, "where": self.where, "distance": self.distance,
            "id": self.id, "neural": self.neural,
        }  # fmt: skip

    def describe(self) -> str:
        """The relation in a few words (``cropped to ... of the indexed picture``, ``PDQ distance 12``)."""
        if self.path is None:
            return f"PDQ distance {self.distance}"
        words = Member(FileInfo(self.path, 0, 0, 0, 0, ""), self.relation, self.transform, self.score, self.regions).describe()
        # The query holding the picture: said as where it lies in the query.
        words = [w_ for w_ in words if not w_.startswith("border: ")]
        if self.where is not None:
            words.append("the indexed picture lies at {},{} {}x{} of the query".format(*self.where))
        return ", ".join(words).replace("kept picture", "indexed picture")


@dataclass
class QueryResult:
    """One query's answer.

    Attributes:
        query: The query (its path, or ``<picture>``).
        matches: Best first.
        error: Why the query could not be read (then no matches).
        width: The query's width in pixels (upright), which ``where`` and ``regions`` are in.
        height: Its height.
    """

    query: str
    matches: list[Match] = field(default_factory=list)
    error: str | None = None
    width: int = 0
    height: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "query": self.query, "width": self.width, "height": self.height,
            "matches": [m.to_dict() for m in self.matches], "error": self.error,
        }  # fmt: skip


@dataclass
class _Query:
    """A query picture, measured."""

    fp: Fingerprint
    image: np.ndarray  # at QUERY_SIDE: the dense features' picture, what a part is cut from
    features: np.ndarray
    points: np.ndarray
    mirrored: np.ndarray
    mirrored_points: np.ndarray
    reference: tuple[np.ndarray, int] | None
    dense: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)  # the parts the neural search described
    blocks: list[tuple[int, int, int, int]] | None = None  # _picture_boxes, when asked for
    block_hashes: list[np.ndarray] = field(default_factory=list)  # their PDQ hashes (8 forms each)


def _shrunk(image: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(image.shape[:2])
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image


def _spread_features(image: np.ndarray, count: int, grid: int = 8) -> tuple[np.ndarray, ...]:
    """ORB descriptors of a picture and of its mirror image, spread over it: the strongest keypoints of each
    cell of a ``grid`` x ``grid`` partition, so that text or a textured part (a screenshot's captions, a
    collage's gravel) cannot take every keypoint from the picture shown beside it.

    Returns:
        ``(features, points, mirrored, mirrored_points)`` as :func:`~.fingerprint.local_features` gives them.
    """
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    h, w = grey.shape
    per = max(1, count // (grid * grid))
    orb = cv2.ORB_create(nfeatures=4 * count, fastThreshold=8, edgeThreshold=15, patchSize=15)
    out: list[np.ndarray] = []
    for g in (grey, cv2.flip(grey, 1)):
        cells: dict[tuple[int, int], list] = {}
        for k in orb.detect(g, None):
            cells.setdefault((int(k.pt[0] * grid / w), int(k.pt[1] * grid / h)), []).append(k)
        keep = [k for c in cells.values() for k in sorted(c, key=lambda k: -k.response)[:per]]
        kps, d = orb.compute(g, keep) if keep else ((), None)
        if d is None or not kps:
            out += [np.zeros((0, 32), np.uint8), np.zeros((0, 2), np.float32)]
        else:
            out += [d, np.float32([k.pt for k in kps])]
    return out[0], out[1], out[2], out[3]


def _prepare(query: str | os.PathLike | np.ndarray | bytes, need_reference: bool, name: str = "<picture>") -> _Query:
    """Fingerprint a query (a file, a file's bytes, or a decoded BGR picture), with more features than an
    indexed picture has."""
    if isinstance(query, np.ndarray):
        full = query if query.ndim == 3 else cv2.cvtColor(query, cv2.COLOR_GRAY2BGR)
        full = np.ascontiguousarray(full[:, :, :3])
        image = _shrunk(full, QUERY_SIDE)
        fp = measure_picture(_shrunk(image, WORK_SIDE), full=(full.shape[1], full.shape[0]))
        reference = pdq_dihedral(full) if need_reference else None
    else:
        path = Path(name) if isinstance(query, bytes) else Path(query)
        data = query if isinstance(query, bytes) else path.read_bytes()
        image, size, taken = read_picture(path, data, max_side=QUERY_SIDE)
        fp = measure_picture(_shrunk(image, WORK_SIDE), str(path), data, size)
        if not isinstance(query, bytes):
            st = path.stat()
            fp.size, fp.mtime = st.st_size, st.st_mtime
        fp.taken = taken
        if need_reference:
            reference = pdq_dihedral(read_picture(path, data, max_side=None)[0], shrink="reference")
        else:
            reference = None
    feats, pts, mirr, mpts = local_features(_shrunk(image, WORK_SIDE), side=WORK_SIDE, count=QUERY_FEATURES)
    dense = _spread_features(image, DENSE_FEATURES)
    return _Query(fp, image, feats, pts, mirr, mpts, reference, dense)


def _votes(structures: SearchStructures, q: _Query) -> dict[int, int]:
    """Indexed pictures that many of the query's distinctive descriptors point to, upright or mirrored.

    A descriptor votes for the picture of its nearest neighbour when that neighbour is near and clearly
    nearer than the next one of another picture (Lowe's ratio test): the descriptors of text, foliage or
    gravel, which lie near those of many pictures, vote for none. Both query sets vote (the sparse one at
    the indexed pictures' scale, the dense one for pictures shown small inside the query); the strongest
    of each are kept.
    """
    import faiss

    if len(structures.owner) == 0:
        return {}
    faiss.omp_set_num_threads(1)
    out: dict[int, int] = {}
    for sets in ((q.features, q.mirrored), (q.dense[0], q.dense[2])):
        votes: dict[int, int] = {}
        for form in sets:
            if len(form) < 2:
                continue
            dist, ids = structures.orb.search(np.ascontiguousarray(form), 2)
            owner = np.where(ids >= 0, structures.owner[np.maximum(ids, 0)], -1)
            good = (ids[:, 0] >= 0) & (dist[:, 0] <= FEATURE_RADIUS)
            good &= (dist[:, 0] < 0.85 * dist[:, 1]) | (owner[:, 0] == owner[:, 1])
            for o, c in zip(*np.unique(owner[good, 0], return_counts=True), strict=True):
                votes[int(o)] = max(votes.get(int(o), 0), int(c))
        best = sorted(((c, o) for o, c in votes.items() if c >= MIN_VOTES), reverse=True)[:PER_QUERY]
        for c, o in best:
            out[o] = max(out.get(o, 0), c)
    return out


def _part_box(size: tuple[float, float], fit: np.ndarray, mirrored: bool, q: _Query) -> tuple[int, int, int, int] | None:
    """Where a picture of ``size`` (in the coordinates ``fit`` maps from) lies in the query's feature picture;
    ``None`` when that is (nearly) the whole query or too small a part of it."""
    w, h = size
    corners = np.float32([[0, 0], [w, 0], [0, h], [w, h]])
    mapped = corners @ fit[:, :2].T + fit[:, 2]
    qh, qw = q.image.shape[:2]
    if mirrored:
        mapped[:, 0] = qw - mapped[:, 0]
    x0, y0 = np.clip(mapped.min(axis=0), 0, [qw, qh])
    x1, y1 = np.clip(mapped.max(axis=0), 0, [qw, qh])
    share = (x1 - x0) * (y1 - y0) / (qw * qh)
    if not _PART_MIN <= share <= _PART_MAX:
        return None
    # A margin: the map is fitted on keypoints, which keep away from the picture's edges.
    mx, my = 0.06 * (x1 - x0), 0.06 * (y1 - y0)
    x0, y0, x1, y1 = max(0, x0 - mx), max(0, y0 - my), min(qw, x1 + mx), min(qh, y1 + my)
    return int(x0), int(y0), int(np.ceil(x1 - x0)), int(np.ceil(y1 - y0))


def _picture_boxes(image: np.ndarray, most: int = 8) -> list[tuple[int, int, int, int]]:
    """Rectangles of ``image`` that hold a picture laid on a plain page: a screenshot's post, a collage's
    tiles. What differs from the page's colour (the colour along the edge) is joined into blocks; a block
    that fills most of its bounding box, large enough to hash, is a picture's place. Largest first.

    Feature-poor pictures (smooth wallpapers, a few shapes) give their thumbnail too few keypoints to be
    found inside a larger query by them; hashed on its own, the block lies near the picture in PDQ.
    """
    small = _shrunk(image, 512)
    k = image.shape[1] / small.shape[1]
    edge = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]]).astype(np.int16)
    page = np.median(edge, axis=0)
    if float((np.abs(edge - page).max(axis=1) <= 12).mean()) < 0.6:
        return []  # no plain page around the query (a bar or a tile may touch its edge): a photo
    mask = (np.abs(small.astype(np.int16) - page).max(axis=2) > 12).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    area = small.shape[0] * small.shape[1]
    boxes = []
    for x, y, w, h, filled in stats[1:count].tolist():
        if _PART_MIN * area <= w * h <= _PART_MAX * area and min(w, h) >= 16 and filled >= 0.6 * w * h:
            boxes.append((w * h, (int(x * k), int(y * k), int(np.ceil(w * k)), int(np.ceil(h * k)))))
    return [b for _, b in sorted(boxes, reverse=True)[:most]]


class Searcher:
    """Searches one index; loads (or builds) its search structures once for many queries.

    Args:
        index: An open :class:`~.index.Index`.
        neural: Also take candidates from the neural descriptors (the neural extra): the indexed pictures
            that have none are described first (from their thumbnails, stored in the index) unless the index
            is open read-only.

    Raises:
        NeuralMissingError: when ``neural`` is asked without the extra.
    """

    def __init__(self, index: Index, neural: bool = False) -> None:
        self.index = index
        self.structures = SearchStructures.load_or_build(index)
        self._thumbs: dict[str, np.ndarray] = {}
        self.neural: NeuralStructures | None = None
        if neural:
            require_neural()
            if not index.read_only:
                fill_vectors(index)
            self.neural = NeuralStructures.load_or_build(index)

    @property
    def empty(self) -> bool:
        """True when the index holds neither pictures nor hash-list entries."""
        return not self.structures.paths and len(self.structures.hashes) == 0

    def search(
        self, query: str | os.PathLike | np.ndarray | bytes, top: int = 10, max_distance: int = MATCH_DISTANCE,
        name: str | None = None,
    ) -> QueryResult:
        """The indexed pictures and hash-list entries ``query`` is a copy of, best first.

        Args:
            query: A picture file, a picture file's bytes, or a decoded picture (BGR array).
            top: The most matches listed.
            max_distance: PDQ bits at which a hash-list entry matches (any of the 8 dihedral forms).
            name: What the result (and its messages) call the query (default: its path, or ``<picture>``).

        Returns:
            The :class:`QueryResult` (``error`` set when the query cannot be read).
        """
        if name is None:
            name = "<picture>" if isinstance(query, np.ndarray | bytes) else os.fspath(query)
        try:
            q = _prepare(query, need_reference=len(self.structures.hashes) > 0, name=name)
        except FramediffError as e:
            return QueryResult(name, error=e.message)
        except OSError as e:
            return QueryResult(name, error=f"{name}: cannot read it ({e.strerror or e})")
        matches = self._pictures(q) + self._hash_matches(q, max_distance)
        matches.sort(key=lambda m: (-m.score, m.distance if m.distance is not None else 999, m.path or m.label or ""))
        return QueryResult(name, matches[: max(0, int(top))], None, q.fp.width, q.fp.height)

    def _pictures(self, q: _Query) -> list[Match]:
        """Candidates among the indexed pictures, verified."""
        s = self.structures
        if not s.paths:
            return []
        lims, dist, ids = s.pdq.range_search(np.ascontiguousarray(q.fp.pdq), PDQ_RADIUS + 1)
        near: dict[int, int] = {}
        for i, d in zip(ids.tolist(), dist.tolist(), strict=True):
            near[i] = min(near.get(i, 999), int(d))
        votes = _votes(s, q)
        found = [(d, i) for i, d in near.items()] + [(999, i) for i in votes if i not in near]
        blocks = self._blocks(q, set(near))
        # The pictures most of the query's descriptors point to are verified whatever their geometry says:
        # a smooth picture keeps too few keypoints (a dozen) for a map to be fitted on a turned crop of it.
        strong = sorted(((c, i) for i, c in votes.items() if c >= STRONG_VOTES), reverse=True)[:STRONG_PER_QUERY]
        hits = self._neural_hits(q)
        # The neural structures' order of pictures is their own: matched to the hash structures' by path.
        tried = {s.paths[i] for _, i in found}
        ranks = {path: k for k, path in enumerate(hits)}
        out = []
        for d, i in sorted(found):
            ref = self.index.get(s.paths[i])
            if not isinstance(ref, Fingerprint):
                continue  # forgotten or unreadable since the structures were built
            hit = hits.get(ref.path)
            voted = any(i == j for _, j in strong)
            match = self._verified(ref, q, None if d == 999 else d, trusted=hit is not None or voted)
            if match is None and hit is not None:
                match = self._by_regions(ref, q, hit, None if d == 999 else d)
            if match is None and i in blocks:
                match = self._in_query(ref, q, self._thumb(ref), blocks[i][0], None)
            if match is None and voted:
                # A picture the query's descriptors point to, cut by the page it lies on (a collage's tile
                # clips it): each block of the query is tried.
                for box in self._nearest_blocks(q, ref)[:BLOCKS_TRIED]:
                    match = self._in_query(ref, q, self._thumb(ref), box, None)
                    if match is not None:
                        break
            if match is None and hit is not None and ranks[ref.path] < DETAIL_HITS:
                match = self._at_detail(ref, q, None if d == 999 else d)
            blocks.pop(i, None)
            if match is not None:
                match.neural = None if hit is None else round(hit.score, 4)
                out.append(match)
        for path, hit in hits.items():
            if path in tried:
                continue
            ref = self.index.get(path)
            if not isinstance(ref, Fingerprint):
                continue
            match = self._verified(ref, q, None, trusted=True) or self._by_regions(ref, q, hit, None)
            if match is None and ranks[path] < DETAIL_HITS:
                match = self._at_detail(ref, q, None)
            if match is not None:
                match.neural = round(hit.score, 4)
                out.append(match)
        for i, (box, _) in sorted(blocks.items(), key=lambda kv: kv[1][1]):
            ref = self.index.get(s.paths[i]) if s.paths[i] not in hits else None
            if isinstance(ref, Fingerprint):
                match = self._in_query(ref, q, self._thumb(ref), box, None)
                if match is not None:
                    out.append(match)
        return out

    @staticmethod
    def _boxes(q: _Query) -> list[tuple[int, int, int, int]]:
        if q.blocks is None:
            q.blocks = _picture_boxes(q.image)
        return q.blocks

    @staticmethod
    def _nearest_blocks(q: _Query, ref: Fingerprint) -> list[tuple[int, int, int, int]]:
        """The query's blocks, the one whose PDQ hash lies nearest the picture's first (a clipped tile
        keeps part of its hash)."""
        boxes = q.blocks or []
        if not q.block_hashes or len(q.block_hashes) != len(boxes):
            return boxes
        far = [int(np.asarray(hamming(ref.pdq[0], h)).min()) for h in q.block_hashes]
        return [boxes[k] for k in np.argsort(far, kind="stable")]

    def _blocks(self, q: _Query, near: set[int]) -> dict[int, tuple[tuple[int, int, int, int], int]]:
        """Indexed pictures whose PDQ hash lies near that of a picture-shaped block of the query (see
        :func:`_picture_boxes`): ``picture -> (the block in the query's picture, PDQ distance)``."""
        out: dict[int, tuple[tuple[int, int, int, int], int]] = {}
        q.block_hashes = []
        for box in self._boxes(q):
            x, y, w, h = box
            hashes, quality = pdq_dihedral(_shrunk(q.image[y : y + h, x : x + w], WORK_SIDE))
            q.block_hashes.append(hashes)
            if quality < MIN_HASH_QUALITY // 2:
                continue
            lims, dist, ids = self.structures.pdq.range_search(np.ascontiguousarray(hashes), PDQ_RADIUS + 1)
            for i, d in zip(ids.tolist(), dist.tolist(), strict=True):
                if i not in near and (i not in out or d < out[i][1]):
                    out[i] = (box, int(d))
        return out

    def _neural_hits(self, q: _Query) -> dict[str, NeuralHit]:
        """The neural search's candidates for the query: ``path -> hit``, the best :data:`NEURAL_CANDIDATES`
        at :data:`NEURAL_MIN` or more (the query's parts are described here, from its feature picture)."""
        if self.neural is None or not self.neural.paths:
            return {}
        from .neural import describer

        h, w = q.image.shape[:2]
        q.boxes = query_boxes(w, h)
        parts = describer().whole([q.image[y : y + bh, x : x + bw] for x, y, bw, bh in q.boxes])
        hits = [hit for hit in self.neural.search(parts) if hit.score >= NEURAL_MIN][:NEURAL_CANDIDATES]
        return {self.neural.paths[hit.picture]: hit for hit in hits}

    def _by_regions(self, ref: Fingerprint, q: _Query, hit: NeuralHit, distance: int | None) -> Match | None:
        """Verification guided by where the neural descriptors matched: the query's part that matched the
        picture (the picture inside a collage or a screenshot), or the picture's region that matched the
        query (a heavy crop), each verified on its own."""
        from .neural import CELLS, REGION_CELLS

        if len(ref.features) < PART_FEATURES:
            return None  # a plain picture (a gradient, a blank page) "verifies" inside any plain part
        thumb = self._thumb(ref)
        if hit.part > 0:
            x, y, w, h = q.boxes[hit.part]
            match = self._in_query(ref, q, thumb, (x, y, w, h), distance)
            if match is not None:
                return match
        if hit.region > 0:
            cx, cy, cw, ch = REGION_CELLS[hit.region]
            th, tw = thumb.shape[:2]
            x0, y0 = cx * tw // CELLS, cy * th // CELLS
            x1, y1 = (cx + cw) * tw // CELLS, (cy + ch) * th // CELLS
            return self._of_ref(ref, q, thumb[y0:y1, x0:x1], (x0, y0), distance)
        return None

    def _at_detail(self, ref: Fingerprint, q: _Query, distance: int | None) -> Match | None:
        """The query verified against the indexed picture's file read at more detail than its thumbnail
        (:data:`DETAIL_TRIES`), as a whole: compare finds the crop. Only a file unchanged since it was
        indexed (its size and time), larger than its thumbnail, with keypoints enough to be told apart
        from another plain picture, is read."""
        if len(ref.features) < PART_FEATURES or max(ref.width, ref.height) <= 1.25 * THUMB_SIDE:
            return None
        try:
            st = os.stat(ref.path)
            if (st.st_size, st.st_mtime) != (ref.size, ref.mtime):
                return None  # another picture now, perhaps: the index's thumbnail was all there is to go by
            big = read_picture(ref.path, max_side=max(side for side, _ in DETAIL_TRIES))[0]
        except (FramediffError, OSError):
            return None
        for side, query_side in DETAIL_TRIES:
            v = self._verify(ref, q.fp, _shrunk(big, side), _shrunk(q.image, query_side))
            if v.copy:
                crop = (v.transform or {}).get("crop") or {}
                return Match(ref.path, None, v.relation, v.score, v.transform, v.regions, crop.get("a_in_b"), distance)
        return None

    def _verified(self, ref: Fingerprint, q: _Query, distance: int | None, trusted: bool = False) -> Match | None:
        """The match of ``ref`` when the query verifies as a copy of it (whole, or a part of the query);
        ``trusted``: compared whole even without feature support (a neural candidate, or one most of the
        query's descriptors point to)."""
        support, fit, mirrored = geometric_fit(ref.features, ref.points, q.features, q.points, q.mirrored, q.mirrored_points)
        # Hash-near pairs are verified directly (unrelated photos lie ~128 bits apart, and verification
        # decides); feature votes need geometry too: the query's many descriptors, or its fingerprint's
        # (at the indexed pictures' scale), either way round.
        thumb = self._thumb(ref)
        dense: tuple[int, np.ndarray | None, bool] | None = None
        whole = trusted or distance is not None or support >= MIN_SUPPORT or self._supported(ref, q)
        if not whole:
            # The fingerprints' few keypoints may miss a turned copy cut to its inside (a fifth of the
            # picture and its strongest corners gone): the thumbnail's many against the query's dense set.
            dense = self._dense_fit(thumb, q)
            whole = dense[0] >= MIN_SUPPORT
        if whole:
            v = self._verify(ref, q.fp, thumb)
            if v.copy:
                crop = (v.transform or {}).get("crop") or {}
                return Match(ref.path, None, v.relation, v.score, v.transform, v.regions, crop.get("a_in_b"), distance)
        return self._part(ref, q, thumb, distance, dense)

    @staticmethod
    def _dense_fit(thumb: np.ndarray, q: _Query) -> tuple[int, np.ndarray | None, bool]:
        """The map of the indexed picture's thumbnail (its features' positions) into the query's picture, by
        :data:`THUMB_FEATURES` features of the thumbnail and the query's dense set."""
        feats, pts, _, _ = local_features(thumb, side=max(thumb.shape[:2]), count=THUMB_FEATURES)
        return geometric_fit(feats, pts, *q.dense)

    def _part(
        self, ref: Fingerprint, q: _Query, thumb: np.ndarray, distance: int | None,
        dense: tuple[int, np.ndarray | None, bool] | None = None,
    ) -> Match | None:  # fmt: skip
        """A copy of a part: the indexed picture inside the query (a collage, a screenshot), or the query a
        small part of the indexed picture (a heavy crop). Where the features of the picture's thumbnail lie
        in the query says which part (``dense``: that map when measured already); that part is verified on
        its own."""
        support, fit, mirrored = dense if dense is not None else self._dense_fit(thumb, q)
        if fit is None or support < PART_SUPPORT:
            return None
        box = _part_box((thumb.shape[1], thumb.shape[0]), fit, mirrored, q)
        if box is not None:
            return self._in_query(ref, q, thumb, box, distance)
        inverse = cv2.invertAffineTransform(fit)
        qh, qw = q.image.shape[:2]
        corners = np.float32([[0, 0], [qw, 0], [0, qh], [qw, qh]]) @ inverse[:, :2].T + inverse[:, 2]
        th, tw = thumb.shape[:2]
        x0, y0 = np.clip(corners.min(axis=0), 0, [tw, th])
        x1, y1 = np.clip(corners.max(axis=0), 0, [tw, th])
        if not _PART_MIN <= (x1 - x0) * (y1 - y0) / (tw * th) <= _PART_MAX:
            return None
        mx, my = 0.06 * (x1 - x0), 0.06 * (y1 - y0)
        x0, y0, x1, y1 = int(max(0, x0 - mx)), int(max(0, y0 - my)), int(min(tw, x1 + mx)), int(min(th, y1 + my))
        return self._of_ref(ref, q, thumb[y0:y1, x0:x1], (x0, y0), distance)

    def _in_query(
        self, ref: Fingerprint, q: _Query, thumb: np.ndarray, box: tuple[int, int, int, int], distance: int | None
    ) -> Match | None:
        """The indexed picture verified against the part ``box`` of the query's picture."""
        x, y, w, h = box
        part = measure_picture(q.image[y : y + h, x : x + w])
        v = self._verify(ref, part, thumb)
        if not v.copy:
            return None
        kx, ky = q.fp.width / q.image.shape[1], q.fp.height / q.image.shape[0]
        crop = dict((v.transform or {}).get("crop") or {})
        inner = crop.get("a_in_b") or [0, 0, w, h]
        where = [round((x + inner[0]) * kx), round((y + inner[1]) * ky), round(inner[2] * kx), round(inner[3] * ky)]
        transform = dict(v.transform or {})
        crop["a_in_b"] = where
        transform["crop"] = crop
        relation = v.relation if v.relation in ("edited", "mirrored", "rotated") else "bordered"
        regions = [[round((x + r[0]) * kx), round((y + r[1]) * ky), round(r[2] * kx), round(r[3] * ky)] for r in v.regions]
        return Match(ref.path, None, relation, v.score, transform, regions, where, distance)

    def _of_ref(
        self, ref: Fingerprint, q: _Query, part: np.ndarray, at: tuple[int, int], distance: int | None
    ) -> Match | None:
        """The query verified against ``part`` of the indexed picture's thumbnail (cut at ``at``)."""
        if min(part.shape[:2]) < 24:
            return None
        a = measure_picture(part, ref.path)
        v = self._verify(a, q.fp, part)
        if not v.copy:
            return None
        k = ref.width / self._thumb(ref).shape[1]
        crop = dict((v.transform or {}).get("crop") or {})
        inner = crop.get("b_in_a") or [0, 0, part.shape[1], part.shape[0]]
        box = [round((at[0] + inner[0]) * k), round((at[1] + inner[1]) * k), round(inner[2] * k), round(inner[3] * k)]
        transform = dict(v.transform or {})
        transform["crop"] = {"b_in_a": box}
        transform["scale"] = round(float(transform.get("scale", 1.0)) / k, 4)
        relation = v.relation if v.relation in ("edited", "mirrored", "rotated") else "cropped"
        return Match(ref.path, None, relation, v.score, transform, v.regions, None, distance)

    @staticmethod
    def _supported(ref: Fingerprint, q: _Query) -> bool:
        f = q.fp
        tries = (
            (ref.features, ref.points, f.features, f.points, f.mirrored, f.mirrored_points),
            (f.features, f.points, ref.features, ref.points, ref.mirrored, ref.mirrored_points),
            (q.features, q.points, ref.features, ref.points, ref.mirrored, ref.mirrored_points),
        )
        return any(geometric_support(*t) >= MIN_SUPPORT for t in tries)

    def _thumb(self, ref: Fingerprint) -> np.ndarray:
        if ref.path not in self._thumbs:
            if len(self._thumbs) > 256:
                self._thumbs.clear()
            self._thumbs[ref.path] = read_thumb(ref.thumb)
        return self._thumbs[ref.path]

    @staticmethod
    def _verify(ref: Fingerprint, query: Fingerprint, thumb: np.ndarray, picture: np.ndarray | None = None) -> Verdict:
        try:
            v = verify(ref, query, thumb, read_thumb(query.thumb) if picture is None else picture)
        except FramediffError:
            return Verdict("different", score=0.0)
        # A copy explains most of the picture's structure (0.77 or more on the benchmark's copies, edits
        # and partial copies included); under MIN_SCORE it is a chance alignment of two plain pictures.
        return v if v.score >= MIN_SCORE else Verdict("different", score=v.score)

    def _hash_matches(self, q: _Query, max_distance: int) -> list[Match]:
        """Hash-list entries within ``max_distance`` of one of the query's reference hashes."""
        if q.reference is None or len(self.structures.hashes) == 0:
            return []
        hashes, quality = q.reference
        if quality < MIN_HASH_QUALITY:
            return []
        _, pos, dist = self.structures.hashes.range_search(hashes, int(max_distance))
        best: dict[int, int] = {}
        for p, d in zip(pos.tolist(), dist.tolist(), strict=True):
            best[p] = min(best.get(p, 999), int(d))
        ids = {self.structures.entry_id(p): d for p, d in best.items()}
        entries = self.index.hash_entries(ids)
        return [
            Match(None, entries[i].label if i in entries else None, "pdq", round(1 - d / 256, 4), distance=d, id=i)
            for i, d in ids.items()
        ]


def search_queries(
    index: Index,
    queries: Iterable[str | os.PathLike | np.ndarray],
    top: int = 10,
    max_distance: int = MATCH_DISTANCE,
    on_result: Callable[[QueryResult], None] | None = None,
    neural: bool = False,
) -> list[QueryResult]:
    """Search many queries: pictures, folders (their pictures, recursively) or decoded pictures.

    Args:
        index: The index searched.
        queries: Files, folders and arrays.
        top: The most matches per query.
        max_distance: PDQ bits for hash-list entries.
        on_result: Called with each result as soon as it is known.
        neural: Also take candidates from the neural descriptors (see :class:`Searcher`).

    Raises:
        InputError: when a query path does not exist, or the index holds nothing to search.
        NeuralMissingError: when ``neural`` is asked without the extra.
    """
    searcher = Searcher(index, neural=neural)
    if searcher.empty:
        raise InputError(f"the index {index.path} holds no pictures and no hashes", "add some with framediff index")
    items: list[str | os.PathLike | np.ndarray] = []
    for qq in queries:
        if isinstance(qq, np.ndarray):
            items.append(qq)
        elif os.path.isdir(qq):
            items += [p for p, _ in walk([qq])]
        else:
            items.append(qq)
    if searcher.neural is not None and len(items) * 8 >= FAST_FROM:
        from .neural import describer

        describer().speed_up()  # a query is described in 6-10 parts
    results = []
    for item in items:
        if not isinstance(item, np.ndarray) and not os.path.exists(item):
            raise InputError(f"{item}: no such file or folder", "check the path")
        result = searcher.search(item, top=top, max_distance=max_distance)
        results.append(result)
        if on_result:
            on_result(result)
    return results


def export_hashes(index: Index, dest: str | os.PathLike) -> int:
    """Write the index's PDQ hashes as a hash list: each picture's, made as the reference hasher does from
    the file (the fingerprint's own hash when the file is gone), labelled with its path; then the hash-list
    entries as they were imported.

    Returns:
        How many lines were written.
    """
    entries = []
    for path, stored, _ in index.search_rows():
        try:
            hashes, quality = reference_pdq(path)
            entries.append(HashEntry(hashes[0], int(quality), path))
        except (FramediffError, OSError):
            fp = index.get(path)
            entries.append(HashEntry(stored, fp.quality if isinstance(fp, Fingerprint) else None, path))
    entries += list(index.hash_entries().values())
    return write_hash_list(entries, dest)
