"""Corrections filed and decided through the service: what a family contests, and the answer.

A caseworker files a correction on a family's behalf (``earlyrisk correction add``,
``POST /correction``); a registry officer accepts or rejects it (``correction decide``).
This store keeps them (table ``corrections``, declared by the migrations, SQLite or the
shared PostgreSQL database) in the raw contract's shape
(:data:`features.contract.CORRECTION_COLUMNS`), so :meth:`SqlCorrectionStore.as_frame` is
the corrections table the feature engine applies, plus who filed and when.

Rules kept by the database itself, so no interleaving of two replicas breaks them: a
correction names its action and status from the closed lists (CHECK), and a record has at
most one open correction (a partial unique index). A decision is one transaction: the row
changes only when it is still open, and the caller's ``on_decided`` (the audit entry with
the re-score) runs inside it, so a decision whose audit entry cannot be written is not
taken (nothing partially applied).

:meth:`SqlCorrectionStore.open_contests` is what the worklist shows as *contested*.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import psycopg

from serving.store.connection import Database
from serving.store.sql_plumbing import open_store, read_rows

COLUMNS = (
    "correction_id",
    "family_id",
    "record_table",
    "record_id",
    "action",
    "field",
    "new_value",
    "document_ref",
    "requested_date",
    "requested_at",
    "requested_by",
    "decided_date",
    "decided_at",
    "decided_by",
    "status",
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM corrections"


class CorrectionRefused(ValueError):
    """A correction or decision the store refuses; ``field`` names the offending field.

    ``status`` is the HTTP answer: 400 a bad value, 404 no such record or family (in the
    caller's regions), 409 a conflict with what is stored (a second open correction of a
    record, a correction decided already)."""

    def __init__(self, field: str, message: str, *, status: int = 400) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


class UnknownCorrectionError(LookupError):
    """No correction has this id."""


@dataclass(frozen=True)
class Correction:
    """One correction as stored (dates ISO text; decided fields None while open)."""

    correction_id: str
    family_id: str
    record_table: str
    record_id: str
    action: str
    field: str | None
    new_value: str | None
    document_ref: str
    requested_date: str
    requested_at: str
    requested_by: str
    decided_date: str | None
    decided_at: str | None
    decided_by: str | None
    status: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NewCorrection:
    """What a caseworker files (checked by :mod:`serving.corrections` before it is added)."""

    family_id: str
    record_table: str
    record_id: str
    action: str
    field: str | None
    new_value: str | None
    document_ref: str


class CorrectionStore(Protocol):
    """Corrections filed through the service (see the module docstring)."""

    def add(self, new: NewCorrection, *, requested_by: str, today: date) -> Correction:
        """File a correction (status requested); refused when the record has an open one."""
        ...

    def get(self, correction_id: str) -> Correction:
        """One correction, or UnknownCorrectionError."""
        ...

    def list(
        self, *, family_ids: Iterable[str] | None = None, status: str | None = None
    ) -> list[Correction]:
        """Corrections (of these families, with this status), oldest first."""
        ...

    def decide(
        self,
        correction_id: str,
        *,
        status: str,
        decided_by: str,
        today: date,
        on_decided: Callable[[Correction], None] | None = None,
    ) -> Correction:
        """Accept or reject an open correction; ``on_decided`` runs inside the transaction
        (it raising undoes the decision)."""
        ...

    def open_contests(self, family_ids: Iterable[str]) -> set[str]:
        """Of ``family_ids``, those with an open correction (shown as contested)."""
        ...

    def as_frame(self, *, accepted_only: bool = False) -> pd.DataFrame:
        """The corrections in the raw contract's columns (features.corrections)."""
        ...

    def close(self) -> None:
        """Release the store's connections."""
        ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _unique_violation(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.IntegrityError | psycopg.errors.UniqueViolation)


