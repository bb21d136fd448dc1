"""The library's SQLite store, and the only module that writes SQL.

One writer connection, guarded by a lock, in WAL mode with ``synchronous=FULL``: a
choice is on disk when its transaction returns, so a killed server loses no acknowledged
choice. Reads go to read-only connections, one per thread, each read a snapshot, so they
never wait for a write (datasette's pattern). Comparisons are append-only; undo marks
one as withdrawn. A store is opened for one profile (one person's or one question's
taste): its choices, batches, ratings and models; images and embeddings are shared.

Before each commit the store checks that the files at its path are still the ones it
opened: a store deleted, replaced or robbed of its write-ahead log (or the log's index)
while in use refuses every write (:class:`StoreUnavailable`) after writing what it holds
back to disk, and a full disk refuses the same way, so nothing is acknowledged that is
not kept. Reads make the same check, and once it fails read through the writer, which
still holds the store's own files: no read sees whatever now lies at the path.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tastemaker.errors import SettingError, StoreUnavailable, TastemakerError

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Register a schema step; steps run in order, each with its version in one transaction."""
    MIGRATIONS.append(fn)
    return fn


def _script(db: sqlite3.Connection, sql: str) -> None:
    """Run statements one by one (``executescript`` would commit the open transaction)."""
    statement = ""
    for line in sql.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE images (
            id INTEGER PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,          -- sha256 of the content: the identity
            path TEXT NOT NULL,                 -- relative, slash-separated, one current location
            status TEXT NOT NULL CHECK (status IN ('present', 'missing', 'unreadable')),
            bytes INTEGER NOT NULL,
            width INTEGER,
            height INTEGER,
            problem TEXT,                       -- why an image is unreadable
            added_at REAL NOT NULL
        );
        CREATE TABLE files (                    -- what the last scan saw, so unchanged files
            path TEXT PRIMARY KEY,              -- (same size and mtime) are not hashed again
            bytes INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            image_id INTEGER NOT NULL REFERENCES images(id)
        );
        CREATE INDEX files_image ON files(image_id);
        CREATE TABLE ratings (                  -- derived from comparisons, plus starting scores
            image_id INTEGER PRIMARY KEY REFERENCES images(id),
            prior REAL NOT NULL DEFAULT 0,      -- starting score: imported or from a model
            prior_source TEXT,
            prior_comparisons INTEGER NOT NULL DEFAULT 0,
            elo REAL NOT NULL DEFAULT 0,
            comparisons INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            started_at REAL NOT NULL,
            settings TEXT NOT NULL
        );
        CREATE TABLE comparisons (              -- the source of truth: append-only
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id),
            made_at REAL NOT NULL,
            response_ms INTEGER,
            k REAL NOT NULL,                    -- the Elo K this choice was applied with
            winner_id INTEGER NOT NULL REFERENCES images(id),
            prediction INTEGER NOT NULL CHECK (prediction IN (-1, 0, 1)),
            withdrawn_at REAL
        );
        CREATE INDEX comparisons_session ON comparisons(session_id);
        CREATE TABLE comparison_images (        -- the images shown, in screen order
            comparison_id INTEGER NOT NULL REFERENCES comparisons(id),
            position INTEGER NOT NULL,
            image_id INTEGER NOT NULL REFERENCES images(id),
            PRIMARY KEY (comparison_id, position)
        );
        CREATE TABLE batches (                  -- the seed's ab_stats history
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id),
            first_comparison_id INTEGER NOT NULL,
            last_comparison_id INTEGER NOT NULL,
            started_at REAL NOT NULL,
            ended_at REAL NOT NULL,
            choices INTEGER NOT NULL,
            matched INTEGER NOT NULL,
            contradicted INTEGER NOT NULL,
            unpredicted INTEGER NOT NULL
        );
        """,
    )


@migration
def m002_embeddings_and_models(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE embeddings (               -- computed once per content and extractor
            image_hash TEXT NOT NULL,
            extractor TEXT NOT NULL,
            layers TEXT NOT NULL,               -- e.g. '0' or '0,2:join'
            vector BLOB NOT NULL,               -- little-endian float32
            PRIMARY KEY (image_hash, extractor, layers)
        ) WITHOUT ROWID;
        CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,                 -- the .safetensors file
            extractor TEXT NOT NULL,
            layers TEXT NOT NULL,
            created_at REAL NOT NULL,
            metrics TEXT NOT NULL               -- JSON: held-out and train metrics
        );
        """,
    )


