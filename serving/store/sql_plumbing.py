"""The plumbing every Sql store repeats: open its tables (migrations applied) and run one
read or one short write transaction, turning a driver's error into AuditLogUnavailable
with the store's name and where it lives.

One place, so the stores agree on what a database failure is: before this module the case
store turned PostgreSQL's errors into AuditLogUnavailable while the correction and
review-session stores let them through as the driver's own exceptions, which callers that
catch AuditLogUnavailable (the service's "state unavailable" answers) did not expect.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from serving.store.audit_errors import AuditLogUnavailable
from serving.store.connection import Database
from serving.store.migrations import ensure

#: the errors a store turns into AuditLogUnavailable: either driver's, or the file system's
STORE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, psycopg.Error, OSError)


def open_store(db: Database | Path | str, store: str, *, what: str) -> Database:
    """The store's database (a path or URL is opened), its ``store`` migrations applied;
    ``what`` names it in the error (``"cases"``: "cannot open the cases <where>: ...")."""
    database = db if isinstance(db, Database) else Database(db)
    try:
        ensure(database, store)
    except STORE_ERRORS as exc:
        raise AuditLogUnavailable(f"cannot open the {what} {database.where}: {exc}") from exc
    return database


def read_rows(db: Database, sql: str, params: Sequence[Any] = (), *, what: str) -> list[Any]:
    """Every row of one read on the calling thread's connection."""
    try:
        return list(db.read().execute(sql, tuple(params)).fetchall())
    except STORE_ERRORS as exc:
        raise AuditLogUnavailable(f"{what} {db.where}: {exc}") from exc


def write_rows(db: Database, sql: str, params: Sequence[Any] = (), *, what: str) -> int:
    """One statement in its own short write transaction; the rows it changed."""
    try:
        with db.write() as conn:
            return int(conn.execute(sql, tuple(params)).rowcount)
    except STORE_ERRORS as exc:
        raise AuditLogUnavailable(f"{what} {db.where}: {exc}") from exc
