"""The append-only audit log of every score served and every caseworker decision.

SQLite in WAL mode, one table, one row per served score or feedback, ordered by ``seq``
(the pagination cursor of ``/audit_log``). Triggers refuse UPDATE and DELETE, so a row
once written stays as written. Callers write the record *before* they return the score:
when :meth:`AuditLog.record_scores` raises :class:`AuditLogUnavailable`, the score must not
be served (fail closed: every score is explained and logged, or not served).

What is stored is what an audit needs and no more: the token id (never the token), the
role, the family id, model version, probability, level and the reasons as indicator names
with their contributions. Indicator values and descriptions are not copied: the values are
in the feature snapshot under its own access rules, and copying them here would make the
log a second register of family circumstances.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from features.errors import EarlyriskError

EntryKind = Literal["score", "feedback"]

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS audit_entries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('score', 'feedback')),
        recorded_at TEXT NOT NULL,
        request_id TEXT NOT NULL,
        token_id TEXT NOT NULL,
        role TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        score_id TEXT NOT NULL,
        family_id TEXT,
        as_of TEXT,
        model_version TEXT,
        probability REAL,
        risk_level TEXT,
        reasons TEXT,
        decision TEXT,
        reason TEXT
    )
    """,
    "CREATE UNIQUE INDEX IF NOT EXISTS audit_score_id ON audit_entries (score_id) "
    "WHERE kind = 'score'",
    """
    CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_entries
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_entries
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
)

_COLUMNS = (
    "seq",
    "kind",
    "recorded_at",
    "request_id",
    "token_id",
    "role",
    "endpoint",
    "score_id",
    "family_id",
    "as_of",
    "model_version",
    "probability",
    "risk_level",
    "reasons",
    "decision",
    "reason",
)


class AuditLogUnavailable(EarlyriskError, RuntimeError):
    """The audit log could not be written; whatever it was to record must not be served."""


@dataclass(frozen=True)
class ScoreRecord:
    """One served score as the audit log keeps it."""

    score_id: str
    request_id: str
    token_id: str
    role: str
    endpoint: str
    family_id: str | None
    as_of: str | None
    model_version: str
    probability: float
    risk_level: str
    reasons: list[dict[str, Any]]


@dataclass(frozen=True)
class FeedbackRecord:
    """One caseworker decision on a served score."""

    score_id: str
    request_id: str
    token_id: str
    role: str
    family_id: str | None
    decision: str
    reason: str


def audit_reasons(reasons: Iterable[tuple[str, float]]) -> list[dict[str, Any]]:
    """What the log keeps of a score's reasons: indicator and contribution, never the
    family's values or the descriptions (no more personal data than the audit needs)."""
    return [
        {"indicator": indicator, "contribution": round(float(contribution), 6)}
        for indicator, contribution in reasons
    ]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class AuditLog:
    """Append-only SQLite log; one connection guarded by a lock (writes are serial anyway)."""

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise AuditLogUnavailable(f"could not put {self.path} in WAL mode (got {mode})")
            self._conn.execute(f"PRAGMA synchronous = {synchronous}")
            for statement in _SCHEMA:
                self._conn.execute(statement)
        except (sqlite3.Error, OSError) as exc:
            raise AuditLogUnavailable(f"cannot open the audit log at {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close the connection (the data is already durable)."""
        with self._lock:
            self._conn.close()

    def _append(self, rows: Sequence[tuple[Any, ...]]) -> None:
        placeholders = ", ".join("?" for _ in _COLUMNS[1:])
        sql = f"INSERT INTO audit_entries ({', '.join(_COLUMNS[1:])}) VALUES ({placeholders})"
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany(sql, rows)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OSError) as exc:
                raise AuditLogUnavailable(f"audit log {self.path} not writable: {exc}") from exc

    def record_scores(self, records: Sequence[ScoreRecord]) -> None:
        """Append scores in one transaction: all are on record, or none (and it raises)."""
        at = _now()
        self._append(
            [
                (
                    "score",
                    at,
                    r.request_id,
                    r.token_id,
                    r.role,
                    r.endpoint,
                    r.score_id,
                    r.family_id,
                    r.as_of,
                    r.model_version,
                    float(r.probability),
                    r.risk_level,
                    json.dumps(r.reasons, separators=(",", ":")),
                    None,
                    None,
                )
                for r in records
            ]
        )

    def record_feedback(self, record: FeedbackRecord) -> None:
        """Append a caseworker decision; raises AuditLogUnavailable when it cannot."""
        self._append(
            [
                (
                    "feedback",
                    _now(),
                    record.request_id,
                    record.token_id,
                    record.role,
                    "feedback",
                    record.score_id,
                    record.family_id,
                    None,
                    None,
                    None,
                    None,
                    None,
                    record.decision,
                    record.reason,
                )
            ]
        )

    def score_entry(self, score_id: str) -> dict[str, Any] | None:
        """The logged score with this id, or None."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM audit_entries "
                "WHERE kind = 'score' AND score_id = ?",
                (score_id,),
            ).fetchone()
        return _as_dict(row) if row is not None else None

    def page(
        self, *, after_seq: int = 0, limit: int = 100, kind: EntryKind | None = None
    ) -> list[dict[str, Any]]:
        """Entries with ``seq > after_seq`` in order, at most limit (a keyed range scan)."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM audit_entries WHERE seq > ?"
        params: list[Any] = [after_seq]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [_as_dict(row) for row in rows]

    def count(self, kind: EntryKind | None = None) -> int:
        """How many entries (of a kind) are on record."""
        sql = "SELECT COUNT(*) FROM audit_entries"
        params: tuple[Any, ...] = ()
        if kind is not None:
            sql += " WHERE kind = ?"
            params = (kind,)
        with self._lock:
            return int(self._conn.execute(sql, params).fetchone()[0])


def _as_dict(row: Sequence[Any]) -> dict[str, Any]:
    entry = dict(zip(_COLUMNS, row, strict=True))
    if entry["reasons"] is not None:
        entry["reasons"] = json.loads(entry["reasons"])
    return entry
