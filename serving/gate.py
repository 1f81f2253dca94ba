"""The request gate: an ASGI middleware in front of BentoML's app.

BentoML reads and validates a request body before a handler can check who sent it, and
answers a bad body itself (echoing the input, logging a traceback per element). The gate
answers first, in this order, each refusal a small :class:`~serving.schemas.ErrorBody` with
an ``X-Request-ID`` header and an INFO log line without personal data:

1. ``405`` for a method other than POST on an API path;
2. ``401`` without a valid token, **before the body is read**, recorded in the security
   log and counted against the caller's address; once the address is over the limit, the
   401 carries ``Retry-After`` and is no longer recorded (one ``throttled`` event marks the
   start). Only the address counts: a request with a valid token is never refused for
   other requests' failures, and a token id named without its secret neither locks nor
   slows that token. The address is the peer's, or behind a configured proxy the one it
   forwards (:mod:`serving.client_address`);
3. ``429`` over the token's requests-per-minute quota (its own use only);
4. ``403`` for a role outside the endpoint, recorded in the security log;
5. ``415`` unless the body is ``application/json`` (an empty body counts as ``{}``);
6. ``413`` for a body over ``max_body_bytes`` (from Content-Length, or while reading);
7. ``400`` for a body the strict request model refuses (unknown field, a string or a
   boolean for a number, a limit), naming the field and never echoing the input;
8. ``429`` over the token's families-per-minute quota.

Every answer on an API path, a refusal included, carries ``Cache-Control: no-store``:
family data must not stay in a browser's or a proxy's cache.

An admitted request reaches BentoML with its principal, request id and validated body in
the ASGI scope (:data:`ADMITTED`), so the handler neither re-authenticates nor re-parses.
The gate also serves the service's own OpenAPI document (``/docs.json``) and docs page
(``/`` and ``/docs``), and hides BentoML's (``/schema.json``, ``/static_content``).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers

from serving.auth import (
    UNAUTHENTICATED_MESSAGE,
    AuthError,
    Endpoint,
    Principal,
    check_role,
    claimed_token_id,
    verify_bearer,
)
from serving.client_address import client_address
from serving.limits import SlidingWindow, retry_after
from serving.openapi import (
    DOCS_ASSETS,
    DOCS_CSP,
    DOCS_HTML,
    DOCS_INIT_JS,
    SWAGGER_DIR,
    ServedFacts,
    openapi_document,
)
from serving.schemas import ErrorBody, body_location, request_models
from serving.settings import ServingSettings
from serving.store.audit_log import AuditLogUnavailable
from serving.store.security_log import SecurityLogUnavailable, SecurityRecord

logger = logging.getLogger("earlyrisk.serving")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: API path -> endpoint name: every endpoint serving.auth knows is behind the gate (a new
#: endpoint added there is authenticated before its body is read even before it has a strict
#: request model in serving.schemas.request_models; BentoML then validates its body).
API_PATHS: dict[str, str] = {f"/{name}": name for name in get_args(Endpoint)}
#: Scope key under which an admitted request carries its :class:`Admitted`.
ADMITTED = "earlyrisk.admitted"
HIDDEN_PATHS = ("/schema.json", "/static_content")

THROTTLED_MESSAGE = (
    "Too many requests without a valid token from this address; retry after Retry-After "
    "seconds (a request with a valid token is not refused for them)."
)
QUOTA_REQUESTS_MESSAGE = "This token is over its quota of requests per minute."
QUOTA_FAMILIES_MESSAGE = "This token is over its quota of families scored per minute."
MAX_ERRORS_SHOWN = 10
MAX_FIELD_TEXT = 64
_FRIENDLY = {
    "string_pattern_mismatch": "must not contain control characters or be blank",
}


@dataclass(frozen=True)
class Admitted:
    """What the gate established about an admitted request."""

    principal: Principal
    request_id: str
    body: BaseModel | None  # None for an endpoint without a strict model (BentoML checks it)


def new_request_id() -> str:
    """A fresh request id (returned to the client, in the logs and the audit entries)."""
    return uuid.uuid4().hex


def _clip(part: object) -> str:
    text = str(part)
    return text if len(text) <= MAX_FIELD_TEXT else text[:MAX_FIELD_TEXT] + "..."


def validation_refusal(
    exc: ValidationError, model: type[BaseModel]
) -> tuple[str, list[dict[str, Any]], list[str]]:
    """(message naming each field, detail list, error types) without the input's values.

    Each location is the body's own (:func:`serving.schemas.body_location` knows the
    bodies whose schema is chosen by a tag)."""
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    parts: list[str] = []
    detail: list[dict[str, Any]] = []
    for error in errors[:MAX_ERRORS_SHOWN]:
        where = body_location(model, tuple(error["loc"]), error["type"])
        loc = [part if isinstance(part, int) else _clip(part) for part in where]
        msg = _FRIENDLY.get(error["type"], error["msg"])
        parts.append(f"{'.'.join(str(p) for p in loc) or 'body'}: {msg}")
        detail.append({"loc": loc, "msg": msg, "type": error["type"]})
    if len(errors) > MAX_ERRORS_SHOWN:
        parts.append(f"and {len(errors) - MAX_ERRORS_SHOWN} more error(s)")
    return "; ".join(parts), detail, sorted({e["type"] for e in errors})


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> None:
    raw = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


DATABASE_UNAVAILABLE_MESSAGE = (
    "The service's database cannot be reached, so nothing is served (every score must be "
    "on record). Retry later or alert the operator."
)


class RequestGate:
    """ASGI middleware; see the module docstring for the order of the checks."""

    def __init__(
        self,
        app: Any,
        *,
        facts: Callable[[], ServedFacts | None] = lambda: None,
        settings: ServingSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.settings = settings if settings is not None else ServingSettings()
        self.facts = facts
        # imported here: the stores load pandas and scikit-learn, which `bentoml serve`'s
        # main process (it imports serving.service only to read its definition) never uses
        from serving.store.stores import open_stores

        self.stores = open_stores(self.settings)
        self.tokens = self.stores.tokens
        self.security_log = self.stores.security_log
        self.models = request_models(self.settings)
        self.failures = SlidingWindow(
            limit=self.settings.auth_failure_limit,
            window_s=self.settings.auth_failure_window_s,
            clock=clock,
        )
        self.request_quota = SlidingWindow(
            limit=self.settings.quota_requests_per_minute, window_s=60, clock=clock
        )
        self.family_quota = SlidingWindow(
            limit=self.settings.quota_families_per_minute, window_s=60, clock=clock
        )
        self._clock = clock
        self._quota_recorded: dict[str, float] = {}
        self._openapi: bytes | None = None

    # ---- ASGI entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = API_PATHS.get(path)
        if endpoint is not None:
            await self._api(scope, receive, send, endpoint)
        elif path in {"/", "/docs", "/docs.json", "/docs/init.js", *DOCS_ASSETS}:
            await self._docs(scope, send, path)
        elif path in HIDDEN_PATHS or path.startswith("/static_content/"):
            await self._refuse(send, 404, "Not found.", new_request_id(), scope, "hidden")
        else:
            await self.app(scope, receive, send)

    # ---- refusals
    async def _refuse(
        self,
        send: Send,
        status: int,
        message: str,
        request_id: str,
        scope: Scope,
        why: str,
        *,
        headers: dict[str, str] | None = None,
        detail: list[dict[str, Any]] | None = None,
    ) -> None:
        """Answer an ErrorBody; log one INFO line (request id, path, status, a reason code)."""
        logger.info(
            "request %s %s %s -> %d %s", request_id, scope["method"], scope["path"], status, why
        )
        body = ErrorBody(error=message, request_id=request_id, detail=detail)
        out = {"X-Request-ID": request_id, "Cache-Control": "no-store", **(headers or {})}
        if status == 401:
            out["WWW-Authenticate"] = 'Bearer realm="earlyrisk"'
        await _respond(send, status, body.model_dump_json(exclude_none=True).encode(), headers=out)

    def _record(self, record: SecurityRecord) -> None:
        """Write a security event; a failure to write is logged, the refusal stands."""
        try:
            self.security_log.record(record)
        except SecurityLogUnavailable as exc:
            logger.error("request %s: security event not recorded: %s", record.request_id, exc)

    def _record_quota(
        self, token_id: str, request_id: str, endpoint: str, client: str | None, what: str
    ) -> None:
        """One quota_exceeded event per token and minute (a loop over 429s adds no rows)."""
        now = self._clock()
        last = self._quota_recorded.get(token_id)
        if last is not None and now - last < 60:
            return
        self._quota_recorded[token_id] = now
        self._record(SecurityRecord("quota_exceeded", request_id, endpoint, token_id, client, what))

    async def _over_quota(
        self,
        send: Send,
        scope: Scope,
        quota: Literal["requests", "families"],
        wait: float,
        token_id: str,
        request_id: str,
        endpoint: str,
        address: str,
    ) -> None:
        """A 429 for a token over its quota of ``quota`` per minute (recorded in the
        security log, once a minute), with Retry-After: both quotas refuse alike."""
        self._record_quota(token_id, request_id, endpoint, address, f"{quota} per minute")
        message = QUOTA_REQUESTS_MESSAGE if quota == "requests" else QUOTA_FAMILIES_MESSAGE
        await self._refuse(
            send,
            429,
            message,
            request_id,
            scope,
            f"quota {quota}",
            headers={"Retry-After": retry_after(min(wait, 60))},
        )

    async def _unauthenticated(
        self,
        send: Send,
        scope: Scope,
        request_id: str,
        endpoint: str,
        address: str,
        claimed: str | None,
    ) -> None:
        """Answer a request without a valid token: 401, recorded and counted against its
        address; once the address is over the limit, 401 with Retry-After and the
        throttle's message, neither recorded nor counted again (the block's start is one
        ``throttled`` event, so a flood adds no rows).

        Still a 401, not a 429: the answer to a request without a valid token stays the
        authentication refusal every client (and schemathesis' ``ignored_auth`` probe)
        expects, while Retry-After tells a misconfigured client to back off. Only the
        address is counted, never the token id a request claims: anyone can name a token id
        (it is in the logs), and counting it would let them lock the token.
        """
        wait = self.failures.blocked_for(address)
        if wait > 0:
            await self._refuse(
                send,
                401,
                THROTTLED_MESSAGE,
                request_id,
                scope,
                "throttled",
                headers={"Retry-After": retry_after(wait)},
            )
            return
        self._record(SecurityRecord("unauthenticated", request_id, endpoint, claimed, address))
        if self.failures.add(address) == self.failures.limit:
            self._record(
                SecurityRecord(
                    "throttled",
                    request_id,
                    endpoint,
                    claimed,
                    address,
                    f"address {address} reached {self.failures.limit} failures in "
                    f"{self.failures.window_s:g} s; its requests without a valid token get "
                    "Retry-After and are not recorded until the window passes",
                )
            )
        await self._refuse(send, 401, UNAUTHENTICATED_MESSAGE, request_id, scope, "unauthenticated")

    # ---- the API path
    async def _api(self, scope: Scope, receive: Receive, send: Send, endpoint: str) -> None:
        request_id = new_request_id()
        if scope["method"] != "POST":
            await self._refuse(
                send, 405, "Use POST.", request_id, scope, "method", headers={"Allow": "POST"}
            )
            return
        headers = Headers(scope=scope)
        address = client_address(scope, self.settings.trusted_proxies)
        authorization = headers.get("authorization")
        claimed = claimed_token_id(authorization)
        try:
            # The token is checked even while the address is throttled: a valid token is
            # never refused for other requests' failures (one caseworker system calls from
            # one address for a whole ministry). One keyed read, the same as a refusal costs.
            found = verify_bearer(self.tokens, authorization)
        except AuditLogUnavailable as exc:
            # The shared database (tokens, audit log) is away: nothing is served unlogged.
            logger.error("request %s: token store unavailable: %s", request_id, exc)
            await self._refuse(
                send, 503, DATABASE_UNAVAILABLE_MESSAGE, request_id, scope, "database away"
            )
            return
        if found is None:
            await self._unauthenticated(send, scope, request_id, endpoint, address, claimed)
            return
        principal = found
        token_id = principal.token_id
        # The token's own quota counts its every use, a forbidden one included.
        wait = self.request_quota.admit(token_id)
        if wait > 0:
            await self._over_quota(
                send, scope, "requests", wait, token_id, request_id, endpoint, address
            )
            return
        try:
            check_role(principal, endpoint)
        except AuthError as exc:
            self._record(SecurityRecord("forbidden", request_id, endpoint, token_id, address))
            await self._refuse(send, exc.status, exc.message, request_id, scope, "forbidden")
            return
        body = await self._body(scope, receive, send, headers, request_id)
        if body is None:
            return
        strict = self.models.get(endpoint)
        if strict is None:
            await self._forward(scope, receive, send, body, Admitted(principal, request_id, None))
            return
        try:
            model = strict.model_validate_json(body)
        except ValidationError as exc:
            message, detail, types = validation_refusal(exc, strict)
            await self._refuse(
                send,
                400,
                message,
                request_id,
                scope,
                f"schema {','.join(types)}",
                detail=detail,
            )
            return
        families = (
            len(getattr(model, "family_ids", ()))
            if endpoint == "score"
            else int(endpoint in ("score_indicators", "family", "dossier"))
        )
        if families:
            wait = self.family_quota.admit(token_id, families)
            if wait > 0:
                await self._over_quota(
                    send, scope, "families", wait, token_id, request_id, endpoint, address
                )
                return
        await self._forward(scope, receive, send, body, Admitted(principal, request_id, model))

    async def _body(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, request_id: str
    ) -> bytes | None:
        """The body (``{}`` when empty), or None after answering 415 / 413 / 400."""
        content_type = headers.get("content-type")
        media = content_type.split(";", 1)[0].strip().lower() if content_type else None
        if media is not None and media != "application/json":
            await self._refuse(
                send, 415, "Send the body as application/json.", request_id, scope, "media type"
            )
            return None
        limit = self.settings.max_body_bytes
        too_large = f"The body is larger than the limit of {limit} bytes."
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                await self._refuse(
                    send, 400, "Content-Length: not a number", request_id, scope, "length"
                )
                return None
            if int(length) > limit:
                await self._refuse(send, 413, too_large, request_id, scope, "too large")
                return None
        try:
            body = await _read_body(receive, limit)
        except _TooLarge:
            await self._refuse(send, 413, too_large, request_id, scope, "too large")
            return None
        except _Disconnected:
            logger.info("request %s: client disconnected before sending the body", request_id)
            return None
        if not body.strip():
            return b"{}"
        if media is None:
            await self._refuse(
                send, 415, "Send the body as application/json.", request_id, scope, "media type"
            )
            return None
        return body

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, body: bytes, admitted: Admitted
    ) -> None:
        """Hand an admitted request to BentoML: the body replayed, the verdict in the scope."""
        headers = [
            (k, v)
            for k, v in scope["headers"]
            if k.lower() not in {b"content-length", b"content-type"}
        ]
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        inner = {**scope, "headers": headers, ADMITTED: admitted}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        request_id = admitted.request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", ()))
                if not any(k.lower() == b"x-request-id" for k, _ in raw):
                    raw.append((b"x-request-id", request_id))
                raw = [(k, v) for k, v in raw if k.lower() != b"cache-control"]
                raw.append((b"cache-control", b"no-store"))
                message = {**message, "headers": raw}
            await send(message)

        await self.app(inner, replay, send_with_id)

    # ---- the docs
    async def _docs(self, scope: Scope, send: Send, path: str) -> None:
        request_id = new_request_id()
        if scope["method"] not in {"GET", "HEAD"}:
            await self._refuse(
                send, 405, "Use GET.", request_id, scope, "method", headers={"Allow": "GET"}
            )
            return
        security = {"Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff"}
        if path == "/docs.json":
            document = self.openapi()
            if document is None:
                await self._refuse(send, 503, "Not ready.", request_id, scope, "not ready")
                return
            await _respond(send, 200, document, headers=security)
        elif path in {"/", "/docs"}:
            await _respond(
                send,
                200,
                DOCS_HTML.encode(),
                content_type="text/html; charset=utf-8",
                headers=security,
            )
        elif path == "/docs/init.js":
            await _respond(
                send,
                200,
                DOCS_INIT_JS.encode(),
                content_type="text/javascript; charset=utf-8",
                headers=security,
            )
        else:
            name, content_type = DOCS_ASSETS[path]
            await _respond(
                send,
                200,
                (SWAGGER_DIR / name).read_bytes(),
                content_type=content_type,
                headers={**security, "Cache-Control": "public, max-age=86400"},
            )

    def openapi(self) -> bytes | None:
        """The OpenAPI document as served (built once the model is loaded), or None."""
        if self._openapi is None:
            facts = self.facts()
            if facts is None:
                return None
            self._openapi = json.dumps(openapi_document(self.settings, facts)).encode()
        return self._openapi
