"""The security log: refused access attempts and auditors' reads, for an auditor to read.

The audit log records what the service served; this log records who tried to get in and
who looked. One table, ``security_events`` (append-only by trigger, declared in
:mod:`serving.store.migrations`), in the security log's SQLite file or, with
``EARLYRISK_DATABASE_URL``, in the shared PostgreSQL database. One row per event:

- ``unauthenticated``: a missing, malformed, unknown, expired or revoked token (401);
- ``forbidden``: a valid token used outside its role (403);
- ``throttled``: an address or token id reached the failure limit; one row when the block
  starts, not one per refused request, so a flood cannot fill the disk;
- ``quota_exceeded``: a token went over its per-minute quota (429), once per minute;
- ``auditor_read``: a read of ``/audit_log``, ``/model_card`` or ``/security_log`` (the
  parameters of the read, not what it returned).
- ``audit_log``: a start of the service that began an audit log (``--new-log``) or found
  its append-only triggers missing or recreated (:mod:`serving.store.audit_start`).

Only the token id (public) is stored, never the token; for a refused token, the id it
claims when it has the shape of one. The client address is the peer address the server
saw (behind a reverse proxy, the proxy's; see docs/serving.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from features.errors import EarlyriskError
from serving.store.connection import Database, DatabaseUnavailable
from serving.store.migrations import MigrationError, ensure
from serving.store.sql import page_query

SecurityEvent = Literal[
    "unauthenticated", "forbidden", "throttled", "quota_exceeded", "auditor_read", "audit_log"
]

COLUMNS = ("seq", "recorded_at", "event", "request_id", "token_id", "endpoint", "client", "detail")


class SecurityLogUnavailable(EarlyriskError, RuntimeError):
    """The security log could not be written (an auditor read is then refused, 503)."""


@dataclass(frozen=True)
class SecurityRecord:
    """One security event as stored."""

    event: SecurityEvent
    request_id: str
    endpoint: str
    token_id: str | None = None
    client: str | None = None
    detail: str | None = None


class SecurityLog(Protocol):
    """Where refused access attempts and auditors' reads are recorded."""

    def record(self, record: SecurityRecord) -> None:
        """Append one event durably, or raise SecurityLogUnavailable."""
        ...

    def page(
        self, *, after_seq: int = 0, limit: int = 100, event: SecurityEvent | None = None
    ) -> list[dict[str, Any]]:
        """Events with ``seq > after_seq`` in order, at most limit."""
        ...

    def close(self) -> None:
        """Close the log's connections."""
        ...


class SqlSecurityLog:
    """:class:`SecurityLog` over one :class:`~serving.store.connection.Database` (either
    dialect); every failure to open, write or read is :class:`SecurityLogUnavailable`
    naming the database."""

    def __init__(self, db: Database | Path | str) -> None:
        try:
            self.db = db if isinstance(db, Database) else Database(db)
            ensure(self.db, "security")
        except (DatabaseUnavailable, MigrationError, OSError) as exc:
            raise SecurityLogUnavailable(f"cannot open the security log: {exc}") from exc
        self.where = self.db.where

    def close(self) -> None:
        self.db.close()

    def record(self, record: SecurityRecord) -> None:
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        try:
            with self.db.write() as conn:
                conn.execute(
                    f"INSERT INTO security_events ({', '.join(COLUMNS[1:])}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        at,
                        record.event,
                        record.request_id,
                        record.token_id,
                        record.endpoint,
                        record.client,
                        record.detail,
                    ),
                )
        except (DatabaseUnavailable, OSError) as exc:
            raise SecurityLogUnavailable(f"security log {self.where} not writable: {exc}") from exc

    def page(
        self, *, after_seq: int = 0, limit: int = 100, event: SecurityEvent | None = None
    ) -> list[dict[str, Any]]:
        sql, params = page_query(
            "security_events",
            COLUMNS,
            after_seq=after_seq,
            limit=limit,
            equals=None if event is None else ("event", event),
        )
        try:
            rows = self.db.read().execute(sql, params).fetchall()
        except DatabaseUnavailable as exc:
            raise SecurityLogUnavailable(f"security log {self.where} not readable: {exc}") from exc
        return [dict(zip(COLUMNS, row, strict=True)) for row in rows]
