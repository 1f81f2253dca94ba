"""The audit log in PostgreSQL: the same hash chain, shared by every service replica.

Same rows, same hashes, same fail-closed rule as the SQLite log (:mod:`serving.audit_log`):
an entry is committed before its score is returned, or the score is not served. What
differs is who can append: several replicas at once. Every append takes a
transaction-scoped advisory lock (:data:`serving.store.migrations.AUDIT_LOCK_KEY`) before it
reads the head, so appends are serialized across processes and machines and the chain
never forks; ``seq`` as primary key and ``prev_hash`` as a unique column make a fork
impossible even for a writer that skipped the lock.

File-identity checks (a deleted or replaced log file) are SQLite-only: a database server
has no file at a path to be swapped, and its own access control and backups take that
role. Triggers refuse UPDATE, DELETE and TRUNCATE; a superuser can drop them, which the
chain (and an externally recorded head hash) makes visible, as with SQLite.

While the database is away every write raises :class:`~serving.store.connection.DatabaseUnavailable`
(an ``AuditLogUnavailable``: the service answers 503), and the next write or readiness
probe reconnects.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import psycopg

from serving.audit_chain import GENESIS, ChainReport, verify_chain
from serving.audit_log import HEAD_SQL, AuditLogBase, AuditLogRefused, chain_rows, insert_sql
from serving.store.connection import (
    DatabaseUnavailable,
    QmarkConnection,
    StreamingReader,
    ThreadConnections,
    redact,
)
from serving.store.migrations import AUDIT_LOCK_KEY, MigrationError, ensure_postgres


class PostgresAuditLog(AuditLogBase):
    """Append-only, hash-chained audit log in a PostgreSQL database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = redact(url)  # what messages name, like the SQLite log's path
        try:
            ensure_postgres(url)
        except MigrationError as exc:
            raise AuditLogRefused(str(exc)) from exc
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"database {self.path} unavailable: {exc}") from exc
        self._conns = ThreadConnections(url)
        self._write_lock = threading.Lock()  # one append at a time per process
        self._writer = QmarkConnection(url)
        self._last_write_failed = False
        self._sent = False  # whether the current append sent its INSERT

    # ---- readiness
    @property
    def refused(self) -> str | None:
        return None

    @property
    def last_write_failed(self) -> bool:
        return self._last_write_failed

    def ready(self) -> bool:
        """True when the database answers (a failed probe drops the connection)."""
        with self._write_lock:
            try:
                self._writer.execute("SELECT 1").fetchone()
                return True
            except DatabaseUnavailable:
                self._last_write_failed = True
                return False

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()
        self._conns.close()

    # ---- writing
    def _append(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Append in one transaction under the advisory lock, chained to the head.

        A connection the server dropped (a restart) fails at BEGIN or at the lock, before
        anything is sent: that attempt is retried once on a new connection. A failure
        after the INSERT was sent is never retried (it might have committed).
        """
        with self._write_lock:
            try:
                reused = self._writer.is_open()
                try:
                    seqs = self._append_once(rows)
                except DatabaseUnavailable:
                    if not reused or self._sent:
                        raise
                    self._writer.drop()
                    seqs = self._append_once(rows)
            except DatabaseUnavailable:
                self._last_write_failed = True
                raise
            except psycopg.Error as exc:
                self._last_write_failed = True
                raise DatabaseUnavailable(f"audit log {self.path} not writable: {exc}") from exc
            self._last_write_failed = False
            return seqs

    def _append_once(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        self._sent = False
        with self._writer.guard():
            conn = self._writer.raw()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK_KEY,))
                head = conn.execute(HEAD_SQL).fetchone()
                values, seqs = chain_rows(rows, head=head)
                self._sent = True  # from here the entries may be committed
                with conn.cursor() as cur:
                    cur.executemany(insert_sql("%s"), values)
        return seqs

    # ---- reading
    def _read(self) -> QmarkConnection:
        return self._conns.get()

    def log_id(self) -> str:
        row = self._read().execute("SELECT value FROM audit_meta WHERE key = 'log_id'").fetchone()
        return str(row[0])

    def meta(self) -> dict[str, str]:
        """Everything in ``audit_meta`` (log id, creation, and any migration record)."""
        return {
            str(k): str(v) for k, v in self._read().execute("SELECT key, value FROM audit_meta")
        }

    def verify(self, *, after_seq: int = 0, after_hash: str = GENESIS) -> ChainReport:
        """Walk the chain through a server-side cursor (one chunk in memory at a time)."""
        with StreamingReader(self.url) as reader:
            return verify_chain(reader, after_seq=after_seq, after_hash=after_hash)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._read().execute(sql, params).fetchall()


def open_postgres_audit_log(url: str, *, verify: bool = True) -> PostgresAuditLog:
    """Open the shared log after walking its chain (refused when a link is broken).

    The anchor file of the SQLite log is not used: the database's own backups and access
    control keep the log; an auditor records the head hash `audit-log verify` prints.
    """
    log = PostgresAuditLog(url)
    if verify:
        try:
            report = log.verify()
        except BaseException:
            log.close()
            raise
        if not report.intact:
            log.close()
            raise AuditLogRefused(
                f"the audit log in {log.path} fails verification: {report.problem}. Its "
                "entries were altered; keep the database as evidence, report it, and run "
                f"`earlyrisk audit-log verify --url {log.path}`"
            )
    return log
