"""The append-only audit log of every score served and every caseworker decision.

SQLite in WAL mode, one table, one row per served score, feedback or batch-run event,
ordered by ``seq`` (the pagination cursor of ``/audit_log``). Triggers refuse UPDATE and
DELETE, and every entry is hash-chained to the one before (:mod:`serving.store.audit_chain`),
so a change made by someone who drops the triggers is still visible to
``earlyrisk audit-log verify``. Callers write the record *before* they return the score:
when :meth:`AuditLog.record_scores` raises :class:`AuditLogUnavailable`, the score must not
be served (fail closed: every score is explained and logged, or not served). With
``EARLYRISK_DATABASE_URL`` the log is in PostgreSQL instead
(:mod:`serving.store.audit_log_pg`: same rows and hashes, shared by replicas); the file
checks below are SQLite-only.

The tables are declared in :mod:`serving.store.migrations` only: a new log is made there, a log
behind them is refused with the command that brings it up to date, and nothing here
creates or restores a table or trigger (a missing or recreated trigger is reported, see
:mod:`serving.store.audit_triggers`).

The tail, which a chain cannot vouch for, is held by the anchor (:class:`AuditLogBase`'s
``refresh_anchor``): a checkpoint (log id, seq, hash) kept outside the log, moved to the
head at a fixed interval and at every clean close, and only after the log proved it still
holds the anchored hash at the anchored seq.

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
import logging
import os
import sqlite3
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from serving.private_files import create_private
from serving.private_files import file_identity as _identity
from serving.store.audit_anchor import (
    Anchor,
    AnchorError,
    default_anchor_path,
    read_anchor,
    write_anchor,
)
from serving.store.audit_chain import GENESIS, ChainReport, entry_hash, verify_chain
from serving.store.audit_checkpoint import Checkpoint, tail_problem
from serving.store.audit_errors import AuditLogRefused, AuditLogUnavailable
from serving.store.audit_prune import (
    PruneCheckpoint,
    checkpoint_of,
    plan_prune,
    prune_row,
    verify_from_start,
)
from serving.store.audit_triggers import trigger_findings
from serving.store.migrations import (
    AUDIT_COLUMNS,
    SCHEMA_FINGERPRINT_KEY,
    SQLITE_APPEND_ONLY_SQL,
    create_sqlite_audit,
    latest,
    sqlite_schema_fingerprint,
    sqlite_version,
)
from serving.store.migrations import SQLITE as SQLITE_MIGRATIONS
from serving.store.sql import page_query

logger = logging.getLogger(__name__)

EntryKind = Literal[
    "score",
    "feedback",
    "batch_run",
    "view",
    "governance",
    "case",
    "dossier",
    "correction",
    "shadow",
    "rollout",
    "retention",
]
RunOutcome = Literal["started", "completed", "aborted"]

# the stored columns (declared in the migrations): what the hash covers, then the hash
_COLUMNS = AUDIT_COLUMNS
_SELECT = ", ".join(_COLUMNS)

#: What a refresh of the anchor can fail with and still be tried again later (the log or
#: the anchor's folder away or not writable); a cut tail is AuditLogRefused, never retried.
ANCHOR_REFRESH_ERRORS: tuple[type[Exception], ...] = (AuditLogUnavailable, OSError, AnchorError)

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
    #: a staged rollout's assignment of the family (serving.rollout.score_detail), or None
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class ShadowRecord:
    """A shadow model's score of a family served by the champion: on record, never shown.

    ``score_id`` is the champion's score it shadows (the entry's own id is
    ``shadow:<score_id>``), so `earlyrisk shadow-report` pairs the two."""

    score_id: str
    request_id: str
    family_id: str | None
    as_of: str | None
    model_name: str
    model_version: str
    probability: float
    risk_level: str
    percentile: float


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
    # the decision it supersedes (``supersedes_seq``) and the follow-up date it sets
    detail: dict[str, Any] | None = None


def audit_reasons(reasons: Iterable[tuple[str, float]]) -> list[dict[str, Any]]:
    """What the log keeps of a score's reasons: indicator and contribution, never the
    family's values or the descriptions (no more personal data than the audit needs)."""
    return [
        {"indicator": indicator, "contribution": round(float(contribution), 6)}
        for indicator, contribution in reasons
    ]


