"""The append-only audit log of every score served and every caseworker decision.

SQLite in WAL mode, one table, one row per served score, feedback or batch-run event,
ordered by ``seq`` (the pagination cursor of ``/audit_log``). Triggers refuse UPDATE and
DELETE, and every entry is hash-chained to the one before (:mod:`serving.audit_chain`), so
a change made by someone who drops the triggers is still visible to
``earlyrisk audit-log verify``. Callers write the record *before* they return the score:
when :meth:`AuditLog.record_scores` raises :class:`AuditLogUnavailable`, the score must not
be served (fail closed: every score is explained and logged, or not served). With
``EARLYRISK_DATABASE_URL`` the log is in PostgreSQL instead (:mod:`serving.audit_log_pg`: same
rows and hashes, shared by replicas); the file checks below are SQLite-only.

Fail closed, also against the file system: before and after every write the log checks
that the file at the configured path (and its -wal/-shm) is still the file it opened
(device and inode) and is writable. A deleted or replaced log stops all writes until a
restart (which then refuses to start, see :func:`open_audit_log`); a log that was merely
not writable is reopened on the next write or readiness probe once access returns.
Checking access before SQLite touches the -shm file also keeps a read-only -shm from
killing the process (SQLite maps -shm; a write to a mapping of a read-only or immutable
file is a SIGBUS, not an error).

What is stored is what an audit needs and no more: the token id (never the token), the
role, the family id, model version, probability, level and the reasons as indicator names
with their contributions. Indicator values and descriptions are not copied: the values are
in the feature snapshot under its own access rules, and copying them here would make the
log a second register of family circumstances.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from features.errors import EarlyriskError
from serving.audit_anchor import (
    Anchor,
    AnchorError,
    default_anchor_path,
    read_anchor,
    write_anchor,
)
from serving.audit_chain import (
    GENESIS,
    HASHED_COLUMNS,
    ChainReport,
    entry_hash,
    hash_at,
    verify_chain,
)
from serving.private_files import create_private
from serving.private_files import file_identity as _identity
from serving.store.sql import page_query

EntryKind = Literal["score", "feedback", "batch_run", "view"]


def kinds_sql(kinds: Sequence[str]) -> str:
    """The SQL list of a CHECK on ``kind`` (both dialects): ``('score', 'feedback')``."""
    return "(" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


#: The kinds a log accepts, as the SQL list of its CHECK constraint (both dialects).
AUDIT_KINDS_SQL = kinds_sql(get_args(EntryKind))
RunOutcome = Literal["started", "completed", "aborted"]

#: Seconds between two refreshes of the anchor's head by a writing process.
ANCHOR_INTERVAL_S = 10.0

# the stored columns: what the hash covers, then the hash itself
_COLUMNS = (*HASHED_COLUMNS, "entry_hash")
_SELECT = ", ".join(_COLUMNS)

# Each stored column's declaration after ``seq`` and ``kind`` (declared by the dialect and the
# kinds a schema accepts); a probability is REAL in SQLite, DOUBLE PRECISION in PostgreSQL.
_DECLARED: dict[str, str] = {
    "recorded_at": "TEXT NOT NULL",
    "request_id": "TEXT NOT NULL",
    "token_id": "TEXT NOT NULL",
    "role": "TEXT NOT NULL",
    "endpoint": "TEXT NOT NULL",
    "score_id": "TEXT NOT NULL",
    "family_id": "TEXT",
    "as_of": "TEXT",
    "model_version": "TEXT",
    "probability": "REAL",
    "risk_level": "TEXT",
    "reasons": "TEXT",
    "decision": "TEXT",
    "reason": "TEXT",
    "detail": "TEXT",
    "prev_hash": "TEXT NOT NULL",
    "entry_hash": "TEXT NOT NULL",
}


def audit_table_sql(
    *,
    dialect: Literal["sqlite", "postgresql"] = "sqlite",
    kinds: Sequence[str] = get_args(EntryKind),
    columns: Sequence[str] = _COLUMNS,
    if_not_exists: bool = True,
    autoincrement: bool = False,
) -> str:
    """The ``CREATE TABLE audit_entries`` statement: the current SQLite one by default.

    The one place the table's columns are declared: the log creates the current table, and
    each schema migration (:mod:`serving.store.migrations`) names what its release had (its kinds,
    its columns, ``AUTOINCREMENT`` in the first SQLite release). In PostgreSQL, where
    replicas append concurrently, ``prev_hash`` is also UNIQUE: two entries can never link
    to the same one (the chain cannot fork).
    """
    postgres = dialect == "postgresql"
    seq = "BIGINT PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY"
    declared = [
        f"seq {seq}{' AUTOINCREMENT' if autoincrement else ''}",
        f"kind TEXT NOT NULL CHECK (kind IN {kinds_sql(kinds)})",
    ]
    for column in columns:
        if column in ("seq", "kind"):
            continue
        declaration = _DECLARED[column]
        if postgres and column == "probability":
            declaration = "DOUBLE PRECISION"
        if postgres and column == "prev_hash":
            declaration += " UNIQUE"
        declared.append(f"{column} {declaration}")
    exists = "IF NOT EXISTS " if if_not_exists else ""
    body = ",\n    ".join(declared)
    return f"CREATE TABLE {exists}audit_entries (\n    {body}\n)"


#: One score has one score entry (both dialects).
SCORE_ID_INDEX_SQL = (
    "CREATE UNIQUE INDEX IF NOT EXISTS audit_score_id ON audit_entries (score_id) "
    "WHERE kind = 'score'"
)
#: Which decision on a score is current (the latest): a keyed read, not a scan.
FEEDBACK_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS audit_feedback_score ON audit_entries (score_id, seq) "
    "WHERE kind = 'feedback'"
)
#: SQLite's append-only triggers on the entries (PostgreSQL has its own, in the migrations).
SQLITE_APPEND_ONLY_SQL = (
    """
    CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_entries
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_entries
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
)

