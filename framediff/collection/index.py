"""The index: every picture's fingerprints in one SQLite file, so that a second run reads only what changed.

One table of files (path, size, mtime and the fingerprints, or the reason a file could not be read), one
of verification verdicts keyed by the two files' content digests (a verdict holds as long as the bytes
do), and a schema version with migrations. WAL mode: a reader never blocks the writer, and a run killed
half-way keeps every batch it committed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FramediffError, OutputError
from .fingerprint import LAYOUT_SIDE, Fingerprint, ThumbFacts
from .hashlist import HashEntry

__all__ = ["SCHEMA_VERSION", "Index", "IndexError_", "NewerIndexError", "OlderIndexError", "default_index_path"]

SCHEMA_VERSION = 5

# Each migration takes the database from version N-1 to N (index 0 creates version 1).
_MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS files (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        digest BLOB,
        pixels BLOB,
        width INTEGER,
        height INTEGER,
        format TEXT,
        taken TEXT,
        quality INTEGER,
        pdq BLOB,
        features BLOB,
        mirrored BLOB,
        points BLOB,
        mpoints BLOB,
        thumb BLOB,
        error TEXT
    );
    CREATE INDEX IF NOT EXISTS files_digest ON files (digest);
    CREATE TABLE IF NOT EXISTS verdicts (
        a BLOB NOT NULL,
        b BLOB NOT NULL,
        version INTEGER NOT NULL,
        result TEXT NOT NULL,
        PRIMARY KEY (a, b, version)
    ) WITHOUT ROWID;
    """,
    # 2: the groups of the last runs, by what they were made from (a second run with nothing changed
    # answers from here without loading a fingerprint).
    """
    CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, made REAL NOT NULL, value TEXT NOT NULL);
    """,
    # 3: hash-list entries (known pictures held as PDQ hashes only), and a generation counter that every
    # change of the searchable entries bumps (the search structures beside the file are rebuilt when it
    # moved on since they were written).
    """
    CREATE TABLE IF NOT EXISTS hashes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        pdq BLOB NOT NULL,
        quality INTEGER,
        label TEXT
    );
    INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', '0');
    CREATE TRIGGER IF NOT EXISTS files_added AFTER INSERT ON files
        BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER IF NOT EXISTS files_changed AFTER UPDATE ON files
        BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER IF NOT EXISTS files_removed AFTER DELETE ON files
        BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER IF NOT EXISTS hashes_added AFTER INSERT ON hashes
        BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER IF NOT EXISTS hashes_removed AFTER DELETE ON hashes
        BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'; END;
    """,
    # 4: what grouping reads of each thumbnail (layout grid, grey levels, framed), kept beside it so that
    # a run over a large collection decodes only the thumbnails it verifies. Files indexed before have
    # NULLs there, filled in from their thumbnails the first time a run needs them.
    """
    ALTER TABLE files ADD COLUMN grid BLOB;
    ALTER TABLE files ADD COLUMN levels BLOB;
    ALTER TABLE files ADD COLUMN framed INTEGER;
    """,
    # 5: neural descriptors (the neural extra), by content digest and descriptor version, and their own
    # generation counter (the neural search structures beside the file follow it and the files' one).
    """
    CREATE TABLE IF NOT EXISTS neural (
        digest BLOB NOT NULL,
        version INTEGER NOT NULL,
        vectors BLOB NOT NULL,
        PRIMARY KEY (digest, version)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO meta (key, value) VALUES ('neural_generation', '0');
    CREATE TRIGGER IF NOT EXISTS neural_added AFTER INSERT ON neural
        BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'neural_generation'; END;
    CREATE TRIGGER IF NOT EXISTS neural_removed AFTER DELETE ON neural
        BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'neural_generation'; END;
    """,
]

_COLUMNS = (
    "path, size, mtime, digest, pixels, width, height, format, taken, quality, pdq, features, mirrored, points, "
    "mpoints, thumb"
)


class IndexError_(FramediffError):  # noqa: N801 - IndexError is Python's own
    """The index file cannot be opened or written."""


