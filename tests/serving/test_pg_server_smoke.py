"""The throwaway server itself answers (the other database tests stand on it)."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_the_throwaway_server_answers_sql(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 40 + 2").fetchone() == (42,)
