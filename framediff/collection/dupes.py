"""``find_duplicates``: the whole dupes job. Walk, fingerprint into the index, find candidates, verify them
against each group's kept file, and report the groups.

Groups never chain: a group forms around its kept file and holds only files that verify against that
file itself, so A~B and B~C never put an unrelated A and C together.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..distribute import TaskKilledError, import_distributed, parse_cluster, work_pool
from ..errors import FramediffError, InputError, OptionError
from ..workers import usable_cores
from .candidates import (
    CANDIDATES_VERSION,
    MIN_SUPPORT,
    PDQ_TRUSTED,
    STRONG_VOTES,
    candidate_pairs,
    geometric_support,
)  # fmt: skip
from .catalog import Catalog
from .fingerprint import (
    FINGERPRINT_VERSION,
    Fingerprint,
    fingerprint_file,
    is_picture_file,
    read_thumb,
)
from .grouping import Verifier, group_pairs
from .index import Index, IndexError_, default_index_path
from .neural import DIM, NEURAL_VERSION
from .neural import require as require_neural
from .neuralindex import fill_vectors, neural_pairs
from .report import DuplicateReport, FileError, FileInfo, Group, Member
from .verify import VERIFY_VERSION, Verdict, verify

__all__ = [
    "KEEP_RULES", "DupesOptions", "FingerprintRun", "find_duplicates", "fingerprint_all", "group_indexed", "verify_pair",
    "walk",
]  # fmt: skip

KEEP_RULES = ("largest", "oldest", "newest", "shortest-path", "first-path")

Progress = Callable[[str, int, int], None]
# Pairs verified (or tested for support) at a time: their fingerprints are read from the index together.
BATCH = 256


@dataclass
class DupesOptions:
    """Settings of :func:`find_duplicates`.

    Attributes:
        db: The index file; ``None``: the user's cache folder (:func:`~.index.default_index_path`);
            ``":memory:"``: no file.
        keep: Which file of a group is kept: ``largest`` (most pixels of content, then most bytes),
            ``oldest`` / ``newest`` (EXIF date taken, else modification time), ``shortest-path``,
            ``first-path`` (first in the order given and found).
        similar: Also group other shots of the same scene (bursts), not only copies of one picture.
        references: Folders whose files are matched against but never acted on, and always kept.
        jobs: Threads for fingerprinting and verification (0: every usable core).
        cluster: Fingerprint and verify on a Dask cluster instead (``tcp://HOST:PORT`` or ``local:N``;
            see :mod:`framediff.distribute`); this process still writes the index.
        neural: Also take candidates from neural descriptors (the neural extra): crops to a part, pictures
            inside others, heavy edits that hashes and keypoints miss; every candidate is still verified.
    """

    db: str | os.PathLike | None = None
    keep: str = "largest"
    similar: bool = False
    references: Sequence[str | os.PathLike] = ()
    jobs: int = 0
    cluster: str | None = None
    neural: bool = False

    def __post_init__(self) -> None:
        if self.keep not in KEEP_RULES:
            raise OptionError(f"keep {self.keep!r} is not a rule", f"use one of {', '.join(KEEP_RULES)}")
        if int(self.jobs) < 0:
            raise OptionError(f"jobs {self.jobs} is negative", "use 0 (every core) or a positive number")
        if self.cluster is not None:
            # A malformed address, or Dask missing, is refused before the collection is read.
            parse_cluster(self.cluster)
            import_distributed()


def walk(paths: Iterable[str | os.PathLike]) -> Iterator[tuple[str, str]]:
    """The picture files under ``paths``: ``(absolute path, root it was found under)``.

    Folders are walked recursively in name order (hidden files and folders skipped; symbolic links to
    files are not copies and are skipped too); files are taken as given, whatever their suffix.

    Raises:
        InputError: when a path does not exist.
    """
    for given in paths:
        p = Path(given)
        if not p.exists():
            raise InputError(f"{given}: no such file or folder", "check the path")
        root = os.path.abspath(p)
        if p.is_file():
            yield root, root
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                full = os.path.join(folder, name)
                if is_picture_file(Path(name)) and not os.path.islink(full):
                    yield full, root


@dataclass
class FingerprintRun:
    """What one fingerprinting pass collects (paths only: the fingerprints are in the index).

    Attributes:
        paths: The readable files, in the order given and found.
        errors: The files that could not be read.
        fresh: How many files were fingerprinted (or failed) this time rather than reused.
        order: ``path -> position`` in the order given and found.
    """

    paths: list[str] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    fresh: int = 0
    order: dict[str, int] = field(default_factory=dict)


def fingerprint_all(
    files: list[tuple[str, str]], index: Index, jobs: int, progress: Progress | None,
    executor: Executor | None = None,
) -> FingerprintRun:
    """Fingerprint what the index does not know (or knows an older version of), in parallel.

    Args:
        files: ``(path, root)`` as :func:`walk` gives them.
        index: Where fingerprints are read from and written to (committed in batches: a killed run
            keeps what it did).
        jobs: Threads (with ``executor``: the tasks it runs at once).
        progress: ``progress("fingerprints", done, total)``.
        executor: Where the files are read (:mod:`framediff.distribute`: a Dask cluster); ``None``: threads
            here. Only this process writes the index, as the results come.

    Returns:
        The :class:`FingerprintRun`.
    """
    run = FingerprintRun()
    known = index.known()
    todo: list[tuple[str, os.stat_result]] = []
    seen_inodes: set[tuple[int, int]] = set()
    reuse: list[str] = []
    for n, (path, _root) in enumerate(files):
        run.order[path] = n
        try:
            st = os.stat(path)
        except OSError as e:
            run.errors.append(FileError(path, f"cannot read it ({e.strerror or e})"))
            continue
        inode = (st.st_dev, st.st_ino)
        if st.st_ino and inode in seen_inodes:  # a hard link of a file already listed: the same file
            continue
        seen_inodes.add(inode)
        if known.get(path) == (st.st_size, st.st_mtime):
            reuse.append(path)
        else:
            todo.append((path, st))
    total = len(reuse) + len(todo)
    failed = index.errors()  # unchanged unreadable files are listed again
    for path in reuse:
        if path in failed:
            run.errors.append(FileError(path, failed[path]))
        else:
            run.paths.append(path)
    del known, failed
    done = len(reuse)
    if progress:
        progress("fingerprints", done, total)

    with (
        ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="framediff-dupes") if executor is None
        else nullcontext(executor)
    ) as pool:  # fmt: skip
        pending: dict[Future, tuple[str, os.stat_result]] = {}
        queue = iter(todo)
        try:
            for item in queue:
                pending[pool.submit(fingerprint_task, item[0])] = item
                if len(pending) >= 4 * jobs:
                    done += _drain(pending, index, run, wait_for=1)
                    if progress:
                        progress("fingerprints", done, total)
            while pending:
                done += _drain(pending, index, run, wait_for=1)
                if progress:
                    progress("fingerprints", done, total)
        except BaseException:
            # Ctrl-C: finish what is running (a second or so), keep it, and leave the index consistent.
            for f in pending:
                f.cancel()
            _drain(pending, index, run, wait_for=len(pending), cancelled_ok=True)
            index.commit()
            raise
    index.commit()
    run.paths.sort(key=run.order.__getitem__)
    return run


def fingerprint_task(path: str) -> Fingerprint | str:
    """A file's fingerprint, or why it cannot be read (a task that can run in any process)."""
    try:
        return fingerprint_file(path)[0]
    except FramediffError as e:
        return e.message
    except OSError as e:
        return f"cannot read it ({e.strerror or e})"
    except Exception as e:  # noqa: BLE001 - a decoder's bug on one file must not stop a library
        return f"cannot read it ({type(e).__name__}: {e})"


