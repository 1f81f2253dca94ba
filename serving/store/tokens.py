"""The token store: hashed bearer tokens, one role each, in SQLite or PostgreSQL.

What a token is, who may call what, and how a request is authorized are in
:mod:`serving.auth`; this module keeps the tokens. Only the token id (public) and the
SHA-256 of the whole token are stored, so a copy of the table does not let anyone call
the service; the clear token is returned once, by :meth:`TokenStore.create`.

The table is declared in :mod:`serving.store.migrations` (store ``tokens``). On SQLite a
token file restored from backup (or otherwise replaced) is noticed at the next check (see
:class:`~serving.store.connection.Database`); on PostgreSQL every replica reads the same
table, so a token revoked through one is refused by all at their next check.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from serving.auth import (
    DEFAULT_TTL_DAYS,
    LAST_USED_RESOLUTION,
    MAX_TTL_DAYS,
    ROLES,
    TOKEN_PREFIX,
    IssuedToken,
    Principal,
    _sha256,
)
from serving.store.connection import Database, DatabaseUnavailable
from serving.store.migrations import ensure

__all__ = ["DEFAULT_TTL_DAYS", "SqlTokenStore", "TokenStore"]

#: What :meth:`TokenStore.list` shows of a token (never its hash, never a secret).
LISTED = (
    "token_id",
    "role",
    "created_at",
    "expires_at",
    "last_used_at",
    "revoked_at",
    "regions",
    "note",
)


class TokenStore(Protocol):
    """The tokens the service honours."""

    def create(
        self,
        role: str,
        *,
        note: str | None = None,
        ttl_days: float = DEFAULT_TTL_DAYS,
        regions: Iterable[str] | None = None,
    ) -> IssuedToken:
        """A new token for role valid ttl_days (scoped to regions when given), once in clear."""
        ...

    def list(self) -> list[dict[str, str | None]]:
        """Every token's id, role, dates, regions and note (never a hash or a secret)."""
        ...

    def revoke(self, token_id: str) -> bool:
        """Revoke a token by its id; True when a live token was revoked."""
        ...

    def verify(self, token: str) -> Principal | None:
        """The principal of a live token, or None for anything else (no reason given)."""
        ...

    def live_principal(self, token_id: str) -> Principal | None:
        """The principal of the token with this id while it is live, else None (for a
        review session bound to the token at a sign-in that proved the secret)."""
        ...

    def close(self) -> None:
        """Close the store's connections."""
        ...


class SqlTokenStore:
    """:class:`TokenStore` over one :class:`~serving.store.connection.Database` (either
    dialect); safe to share between threads (one connection per thread)."""

    def __init__(self, db: Database | Path | str) -> None:
        self.db = db if isinstance(db, Database) else Database(db)
        self.where = self.db.where
        ensure(self.db, "tokens")
        self._last_used: dict[str, datetime] = {}

    def close(self) -> None:
        self.db.close()

    def create(
        self,
        role: str,
        *,
        note: str | None = None,
        ttl_days: float = DEFAULT_TTL_DAYS,
        regions: Iterable[str] | None = None,
    ) -> IssuedToken:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        if not 0 < ttl_days <= MAX_TTL_DAYS:
            raise ValueError(f"ttl_days must be in (0, {MAX_TTL_DAYS}], got {ttl_days!r}")
        scope = None
        if regions is not None:
            scope = tuple(sorted({r.strip() for r in regions if r.strip()}))
            if not scope:
                raise ValueError("regions: give at least one non-blank region, or none at all")
        token_id = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
        created = datetime.now(UTC)
        expires = (created + timedelta(days=ttl_days)).isoformat()
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO tokens (token_id, token_sha256, role, created_at, note, expires_at, "
                "regions) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    token_id,
                    _sha256(token),
                    role,
                    created.isoformat(),
                    note,
                    expires,
                    json.dumps(list(scope)) if scope is not None else None,
                ),
            )
        return IssuedToken(
            token=token, token_id=token_id, role=role, expires_at=expires, regions=scope
        )

    def list(self) -> list[dict[str, str | None]]:
        rows = self.db.read().execute(f"SELECT {', '.join(LISTED)} FROM tokens ORDER BY created_at")
        out = []
        for row in rows:
            entry = dict(zip(LISTED, row, strict=True))
            if entry["regions"] is not None:
                entry["regions"] = ",".join(json.loads(entry["regions"]))
            out.append(entry)
        return out

    def revoke(self, token_id: str) -> bool:
        with self.db.write() as conn:
            cur = conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), token_id),
            )
            revoked = cur.rowcount == 1
        return revoked

    def verify(self, token: str) -> Principal | None:
        """Live: known id, matching hash, not revoked, not expired. A successful check also
        records when the token was last used (at most once a minute per token)."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
            return None
        row = (
            self.db.read()
            .execute(
                "SELECT token_sha256, role, revoked_at, expires_at, regions FROM tokens "
                "WHERE token_id = ?",
                (parts[1],),
            )
            .fetchone()
        )
        # Compare a hash even when the id is unknown, so timing says nothing about ids.
        stored = row[0] if row is not None else "0" * 64
        matches = hmac.compare_digest(stored, _sha256(token))
        if row is None or not matches or row[2] is not None:
            return None
        now = datetime.now(UTC)
        if row[3] is None or datetime.fromisoformat(row[3]) <= now:
            return None
        self._touch(parts[1], now)
        regions = frozenset(json.loads(row[4])) if row[4] is not None else None
        return Principal(token_id=parts[1], role=row[1], regions=regions)

    def live_principal(self, token_id: str) -> Principal | None:
        """The principal of the token with this id while it is live (not revoked, not
        expired), else None; a live one's use is recorded like :meth:`verify` does.

        Only for a review session, which the server bound to the token id at a sign-in that
        proved the secret (never for an id a caller names): the token is checked again on
        every use of the session, so revoking it ends the session.
        """
        row = (
            self.db.read()
            .execute(
                "SELECT role, revoked_at, expires_at, regions FROM tokens WHERE token_id = ?",
                (token_id,),
            )
            .fetchone()
        )
        if row is None or row[1] is not None:
            return None
        now = datetime.now(UTC)
        if row[2] is None or datetime.fromisoformat(row[2]) <= now:
            return None
        self._touch(token_id, now)  # a session's use is its token's use (`token list`)
        regions = frozenset(json.loads(row[3])) if row[3] is not None else None
        return Principal(token_id=token_id, role=row[0], regions=regions)

    def _touch(self, token_id: str, now: datetime) -> None:
        """Record the token's last use, once per LAST_USED_RESOLUTION (not on every call)."""
        last = self._last_used.get(token_id)
        if last is not None and now - last < LAST_USED_RESOLUTION:
            return
        self._last_used[token_id] = now
        try:
            with self.db.write() as conn:
                conn.execute(
                    "UPDATE tokens SET last_used_at = ? WHERE token_id = ?",
                    (now.isoformat(), token_id),
                )
        except DatabaseUnavailable:
            # A busy or read-only store must not refuse a valid token; the next use retries.
            self._last_used.pop(token_id, None)