def shadow_row(r: ShadowRecord, at: str) -> dict[str, Any]:
    """The stored ``shadow`` entry of a shadow score."""
    return {
        "kind": "shadow",
        "recorded_at": at,
        "request_id": r.request_id,
        "token_id": "service",
        "role": "shadow",
        "endpoint": "shadow",
        "score_id": f"shadow:{r.score_id}",
        "family_id": r.family_id,
        "as_of": r.as_of,
        "model_version": r.model_version,
        "probability": float(r.probability),
        "risk_level": r.risk_level,
        "detail": json.dumps(
            {"model": r.model_name, "shadows": r.score_id, "percentile": r.percentile},
            sort_keys=True,
            separators=(",", ":"),
        ),
    }


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


def utc_now() -> str:
    """Now, in UTC, to the microsecond (what every entry and anchor records)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def side_paths(path: Path) -> list[Path]:
    """The database file and its WAL-mode companions (-wal, -shm)."""
    return [path, *(path.with_name(path.name + suffix) for suffix in SIDE_FILES)]


class AuditLogBase(ABC):
    """What every audit-log backend offers (SQLite file: :class:`AuditLog`; PostgreSQL:
    :class:`serving.store.audit_log_pg.PostgresAuditLog`). The entry-building is shared here, so
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

    # ---- tail evidence: the anchor (the same rule on both backends; where it is kept
    # differs: a file next to a SQLite log, the ``audit_anchor`` table in PostgreSQL)

    #: Whether this log keeps its anchor up to date (set by the start-up check; the
    #: batch's Spark tasks append without one).
    _anchoring: bool = False
    #: The last checkpoint this process wrote or proved: it still catches a cut tail when
    #: the stored anchor was deleted or replaced too.
    _held: Checkpoint | None = None
    _anchor_lock: threading.Lock
    #: What the start-up check began with ``new_log`` (a new log, or an anchor for a log
    #: found without one), in words for the security log; None when nothing was begun.
    begun: str | None = None

    @abstractmethod
    def current_anchor(self) -> Checkpoint | None:
        """The anchor as stored now, None when there is none."""

    @abstractmethod
    def _store_anchor(self, checkpoint: Checkpoint, reason: str) -> None:
        """Record ``checkpoint`` as the anchor (``reason``: begun, refresh, shutdown)."""

    @abstractmethod
    def _refuse(self, why: str) -> None:
        """Refuse every later write, until a restart (which then checks the anchor)."""

    @abstractmethod
    def trigger_findings(self) -> list[str]:
        """Missing, disabled or recreated append-only triggers (reported, never restored)."""

    def head(self) -> tuple[int, str]:
        """The last entry's ``(seq, hash)``; ``(0, GENESIS)`` for an empty log."""
        rows = self._rows(HEAD_SQL)
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, GENESIS)

    def hash_at(self, seq: int) -> str | None:
        """The stored hash of entry ``seq``, None when there is no such entry."""
        rows = self._rows("SELECT entry_hash FROM audit_entries WHERE seq = ?", (seq,))
        return str(rows[0][0]) if rows else None

    def checkpoint_problem(self, checkpoint: Checkpoint, *, source: str) -> str | None:
        """Why this log does not hold ``checkpoint`` (None when it does); a checkpoint
        inside a pruned prefix is held by the prune's checkpoint (looked up only when the
        checkpoint's entry is gone: the refresh runs every minute on a large log)."""
        stored = self.hash_at(checkpoint.seq)
        pruned = self.pruned() if stored is None else None
        return tail_problem(
            checkpoint,
            log_id=self.log_id(),
            head=self.head(),
            stored_hash=stored,
            source=source,
            pruned=None if pruned is None else (pruned.through_seq, pruned.through_hash),
        )

    def pruned(self) -> PruneCheckpoint | None:
        """The latest prune's checkpoint (:mod:`serving.store.audit_prune`), None if never."""
        rows = self._rows(
            "SELECT seq, recorded_at, detail FROM audit_entries WHERE kind = 'retention' "
            "AND decision = 'prune' ORDER BY seq DESC LIMIT 1"
        )
        return None if not rows else checkpoint_of(rows[0])

    @abstractmethod
    def prune(self, before: date, *, operator: str) -> PruneCheckpoint | None:
        """Remove the entries recorded before ``before`` through the deliberate path of
        :mod:`serving.store.audit_prune` (the cut-off's age is the caller's check); the
        checkpoint recorded, None when nothing was old enough. Refuses (AuditLogRefused)
        when an append-only trigger is missing, disabled or recreated."""

    def _attach(self, held: Checkpoint) -> None:
        """Keep the anchor from now on, starting from a checkpoint the start-up proved."""
        self._anchor_lock = threading.Lock()
        self._held = held
        self._anchoring = True

    def refresh_anchor(self, *, reason: str = "refresh") -> Checkpoint | None:
        """Move the anchor to the head, once the log is proved to still hold the old one.

        The anchored entry must still be there *with the anchored hash* (entries cut from
        the end and written again under the same numbers have other hashes), and the chain
        from it to the head must be intact. Otherwise the anchor is left as it was (so
        `audit-log verify` and the next start see the cut), the log refuses every later
        write, and AuditLogRefused is raised. Returns the new anchor (None when this log
        keeps none). Called at a fixed interval by
        :class:`serving.store.anchor_refresher.AnchorRefresher` and at every clean close.
        """
        if not self._anchoring:
            return None
        with self._anchor_lock:
            stored = self.current_anchor()
            known = {"the anchor": stored, "the checkpoint this process last proved": self._held}
            proved = [c for c in known.values() if c is not None]
            for source, checkpoint in known.items():
                if checkpoint is None:
                    continue
                problem = self.checkpoint_problem(checkpoint, source=source)
                if problem is not None:
                    raise self._tampered(problem)
            if not proved:
                return None
            base = max(proved, key=lambda c: c.seq)
            report = self.verify(after_seq=base.seq, after_hash=base.hash)
            if not report.intact:
                raise self._tampered(str(report.problem))
            new = Checkpoint(
                log_id=base.log_id,
                seq=report.head_seq,
                hash=report.head_hash,
                time=utc_now(),
                log=str(self.path),
            )
            if stored is None or new.seq > stored.seq:
                self._store_anchor(new, reason)
            self._held = new
            return new

    def _tampered(self, problem: str) -> AuditLogRefused:
        why = (
            f"the audit log {self.path} no longer holds its anchor: {problem}. The anchor is "
            "left as it was; no score is served until the service is restarted on an intact "
            "log. Keep the log as evidence and run `earlyrisk audit-log verify`"
        )
        self._refuse(why)
        logger.error("%s", why)
        return AuditLogRefused(why)

    def close_anchor(self) -> None:
        """The anchor refresh of a clean close: a log that can no longer be refreshed is
        logged (its anchor stays where it was, so the next start still checks it)."""
        if not self._anchoring or self.refused is not None:
            return
        try:
            self.refresh_anchor(reason="shutdown")
        except AuditLogRefused:
            return  # already logged by _tampered; the anchor was left as evidence
        except ANCHOR_REFRESH_ERRORS as exc:
            logger.warning("audit-log anchor not refreshed at close: %s", exc)

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

    def record_scores(
        self, records: Sequence[ScoreRecord], shadow: Sequence[ShadowRecord] = ()
    ) -> None:
        """Append scores in one transaction: all are on record, or none (and it raises).

        ``shadow``: a shadow model's scores of the same families, in the same transaction
        (one write for both: the shadow costs no second fsync)."""
        at = utc_now()
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
                    "detail": None
                    if r.detail is None
                    else json.dumps(r.detail, sort_keys=True, separators=(",", ":")),
                }
                for r in records
            ]
            + [shadow_row(r, at) for r in shadow]
        )

    def record_feedback(self, record: FeedbackRecord) -> int:
        """Append a caseworker decision and return its seq; raises AuditLogUnavailable when
        it cannot."""
        detail = (
            None
            if record.detail is None
            else json.dumps(record.detail, sort_keys=True, separators=(",", ":"))
        )
        (seq,) = self._append(
            [
                {
                    "kind": "feedback",
                    "recorded_at": utc_now(),
                    "request_id": record.request_id,
                    "token_id": record.token_id,
                    "role": record.role,
                    "endpoint": "feedback",
                    "score_id": record.score_id,
                    "family_id": record.family_id,
                    "decision": record.decision,
                    "reason": record.reason,
                    "detail": detail,
                }
            ]
        )
        return int(seq)

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
                    "recorded_at": utc_now(),
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
                        "recorded_at": utc_now(),
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

    def record_governance(
        self,
        *,
        action: str,
        model: str,
        version: str,
        token_id: str,
        role: str,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Append a governance act (a waiver, approval, promotion, rollback, retirement, or
        a service switching to a new champion) and return its seq; raises
        AuditLogUnavailable when it cannot (the act is then not taken)."""
        request_id = uuid.uuid4().hex
        (seq,) = self._append(
            [
                {
                    "kind": "governance",
                    "recorded_at": utc_now(),
                    "request_id": request_id,
                    "token_id": token_id,
                    "role": role,
                    "endpoint": "model",
                    "score_id": f"governance:{request_id}",
                    "model_version": f"{model}/{version}",
                    "decision": action,
                    "reason": reason,
                    "detail": json.dumps(detail or {}, sort_keys=True, separators=(",", ":")),
                }
            ]
        )
        return seq

    def record_retention(
        self, *, action: str, operator: str, reason: str, detail: dict[str, Any]
    ) -> int:
        """Append a retention act (`earlyrisk retention apply`: the files removed) and
        return its seq; raises AuditLogUnavailable when it cannot (then nothing is
        removed). A prune records its own entry inside its transaction (:meth:`prune`)."""
        request_id = uuid.uuid4().hex
        (seq,) = self._append(
            [
                {
                    "kind": "retention",
                    "recorded_at": utc_now(),
                    "request_id": request_id,
                    "token_id": operator,
                    "role": "operator",
                    "endpoint": f"retention {action}",
                    "score_id": f"retention:{action}:{request_id}",
                    "decision": action,
                    "reason": reason,
                    "detail": json.dumps(detail, sort_keys=True, separators=(",", ":")),
                }
            ]
        )
        return seq

    # ---- issue 23 (dossier lane): explanation records and notice runs
    def record_dossier(
        self,
        *,
        request_id: str,
        token_id: str,
        role: str,
        endpoint: str,
        family_id: str | None,
        as_of: str | None,
        model_version: str | None,
        detail: dict[str, Any],
    ) -> int:
        """Append the production or view of an explanation record (``endpoint`` "dossier"),
        or a run of notices (``endpoint`` "notices"), before it is handed over; return its
        seq. ``detail`` names what was produced (the explained score_id, the language, the
        format, the SHA-256 of the record's numbers), never the family's values. Raises
        AuditLogUnavailable when it cannot (then nothing is handed over)."""
        (seq,) = self._append(
            [
                {
                    "kind": "dossier",
                    "recorded_at": utc_now(),
                    "request_id": request_id,
                    "token_id": token_id,
                    "role": role,
                    "endpoint": endpoint,
                    "score_id": f"{endpoint}:{request_id}",
                    "family_id": family_id,
                    "as_of": as_of,
                    "model_version": model_version,
                    "detail": json.dumps(detail, sort_keys=True, separators=(",", ":")),
                }
            ]
        )
        return seq

    # ---- issue 23 (corrections): a correction filed and decided
    def record_correction(
        self,
        *,
        correction_id: str,
        step: str,
        request_id: str,
        token_id: str,
        role: str,
        family_id: str,
        detail: dict[str, Any],
        as_of: str | None = None,
        model_version: str | None = None,
        probability: float | None = None,
        risk_level: str | None = None,
        reasons: list[dict[str, Any]] | None = None,
    ) -> int:
        """Append one step of a correction (``step``: requested, accepted or rejected) and
        return its seq; raises AuditLogUnavailable when it cannot (then the step is not
        taken: the corrections store rolls back). Its id is ``correction:<id>:<step>`` and
        ``reason`` is the correction's id; a decision carries the family's new score in the
        score columns and both versions with their diff in ``detail``
        (:meth:`correction_detail` reads it back)."""
        (seq,) = self._append(
            [
                {
                    "kind": "correction",
                    "recorded_at": utc_now(),
                    "request_id": request_id,
                    "token_id": token_id,
                    "role": role,
                    "endpoint": "correction",
                    "score_id": f"correction:{correction_id}:{step}",
                    "family_id": family_id,
                    "as_of": as_of,
                    "model_version": model_version,
                    "probability": None if probability is None else float(probability),
                    "risk_level": risk_level,
                    "reasons": None
                    if reasons is None
                    else json.dumps(reasons, separators=(",", ":")),
                    "decision": step,
                    "reason": correction_id,
                    "detail": json.dumps(detail, sort_keys=True, separators=(",", ":")),
                }
            ]
        )
        return seq

    def correction_detail(self, correction_id: str, step: str) -> dict[str, Any] | None:
        """The ``detail`` of a correction's step as :meth:`record_correction` wrote it, or
        None when that step is not on record."""
        rows = self._rows(
            "SELECT detail FROM audit_entries WHERE kind = 'correction' AND score_id = ?",
            (f"correction:{correction_id}:{step}",),
        )
        if not rows or rows[0][0] is None:
            return None
        return dict(json.loads(rows[0][0]))

    def record_rollout(self, *, config_json: str, config_sha256: str, cycle: str) -> int:
        """Seal a rollout config before the first score of its cycle (see serving.rollout);
        returns its seq; raises AuditLogUnavailable when it cannot (nothing is then served)."""
        (seq,) = self._append(
            [
                {
                    "kind": "rollout",
                    "recorded_at": utc_now(),
                    "request_id": uuid.uuid4().hex,
                    "token_id": "service",
                    "role": "service",
                    "endpoint": "rollout",
                    "score_id": f"rollout:{cycle}:{config_sha256}",
                    "decision": "sealed",
                    "detail": json.dumps(
                        {"config": json.loads(config_json), "config_sha256": config_sha256},
                        sort_keys=True,
                        separators=(",", ":"),
                    ),
                }
            ]
        )
        return seq


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
            conn.execute("BEGIN IMMEDIATE")  # takes the write lock: fails on a read-only log
            try:
                tables = {
                    str(row[0])
                    for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
                if tables:
                    self._check_schema(conn, tables)
                else:  # a new, empty file: the migrations make the current schema
                    create_sqlite_audit(conn)
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

    def _check_schema(self, conn: sqlite3.Connection, tables: set[str]) -> None:
        """Refuse a log whose schema is behind this release's migrations, or whose tables
        were dropped; nothing is created or restored here (the migrations own the schema)."""
        version = sqlite_version(conn, "audit")
        newest = latest(SQLITE_MIGRATIONS, "audit")
        if version < 2:
            raise AuditLogRefused(
                f"the audit log {self.path} was written before entries were hash-chained; "
                "bring it up to date with `earlyrisk db upgrade` (its entries are then "
                "chained, recording when), or archive it (move it and its -wal/-shm "
                "away) and begin a new log with `earlyrisk serve --new-log`"
            )
        if version < newest:
            raise AuditLogRefused(
                f"the audit log {self.path} has schema version {version}; this release needs "
                f"{newest}: bring it up to date with `earlyrisk db upgrade`"
            )
        missing = [t for t in ("audit_entries", "audit_meta") if t not in tables]
        if missing:
            raise AuditLogRefused(
                f"the audit log {self.path} has no {' and no '.join(missing)} table, though "
                f"its schema is recorded at version {version}: the table was dropped. Keep "
                "the file as evidence and restore the log from backup"
            )

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
        """Refresh the anchor (a clean close), then close the connection (the entries are
        already durable)."""
        if self._conn is not None and not self._last_write_failed:
            self.close_anchor()
        with self._lock:
            if self._conn is not None:
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
            return seqs

    def _insert_chained(
        self, conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]
    ) -> list[int]:
        values, seqs = chain_rows(rows, head=conn.execute(HEAD_SQL).fetchone())
        conn.executemany(insert_sql("?"), values)
        return seqs

    # ---- anchor: a file next to the log (or EARLYRISK_AUDIT_ANCHOR_PATH)
    def attach_anchor(self, anchor_path: Path, held: Checkpoint) -> None:
        """Keep the anchor file at ``anchor_path`` from now on (refreshed at the service's
        interval and at close), starting from ``held``, which the start-up proved."""
        self._anchor_path = anchor_path
        self._attach(held)

    def current_anchor(self) -> Checkpoint | None:
        if self._anchor_path is None:
            return None
        try:
            anchor = read_anchor(self._anchor_path)
        except AnchorError as exc:
            raise self._tampered(str(exc)) from exc
        return None if anchor is None else anchor.checkpoint()

    def _store_anchor(self, checkpoint: Checkpoint, reason: str) -> None:
        assert self._anchor_path is not None  # only called while anchoring
        anchor = read_anchor(self._anchor_path)
        if anchor is None:  # deleted meanwhile: written again from what this process proved
            anchor = Anchor(
                log_path=str(self.path.resolve()),
                log_id=checkpoint.log_id,
                created_at=checkpoint.time,
                head_seq=0,
                head_hash=GENESIS,
                anchored_at=checkpoint.time,
            )
        write_anchor(
            self._anchor_path,
            replace(
                anchor,
                head_seq=checkpoint.seq,
                head_hash=checkpoint.hash,
                anchored_at=checkpoint.time,
            ),
        )

    def _refuse(self, why: str) -> None:
        self._refused = why

    def trigger_findings(self) -> list[str]:
        with self._lock:
            return trigger_findings(self._usable(), "sqlite")

    # ---- reading
    def log_id(self) -> str:
        """The random id given to this log when it was created (kept in ``audit_meta``)."""
        conn = self._conn
        if conn is None:
            raise AuditLogUnavailable(f"the audit log {self.path} is closed")
        row = conn.execute("SELECT value FROM audit_meta WHERE key = 'log_id'").fetchone()
        return str(row[0])

    def verify(self, *, after_seq: int = 0, after_hash: str = GENESIS) -> ChainReport:
        """Walk the hash chain of this log (see :func:`serving.store.audit_chain.verify_chain`);
        from the start, that is from the latest prune's checkpoint when there is one."""
        with self._lock:
            if after_seq == 0:
                return verify_from_start(self._usable())
            return verify_chain(self._usable(), after_seq=after_seq, after_hash=after_hash)

    def prune(self, before: date, *, operator: str) -> PruneCheckpoint | None:
        """The prune on SQLite: in one write transaction, the retention entry appended,
        the delete trigger dropped, the prefix deleted, the trigger recreated and the
        schema fingerprint recorded anew (so only a change outside this path is reported)."""
        if findings := self.trigger_findings():
            raise AuditLogRefused(
                f"the audit log {self.path} is not pruned while its append-only guard is "
                f"damaged: {'; '.join(findings)}"
            )
        with self._lock:
            conn = self._usable()
            conn.execute("BEGIN IMMEDIATE")
            try:
                plan = plan_prune(conn, before)
                if plan is None:
                    conn.execute("ROLLBACK")
                    return None
                self._insert_chained(conn, [prune_row(plan, operator=operator, at=utc_now())])
                conn.execute("DROP TRIGGER audit_no_delete")
                conn.execute("DELETE FROM audit_entries WHERE seq <= ?", (plan.through_seq,))
                conn.execute(SQLITE_APPEND_ONLY_SQL[1])
                conn.execute("DELETE FROM audit_meta WHERE key = ?", (SCHEMA_FINGERPRINT_KEY,))
                conn.execute(
                    "INSERT INTO audit_meta VALUES (?, ?)",
                    (SCHEMA_FINGERPRINT_KEY, sqlite_schema_fingerprint(conn)),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._check_identity(files=1)
        pruned = self.pruned()
        assert pruned is not None  # just written
        return pruned

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

    * there is no anchor (deleted, or never made): without one nothing vouches for the log
      at ``path``, and a log deleted *with* its anchor looks exactly like a first start.
      ``new_log`` is the explicit act that begins one: a new, empty log where there is
      none, or an anchor for the log found there as it is (its chain walked first);
    * the anchor records a log but there is none at ``path`` (deleted), unless ``new_log``
      says to begin a new one (the lost log stays in the anchor's ``retired`` list);
    * ``new_log`` is asked for while an anchored log exists (never replace a log);
    * the log has another id than the anchored one (another file was put in its place);
    * the anchored entry is missing or has another hash (entries removed from the end,
      perhaps written again under the same numbers, or an older copy restored);
    * the hash chain is broken (the first broken link is named). ``verify="full"`` walks
      every entry (about 40 µs each); ``"since_anchor"`` only the entries after the
      anchored entry (whose hash was just checked), for logs too large to walk at every
      start; a scheduled ``earlyrisk audit-log verify`` then does the full walk.

    What ``new_log`` began is in ``log.begun`` (the caller records it in the security log).
    Raises AuditLogUnavailable when the log cannot be opened for writing.
    """
    path = Path(path)
    anchor_file = Path(anchor_path) if anchor_path is not None else default_anchor_path(path)
    try:
        anchor = read_anchor(anchor_file)
    except AnchorError as exc:
        raise AuditLogRefused(str(exc)) from exc
    exists = path.exists()
    if not exists:  # refused before anything is created
        _refuse_before_open(path, anchor, anchor_file, exists=exists, new_log=new_log)
    log = AuditLog(path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
    try:
        if exists:  # after the schema check: a log behind this release is told so first
            _refuse_before_open(path, anchor, anchor_file, exists=exists, new_log=new_log)
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
        if new_log:
            anchor = _begin_anchor(log, anchor, anchor_file, report, existed=exists)
        assert anchor is not None  # refused above, or just begun
        log.attach_anchor(anchor_file, anchor.checkpoint())
    except BaseException:
        log.close()
        raise
    return log


def _refuse_before_open(
    path: Path, anchor: Anchor | None, anchor_file: Path, *, exists: bool, new_log: bool
) -> None:
    """The refusals about the log's presence and its anchor (they need no open log)."""
    if new_log:
        if exists and anchor is not None:
            raise AuditLogRefused(
                f"--new-log: there is already an anchored audit log at {path}; a log is never "
                "replaced. Start without --new-log, or archive that log (with its -wal/-shm) "
                "first"
            )
        return
    if anchor is None:
        found = (
            "the log is there, but nothing vouches that it is the log the service wrote (its "
            "anchor was deleted, or the log comes from a release without anchors)"
            if exists
            else "there is no log either: this is a first start, or the log was deleted "
            "together with its anchor"
        )
        raise AuditLogRefused(
            f"the audit log {path} has no anchor ({anchor_file}): {found}. Restore both from "
            "backup, or begin explicitly with `earlyrisk serve --new-log` (recorded in the "
            "security log)"
        )
    if not exists:
        raise AuditLogRefused(
            f"the audit log {path} is missing, but the anchor {anchor_file} records log "
            f"{anchor.log_id} (created {anchor.created_at}, {anchor.head_seq} entries at "
            f"{anchor.anchored_at}). Restore it from backup, or, if it is really lost, begin "
            "a new log explicitly with `earlyrisk serve --new-log` (the lost log stays "
            "recorded in the anchor)"
        )


def _begin_anchor(
    log: AuditLog, old: Anchor | None, anchor_file: Path, report: ChainReport, *, existed: bool
) -> Anchor:
    """Write the anchor of a log begun with ``new_log``; say what was begun in ``log.begun``."""
    log_id = log.log_id()
    retired = [] if old is None else [*old.retired, _retired(old)]
    anchor = Anchor(
        log_path=str(log.path.resolve()),
        log_id=log_id,
        created_at=utc_now(),
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        anchored_at=utc_now(),
        retired=retired,
    )
    write_anchor(anchor_file, anchor)
    log.begun = begun_words(
        log_id,
        report,
        existed=existed,
        retired=None if old is None else old.checkpoint(),
        where=str(log.path),
    )
    return anchor


def begun_words(
    log_id: str, report: ChainReport, *, existed: bool, retired: Checkpoint | None, where: str
) -> str:
    """What ``--new-log`` began, in one line for the security log (both backends)."""
    began = (
        f"anchored the audit log {log_id} at {where} as found, without an anchor before "
        f"({report.entries} entries, head seq {report.head_seq} hash {report.head_hash})"
        if existed and report.head_seq > 0
        else f"began a new audit log {log_id} at {where}"
    )
    if retired is not None:
        began += f"; the anchor recorded log {retired.log_id} at {retired.describe()}"
    return began


def _retired(anchor: Anchor) -> dict[str, Any]:
    return {
        "log_id": anchor.log_id,
        "log_path": anchor.log_path,
        "created_at": anchor.created_at,
        "head_seq": anchor.head_seq,
        "head_hash": anchor.head_hash,
        "retired_at": utc_now(),
    }


def _check_against_anchor(log: AuditLog, anchor: Anchor, anchor_file: Path) -> None:
    log_id = log.log_id()
    if log_id != anchor.log_id:
        raise AuditLogRefused(
            f"the audit log {log.path} is log {log_id}, but the anchor {anchor_file} records "
            f"log {anchor.log_id}: another file was put in its place. Restore the anchored "
            "log, or archive this one and begin a new log with `earlyrisk serve --new-log`"
        )
    problem = log.checkpoint_problem(anchor.checkpoint(), source=f"the anchor {anchor_file}")
    if problem is not None:
        raise AuditLogRefused(
            f"the audit log {log.path} is behind or differs from its anchor: {problem}. "
            "Restore the latest log, keep this one as evidence"
        )
