"""`earlyrisk db upgrade`: versioned schemas, and an audit log of the first release chained.

The old log is built with the first release's exact DDL (no hash chain, kinds score and
feedback only, AUTOINCREMENT): today's service refuses it; after the upgrade it opens,
its chain is intact, every old entry is kept as it was, and the log (and `audit-log
verify`) says the old entries were chained at migration time.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.store.audit_log import (
    _SELECT,
    AuditLogRefused,
    AuditLogUnavailable,
    FeedbackRecord,
    ScoreRecord,
    _as_dict,
    chain_rows,
    insert_sql,
    open_audit_log,
)
from serving.store.migrations import (
    _SQLITE_AUDIT_V1,
    _SQLITE_TOKENS_V1,
    AUDIT_KINDS,
    AUDIT_KINDS_SQL,
    AUDIT_SQLITE_SCHEMA,
    sqlite_version,
)
from serving.store.tokens import SqlTokenStore

OLD_ROWS = [
    # seq, kind, recorded_at, request_id, token_id, role, endpoint, score_id, family_id,
    # as_of, model_version, probability, risk_level, reasons, decision, reason
    (1, "score", "2025-01-02T10:00:00+00:00", "r1", "t1", "caseworker", "score", "s1",
     "F1", "2024-12-31", "1", 0.123456789, "low", '[{"indicator":"a","contribution":0.1}]',
     None, None),
    (2, "score", "2025-01-02T10:00:01+00:00", "r2", "t1", "caseworker", "score", "s2",
     "F2", "2024-12-31", "1", 1 / 3, "high", "[]", None, None),
    (3, "feedback", "2025-01-03T09:00:00+00:00", "r3", "t1", "caseworker", "feedback", "s2",
     "F2", None, None, None, None, None, "support_offered", "visited"),
]  # fmt: skip


def _old_log(path: Path, rows=OLD_ROWS) -> None:
    conn = sqlite3.connect(path)
    for statement in _SQLITE_AUDIT_V1:
        conn.execute(statement)
    conn.executemany(f"INSERT INTO audit_entries VALUES ({', '.join('?' * 16)})", rows)
    conn.commit()
    conn.close()


def _upgrade(tmp_path: Path, monkeypatch) -> tuple[int, str]:
    monkeypatch.setenv("EARLYRISK_AUDIT_LOG_PATH", str(tmp_path / "audit.sqlite"))
    monkeypatch.setenv("EARLYRISK_TOKEN_DB_PATH", str(tmp_path / "tokens.sqlite"))
    monkeypatch.setenv("EARLYRISK_SECURITY_LOG_PATH", str(tmp_path / "security.sqlite"))
    monkeypatch.setenv("EARLYRISK_SERVED_STATS_PATH", str(tmp_path / "served.sqlite"))
    monkeypatch.delenv("EARLYRISK_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["db", "upgrade"])
    return result.exit_code, result.output


def test_a_first_release_audit_log_is_chained_by_the_upgrade(tmp_path, monkeypatch) -> None:
    log_path = tmp_path / "audit.sqlite"
    _old_log(log_path)
    with pytest.raises(AuditLogRefused, match="before entries were hash-chained"):
        open_audit_log(log_path)
    code, output = _upgrade(tmp_path, monkeypatch)
    assert code == 0, output
    assert "applied audit 2" in output and "applied audit 3" in output
    assert "applied audit 4" in output
    with pytest.raises(AuditLogRefused, match="has no anchor"):
        open_audit_log(log_path)  # nothing vouches for a log from before anchors...
    log = open_audit_log(log_path, new_log=True)  # ...until it is anchored explicitly
    report = log.verify()
    assert report.intact and report.entries == 3
    entries = log.page(limit=10)
    assert [(e["seq"], e["score_id"], e["probability"]) for e in entries] == [
        (1, "s1", 0.123456789),
        (2, "s2", 1 / 3),
        (3, "s2", None),
    ]
    assert entries[2]["decision"] == "support_offered"
    # new entries (a batch run: a kind the first release did not know) chain on
    log.record_run("run", operator="op", outcome="started", detail={"output": "x"})
    assert log.verify().entries == 4
    log.close()
    conn = sqlite3.connect(log_path)
    meta = dict(conn.execute("SELECT key, value FROM audit_meta"))
    assert meta["chained_through_seq"] == "3" and meta["chained_at"] > "2025"
    assert sqlite_version(conn, "audit") == 6
    conn.close()
    verify = CliRunner().invoke(app, ["audit-log", "verify", "--log", str(log_path)])
    assert verify.exit_code == 0, verify.output
    assert "chained by a migration" in verify.output
    # a second upgrade has nothing to do
    code, output = _upgrade(tmp_path, monkeypatch)
    assert code == 0 and "applied" not in output


def test_an_old_log_with_missing_entries_is_refused_not_chained(tmp_path, monkeypatch) -> None:
    log_path = tmp_path / "audit.sqlite"
    gap = [OLD_ROWS[0], (3, *OLD_ROWS[1][1:])]  # entry 2 is missing
    _old_log(log_path, gap)
    code, output = _upgrade(tmp_path, monkeypatch)
    assert code == 1
    assert "jump from seq 1 to 3" in " ".join(output.split())
    conn = sqlite3.connect(log_path)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(audit_entries)")}
    conn.close()
    assert "entry_hash" not in columns  # rolled back: the file is as it was
    with pytest.raises(AuditLogRefused):
        open_audit_log(log_path)


def test_a_first_release_token_store_gets_expiry(tmp_path, monkeypatch) -> None:
    path = tmp_path / "tokens.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(_SQLITE_TOKENS_V1[0])
    conn.execute(
        "INSERT INTO tokens VALUES ('aaaaaaaaaaaa', 'x', 'caseworker', "
        "'2025-01-01T00:00:00+00:00', NULL, NULL)"
    )
    conn.commit()
    conn.close()
    code, output = _upgrade(tmp_path, monkeypatch)
    assert code == 0 and "applied tokens 2" in output, output
    listed = SqlTokenStore(path).list()
    assert listed[0]["expires_at"] is not None and listed[0]["expires_at"].startswith("2025-04")


def test_current_sqlite_stores_are_baselined_not_rebuilt(tmp_path, monkeypatch) -> None:
    log = open_audit_log(tmp_path / "audit.sqlite", new_log=True)
    log.record_scores(
        [ScoreRecord("s", "r", "t", "caseworker", "score", "F", None, "1", 0.5, "low", [])]
    )
    log.close()
    code, output = _upgrade(tmp_path, monkeypatch)
    assert code == 0 and "applied" not in output, output
    conn = sqlite3.connect(tmp_path / "audit.sqlite")
    rows = conn.execute("SELECT store, version, description FROM schema_migrations").fetchall()
    conn.close()
    assert rows == [("audit", 6, "new log at the current schema")]


def test_no_store_to_upgrade_is_a_usage_error(tmp_path, monkeypatch) -> None:
    code, output = _upgrade(tmp_path, monkeypatch)
    assert code == 2 and "no SQLite store" in output
    result = CliRunner().invoke(app, ["db", "upgrade", "--url", "mysql://x/y"])
    assert result.exit_code == 2 and "not a PostgreSQL URL" in result.output


@pytest.mark.server
@pytest.mark.slow
def test_db_upgrade_on_postgres_creates_then_has_nothing_to_do(postgres_url: str) -> None:
    first = CliRunner().invoke(app, ["db", "upgrade", "--url", postgres_url])
    assert first.exit_code == 0, first.output
    # audit 1-5, tokens, security, sessions, stats, cases, corrections
    assert first.output.count("applied") == 11
    second = CliRunner().invoke(app, ["db", "upgrade", "--url", postgres_url])
    assert second.exit_code == 0 and "applied" not in second.output
    verify = CliRunner().invoke(app, ["audit-log", "verify", "--url", postgres_url])
    assert verify.exit_code == 0 and "intact: 0 entries" in verify.output, verify.output


@pytest.mark.server
@pytest.mark.slow
def test_verify_url_names_a_broken_link(postgres_url: str) -> None:
    import psycopg

    from serving.store.audit_log_pg import open_postgres_audit_log

    log = open_postgres_audit_log(postgres_url, new_log=True)
    for i in range(3):
        log.record_scores(
            [ScoreRecord(f"s{i}", "r", "t", "caseworker", "score", "F", None, "1", 0.5, "low", [])]
        )
    log.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_entries DISABLE TRIGGER audit_no_change")
        conn.execute("DELETE FROM audit_entries WHERE seq = 2")
    result = CliRunner().invoke(app, ["audit-log", "verify", "--url", postgres_url])
    assert result.exit_code == 1
    assert "entries 2..2 are missing" in result.output


@pytest.mark.server
@pytest.mark.slow
def test_verify_url_without_a_log_or_with_triggers_dropped(postgres_url: str) -> None:
    empty = CliRunner().invoke(app, ["audit-log", "verify", "--url", postgres_url])
    assert empty.exit_code == 2 and "no audit log" in empty.output
    CliRunner().invoke(app, ["db", "upgrade", "--url", postgres_url])
    sound = CliRunner().invoke(app, ["audit-log", "verify", "--url", postgres_url])
    assert sound.exit_code == 0 and "BROKEN" not in sound.output, sound.output
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER audit_no_change ON audit_entries")
    dropped = CliRunner().invoke(app, ["audit-log", "verify", "--url", postgres_url])
    assert dropped.exit_code == 1  # the chain is intact, but the missing guard is evidence
    assert "trigger audit_no_change is missing" in " ".join(dropped.output.split())


# --------------------------------------------------------------------------- view entries


def _view(log) -> None:
    log.record_view(
        request_id="r3", token_id="t1", role="caseworker", endpoint="family", family_id="F1",
        as_of="2024-12-31",
    )  # fmt: skip


def _entries_of_a_log_refusing_views(log) -> list[dict]:
    """A score and a decision on a log of the release before views; the view is refused
    (fail closed) with a message naming the fix. The log's entries; the log is closed."""
    log.record_scores(
        [ScoreRecord("s1", "r1", "t1", "caseworker", "score", "F1", "2024-12-31", "1", 0.25,
                     "low", [])]
    )  # fmt: skip
    log.record_feedback(FeedbackRecord("s1", "r2", "t1", "caseworker", "F1", "no_action", "ok"))
    with pytest.raises(AuditLogUnavailable, match="earlyrisk db upgrade"):
        _view(log)
    entries = log.page(limit=10)
    log.close()
    return entries


