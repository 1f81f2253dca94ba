"""The Sql stores share one plumbing (serving.store.sql_plumbing): a database failure
during a read reaches the caller as AuditLogUnavailable naming the table, on SQLite and on
PostgreSQL alike, for every store built on it (before, the correction and review-session
stores let PostgreSQL's errors through as the driver's own exceptions)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from serving.store.audit_errors import AuditLogUnavailable
from serving.store.cases import ListScope, SqlCaseStore
from serving.store.connection import Database
from serving.store.corrections import SqlCorrectionStore
from serving.store.review_sessions import SqlReviewSessions

DIALECTS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=[pytest.mark.server, pytest.mark.slow]),
]


def _drop(db: Database, table: str) -> None:
    """Drop a store's table behind its back, as a broken or tampered database would."""
    if db.url is not None:
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {table}")
    else:
        with sqlite3.connect(str(db.path)) as conn:
            conn.execute(f"DROP TABLE {table}")


# (store class, its table, its name in the error, one read through the store)
STORES: list[tuple[type[Any], str, str, Callable[[Any], object]]] = [
    (
        SqlCaseStore,
        "cases",
        "cases",
        lambda store: store.family_ids_listed(ListScope("1", "2024-12-31", "high", None)),
    ),
    (SqlCorrectionStore, "corrections", "corrections", lambda store: store.list()),
    (
        SqlReviewSessions,
        "review_sessions",
        "review sessions",
        lambda store: store.create("token", now=datetime.now(UTC)),
    ),
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("store_class", "table", "name", "read"), STORES, ids=[s[1] for s in STORES]
)
def test_a_failed_read_is_audit_log_unavailable_naming_the_table(
    dialect: str,
    store_class: type[Any],
    table: str,
    name: str,
    read: Callable[[Any], object],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    if dialect == "sqlite":
        db = Database(tmp_path / "store.sqlite")
    else:
        db = Database(request.getfixturevalue("postgres_url"))
    store = store_class(db)
    read(store)  # works while the table is there
    _drop(db, table)
    with pytest.raises(AuditLogUnavailable) as caught:
        read(store)
    # SQLite's errors are named by the database layer, PostgreSQL's by the store
    message = str(caught.value)
    assert message.startswith(f"{name} ") or "unavailable" in message, message
    assert table in message
    store.close()