def _drain(
    pending: dict[Future, tuple[str, os.stat_result]], index: Index, run: FingerprintRun, wait_for: int,
    cancelled_ok: bool = False,
) -> int:
    """Collect finished fingerprints (at least ``wait_for`` of them) into the index."""
    from concurrent.futures import FIRST_COMPLETED, wait

    got = 0
    while pending and got < wait_for:
        finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for f in finished:
            path, st = pending.pop(f)
            if f.cancelled():
                continue
            try:
                result = f.result() if cancelled_ok is False or not f.cancelled() else None
            except TaskKilledError:  # a file that crashes the reader, or too big for the workers' memory
                result = "cannot read it (the cluster's workers kept dying on it: see their logs)"
            if isinstance(result, Fingerprint):
                index.put(result)
                run.paths.append(result.path)
                run.fresh += 1
            elif isinstance(result, str):
                index.put_error(path, st.st_size, st.st_mtime, result)
                run.errors.append(FileError(path, result))
                run.fresh += 1
            got += 1
    return got


def _rank_key(rule: str, cat: Catalog, i: int, order: int, reference: bool) -> tuple:
    """Smaller is kept first: reference files always, then the rule, then the tie-breaks."""
    taken, mtime = cat.taken[i], float(cat.mtimes[i])
    if rule == "largest":
        # A picture in a frame counts no more than the picture: its border is not content.
        main: tuple = (bool(cat.framed[i]), -int(cat.widths[i]) * int(cat.heights[i]))
    elif rule == "oldest":
        main = (cat.date(i), mtime)
    elif rule == "newest":
        main = (_negated(cat.date(i)), -mtime)
    elif rule == "shortest-path":
        main = (len(cat.paths[i]), cat.paths[i])
    else:
        main = (order,)
    # Ties: a file with a camera date (an original), then the older file, then the first given.
    return (not reference, *main, taken is None, mtime, order)