def _check_views_accepted(log, before: list[dict]) -> None:
    """After the upgrade: the same entries and hashes, views accepted, the history read."""
    try:
        assert log.page(limit=10) == before
        _view(log)
        assert log.verify().intact and log.count("view") == 1
        [entry] = log.family_history("F1")
        assert entry["score_id"] == "s1"
        assert [(d["decision"], d["current"]) for d in entry["decisions"]] == [("no_action", True)]
    finally:
        log.close()


def test_a_log_from_before_view_entries_accepts_them_after_the_upgrade(
    tmp_path, monkeypatch
) -> None:
    """SQLite audit 3: the table of the release before views is rebuilt, its rows and
    hashes kept; before the upgrade the log is refused at open and the refusal names the fix."""
    log_path = tmp_path / "audit.sqlite"
    conn = sqlite3.connect(log_path)
    for statement in AUDIT_SQLITE_SCHEMA:  # that release's schema: no 'view', no family index
        if "audit_family_kind" not in statement:
            conn.execute(statement.replace(AUDIT_KINDS_SQL, "('score', 'feedback', 'batch_run')"))
    conn.execute("INSERT INTO audit_meta VALUES ('log_id', 'old'), ('created_at', '2025')")
    score = ScoreRecord("s1", "r1", "t1", "caseworker", "score", "F1", "2024-12-31", "1", 0.25,
                        "low", [])  # fmt: skip
    rows = [
        {**vars(score), "kind": "score", "recorded_at": "2025-01-02", "reasons": "[]"},
        {"kind": "feedback", "recorded_at": "2025-01-03", "request_id": "r2", "token_id": "t1",
         "role": "caseworker", "endpoint": "feedback", "score_id": "s1", "family_id": "F1",
         "decision": "no_action", "reason": "ok"},
    ]  # fmt: skip
    conn.executemany(insert_sql("?"), chain_rows(rows, head=None)[0])
    conn.commit()
    before = [_as_dict(row) for row in conn.execute(f"SELECT {_SELECT} FROM audit_entries")]
    conn.close()
    # the log is behind this release: refused at open, nothing changed behind the operator
    with pytest.raises(AuditLogRefused, match=r"schema version 2.*earlyrisk db upgrade"):
        open_audit_log(log_path, new_log=True)
    code, output = _upgrade(tmp_path, monkeypatch)
    assert code == 0 and "applied audit 3" in output and "applied audit 2" not in output, output
    _check_views_accepted(open_audit_log(log_path, new_log=True), before)
    conn = sqlite3.connect(log_path)
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "audit_family_kind" in indexes and "audit_entries_v2" not in tables
    assert {"audit_no_update", "audit_no_delete"} <= triggers  # still append-only
    code, output = _upgrade(tmp_path, monkeypatch)
    assert code == 0 and "applied" not in output


