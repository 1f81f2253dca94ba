"""Tamper evidence for the audit log on SQLite: one test per tampering case (issue 20, item 5).

The attack that motivated it: drop the delete trigger, delete the last entries, recreate
the trigger; the service writes on and reuses the sequence numbers; a refresh that compared
sequence numbers only moved the anchor onto the new entries and `audit-log verify` said
"intact". Here the anchor holds the hash at its seq and every refresh, verify and start
proves the log still holds it. Also: a log deleted with its anchor (serve refuses without
--new-log, which the security log records), recreated or missing triggers (reported, not
restored), and the auditor's exported checkpoint (`audit-log anchor --out`,
`verify --anchor`). The PostgreSQL twins are in test_audit_tail_pg.py; a real server's
shutdown anchoring its last entries is shown in test_real_server_audit_guard.py, on the
server that test starts anyway.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import time

import pytest
from typer.testing import CliRunner

from benchmarks.audit_records import score_record
from earlyrisk.cli import app
from serving.schemas import SecurityLogPage
from serving.store.anchor_refresher import AnchorRefresher
from serving.store.audit_anchor import default_anchor_path, read_anchor
from serving.store.audit_log import AuditLogRefused, ScoreRecord, open_audit_log, side_paths
from serving.store.migrations import SQLITE_APPEND_ONLY_SQL
from serving.store.security_log import SqlSecurityLog


def _record(score_id: str) -> ScoreRecord:
    return score_record(score_id)


def _write(log, prefix: str, n: int) -> None:
    for i in range(n):
        log.record_scores([_record(f"{prefix}{i}")])


def _open_log(tmp_path, n: int):
    """A new anchored log in tmp_path with ``n`` scores, still open (the service running)."""
    path = tmp_path / "audit.sqlite"
    log = open_audit_log(path, new_log=True)
    _write(log, "a", n)
    return path, log


def _written_log(tmp_path, n: int):
    """A new anchored log with ``n`` scores, closed (the service stopped cleanly)."""
    path, log = _open_log(tmp_path, n)
    log.close()
    return path


def _attacker(path, *statements: str) -> None:
    """Someone with write access to the file, behind the service's back."""
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def _cut_tail(path, from_seq: int) -> None:
    """The attack of issue 20: drop the delete trigger, cut the tail, recreate the trigger."""
    _attacker(
        path,
        "DROP TRIGGER audit_no_delete",
        f"DELETE FROM audit_entries WHERE seq >= {from_seq}",
        SQLITE_APPEND_ONLY_SQL[1],
    )


def _verify(*args: str) -> tuple[int, str]:
    result = CliRunner(env={"COLUMNS": "400"}).invoke(app, ["audit-log", "verify", *args])
    return result.exit_code, " ".join(result.output.split())


def _stored_hash(path, seq: int) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(
            conn.execute("SELECT entry_hash FROM audit_entries WHERE seq = ?", (seq,)).fetchone()[0]
        )
    finally:
        conn.close()


# ------------------------------------------------------------------ tail while running


def test_a_tail_cut_while_the_service_runs_is_caught_when_it_stops(tmp_path):
    """The attack of issue 20, end to end: it failed on the release before this one (the
    shutdown refresh moved the anchor to seq 24 and verify said intact)."""
    path, log = _open_log(tmp_path, 20)
    log.close()  # anchor at seq 20
    anchored = read_anchor(default_anchor_path(path))
    assert anchored.head_seq == 20
    log = open_audit_log(path)  # the service runs again
    _cut_tail(path, 10)  # entries 10..20 gone
    _write(log, "b", 15)  # the service reuses seq 10..24
    log.close()  # the shutdown refresh must not move the anchor onto the new entries
    after = read_anchor(default_anchor_path(path))
    assert (after.head_seq, after.head_hash) == (anchored.head_seq, anchored.head_hash)
    code, output = _verify("--log", str(path))
    assert code == 1, output
    assert f"entry seq 20 has hash {_stored_hash(path, 20)}" in output
    assert f"recorded hash {anchored.head_hash}" in output
    with pytest.raises(AuditLogRefused, match="entry seq 20 has hash"):
        open_audit_log(path)


