"""The connection layer every store runs on: one :class:`Database`, a dialect, no subclasses.

A store is written once, against :class:`Database`: SQL with SQLite's ``?`` marks, short
write transactions from :meth:`Database.write`, reads from :meth:`Database.read`. What
differs between SQLite and PostgreSQL (placeholders, the float type, how a writer takes
its lock, how a key's value is added to) is in the :class:`Dialect` the database carries,
never in a subclass of a store.

``EARLYRISK_DATABASE_URL`` unset (the default), every store is its own SQLite file under
``var/serving/`` and one machine owns them. Set to ``postgresql://user@host:port/db``,
every store lives in that database, so several service replicas share one audit log, one
set of tokens, one security log and one snapshot copy.

A driver error that means "the database cannot answer" (PostgreSQL down, a SQLite file
locked past the busy timeout, unwritable, or gone) becomes :class:`DatabaseUnavailable`,
an :class:`~serving.store.audit_log.AuditLogUnavailable`: the service answers 503 and serves
nothing it cannot log, and the next call reconnects.

The low-level PostgreSQL pieces (:class:`QmarkConnection`, :class:`ThreadConnections`,
:class:`StreamingReader`) are also what the audit log uses directly.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import psycopg

from serving.database_url import is_postgres, redact
from serving.private_files import create_private, file_identity
from serving.store.audit_errors import AuditLogUnavailable
from serving.store.sql import SqlConnection, SqlCursor

#: Seconds a connection attempt may take before the database counts as away.
CONNECT_TIMEOUT_S = 3


class DatabaseUnavailable(AuditLogUnavailable):
    """The database server cannot be reached or failed the statement: serve nothing (503)."""


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A new connection, or DatabaseUnavailable naming the (password-free) URL."""
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise DatabaseUnavailable(f"database {redact(url)} unavailable: {exc}") from exc


