"""Cases: one score per family, snapshot and model version, and what caseworkers did with it.

Before cases, every view of a family on the review page scored it again: after a few visits
its history held identical rows, and two decisions on two views of one family were both
"in force". A case is the unit a caseworker works on instead:

* **one score**: the first time a family is scored for a snapshot by a model version (the
  worklist's batch of flagged families, or a caseworker opening a family not flagged), the
  score's id, probability and level are kept here; the score entry itself, with its reasons,
  stays in the audit log (``score_id`` is the reference). Later views reuse it and are
  logged as ``view`` entries, never as new scores;
* **a status**: ``new`` (flagged, nobody looked), ``viewed``, ``decided``; the worklist
  adds ``follow_up_due`` (the follow-up date has come) and ``contested`` (the family
  contests a record) when it reads them (:mod:`serving.worklist`);
* **one decision in force** with who, when and why, and the follow-up date it set. Each
  decision names the one it superseded (``supersedes_seq``); the superseded ones stay in
  ``case_decisions``. The decisions are ``feedback`` entries of the audit log first
  (``audit_seq``); this store indexes them per case for the worklist;
* **first flagged**: the date (service time zone) the family was first at the ``high``
  level, carried over from an earlier snapshot's or model's case of the same family.

Three more tables: ``case_forms`` (form tokens already used: a decision form submitted
twice records one decision), and ``case_batches`` (which snapshot and model version had
its flagged families scored, claimed by one process so replicas never score them twice).

One Protocol (:class:`CaseStore`) and one implementation over
:class:`serving.store.connection.Database` (SQLite or PostgreSQL), tables declared in
:mod:`serving.store.migrations` (store ``cases``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg

from serving.store.audit_errors import AuditLogUnavailable
from serving.store.connection import Database
from serving.store.side_index import id_chunks
from serving.store.sql_plumbing import open_store, read_rows, write_rows

CaseStatus = Literal["new", "viewed", "decided"]
BatchState = Literal["absent", "building", "built"]

_CASE_COLUMNS = (
    "model_version",
    "as_of",
    "family_id",
    "region",
    "score_id",
    "probability",
    "risk_level",
    "opened_at",
    "first_flagged",
    "status",
    "viewed_at",
    "decision_seq",
    "decision",
    "decision_reason",
    "decided_by",
    "decided_at",
    "follow_up",
)
_SELECT = ", ".join(_CASE_COLUMNS)
_DECISION_COLUMNS = (
    "audit_seq",
    "score_id",
    "decision",
    "reason",
    "token_id",
    "recorded_at",
    "follow_up",
    "supersedes_seq",
)


@dataclass(frozen=True)
class NewCase:
    """A case as it is opened: the family's one score for the snapshot and model version."""

    model_version: str
    as_of: str
    family_id: str
    region: str | None
    score_id: str
    probability: float
    risk_level: str
    opened_at: str
    first_flagged: str | None


@dataclass(frozen=True)
class Case:
    """A stored case (see the module docstring)."""

    model_version: str
    as_of: str
    family_id: str
    region: str | None
    score_id: str
    probability: float
    risk_level: str
    opened_at: str
    first_flagged: str | None
    status: CaseStatus
    viewed_at: str | None
    decision_seq: int | None
    decision: str | None
    decision_reason: str | None
    decided_by: str | None
    decided_at: str | None
    follow_up: str | None


@dataclass(frozen=True)
class CaseDecision:
    """One decision on a case (a ``feedback`` entry of the audit log, ``audit_seq``)."""

    audit_seq: int
    score_id: str
    decision: str
    reason: str
    token_id: str
    recorded_at: str
    follow_up: str | None
    supersedes_seq: int | None


@dataclass(frozen=True)
class ListScope:
    """Which cases a worklist reads: a snapshot, a model version, a level, the regions."""

    model_version: str
    as_of: str
    level: str
    regions: Sequence[str] | None  # None: every region