def _negated(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text)


class _Fingerprints:
    """The full fingerprints of the files being compared, read from the index a batch at a time and
    kept for a while (a kept file is compared with each of its candidates in turn)."""

    def __init__(self, index: Index, paths: list[str], keep: int = 512) -> None:
        self.index, self.paths, self.keep = index, paths, keep
        self.held: OrderedDict[int, Fingerprint] = OrderedDict()

    def load(self, which: Iterable[int]) -> None:
        """Read the fingerprints of files ``which`` that are not held (called from one thread)."""
        now = list(dict.fromkeys(which))
        want = [i for i in now if i not in self.held]
        by_path = {fp.path: fp for fp in self.index.fingerprints([self.paths[i] for i in want])}
        for i in want:
            self.held[i] = by_path[self.paths[i]]
        for i in now:
            self.held.move_to_end(i)
        while len(self.held) > max(self.keep, len(now)):
            self.held.popitem(last=False)

    def __getitem__(self, i: int) -> Fingerprint:
        if i not in self.held:
            self.load([i])
        return self.held[i]


def verify_pair(a: Fingerprint, b: Fingerprint) -> Verdict:
    """Verify B against the kept A from their fingerprints alone (a task that can run on any worker).

    Returns:
        compare's verdict; ``different`` when the pair cannot be compared.
    """
    try:
        return verify(a, b, read_thumb(a.thumb), read_thumb(b.thumb))
    except FramediffError:
        return Verdict("different", score=0.0)