@pytest.mark.server
@pytest.mark.slow
def test_a_postgres_log_from_before_view_entries_is_upgraded(postgres_url: str, monkeypatch):
    """PostgreSQL audit 2: a database of the release before views refuses them, the service
    refuses to start on it until `db upgrade`, which keeps every entry and hash."""
    from serving.store import migrations
    from serving.store.audit_log_pg import PostgresAuditLog, open_postgres_audit_log

    first_release = tuple(m for m in migrations.POSTGRES if m.version == 1)
    monkeypatch.setattr(migrations, "POSTGRES", first_release)
    before = _entries_of_a_log_refusing_views(PostgresAuditLog(postgres_url))
    monkeypatch.undo()
    with pytest.raises(AuditLogRefused, match=r"audit at 1 \(latest 5\).*db upgrade"):
        open_postgres_audit_log(postgres_url)
    result = CliRunner().invoke(app, ["db", "upgrade", "--url", postgres_url])
    assert result.exit_code == 0 and result.output.count("applied") == 4, result.output  # audit 2-5
    assert "applied audit 2" in result.output and "applied audit 3" in result.output
    _check_views_accepted(open_postgres_audit_log(postgres_url, new_log=True), before)


def test_a_log_from_before_governance_entries_accepts_them_after_the_upgrade(
    tmp_path, monkeypatch
) -> None:
    """SQLite audit 5: a log of the release before `earlyrisk model` refuses governance
    entries by its kind check; the upgrade rebuilds the table (rows and hashes kept) and
    records the new schema fingerprint, so the log opens clean and takes them."""
    from serving.store.migrations import (
        _MIGRATIONS_TABLE,
        _record_fingerprint,
        sqlite_schema_fingerprint,
    )

    log_path = tmp_path / "audit.sqlite"
    conn = sqlite3.connect(log_path)
    for statement in AUDIT_SQLITE_SCHEMA:  # that release's schema: no 'governance'
        conn.execute(
            statement.replace(AUDIT_KINDS_SQL, "('score', 'feedback', 'batch_run', 'view')")
        )
    conn.execute("INSERT INTO audit_meta VALUES ('log_id', 'old'), ('created_at', '2025')")
    conn.execute(_MIGRATIONS_TABLE)
    conn.execute("INSERT INTO schema_migrations VALUES ('audit', 4, 'old', '2025')")
    _record_fingerprint(conn, sqlite_schema_fingerprint(conn), "?")
    score = ScoreRecord("s1", "r1", "t1", "caseworker", "score", "F1", "2024-12-31", "1", 0.25,
                        "low", [])  # fmt: skip
    row = {**vars(score), "kind": "score", "recorded_at": "2025-01-02", "reasons": "[]"}
    conn.executemany(insert_sql("?"), chain_rows([row], head=None)[0])
    governance = {**row, "kind": "governance", "score_id": "governance:x"}
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        conn.execute(insert_sql("?"), chain_rows([governance], head=None)[0][0])
    conn.commit()
    before = [_as_dict(r) for r in conn.execute(f"SELECT {_SELECT} FROM audit_entries")]
    conn.close()
    with pytest.raises(AuditLogRefused, match=r"schema version 4.*earlyrisk db upgrade"):
        open_audit_log(log_path, new_log=True)
    code, output = _upgrade(tmp_path, monkeypatch)
    assert code == 0 and "applied audit 5: governance entries" in output, output
    log = open_audit_log(log_path, new_log=True)
    try:
        assert log.page(limit=10) == before and log.trigger_findings() == []
        log.record_governance(action="promote", model="m", version="2", token_id="t", role="admin")
        assert log.verify().intact and log.count("governance") == 1
    finally:
        log.close()


def test_the_logs_entry_kinds_are_the_kinds_its_schema_accepts() -> None:
    """``EntryKind`` (what the log's code writes and the API documents) and ``AUDIT_KINDS``
    (the CHECK the migrations declare) are one list: a kind added to one only would be
    refused by the database at the first write, or documented but never accepted."""
    from typing import get_args

    from serving.store.audit_log import EntryKind

    assert list(get_args(EntryKind)) == list(AUDIT_KINDS)