class SqlCorrectionStore:
    """:class:`CorrectionStore` over one :class:`~serving.store.connection.Database`
    (either dialect), with the package's concurrency policy."""

    def __init__(self, db: Database | Path | str) -> None:
        self.db = open_store(db, "corrections", what="corrections")
        self.where = self.db.where

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return read_rows(self.db, sql, params, what="corrections")

    def add(self, new: NewCorrection, *, requested_by: str, today: date) -> Correction:
        correction_id = f"C{today:%Y%m%d}-{secrets.token_hex(4)}"
        row = (
            correction_id,
            new.family_id,
            new.record_table,
            new.record_id,
            new.action,
            new.field,
            new.new_value,
            new.document_ref,
            today.isoformat(),
            _now(),
            requested_by,
            None,
            None,
            None,
            "requested",
        )
        try:
            with self.db.write() as conn:
                conn.execute(
                    f"INSERT INTO corrections ({', '.join(COLUMNS)}) "
                    f"VALUES ({', '.join('?' for _ in COLUMNS)})",
                    row,
                )
        except (sqlite3.IntegrityError, psycopg.errors.UniqueViolation) as exc:
            if _unique_violation(exc):
                raise CorrectionRefused(
                    "record_id",
                    f"{new.record_table} record {new.record_id!r} already has an open "
                    "correction; it must be decided before another is filed",
                    status=409,
                ) from None
            raise
        return self.get(correction_id)

    def get(self, correction_id: str) -> Correction:
        rows = self._read(f"{_SELECT} WHERE correction_id = ?", (correction_id,))
        if not rows:
            raise UnknownCorrectionError(f"correction_id: no correction {correction_id!r}")
        return Correction(*rows[0])

    def list(
        self, *, family_ids: Iterable[str] | None = None, status: str | None = None
    ) -> list[Correction]:
        clauses: list[str] = []
        params: list[Any] = []
        if family_ids is not None:
            ids = sorted(set(family_ids))
            if not ids:
                return []
            clauses.append(f"family_id IN ({', '.join('?' for _ in ids)})")
            params += ids
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(f"{_SELECT}{where} ORDER BY requested_at, correction_id", tuple(params))
        return [Correction(*row) for row in rows]

    def decide(
        self,
        correction_id: str,
        *,
        status: str,
        decided_by: str,
        today: date,
        on_decided: Callable[[Correction], None] | None = None,
    ) -> Correction:
        if status not in ("accepted", "rejected"):
            raise CorrectionRefused("decision", f"{status!r} is not accepted or rejected")
        current = self.get(correction_id)
        if current.status != "requested":
            raise CorrectionRefused(
                "correction_id",
                f"correction {correction_id!r} was already {current.status} on "
                f"{current.decided_date} by {current.decided_by}",
                status=409,
            )
        decided = Correction(
            **{
                **current.to_dict(),
                "status": status,
                "decided_date": today.isoformat(),
                "decided_at": _now(),
                "decided_by": decided_by,
            }
        )
        with self.db.write() as conn:
            cur = conn.execute(
                "UPDATE corrections SET status = ?, decided_date = ?, decided_at = ?, "
                "decided_by = ? WHERE correction_id = ? AND status = 'requested'",
                (status, decided.decided_date, decided.decided_at, decided_by, correction_id),
            )
            if cur.rowcount != 1:  # decided meanwhile by another replica
                raise CorrectionRefused(
                    "correction_id", f"correction {correction_id!r} is no longer open", status=409
                )
            if on_decided is not None:
                on_decided(decided)
        return decided

    def open_contests(self, family_ids: Iterable[str]) -> set[str]:
        ids = sorted(set(family_ids))
        if not ids:
            return set()
        found: set[str] = set()
        for start in range(0, len(ids), 500):  # bounded statement size
            chunk = ids[start : start + 500]
            rows = self._read(
                "SELECT DISTINCT family_id FROM corrections WHERE status = 'requested' AND "
                f"family_id IN ({', '.join('?' for _ in chunk)})",
                tuple(chunk),
            )
            found |= {str(row[0]) for row in rows}
        return found

    def as_frame(self, *, accepted_only: bool = False) -> pd.DataFrame:
        from features.corrections import COLUMN_NAMES, typed_corrections

        rows = self.list(status="accepted" if accepted_only else None)
        frame = pd.DataFrame([r.to_dict() for r in rows], columns=list(COLUMNS))
        return typed_corrections(frame.loc[:, list(COLUMN_NAMES)])

    def close(self) -> None:
        self.db.close()