class NewerIndexError(IndexError_):
    """The index was written by a newer framediff (a schema this version does not know)."""


class OlderIndexError(IndexError_):
    """An index opened read-only has an older schema (bringing it up to date would write it)."""


def default_index_path() -> Path:
    """Where the index lives unless ``--db`` says otherwise: the user's cache folder.

    ``$XDG_CACHE_HOME/framediff/index.sqlite`` (``~/.cache`` when unset; ``%LOCALAPPDATA%`` on Windows).
    """
    base = os.environ.get("XDG_CACHE_HOME") or (
        os.environ.get("LOCALAPPDATA") if os.name == "nt" else None
    ) or str(Path.home() / ".cache")
    return Path(base) / "framediff" / "index.sqlite"


def _like_under(root: str) -> str:
    """A LIKE pattern (escape character ``\\``) for the paths under the folder ``root``."""
    prefix = root.rstrip(os.sep) + os.sep
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _blob(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=np.uint8).tobytes()


def _rows(blob: bytes | None, width: int = 32) -> np.ndarray:
    if not blob:
        return np.zeros((0, width), np.uint8)
    return np.frombuffer(blob, np.uint8).reshape(-1, width)


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _facts_row(facts: ThumbFacts | None) -> tuple[bytes | None, bytes | None, int | None]:
    if facts is None:
        return None, None, None
    levels = np.array([facts.mean, facts.spread], np.float32).tobytes()
    return np.ascontiguousarray(facts.grid, np.float16).tobytes(), levels, int(facts.framed)


def _facts(grid: bytes | None, levels: bytes | None, framed: int | None) -> ThumbFacts | None:
    if grid is None or levels is None or framed is None:
        return None
    mean, spread = np.frombuffer(levels, np.float32).tolist()
    g = np.frombuffer(grid, np.float16).reshape(LAYOUT_SIDE, LAYOUT_SIDE).astype(np.float32)
    return ThumbFacts(grid=g, mean=mean, spread=spread, framed=bool(framed))


def _points(blob: bytes | None) -> np.ndarray:
    if not blob:
        return np.zeros((0, 2), np.float32)
    return np.frombuffer(blob, np.float32).reshape(-1, 2)


