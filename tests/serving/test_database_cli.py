"""The CLI with EARLYRISK_DATABASE_URL: a clear message and exit code, never a traceback,
when the database is unreachable, not a PostgreSQL URL, or its schema is behind; and
`serve --check` on a live database."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.local_server import free_port
from serving.settings import ServingSettings


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_a_database_url_must_be_postgresql() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        ServingSettings(database_url="sqlite:///x.db")
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        ServingSettings(database_url="postgresql://user@host:5432/")  # no database name
    ok = ServingSettings(database_url="postgresql://user@host:5432/db")
    assert ok.database_url == "postgresql://user@host:5432/db"
    assert ServingSettings(tracking_uri="postgresql://u@h/ml").tracking_uri == (
        "postgresql+psycopg://u@h/ml"
    )


def test_an_unreachable_database_is_a_refusal_not_a_traceback(serving_world) -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/earlyrisk"  # nothing listens there
    env = {**serving_world.env, "EARLYRISK_DATABASE_URL": url}
    for argv in (["serve", "--check"], ["token", "create", "--role", "caseworker"]):
        result = CliRunner().invoke(app, argv, env=env)
        assert result.exit_code == 1, (argv, result.output)
        assert "unavailable" in _flat(result.output) and url in _flat(result.output)
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        )
    upgrade = CliRunner().invoke(app, ["db", "upgrade"], env=env)
    assert upgrade.exit_code == 1 and "unavailable" in upgrade.output


@pytest.mark.server
@pytest.mark.slow
def test_serve_check_on_postgres_and_a_schema_behind(serving_world, postgres_url) -> None:
    env = {**serving_world.env, "EARLYRISK_DATABASE_URL": postgres_url}
    result = CliRunner().invoke(app, ["serve", "--check", "--new-log"], env=env)
    assert result.exit_code == 0, result.output
    assert f"auditlog{postgres_url}" in "".join(result.output.split())
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT COUNT(*) FROM family_features").fetchone()[0] > 0
        conn.execute("DELETE FROM schema_migrations WHERE store = 'tokens'")
    behind = CliRunner().invoke(app, ["serve", "--check"], env=env)
    assert behind.exit_code == 1
    assert "earlyrisk db upgrade" in _flat(behind.output)
