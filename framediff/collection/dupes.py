"""``find_duplicates``: the whole dupes job. Walk, fingerprint into the index, find candidates, verify them
against each group's kept file, and report the groups.

Groups never chain: a group forms around its kept file and holds only files that verify against that
file itself, so A~B and B~C never put an unrelated A and C together.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FramediffError, InputError, OptionError
from ..workers import usable_cores
from .candidates import CANDIDATES_VERSION, MIN_SUPPORT, PDQ_TRUSTED, candidate_pairs, geometric_support
from .fingerprint import (
    FINGERPRINT_VERSION,
    Fingerprint,
    fingerprint_file,
    frame_box,
    is_picture_file,
    layout_grid,
    read_thumb,
)
from .index import Index, IndexError_, default_index_path
from .neural import DIM, NEURAL_VERSION
from .neural import require as require_neural
from .neuralindex import fill_vectors, neural_pairs
from .report import DuplicateReport, FileError, FileInfo, Group, Member
from .verify import VERIFY_VERSION, Verdict, verify

__all__ = ["KEEP_RULES", "DupesOptions", "FingerprintRun", "find_duplicates", "fingerprint_all", "walk"]

KEEP_RULES = ("largest", "oldest", "newest", "shortest-path", "first-path")

Progress = Callable[[str, int, int], None]


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
        neural: Also take candidates from neural descriptors (the neural extra): crops to a part, pictures
            inside others, heavy edits that hashes and keypoints miss; every candidate is still verified.
    """

    db: str | os.PathLike | None = None
    keep: str = "largest"
    similar: bool = False
    references: Sequence[str | os.PathLike] = ()
    jobs: int = 0
    neural: bool = False

    def __post_init__(self) -> None:
        if self.keep not in KEEP_RULES:
            raise OptionError(f"keep {self.keep!r} is not a rule", f"use one of {', '.join(KEEP_RULES)}")
        if int(self.jobs) < 0:
            raise OptionError(f"jobs {self.jobs} is negative", "use 0 (every core) or a positive number")


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
    """What one fingerprinting pass collects.

    Attributes:
        fps: The fingerprints of the readable files, in the order given and found.
        errors: The files that could not be read.
        fresh: How many files were fingerprinted (or failed) this time rather than reused.
        order: ``path -> position`` in the order given and found.
    """

    fps: list[Fingerprint] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    fresh: int = 0
    order: dict[str, int] = field(default_factory=dict)