class Index:
    """An index of fingerprints in an SQLite file (or in memory with ``":memory:"``).

    Args:
        path: The database file; created with its folder when missing.
        read_only: Open an existing file only to read it (a shared index on a read-only place, or another
            user's): nothing is ever written to it or beside it; writing methods raise
            :class:`~framediff.errors.OutputError`.

    Raises:
        NewerIndexError: when the file was written by a newer framediff.
        IndexError_: when the file cannot be created, opened or written (read-only place, not a database).
    """

    def __init__(self, path: str | os.PathLike = ":memory:", read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = bool(read_only) and self.path != ":memory:"
        try:
            if self.read_only:
                self._db = self._open_read_only()
            else:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                    # WAL writes two files beside the index: the folder must take them, and the file be writable.
                    folder = Path(self.path).parent
                    if not os.access(folder, os.W_OK) or (Path(self.path).exists() and not os.access(self.path, os.W_OK)):
                        raise OSError(13, "read-only")
                self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
        except sqlite3.DatabaseError as e:
            raise IndexError_(
                f"cannot use {self.path} as the index ({e})", "give another file with --db"
            ) from None
        except OSError as e:
            if self.read_only:
                raise IndexError_(f"cannot read the index {self.path} ({e.strerror or e})", "check the file's permissions") from None
            raise IndexError_(
                f"cannot create the index {self.path} ({e.strerror or e})", "give a writable place with --db"
            ) from None
        self._pending = 0
        self._last_commit = time.monotonic()

    def _open_read_only(self) -> sqlite3.Connection:
        """A connection that never writes: the file opened read-only, its schema as it is.

        A WAL database read through ``mode=ro`` still needs its ``-shm`` file, which SQLite creates beside it
        when missing; on a share where it cannot (a read-only folder, a file of someone else's), the file is
        opened as immutable instead: read as it lies, without locks (nobody can be writing it there).
        """
        with open(self.path, "rb"):
            pass  # a missing or unreadable file said as such, not as SQLite's "unable to open"
        uri = Path(self.path).resolve().as_uri()
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, check_same_thread=False)
        try:
            self._db = db
            version = self._version()
        except sqlite3.OperationalError:
            db.close()
            db = sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=30, check_same_thread=False)
            self._db = db
            version = self._version()
        if version > SCHEMA_VERSION:
            self._migrate()  # says it is too new
        if version < SCHEMA_VERSION:
            db.close()
            raise OlderIndexError(
                f"the index {self.path} was written by an older framediff (schema {version}; this one needs "
                f"{SCHEMA_VERSION})",
                "run framediff index --db FILE once where the file can be written, to bring it up to date",
            )
        return db

    # -- schema ---------------------------------------------------------------------------------------

    def _version(self) -> int:
        has_meta = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if not has_meta:
            return 0
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        version = self._version()
        if version > SCHEMA_VERSION:
            raise NewerIndexError(
                f"the index {self.path} was written by a newer framediff (schema {version}; this one "
                f"knows {SCHEMA_VERSION})",
                "upgrade framediff, or give another file with --db",
            )
        for v in range(version, SCHEMA_VERSION):
            with self._db:
                self._db.executescript(_MIGRATIONS[v])
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", (str(v + 1),)
                )

    @property
    def schema(self) -> int:
        """The schema version of the open file."""
        return self._version()

    # -- files ----------------------------------------------------------------------------------------

    def known(self, paths: Iterable[str] | None = None) -> dict[str, tuple[int, float]]:
        """``path -> (size, mtime)`` of the indexed files (all, or those among ``paths``)."""
        rows = self._db.execute("SELECT path, size, mtime FROM files")
        out = {p: (s, m) for p, s, m in rows}
        if paths is not None:
            wanted = set(paths)
            out = {p: v for p, v in out.items() if p in wanted}
        return out

    def get(self, path: str) -> Fingerprint | str | None:
        """The fingerprint of ``path``, the error it gave, or ``None`` when it is not indexed."""
        row = self._db.execute(f"SELECT {_COLUMNS}, error FROM files WHERE path=?", (path,)).fetchone()
        if row is None:
            return None
        if row[-1] is not None:
            return str(row[-1])
        return self._fingerprint(row)

    def fingerprints(self, paths: Iterable[str]) -> Iterator[Fingerprint]:
        """The fingerprints of ``paths`` that are indexed and readable, in batches."""
        for batch in _batches(paths, 500):
            yield from self._batch(batch)

    def _batch(self, paths: list[str]) -> Iterator[Fingerprint]:
        marks = ",".join("?" * len(paths))
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM files WHERE error IS NULL AND path IN ({marks})", paths
        ).fetchall()
        by_path = {r[0]: r for r in rows}
        for p in paths:
            if p in by_path:
                yield self._fingerprint(by_path[p])

    @staticmethod
    def _fingerprint(row: tuple[Any, ...]) -> Fingerprint:
        (path, size, mtime, digest, pixels, width, height, fmt, taken, quality, pdq, feats, mirr, pts, mpts, thumb) = row[:16]
        return Fingerprint(
            path=path, size=size, mtime=mtime, digest=digest, width=width, height=height, format=fmt,
            taken=taken, pdq=_rows(pdq).reshape(8, 32), quality=quality, features=_rows(feats),
            mirrored=_rows(mirr), points=_points(pts), mirrored_points=_points(mpts), pixels=pixels, thumb=thumb,
        )  # fmt: skip

    def put(self, fp: Fingerprint) -> None:
        """Add or replace a file's fingerprint (committed with the batch: see :meth:`commit`)."""
        self._write(
            f"INSERT OR REPLACE INTO files ({_COLUMNS}, error, grid, levels, framed) VALUES ({','.join('?' * 20)})",
            (
                fp.path, fp.size, fp.mtime, fp.digest, fp.pixels, fp.width, fp.height, fp.format, fp.taken,
                fp.quality, _blob(fp.pdq), _blob(fp.features), _blob(fp.mirrored),
                np.ascontiguousarray(fp.points, np.float32).tobytes(),
                np.ascontiguousarray(fp.mirrored_points, np.float32).tobytes(), fp.thumb, None,
                *_facts_row(fp.facts),
            ),
        )  # fmt: skip

    def put_facts(self, path: str, facts: ThumbFacts) -> None:
        """Store what grouping reads of a file's thumbnail (for files indexed before it was stored)."""
        self._write("UPDATE files SET grid=?, levels=?, framed=? WHERE path=?", (*_facts_row(facts), path))

    def summaries(self, paths: Iterable[str]) -> Iterator[tuple[Any, ...]]:
        """What grouping needs of each readable file of ``paths``, in that order, without its features
        or thumbnail: ``(path, size, mtime, digest, width, height, format, taken, pdq, facts)``, where
        ``facts`` is a :class:`~.fingerprint.ThumbFacts` or ``None`` when not stored yet.
        """
        cols = "path, size, mtime, digest, width, height, format, taken, pdq, grid, levels, framed"
        for part in _batches(paths, 500):
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT {cols} FROM files WHERE error IS NULL AND path IN ({marks})", part)
            by_path = {r[0]: r for r in rows}
            for p in part:
                r = by_path.get(p)
                if r is not None:
                    facts = _facts(r[9], r[10], r[11])
                    yield (*r[:8], _rows(r[8]).reshape(8, 32), facts)

    def thumbs(self, paths: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """``(path, thumbnail JPEG)`` of the readable files of ``paths`` that are indexed."""
        for part in _batches(paths, 500):
            marks = ",".join("?" * len(part))
            yield from self._db.execute(f"SELECT path, thumb FROM files WHERE error IS NULL AND path IN ({marks})", part)

    def feature_sets(self, paths: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The ORB descriptors of each file of ``paths`` and of its mirror image, in that order (empty for a
        file that is not indexed)."""
        got: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for part in _batches(paths, 500):
            marks = ",".join("?" * len(part))
            for p, f, m in self._db.execute(f"SELECT path, features, mirrored FROM files WHERE path IN ({marks})", part):
                got[p] = (_rows(f), _rows(m))
        empty = (np.zeros((0, 32), np.uint8),) * 2
        pairs = [got.get(p, empty) for p in paths]
        return [f for f, _ in pairs], [m for _, m in pairs]

    def errors(self) -> dict[str, str]:
        """``path -> message`` of the files that could not be read."""
        return dict(self._db.execute("SELECT path, error FROM files WHERE error IS NOT NULL"))

    def put_error(self, path: str, size: int, mtime: float, message: str) -> None:
        """Remember that a file could not be read (it is tried again when it changes)."""
        self._write(
            "INSERT OR REPLACE INTO files (path, size, mtime, error) VALUES (?, ?, ?, ?)",
            (path, size, mtime, message),
        )

    def remove(self, paths: Iterable[str]) -> int:
        """Forget files; returns how many were indexed."""
        n = 0
        for p in paths:
            n += self._write("DELETE FROM files WHERE path=?", (p,))
        return n

    def prune(self, roots: Iterable[str], seen: set[str]) -> int:
        """Forget the files under ``roots`` that were not ``seen`` in this walk (deleted or moved away).

        Args:
            roots: Absolute folders (or files) that were walked.
            seen: Every path found under them.

        Returns:
            How many entries were removed.
        """
        gone = []
        for root in roots:
            like = _like_under(root)
            for (p,) in self._db.execute("SELECT path FROM files WHERE path LIKE ? ESCAPE '\\'", (like,)):
                if p not in seen:
                    gone.append(p)
        return self.remove(gone)

    # -- verdicts -------------------------------------------------------------------------------------

    def verdict(self, a: bytes, b: bytes, version: int) -> dict[str, Any] | None:
        """A verification result stored for the contents ``a`` (kept) and ``b``, or ``None``."""
        row = self._db.execute(
            "SELECT result FROM verdicts WHERE a=? AND b=? AND version=?", (a, b, version)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def put_verdict(self, a: bytes, b: bytes, version: int, result: dict[str, Any]) -> None:
        """Store a verification result for the contents ``a`` (kept) and ``b``."""
        self._write(
            "INSERT OR REPLACE INTO verdicts (a, b, version, result) VALUES (?, ?, ?, ?)",
            (a, b, version, json.dumps(result)),
        )

    def keep_fingerprints_of(self, version: int) -> int:
        """Forget every fingerprint (and stored run) made by another version of the fingerprinting.

        Returns:
            How many files were forgotten (they are fingerprinted again).
        """
        row = self._db.execute("SELECT value FROM meta WHERE key='fingerprints'").fetchone()
        if row is not None and int(row[0]) == version:
            return 0
        n = self._write("DELETE FROM files", ()) if row is not None else 0
        self._write("DELETE FROM results", ())
        # Neural descriptors are made from the thumbnails, which the fingerprinting makes.
        self._write("DELETE FROM neural", ())
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES ('fingerprints', ?)", (str(version),))
        self.commit()
        return n

    # -- results of whole runs -------------------------------------------------------------------------

    def result(self, key: str) -> dict[str, Any] | None:
        """The stored outcome of a run made from exactly what ``key`` digests, or ``None``."""
        row = self._db.execute("SELECT value FROM results WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_result(self, key: str, value: dict[str, Any], keep: int = 8) -> None:
        """Store a run's outcome under ``key``; only the ``keep`` most recent outcomes are kept."""
        self._write(
            "INSERT OR REPLACE INTO results (key, made, value) VALUES (?, ?, ?)", (key, time.time(), json.dumps(value))
        )
        self._write(
            "DELETE FROM results WHERE key NOT IN (SELECT key FROM results ORDER BY made DESC LIMIT ?)", (keep,)
        )

    # -- search entries ------------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """A counter that every change of the files or hash-list entries moves on (committed or not)."""
        row = self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def search_rows(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """``(path, upright PDQ hash, ORB descriptors)`` of every readable indexed picture, in path order."""
        rows = self._db.execute("SELECT path, pdq, features FROM files WHERE error IS NULL ORDER BY path")
        for path, pdq, feats in rows:
            yield path, _rows(pdq).reshape(8, 32)[0], _rows(feats)

    # -- neural descriptors ------------------------------------------------------------------------------

    @property
    def neural_generation(self) -> int:
        """A counter that every added or removed neural descriptor moves on."""
        row = self._db.execute("SELECT value FROM meta WHERE key='neural_generation'").fetchone()
        return int(row[0]) if row else 0

    def neural_missing(self, version: int) -> list[bytes]:
        """The content digests of readable indexed files that have no neural descriptors of ``version``."""
        rows = self._db.execute(
            "SELECT DISTINCT f.digest FROM files f WHERE f.error IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM neural n WHERE n.digest = f.digest AND n.version = ?)",
            (version,),
        )
        return [d for (d,) in rows]

    def thumbs_of(self, digests: list[bytes]) -> dict[bytes, bytes]:
        """``digest -> thumbnail`` (JPEG bytes) of indexed files with those contents."""
        out: dict[bytes, bytes] = {}
        for k in range(0, len(digests), 500):
            part = digests[k : k + 500]
            marks = ",".join("?" * len(part))
            for d, t in self._db.execute(
                f"SELECT digest, thumb FROM files WHERE error IS NULL AND digest IN ({marks})", part
            ):
                out[d] = t
        return out

    def put_neural(self, digest: bytes, version: int, vectors: np.ndarray) -> None:
        """Store a content's neural descriptors ((regions, dim) float16)."""
        blob = np.ascontiguousarray(vectors, np.float16).tobytes()
        self._write("INSERT OR REPLACE INTO neural (digest, version, vectors) VALUES (?, ?, ?)", (digest, version, blob))

    def forget_unused_neural(self) -> int:
        """Drop the descriptors of contents no indexed file has any more; returns how many."""
        n = self._write("DELETE FROM neural WHERE digest NOT IN (SELECT digest FROM files WHERE digest IS NOT NULL)", ())
        self.commit()
        return n

    def neural_rows(self, version: int, dim: int) -> Iterator[tuple[str, np.ndarray]]:
        """``(path, (regions, dim) float16 descriptors)`` of every readable indexed picture that has them, in
        path order."""
        rows = self._db.execute(
            "SELECT f.path, n.vectors FROM files f JOIN neural n ON n.digest = f.digest AND n.version = ? "
            "WHERE f.error IS NULL ORDER BY f.path",
            (version,),
        )
        for path, blob in rows:
            yield path, np.frombuffer(blob, np.float16).reshape(-1, dim)

    def neural_of(self, digests: Iterable[bytes], version: int, dim: int) -> dict[bytes, np.ndarray]:
        """``digest -> (regions, dim) float16 descriptors`` for the contents that have them."""
        wanted = list(dict.fromkeys(digests))
        out: dict[bytes, np.ndarray] = {}
        for k in range(0, len(wanted), 500):
            part = wanted[k : k + 500]
            marks = ",".join("?" * len(part))
            for d, blob in self._db.execute(
                f"SELECT digest, vectors FROM neural WHERE version = ? AND digest IN ({marks})", [version, *part]
            ):
                out[d] = np.frombuffer(blob, np.float16).reshape(-1, dim)
        return out

    def put_hashes(self, entries: Iterable[HashEntry]) -> int:
        """Add hash-list entries (an entry already held with the same hash and label is not added twice).

        Returns:
            How many were new.
        """
        have = {(bytes(h), label) for h, label in self._db.execute("SELECT pdq, label FROM hashes")}
        n = 0
        for e in entries:
            key = (_blob(e.pdq), e.label)
            if key in have:
                continue
            have.add(key)
            self._write("INSERT INTO hashes (pdq, quality, label) VALUES (?, ?, ?)", (key[0], e.quality, e.label))
            n += 1
        self.commit()
        return n

    def hash_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, hashes)`` of every hash-list entry: (n,) int64 and (n, 32) uint8, in id order."""
        cursor = self._db.execute("SELECT id, pdq FROM hashes ORDER BY id")
        ids, codes = [], []
        while rows := cursor.fetchmany(100_000):  # a list of millions of rows at once takes GBs as tuples
            ids.append(np.array([r[0] for r in rows], np.int64))
            codes.append(np.frombuffer(b"".join(r[1] for r in rows), np.uint8).reshape(-1, 32))
        if not ids:
            return np.zeros(0, np.int64), np.zeros((0, 32), np.uint8)
        return np.concatenate(ids), np.concatenate(codes)

    def hash_entries(self, ids: Iterable[int] | None = None) -> dict[int, HashEntry]:
        """``id -> entry`` of the hash-list entries (all, or those of ``ids``)."""
        if ids is None:
            rows = self._db.execute("SELECT id, pdq, quality, label FROM hashes ORDER BY id").fetchall()
        else:
            wanted = [int(i) for i in ids]
            rows = []
            for k in range(0, len(wanted), 500):
                part = wanted[k : k + 500]
                marks = ",".join("?" * len(part))
                rows += self._db.execute(f"SELECT id, pdq, quality, label FROM hashes WHERE id IN ({marks})", part).fetchall()
        return {i: HashEntry(np.frombuffer(h, np.uint8).copy(), q, label) for i, h, q, label in rows}

    def remove_under(self, paths: Iterable[str]) -> int:
        """Forget the indexed files that are ``paths`` or lie under them (absolute paths).

        Returns:
            How many were forgotten.
        """
        gone = []
        for root in paths:
            like = _like_under(root)
            rows = self._db.execute("SELECT path FROM files WHERE path = ? OR path LIKE ? ESCAPE '\\'", (root, like))
            gone += [p for (p,) in rows]
        n = self.remove(gone)
        self.commit()
        return n

    # -- the search API (framediff.Index) ---------------------------------------------------------------

    def add(
        self, paths: Iterable[str | os.PathLike], jobs: int = 0, progress: Any = None, cluster: Any = None,
        neural: bool = False,
    ) -> Any:
        """Fingerprint pictures into the index (new and changed files only; files gone from the folders
        given are forgotten).

        Args:
            paths: Folders (walked recursively) and files.
            jobs: Threads (0: every usable core).
            progress: ``progress(stage, done, total)``.
            cluster: Fingerprint on a Dask cluster (``tcp://HOST:PORT`` or ``local:N``); this process
                still writes the index.
            neural: Also make the pictures' neural descriptors (the neural extra).

        Returns:
            An :class:`~.search.AddReport`.
        """
        from .search import add_pictures

        return add_pictures(self, paths, jobs=jobs, progress=progress, cluster=cluster, neural=neural)

    def search(self, query: Any, top: int = 10, max_distance: int = 31, neural: bool = False) -> Any:
        """The indexed pictures and hash-list entries that ``query`` is a copy of, best first.

        Args:
            query: A picture file's path, or a decoded picture (BGR array).
            top: The most matches returned.
            max_distance: PDQ distance (over the 8 dihedral forms) at which a hash-list entry matches.
            neural: Also take candidates from the neural descriptors (the neural extra).

        Returns:
            A :class:`~.search.QueryResult`.
        """
        from .search import Searcher

        return Searcher(self, neural=neural).search(query, top=top, max_distance=max_distance)

    def import_hashes(self, source: Any) -> int:
        """Add the entries of a PDQ hash list (a file, ``-`` for stdin, or :class:`HashEntry` objects).

        Returns:
            How many entries were new.
        """
        from .hashlist import read_hash_list

        entries = source if isinstance(source, list | tuple) else read_hash_list(source)
        return self.put_hashes(entries)

    def export_hashes(self, dest: str | os.PathLike) -> int:
        """Write the index's PDQ hashes as a list (pictures' hashes made as the reference does, then the
        hash-list entries).

        Returns:
            How many lines were written.
        """
        from .search import export_hashes

        return export_hashes(self, dest)

    # -- transactions ---------------------------------------------------------------------------------

    def _write(self, sql: str, args: tuple[Any, ...]) -> int:
        try:
            n = self._db.execute(sql, args).rowcount
        except sqlite3.DatabaseError as e:  # read-only file, disk full
            raise OutputError(f"cannot write the index {self.path} ({e})", "give a writable file with --db") from None
        self._pending += 1
        # Batches (200 rows, or a second's worth): a killed run keeps every batch it committed.
        if self._pending >= 200 or time.monotonic() - self._last_commit > 1.0:
            self.commit()
        return n

    def commit(self) -> None:
        """Write what was added since the last commit."""
        try:
            self._db.commit()
        except sqlite3.DatabaseError as e:
            raise OutputError(f"cannot write the index {self.path} ({e})", "give a writable file with --db") from None
        self._pending = 0
        self._last_commit = time.monotonic()

    def stats(self) -> dict[str, Any]:
        """Counts and sizes: files, unreadable files, hash-list entries, verdicts, bytes on disk, schema."""
        files = self._db.execute("SELECT COUNT(*), COUNT(error) FROM files").fetchone()
        verdicts = self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]
        hashes = self._db.execute("SELECT COUNT(*) FROM hashes").fetchone()[0]
        neural = self._db.execute("SELECT COUNT(*) FROM neural").fetchone()[0]
        size = Path(self.path).stat().st_size if self.path != ":memory:" and Path(self.path).exists() else 0
        return {
            "files": files[0] - files[1], "unreadable": files[1], "hashes": hashes, "verdicts": verdicts, "neural": neural,
            "bytes": size, "schema": self.schema, "path": self.path,
        }  # fmt: skip

    def close(self) -> None:
        """Commit and close (safe to call twice)."""
        if self._db is not None:
            try:
                self.commit()
            finally:
                self._db.close()
                self._db = None  # type: ignore[assignment]

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
