"""Bearer-token access control: tokens stored hashed, one role each.

A token looks like ``er_<token_id>_<secret>``. Only the token id (public, it names the
token in the audit log) and the SHA-256 of the whole token are stored, so a copy of the
token database does not let anyone call the service. The clear token is shown once, when
it is created.

Failures never say which part was wrong: any missing, malformed, unknown, expired or
revoked token is the same 401, and a valid token used outside its role is a 403 that names
the role's rights, not the token.

Every token expires (``--ttl`` days, default 90): a forgotten token stops working on its
own. A token may be scoped to regions (the snapshot's ``audit_region``): it then sees only
families of those regions, see :mod:`serving.regions`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, get_args

from features.errors import EarlyriskError
from serving.private_files import create_private, file_identity
from serving.sql import SqlConnection

Role = Literal["caseworker", "auditor", "admin", "approver"]
ROLES: tuple[str, ...] = get_args(Role)

Endpoint = Literal[
    "score",
    "score_indicators",
    "feedback",
    "family",
    "model_card",
    "audit_log",
    "security_log",
    "served_stats",
]

PERMISSIONS: dict[str, frozenset[str]] = {
    "caseworker": frozenset({"score", "score_indicators", "feedback", "family"}),
    "auditor": frozenset({"model_card", "audit_log", "security_log", "served_stats"}),
    "admin": frozenset(get_args(Endpoint)),
    # approves model versions (`earlyrisk model approve`): reads the card it approves,
    # scores nobody and reads no log
    "approver": frozenset({"model_card"}),
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
    revoked_at TEXT,
    expires_at TEXT,
    last_used_at TEXT,
    regions TEXT
)
"""
# Columns added after the first release, with their type: a store made before gets them
# at open (a token from before expiry existed expires DEFAULT_TTL_DAYS after its creation).
_ADDED_COLUMNS = (("expires_at", "TEXT"), ("last_used_at", "TEXT"), ("regions", "TEXT"))
DEFAULT_TTL_DAYS = 90
MAX_TTL_DAYS = 3650
# How often a token's last_used_at is written (one write per token per interval, not per call).
LAST_USED_RESOLUTION = timedelta(minutes=1)
_TOKEN_ID = re.compile(r"^[0-9a-f]{12}$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's public id and its role (never the token itself)."""

    token_id: str
    role: str
    # None: every region; else only families whose audit_region is one of these.
    regions: frozenset[str] | None = None


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token; ``token`` is the only copy of the secret."""

    token: str
    token_id: str
    role: str
    expires_at: str
    regions: tuple[str, ...] | None = None


class AuthError(EarlyriskError):
    """An access-control refusal with the HTTP status it maps to (401 or 403)."""

    def __init__(self, status: Literal[401, 403], message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def claimed_token_id(authorization: str | None) -> str | None:
    """The token id a bearer header claims, when it has the shape of one (else None).

    Only this public part is ever written to the security log, never the secret; a header
    that does not look like a token yields None rather than attacker-chosen text.
    """
    token = bearer_token(authorization)
    if token is None:
        return None
    parts = token.split("_", 2)
    if len(parts) == 3 and parts[0] == TOKEN_PREFIX and _TOKEN_ID.match(parts[1]):
        return parts[1]
    return None


class TokenStore:
    """The SQLite table of hashed tokens; safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        create_private(self.path)  # 0600: hashes and roles are nobody else's business
        self._local = threading.local()
        self._last_used: dict[str, datetime] = {}
        with self._connect() as conn:
            conn.execute(_SCHEMA)
            have = {row[1] for row in conn.execute("PRAGMA table_info(tokens)")}
            for column, kind in _ADDED_COLUMNS:
                if column not in have:
                    conn.execute(f"ALTER TABLE tokens ADD COLUMN {column} {kind}")
            for token_id, created in conn.execute(
                "SELECT token_id, created_at FROM tokens WHERE expires_at IS NULL"
            ).fetchall():
                expires = datetime.fromisoformat(created) + timedelta(days=DEFAULT_TTL_DAYS)
                conn.execute(
                    "UPDATE tokens SET expires_at = ? WHERE token_id = ?",
                    (expires.isoformat(), token_id),
                )

    def _connect(self) -> SqlConnection:
        """This thread's connection, reopened when the file at the path is another one.

        A token database restored from backup (or otherwise replaced) is a new file: a
        connection to the old one would keep honouring tokens revoked since. One stat per
        call notices it, and the next check reads the file that is there now.
        """
        conn = getattr(self._local, "conn", None)
        identity = file_identity(self.path)
        if conn is not None and identity != getattr(self._local, "identity", None):
            conn.close()
            conn = None
        if conn is None:
            create_private(self.path)
            conn = sqlite3.connect(self.path, timeout=5.0)
            conn.execute(_SCHEMA)
            self._local.conn = conn
            self._local.identity = file_identity(self.path)
        return conn

    def close(self) -> None:
        """Close the calling thread's connection (others close with their threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def create(
        self,
        role: str,
        *,
        note: str | None = None,
        ttl_days: float = DEFAULT_TTL_DAYS,
        regions: Iterable[str] | None = None,
    ) -> IssuedToken:
        """Make a new token for role valid ttl_days, store its hash, return the clear token once.

        regions, when given, scopes the token to families of those ``audit_region`` values.
        """
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
        created = _now()
        expires = (created + timedelta(days=ttl_days)).isoformat()
        with self._connect() as conn:
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
        """Every token's id, role, dates, regions and note (never a hash or a secret)."""
        keys = (
            "token_id",
            "role",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "regions",
            "note",
        )
        rows = self._connect().execute(f"SELECT {', '.join(keys)} FROM tokens ORDER BY created_at")
        out = []
        for row in rows:
            entry = dict(zip(keys, row, strict=True))
            if entry["regions"] is not None:
                entry["regions"] = ",".join(json.loads(entry["regions"]))
            out.append(entry)
        return out

    def revoke(self, token_id: str) -> bool:
        """Revoke a token by its id; True when a live token was revoked."""
        with self._connect() as conn:
            cur = conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), token_id),
            )
        return cur.rowcount == 1

    def verify(self, token: str) -> Principal | None:
        """The principal of a live token, or None for anything else (no reason given).

        Live: known id, matching hash, not revoked, not expired. A successful check also
        records when the token was last used (at most once a minute per token).
        """
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
            return None
        row = (
            self._connect()
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
        now = _now()
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
            self._connect()
            .execute(
                "SELECT role, revoked_at, expires_at, regions FROM tokens WHERE token_id = ?",
                (token_id,),
            )
            .fetchone()
        )
        if row is None or row[1] is not None:
            return None
        now = _now()
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
            with self._connect() as conn:
                conn.execute(
                    "UPDATE tokens SET last_used_at = ? WHERE token_id = ?",
                    (now.isoformat(), token_id),
                )
        except sqlite3.OperationalError:
            # A busy or read-only store must not refuse a valid token; the next use retries.
            self._last_used.pop(token_id, None)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def verify_bearer(store: TokenStore, authorization: str | None) -> Principal | None:
    """The principal of a valid bearer header, else None (no reason given)."""
    token = bearer_token(authorization)
    return store.verify(token) if token is not None else None


def check_role(principal: Principal, endpoint: str) -> Principal:
    """principal when its role may use endpoint, else AuthError 403."""
    if endpoint not in PERMISSIONS.get(principal.role, frozenset()):
        raise AuthError(403, FORBIDDEN_MESSAGE)
    return principal


def authorize(store: TokenStore, authorization: str | None, endpoint: str) -> Principal:
    """The caller of endpoint, or AuthError 401 (no valid token) / 403 (wrong role)."""
    principal = verify_bearer(store, authorization)
    if principal is None:
        raise AuthError(401, UNAUTHENTICATED_MESSAGE)
    return check_role(principal, endpoint)