def fingerprint_all(
    files: list[tuple[str, str]], index: Index, jobs: int, progress: Progress | None
) -> FingerprintRun:
    """Fingerprint what the index does not know (or knows an older version of), in parallel.

    Args:
        files: ``(path, root)`` as :func:`walk` gives them.
        index: Where fingerprints are read from and written to (committed in batches: a killed run
            keeps what it did).
        jobs: Threads.
        progress: ``progress("fingerprints", done, total)``.

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
    for fp_or in _reused(index, reuse, run):
        run.fps.append(fp_or)
    done = len(reuse)
    if progress:
        progress("fingerprints", done, total)

    def work(path: str) -> Fingerprint | str:
        try:
            return fingerprint_file(path)[0]
        except FramediffError as e:
            return e.message
        except OSError as e:
            return f"cannot read it ({e.strerror or e})"
        except Exception as e:  # noqa: BLE001 - a decoder's bug on one file must not stop a library
            return f"cannot read it ({type(e).__name__}: {e})"

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="framediff-dupes") as pool:
        pending: dict[Future, tuple[str, os.stat_result]] = {}
        queue = iter(todo)
        try:
            for item in queue:
                pending[pool.submit(work, item[0])] = item
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
    run.fps.sort(key=lambda f: run.order[f.path])
    return run


def _reused(index: Index, paths: list[str], run: FingerprintRun) -> Iterator[Fingerprint]:
    """Indexed fingerprints of unchanged files; unchanged unreadable files are listed again."""
    good = set()
    for fp in index.fingerprints(paths):
        good.add(fp.path)
        yield fp
    for p in paths:
        if p not in good:
            known = index.get(p)
            if isinstance(known, str):
                run.errors.append(FileError(p, known))


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
            result = f.result() if cancelled_ok is False or not f.cancelled() else None
            if isinstance(result, Fingerprint):
                index.put(result)
                run.fps.append(result)
                run.fresh += 1
            elif isinstance(result, str):
                index.put_error(path, st.st_size, st.st_mtime, result)
                run.errors.append(FileError(path, result))
                run.fresh += 1
            got += 1
    return got


def _info(fp: Fingerprint, reference: bool) -> FileInfo:
    return FileInfo(
        path=fp.path, size=fp.size, mtime=fp.mtime, width=fp.width, height=fp.height, format=fp.format,
        taken=fp.taken, reference=reference, digest=fp.digest.hex(),
    )  # fmt: skip


def _rank_key(rule: str, fp: Fingerprint, order: int, reference: bool, framed: bool) -> tuple:
    """Smaller is kept first: reference files always, then the rule, then the tie-breaks."""
    date = fp.taken or time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(fp.mtime))
    if rule == "largest":
        # A picture in a frame counts no more than the picture: its border is not content.
        main: tuple = (framed, -fp.width * fp.height)
    elif rule == "oldest":
        main = (date, fp.mtime)
    elif rule == "newest":
        main = (_negated(date), -fp.mtime)
    elif rule == "shortest-path":
        main = (len(fp.path), fp.path)
    else:
        main = (order,)
    # Ties: a file with a camera date (an original), then the older file, then the first given.
    return (not reference, *main, fp.taken is None, fp.mtime, order)


def _negated(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text)


class _Verifier:
    """Verdicts of pairs (kept, other), from the index when stored, else computed (and stored)."""

    def __init__(self, index: Index, fps: list[Fingerprint]) -> None:
        self.index = index
        self.fps = fps
        self.memo: dict[tuple[int, int], Verdict] = {}

    def stored(self, a: int, b: int) -> Verdict | None:
        if (a, b) in self.memo:
            return self.memo[(a, b)]
        fa, fb = self.fps[a], self.fps[b]
        if fa.digest == fb.digest:
            v = Verdict("exact")
        else:
            d = self.index.verdict(fa.digest, fb.digest, VERIFY_VERSION)
            if d is None:
                return None
            v = Verdict.from_dict(d)
        self.memo[(a, b)] = v
        return v

    def compute(self, a: int, b: int) -> Verdict:
        fa, fb = self.fps[a], self.fps[b]
        try:
            v = verify(fa, fb, read_thumb(fa.thumb), read_thumb(fb.thumb))
        except FramediffError:
            v = Verdict("different", score=0.0)
        return v

    def store(self, a: int, b: int, v: Verdict) -> None:
        self.memo[(a, b)] = v
        if v.relation != "exact":
            self.index.put_verdict(self.fps[a].digest, self.fps[b].digest, VERIFY_VERSION, v.to_dict())

    def many(self, pairs: list[tuple[int, int]], jobs: int, progress: Progress | None) -> None:
        """Verdicts for every pair, computed on ``jobs`` threads where not stored."""
        todo = [p for p in pairs if self.stored(*p) is None]
        if progress:
            progress("verification", 0, len(todo))
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="framediff-verify") as pool:
            futures = {pool.submit(self.compute, *p): p for p in todo}
            try:
                for n, f in enumerate(_as_completed(futures), 1):
                    self.store(*futures[f], f.result())
                    if progress:
                        progress("verification", n, len(todo))
            except BaseException:
                for f in futures:
                    f.cancel()
                self.index.commit()
                raise
        self.index.commit()

    def get(self, a: int, b: int) -> Verdict:
        v = self.stored(a, b)
        if v is None:
            v = self.compute(a, b)
            self.store(a, b, v)
        return v


def _as_completed(futures: dict[Future, tuple[int, int]]) -> Iterator[Future]:
    from concurrent.futures import as_completed

    return as_completed(futures)


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
        run = fingerprint_all(files, index, jobs, progress)
        index.prune([r for r in roots if os.path.isdir(r)], {p for p, _ in files})
        index.commit()
        vectors = None
        if opts.neural:
            digests = [f.digest for f in run.fps]
            fill_vectors(index, progress, only=digests)
            stored = index.neural_of(digests, NEURAL_VERSION, DIM)
            empty = np.zeros((0, DIM), np.float16)
            vectors = [stored.get(d, empty) for d in digests]
        groups = _group(run, index, opts, refs, jobs, progress, vectors)
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
    settings = (opts.keep, opts.similar, refs, VERIFY_VERSION, FINGERPRINT_VERSION, CANDIDATES_VERSION, MIN_SUPPORT)
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


def _thumb_facts(thumb: object) -> tuple[object, tuple[float, float], bool]:
    """A thumbnail's layout grid, grey levels, and whether it is a picture in a plain frame."""
    grid, levels = layout_grid(thumb)  # type: ignore[arg-type]
    return grid, levels, frame_box(thumb) is not None  # type: ignore[arg-type]


