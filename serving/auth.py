"""Bearer-token access control: tokens stored hashed, one role each.

A token looks like ``er_<token_id>_<secret>``. Only the token id (public, it names the
token in the audit log) and the SHA-256 of the whole token are stored, so a copy of the
token database does not let anyone call the service. The clear token is shown once, when
it is created.

Failures never say which part was wrong: any missing, malformed, unknown or revoked token
is the same 401, and a valid token used outside its role is a 403 that names the role's
rights, not the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

from features.errors import EarlyriskError

Role = Literal["caseworker", "auditor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)

Endpoint = Literal["score", "score_indicators", "feedback", "model_card", "audit_log"]

PERMISSIONS: dict[str, frozenset[str]] = {
    "caseworker": frozenset({"score", "score_indicators", "feedback"}),
    "auditor": frozenset({"model_card", "audit_log"}),
    "admin": frozenset(get_args(Endpoint)),
}

TOKEN_PREFIX = "er"
UNAUTHENTICATED_MESSAGE = "Missing or invalid bearer token."
FORBIDDEN_MESSAGE = "This token's role is not allowed to use this endpoint."

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    token_id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    note TEXT,
    revoked_at TEXT
)
"""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's public id and its role (never the token itself)."""

    token_id: str
    role: str


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token; ``token`` is the only copy of the secret."""

    token: str
    token_id: str
    role: str


class AuthError(EarlyriskError):
    """An access-control refusal with the HTTP status it maps to (401 or 403)."""

    def __init__(self, status: Literal[401, 403], message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TokenStore:
    """The SQLite table of hashed tokens; safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=5.0)
            self._local.conn = conn
        return conn

    def create(self, role: str, *, note: str | None = None) -> IssuedToken:
        """Make a new token for role, store its hash, and return the clear token once."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        token_id = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO tokens (token_id, token_sha256, role, created_at, note) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_id, _sha256(token), role, datetime.now(UTC).isoformat(), note),
            )
        return IssuedToken(token=token, token_id=token_id, role=role)

    def list(self) -> list[dict[str, str | None]]:
        """Every token's id, role, dates and note (never a hash or a secret)."""
        rows = self._connect().execute(
            "SELECT token_id, role, created_at, revoked_at, note FROM tokens ORDER BY created_at"
        )
        keys = ("token_id", "role", "created_at", "revoked_at", "note")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def revoke(self, token_id: str) -> bool:
        """Revoke a token by its id; True when a live token was revoked."""
        with self._connect() as conn:
            cur = conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), token_id),
            )
        return cur.rowcount == 1

    def verify(self, token: str) -> Principal | None:
        """The principal of a live token, or None for anything else (no reason given)."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
            return None
        row = (
            self._connect()
            .execute(
                "SELECT token_sha256, role, revoked_at FROM tokens WHERE token_id = ?",
                (parts[1],),
            )
            .fetchone()
        )
        # Compare a hash even when the id is unknown, so timing says nothing about ids.
        stored = row[0] if row is not None else "0" * 64
        matches = hmac.compare_digest(stored, _sha256(token))
        if row is None or not matches or row[2] is not None:
            return None
        return Principal(token_id=parts[1], role=row[1])


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authorize(store: TokenStore, authorization: str | None, endpoint: str) -> Principal:
    """The caller of endpoint, or AuthError 401 (no valid token) / 403 (wrong role)."""
    token = bearer_token(authorization)
    principal = store.verify(token) if token is not None else None
    if principal is None:
        raise AuthError(401, UNAUTHENTICATED_MESSAGE)
    if endpoint not in PERMISSIONS.get(principal.role, frozenset()):
        raise AuthError(403, FORBIDDEN_MESSAGE)
    return principal