class CaseStore(Protocol):
    """The cases of the service (see the module docstring)."""

    def get(self, model_version: str, as_of: str, family_id: str) -> Case | None:
        """The family's case for the snapshot and model version, or None."""
        ...

    def by_score(self, score_id: str) -> Case | None:
        """The case whose score is score_id, or None (a score no case holds)."""
        ...

    def open_cases(self, cases: Sequence[NewCase]) -> int:
        """Store new cases (status ``new``); a case already open is kept as it is. Returns
        how many were opened."""
        ...

    def rescore(self, case: NewCase) -> None:
        """Give an open case a new score (its score is not in the audit log it is read
        with: another log); status, decisions and follow-up stay."""
        ...

    def first_flagged(self, family_ids: Sequence[str]) -> dict[str, str]:
        """The earliest date each family was first flagged, over all its cases."""
        ...

    def family_ids(self, model_version: str, as_of: str) -> set[str]:
        """The families with a case for the snapshot and model version."""
        ...

    def mark_viewed(self, model_version: str, as_of: str, family_id: str, *, at: str) -> bool:
        """A ``new`` case becomes ``viewed``; True when it changed."""
        ...

    def listing(
        self, model_version: str, as_of: str, *, regions: Sequence[str] | None, level: str
    ) -> list[Case]:
        """The cases at ``level`` in the regions (None: all), highest probability first."""
        ...

    def status_counts(
        self, scope: ListScope, *, today: str, contested: Sequence[str] = ()
    ) -> dict[str, int]:
        """Cases per status today (``follow_up_due`` when the follow-up date is today or
        past; ``contested`` for the contested families), in one grouped read."""
        ...

    def page(
        self,
        scope: ListScope,
        *,
        today: str,
        status: str | None,
        contested: Sequence[str] = (),
        limit: int,
        offset: int,
    ) -> list[Case]:
        """One page of the list (highest probability first) with today's ``status`` (None:
        every status), read with LIMIT/OFFSET, not the whole list."""
        ...

    def family_ids_listed(self, scope: ListScope) -> list[str]:
        """The families of the list (for the contested ones; ids only)."""
        ...

    def claim_form(self, form_token: str, *, at: str) -> bool:
        """Claim a decision form's token; False when it was claimed before (a double submit)."""
        ...

    def release_form(self, form_token: str) -> None:
        """Give back a claimed token whose decision could not be recorded (it may be retried)."""
        ...

    def record_decision(
        self,
        model_version: str,
        as_of: str,
        family_id: str,
        decision: CaseDecision,
        *,
        form_token: str | None = None,
    ) -> None:
        """Keep a decision in the case's history and make it the one in force (unless a
        later one already is), with its follow-up date."""
        ...

    def decisions(self, model_version: str, as_of: str, family_id: str) -> list[CaseDecision]:
        """The case's decisions, oldest first (the superseded ones included)."""
        ...

    def batch_state(self, model_version: str, as_of: str) -> BatchState:
        """Whether the flagged families of the snapshot were scored (or are being scored)."""
        ...

    def claim_batch(self, model_version: str, as_of: str, *, at: str) -> bool:
        """Claim the scoring of the flagged families; False when another process has."""
        ...

    def finish_batch(self, model_version: str, as_of: str, *, at: str, families: int) -> None:
        """Mark the flagged families scored."""
        ...

    def release_batch(self, model_version: str, as_of: str) -> None:
        """Give back an unfinished claim (the scoring failed; the next request retries)."""
        ...

    def close(self) -> None:
        """Release the store's connections."""
        ...


def _case(row: Sequence[Any]) -> Case:
    values = dict(zip(_CASE_COLUMNS, row, strict=True))
    values["probability"] = float(values["probability"])
    if values["decision_seq"] is not None:
        values["decision_seq"] = int(values["decision_seq"])
    return Case(**values)


def _decision(row: Sequence[Any]) -> CaseDecision:
    values = dict(zip(_DECISION_COLUMNS, row, strict=True))
    values["audit_seq"] = int(values["audit_seq"])
    if values["supersedes_seq"] is not None:
        values["supersedes_seq"] = int(values["supersedes_seq"])
    return CaseDecision(**values)


