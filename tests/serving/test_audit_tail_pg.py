"""Tamper evidence for the audit log on PostgreSQL: the SQLite cases of test_audit_tail.py on
a real server (issue 20, item 5).

Before this, PostgreSQL had no anchor at all: a tail cut by the database owner, while the
replicas ran or after they stopped, left no trace. The anchor now lives in the append-only
``audit_anchor`` table, and every refresh, start and verify proves the log still holds the
hash at the anchored seq.
"""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from typer.testing import CliRunner

from benchmarks.audit_records import score_record
from earlyrisk.cli import app
from serving.store.audit_log import AuditLogRefused, ScoreRecord
from serving.store.audit_log_pg import PostgresAuditLog, open_postgres_audit_log

pytestmark = [pytest.mark.server, pytest.mark.slow]

_DELETE_GUARD = (
    "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit_entries "
    "FOR EACH ROW EXECUTE FUNCTION earlyrisk_append_only()"
)


def _record() -> ScoreRecord:
    return score_record(uuid.uuid4().hex, family_id="F00001")


def _write(log: PostgresAuditLog, n: int) -> None:
    for _ in range(n):
        log.record_scores([_record()])


def _owner(url: str, *statements: str) -> None:
    """The database owner, behind the replicas' backs."""
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _cut_tail(url: str, from_seq: int) -> None:
    _owner(
        url,
        "DROP TRIGGER audit_no_change ON audit_entries",
        f"DELETE FROM audit_entries WHERE seq >= {from_seq}",
        _DELETE_GUARD,
    )