class _Verifier:
    """Verdicts of pairs (kept, other), from the index when stored, else computed (and stored)."""

    def __init__(self, index: Index, cat: Catalog, jobs: int, executor: Executor | None = None) -> None:
        self.index, self.cat, self.jobs, self.executor = index, cat, jobs, executor
        self.fps = _Fingerprints(index, cat.paths)
        self.memo: dict[tuple[int, int], Verdict] = {}

    def stored(self, a: int, b: int) -> Verdict | None:
        if (a, b) in self.memo:
            return self.memo[(a, b)]
        da, db = self.cat.digests[a], self.cat.digests[b]
        if da == db:
            v = Verdict("exact")
        else:
            d = self.index.verdict(da, db, VERIFY_VERSION)
            if d is None:
                return None
            v = Verdict.from_dict(d)
        self.memo[(a, b)] = v
        return v

    def compute(self, fa: Fingerprint, fb: Fingerprint) -> Verdict:
        return verify_pair(fa, fb)

    def store(self, a: int, b: int, v: Verdict) -> None:
        self.memo[(a, b)] = v
        if v.relation != "exact":
            self.index.put_verdict(self.cat.digests[a], self.cat.digests[b], VERIFY_VERSION, v.to_dict())

    def many(self, pairs: list[tuple[int, int]], progress: Progress | None) -> None:
        """Verdicts for every pair, computed on ``jobs`` threads where not stored, a batch at a time (the
        batch's fingerprints read from the index first)."""
        todo = [p for p in pairs if self.stored(*p) is None]
        if progress:
            progress("verification", 0, len(todo))
        if not todo:
            return
        done = 0
        with (
            ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="framediff-verify") if self.executor is None
            else nullcontext(self.executor)
        ) as pool:  # fmt: skip
            for start in range(0, len(todo), BATCH):
                batch = todo[start : start + BATCH]
                self.fps.load(i for p in batch for i in p)
                # A module-level task with its two fingerprints: it can be shipped to a cluster's worker.
                futures = {pool.submit(verify_pair, self.fps[a], self.fps[b]): (a, b) for a, b in batch}
                try:
                    for f in as_completed(futures):
                        self.store(*futures[f], f.result())
                        done += 1
                        if progress:
                            progress("verification", done, len(todo))
                except BaseException:
                    for f in futures:
                        f.cancel()
                    self.index.commit()
                    raise
        self.index.commit()

    def get(self, a: int, b: int) -> Verdict:
        v = self.stored(a, b)
        if v is None:
            v = self.compute(self.fps[a], self.fps[b])
            self.store(a, b, v)
        return v

    def supported(self, pairs: list[tuple[int, int]]) -> list[bool]:
        """Whether each pair shares enough features in one geometry to be worth comparing."""
        out: list[bool] = []
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="framediff-support") as pool:
            for start in range(0, len(pairs), BATCH):
                batch = pairs[start : start + BATCH]
                self.fps.load(i for p in batch for i in p)
                out += pool.map(lambda p: _supported(self.fps.held[p[0]], self.fps.held[p[1]]), batch)
        return out


