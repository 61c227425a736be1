"""Connections to the store: SQLite (embedded default) or PostgreSQL, one engine per URL.

SQLite runs in WAL mode with ``synchronous=NORMAL``, foreign keys on and a busy timeout. All
writes in a process go through one writer (a lock plus ``BEGIN IMMEDIATE``), so readers never
block and writers never deadlock on lock upgrades.

An in-memory SQLite URL (``sqlite://``, ``sqlite:///:memory:``) is a database that lasts as long
as its :class:`Database`: it lives in a private scratch file (in ``/dev/shm`` where there is one)
removed on :meth:`Database.dispose`, so every connection and thread of the process sees the same
data with the same concurrency as a file, which SQLite's own ``:memory:`` (one database per
connection) cannot give.
"""

from __future__ import annotations

import os
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DataError, DBAPIError, OperationalError, StatementError

from assay.errors import InvalidInput, StorageError

if TYPE_CHECKING:
    from assay.store.sealing import Keyring


def is_in_memory(url: str | URL) -> bool:
    """An SQLite URL whose database lives in memory: gone when the process that opened it ends."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return False
    if parsed.get_backend_name() != "sqlite":
        return False
    return (parsed.database or "") in ("", ":memory:") or parsed.query.get("mode") == "memory"


#: Page cache of each SQLite connection, KiB: a pool keeps several connections warm, and each
#: one's cache is memory the process keeps; the OS caches the file as well.
SQLITE_CACHE_KIB = 16_384
#: The cache of the one connection a bulk import writes with, while it writes: the input-key
#: index takes rows in random order (about 19 bytes a row), and once it outgrows the cache
#: nearly every insert re-reads a page and spills another; this one holds it for imports of a
#: few million rows. A fixed bound, so memory stays flat.
SQLITE_BULK_CACHE_KIB = 65_536
#: Page size of a new SQLite database (an existing one keeps its own). 16 KiB pages make
#: shallower B-trees and a quarter of the WAL frames of the default 4 KiB: a million rows
#: insert and commit 1.2-1.3x as fast; a small write's commit writes a few more bytes.
SQLITE_PAGE_SIZE = 16_384


class Database:
    """An engine plus the write discipline for its dialect."""

    def __init__(self, url: str, *, echo: bool = False, busy_timeout_ms: int = 30_000) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise InvalidInput(f"not a database URL: {url!r}", field="database_url") from None
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise InvalidInput(
                f"unsupported database {self.dialect!r}: use sqlite:/// or postgresql+psycopg://",
                field="database_url",
            )
        self._write_lock = threading.RLock()
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._keyring: Keyring | None = None
        self.engine = self._create_engine(busy_timeout_ms, echo)
        # A database dropped without dispose() still closes its pooled connections.
        weakref.finalize(self, self.engine.dispose)

    @property
    def keyring(self) -> Keyring:
        """The server key's keyring (see :mod:`assay.store.sealing`); set it from the
        settings the database was opened with, else it is loaded from the environment."""
        if self._keyring is None:
            from assay.store.sealing import load_keyring

            self._keyring = load_keyring()
        return self._keyring

    @keyring.setter
    def keyring(self, value: Keyring) -> None:
        self._keyring = value

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def in_memory(self) -> bool:
        """Its data lasts as long as this object (see the module's documentation)."""
        return is_in_memory(self.url)

    def _create_engine(self, busy_timeout_ms: int, echo: bool) -> Engine:
        if not self.is_sqlite:
            return create_engine(
                self.url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20
            )
        target = self.url
        if self.in_memory:
            shm = "/dev/shm"
            where = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
            self._scratch = tempfile.TemporaryDirectory(prefix="assay-memory-", dir=where)
            target = URL.create("sqlite", database=str(Path(self._scratch.name) / "assay.db"))
        else:
            Path(self.url.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            target,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")  # before WAL fixes it
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("assay_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on any exception."""
        with (
            self._write_lock,
            self._translate_errors(),
            self.engine.connect().execution_options(assay_write=True) as conn,
            conn.begin(),
        ):
            yield conn

    @contextmanager
    def read(self, *, repeatable: bool = False) -> Iterator[Connection]:
        """A read transaction. SQLite's reads one snapshot of the database throughout; on
        PostgreSQL each statement sees what was committed before it began, unless
        ``repeatable`` (REPEATABLE READ: the whole transaction reads one snapshot)."""
        with self._translate_errors(), self.engine.connect() as conn:
            if repeatable and not self.is_sqlite:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def ping(self) -> None:
        """One round trip to the database (raises :class:`StorageError` when it is down)."""
        with self.read() as conn:
            conn.execute(text("SELECT 1"))

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            raise StorageError(f"database unavailable: {exc.orig}") from exc
        except OverflowError as exc:  # the driver cannot bind an integer this large
            raise InvalidInput(f"cannot store value: {exc}") from exc
        except DataError as exc:  # the database refused a value (e.g. NUL in PostgreSQL text)
            raise InvalidInput(f"cannot store value: {exc.orig}".strip()) from exc
        except StatementError as exc:
            # A value that could not be converted for the database (e.g. a > 64-bit integer).
            if isinstance(exc.orig, TypeError | ValueError) and not isinstance(exc, DBAPIError):
                raise InvalidInput(f"cannot store value: {exc.orig}") from exc
            raise

    def dispose(self) -> None:
        self.engine.dispose()
        if self._scratch is not None:  # an in-memory database ends here
            self._scratch.cleanup()
            self._scratch = None
