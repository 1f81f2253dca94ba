"""The audit log under attack and under operator mistakes (issue 10, items 1-4 and 18).

Tamper evidence (hash chain, `earlyrisk audit-log verify`), a log deleted or replaced under
a writing service, a missing log at restart (anchor), a read-only log and -shm, a replaced
token database, and the modes of the files the service creates.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap

import pytest
from file_guards import make_writable, read_only
from typer.testing import CliRunner

from benchmarks.audit_records import score_record
from earlyrisk.cli import app
from serving.auth import authorize
from serving.store.audit_anchor import default_anchor_path, read_anchor
from serving.store.audit_log import (
    AuditLog,
    AuditLogRefused,
    AuditLogUnavailable,
    ScoreRecord,
    open_audit_log,
    side_paths,
)
from serving.store.connection import DatabaseUnavailable
from serving.store.tokens import SqlTokenStore


def _record(score_id: str, level: str = "elevated") -> ScoreRecord:
    return score_record(
        score_id,
        level,
        probability=0.1 + 0.01 * len(score_id),
        reasons=[{"indicator": "x", "contribution": 0.123456}],
    )


def _filled(path, n: int = 5) -> None:
    log = open_audit_log(path, new_log=True)
    for i in range(n):
        log.record_scores([_record(f"s{i}")])
    log.close()


def _tampered(path, *statements: str) -> None:
    """A filled log edited behind its writer's back, as an attacker with the file would:
    ``statements`` run in one transaction (dropping the triggers that forbid them first)."""
    _filled(path)
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def _copied(path, to):
    """A consistent copy of the SQLite log at ``path`` (its backup API), written to ``to``."""
    src = sqlite3.connect(path)
    dst = sqlite3.connect(to)
    src.backup(dst)
    src.close()
    dst.close()
    return to


def _verify(runner: CliRunner, path) -> tuple[int, str]:
    result = runner.invoke(app, ["audit-log", "verify", "--log", str(path)])
    return result.exit_code, _flat(result.output)


def _flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


# ---------------------------------------------------------------- 3. tamper evidence


def test_an_intact_log_verifies(tmp_path, runner):
    path = tmp_path / "audit.sqlite"
    _filled(path)
    code, output = _verify(runner, path)
    assert code == 0, output
    assert "intact: 5 entries" in output
    reopened = open_audit_log(path)  # the service starts on it
    assert reopened.count() == 5
    reopened.close()


def test_a_level_rewritten_after_dropping_the_triggers_is_named(tmp_path, runner):
    path = tmp_path / "audit.sqlite"
    _tampered(
        path,
        "DROP TRIGGER audit_no_update",
        "UPDATE audit_entries SET risk_level = 'low' WHERE score_id = 's2'",
    )
    code, output = _verify(runner, path)
    assert code == 1, output
    assert "BROKEN" in output and "entry seq 3 (score_id s2" in output
    assert "content no longer matches its hash" in output
    assert "audit_no_update" in output  # the dropped trigger is reported too
    with pytest.raises(AuditLogRefused, match="entry seq 3"):
        open_audit_log(path)


def test_a_deleted_entry_is_named(tmp_path, runner):
    path = tmp_path / "audit.sqlite"
    _tampered(
        path, "DROP TRIGGER audit_no_delete", "DELETE FROM audit_entries WHERE score_id = 's1'"
    )
    code, output = _verify(runner, path)
    assert code == 1, output
    assert "entry seq 3" in output and "entries 2..2 are missing" in output
    with pytest.raises(AuditLogRefused, match=r"entries 2\.\.2 are missing"):
        open_audit_log(path)


def test_a_deleted_entry_renumbered_to_hide_the_gap_breaks_the_link(tmp_path, runner):
    path = tmp_path / "audit.sqlite"
    _tampered(
        path,
        "DROP TRIGGER audit_no_delete",
        "DROP TRIGGER audit_no_update",
        "DELETE FROM audit_entries WHERE seq = 2",
        "UPDATE audit_entries SET seq = seq - 1 WHERE seq > 2",
    )
    code, output = _verify(runner, path)
    assert code == 1 and "entry seq 2" in output and "prev_hash" in output, output


def test_entries_cut_from_the_end_are_caught_by_the_anchor(tmp_path, runner):
    path = tmp_path / "audit.sqlite"
    # closing the filled log refreshed the anchor's head to seq 5
    _tampered(path, "DROP TRIGGER audit_no_delete", "DELETE FROM audit_entries WHERE seq >= 4")
    assert read_anchor(default_anchor_path(path)).head_seq == 5
    code, output = _verify(runner, path)
    assert code == 1 and "the log ends at seq 3" in output and "seq 5 with hash" in output, output
    with pytest.raises(AuditLogRefused, match="behind or differs from its anchor"):
        open_audit_log(path)


def test_verify_of_a_missing_log_is_a_usage_error(tmp_path, runner):
    code, output = _verify(runner, tmp_path / "none.sqlite")
    assert code == 2 and "no audit log" in output


# ---------------------------------------------------- 1. deleted or replaced while serving


def test_a_log_deleted_while_writing_stops_every_write(tmp_path):
    path = tmp_path / "audit.sqlite"
    log = open_audit_log(path, new_log=True)
    log.record_scores([_record("a")])
    for file in side_paths(path):
        file.unlink()
    with pytest.raises(AuditLogRefused, match="deleted"):
        log.record_scores([_record("b")])
    assert not log.ready()
    # A new file at the path does not make it usable again: only a checked restart does.
    AuditLog(path).close()
    with pytest.raises(AuditLogRefused):
        log.record_scores([_record("c")])
    assert not log.ready()


def test_a_log_replaced_by_a_copy_while_writing_stops_every_write(tmp_path):
    path = tmp_path / "audit.sqlite"
    log = open_audit_log(path, new_log=True)
    log.record_scores([_record("a")])
    os.replace(_copied(path, tmp_path / "copy.sqlite"), path)
    with pytest.raises(AuditLogRefused, match="replaced"):
        log.record_scores([_record("b")])
    assert not log.ready()


def test_a_restart_refuses_a_missing_log_unless_told_to_begin_a_new_one(tmp_path):
    path = tmp_path / "audit.sqlite"
    _filled(path, n=3)
    old_id = read_anchor(default_anchor_path(path)).log_id
    for file in side_paths(path):
        file.unlink(missing_ok=True)
    with pytest.raises(AuditLogRefused, match=r"is missing.*--new-log"):
        open_audit_log(path)
    assert not path.exists()  # the refusal created nothing
    fresh = open_audit_log(path, new_log=True)
    assert fresh.count() == 0
    fresh.close()
    anchor = read_anchor(default_anchor_path(path))
    assert anchor.log_id != old_id
    assert [r["log_id"] for r in anchor.retired] == [old_id] and anchor.retired[0]["head_seq"] == 3
    with pytest.raises(AuditLogRefused, match="never replaced"):
        open_audit_log(path, new_log=True)
    open_audit_log(path).close()  # and a normal restart on the new log is fine


def test_a_restart_refuses_another_log_or_an_older_copy(tmp_path):
    path = tmp_path / "audit.sqlite"
    log = open_audit_log(path, new_log=True)
    log.record_scores([_record("a")])
    backup = _copied(path, tmp_path / "backup.sqlite")
    log.record_scores([_record("b"), _record("c")])
    log.close()
    os.replace(backup, path)  # restore the older copy
    with pytest.raises(AuditLogRefused, match=r"ends at seq 1 .* seq 3 with hash"):
        open_audit_log(path)
    other = tmp_path / "other.sqlite"
    _filled(other, n=1)
    os.replace(other, path)  # or another log altogether
    with pytest.raises(AuditLogRefused, match="another file was put in its place"):
        open_audit_log(path)


# ----------------------------------------------------------------------- 2. read-only


def test_a_read_only_log_is_refused_at_open(tmp_path):
    path = tmp_path / "audit.sqlite"
    _filled(path, n=1)
    with read_only(path), pytest.raises(AuditLogUnavailable, match="not writable"):
        open_audit_log(path)


def test_writes_fail_while_read_only_and_recover_when_access_returns(tmp_path):
    path = tmp_path / "audit.sqlite"
    log = open_audit_log(path, new_log=True)
    log.record_scores([_record("a")])
    assert log.ready()
    with read_only(path):
        with pytest.raises(AuditLogUnavailable, match="not writable"):
            log.record_scores([_record("b")])
        assert not log.ready() and log.last_write_failed
        make_writable(path)
        assert log.ready()  # the probe reopens: no write had to try first
    log.record_scores([_record("c")])
    assert [e["score_id"] for e in log.page()] == ["a", "c"]
    assert log.verify().intact
    log.close()


def test_a_read_only_shm_is_a_refusal_not_a_crash(tmp_path):
    """SQLite maps -shm; writing through a mapping of a file that cannot be written is
    SIGBUS. The child process must end normally with the write refused."""
    path = tmp_path / "audit.sqlite"
    child = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path.parent)!r})
        from pathlib import Path
        from file_guards import read_only
        from serving.store.audit_log import AuditLogUnavailable, ScoreRecord, open_audit_log
        path = Path({str(path)!r})
        log = open_audit_log(path, new_log=True)
        rec = lambda i: ScoreRecord(str(i), "r", "t", "caseworker", "score", "F", None, "1",
                                    0.2, "elevated", [])
        log.record_scores([rec(1)])
        with read_only(path.with_name(path.name + "-shm")):
            try:
                log.record_scores([rec(2)])
                print("written")
            except AuditLogUnavailable as exc:
                print("refused:", exc)
        """
    )
    guards = tmp_path.parent / "file_guards.py"
    shutil.copy(os.path.join(os.path.dirname(__file__), "file_guards.py"), guards)
    result = subprocess.run(
        [sys.executable, "-c", child],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert "refused:" in result.stdout and "-shm is read-only" in result.stdout


def test_serve_check_fails_on_a_read_only_log(serving_world, tmp_path):
    path = tmp_path / "audit.sqlite"
    _filled(path, n=1)
    env = {**serving_world.env, "EARLYRISK_AUDIT_LOG_PATH": str(path)}
    with read_only(path):
        result = CliRunner().invoke(app, ["serve", "--check"], env=env)
    assert result.exit_code == 1, result.output
    assert "refusing to start" in result.output and "not writable" in _flat(result.output)


def test_serve_check_new_audit_log_after_a_loss(serving_world, tmp_path):
    path = tmp_path / "audit.sqlite"
    _filled(path, n=2)
    for file in side_paths(path):
        file.unlink(missing_ok=True)
    env = {**serving_world.env, "EARLYRISK_AUDIT_LOG_PATH": str(path)}
    refused = CliRunner().invoke(app, ["serve", "--check"], env=env)
    assert refused.exit_code == 1 and "is missing" in _flat(refused.output), refused.output
    started = CliRunner().invoke(app, ["serve", "--check", "--new-log"], env=env)
    assert started.exit_code == 0, started.output
    assert CliRunner().invoke(app, ["serve", "--check"], env=env).exit_code == 0


# ---------------------------------------------------------- 4. replaced token database


def test_a_restored_token_database_is_noticed_without_a_restart(tmp_path):
    path = tmp_path / "tokens.sqlite"
    served = SqlTokenStore(path)  # the service's store, with its open connection
    token = served.create("caseworker").token
    assert served.verify(token) is not None
    restored = tmp_path / "restored.sqlite"
    shutil.copy(path, restored)
    SqlTokenStore(restored).revoke(token.split("_")[1])  # the backup knows it is revoked
    os.replace(restored, path)
    assert served.verify(token) is None


def test_a_deleted_token_database_lets_no_one_in(tmp_path):
    """Not recreated (empty, it would hold no revocations): the store is unavailable, so
    the gate answers 503 and serves nothing."""
    path = tmp_path / "tokens.sqlite"
    served = SqlTokenStore(path)
    token = served.create("admin").token
    path.unlink()
    with pytest.raises(DatabaseUnavailable, match="missing"):
        authorize(served, f"Bearer {token}", "score")
    assert not path.exists()


# ---------------------------------------------------------------- 18. file modes


def test_files_the_service_creates_are_private(tmp_path, serving_world):
    from serving.store.lookup import SqlLookupStore, read_snapshot_info

    previous = os.umask(0o022)
    try:
        log = open_audit_log(tmp_path / "audit.sqlite", new_log=True)
        log.record_scores([_record("a")])
        tokens = SqlTokenStore(tmp_path / "tokens.sqlite")
        tokens.create("auditor")
        SqlLookupStore.from_snapshot(
            read_snapshot_info(serving_world.snapshot_path),
            tmp_path / "lookup.sqlite",
            feature_names=list(serving_world.model.feature_names),
        )
        files = [
            *side_paths(tmp_path / "audit.sqlite"),
            default_anchor_path(tmp_path / "audit.sqlite"),
            tmp_path / "tokens.sqlite",
            tmp_path / "lookup.sqlite",
        ]
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
        log.close()
    finally:
        os.umask(previous)
    assert modes == dict.fromkeys(modes, 0o600)


def test_a_quick_start_check_walks_only_what_follows_the_anchor(tmp_path):
    """EARLYRISK_AUDIT_VERIFY_ON_START=since_anchor: entries after the anchored head are
    checked at start; older ones only by the full walk (the default, and `verify`)."""
    path = tmp_path / "audit.sqlite"
    _filled(path, n=3)  # closed: the anchor holds head seq 3
    log = open_audit_log(path)
    log.record_scores([_record("late1"), _record("late2")])  # seq 4, 5: after the anchor
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit_entries SET risk_level = 'low' WHERE seq IN (2, 5)")
    conn.commit()
    conn.close()
    with pytest.raises(AuditLogRefused, match="entry seq 5"):
        open_audit_log(path, verify="since_anchor")
    with pytest.raises(AuditLogRefused, match="entry seq 2"):
        open_audit_log(path)
    log.close()