def test_the_interval_refresh_catches_the_cut_and_stops_every_write(tmp_path):
    """The refresh thread: it moves the anchor while the log is sound, and on the cut it
    leaves the anchor, refuses every later write and ends."""
    path = tmp_path / "audit.sqlite"
    log = open_audit_log(path, new_log=True)
    refresher = AnchorRefresher(log, interval_s=0.05).start()
    _write(log, "a", 20)
    deadline = time.monotonic() + 60
    while read_anchor(default_anchor_path(path)).head_seq < 20:
        assert time.monotonic() < deadline, "the anchor never reached the head"
        time.sleep(0.05)
    anchored = read_anchor(default_anchor_path(path))
    _cut_tail(path, 10)
    written = 0  # the service writes on (reusing seq 10, 11, ...) until a refresh sees it
    while log.refused is None:
        assert time.monotonic() < deadline, "the refresh never noticed the cut"
        try:
            log.record_scores([_record(f"b{written}")])
            written += 1
        except AuditLogRefused:
            break
    refresher.stop()
    assert not refresher._thread.is_alive()
    assert f"seq 20 with hash {anchored.head_hash}" in log.refused or (
        "entry seq 20 has hash" in log.refused and anchored.head_hash in log.refused
    )
    with pytest.raises(AuditLogRefused, match="no longer holds its anchor"):
        log.record_scores([_record("c")])
    assert not log.ready()
    kept = read_anchor(default_anchor_path(path))
    assert (kept.head_seq, kept.head_hash) == (anchored.head_seq, anchored.head_hash)
    log.close()


def test_the_refresh_holds_its_own_checkpoint_when_the_anchor_file_goes_too(tmp_path):
    """Deleting the anchor file with the tail does not help: the process remembers."""
    path, log = _open_log(tmp_path, 5)
    log.refresh_anchor()
    _cut_tail(path, 3)
    default_anchor_path(path).unlink()
    _write(log, "b", 4)
    with pytest.raises(AuditLogRefused, match="the checkpoint this process last proved"):
        log.refresh_anchor()
    assert not default_anchor_path(path).exists()  # nothing vouches for the cut log
    log.close()


def test_a_tail_cut_after_a_clean_stop_is_caught_at_the_next_start(tmp_path):
    path, log = _open_log(tmp_path, 6)
    log.close()  # the shutdown refresh anchors seq 6
    _cut_tail(path, 5)
    code, output = _verify("--log", str(path))
    assert code == 1 and "the log ends at seq 4" in output and "seq 6 with hash" in output
    with pytest.raises(AuditLogRefused, match="ends at seq 4"):
        open_audit_log(path)


# ------------------------------------------------------------------ rows changed or removed


def test_an_updated_row_after_the_anchor_is_caught_by_the_next_refresh(tmp_path):
    path, log = _open_log(tmp_path, 3)
    log.refresh_anchor()
    _write(log, "b", 3)
    _attacker(
        path,
        "DROP TRIGGER audit_no_update",
        "UPDATE audit_entries SET risk_level = 'low' WHERE seq = 5",
    )
    with pytest.raises(AuditLogRefused, match=r"entry seq 5 .* content no longer matches"):
        log.refresh_anchor()
    log.close()
    code, output = _verify("--log", str(path))
    assert code == 1 and "entry seq 5" in output and "audit_no_update is missing" in output


def test_a_deleted_first_entry_is_named(tmp_path):
    path = _written_log(tmp_path, 3)
    _attacker(
        path,
        "DROP TRIGGER audit_no_delete",
        "DELETE FROM audit_entries WHERE seq = 1",
        SQLITE_APPEND_ONLY_SQL[1],
    )
    code, output = _verify("--log", str(path))
    assert code == 1 and "entries 1..1 are missing" in output, output
    with pytest.raises(AuditLogRefused, match=r"entries 1\.\.1 are missing"):
        open_audit_log(path)


def test_a_dropped_table_is_refused_and_not_recreated(tmp_path):
    path = _written_log(tmp_path, 3)
    _attacker(path, "DROP TABLE audit_entries")
    with pytest.raises(AuditLogRefused, match=r"no audit_entries table.*was dropped"):
        open_audit_log(path)
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert "audit_entries" not in tables  # the open created nothing in its place
    code, output = _verify("--log", str(path))
    assert code == 1 and "no such table: audit_entries" in output