def find_duplicates(
    paths: Iterable[str | os.PathLike],
    options: DupesOptions | None = None,
    progress: Progress | None = None,
    **kwargs: object,
) -> DuplicateReport:
    """Find the copies of the same picture among files and folders.

    Args:
        paths: Folders (walked recursively) and files.
        options: A :class:`DupesOptions`, or give its fields as keyword arguments.
        progress: Called as ``progress(stage, done, total)`` while the run goes on.
        **kwargs: Fields of :class:`DupesOptions`.

    Returns:
        A :class:`~.report.DuplicateReport`: groups (kept file, verified duplicates with their relation),
        unreadable files, counts.

    Raises:
        InputError: when a path does not exist.
        IndexError_: when the index cannot be opened (see :class:`~.index.Index`).
        KeyboardInterrupt: after leaving the index consistent (everything fingerprinted so far is kept).
    """
    opts = options or DupesOptions(**kwargs)  # type: ignore[arg-type]
    if opts.neural:
        require_neural()
    t0 = time.perf_counter()
    jobs = int(opts.jobs) or usable_cores()
    refs = [os.path.abspath(r) for r in opts.references]
    given = list(paths)
    files = list(dict.fromkeys(walk([*given, *refs])))
    roots = sorted({root for _, root in files} | {os.path.abspath(p) for p in [*given, *refs]})
    db = default_index_path() if opts.db is None else opts.db
    warnings: list[str] = []
    try:
        index = Index(db)
    except IndexError_ as e:
        # A read-only place or an index from a newer framediff: say so, and work without one this time.
        warnings.append(f"{e} - working without an index this run")
        index = Index(":memory:")
    with index:
        index.keep_fingerprints_of(FINGERPRINT_VERSION)
        key = _run_key(files, opts, refs)
        stored = index.result(key)
        if stored is not None:
            # Nothing changed since a run that found these groups: its answer stands.
            groups, errors = _from_stored(stored)
            return DuplicateReport(
                groups=groups, errors=errors, files=len(files), fingerprinted=0,
                seconds=time.perf_counter() - t0, warnings=warnings,
            )  # fmt: skip
        with work_pool(opts.cluster, jobs) as (executor, parallel):
            run = fingerprint_all(files, index, parallel, progress, executor)
            index.prune([r for r in roots if os.path.isdir(r)], {p for p, _ in files})
            index.commit()
            groups = group_indexed(index, run.paths, opts, progress, executor=executor)
        index.put_result(key, _to_stored(groups, run.errors))
        index.commit()
    return DuplicateReport(
        groups=groups, errors=run.errors, files=len(files), fingerprinted=run.fresh,
        seconds=time.perf_counter() - t0, warnings=warnings,
    )  # fmt: skip


def _run_key(files: list[tuple[str, str]], opts: DupesOptions, refs: list[str]) -> str:
    """A digest of everything a run's groups depend on: each file (path, size, mtime, inode, in order),
    the options that shape the groups, and the versions of fingerprints, candidates and verification."""
    import hashlib

    h = hashlib.blake2b(digest_size=20)
    settings = (
        opts.keep, opts.similar, refs, VERIFY_VERSION, FINGERPRINT_VERSION, CANDIDATES_VERSION, MIN_SUPPORT,
        STRONG_VOTES,
    )  # fmt: skip
    if opts.neural:  # the runs without keep their keys (and their stored groups)
        settings += ("neural", NEURAL_VERSION)
    h.update(repr(settings).encode())
    for path, _root in files:
        try:
            st = os.stat(path)
            h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n".encode())
        except OSError:
            h.update(f"{path}\0-\n".encode())
    return h.hexdigest()


def _to_stored(groups: list[Group], errors: list[FileError]) -> dict:
    """Groups and errors as JSON-ready data for :meth:`Index.put_result`."""
    return {
        "groups": [
            {"keep": asdict(g.keep), "duplicates": [{**asdict(m), "file": asdict(m.file)} for m in g.duplicates]}
            for g in groups
        ],
        "errors": [asdict(e) for e in errors],
    }


def _from_stored(data: dict) -> tuple[list[Group], list[FileError]]:
    """The inverse of :func:`_to_stored`."""
    groups = [
        Group(
            keep=FileInfo(**g["keep"]),
            duplicates=[Member(**{**m, "file": FileInfo(**m["file"])}) for m in g["duplicates"]],
        )
        for g in data["groups"]
    ]
    return groups, [FileError(**e) for e in data["errors"]]


def _supported(a: Fingerprint, b: Fingerprint) -> bool:
    """Whether A and B share enough features in one geometry (either way round) to be worth comparing."""
    if geometric_support(a.features, a.points, b.features, b.points, b.mirrored, b.mirrored_points) >= MIN_SUPPORT:
        return True
    return geometric_support(b.features, b.points, a.features, a.points, a.mirrored, a.mirrored_points) >= MIN_SUPPORT


def _is_reference(path: str, refs: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in refs)


