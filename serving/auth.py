"""Bearer-token access control: tokens stored hashed, one role each.

A token looks like ``er_<token_id>_<secret>``. Only the token id (public, it names the
token in the audit log) and the SHA-256 of the whole token are stored, so a copy of the
token database does not let anyone call the service. The clear token is shown once, when
it is created. The tokens are kept by :mod:`serving.store.tokens`.

Failures never say which part was wrong: any missing, malformed, unknown, expired or
revoked token is the same 401, and a valid token used outside its role is a 403 that names
the role's rights, not the token.

Every token expires (``--ttl`` days, default 90): a forgotten token stops working on its
own. A token may be scoped to regions (the snapshot's ``audit_region``): it then sees only
families of those regions, see :mod:`serving.store.regions`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Protocol, get_args

from features.errors import EarlyriskError

Role = Literal["caseworker", "auditor", "admin", "approver", "registry_officer"]
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
    "worklist",  # issue 21: the caseworker's flagged families
    "dossier",
    "correction",
]

PERMISSIONS: dict[str, frozenset[str]] = {
    "caseworker": frozenset(
        {"score", "score_indicators", "feedback", "family", "worklist", "dossier", "correction"}
    ),
    "auditor": frozenset({"model_card", "audit_log", "security_log", "served_stats", "dossier"}),
    "admin": frozenset(get_args(Endpoint)),
    # approves model versions (`earlyrisk model approve`): reads the card it approves,
    # scores nobody and reads no log
    "approver": frozenset({"model_card"}),
    # issue 23: a caseworker files a correction on a family's behalf; a registry officer
    # decides it and sees no score (serving.corrections checks who may take which step)
    "registry_officer": frozenset({"correction"}),
}


TOKEN_PREFIX = "er"
UNAUTHENTICATED_MESSAGE = "Missing or invalid bearer token."
FORBIDDEN_MESSAGE = "This token's role is not allowed to use this endpoint."

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


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class TokenVerifier(Protocol):
    """What checking a bearer token needs of a token store (the stores live above this
    module, in :mod:`serving.store.tokens`, which builds on the rules here)."""

    def verify(self, token: str) -> Principal | None: ...


def verify_bearer(store: TokenVerifier, authorization: str | None) -> Principal | None:
    """The principal of a valid bearer header, else None (no reason given)."""
    token = bearer_token(authorization)
    return store.verify(token) if token is not None else None


def check_role(principal: Principal, endpoint: str) -> Principal:
    """principal when its role may use endpoint, else AuthError 403."""
    if endpoint not in PERMISSIONS.get(principal.role, frozenset()):
        raise AuthError(403, FORBIDDEN_MESSAGE)
    return principal


def authorize(store: TokenVerifier, authorization: str | None, endpoint: str) -> Principal:
    """The caller of endpoint, or AuthError 401 (no valid token) / 403 (wrong role)."""
    principal = verify_bearer(store, authorization)
    if principal is None:
        raise AuthError(401, UNAUTHENTICATED_MESSAGE)
    return check_role(principal, endpoint)


# ---- issue 23 (dossier lane): the purpose lock against social scoring
#: Endpoints whose answer carries a family's score or level (a probability, a risk level,
#: a score history, an explanation record, the audit log's score entries).
SCORE_BEARING: frozenset[str] = frozenset(
    {"score", "score_indicators", "family", "dossier", "audit_log", "worklist", "correction"}
)
#: Score-bearing endpoints that a role outside the support services may use because the
#: endpoint itself removes every score and level from its answer for such a role
#: (:func:`redact_scores`): a registry officer decides a correction on the record and the
#: documents, never on the family's score.
REDACTED_FOR_OTHER_ROLES: frozenset[str] = frozenset({"correction"})
#: The keys of an answer that carry a score or level (removed by :func:`redact_scores`).
SCORE_KEYS: frozenset[str] = frozenset(
    {"before", "after", "diff", "probability", "risk_level", "risk_level_name", "score_id"}
)
#: Endpoints whose answer carries no family's score or level (aggregates, the model card,
#: a decision's receipt, the security log).
SCORE_FREE: frozenset[str] = frozenset({"feedback", "model_card", "security_log", "served_stats"})
#: The roles of the family support services (and their oversight): the only ones a score
#: or level may ever reach. Any other role (an approver of models, a registry officer, a
#: role added later) gets none, whatever the endpoint.
SUPPORT_SERVICE_ROLES: frozenset[str] = frozenset({"caseworker", "auditor", "admin"})


class PurposeLockError(EarlyriskError):
    """The role matrix would return a score or level outside the support services."""


def purpose_lock_violations(
    permissions: dict[str, frozenset[str]],
    *,
    endpoints: frozenset[str] | None = None,
    support_roles: frozenset[str] = SUPPORT_SERVICE_ROLES,
) -> list[str]:
    """What in a role matrix breaks the purpose lock (empty: none): an endpoint neither
    declared score-bearing nor score-free (every new endpoint must say which it is), or a
    role outside the support services allowed a score-bearing endpoint."""
    known = frozenset(get_args(Endpoint)) if endpoints is None else endpoints
    problems = [
        f"endpoint {e!r} is neither in SCORE_BEARING nor in SCORE_FREE (serving/auth.py): "
        "say whether its answer carries a family's score or level"
        for e in sorted(known - SCORE_BEARING - SCORE_FREE)
    ]
    for role, allowed in sorted(permissions.items()):
        if role in support_roles:
            continue
        problems += [
            f"role {role!r} is not a support-services role but may use {e!r}, which returns "
            "a family's score or level (social scoring is banned: remove it from PERMISSIONS)"
            for e in sorted((allowed & SCORE_BEARING) - REDACTED_FOR_OTHER_ROLES)
        ]
    return problems


def redact_scores(answer: Any, role: str) -> Any:
    """The answer as a role outside the support services may see it: every score and level
    (:data:`SCORE_KEYS`) removed at any depth; a support-services role gets it unchanged."""
    if role in SUPPORT_SERVICE_ROLES:
        return answer
    if isinstance(answer, dict):
        return {k: redact_scores(v, role) for k, v in answer.items() if k not in SCORE_KEYS}
    if isinstance(answer, list):
        return [redact_scores(v, role) for v in answer]
    return answer


def check_purpose_lock(permissions: dict[str, frozenset[str]]) -> None:
    """Raise PurposeLockError naming every violation (run at import: a matrix that breaks
    the lock stops the service from starting)."""
    problems = purpose_lock_violations(permissions)
    if problems:
        raise PurposeLockError("purpose lock: " + "; ".join(problems))


check_purpose_lock(PERMISSIONS)