@migration
def m003_settings(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


@migration
def m004_model_in_the_loop(db: sqlite3.Connection) -> None:
    # the model's call on each choice (as elo's `prediction`), NULL when none consulted
    db.execute("ALTER TABLE comparisons ADD COLUMN model_prediction INTEGER")
    db.execute("ALTER TABLE batches ADD COLUMN odd_one_out TEXT")  # JSON counts, or NULL


@migration
def m005_speed_weight(db: sqlite3.Connection) -> None:
    # the response-time weight this choice was applied with (1 unless --weight-by-speed);
    # derived from response_ms, so `recompute` may rewrite it
    db.execute("ALTER TABLE comparisons ADD COLUMN weight REAL NOT NULL DEFAULT 1")


@migration
def m006_repeats(db: sqlite3.Connection) -> None:
    # a set shown again (swapped) to measure the person's own consistency
    db.execute("ALTER TABLE comparisons ADD COLUMN repeat_of INTEGER REFERENCES comparisons(id)")


@migration
def m007_profiles(db: sqlite3.Connection) -> None:
    # several tastes in one library: sessions (so their choices and batches), ratings,
    # priors and models belong to a profile; images, files and embeddings stay shared.
    # What a library held before is the profile 'default'. (A column added with a
    # non-NULL default cannot carry REFERENCES while foreign keys are on.)
    _script(
        db,
        """
        CREATE TABLE profiles (name TEXT PRIMARY KEY);
        INSERT INTO profiles (name) VALUES ('default');
        ALTER TABLE sessions ADD COLUMN profile TEXT NOT NULL DEFAULT 'default';
        CREATE INDEX sessions_profile ON sessions(profile);
        ALTER TABLE models ADD COLUMN profile TEXT NOT NULL DEFAULT 'default';
        CREATE TABLE profile_ratings (
            profile TEXT NOT NULL REFERENCES profiles(name),
            image_id INTEGER NOT NULL REFERENCES images(id),
            prior REAL NOT NULL DEFAULT 0,
            prior_source TEXT,
            prior_comparisons INTEGER NOT NULL DEFAULT 0,
            elo REAL NOT NULL DEFAULT 0,
            comparisons INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (profile, image_id)
        ) WITHOUT ROWID;
        INSERT INTO profile_ratings (profile, image_id, prior, prior_source,
            prior_comparisons, elo, comparisons)
            SELECT 'default', image_id, prior, prior_source, prior_comparisons, elo,
            comparisons FROM ratings;
        DROP TABLE ratings;
        ALTER TABLE profile_ratings RENAME TO ratings;
        """,
    )


SCHEMA_VERSION = len(MIGRATIONS)
DEFAULT_PROFILE = "default"
_PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# the sessions, so the choices and batches, of the store's profile
_MINE = "session_id IN (SELECT id FROM sessions WHERE profile = ?)"
SAVED_MARK = "-saved-"  # in the name of a copy saved beside a store replaced while open
# errors that say the file cannot take a write, as opposed to a mistake in the SQL
_UNAVAILABLE = {
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_CANTOPEN,
}


@contextmanager
def _unavailable_on_write_errors(path: Path) -> Iterator[None]:
    """SQLite's "disk full", "read-only", "I/O error" as :class:`StoreUnavailable`."""
    try:
        yield
    except sqlite3.OperationalError as e:
        if (getattr(e, "sqlite_errorcode", 0) & 0xFF) not in _UNAVAILABLE:
            raise
        raise StoreUnavailable(f"{path}: cannot be written now ({e}).") from e


def check_profile(name: str) -> str:
    """A profile's name, refused unless short and safe (it names a models folder too)."""
    if not _PROFILE_NAME.fullmatch(name):
        raise SettingError(
            "profile",
            f"{{setting}} {name!r}: a profile's name is 1 to 32 lowercase letters, digits, "
            "- or _, starting with a letter or digit",
        )
    return name


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


@dataclass(frozen=True)
class ImageRecord:
    id: int
    hash: str
    path: str
    status: str
    bytes: int
    width: int | None
    height: int | None
    problem: str | None


@dataclass(frozen=True)
class FileRecord:
    path: str
    bytes: int
    mtime_ns: int
    image_id: int


@dataclass(frozen=True)
class RatingRecord:
    image_id: int
    path: str
    status: str
    elo: float
    comparisons: int
    prior: float
    prior_comparisons: int
    prior_source: str | None


@dataclass(frozen=True)
class RatingColumns:
    """Present images, one row each across the columns, by id."""

    image_ids: NDArray[np.int64]
    hashes: list[str]
    paths: list[str]
    elo: NDArray[np.float64]
    comparisons: NDArray[np.int64]  # appearances in choices (imported counts not included)


@dataclass(frozen=True)
class Comparison:
    id: int
    session_id: int
    made_at: float
    response_ms: int | None
    k: float
    shown: tuple[int, ...]
    winner_id: int
    prediction: int
    withdrawn_at: float | None
    model_prediction: int | None = None
    weight: float = 1.0
    repeat_of: int | None = None  # the earlier choice this set repeated


@dataclass(frozen=True)
class Batch:
    id: int
    session_id: int
    first_comparison_id: int
    last_comparison_id: int
    started_at: float
    ended_at: float
    choices: int
    matched: int
    contradicted: int
    unpredicted: int
    odd_one_out: dict[str, int] | None = None


@dataclass(frozen=True)
class ModelRecord:
    id: int
    path: str
    extractor: str
    layers: str
    created_at: float
    metrics: dict[str, float]


@dataclass(frozen=True)
class NewImage:
    hash: str
    path: str
    bytes: int
    width: int | None
    height: int | None
    problem: str | None


@dataclass(frozen=True)
class EmbeddedChunk:
    """Some present images and their cached vectors, row for row."""

    image_ids: NDArray[np.int64]
    hashes: list[str]
    vectors: NDArray[np.float32]  # (n, d)


def _vectors(blobs: Sequence[bytes]) -> NDArray[np.float32]:
    """Stored vectors (little-endian float32 blobs of one length) as one ``(n, d)`` array,
    copied row by row: no joined copy of the chunk on the way."""
    out = np.empty((len(blobs), len(blobs[0]) // 4), np.float32)
    for row, blob in zip(out, blobs, strict=True):
        row[:] = np.frombuffer(blob, "<f4")
    return out


class StoreMisuse(RuntimeError):
    """A store method called where it cannot keep its promise (a write helper outside
    :meth:`Store.atomic`, a write inside a read snapshot): a mistake in the calling code."""


class _Reader(sqlite3.Connection):
    """A read-only connection; a subclass only so that the store can hold it weakly and
    it closes with the thread that used it."""


class Store:
    """An open ``library.db``, safe to share between threads.

    One writer connection behind a lock: every write is one transaction
    (:meth:`atomic`), committed before it returns. Reads go to a read-only connection of
    the reading thread, each read (or :meth:`snapshot` block) one transaction, so a read
    sees one committed state and never waits for a write; a read by the thread inside
    :meth:`atomic` goes to the writer and sees that transaction's own writes.

    A store is opened for one profile: every choice, batch, rating, prior and model it
    reads or writes is that profile's, so one profile's choices never reach another's;
    images and embeddings are shared. A profile not there yet is made (with a zero
    rating of every image) if ``create_profile``, else refused.
    """

    def __init__(
        self, path: Path, profile: str = DEFAULT_PROFILE, create_profile: bool = True
    ) -> None:
        self.path = path
        self.profile = check_profile(profile)
        # the write-ahead log and its index, which exist once the database was read and
        # as long as any connection to it is open
        self._logs = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with _unavailable_on_write_errors(path):
                self._writer = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
                self._writer.execute("PRAGMA busy_timeout = 30000")
                self._writer.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as e:
            raise TastemakerError(f"{path}: not a tastemaker library database ({e}).") from e
        self._writer.execute("PRAGMA synchronous = FULL")
        self._writer.execute("PRAGMA foreign_keys = ON")
        self._lock = threading.RLock()
        self._depth = 0
        self._commits = 0  # this store's own, for changes()
        self._writing: int | None = None  # the thread inside the write transaction
        self._local = threading.local()  # each thread's reader and its open snapshot
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()
        self._readers_lock = threading.Lock()
        self._reader_uri = path.absolute().as_uri() + "?mode=ro"
        self._lost: str | None = None  # why writes are refused, once the files changed
        self._db_id = _identity(path)  # the files this store's connections use
        self._log_ids: dict[Path, tuple[int, int] | None] = {}
        with _unavailable_on_write_errors(path):
            self._migrate()
            self._open_profile(create_profile)
        self._log_ids = {log: _identity(log) for log in self._logs}

    def close(self) -> None:
        """Fold the write-ahead log into ``library.db`` (a complete copy alone), then close;
        a store deleted or replaced meanwhile is saved first, as a refused write would."""
        with self._lock:
            with self._readers_lock:
                readers = list(self._readers)
            for reader in readers:  # a reader left open would keep the log from folding
                reader.close()
            try:
                self._refuse_if_lost()
                self.checkpoint()
            except StoreUnavailable:
                pass  # what it held is saved; the message was given to the write refused
            self._writer.close()

    def checkpoint(self) -> bool:
        """Copy every committed write from the write-ahead log into ``library.db``; False
        if the file could not take them now (the log still holds them)."""
        with self._lock:
            try:
                busy = self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.OperationalError:
                return False
            return not busy

    # -- transactions and schema -------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One write transaction (``BEGIN IMMEDIATE``); nested calls become savepoints.
        The outermost commits only if the store's files are still the ones opened."""
        if getattr(self._local, "snapshot", None) is not None:
            raise StoreMisuse("A write inside Store.snapshot() would be invisible to its reads.")
        with self._lock, _unavailable_on_write_errors(self.path):
            name = f"sp{self._depth}"
            self._writer.execute("BEGIN IMMEDIATE" if self._depth == 0 else f"SAVEPOINT {name}")
            self._depth += 1
            self._writing = threading.get_ident()
            try:
                yield
                if self._depth == 1:
                    self._refuse_if_lost()
            except BaseException:
                self._end_level()
                if self._depth == 0:
                    self._rollback()
                else:
                    self._writer.execute(f"ROLLBACK TO {name}")
                    self._writer.execute(f"RELEASE {name}")
                raise
            self._end_level()
            try:
                self._writer.execute("COMMIT" if self._depth == 0 else f"RELEASE {name}")
            except sqlite3.Error:
                if self._depth == 0:
                    self._rollback()
                raise
            if self._depth == 0:
                self._commits += 1

    def _end_level(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._writing = None

    def _in_write(self, helper: str) -> sqlite3.Connection:
        """The writer, for a helper whose writes belong to its caller's transaction."""
        if self._writing != threading.get_ident():
            raise StoreMisuse(f"Store.{helper} writes only inside Store.atomic().")
        return self._writer

    def _rollback(self) -> None:
        if self._writer.in_transaction:
            self._writer.execute("ROLLBACK")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read in the block sees one committed state of the store, whatever is
        committed meanwhile (writing inside it is refused: its reads would not see it)."""
        with self._reading():
            yield

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for one read: the writer for the thread inside :meth:`atomic`
        (it reads its own writes), else this thread's snapshot, else a new snapshot on
        this thread's read-only connection. Once the files at the path are not the ones
        opened, reads go to the writer, which still holds the store's own files."""
        if self._writing == threading.get_ident():
            yield self._writer
            return
        open_snapshot = getattr(self._local, "snapshot", None)
        if open_snapshot is not None:
            yield open_snapshot
            return
        reader = None if self._files_moved() else self._reader()
        if reader is None or self._files_moved():
            with self._lock:
                yield self._writer
            return
        reader.execute("BEGIN")
        self._local.snapshot = reader
        try:
            yield reader
        finally:
            self._local.snapshot = None
            reader.execute("COMMIT")  # a read transaction: this only ends it

    def _reader(self) -> _Reader | None:
        """This thread's read-only connection, opened on first use with its files open (so
        the identity check that follows covers them); None if the files cannot be opened
        now, as when the store was just deleted."""
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is None:
            try:
                reader = sqlite3.connect(
                    self._reader_uri,
                    uri=True,
                    check_same_thread=False,  # so that close() can close it
                    isolation_level=None,
                    factory=_Reader,
                )
                reader.execute("PRAGMA busy_timeout = 30000")
                reader.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the log
            except sqlite3.OperationalError:
                return None
            self._local.reader = reader
            with self._readers_lock:
                self._readers.add(reader)
        return reader

    def _files_moved(self) -> bool:
        """Whether the database or its log at our path is not the one this store opened."""
        return self._lost is not None or self._moved() is not None

    def _moved(self) -> tuple[Path, tuple[int, int] | None] | None:
        """The first of the store's files replaced or deleted since it was opened, with
        what is at its path now."""
        now_db = _identity(self.path)
        if now_db != self._db_id:
            return self.path, now_db
        for log, opened in self._log_ids.items():
            if opened is not None and (now := _identity(log)) != opened:
                return log, now
        return None

    def check(self) -> None:
        """Raise :class:`StoreUnavailable` if the store's files were deleted or replaced
        (saving what this connection holds, the first time)."""
        with self._lock:
            self._refuse_if_lost()

    def _refuse_if_lost(self) -> None:
        """Raise :class:`StoreUnavailable` if the database or its log at our path is not the
        one this connection writes; the first time, save what this connection holds."""
        if self._lost is None and (moved := self._moved()) is not None:
            self._rollback()
            file, now = moved
            what = f"{file} was {'deleted' if now is None else 'replaced'}"
            if file == self.path:
                self._lost = f"{what} while in use; {self._save_copy(replace=now is None)}"
            else:
                # this connection's log still holds every write: into the file, or a copy
                kept = (
                    f"every choice it held is saved in {self.path}"
                    if self.checkpoint()
                    else self._save_copy(replace=False)
                )
                self._lost = f"{what} while in use; {kept}"
        if self._lost is not None:
            raise StoreUnavailable(
                f"{self._lost}. Nothing more can be saved here: stop and start again."
            )

    def _save_copy(self, replace: bool) -> str:
        """Save what this connection holds: at its path if that is free (``replace``), else
        beside it under a new name; says where (or why it could not)."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        copy = self.path.with_name(f"{self.path.stem}{SAVED_MARK}{stamp}-{os.getpid()}.db")
        try:
            self.path.parent.mkdir(exist_ok=True)  # the store's folder, not a moved library
            target = sqlite3.connect(copy)
            try:
                self._writer.backup(target)
            finally:
                target.close()
            if replace:
                try:
                    os.link(copy, self.path)  # not over one another process made meanwhile
                except FileExistsError:
                    return f"every choice it held is saved in {copy}"
                copy.unlink()
                copy = self.path
        except (OSError, sqlite3.Error) as e:
            return f"its choices could not be saved ({e})"
        return f"every choice it held is saved in {copy}"

    def _migrate(self) -> None:
        version = self._writer.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise TastemakerError(
                f"{self.path} was written by a newer tastemaker (schema {version}, this one "
                f"knows {SCHEMA_VERSION}); upgrade with: pip install -U tastemaker"
            )
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.atomic():
                step(self._writer)
                self._writer.execute(f"PRAGMA user_version = {number}")

    def _open_profile(self, create: bool) -> None:
        names = self.profiles()
        if self.profile in names:
            return
        if not create:
            self.close()
            raise SettingError(
                "profile",
                f"{self.path}: no profile {self.profile!r} here (there are: "
                f"{', '.join(names)}); rate under it first, or give another {{setting}}",
            )
        with self.atomic():
            self._writer.execute("INSERT INTO profiles (name) VALUES (?)", (self.profile,))
            self._writer.execute(
                "INSERT INTO ratings (profile, image_id) SELECT ?, id FROM images",
                (self.profile,),
            )

    def profiles(self) -> list[str]:
        """The library's profiles, by name."""
        return [name for (name,) in self._all("SELECT name FROM profiles ORDER BY name")]

    def schema_version(self) -> int:
        return int(self._scalar("PRAGMA user_version"))

    def data_version(self) -> int:
        """A number that changes whenever another process commits. Asked of the writer,
        whose own commits leave it as it is (a reader's would change with each of them)."""
        with self._lock:
            return self._writer.execute("PRAGMA data_version").fetchone()[0]

    def changes(self) -> tuple[int, int]:
        """A key that differs after every commit, this store's own and other processes'
        alike: whatever was derived from reads made after asking it stays true while the
        key stays the same."""
        with self._lock:
            return self.data_version(), self._commits

    def integrity_check(self) -> str:
        return str(self._scalar("PRAGMA integrity_check"))

    def _all(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        with self._reading() as db:
            return db.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[object] = ()) -> tuple | None:
        with self._reading() as db:
            return db.execute(sql, params).fetchone()

    def _scalar(self, sql: str, params: Sequence[object] = ()) -> Any:
        """The value of a query that always gives one row of one (a count, a pragma)."""
        with self._reading() as db:
            return db.execute(sql, params).fetchone()[0]

    # -- images and the scan cache -------------------------------------------------------

    def files(self) -> dict[str, FileRecord]:
        rows = self._all("SELECT path, bytes, mtime_ns, image_id FROM files")
        return {r[0]: FileRecord(*r) for r in rows}

    def image_ids_by_hash(self, hashes: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        hashes = list(hashes)
        with self.snapshot():
            for start in range(0, len(hashes), 500):
                chunk = hashes[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(
                    self._all(f"SELECT hash, id FROM images WHERE hash IN ({marks})", chunk)
                )
        return found

    def add_image(self, image: NewImage) -> int:
        """Insert an image (status from ``problem``) and its zero rating; return its id."""
        with self.atomic():
            cursor = self._writer.execute(
                "INSERT INTO images (hash, path, status, bytes, width, height, problem, added_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    image.hash,
                    image.path,
                    "unreadable" if image.problem else "present",
                    image.bytes,
                    image.width,
                    image.height,
                    image.problem,
                    time.time(),
                ),
            )
            image_id = int(cursor.lastrowid or 0)
            self._writer.execute(  # every profile's zero rating
                "INSERT INTO ratings (profile, image_id) SELECT name, ? FROM profiles",
                (image_id,),
            )
        return image_id

    def set_files(self, files: Iterable[FileRecord], removed: Iterable[str]) -> None:
        """Record what a scan saw, then derive each image's status and current path."""
        with self.atomic():
            self._writer.executemany("DELETE FROM files WHERE path = ?", ((p,) for p in removed))
            self._writer.executemany(
                "INSERT INTO files (path, bytes, mtime_ns, image_id) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(path) DO UPDATE SET bytes = excluded.bytes,"
                " mtime_ns = excluded.mtime_ns, image_id = excluded.image_id",
                ((f.path, f.bytes, f.mtime_ns, f.image_id) for f in files),
            )
            self._writer.execute(
                "UPDATE images SET status = 'missing'"
                " WHERE status = 'present' AND id NOT IN (SELECT image_id FROM files)"
            )
            self._writer.execute(
                "UPDATE images SET status = 'present'"
                " WHERE status = 'missing' AND id IN (SELECT image_id FROM files)"
            )
            self._writer.execute(
                "UPDATE images"
                " SET path = (SELECT min(f.path) FROM files f WHERE f.image_id = images.id)"
                " WHERE id IN (SELECT image_id FROM files)"
                " AND path NOT IN (SELECT f.path FROM files f WHERE f.image_id = images.id)"
            )

    def image(self, image_id: int) -> ImageRecord | None:
        row = self._one(
            "SELECT id, hash, path, status, bytes, width, height, problem FROM images WHERE id = ?",
            (image_id,),
        )
        return ImageRecord(*row) if row else None

    def images(self, status: str | None = None) -> list[ImageRecord]:
        sql = "SELECT id, hash, path, status, bytes, width, height, problem FROM images"
        rows = (
            self._all(sql + " WHERE status = ? ORDER BY id", (status,))
            if status
            else self._all(sql + " ORDER BY id")
        )
        return [ImageRecord(*r) for r in rows]

    def status_counts(self) -> dict[str, int]:
        return dict(self._all("SELECT status, count(*) FROM images GROUP BY status"))

    def copies(self) -> int:
        """Files the last scan saw whose content another of them has too (one image)."""
        return int(self._scalar("SELECT count(*) - count(DISTINCT image_id) FROM files"))

    # -- ratings -------------------------------------------------------------------------

    def ratings(self, status: str | None = "present") -> list[RatingRecord]:
        sql = (
            "SELECT i.id, i.path, i.status, r.elo, r.comparisons, r.prior, r.prior_comparisons,"
            " r.prior_source FROM images i JOIN ratings r ON r.image_id = i.id"
            " WHERE r.profile = ?"
        )
        rows = (
            self._all(sql + " AND i.status = ? ORDER BY i.id", (self.profile, status))
            if status
            else self._all(sql + " ORDER BY i.id", (self.profile,))
        )
        return [RatingRecord(*r) for r in rows]

    def rating_arrays(self) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
        """Ids, Elo ratings and comparison counts (priors' included) of the present images."""
        rows = self._all(
            "SELECT i.id, r.elo, r.comparisons + r.prior_comparisons FROM images i"
            " JOIN ratings r ON r.image_id = i.id WHERE i.status = 'present' AND r.profile = ?"
            " ORDER BY i.id",
            (self.profile,),
        )
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
        ids, elo, counts = zip(*rows, strict=True)
        return np.array(ids, np.int64), np.array(elo, np.float64), np.array(counts, np.int64)

    def rating_columns(self) -> RatingColumns:
        """The present images' ratings as columns, by id: what a gallery of every image
        needs, read at once without a record per image."""
        rows = self._all(
            "SELECT i.id, i.hash, i.path, r.elo, r.comparisons FROM images i"
            " JOIN ratings r ON r.image_id = i.id WHERE i.status = 'present' AND r.profile = ?"
            " ORDER BY i.id",
            (self.profile,),
        )
        ids, hashes, paths, elo, counts = zip(*rows, strict=True) if rows else ([],) * 5
        return RatingColumns(
            np.array(ids, np.int64),
            list(hashes),
            list(paths),
            np.array(elo, np.float64),
            np.array(counts, np.int64),
        )

    def elo_of(self, image_ids: Sequence[int]) -> list[float]:
        marks = ",".join("?" * len(image_ids))
        found = dict(
            self._all(
                f"SELECT image_id, elo FROM ratings WHERE profile = ? AND image_id IN ({marks})",
                [self.profile, *image_ids],
            )
        )
        return [float(found[i]) for i in image_ids]

    def set_priors(self, priors: dict[int, tuple[float, int]], source: str) -> None:
        """Set starting scores (and comparison counts) of images; Elo is replayed on top."""
        with self.atomic():
            self._writer.executemany(
                "UPDATE ratings SET prior = ?, prior_comparisons = ?, prior_source = ?"
                " WHERE profile = ? AND image_id = ?",
                (
                    (score, n, source, self.profile, image_id)
                    for image_id, (score, n) in priors.items()
                ),
            )

    def set_ratings(self, elo: dict[int, float], counts: dict[int, int]) -> None:
        with self.atomic():
            self._writer.executemany(
                "UPDATE ratings SET elo = ?, comparisons = ? WHERE profile = ? AND image_id = ?",
                ((elo[i], counts.get(i, 0), self.profile, i) for i in elo),
            )

    def priors(self) -> dict[int, float]:
        return dict(
            self._all("SELECT image_id, prior FROM ratings WHERE profile = ?", (self.profile,))
        )

    # -- sessions and comparisons --------------------------------------------------------

    def start_session(self, settings: dict[str, object]) -> int:
        with self.atomic():
            cursor = self._writer.execute(
                "INSERT INTO sessions (started_at, settings, profile) VALUES (?, ?, ?)",
                (time.time(), json.dumps(settings, sort_keys=True), self.profile),
            )
        return int(cursor.lastrowid or 0)

    def newest_session(self) -> tuple[int, dict[str, Any]] | None:
        """The id and settings of the session started last (the one rating now, if any)."""
        row = self._one(
            "SELECT id, settings FROM sessions WHERE profile = ? ORDER BY id DESC LIMIT 1",
            (self.profile,),
        )
        return None if row is None else (row[0], json.loads(row[1]))

    def add_comparison(
        self,
        session_id: int,
        shown: Sequence[int],
        winner_id: int,
        prediction: int,
        response_ms: int | None,
        k: float,
        new_elo: Sequence[float],
        model_prediction: int | None = None,
        weight: float = 1.0,
        repeat_of: int | None = None,
        made_at: float | None = None,
    ) -> int:
        """Append one choice (made now, unless ``made_at`` says when: an imported one) and
        the Elo it leads to, inside the caller's :meth:`atomic` (with the read of the Elo
        it started from)."""
        db = self._in_write("add_comparison")
        cursor = db.execute(
            "INSERT INTO comparisons (session_id, made_at, response_ms, k, winner_id,"
            " prediction, model_prediction, weight, repeat_of)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                time.time() if made_at is None else made_at,
                response_ms,
                k,
                winner_id,
                prediction,
                model_prediction,
                weight,
                repeat_of,
            ),
        )
        comparison_id = int(cursor.lastrowid or 0)
        db.executemany(
            "INSERT INTO comparison_images (comparison_id, position, image_id) VALUES (?, ?, ?)",
            ((comparison_id, pos, image_id) for pos, image_id in enumerate(shown)),
        )
        db.executemany(
            "UPDATE ratings SET elo = ?, comparisons = comparisons + 1"
            " WHERE profile = ? AND image_id = ?",
            ((elo, self.profile, image_id) for elo, image_id in zip(new_elo, shown, strict=True)),
        )
        return comparison_id

    def appearances(self) -> int:
        """How many times the choices not withdrawn showed an image: two for a pair."""
        return int(
            self._scalar(
                "SELECT count(*) FROM comparison_images ci JOIN comparisons c"
                f" ON c.id = ci.comparison_id WHERE c.withdrawn_at IS NULL AND c.{_MINE}",
                (self.profile,),
            )
        )

    def shown_counts(self) -> dict[int, int]:
        """How many stored choices (withdrawn ones too) showed each image, by id."""
        return dict(
            self._all(
                "SELECT ci.image_id, count(*) FROM comparison_images ci JOIN comparisons c"
                f" ON c.id = ci.comparison_id WHERE c.{_MINE} GROUP BY ci.image_id",
                (self.profile,),
            )
        )

    def last_comparison(self, session_id: int | None = None) -> Comparison | None:
        """The newest choice not withdrawn (of one session, if given)."""
        where = f"withdrawn_at IS NULL AND {_MINE}" + (" AND session_id = ?" if session_id else "")
        with self.snapshot():
            row = self._one(
                f"SELECT id FROM comparisons WHERE {where} ORDER BY id DESC LIMIT 1",
                (self.profile, session_id) if session_id else (self.profile,),
            )
            return self.comparison(row[0]) if row else None

    def comparison(self, comparison_id: int) -> Comparison | None:
        """One choice, withdrawn or not."""
        found = self._comparisons("c.id = ?", (comparison_id,))
        return found[0] if found else None

    def comparisons(self, include_withdrawn: bool = False) -> list[Comparison]:
        """Choices in the order they were made, with the images shown."""
        return self._comparisons("1" if include_withdrawn else "c.withdrawn_at IS NULL")

    def _comparisons(self, where: str, params: Sequence[object] = ()) -> list[Comparison]:
        where, params = f"({where}) AND c.{_MINE}", (*params, self.profile)
        with self._reading() as db:
            rows = db.execute(
                "SELECT c.id, c.session_id, c.made_at, c.response_ms, c.k, c.winner_id,"
                " c.prediction, c.withdrawn_at, c.model_prediction, c.weight, c.repeat_of"
                f" FROM comparisons c WHERE {where} ORDER BY c.id",
                params,
            ).fetchall()
            shown: dict[int, list[int]] = {}
            for comparison_id, image_id in db.execute(
                "SELECT ci.comparison_id, ci.image_id FROM comparison_images ci"
                f" JOIN comparisons c ON c.id = ci.comparison_id WHERE {where}"
                " ORDER BY ci.comparison_id, ci.position",
                params,
            ):
                shown.setdefault(comparison_id, []).append(image_id)
        return [
            Comparison(
                id=r[0],
                session_id=r[1],
                made_at=r[2],
                response_ms=r[3],
                k=r[4],
                shown=tuple(shown[r[0]]),
                winner_id=r[5],
                prediction=r[6],
                withdrawn_at=r[7],
                model_prediction=r[8],
                weight=r[9],
                repeat_of=r[10],
            )
            for r in rows
        ]

    def withdraw(self, comparison_id: int) -> None:
        """Mark a choice as withdrawn (kept, never deleted), inside the caller's
        :meth:`atomic` (with the ratings replayed without it)."""
        self._in_write("withdraw").execute(
            "UPDATE comparisons SET withdrawn_at = ?"
            f" WHERE id = ? AND withdrawn_at IS NULL AND {_MINE}",
            (time.time(), comparison_id, self.profile),
        )

    def repeat_candidate(self, before: float, pick: float) -> Comparison | None:
        """A two-image choice made before ``before``, not withdrawn and not yet repeated,
        both images present; ``pick`` in [0, 1) chooses which among them."""
        where = (
            f"c.withdrawn_at IS NULL AND c.{_MINE} AND c.made_at < ? AND c.repeat_of IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM comparisons r WHERE r.repeat_of = c.id"
            " AND r.withdrawn_at IS NULL)"
            " AND (SELECT count(*) FROM comparison_images ci JOIN images i ON i.id = ci.image_id"
            " WHERE ci.comparison_id = c.id AND i.status = 'present') = 2"
            " AND (SELECT count(*) FROM comparison_images ci WHERE ci.comparison_id = c.id) = 2"
        )
        with self.snapshot():
            params = (self.profile, before)
            n = self._scalar(f"SELECT count(*) FROM comparisons c WHERE {where}", params)
            if not n:
                return None
            row = self._one(
                f"SELECT c.id FROM comparisons c WHERE {where} ORDER BY c.id LIMIT 1 OFFSET ?",
                (*params, min(n - 1, int(pick * n))),
            )
            return self.comparison(row[0]) if row else None

    def repeat_outcomes(self) -> list[tuple[int, int]]:
        """(first winner, repeat winner) of every repeated choice, both not withdrawn."""
        return self._all(
            "SELECT o.winner_id, r.winner_id FROM comparisons r JOIN comparisons o"
            " ON o.id = r.repeat_of WHERE r.withdrawn_at IS NULL AND o.withdrawn_at IS NULL"
            f" AND r.{_MINE} ORDER BY r.id",
            (self.profile,),
        )

    def set_weights(self, weights: dict[int, float]) -> None:
        """Rewrite the derived response-time weights, inside the caller's :meth:`atomic`
        (with the ratings replayed with them)."""
        self._in_write("set_weights").executemany(
            f"UPDATE comparisons SET weight = ? WHERE id = ? AND {_MINE}",
            ((w, i, self.profile) for i, w in weights.items()),
        )

    def model_prediction_counts(self) -> dict[tuple[int, int], int]:
        """How many choices had each (database, model) prediction, where a model was asked."""
        rows = self._all(
            "SELECT prediction, model_prediction, count(*) FROM comparisons"
            " WHERE withdrawn_at IS NULL AND model_prediction IS NOT NULL"
            f" AND {_MINE} GROUP BY 1, 2",
            (self.profile,),
        )
        return {(p, m): n for p, m, n in rows}

    def prediction_counts(self, session_id: int | None = None) -> dict[int, int]:
        where = f"withdrawn_at IS NULL AND {_MINE}" + (" AND session_id = ?" if session_id else "")
        return dict(
            self._all(
                f"SELECT prediction, count(*) FROM comparisons WHERE {where} GROUP BY prediction",
                (self.profile, session_id) if session_id else (self.profile,),
            )
        )

    # -- batches -------------------------------------------------------------------------

    def add_batch(self, batch: Batch) -> None:
        with self.atomic():
            self._writer.execute(
                "INSERT INTO batches (session_id, first_comparison_id, last_comparison_id,"
                " started_at, ended_at, choices, matched, contradicted, unpredicted,"
                " odd_one_out) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    batch.session_id,
                    batch.first_comparison_id,
                    batch.last_comparison_id,
                    batch.started_at,
                    batch.ended_at,
                    batch.choices,
                    batch.matched,
                    batch.contradicted,
                    batch.unpredicted,
                    None if batch.odd_one_out is None else json.dumps(batch.odd_one_out),
                ),
            )

    def batches(self) -> list[Batch]:
        rows = self._all(
            "SELECT id, session_id, first_comparison_id, last_comparison_id, started_at,"
            " ended_at, choices, matched, contradicted, unpredicted, odd_one_out FROM batches"
            f" WHERE {_MINE} ORDER BY id",
            (self.profile,),
        )
        batches = []
        for *counts, odd in rows:  # the counts in the dataclass's field order
            batch = Batch(*counts)
            batches.append(batch if odd is None else replace(batch, odd_one_out=json.loads(odd)))
        return batches

    # -- embeddings ----------------------------------------------------------------------

    def embeddings(
        self, extractor: str, layers: str, hashes: Sequence[str]
    ) -> dict[str, NDArray[np.float32]]:
        """Cached vectors of the given images (those that have one)."""
        found: dict[str, NDArray[np.float32]] = {}
        with self.snapshot():
            for digests, vectors in self.embedding_chunks(extractor, layers, hashes):
                found.update(zip(digests, vectors, strict=True))
        return found

    def embedding_chunks(
        self, extractor: str, layers: str, hashes: Sequence[str], size: int = 500
    ) -> Iterator[tuple[list[str], NDArray[np.float32]]]:
        """Cached vectors of the given images (those that have one) as ``(hashes, (n, d)
        array)``, at most ``size`` at a time, each chunk its own read: a caller holds one
        chunk, never all of them, and may write between chunks."""
        step = max(1, min(size, 500))  # hashes asked for at once: SQLite's bound on ?s
        for start in range(0, len(hashes), step):
            chunk = list(hashes[start : start + step])
            marks = ",".join("?" * len(chunk))
            rows = self._all(
                "SELECT image_hash, vector FROM embeddings WHERE extractor = ? AND layers = ?"
                f" AND image_hash IN ({marks})",
                [extractor, layers, *chunk],
            )
            if rows:
                yield [digest for digest, _ in rows], _vectors([blob for _, blob in rows])

    def present_embeddings(self, extractor: str, layers: str, size: int) -> Iterator[EmbeddedChunk]:
        """The cached vectors of the present images that have one, by image id, at most
        ``size`` at a time; each chunk is its own read (paged by id), so a caller holds
        one chunk, never the whole library, and may write between chunks."""
        after = 0
        while True:
            rows = self._all(
                "SELECT i.id, i.hash, e.vector FROM images i JOIN embeddings e"
                " ON e.image_hash = i.hash AND e.extractor = ? AND e.layers = ?"
                " WHERE i.status = 'present' AND i.id > ? ORDER BY i.id LIMIT ?",
                (extractor, layers, after, max(1, size)),
            )
            if not rows:
                return
            ids, hashes, blobs = zip(*rows, strict=True)
            yield EmbeddedChunk(np.array(ids, np.int64), list(hashes), _vectors(blobs))
            after = ids[-1]

    def images_without_embedding(self, extractor: str, layers: str) -> list[ImageRecord]:
        """The present images with no cached vector from this extractor and layers, by id."""
        rows = self._all(
            "SELECT id, hash, path, status, bytes, width, height, problem FROM images i"
            " WHERE status = 'present' AND NOT EXISTS (SELECT 1 FROM embeddings e"
            " WHERE e.image_hash = i.hash AND e.extractor = ? AND e.layers = ?) ORDER BY id",
            (extractor, layers),
        )
        return [ImageRecord(*r) for r in rows]

    def add_embeddings(
        self, extractor: str, layers: str, vectors: dict[str, NDArray[np.float32]]
    ) -> None:
        with self.atomic():
            self._writer.executemany(
                "INSERT OR REPLACE INTO embeddings (image_hash, extractor, layers, vector)"
                " VALUES (?, ?, ?, ?)",
                (
                    (digest, extractor, layers, np.asarray(v, "<f4").tobytes())
                    for digest, v in vectors.items()
                ),
            )

    # -- models --------------------------------------------------------------------------

    def add_model(self, path: str, extractor: str, layers: str, metrics: dict[str, float]) -> int:
        with self.atomic():
            cursor = self._writer.execute(
                "INSERT INTO models (path, extractor, layers, created_at, metrics, profile)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    path,
                    extractor,
                    layers,
                    time.time(),
                    json.dumps(metrics, sort_keys=True),
                    self.profile,
                ),
            )
        return int(cursor.lastrowid or 0)

    def models(self) -> list[ModelRecord]:
        rows = self._all(
            "SELECT id, path, extractor, layers, created_at, metrics FROM models"
            " WHERE profile = ? ORDER BY id",
            (self.profile,),
        )
        return [
            ModelRecord(id_, path, extractor, layers, created_at, json.loads(metrics))
            for id_, path, extractor, layers, created_at, metrics in rows
        ]

    # -- settings ------------------------------------------------------------------------

    def setting(self, key: str) -> str | None:
        """A library's own default (e.g. the demo library's extractor)."""
        row = self._one("SELECT value FROM settings WHERE key = ?", (key,))
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        with self.atomic():
            self._writer.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