def group_indexed(
    index: Index,
    paths: list[str],
    options: DupesOptions,
    progress: Progress | None = None,
    verifier: Callable[[Index, Catalog, int], Verifier] | None = None,
    executor: Executor | None = None,
) -> list[Group]:
    """The groups among files already fingerprinted into ``index``: candidates, verified pairs, groups.

    Memory holds a :class:`~.catalog.Catalog` of the files (under 1 kB each), the candidate pairs and the
    fingerprints of the pairs being verified, never every file's fingerprint.

    Args:
        index: The index holding the files' fingerprints.
        paths: The files, in the order given and found (the order ``keep="first-path"`` keeps by).
        options: The run's settings (keep rule, similar, references, jobs).
        progress: ``progress("verification", done, total)``.
        verifier: Makes the :class:`~.grouping.Verifier` from ``(index, catalog, jobs)``; the default
            verifies with compare's verdict (:func:`~.verify.verify`) and stores verdicts in the index.
        executor: Where the default verifier compares pairs (:mod:`framediff.distribute`: a Dask
            cluster); ``None``: threads.

    Returns:
        The groups, most space to reclaim first.
    """
    import numpy as np

    jobs = int(options.jobs) or usable_cores()
    refs = [os.path.abspath(r) for r in options.references]
    cat = Catalog.load(index, paths, jobs)
    n = len(cat)
    if n < 2:
        return []
    reference = [_is_reference(p, refs) for p in cat.paths]
    found = candidate_pairs(
        cat.pdq, lambda start, stop: index.feature_sets(cat.paths[start:stop]), cat.digests, cat.layout()
    )
    if options.neural:
        # Neural neighbours are verified as they are, as hash-close pairs are (no keypoint support asked:
        # the copies they find are those whose keypoints were lost).
        for kk in neural_pairs(_vectors(index, cat.digests, progress)):
            found[kk] = min(found.get(kk, float(PDQ_TRUSTED)), float(PDQ_TRUSTED))
    check = verifier(index, cat, jobs) if verifier is not None else _Verifier(index, cat, jobs, executor)
    # Hash-close pairs and pairs of many feature votes are verified directly; the others only with
    # geometric support (a cheap test that spares compare most of the chance matches of the feature votes).
    ranked = sorted(found.items(), key=lambda kv: kv[1])
    del found
    strong = 1000.0 - STRONG_VOTES  # feature evidence is 1000 - votes
    weak = [kk for kk, ev in ranked if ev > PDQ_TRUSTED and ev > strong]
    backed = set(itertools.compress(weak, check.supported(weak)))
    pairs = np.array(
        [kk for kk, ev in ranked if ev <= PDQ_TRUSTED or ev <= strong or kk in backed], np.int64
    ).reshape(-1, 2)
    del ranked, weak, backed
    # A picture in a plain frame counts no more than the picture for --keep largest: its border is not content.
    order = sorted(range(n), key=lambda i: _rank_key(options.keep, cat, i, i, reference[i]))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    ok = "similar" if options.similar else None
    groups = group_pairs(n, pairs, rank, check, lambda v: v.copy or v.relation == ok, progress)
    index.commit()
    out = [_make_group(cat, keep, members, reference) for keep, members in groups]
    out.sort(key=lambda g: (-g.reclaimable, g.keep.path))
    return out


def _vectors(index: Index, digests: list[bytes], progress: Progress | None) -> list[np.ndarray]:
    """Each file's neural descriptors (made first where missing: from the thumbnails in the index)."""
    if not index.read_only:
        fill_vectors(index, progress, only=digests)
    stored = index.neural_of(digests, NEURAL_VERSION, DIM)
    empty = np.zeros((0, DIM), np.float16)
    return [stored.get(d, empty) for d in digests]


def _make_group(cat: Catalog, keep: int, members: list[tuple[int, Verdict]], reference: list[bool]) -> Group:
    dups = [
        Member(
            file=cat.info(m, reference[m]), relation=v.relation, transform=v.transform, score=v.score,
            regions=v.regions, changed=v.changed,
        )  # fmt: skip
        for m, v in members
    ]
    return Group(keep=cat.info(keep, reference[keep]), duplicates=dups)