# ------------------------------------------------------------------ triggers


def test_a_dropped_trigger_is_reported_not_restored(tmp_path, serving_world):
    path = _written_log(tmp_path, 2)
    _attacker(path, "DROP TRIGGER audit_no_delete")
    reopened = open_audit_log(path)  # the chain and anchor hold: the log opens...
    assert reopened.trigger_findings()[0].startswith("append-only trigger audit_no_delete")
    reopened.close()
    conn = sqlite3.connect(path)
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    conn.close()
    assert "audit_no_delete" not in triggers  # ...and the trigger is still missing
    code, output = _verify("--log", str(path))
    assert code == 1 and "trigger audit_no_delete is missing" in output
    # serve reports it into the security log
    security = tmp_path / "security.sqlite"
    env = {
        **serving_world.env,
        "EARLYRISK_AUDIT_LOG_PATH": str(path),
        "EARLYRISK_SECURITY_LOG_PATH": str(security),
    }
    started = CliRunner().invoke(app, ["serve", "--check"], env=env)
    assert started.exit_code == 0, started.output
    details = [e["detail"] for e in SqlSecurityLog(security).page(limit=10)]
    assert any("trigger audit_no_delete is missing" in d for d in details), details


def test_a_recreated_trigger_is_reported(tmp_path):
    path = _written_log(tmp_path, 2)
    assert _verify("--log", str(path))[0] == 0
    _attacker(path, "DROP TRIGGER audit_no_update", SQLITE_APPEND_ONLY_SQL[0])
    code, output = _verify("--log", str(path))
    assert code == 1 and "schema was changed after its last migration" in output, output
    reopened = open_audit_log(path)
    assert any("dropped or recreated" in f for f in reopened.trigger_findings())
    reopened.close()


# ------------------------------------------------------------------ log and anchor


def test_a_log_deleted_with_its_anchor_needs_new_log_which_is_recorded(tmp_path, serving_world):
    path = tmp_path / "audit.sqlite"
    security = tmp_path / "security.sqlite"
    env = {
        **serving_world.env,
        "EARLYRISK_AUDIT_LOG_PATH": str(path),
        "EARLYRISK_SECURITY_LOG_PATH": str(security),
    }
    log = open_audit_log(path, new_log=True)
    _write(log, "a", 3)
    log.close()
    for file in [*side_paths(path), default_anchor_path(path)]:
        file.unlink(missing_ok=True)
    with pytest.raises(AuditLogRefused, match=r"deleted together with its anchor.*--new-log"):
        open_audit_log(path)
    assert not path.exists()  # the refusal created nothing
    refused = CliRunner().invoke(app, ["serve", "--check"], env=env)
    assert refused.exit_code == 1, refused.output
    assert "--new-log" in " ".join(refused.output.split())
    begun = CliRunner().invoke(app, ["serve", "--check", "--new-log"], env=env)
    assert begun.exit_code == 0, begun.output
    [event] = SqlSecurityLog(security).page(limit=10)
    assert event["event"] == "audit_log" and event["endpoint"] == "serve"
    SecurityLogPage(entries=[event], next_after_seq=None)  # what /security_log answers
    assert event["detail"].startswith("--new-log: began a new audit log")
    assert CliRunner().invoke(app, ["serve", "--check"], env=env).exit_code == 0
    again = CliRunner().invoke(app, ["serve", "--check", "--new-log"], env=env)
    assert again.exit_code == 1 and "never replaced" in " ".join(again.output.split())


def test_a_log_kept_but_its_anchor_deleted_is_refused(tmp_path):
    path = _written_log(tmp_path, 2)
    default_anchor_path(path).unlink()
    with pytest.raises(AuditLogRefused, match=r"has no anchor.*nothing vouches"):
        open_audit_log(path)
    adopted = open_audit_log(path, new_log=True)  # the explicit act: anchored as found
    assert adopted.begun is not None and "as found" in adopted.begun
    adopted.close()


