"""The shared database: one ``EARLYRISK_DATABASE_URL`` moves the service's state to PostgreSQL.

Unset (the default), every store is its own SQLite file under ``var/serving/`` and one
machine owns them. Set to ``postgresql://user@host:port/db``, the lookup store, the audit
log, the token store and the security log live in that database, so several service
replicas share one audit log, one set of tokens and one snapshot copy.

This module is the seam: it parses the URL, opens psycopg 3 connections, and gives the
stores a connection that speaks the SQLite module's ``execute(sql, params)`` with ``?``
marks, so read code written for SQLite runs unchanged. A connection error becomes
:class:`DatabaseUnavailable`, an :class:`~serving.audit_log.AuditLogUnavailable`: while
the database is away the service answers 503 and serves nothing it cannot log, and the
next call reconnects.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

import psycopg

from serving.audit_log import AuditLogUnavailable
from serving.store.database_url import redact

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


class QmarkConnection:
    """One thread's autocommit connection with SQLite's call shape, reconnecting on demand.

    ``with conn:`` is a no-op block (each statement commits on its own), as SQLite code
    expects from ``with sqlite3.Connection``; it never closes the connection.
    """

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

    def guard(self) -> _Guard:
        return _Guard(self)

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

    def __enter__(self) -> QmarkConnection:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class _Guard:
    """Turns a psycopg OperationalError into DatabaseUnavailable and drops the connection."""

    def __init__(self, conn: QmarkConnection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            self._conn.drop()
            raise DatabaseUnavailable(
                f"database {redact(self._conn.url)} unavailable: {exc}"
            ) from exc


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

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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
