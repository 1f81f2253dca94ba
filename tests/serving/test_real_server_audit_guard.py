"""Level 3: a real `bentoml serve` process whose audit log is made read-only, then deleted.

Issue 10, items 1 and 2 over HTTP: scoring answers 503 and `/readyz` 503 while the log
cannot take a score; a log made writable again is used again without a restart; a deleted
log stops scoring for good, a restart refuses to start, and `earlyrisk serve --check
--new-audit-log` begins a new log explicitly.
"""

from __future__ import annotations

import os

import httpx
import pytest
from file_guards import make_writable, read_only
from serving_world import auth
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.engine import StartupError, load_engine
from serving.local_server import begin_audit_log, start_local_server
from serving.settings import ServingSettings
from serving.store.audit_log import side_paths

pytestmark = [pytest.mark.server]  # starts real `bentoml serve` processes itself


def _score(url: str, token: str) -> httpx.Response:
    return httpx.post(
        f"{url}/score", json={"family_ids": ["F00003"]}, headers=auth(token), timeout=30
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
    begin_audit_log(env)
    server = start_local_server(env, tmp_path / "third.log")
    try:
        assert _score(server.url, caseworker).status_code == 200
    finally:
        server.stop()