def test_a_log_and_anchor_replaced_together_are_caught_by_the_auditors_checkpoint(tmp_path):
    """A consistent forged pair passes every check kept beside the log; the checkpoint the
    auditor exported and kept elsewhere does not."""
    path = _written_log(tmp_path, 4)
    checkpoint = tmp_path / "auditor" / "checkpoint.json"
    exported = CliRunner().invoke(
        app, ["audit-log", "anchor", "--log", str(path), "--out", str(checkpoint)]
    )
    assert exported.exit_code == 0, exported.output
    forged = tmp_path / "forged.sqlite"
    other = open_audit_log(forged, new_log=True)
    _write(other, "f", 4)
    other.close()
    for file in side_paths(path):
        file.unlink(missing_ok=True)
    shutil.move(forged, path)
    shutil.move(default_anchor_path(forged), default_anchor_path(path))
    open_audit_log(path).close()  # beside the log, all is consistent
    original = json.loads(checkpoint.read_text())["log_id"]
    code, output = _verify("--log", str(path), "--anchor", str(checkpoint))
    assert code == 1 and f"records log {original}" in output, output


# ------------------------------------------------------------------ the auditor's checkpoint


def test_the_checkpoint_export_is_private_and_never_silently_replaced(tmp_path):
    path = _written_log(tmp_path, 3)
    out = tmp_path / "cp.json"
    args = ["audit-log", "anchor", "--log", str(path), "--out", str(out)]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    first = json.loads(out.read_text())
    assert first["seq"] == 3 and first["hash"] == _stored_hash(path, 3)
    assert {"log_id", "time", "log"} <= set(first)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert json.loads(out.read_text()) == first
    replaced = CliRunner().invoke(app, [*args, "--overwrite"])
    assert replaced.exit_code == 0 and json.loads(out.read_text())["time"] != first["time"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_verify_anchor_proves_the_checkpoint_is_held_and_names_a_shorter_log(tmp_path):
    path = _written_log(tmp_path, 6)
    out = tmp_path / "cp.json"
    CliRunner().invoke(app, ["audit-log", "anchor", "--log", str(path), "--out", str(out)])
    kept = json.loads(out.read_text())
    code, output = _verify("--log", str(path), "--anchor", str(out))
    assert code == 0 and f"held: the checkpoint {out}" in output, output
    _cut_tail(path, 5)
    # the service's own anchor file goes with the cut, so only the checkpoint is left
    default_anchor_path(path).unlink()
    code, output = _verify("--log", str(path), "--anchor", str(out))
    assert code == 1, output
    assert f"the log ends at seq 4 (hash {_stored_hash(path, 4)})" in output
    assert f"seq 6 with hash {kept['hash']}" in output


def test_verify_anchor_names_a_rewritten_entry_with_both_hashes(tmp_path):
    path = _written_log(tmp_path, 6)
    out = tmp_path / "cp.json"
    CliRunner().invoke(app, ["audit-log", "anchor", "--log", str(path), "--out", str(out)])
    kept = json.loads(out.read_text())
    _cut_tail(path, 5)
    default_anchor_path(path).unlink()
    log = open_audit_log(path, new_log=True)  # anchored as found: the operator's word
    _write(log, "b", 3)  # seq 5..7, new hashes
    log.close()
    code, output = _verify("--log", str(path), "--anchor", str(out))
    assert code == 1
    assert f"entry seq 6 has hash {_stored_hash(path, 6)}" in output
    assert f"recorded hash {kept['hash']}" in output


def test_no_checkpoint_of_a_broken_log_and_a_missing_checkpoint_is_a_usage_error(tmp_path):
    path = _written_log(tmp_path, 3)
    _attacker(
        path,
        "DROP TRIGGER audit_no_update",
        "UPDATE audit_entries SET probability = 0.9 WHERE seq = 2",
    )
    out = tmp_path / "cp.json"
    broken = CliRunner().invoke(app, ["audit-log", "anchor", "--log", str(path), "--out", str(out)])
    assert broken.exit_code == 1 and "no checkpoint of it was written" in broken.output
    assert not out.exists()
    code, output = _verify("--log", str(path), "--anchor", str(tmp_path / "none.json"))
    assert code == 2 and "no checkpoint file" in output
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"seq": 3}')
    code, output = _verify("--log", str(path), "--anchor", str(wrong))
    assert code == 2 and "neither an exported checkpoint" in output
