"""The security log: refused access attempts and auditors' reads, for an auditor to read.

The audit log records what the service served; this log records who tried to get in and
who looked. One SQLite table (WAL mode, append-only by trigger), one row per event:

- ``unauthenticated``: a missing, malformed, unknown, expired or revoked token (401);
- ``forbidden``: a valid token used outside its role (403);
- ``throttled``: an address or token id reached the failure limit; one row when the block
  starts, not one per refused request, so a flood cannot fill the disk;
- ``quota_exceeded``: a token went over its per-minute quota (429), once per minute;
- ``auditor_read``: a read of ``/audit_log``, ``/model_card`` or ``/security_log`` (the
  parameters of the read, not what it returned).

Only the token id (public) is stored, never the token; for a refused token, the id it
claims when it has the shape of one. The client address is the peer address the server
saw (behind a reverse proxy, the proxy's; see docs/serving.md).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from features.errors import EarlyriskError
from serving.store.sql import SqlConnection, page_query

SecurityEvent = Literal[
    "unauthenticated", "forbidden", "throttled", "quota_exceeded", "auditor_read"
]

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS security_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        recorded_at TEXT NOT NULL,
        event TEXT NOT NULL,
        request_id TEXT NOT NULL,
        token_id TEXT,
        endpoint TEXT NOT NULL,
        client TEXT,
        detail TEXT
    )
    """,
    """
    CREATE TRIGGER IF NOT EXISTS security_no_update BEFORE UPDATE ON security_events
    BEGIN SELECT RAISE(ABORT, 'the security log is append-only'); END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS security_no_delete BEFORE DELETE ON security_events
    BEGIN SELECT RAISE(ABORT, 'the security log is append-only'); END
    """,
)
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


def _create_private(path: Path) -> None:
    """Create path owner-only (0600) when it does not exist yet: it names callers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return


class SecurityLog:
    """Append-only SQLite log of security events; one connection behind a lock."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            _create_private(self.path)
            self._conn: SqlConnection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            for statement in _SCHEMA:
                self._conn.execute(statement)
        except (sqlite3.Error, OSError) as exc:
            raise SecurityLogUnavailable(
                f"cannot open the security log at {self.path}: {exc}"
            ) from exc

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def record(self, record: SecurityRecord) -> None:
        """Append one event durably, or raise SecurityLogUnavailable."""
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        with self._lock:
            try:
                self._conn.execute(
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
            except (sqlite3.Error, OSError) as exc:
                raise SecurityLogUnavailable(
                    f"security log {self.path} not writable: {exc}"
                ) from exc

    def page(
        self, *, after_seq: int = 0, limit: int = 100, event: SecurityEvent | None = None
    ) -> list[dict[str, Any]]:
        """Events with ``seq > after_seq`` in order, at most limit."""
        sql, params = page_query(
            "security_events",
            COLUMNS,
            after_seq=after_seq,
            limit=limit,
            equals=None if event is None else ("event", event),
        )
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [dict(zip(COLUMNS, row, strict=True)) for row in rows]