class SqlCaseStore:
    """:class:`CaseStore` over one :class:`~serving.store.connection.Database` (either
    dialect), with the package's concurrency policy (a connection per thread, each write
    one short transaction)."""

    def __init__(self, db: Database | Path | str) -> None:
        self.db = open_store(db, "cases", what="cases")
        self.where = self.db.where

    # ---- plumbing
    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return read_rows(self.db, sql, params, what="cases")

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        return write_rows(self.db, sql, params, what="cases")

    # ---- cases
    def get(self, model_version: str, as_of: str, family_id: str) -> Case | None:
        rows = self._read(
            f"SELECT {_SELECT} FROM cases WHERE model_version = ? AND as_of = ? AND family_id = ?",
            (model_version, as_of, family_id),
        )
        return _case(rows[0]) if rows else None

    def by_score(self, score_id: str) -> Case | None:
        rows = self._read(f"SELECT {_SELECT} FROM cases WHERE score_id = ?", (score_id,))
        return _case(rows[0]) if rows else None

    def open_cases(self, cases: Sequence[NewCase]) -> int:
        if not cases:
            return 0
        sql = (
            "INSERT INTO cases (model_version, as_of, family_id, region, score_id, probability, "
            "risk_level, opened_at, first_flagged, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "'new') ON CONFLICT (model_version, as_of, family_id) DO NOTHING"
        )
        opened = 0
        try:
            with self.db.write() as conn:
                for c in cases:
                    cur = conn.execute(
                        sql,
                        (
                            c.model_version,
                            c.as_of,
                            c.family_id,
                            c.region,
                            c.score_id,
                            float(c.probability),
                            c.risk_level,
                            c.opened_at,
                            c.first_flagged,
                        ),
                    )
                    opened += max(int(cur.rowcount), 0)
        except (sqlite3.Error, psycopg.Error, OSError) as exc:
            raise AuditLogUnavailable(f"cases {self.where}: {exc}") from exc
        return opened

    def rescore(self, case: NewCase) -> None:
        self._write(
            "UPDATE cases SET score_id = ?, probability = ?, risk_level = ?, "
            "first_flagged = COALESCE(first_flagged, ?) "
            "WHERE model_version = ? AND as_of = ? AND family_id = ?",
            (
                case.score_id,
                float(case.probability),
                case.risk_level,
                case.first_flagged,
                case.model_version,
                case.as_of,
                case.family_id,
            ),
        )

    def first_flagged(self, family_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk, marks in id_chunks(list(family_ids)):
            for family_id, first in self._read(
                "SELECT family_id, MIN(first_flagged) FROM cases WHERE family_id IN "
                f"({marks}) AND first_flagged IS NOT NULL GROUP BY family_id",
                chunk,
            ):
                found[str(family_id)] = str(first)
        return found

    def family_ids(self, model_version: str, as_of: str) -> set[str]:
        rows = self._read(
            "SELECT family_id FROM cases WHERE model_version = ? AND as_of = ?",
            (model_version, as_of),
        )
        return {str(r[0]) for r in rows}

    def mark_viewed(self, model_version: str, as_of: str, family_id: str, *, at: str) -> bool:
        changed = self._write(
            "UPDATE cases SET status = 'viewed', viewed_at = ? WHERE model_version = ? AND "
            "as_of = ? AND family_id = ? AND status = 'new'",
            (at, model_version, as_of, family_id),
        )
        return changed == 1

    def listing(
        self, model_version: str, as_of: str, *, regions: Sequence[str] | None, level: str
    ) -> list[Case]:
        sql = (
            f"SELECT {_SELECT} FROM cases WHERE model_version = ? AND as_of = ? AND risk_level = ?"
        )
        params: list[Any] = [model_version, as_of, level]
        if regions is not None:
            if not regions:
                return []
            sql += f" AND region IN ({', '.join('?' for _ in regions)})"
            params += list(regions)
        sql += " ORDER BY probability DESC, family_id"
        return [_case(row) for row in self._read(sql, params)]

    # ---- the worklist, in SQL (counts grouped, one page read)
    @staticmethod
    def _scope_sql(scope: ListScope) -> tuple[str, list[Any]]:
        sql = "model_version = ? AND as_of = ? AND risk_level = ?"
        params: list[Any] = [scope.model_version, scope.as_of, scope.level]
        if scope.regions is not None:
            sql += f" AND region IN ({', '.join('?' for _ in scope.regions) or 'NULL'})"
            params += list(scope.regions)
        return sql, params

    @staticmethod
    def _ids_sql(column: str, ids: Sequence[str], *, negate: bool) -> tuple[str, list[Any]]:
        if not ids:
            return ("" if negate else " AND 1 = 0"), []
        marks = ", ".join("?" for _ in ids)
        return f" AND {column} {'NOT IN' if negate else 'IN'} ({marks})", list(ids)

    def status_counts(
        self, scope: ListScope, *, today: str, contested: Sequence[str] = ()
    ) -> dict[str, int]:
        where, params = self._scope_sql(scope)
        skip, skipped = self._ids_sql("family_id", contested, negate=True)
        rows = self._read(
            "SELECT CASE WHEN follow_up IS NOT NULL AND follow_up <= ? THEN 'follow_up_due' "
            f"ELSE status END AS shown, COUNT(*) FROM cases WHERE {where}{skip} GROUP BY shown",
            [today, *params, *skipped],
        )
        counts = {str(status): int(n) for status, n in rows}
        if contested:
            only, listed = self._ids_sql("family_id", contested, negate=False)
            found = self._read(
                f"SELECT COUNT(*) FROM cases WHERE {where}{only}", [*params, *listed]
            )
            counts["contested"] = int(found[0][0])
        return counts

    def page(
        self,
        scope: ListScope,
        *,
        today: str,
        status: str | None,
        contested: Sequence[str] = (),
        limit: int,
        offset: int,
    ) -> list[Case]:
        where, params = self._scope_sql(scope)
        extra: str = ""
        more: list[Any] = []
        if status == "contested":
            extra, more = self._ids_sql("family_id", contested, negate=False)
        elif status is not None:
            extra, more = self._ids_sql("family_id", contested, negate=True)
            if status == "follow_up_due":
                extra += " AND follow_up IS NOT NULL AND follow_up <= ?"
                more.append(today)
            else:
                extra += " AND status = ? AND (follow_up IS NULL OR follow_up > ?)"
                more += [status, today]
        rows = self._read(
            f"SELECT {_SELECT} FROM cases WHERE {where}{extra} "
            "ORDER BY probability DESC, family_id LIMIT ? OFFSET ?",
            [*params, *more, limit, offset],
        )
        return [_case(row) for row in rows]

    def family_ids_listed(self, scope: ListScope) -> list[str]:
        where, params = self._scope_sql(scope)
        return [str(r[0]) for r in self._read(f"SELECT family_id FROM cases WHERE {where}", params)]

    # ---- decisions
    def claim_form(self, form_token: str, *, at: str) -> bool:
        claimed = self._write(
            "INSERT INTO case_forms (form_token, claimed_at) VALUES (?, ?) "
            "ON CONFLICT (form_token) DO NOTHING",
            (form_token, at),
        )
        return claimed == 1

    def release_form(self, form_token: str) -> None:
        self._write(
            "DELETE FROM case_forms WHERE form_token = ? AND audit_seq IS NULL", (form_token,)
        )

    def record_decision(
        self,
        model_version: str,
        as_of: str,
        family_id: str,
        decision: CaseDecision,
        *,
        form_token: str | None = None,
    ) -> None:
        d = decision
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO case_decisions (audit_seq, model_version, as_of, family_id, "
                    "score_id, decision, reason, token_id, recorded_at, follow_up, "
                    "supersedes_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        d.audit_seq,
                        model_version,
                        as_of,
                        family_id,
                        d.score_id,
                        d.decision,
                        d.reason,
                        d.token_id,
                        d.recorded_at,
                        d.follow_up,
                        d.supersedes_seq,
                    ),
                )
                # in force unless a later decision already is (two caseworkers at once)
                conn.execute(
                    "UPDATE cases SET status = 'decided', decision_seq = ?, decision = ?, "
                    "decision_reason = ?, decided_by = ?, decided_at = ?, follow_up = ?, "
                    "viewed_at = COALESCE(viewed_at, ?) WHERE model_version = ? AND as_of = ? "
                    "AND family_id = ? AND (decision_seq IS NULL OR decision_seq < ?)",
                    (
                        d.audit_seq,
                        d.decision,
                        d.reason,
                        d.token_id,
                        d.recorded_at,
                        d.follow_up,
                        d.recorded_at,
                        model_version,
                        as_of,
                        family_id,
                        d.audit_seq,
                    ),
                )
                if form_token is not None:
                    conn.execute(
                        "UPDATE case_forms SET audit_seq = ? WHERE form_token = ?",
                        (d.audit_seq, form_token),
                    )
        except (sqlite3.Error, psycopg.Error, OSError) as exc:
            raise AuditLogUnavailable(f"cases {self.where}: {exc}") from exc

    def decisions(self, model_version: str, as_of: str, family_id: str) -> list[CaseDecision]:
        rows = self._read(
            f"SELECT {', '.join(_DECISION_COLUMNS)} FROM case_decisions WHERE model_version = ? "
            "AND as_of = ? AND family_id = ? ORDER BY audit_seq",
            (model_version, as_of, family_id),
        )
        return [_decision(row) for row in rows]

    # ---- the flagged families' batch
    def batch_state(self, model_version: str, as_of: str) -> BatchState:
        rows = self._read(
            "SELECT built_at FROM case_batches WHERE model_version = ? AND as_of = ?",
            (model_version, as_of),
        )
        if not rows:
            return "absent"
        return "built" if rows[0][0] is not None else "building"

    def claim_batch(self, model_version: str, as_of: str, *, at: str) -> bool:
        claimed = self._write(
            "INSERT INTO case_batches (model_version, as_of, claimed_at) VALUES (?, ?, ?) "
            "ON CONFLICT (model_version, as_of) DO NOTHING",
            (model_version, as_of, at),
        )
        return claimed == 1

    def finish_batch(self, model_version: str, as_of: str, *, at: str, families: int) -> None:
        self._write(
            "UPDATE case_batches SET built_at = ?, families = ? WHERE model_version = ? "
            "AND as_of = ?",
            (at, families, model_version, as_of),
        )

    def release_batch(self, model_version: str, as_of: str) -> None:
        self._write(
            "DELETE FROM case_batches WHERE model_version = ? AND as_of = ? AND built_at IS NULL",
            (model_version, as_of),
        )

    def close(self) -> None:
        self.db.close()


def open_case_store(database_url: str | None, path: Path) -> SqlCaseStore:
    """The cases the settings name: the shared database when there is one, else the SQLite
    file at path (0600, made by the migrations when new)."""
    return SqlCaseStore(database_url if database_url is not None else path)