_SCHEMA = (
    audit_table_sql(),
    SCORE_ID_INDEX_SQL,
    "CREATE INDEX IF NOT EXISTS audit_runs ON audit_entries (request_id) WHERE kind = 'batch_run'",
    FEEDBACK_INDEX_SQL,
    # a family's score history and the decisions on it (/family, /review): a keyed read
    # (not a partial index: SQLite cannot use one whose WHERE is an IN list for kind = ?)
    "CREATE INDEX IF NOT EXISTS audit_family_kind ON audit_entries (family_id, kind, seq)",
    *SQLITE_APPEND_ONLY_SQL,
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """
    CREATE TRIGGER IF NOT EXISTS audit_meta_no_update BEFORE UPDATE ON audit_meta
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
)

#: The chain's head: the entry the next one links to.
HEAD_SQL = "SELECT seq, entry_hash FROM audit_entries ORDER BY seq DESC LIMIT 1"

# What a family's history shows of its scores and decisions (not their reasons or hashes).
_HISTORY_COLUMNS = (
    "seq",
    "kind",
    "score_id",
    "recorded_at",
    "endpoint",
    "as_of",
    "model_version",
    "probability",
    "risk_level",
    "decision",
    "reason",
    "token_id",
)
# A family's scores and decisions from its limit-th latest score on, oldest first (both
# dialects; the derived table's alias is required by PostgreSQL).
_FAMILY_HISTORY_SQL = (
    f"SELECT {', '.join(_HISTORY_COLUMNS)} FROM audit_entries "
    "WHERE family_id = ? AND kind IN ('score', 'feedback') AND seq >= COALESCE(("
    "SELECT MIN(seq) FROM (SELECT seq FROM audit_entries WHERE family_id = ? AND "
    "kind = 'score' ORDER BY seq DESC LIMIT ?) AS latest), 0) ORDER BY seq"
)

SIDE_FILES = ("-wal", "-shm")


class AuditLogUnavailable(EarlyriskError, RuntimeError):
    """The audit log could not be written; whatever it was to record must not be served."""


class AuditLogRefused(AuditLogUnavailable):
    """The log must not be used at all (missing where one existed, replaced, broken chain)."""


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


def insert_sql(mark: str) -> str:
    """The INSERT of one stored entry with the driver's parameter mark (``?`` or ``%s``)."""
    return f"INSERT INTO audit_entries ({_SELECT}) VALUES ({', '.join(mark for _ in _COLUMNS)})"


def chain_rows(
    rows: Sequence[dict[str, Any]], *, head: Sequence[Any] | None
) -> tuple[list[tuple[Any, ...]], list[int]]:
    """The rows as stored entries chained on ``head`` (the last ``(seq, entry_hash)``, None
    for an empty log), and their seqs. Both backends store exactly these values, so they
    hash the same rows the same way."""
    seq, prev = (int(head[0]), str(head[1])) if head is not None else (0, GENESIS)
    values: list[tuple[Any, ...]] = []
    seqs: list[int] = []
    for row in rows:
        seq += 1
        entry = {column: row.get(column) for column in _COLUMNS}
        entry["seq"], entry["prev_hash"] = seq, prev
        entry["entry_hash"] = prev = entry_hash(entry)
        values.append(tuple(entry[c] for c in _COLUMNS))
        seqs.append(seq)
    return values, seqs


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def side_paths(path: Path) -> list[Path]:
    """The database file and its WAL-mode companions (-wal, -shm)."""
    return [path, *(path.with_name(path.name + suffix) for suffix in SIDE_FILES)]


class AuditLogBase(ABC):
    """What every audit-log backend offers (SQLite file: :class:`AuditLog`; PostgreSQL:
    :class:`serving.audit_log_pg.PostgresAuditLog`). The entry-building is shared here, so
    both backends hash exactly the same rows."""

    #: What messages name: the SQLite file, or the database URL without its password.
    path: Path | str

    @abstractmethod
    def _append(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Append rows in one transaction chained to the head; their seqs (or raise)."""

    @property
    @abstractmethod
    def refused(self) -> str | None:
        """Why the log may no longer be used, else None."""

    @abstractmethod
    def ready(self) -> bool:
        """True when the next write can succeed."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection(s)."""

    @abstractmethod
    def log_id(self) -> str:
        """The random id given to this log when it was created."""

    @abstractmethod
    def verify(self, *, after_seq: int = 0, after_hash: str = GENESIS) -> ChainReport:
        """Walk the hash chain."""

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """All rows of one read statement written with ``?`` marks (both dialects run the
        same SQL: the PostgreSQL connection translates the marks)."""

    # ---- reading: one SQL text for both backends
    def unfinished_runs(self, *, output: str) -> list[dict[str, Any]]:
        """Batch runs writing ``output`` that started and recorded no outcome."""
        rows = self._rows(
            "SELECT request_id, decision, detail FROM audit_entries "
            "WHERE kind = 'batch_run' ORDER BY seq"
        )
        runs: dict[str, dict[str, Any]] = {}
        for run_id, outcome, detail in rows:
            if outcome == "started":
                info = json.loads(detail)
                if info.get("output") == output:
                    runs[run_id] = {"run_id": run_id, **info}
            else:
                runs.pop(run_id, None)
        return list(runs.values())

    def score_entry(self, score_id: str) -> dict[str, Any] | None:
        """The logged score with this id, or None."""
        rows = self._rows(
            f"SELECT {_SELECT} FROM audit_entries WHERE kind = 'score' AND score_id = ?",
            (score_id,),
        )
        return _as_dict(rows[0]) if rows else None

    def page(
        self, *, after_seq: int = 0, limit: int = 100, kind: EntryKind | None = None
    ) -> list[dict[str, Any]]:
        """Entries with ``seq > after_seq`` in order, at most limit (a keyed range scan)."""
        sql, params = page_query(
            "audit_entries",
            _COLUMNS,
            after_seq=after_seq,
            limit=limit,
            equals=None if kind is None else ("kind", kind),
        )
        return [_as_dict(row) for row in self._rows(sql, params)]

    def latest_feedback_seqs(self, score_ids: Sequence[str]) -> dict[str, int]:
        """The seq of the latest feedback on each score id that has one.

        A later decision on a score supersedes the earlier ones: all stay on record, and
        this is how a reader tells which one is current. Ids go in chunks of 500 (within
        SQLite's limit on bound values).
        """
        unique = list(dict.fromkeys(score_ids))
        out: dict[str, int] = {}
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = self._rows(
                "SELECT score_id, MAX(seq) FROM audit_entries "
                f"WHERE kind = 'feedback' AND score_id IN ({marks}) GROUP BY score_id",
                chunk,
            )
            out.update({str(sid): int(seq) for sid, seq in rows})
        return out

    def count(self, kind: EntryKind | None = None) -> int:
        """How many entries (of a kind) are on record."""
        if kind is None:
            return int(self._rows("SELECT COUNT(*) FROM audit_entries")[0][0])
        return int(self._rows("SELECT COUNT(*) FROM audit_entries WHERE kind = ?", (kind,))[0][0])

    def family_history(self, family_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """The family's latest ``limit`` scores (newest first), each with the decisions
        recorded on it (oldest first, the latest marked ``current``): the columns of
        ``_HISTORY_COLUMNS``, not the reasons or hashes (a history shows neither).

        One keyed read (index ``audit_family_kind``): the family's scores and decisions
        from its ``limit``-th latest score on. A decision always follows its score, so
        every decision on a kept score is in it; a later decision on an older score is
        read and left out.
        """
        rows = self._rows(_FAMILY_HISTORY_SQL, (family_id, family_id, limit))
        scores: list[dict[str, Any]] = []
        by_score: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            entry = dict(zip(_HISTORY_COLUMNS, row, strict=True))
            if entry["kind"] == "score":
                entry["decisions"] = by_score.setdefault(entry["score_id"], [])
                scores.append(entry)
            elif entry["score_id"] in by_score:
                by_score[entry["score_id"]].append(entry)
        for made in by_score.values():
            for i, decision in enumerate(made):
                decision["current"] = i == len(made) - 1
        return scores[::-1]

    def record_scores(self, records: Sequence[ScoreRecord]) -> None:
        """Append scores in one transaction: all are on record, or none (and it raises)."""
        at = _now()
        self._append(
            [
                {
                    "kind": "score",
                    "recorded_at": at,
                    "request_id": r.request_id,
                    "token_id": r.token_id,
                    "role": r.role,
                    "endpoint": r.endpoint,
                    "score_id": r.score_id,
                    "family_id": r.family_id,
                    "as_of": r.as_of,
                    "model_version": r.model_version,
                    "probability": float(r.probability),
                    "risk_level": r.risk_level,
                    "reasons": json.dumps(r.reasons, separators=(",", ":")),
                }
                for r in records
            ]
        )

    def record_feedback(self, record: FeedbackRecord) -> None:
        """Append a caseworker decision; raises AuditLogUnavailable when it cannot."""
        self._append(
            [
                {
                    "kind": "feedback",
                    "recorded_at": _now(),
                    "request_id": record.request_id,
                    "token_id": record.token_id,
                    "role": record.role,
                    "endpoint": "feedback",
                    "score_id": record.score_id,
                    "family_id": record.family_id,
                    "decision": record.decision,
                    "reason": record.reason,
                }
            ]
        )

    def record_run(
        self,
        run_id: str,
        *,
        operator: str,
        outcome: RunOutcome,
        detail: dict[str, Any],
    ) -> None:
        """Append a batch-run event: ``started``, then ``completed`` or ``aborted``.

        The run's score entries carry the same ``request_id`` (the run id), so an auditor
        finds every score of a run and whether its file was published.
        """
        self._append(
            [
                {
                    "kind": "batch_run",
                    "recorded_at": _now(),
                    "request_id": run_id,
                    "token_id": operator,
                    "role": "batch",
                    "endpoint": "batch",
                    "score_id": f"run:{run_id}:{outcome}",
                    "decision": outcome,
                    "detail": json.dumps(detail, sort_keys=True, separators=(",", ":")),
                }
            ]
        )

    def record_view(
        self,
        *,
        request_id: str,
        token_id: str,
        role: str,
        endpoint: str,
        family_id: str,
        as_of: str,
    ) -> None:
        """Append a caseworker's view of a family (``/family``, ``/review``) before it is
        shown; raises AuditLogUnavailable when it cannot (then nothing is shown).

        A log created before view entries existed refuses them by its ``kind`` check: the
        view is then refused too (fail closed), with a message naming `earlyrisk db upgrade`
        (audit migration 3 on SQLite, 2 on PostgreSQL).
        """
        try:
            self._append(
                [
                    {
                        "kind": "view",
                        "recorded_at": _now(),
                        "request_id": request_id,
                        "token_id": token_id,
                        "role": role,
                        "endpoint": endpoint,
                        "score_id": f"view:{request_id}",
                        "family_id": family_id,
                        "as_of": as_of,
                    }
                ]
            )
        except AuditLogUnavailable as exc:
            text = str(exc)  # SQLite's and PostgreSQL's words for a failed kind check
            if "CHECK constraint failed" in text or "violates check constraint" in text:
                raise AuditLogUnavailable(
                    f"the audit log {self.path} was created before view entries existed and "
                    "cannot record views; family views are refused until its schema is "
                    "brought up to date with `earlyrisk db upgrade`"
                ) from exc
            raise


class AuditLog(AuditLogBase):
    """Append-only, hash-chained SQLite log; one connection guarded by a lock."""

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.path: Path = Path(path)
        self._lock = threading.Lock()
        self._synchronous = synchronous
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._files = side_paths(self.path)
        self._identities: list[tuple[int, int] | None] = [None, None, None]
        self._refused: str | None = None  # sticky: the file is no longer the one opened
        self._last_write_failed = False
        self._anchor_path: Path | None = None
        self._anchored_at = 0.0
        try:
            create_private(self.path)
        except OSError as exc:
            raise AuditLogUnavailable(f"cannot open the audit log at {self.path}: {exc}") from exc
        self._conn: sqlite3.Connection | None = self._open()
        self._identities = [_identity(p) for p in self._files]

    # ---- connection
    def _check_access(self, present: Sequence[bool] | None = None) -> None:
        """Raise unless the log and its -wal/-shm (where present) and folder are writable.

        ``present`` says which of the three files exist (from the identity check's stats),
        which saves a stat each per write.
        """
        exists = present if present is not None else [f.exists() for f in self._files]
        for file, there in zip(self._files, exists, strict=True):
            if there and not os.access(file, os.R_OK | os.W_OK):
                raise AuditLogUnavailable(
                    f"audit log {self.path} not writable: {file} is read-only for this "
                    "process (check its mode, owner and immutable attribute)"
                )
        if not os.access(self.path.parent, os.W_OK | os.X_OK):
            raise AuditLogUnavailable(
                f"audit log {self.path} not writable: its folder {self.path.parent} is not "
                "writable (SQLite creates the -wal and -shm files there)"
            )

    def _open(self) -> sqlite3.Connection:
        """Open, set WAL, create the schema, and prove the log writable (or raise)."""
        self._check_access()
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
        except (sqlite3.Error, OSError) as exc:
            raise AuditLogUnavailable(f"cannot open the audit log at {self.path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise AuditLogUnavailable(f"could not put {self.path} in WAL mode (got {mode})")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            columns = {row[1] for row in conn.execute("PRAGMA table_info(audit_entries)")}
            if columns and "entry_hash" not in columns:
                raise AuditLogRefused(
                    f"the audit log {self.path} was written before entries were hash-chained; "
                    "bring it up to date with `earlyrisk db upgrade` (its entries are then "
                    "chained, recording when), or archive it (move it and its -wal/-shm "
                    "away) and start a new log with `earlyrisk serve --new-audit-log`"
                )
            conn.execute("BEGIN IMMEDIATE")  # takes the write lock: fails on a read-only log
            try:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO audit_meta VALUES ('log_id', ?), ('created_at', ?)",
                    (uuid.uuid4().hex, _now()),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except AuditLogUnavailable:
            conn.close()
            raise
        except (sqlite3.Error, OSError) as exc:
            conn.close()
            raise AuditLogUnavailable(f"cannot open the audit log at {self.path}: {exc}") from exc
        return conn

    def _check_identity(self, *, files: int = 3) -> list[bool]:
        """Refuse (for good) when the files at the path are not the ones this log opened.

        Checks the first ``files`` of (log, -wal, -shm); returns which of them exist.
        """
        if self._refused is not None:
            raise AuditLogRefused(self._refused)
        present = []
        for index, file in enumerate(self._files[:files]):
            now = _identity(file)
            present.append(now is not None)
            before = self._identities[index]
            if before is None:
                if index > 0 and now is not None:
                    self._identities[index] = now  # -wal/-shm created after we opened
                continue
            if now != before:
                what = "deleted" if now is None else "replaced by another file"
                self._refused = (
                    f"the audit log file {file} was {what} while the service was writing "
                    "it; no score is served until the service is restarted on an intact log"
                )
                raise AuditLogRefused(self._refused)
        return present

    def _usable(self) -> sqlite3.Connection:
        """The connection, reopened after a failed write; raises when the log is unusable."""
        self._check_access(self._check_identity())
        if self._conn is None or self._last_write_failed:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._conn = self._open()
            # Closing the last connection lets SQLite delete -wal/-shm; the reopen made new ones.
            self._identities[1:] = [_identity(p) for p in self._files[1:]]
            self._check_identity()
            self._last_write_failed = False  # reopened and the write lock was taken
        return self._conn

    def close(self) -> None:
        """Close the connection (the data is already durable); refresh the anchor."""
        with self._lock:
            if self._conn is not None:
                if self._refused is None and not self._last_write_failed:
                    self._refresh_anchor(force=True)
                self._conn.close()
                self._conn = None

    # ---- readiness
    @property
    def refused(self) -> str | None:
        """Why the log may no longer be used (deleted or replaced), else None."""
        return self._refused

    def ready(self) -> bool:
        """True when the next write can succeed: the log is the one opened and writable.

        After a failed write this probes (reopen, take and release the write lock), so a
        log that becomes writable again is ready again without a write having to try first.
        """
        with self._lock:
            try:
                self._usable()
                return True
            except AuditLogUnavailable:
                self._last_write_failed = True
                return False

    @property
    def last_write_failed(self) -> bool:
        """Whether the most recent write (or probe) failed."""
        return self._last_write_failed

    # ---- writing
    def _append(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Append rows in one transaction, chained to the current head; their seqs."""
        with self._lock:
            try:
                conn = self._usable()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    seqs = self._insert_chained(conn, rows)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                # Committed into the file that is at the configured path, or not served.
                self._check_identity(files=1)
            except AuditLogRefused:
                raise
            except (sqlite3.Error, OSError, AuditLogUnavailable) as exc:
                self._last_write_failed = True
                if isinstance(exc, AuditLogUnavailable):
                    raise
                raise AuditLogUnavailable(f"audit log {self.path} not writable: {exc}") from exc
            self._last_write_failed = False
            self._refresh_anchor(force=False)
            return seqs

    def _insert_chained(
        self, conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]
    ) -> list[int]:
        values, seqs = chain_rows(rows, head=conn.execute(HEAD_SQL).fetchone())
        conn.executemany(insert_sql("?"), values)
        return seqs

    # ---- anchor
    def attach_anchor(self, anchor_path: Path) -> None:
        """Keep the anchor at ``anchor_path`` up to date with this log's head."""
        self._anchor_path = anchor_path
        self._refresh_anchor(force=True)

    def _refresh_anchor(self, *, force: bool) -> None:
        """Write the current head into the anchor (at most every ANCHOR_INTERVAL_S)."""
        if self._anchor_path is None or self._conn is None:
            return
        now = time.monotonic()
        if not force and now - self._anchored_at < ANCHOR_INTERVAL_S:
            return
        self._anchored_at = now
        try:
            anchor = read_anchor(self._anchor_path)
            head = self._conn.execute(HEAD_SQL).fetchone()
            log_id = self.log_id()
            if anchor is None or anchor.log_id != log_id or head is None:
                return
            if int(head[0]) <= anchor.head_seq:
                return
            write_anchor(
                self._anchor_path,
                replace(anchor, head_seq=int(head[0]), head_hash=str(head[1]), anchored_at=_now()),
            )
        except (OSError, sqlite3.Error, AnchorError):
            # The anchor is a second line of defence; the entry is already durable.
            return

    # ---- reading
    def log_id(self) -> str:
        """The random id given to this log when it was created (kept in ``audit_meta``)."""
        conn = self._conn
        if conn is None:
            raise AuditLogUnavailable(f"the audit log {self.path} is closed")
        row = conn.execute("SELECT value FROM audit_meta WHERE key = 'log_id'").fetchone()
        return str(row[0])

    def verify(self, *, after_seq: int = 0, after_hash: str = GENESIS) -> ChainReport:
        """Walk the hash chain of this log (see :func:`serving.audit_chain.verify_chain`)."""
        with self._lock:
            return verify_chain(self._usable(), after_seq=after_seq, after_hash=after_hash)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._usable().execute(sql, params).fetchall()


def _as_dict(row: Sequence[Any]) -> dict[str, Any]:
    entry = dict(zip(_COLUMNS, row, strict=True))
    if entry["reasons"] is not None:
        entry["reasons"] = json.loads(entry["reasons"])
    if entry["detail"] is not None:
        entry["detail"] = json.loads(entry["detail"])
    return entry


# --------------------------------------------------------------------------- start-up


def open_audit_log(
    path: Path | str,
    *,
    anchor_path: Path | str | None = None,
    new_log: bool = False,
    verify: Literal["full", "since_anchor"] = "full",
    synchronous: Literal["FULL", "NORMAL"] = "FULL",
    busy_timeout_ms: int = 5000,
) -> AuditLog:
    """Open the log the service and the batch scorer write, after checking it is intact.

    Refuses (AuditLogRefused, the message says what to do) when:

    * the anchor records a log but there is none at ``path`` (deleted), unless
      ``new_log`` says to begin a new one;
    * ``new_log`` is asked for while a log exists (never overwrite a log);
    * the log has another id than the anchored one (another file was put in its place);
    * the anchored head entry is missing or has another hash (entries removed from the
      end, or an older copy restored);
    * the hash chain is broken (the first broken link is named). ``verify="full"`` walks
      every entry (about 40 µs each); ``"since_anchor"`` only the entries after the
      anchored head (whose hash was just checked), for logs too large to walk at every
      start; a scheduled ``earlyrisk audit-log verify`` then does the full walk.

    Raises AuditLogUnavailable when the log cannot be opened for writing.
    """
    path = Path(path)
    anchor_file = Path(anchor_path) if anchor_path is not None else default_anchor_path(path)
    try:
        anchor = read_anchor(anchor_file)
    except AnchorError as exc:
        raise AuditLogRefused(str(exc)) from exc
    exists = path.exists()
    if new_log and exists:
        raise AuditLogRefused(
            f"--new-audit-log: there is already an audit log at {path}; a log is never "
            "replaced. Start without --new-audit-log, or archive that log first"
        )
    if anchor is not None and not exists and not new_log:
        raise AuditLogRefused(
            f"the audit log {path} is missing, but the anchor {anchor_file} records log "
            f"{anchor.log_id} (created {anchor.created_at}, {anchor.head_seq} entries at "
            f"{anchor.anchored_at}). Restore it from backup, or, if it is really lost, begin "
            "a new log explicitly with `earlyrisk serve --new-audit-log` (the lost log stays "
            "recorded in the anchor)"
        )
    log = AuditLog(path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
    try:
        log_id = log.log_id()
        start = (0, GENESIS)
        if anchor is not None and not new_log:
            _check_against_anchor(log, anchor, anchor_file)
            if verify == "since_anchor":
                start = (anchor.head_seq, anchor.head_hash)
        report = log.verify(after_seq=start[0], after_hash=start[1])
        if not report.intact:
            raise AuditLogRefused(
                f"the audit log {path} fails verification: {report.problem}. Its entries "
                "were altered; keep the file as evidence, report it, and run "
                f"`earlyrisk audit-log verify --log {path}`"
            )
        if anchor is None or anchor.log_id != log_id:
            retired = [] if anchor is None else [*anchor.retired, _retired(anchor)]
            write_anchor(
                anchor_file,
                Anchor(
                    log_path=str(path.resolve()),
                    log_id=log_id,
                    created_at=_now(),
                    head_seq=report.head_seq,
                    head_hash=report.head_hash,
                    anchored_at=_now(),
                    retired=retired,
                ),
            )
        log.attach_anchor(anchor_file)
    except BaseException:
        log.close()
        raise
    return log


def _retired(anchor: Anchor) -> dict[str, Any]:
    return {
        "log_id": anchor.log_id,
        "log_path": anchor.log_path,
        "created_at": anchor.created_at,
        "head_seq": anchor.head_seq,
        "head_hash": anchor.head_hash,
        "retired_at": _now(),
    }


def _check_against_anchor(log: AuditLog, anchor: Anchor, anchor_file: Path) -> None:
    log_id = log.log_id()
    if log_id != anchor.log_id:
        raise AuditLogRefused(
            f"the audit log {log.path} is log {log_id}, but the anchor {anchor_file} records "
            f"log {anchor.log_id}: another file was put in its place. Restore the anchored "
            "log, or archive this one and begin a new log with `earlyrisk serve "
            "--new-audit-log`"
        )
    if anchor.head_seq == 0:
        return
    with log._lock:
        stored = hash_at(log._usable(), anchor.head_seq)
    if stored != anchor.head_hash:
        found = "is missing" if stored is None else f"has hash {stored}"
        raise AuditLogRefused(
            f"the audit log {log.path} is behind or differs from its anchor: entry seq "
            f"{anchor.head_seq} (anchored {anchor.anchored_at} with hash {anchor.head_hash}) "
            f"{found}. Entries were removed or an older copy was restored; restore the "
            "latest log"
        )
