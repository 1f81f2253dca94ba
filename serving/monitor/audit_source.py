"""Read-only queries of the audit log for the reports, on SQLite or PostgreSQL alike.

`earlyrisk monitor` (its ``decisions`` and ``deployment`` sections) and `earlyrisk
shadow-report` read the log the service writes. A service on PostgreSQL
(``EARLYRISK_DATABASE_URL``) keeps it in the shared database, so a report must read it
there too, not only from a SQLite file. The reports write nothing: SQLite is opened
``mode=ro`` and a PostgreSQL session is ``READ ONLY`` (a query that would change the log is
refused by the server, not just by this code). The SQL is written once with ``?`` marks and
runs on both dialects.

A source is a path to the SQLite file, or a ``postgresql://`` URL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import EarlyriskError
from serving.database_url import is_postgres, redact
from serving.settings import ServingSettings

AuditSource = Path | str


class AuditLogReadError(EarlyriskError, RuntimeError):
    """The audit log exists but cannot be read as one."""


def is_database(source: AuditSource) -> bool:
    """Whether the source is a PostgreSQL URL (else a SQLite file)."""
    return isinstance(source, str) and is_postgres(source)


def describe(source: AuditSource) -> str:
    """The source as messages name it (a URL without its password)."""
    return redact(str(source)) if is_database(source) else str(source)


def exists(source: AuditSource | None) -> bool:
    """Whether there is a log to read: a SQLite file that exists, or any database URL (a
    database that cannot be reached is an error when read, not an absent log)."""
    if source is None:
        return False
    return is_database(source) or Path(source).exists()


def read_frame(source: AuditSource, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    """The rows of one read query as a frame (columns named as the query names them)."""
    columns, rows = _query(source, sql, params)
    return pd.DataFrame.from_records(rows, columns=columns)


def read_rows(source: AuditSource, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of one read query as tuples."""
    return _query(source, sql, params)[1]


def _query(
    source: AuditSource, sql: str, params: Sequence[Any]
) -> tuple[list[str], list[tuple[Any, ...]]]:
    if is_database(source):
        return _query_postgres(str(source), sql, params)
    path = Path(source)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            cursor = conn.execute(sql, tuple(params))
            rows = cursor.fetchall()
            columns = [d[0] for d in cursor.description]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise AuditLogReadError(f"cannot read the audit log {path}: {exc}") from exc
    return columns, rows


def _query_postgres(
    url: str, sql: str, params: Sequence[Any]
) -> tuple[list[str], list[tuple[Any, ...]]]:
    import psycopg

    from serving.store.connection import CONNECT_TIMEOUT_S

    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.read_only = True
            with conn.cursor() as cursor:
                # SQLite's ``?`` marks as psycopg's (a literal ``%`` doubled)
                cursor.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))
                rows = cursor.fetchall()
                columns = [d.name for d in cursor.description or ()]
            conn.rollback()  # nothing to keep: the session only read
    except psycopg.Error as exc:
        raise AuditLogReadError(f"cannot read the audit log in {redact(url)}: {exc}") from exc
    return columns, rows


def source_option(value: str | None, settings: ServingSettings) -> AuditSource:
    """The log a report reads: ``--audit-log`` (a SQLite file or a ``postgresql://`` URL),
    else the service's own (``EARLYRISK_DATABASE_URL`` when set, as the service writes it
    there, else ``EARLYRISK_AUDIT_LOG_PATH``)."""
    if value is not None:
        return value if is_postgres(value) else Path(value)
    return settings.database_url if settings.database_url is not None else settings.audit_log_path
