"""Token lifetime: expiry, last use, regions, and the `earlyrisk token` verbs."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.store.migrations import MigrationError
from serving.store.tokens import DEFAULT_TTL_DAYS, SqlTokenStore


def _set_expiry(path: Path, token_id: str, when: datetime) -> None:
    """Move a token's expiry (what the passing of time would do)."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE tokens SET expires_at = ? WHERE token_id = ?", (when.isoformat(), token_id)
        )


def test_an_expired_token_is_refused(tmp_path):
    path = tmp_path / "tokens.sqlite"
    store = SqlTokenStore(path)
    issued = store.create("caseworker", ttl_days=1)
    assert store.verify(issued.token) is not None
    _set_expiry(path, issued.token_id, datetime.now(UTC) - timedelta(seconds=1))
    assert SqlTokenStore(path).verify(issued.token) is None


def test_every_token_expires_and_the_default_is_90_days(tmp_path):
    store = SqlTokenStore(tmp_path / "tokens.sqlite")
    issued = store.create("auditor")
    (row,) = store.list()
    created = datetime.fromisoformat(row["created_at"])
    expires = datetime.fromisoformat(row["expires_at"])
    assert expires - created == timedelta(days=DEFAULT_TTL_DAYS)
    assert row["expires_at"] == issued.expires_at
    with pytest.raises(ValueError, match="ttl_days"):
        store.create("auditor", ttl_days=0)


def test_a_store_from_before_expiry_is_refused_at_open_and_left_as_it_was(tmp_path):
    """Opening a store never alters its schema: an old file is refused, naming the fix
    (`earlyrisk db upgrade` adds the columns, tests/serving/test_migrations.py)."""
    path = tmp_path / "tokens.sqlite"
    created = datetime(2020, 1, 1, tzinfo=UTC)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE tokens (token_id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL, "
            "role TEXT NOT NULL, created_at TEXT NOT NULL, note TEXT, revoked_at TEXT)"
        )
        conn.execute(
            "INSERT INTO tokens VALUES ('aaaaaaaaaaaa', 'x', 'admin', ?, NULL, NULL)",
            (created.isoformat(),),
        )
    with pytest.raises(MigrationError, match=r"tokens at 1 \(latest 2\).*earlyrisk db upgrade"):
        SqlTokenStore(path)
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(tokens)")}
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "expires_at" not in columns and "schema_migrations" not in tables


def test_use_is_recorded_and_regions_scope_the_principal(tmp_path):
    store = SqlTokenStore(tmp_path / "tokens.sqlite")
    issued = store.create("caseworker", regions=["South", "North", "North"])
    assert issued.regions == ("North", "South")
    assert store.list()[0]["last_used_at"] is None
    principal = store.verify(issued.token)
    assert principal is not None and principal.regions == frozenset({"North", "South"})
    row = store.list()[0]
    assert row["last_used_at"] is not None and row["regions"] == "North,South"
    unscoped = store.create("caseworker")
    assert store.verify(unscoped.token).regions is None
    with pytest.raises(ValueError, match="regions"):
        store.create("caseworker", regions=["  "])


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_token_verbs_create_with_ttl_list_and_revoke(runner, tmp_path):
    env = {"EARLYRISK_TOKEN_DB_PATH": str(tmp_path / "tokens.sqlite")}
    made = runner.invoke(
        app,
        ["token", "create", "--role", "caseworker", "--ttl", "2", "--region", "North"],
        env=env,
    )
    assert made.exit_code == 0, made.output
    assert "expires" in made.output and "scope North" in made.output
    token = made.output.strip().splitlines()[-1]
    listing = runner.invoke(app, ["token", "list", "--json"], env=env)
    (row,) = [json.loads(line) for line in listing.output.splitlines()]
    assert set(row) == {
        "token_id",
        "role",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "regions",
        "note",
    }
    lifetime = datetime.fromisoformat(row["expires_at"]) - datetime.fromisoformat(row["created_at"])
    assert lifetime == timedelta(days=2) and row["regions"] == "North"
    assert token not in listing.output
    table = runner.invoke(app, ["token", "list"], env=env)
    assert "expires" in table.output and "last used" in table.output
    assert runner.invoke(app, ["token", "revoke", row["token_id"]], env=env).exit_code == 0
    assert SqlTokenStore(tmp_path / "tokens.sqlite").verify(token) is None


def test_token_ttl_default_comes_from_the_settings(runner, tmp_path):
    env = {
        "EARLYRISK_TOKEN_DB_PATH": str(tmp_path / "tokens.sqlite"),
        "EARLYRISK_TOKEN_DEFAULT_TTL_DAYS": "7",
    }
    assert runner.invoke(app, ["token", "create", "--role", "admin", "-q"], env=env).exit_code == 0
    (row,) = SqlTokenStore(tmp_path / "tokens.sqlite").list()
    lifetime = datetime.fromisoformat(row["expires_at"]) - datetime.fromisoformat(row["created_at"])
    assert lifetime == timedelta(days=7)


def test_a_bad_ttl_is_a_usage_error_not_a_traceback(runner, tmp_path):
    env = {"EARLYRISK_TOKEN_DB_PATH": str(tmp_path / "tokens.sqlite")}
    result = runner.invoke(app, ["token", "create", "--role", "admin", "--ttl", "0"], env=env)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert SqlTokenStore(tmp_path / "tokens.sqlite").list() == []
