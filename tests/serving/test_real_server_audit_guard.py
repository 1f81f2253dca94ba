"""Level 3: a real `bentoml serve` process whose audit log is made read-only, then deleted.

Issue 10, items 1 and 2 over HTTP: scoring answers 503 and `/readyz` 503 while the log
cannot take a score; a log made writable again is used again without a restart; a deleted
log stops scoring for good, a restart refuses to start, and `earlyrisk serve --check
--new-audit-log` begins a new log explicitly, which a server then uses; that server's clean
stop anchors its last entries, so a tail cut afterwards is caught.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import httpx
import pytest
from file_guards import make_writable, read_only
from serving_world import auth
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.engine import StartupError, load_engine
from serving.local_server import begin_audit_log, start_local_server
from serving.settings import ServingSettings
from serving.store.audit_anchor import default_anchor_path, read_anchor
from serving.store.audit_log import side_paths
from serving.store.migrations import SQLITE_APPEND_ONLY_SQL

pytestmark = [pytest.mark.server]  # starts real `bentoml serve` processes itself


def _score(url: str, token: str, family: str = "F00003") -> httpx.Response:
    return httpx.post(
        f"{url}/score", json={"family_ids": [family]}, headers=auth(token), timeout=30
    )


def test_the_service_follows_its_audit_log(
    serving_world, tokens, service_env, monkeypatch, tmp_path
):
    log = tmp_path / "audit_log.sqlite"
    env = {
        **serving_world.env,
        "EARLYRISK_AUDIT_LOG_PATH": str(log),
        # its own security log: the starts below record into it, not into the shared one
        "EARLYRISK_SECURITY_LOG_PATH": str(tmp_path / "security_log.sqlite"),
        "EARLYRISK_LOOKUP_DB_PATH": str(tmp_path / "lookup.sqlite"),
        "BENTOML_HOME": str(tmp_path / "bentoml_home"),
    }
    caseworker = tokens["caseworker"]
    begin_audit_log(env)
    server = start_local_server(env, tmp_path / "first.log")
    try:
        assert _score(server.url, caseworker).status_code == 200
        with read_only(log):
            refused = _score(server.url, caseworker)
            assert refused.status_code == 503 and "probability" not in refused.text
            assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 503
            make_writable(log)
            assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
        assert _score(server.url, caseworker).status_code == 200
        for file in side_paths(log):
            file.unlink()
        assert _score(server.url, caseworker).status_code == 503
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 503
        assert not log.exists()  # nothing was written into a new file behind our back
    finally:
        server.stop()

    # The restart: `earlyrisk serve` runs the workers' start-up checks first, and refuses
    # (should it not, the patched exec records the attempt instead of replacing pytest).
    monkeypatch.setattr(os, "execve", lambda *args: pytest.fail(f"serve started: {args[1]}"))
    restart = CliRunner().invoke(app, ["serve"], env=env)
    assert restart.exit_code == 1 and "is missing" in " ".join(restart.output.split())
    with pytest.raises(StartupError, match="is missing"):  # what a bare worker does
        load_engine(ServingSettings(audit_log_path=log, lookup_db_path=tmp_path / "lookup.sqlite"))
    assert not log.exists()

    begun = CliRunner().invoke(app, ["serve", "--check", "--new-audit-log"], env=env)
    assert begun.exit_code == 0, begun.output
    # The begun log is served. This server's stop also shows the shutdown hook anchoring
    # the last entries (the refresher's interval is an hour, so only the shutdown can have
    # anchored them): entries cut after a clean stop are caught. (That check had a server of
    # its own in test_audit_tail.py: each start costs about 17 CPU-s.)
    env["EARLYRISK_AUDIT_ANCHOR_INTERVAL_S"] = "3600"
    begin_audit_log(env)
    server = start_local_server(env, tmp_path / "third.log")
    try:
        for family in ("F00003", "F00004", "F00005"):
            answer = _score(server.url, caseworker, family)
            assert answer.status_code == 200, answer.text
    finally:
        server.stop()
    assert server.process.returncode is not None
    anchor = read_anchor(default_anchor_path(log))
    assert anchor is not None and anchor.head_seq == 3, (tmp_path / "third.log").read_text()[-3000:]
    _cut_tail(log, 3)
    verify = CliRunner().invoke(app, ["audit-log", "verify", "--log", str(log)])
    said = " ".join(verify.output.split())
    assert verify.exit_code == 1 and "the log ends at seq 2" in said and "seq 3 with hash" in said


def _cut_tail(path: Path, from_seq: int) -> None:
    """The attack of issue 20, behind the stopped service's back: drop the delete trigger,
    cut the tail, recreate the trigger."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("DROP TRIGGER audit_no_delete")
        conn.execute(f"DELETE FROM audit_entries WHERE seq >= {from_seq}")
        conn.execute(SQLITE_APPEND_ONLY_SQL[1])
        conn.commit()
    finally:
        conn.close()
