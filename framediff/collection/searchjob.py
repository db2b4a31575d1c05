"""The index and search commands as one library call each: :func:`run_index` and :func:`run_search`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, OutputError
from ..paths import check_outputs
from .index import Index, IndexError_, OlderIndexError, default_index_path
from .pdq import MATCH_DISTANCE
from .search import AddReport, QueryResult, search_queries
from .searchindex import SearchStructures

__all__ = ["IndexJobReport", "describe_missing", "open_existing", "run_index", "run_search", "serve_search"]


@dataclass
class IndexJobReport:
    """What :func:`run_index` did, and the index's counts after it.

    Attributes:
        added: The pictures' fingerprinting (``None`` when no PATH was given).
        removed: Files forgotten by ``remove``.
        imported: New hash-list entries.
        exported: Lines written by ``export``.
        described: Pictures given neural descriptors (``neural``).
        stats: :meth:`Index.stats` after the work.
    """

    added: AddReport | None = None
    removed: int = 0
    imported: int = 0
    exported: int | None = None
    described: int = 0
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "added": self.added.to_dict() if self.added else None, "removed": self.removed, "imported": self.imported,
            "exported": self.exported, "described": self.described, "index": self.stats,
        }  # fmt: skip


def open_existing(db: str | os.PathLike | None) -> Index:
    """Open an index that must exist already, to read it (searching or reading one never creates a file,
    and never writes the index: a shared read-only index, or another user's, is searched as it is).

    An index of an older schema is brought up to date first when it can be written.

    Raises:
        InputError: when there is no such file.
        IndexError_: when it cannot be read, or is of an older schema and cannot be written.
    """
    path = Path(db) if db is not None else default_index_path()
    if not path.is_file():
        raise InputError(f"no index at {path}", "make one with framediff index PATH --db FILE, or give --db")
    try:
        return Index(path, read_only=True)
    except OlderIndexError:
        with contextlib.suppress(IndexError_):  # cannot be written: said by opening it read-only again
            Index(path).close()  # migrates
        return Index(path, read_only=True)


def run_index(
    db: str | os.PathLike | None,
    paths: Sequence[str | os.PathLike] = (),
    remove: Sequence[str | os.PathLike] = (),
    import_hashes: str | os.PathLike | None = None,
    export_hashes: str | os.PathLike | None = None,
    jobs: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
    cluster: str | None = None,
    neural: bool = False,
) -> IndexJobReport:
    """Add pictures, forget files, import a hash list, export the hashes, in that order.

    Args:
        db: The index file (default: the user's cache folder, as ``dupes``).
        paths: Folders and files to add or refresh.
        remove: Files and folders to forget.
        import_hashes: A PDQ hash list (``-``: stdin) to add.
        export_hashes: Where to write the index's hashes as a list (``-``: stdout).
        jobs: Threads for fingerprinting (0: every core).
        progress: ``progress(stage, done, total)``.
        cluster: Fingerprint on a Dask cluster (``tcp://HOST:PORT`` or ``local:N``; see
            :mod:`framediff.distribute`).
        neural: Also make the neural descriptors of every indexed picture that has none (the neural extra).

    Raises:
        InputError: when a path or the list cannot be read (the list is checked whole before it is added).
        NeuralMissingError: when ``neural`` is asked without the extra (before anything is read).
        OutputError: when the export would overwrite the index or an input.
    """
    from ..distribute import Cluster, import_distributed, parse_cluster
    from .hashlist import read_hash_list
    from .neural import require

    if neural:
        require()
    if cluster is not None:
        parse_cluster(cluster)  # a malformed address or a missing Dask refused before anything is opened
        import_distributed()
    target = Path(db) if db is not None else default_index_path()
    inputs = [("PATH", p) for p in paths] + [("--import-hashes", import_hashes), ("--db", target)]
    check_outputs([("--export-hashes", export_hashes)], inputs)
    for p in paths:
        if not os.path.exists(p):
            raise InputError(f"{p}: no such file or folder", "check the path")
    entries = read_hash_list(import_hashes) if import_hashes is not None else None
    writes = bool(paths or remove or entries is not None or neural)
    report = IndexJobReport()
    # The cluster is reached before the index is opened: an unreachable scheduler leaves no new file.
    with (
        Cluster(cluster) if cluster is not None and paths else nullcontext() as workers,
        Index(target) if writes else open_existing(target) as index,
    ):
        if paths:
            report.added = index.add(paths, jobs=jobs, progress=progress, cluster=workers)
        if remove:
            report.removed = index.remove_under([os.path.abspath(p) for p in remove])
        if neural:
            from .neuralindex import fill_vectors

            report.described = fill_vectors(index, progress)
        if entries is not None:
            report.imported = index.import_hashes(entries)
        if writes:
            # Kept beside the index now, so that the first search (or a reader who cannot write them)
            # finds them current.
            SearchStructures.load_or_build(index)
        if export_hashes is not None:
            report.exported = index.export_hashes(export_hashes)
        report.stats = index.stats()
    return report


def run_search(
    db: str | os.PathLike | None,
    queries: Sequence[str | os.PathLike],
    top: int = 10,
    max_distance: int = MATCH_DISTANCE,
    on_result: Callable[[QueryResult], None] | None = None,
    neural: bool = False,
) -> list[QueryResult]:
    """Search an existing index for each query (pictures and folders of pictures).

    ``neural`` also takes candidates from the neural descriptors (the neural extra); pictures indexed
    without them are described first, from the thumbnails the index holds.

    Raises:
        InputError: when the index does not exist or holds nothing, or a query path does not exist.
        NeuralMissingError: when ``neural`` is asked without the extra (before the index is opened).
    """
    if neural:
        from .neural import require

        require()
    if int(top) < 1:
        raise InputError(f"--top {top} is below 1", "give how many matches to list per query, e.g. --top 5")
    if not 0 <= int(max_distance) <= 128:
        raise InputError(f"--max-distance {max_distance} is not within 0-128", "PDQ's own threshold is 31")
    for q in queries:
        if not os.path.exists(q):
            raise InputError(f"{q}: no such file or folder", "check the path")
    if neural:
        describe_missing(db)
    with open_existing(db) as index:
        return search_queries(index, queries, top=top, max_distance=max_distance, on_result=on_result, neural=neural)


def describe_missing(db: str | os.PathLike | None) -> int:
    """Give the indexed pictures that have no neural descriptors theirs, when the index can be written (a
    search reads the index only; an index it cannot write is searched with the descriptors it holds).

    Returns:
        How many pictures were described.
    """
    from .neuralindex import fill_vectors

    with open_existing(db) as index:
        from .neural import NEURAL_VERSION

        if not index.neural_missing(NEURAL_VERSION):
            return 0
    try:
        with Index(Path(db) if db is not None else default_index_path()) as index:
            return fill_vectors(index)
    except (IndexError_, OutputError):
        return 0


def serve_search(db: str | os.PathLike | None, address: str, token: str | None = None, top: int = 10) -> Any:
    """The search page's server for an existing index, bound but not started.

    Args:
        db: The index file.
        address: ``[HOST:]PORT``.
        token: Secret every request must carry (needed beyond loopback).
        top: Matches per upload.

    Returns:
        A :class:`~framediff.serve.search.SearchServer` (``serve_forever()``, ``close()``).

    Raises:
        InputError: when the index does not exist.
        OptionError: when the address is bad or cannot be bound, or a token is needed.
    """
    from ..serve.httpd import parse_address
    from ..serve.search import SearchServer

    path = Path(db) if db is not None else default_index_path()
    open_existing(path).close()
    host, port = parse_address(address, "--serve")
    return SearchServer(path, (host, port), token=token, top=top, labels={"serve": "--serve", "token": "--token"})
