"""The review page's sessions: server-side, with their own random ids, bound to a token.

The review page once kept the bearer token itself in its cookie: a copied cookie was the
token (valid for its whole life, usable on the API), and signing out only asked the
browser to forget it. Now sign-in creates a session here. The cookie holds the session id
(32 random bytes); this table keeps only its SHA-256, the token id it is bound to and when
it was made, last used and ended. A session is live while it is not ended and was used
within the idle timeout; the token behind it is checked again on every use by the page
(:meth:`serving.store.tokens.SqlTokenStore.live_principal`), so revoking the token ends it too.

One table (``review_sessions``, declared by the migrations, in SQLite or in the shared
PostgreSQL database, so every replica knows every session), one interface
(:class:`ReviewSessionStore`), one implementation over
:class:`serving.store.connection.Database`, like every store.
Time is passed in (``now``), so a test moves a clock instead of sleeping.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from serving.database_url import is_postgres
from serving.store.audit_errors import AuditLogUnavailable
from serving.store.connection import Database
from serving.store.sql_plumbing import STORE_ERRORS, open_store

#: How long an ended or idle session's row is kept before it is deleted (for an auditor
#: comparing sign-ins with the security log; the row names a token id, never a secret).
KEEP_ENDED = timedelta(days=1)


class ReviewSessionStore(Protocol):
    """Server-side review sessions (see the module docstring)."""

    def create(self, token_id: str, *, now: datetime) -> str:
        """A new session bound to token_id; returns its id (the cookie value, shown once)."""
        ...

    def token_of(self, session_id: str, *, now: datetime, idle: timedelta) -> str | None:
        """The token id of a live session (its use recorded now), else None; a session
        idle longer than ``idle`` is ended here."""
        ...

    def end(self, session_id: str, *, now: datetime, why: str) -> bool:
        """End a session (sign-out, revoked token); True when a live one was ended."""
        ...

    def close(self) -> None:
        """Release the store's connection."""
        ...


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text(at: datetime) -> str:
    """A UTC time as stored: fixed width, so text order is time order."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


class SqlReviewSessions:
    """:class:`ReviewSessionStore` over one :class:`~serving.store.connection.Database`
    (either dialect), with the package's concurrency policy (a connection per thread, each
    write one short transaction)."""

    def __init__(self, db: Database | Path | str) -> None:
        self.db = open_store(db, "review_sessions", what="review sessions")
        self.where = self.db.where

    def _run(self, sql: str, params: tuple[Any, ...]) -> Any:
        try:
            if sql.lstrip().upper().startswith("SELECT"):
                return self.db.read().execute(sql, params)
            with self.db.write() as conn:
                return conn.execute(sql, params)
        except STORE_ERRORS as exc:
            raise AuditLogUnavailable(f"review sessions {self.where}: {exc}") from exc

    def create(self, token_id: str, *, now: datetime) -> str:
        session_id = secrets.token_urlsafe(32)
        at = _text(now)
        self._run(
            "DELETE FROM review_sessions WHERE last_seen_at < ? AND ended_at IS NOT NULL",
            (_text(now - KEEP_ENDED),),
        )
        self._run(
            "INSERT INTO review_sessions (session_sha256, token_id, created_at, last_seen_at) "
            "VALUES (?, ?, ?, ?)",
            (_sha256(session_id), token_id, at, at),
        )
        return session_id

    def token_of(self, session_id: str, *, now: datetime, idle: timedelta) -> str | None:
        key = _sha256(session_id)
        row = self._run(
            "SELECT token_id, last_seen_at, ended_at FROM review_sessions WHERE session_sha256 = ?",
            (key,),
        ).fetchone()
        if row is None or row[2] is not None:
            return None
        if now - datetime.fromisoformat(row[1]) > idle:
            self.end(session_id, now=now, why="idle")
            return None
        self._run(
            "UPDATE review_sessions SET last_seen_at = ? WHERE session_sha256 = ? "
            "AND ended_at IS NULL",
            (_text(now), key),
        )
        return str(row[0])

    def end(self, session_id: str, *, now: datetime, why: str) -> bool:
        cur = self._run(
            "UPDATE review_sessions SET ended_at = ?, ended_why = ? WHERE session_sha256 = ? "
            "AND ended_at IS NULL",
            (_text(now), why, _sha256(session_id)),
        )
        return bool(cur.rowcount == 1)

    def close(self) -> None:
        self.db.close()


def open_postgres_sessions(url: str) -> SqlReviewSessions:
    """The sessions in the shared PostgreSQL database (one table for every replica)."""
    return SqlReviewSessions(url)


def open_review_sessions(database_url: str | None, path: Path) -> SqlReviewSessions:
    """The review sessions the settings name: the shared database when there is one, else
    the SQLite file at path (0600, made by the migrations when new; a file whose schema is
    behind is refused: nothing alters a schema when a store opens)."""
    if database_url is not None and is_postgres(database_url):
        return SqlReviewSessions(database_url)
    return SqlReviewSessions(path)