def _qmark(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _StatementContext:
    """``with conn:`` as a no-op block: each statement commits on its own (autocommit), as
    code written for ``with sqlite3.Connection`` expects; the block never closes it."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


class Cursor:
    """A psycopg cursor that turns driver errors into DatabaseUnavailable."""

    def __init__(
        self, owner: QmarkConnection, cursor: psycopg.Cursor[Any] | psycopg.ServerCursor[Any]
    ) -> None:
        self._owner = owner
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        with self._owner.guard():
            return self._cursor.fetchone()

    def fetchmany(self, size: int) -> list[Any]:
        with self._owner.guard():
            return self._cursor.fetchmany(size)

    def fetchall(self) -> list[Any]:
        with self._owner.guard():
            return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class QmarkConnection(_StatementContext):
    """One thread's autocommit connection with SQLite's call shape, reconnecting on demand
    (``with conn:`` is a no-op block, see :class:`_StatementContext`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[Any] | None = None

    def raw(self) -> psycopg.Connection[Any]:
        """The open psycopg connection (opened now when there is none)."""
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.url)
        return self._conn

    def is_open(self) -> bool:
        """Whether a connection was opened and not yet closed (it may still be stale)."""
        return self._conn is not None and not self._conn.closed

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn a psycopg OperationalError or InterfaceError into DatabaseUnavailable,
        dropping the connection (the next call opens a new one)."""
        try:
            yield
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self.drop()
            raise DatabaseUnavailable(f"database {redact(self.url)} unavailable: {exc}") from exc

    def drop(self) -> None:
        """Forget a broken connection; the next call opens a new one."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement. A read on a connection the server dropped (a restart) is
        retried once on a new connection; a write is not (it might have been applied)."""
        reused = self._conn is not None and not self._conn.closed
        try:
            with self.guard():
                return Cursor(self, self.raw().execute(_qmark(sql), tuple(params)))
        except DatabaseUnavailable:
            if not (reused and sql.lstrip().upper().startswith("SELECT")):
                raise
        with self.guard():
            return Cursor(self, self.raw().execute(_qmark(sql), tuple(params)))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.guard(), self.raw().cursor() as cur:
            cur.executemany(_qmark(sql), rows)

    def close(self) -> None:
        self.drop()


class StreamingReader:
    """Reads a large result in chunks through a server-side cursor (the chain walk of a
    log with millions of entries holds one chunk in memory, not the whole table).

    ``execute`` takes SQLite's ``?`` marks like :class:`QmarkConnection`; use it as a
    context manager, which closes its own connection.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn = connect(url, autocommit=False)
        self._cursors: list[psycopg.ServerCursor[Any]] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        holder = QmarkConnection(self.url)
        holder._conn = self._conn
        with holder.guard():
            cursor = self._conn.cursor(name=f"earlyrisk_stream_{len(self._cursors)}")
            self._cursors.append(cursor)
            cursor.itersize = 10_000
            cursor.execute(_qmark(sql), tuple(params))
        return Cursor(holder, cursor)

    def close(self) -> None:
        try:
            for cursor in self._cursors:
                if not self._conn.closed:
                    cursor.close()
        except psycopg.Error:
            pass  # the connection is going away anyway; closing it ends its cursors
        finally:
            self._cursors.clear()
            self._conn.close()

    def __enter__(self) -> StreamingReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ThreadConnections:
    """One :class:`QmarkConnection` per thread to one database (psycopg connections are
    not for concurrent use, and the service answers from several threads)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._all: list[QmarkConnection] = []
        self._lock = threading.Lock()

    def get(self) -> QmarkConnection:
        conn: QmarkConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = QmarkConnection(self.url)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


# --------------------------------------------------------------------------- the dialect


@dataclass(frozen=True)
class Dialect:
    """What SQLite and PostgreSQL spell differently, as data the stores read.

    ``float_type`` is the column type of a float; ``serial_key`` an increasing integer
    primary key (never reused); ``upsert_add`` the statement that adds a
    value to a keyed row (one atomic statement in both); ``begin_write`` how a write
    transaction starts (SQLite takes the file's write lock at once, so a second writer
    waits its busy timeout instead of failing at commit); ``lock`` the statement that
    serializes writers across processes beyond one row (PostgreSQL's advisory lock; on
    SQLite the file lock of ``BEGIN IMMEDIATE`` already does it, so None).
    """

    name: Literal["sqlite", "postgresql"]
    float_type: str
    serial_key: str
    begin_write: str
    lock: str | None

    def placeholders(self, sql: str) -> str:
        """The statement with the driver's placeholders (stores write SQLite's ``?``)."""
        return sql if self.name == "sqlite" else _qmark(sql)

    def has_table(self, conn: SqlConnection, table: str) -> bool:
        """Whether the database holds ``table`` (read from the catalogue, no error raised)."""
        if self.name == "sqlite":
            sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        else:
            sql = "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?"
        return conn.execute(sql, (table,)).fetchone() is not None

    def upsert_add(self, table: str, key: Sequence[str], column: str) -> str:
        """``INSERT`` a keyed row, or add its ``column`` to the stored one (``?`` marks)."""
        names = ", ".join((*key, column))
        marks = ", ".join("?" for _ in range(len(key) + 1))
        return (
            f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ({', '.join(key)}) "
            f"DO UPDATE SET {column} = {table}.{column} + excluded.{column}"
        )


SQLITE = Dialect(
    name="sqlite",
    float_type="REAL",
    serial_key="INTEGER PRIMARY KEY AUTOINCREMENT",
    begin_write="BEGIN IMMEDIATE",
    lock=None,
)
POSTGRES = Dialect(
    name="postgresql",
    float_type="DOUBLE PRECISION",
    serial_key="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    begin_write="BEGIN",
    lock="SELECT pg_advisory_xact_lock(?)",
)


# --------------------------------------------------------------------------- SQLite


class SqliteConnection(_StatementContext):
    """One thread's connection to a SQLite file, in autocommit mode (``isolation_level``
    None: a statement outside :meth:`Database.write` commits on its own), with the busy
    timeout and WAL journal of the concurrency policy; driver errors that mean the file
    cannot answer become :class:`DatabaseUnavailable`."""

    def __init__(self, path: Path, *, busy_timeout_ms: int, read_only: bool) -> None:
        self.path = path
        target = f"file:{path}?mode=ro" if read_only else str(path)
        with self._guard():
            self._conn = sqlite3.connect(
                target, uri=read_only, isolation_level=None, check_same_thread=False, timeout=0
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if not read_only:
                self._conn.execute("PRAGMA journal_mode = WAL")
        self.identity = file_identity(path)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        with _translated(str(self.path)):
            yield

    def execute(self, sql: str, params: Sequence[Any] = ()) -> SqlCursor:
        with self._guard():
            return self._conn.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Any) -> None:
        with self._guard():
            self._conn.executemany(sql, rows)

    def close(self) -> None:
        self._conn.close()


# --------------------------------------------------------------------------- the database


class Database:
    """One store's database: a SQLite file, or the shared PostgreSQL database.

    The concurrency policy of :mod:`serving.store` lives here, once: each thread gets its
    own connection (opened on first use, closed by :meth:`close`); a write is one short
    transaction (:meth:`write`); SQLite waits ``busy_timeout_ms`` for another writer and
    runs in WAL mode, so readers never block it. A SQLite file deleted or replaced under
    a running store (restored from backup, say) is noticed at the next call, which opens
    the file that is there now: a connection to the old file would keep honouring tokens
    revoked since.
    """

    def __init__(
        self, target: str | Path, *, busy_timeout_ms: int = 5000, read_only: bool = False
    ) -> None:
        self.url: str | None = None
        self.path: Path | None = None
        if isinstance(target, str) and is_postgres(target):
            self.url = target
            self.dialect = POSTGRES
            self.where = redact(target)
            self._pg: ThreadConnections | None = ThreadConnections(target)
        else:
            self.path = Path(target)
            self.dialect = SQLITE
            self.where = str(self.path)
            self._pg = None
            if not read_only:
                create_private(self.path)  # 0600 before SQLite opens it (and its -wal, -shm)
        self.busy_timeout_ms = busy_timeout_ms
        self.read_only = read_only
        self._local = threading.local()
        self._sqlite: list[SqliteConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def is_postgres(self) -> bool:
        return self.dialect is POSTGRES

    def read(self) -> SqlConnection:
        """This thread's connection (``?`` marks; each statement its own transaction)."""
        if self._closed:
            raise DatabaseUnavailable(f"database {self.where} was closed by its store")
        if self._pg is not None:
            return self._pg.get()
        conn: SqliteConnection | None = getattr(self._local, "conn", None)
        assert self.path is not None
        identity = file_identity(self.path)
        if identity is None:
            # Created at open, gone now: never recreated behind the operator's back (an
            # empty token file would be a store without its revocations).
            raise DatabaseUnavailable(f"database {self.where} is missing (deleted or moved)")
        if conn is not None and conn.identity != identity:
            conn.close()
            conn = None
        if conn is None:
            conn = SqliteConnection(
                self.path, busy_timeout_ms=self.busy_timeout_ms, read_only=self.read_only
            )
            self._local.conn = conn
            with self._lock:
                self._sqlite.append(conn)
        return conn

    @contextmanager
    def write(self, *, lock_key: int | None = None) -> Iterator[SqlConnection]:
        """One short write transaction on this thread's connection: committed when the
        block ends, rolled back when it raises. ``lock_key`` serializes the writers of
        every process on PostgreSQL (an advisory lock held until commit); on SQLite the
        transaction's file lock already does."""
        conn = self.read()
        with _translated(self.where):
            conn.execute(self.dialect.begin_write)
            try:
                if lock_key is not None and self.dialect.lock is not None:
                    conn.execute(self.dialect.lock, (lock_key,))
                yield conn
            except BaseException:
                _rollback(conn)
                raise
            conn.execute("COMMIT")

    def sql(self, statement: str) -> str:
        """The statement in the driver's placeholders (for driver-level bulk calls)."""
        return self.dialect.placeholders(statement)

    def close(self) -> None:
        """Close every thread's connection to this database; a closed database refuses
        further use (a store used after its owner closed it fails, it does not reopen)."""
        self._closed = True
        if self._pg is not None:
            self._pg.close()
        with self._lock:
            for conn in self._sqlite:
                conn.close()
            self._sqlite.clear()
        self._local = threading.local()


@contextmanager
def _translated(where: str) -> Iterator[None]:
    """psycopg's and sqlite3's "cannot answer" errors (down, locked past the busy timeout,
    read-only, not a database) as DatabaseUnavailable naming where."""
    try:
        yield
    except sqlite3.IntegrityError:
        raise  # a refused row (a constraint, an append-only trigger), not an absent database
    except (
        psycopg.OperationalError,
        psycopg.InterfaceError,
        sqlite3.DatabaseError,
        OSError,
    ) as exc:
        raise DatabaseUnavailable(f"database {where} unavailable: {exc}") from exc


def _rollback(conn: SqlConnection) -> None:
    """Roll back after a failure; a connection already gone has nothing to roll back."""
    try:
        conn.execute("ROLLBACK")
    except (DatabaseUnavailable, sqlite3.Error, psycopg.Error):
        return
