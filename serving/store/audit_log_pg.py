"""The audit log in PostgreSQL: the same hash chain, shared by every service replica.

Same rows, same hashes, same fail-closed rule as the SQLite log (:mod:`serving.store.audit_log`):
an entry is committed before its score is returned, or the score is not served. What
differs is who can append: several replicas at once. Every append takes a
transaction-scoped advisory lock (:data:`serving.store.migrations.AUDIT_LOCK_KEY`) before it
reads the head, so appends are serialized across processes and machines and the chain
never forks; ``seq`` as primary key and ``prev_hash`` as a unique column make a fork
impossible even for a writer that skipped the lock.

File-identity checks (a deleted or replaced log file) are SQLite-only: a database server
has no file at a path to be swapped, and its own access control and backups take that
role. Triggers refuse UPDATE, DELETE and TRUNCATE; a superuser can drop them, which the
chain makes visible, as with SQLite, and which :mod:`serving.store.audit_triggers` reports.

The tail evidence is the SQLite log's, kept in the database: the anchor is the latest row
of the append-only ``audit_anchor`` table (every replica appends its refreshes there), and
the same rules hold (:meth:`AuditLogBase.refresh_anchor`): the anchored entry must still
have the anchored hash, a database with a log and no anchor is refused unless ``new_log``,
and an auditor's exported checkpoint is checked by `audit-log verify --url URL --anchor`.

While the database is away every write raises :class:`~serving.store.connection.DatabaseUnavailable`
(an ``AuditLogUnavailable``: the service answers 503), and the next write or readiness
probe reconnects.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date
from typing import Any

import psycopg

from serving.store.audit_chain import GENESIS, ChainReport, verify_chain
from serving.store.audit_checkpoint import Checkpoint
from serving.store.audit_log import (
    HEAD_SQL,
    AuditLogBase,
    AuditLogRefused,
    begun_words,
    chain_rows,
    insert_sql,
    utc_now,
)
from serving.store.audit_prune import (
    PruneCheckpoint,
    plan_prune,
    prune_row,
    verify_from_start,
)
from serving.store.audit_triggers import trigger_findings
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
        self._refused: str | None = None  # sticky: the anchor caught a cut tail
        self._closed = False

    # ---- readiness
    @property
    def refused(self) -> str | None:
        return self._refused

    @property
    def last_write_failed(self) -> bool:
        return self._last_write_failed

    def ready(self) -> bool:
        """True when the database answers (a failed probe drops the connection)."""
        with self._write_lock:
            if self._refused is not None:
                return False
            try:
                self._writer.execute("SELECT 1").fetchone()
                return True
            except DatabaseUnavailable:
                self._last_write_failed = True
                return False

    def close(self) -> None:
        """Refresh the anchor (a clean close), then close the connections."""
        if not self._closed and not self._last_write_failed:
            self.close_anchor()
        self._closed = True
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
            if self._refused is not None:
                raise AuditLogRefused(self._refused)
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
            if after_seq == 0:  # from the start: from the latest prune's checkpoint, if any
                return verify_from_start(reader)
            return verify_chain(reader, after_seq=after_seq, after_hash=after_hash)

    def prune(self, before: date, *, operator: str) -> PruneCheckpoint | None:
        """The prune on PostgreSQL: in one transaction under the audit advisory lock (no
        replica appends meanwhile), the retention entry appended, the row trigger disabled,
        the prefix deleted and the trigger enabled again (same object ids: the schema
        fingerprint still holds; a trigger left disabled is reported)."""
        if findings := self.trigger_findings():
            raise AuditLogRefused(
                f"the audit log in {self.path} is not pruned while its append-only guard is "
                f"damaged: {'; '.join(findings)}"
            )
        with self._write_lock:
            if self._refused is not None:
                raise AuditLogRefused(self._refused)
            with self._writer.guard():
                conn = self._writer.raw()
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK_KEY,))
                    plan = plan_prune(self._writer, before)
                    if plan is None:
                        return None
                    values, _ = chain_rows(
                        [prune_row(plan, operator=operator, at=utc_now())],
                        head=conn.execute(HEAD_SQL).fetchone(),
                    )
                    with conn.cursor() as cur:
                        cur.executemany(insert_sql("%s"), values)
                    conn.execute("ALTER TABLE audit_entries DISABLE TRIGGER audit_no_change")
                    conn.execute("DELETE FROM audit_entries WHERE seq <= %s", (plan.through_seq,))
                    conn.execute("ALTER TABLE audit_entries ENABLE TRIGGER audit_no_change")
        pruned = self.pruned()
        assert pruned is not None  # just written
        return pruned

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._read().execute(sql, params).fetchall()

    # ---- anchor: the latest row of audit_anchor
    def current_anchor(self) -> Checkpoint | None:
        rows = self._rows(
            "SELECT log_id, head_seq, head_hash, anchored_at FROM audit_anchor "
            "ORDER BY seq DESC LIMIT 1"
        )
        if not rows:
            return None
        log_id, seq, head_hash, at = rows[0]
        return Checkpoint(log_id=str(log_id), seq=int(seq), hash=str(head_hash), time=str(at))

    def _store_anchor(self, checkpoint: Checkpoint, reason: str) -> None:
        self._read().execute(
            "INSERT INTO audit_anchor (log_id, head_seq, head_hash, anchored_at, reason) "
            "VALUES (?, ?, ?, ?, ?)",
            (checkpoint.log_id, checkpoint.seq, checkpoint.hash, checkpoint.time, reason),
        )

    def _refuse(self, why: str) -> None:
        self._refused = why

    def trigger_findings(self) -> list[str]:
        return trigger_findings(self._read(), "postgresql")


def open_postgres_audit_log(
    url: str, *, verify: bool = True, new_log: bool = False
) -> PostgresAuditLog:
    """Open the shared log after checking it against its anchor and walking its chain.

    The same refusals as the SQLite log (:func:`serving.store.audit_log.open_audit_log`):
    a dropped table; no anchor without ``new_log`` (a database whose log and anchor were
    deleted, a first start, or a log from before anchors: ``new_log`` anchors what is
    there, its chain walked first); ``new_log`` where an anchor exists (a log is never
    replaced); the anchored entry missing or with another hash; a broken chain.
    """
    log = PostgresAuditLog(url)
    try:
        _check_postgres(log, verify=verify, new_log=new_log)
    except BaseException:
        log.close()
        raise
    return log


def _check_postgres(log: PostgresAuditLog, *, verify: bool, new_log: bool) -> None:
    dropped = [
        table
        for table in ("audit_entries", "audit_meta", "audit_anchor")
        if log._rows(f"SELECT to_regclass('{table}')")[0][0] is None
    ]
    if dropped:
        raise AuditLogRefused(
            f"the audit log in {log.path} has no {' and no '.join(dropped)} table, though its "
            "schema is recorded as migrated: the table was dropped. Keep the database as "
            "evidence and restore the log from backup"
        )
    anchor = log.current_anchor()
    if anchor is None and not new_log:
        raise AuditLogRefused(
            f"the audit log in {log.path} has no anchor (audit_anchor is empty): a first "
            "start, the log deleted together with its anchor, or a log from before anchors. "
            "Restore it from backup, or begin explicitly with `earlyrisk serve --new-log` "
            "(recorded in the security log)"
        )
    if anchor is not None and new_log:
        raise AuditLogRefused(
            f"--new-log: the audit log in {log.path} is anchored already; a log is never "
            "replaced. Start without --new-log"
        )
    if anchor is not None:
        problem = log.checkpoint_problem(anchor, source="the anchor (audit_anchor)")
        if problem is not None:
            raise AuditLogRefused(
                f"the audit log in {log.path} is behind or differs from its anchor: "
                f"{problem}. Keep the database as evidence and restore the latest log"
            )
    report = log.verify() if verify or anchor is None else None
    if report is not None and not report.intact:
        raise AuditLogRefused(
            f"the audit log in {log.path} fails verification: {report.problem}. Its "
            "entries were altered; keep the database as evidence, report it, and run "
            f"`earlyrisk audit-log verify --url {log.path}`"
        )
    if anchor is None:
        assert report is not None  # walked above: there was no anchor to start from
        anchor = Checkpoint(
            log_id=log.log_id(), seq=report.head_seq, hash=report.head_hash, time=utc_now()
        )
        log._store_anchor(anchor, "begun")
        log.begun = begun_words(
            anchor.log_id, report, existed=report.head_seq > 0, retired=None, where=str(log.path)
        )
    log._attach(anchor)