def _anchor(url: str) -> tuple[int, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT head_seq, head_hash FROM audit_anchor ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def _hash(url: str, seq: int) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT entry_hash FROM audit_entries WHERE seq = %s", (seq,)).fetchone()
    return str(row[0])


def _verify(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner(env={"COLUMNS": "400"}).invoke(
        app, ["audit-log", "verify", "--url", url, *args]
    )
    return result.exit_code, " ".join(result.output.split())


def test_a_tail_cut_while_the_replicas_run_is_caught_by_the_refresh(postgres_url: str) -> None:
    log = open_postgres_audit_log(postgres_url, new_log=True)
    _write(log, 20)
    log.refresh_anchor()
    anchored = _anchor(postgres_url)
    assert anchored[0] == 20
    _cut_tail(postgres_url, 10)
    _write(log, 15)  # the replica reuses seq 10..24
    with pytest.raises(AuditLogRefused, match="entry seq 20 has hash"):
        log.refresh_anchor()
    assert _anchor(postgres_url) == anchored  # the anchor was not moved onto the new entries
    with pytest.raises(AuditLogRefused, match="no longer holds its anchor"):
        log.record_scores([_record()])
    assert not log.ready()
    log.close()
    code, output = _verify(postgres_url)
    assert code == 1 and f"entry seq 20 has hash {_hash(postgres_url, 20)}" in output, output
    assert f"recorded hash {anchored[1]}" in output
    with pytest.raises(AuditLogRefused, match="entry seq 20 has hash"):
        open_postgres_audit_log(postgres_url)


def test_a_tail_cut_after_a_clean_stop_is_caught_at_the_next_start(postgres_url: str) -> None:
    log = open_postgres_audit_log(postgres_url, new_log=True)
    _write(log, 6)
    log.close()  # the shutdown refresh anchors seq 6
    assert _anchor(postgres_url)[0] == 6
    _cut_tail(postgres_url, 5)
    with pytest.raises(AuditLogRefused, match=r"ends at seq 4 .* seq 6 with hash"):
        open_postgres_audit_log(postgres_url)
    code, output = _verify(postgres_url)
    assert code == 1 and "the log ends at seq 4" in output


def test_an_updated_row_and_a_deleted_first_entry_are_named(postgres_url: str) -> None:
    log = open_postgres_audit_log(postgres_url, new_log=True)
    _write(log, 4)
    log.close()
    _owner(
        postgres_url,
        "ALTER TABLE audit_entries DISABLE TRIGGER audit_no_change",
        "UPDATE audit_entries SET risk_level = 'low' WHERE seq = 3",
    )
    code, output = _verify(postgres_url)
    assert code == 1 and "entry seq 3" in output and "content no longer matches" in output
    assert "trigger audit_no_change is disabled" in output
    _owner(postgres_url, "DELETE FROM audit_entries WHERE seq = 1")
    code, output = _verify(postgres_url)
    assert code == 1 and "entries 1..1 are missing" in output
    with pytest.raises(AuditLogRefused, match=r"entries 1\.\.1 are missing"):
        open_postgres_audit_log(postgres_url)


def test_a_dropped_table_is_refused(postgres_url: str) -> None:
    open_postgres_audit_log(postgres_url, new_log=True).close()
    _owner(postgres_url, "DROP TABLE audit_entries")
    with pytest.raises(AuditLogRefused, match=r"no audit_entries table.*was dropped"):
        open_postgres_audit_log(postgres_url)


def test_dropped_and_recreated_triggers_are_reported_not_restored(postgres_url: str) -> None:
    log = open_postgres_audit_log(postgres_url, new_log=True)
    _write(log, 2)
    log.close()
    assert _verify(postgres_url)[0] == 0
    _owner(postgres_url, "DROP TRIGGER audit_no_truncate ON audit_entries")
    reopened = open_postgres_audit_log(postgres_url)  # chain and anchor hold: it opens...
    assert any("audit_no_truncate is missing" in f for f in reopened.trigger_findings())
    reopened.close()
    with psycopg.connect(postgres_url) as conn:  # ...and restores nothing
        names = {r[0] for r in conn.execute("SELECT tgname FROM pg_trigger")}
    assert "audit_no_truncate" not in names
    code, output = _verify(postgres_url)
    assert code == 1 and "trigger audit_no_truncate is missing" in output
    _owner(postgres_url, "DROP TRIGGER audit_no_change ON audit_entries", _DELETE_GUARD)
    code, output = _verify(postgres_url)
    assert code == 1 and "audit_no_change was dropped and recreated" in output, output


def test_a_log_deleted_with_its_anchor_needs_new_log(postgres_url: str, serving_world) -> None:
    """The database replaced by an empty one (the log and its anchor gone with it): serve
    refuses the new, anchorless log without --new-log, and records the --new-log start."""
    log = open_postgres_audit_log(postgres_url, new_log=True)
    _write(log, 3)
    log.close()
    server, name = postgres_url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    with pytest.raises(AuditLogRefused, match="has no anchor"):
        open_postgres_audit_log(postgres_url)  # (its schema is made on the way, as by a replica)
    env = {**serving_world.env, "EARLYRISK_DATABASE_URL": postgres_url}
    refused = CliRunner().invoke(app, ["serve", "--check"], env=env)
    assert refused.exit_code == 1 and "--new-log" in " ".join(refused.output.split())
    begun = CliRunner().invoke(app, ["serve", "--check", "--new-log"], env=env)
    assert begun.exit_code == 0, begun.output
    with psycopg.connect(postgres_url) as conn:
        events = conn.execute("SELECT event, endpoint, detail FROM security_events").fetchall()
    assert [(e, p) for e, p, _ in events] == [("audit_log", "serve")]
    assert events[0][2].startswith("--new-log: began a new audit log")
    assert CliRunner().invoke(app, ["serve", "--check"], env=env).exit_code == 0


def test_the_auditors_checkpoint_of_a_database_log(postgres_url: str, tmp_path) -> None:
    log = open_postgres_audit_log(postgres_url, new_log=True)
    _write(log, 6)
    log.close()
    out = tmp_path / "cp.json"
    exported = CliRunner().invoke(
        app, ["audit-log", "anchor", "--url", postgres_url, "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    kept = json.loads(out.read_text())
    assert kept["seq"] == 6 and kept["hash"] == _hash(postgres_url, 6)
    code, output = _verify(postgres_url, "--anchor", str(out))
    assert code == 0 and f"held: the checkpoint {out}" in output, output
    _cut_tail(postgres_url, 5)
    code, output = _verify(postgres_url, "--anchor", str(out))
    assert code == 1 and f"seq 6 with hash {kept['hash']}" in output, output