def _group(
    run: FingerprintRun, index: Index, opts: DupesOptions, refs: list[str], jobs: int, progress: Progress | None,
    vectors: list[np.ndarray] | None = None,
) -> list[Group]:
    """Candidates -> verified pairs -> groups around kept files (``vectors``: each file's neural
    descriptors, a candidate source when given)."""
    fps = run.fps
    n = len(fps)
    if n < 2:
        return []
    reference = [_is_reference(f.path, refs) for f in fps]
    hashes = np.stack([f.pdq for f in fps])
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="framediff-layout") as pool:
        # Each thumbnail decoded once: its layout (a candidate source) and whether it is framed (ranking).
        facts = list(pool.map(lambda f: _thumb_facts(read_thumb(f.thumb)), fps))
    layout = (
        np.stack([g for g, _, _ in facts]), np.array([lv for _, lv, _ in facts], np.float32),
        np.array([f.width / max(1, f.height) for f in fps], np.float32),
    )  # fmt: skip
    found = candidate_pairs(
        hashes, [f.features for f in fps], [f.mirrored for f in fps], [f.digest for f in fps], layout
    )
    if vectors is not None:
        # Neural neighbours are verified as they are, as hash-close pairs are (no keypoint support asked:
        # the copies they find are those whose keypoints were lost).
        for kk in neural_pairs(vectors):
            found[kk] = min(found.get(kk, float(PDQ_TRUSTED)), float(PDQ_TRUSTED))
    # Hash-close pairs are verified directly; the others only with geometric support (a cheap test that
    # spares compare most of the chance matches of the feature votes).
    pairs = [
        kk for kk, ev in sorted(found.items(), key=lambda kv: kv[1])
        if ev <= PDQ_TRUSTED or _supported(fps[kk[0]], fps[kk[1]])
    ]  # fmt: skip
    # A picture in a plain frame counts no more than the picture for --keep largest: its border is not content.
    involved = sorted({i for kk in pairs for i in kk})
    framed = [opts.keep == "largest" and fr for _, _, fr in facts]
    rank = [_rank_key(opts.keep, f, run.order[f.path], reference[i], framed[i]) for i, f in enumerate(fps)]
    near: dict[int, set[int]] = {}
    for a, b in pairs:
        near.setdefault(a, set()).add(b)
        near.setdefault(b, set()).add(a)
    verifier = _Verifier(index, fps)
    # Files with no better-ranked candidate are kept files for sure: their pairs are verified first, all
    # at once on every core; the rest only as the groups need them (a pair of two copies of one kept
    # file is never compared).
    roots = [i for i in involved if all(rank[i] < rank[j] for j in near[i])]
    verifier.many([(a, b) for a in roots for b in sorted(near[a])], jobs, progress)
    ok = "similar" if opts.similar else None

    def linked(v: Verdict) -> bool:
        return v.copy or v.relation == ok

    groups: list[Group] = []
    placed: set[int] = set()
    for keep in sorted(near, key=lambda i: rank[i]):
        if keep in placed:
            continue
        # Around the best-ranked file not yet placed: its candidates, then theirs through each verified
        # member, each verified against the kept file itself (no chains).
        members: list[tuple[int, Verdict]] = []
        tried = {keep}
        frontier = near[keep]
        while frontier:
            batch = sorted((m for m in frontier if m not in tried and m not in placed and rank[m] > rank[keep]),
                           key=lambda i: rank[i])  # fmt: skip
            if not batch:
                break
            tried.update(batch)
            verifier.many([(keep, m) for m in batch], jobs, None)
            found_now = [(m, v) for m in batch if linked(v := verifier.get(keep, m))]
            members += found_now
            frontier = {x for m, _ in found_now for x in near[m]}
        if members:
            groups.append(_make_group(fps, keep, members, reference))
            placed.add(keep)
            placed.update(m for m, _ in members)
        index.commit()
    groups.sort(key=lambda g: (-g.reclaimable, g.keep.path))
    return groups


def _make_group(
    fps: list[Fingerprint], keep: int, members: list[tuple[int, Verdict]], reference: list[bool]
) -> Group:
    dups = [
        Member(
            file=_info(fps[m], reference[m]), relation=v.relation, transform=v.transform, score=v.score,
            regions=v.regions, changed=v.changed,
        )  # fmt: skip
        for m, v in members
    ]
    return Group(keep=_info(fps[keep], reference[keep]), duplicates=dups)
