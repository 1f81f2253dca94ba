"""Review sessions are a store like the others (issue 20, leftover of item 1): a field of
:class:`serving.store.stores.Stores`, opened by ``open_stores(settings,
review_sessions=True)`` on the backend every other store is on, and what the review page
uses when it is not handed a store of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from serving.settings import ServingSettings
from serving.store.stores import open_stores

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.server, pytest.mark.slow])]
)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> ServingSettings:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return ServingSettings(
        database_url=url,
        token_db_path=tmp_path / "tokens.sqlite",
        security_log_path=tmp_path / "security.sqlite",
    )


def test_open_stores_opens_the_review_sessions_on_the_stores_backend(
    settings: ServingSettings,
) -> None:
    first = open_stores(settings, tokens=False, security_log=False, review_sessions=True)
    second = open_stores(settings, tokens=False, security_log=False, review_sessions=True)
    try:
        assert first.review_sessions is not None and second.review_sessions is not None
        session = first.review_sessions.create("tok1", now=NOW)
        # one table for every process (every replica, on PostgreSQL)
        assert second.review_sessions.token_of(session, now=NOW, idle=timedelta(minutes=30)) == (
            "tok1"
        )
        assert first.review_sessions.end(session, now=NOW, why="sign-out")
        assert second.review_sessions.token_of(session, now=NOW, idle=timedelta(minutes=30)) is None
        on_postgres = first.review_sessions.db.is_postgres  # type: ignore[attr-defined]
        assert on_postgres == (settings.database_url is not None)
        if not on_postgres:
            assert settings.resolved_review_sessions_path.exists()
    finally:
        first.close()
        second.close()


def test_not_asked_for_the_review_sessions_are_not_opened(settings: ServingSettings) -> None:
    stores = open_stores(settings, tokens=False, security_log=False)
    try:
        assert stores.review_sessions is None
        assert not settings.resolved_review_sessions_path.exists()
    finally:
        stores.close()


def test_the_review_page_opens_its_sessions_through_open_stores(
    settings: ServingSettings,
) -> None:
    from serving.review import ReviewPages

    async def nothing(scope: object, receive: object, send: object) -> None:  # never reached
        raise AssertionError

    pages = ReviewPages(nothing, engine=lambda: None, settings=settings)
    try:
        assert pages.sessions.db.is_postgres == (  # type: ignore[attr-defined]
            settings.database_url is not None
        )
    finally:
        pages.sessions.close()
