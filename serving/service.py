"""The BentoML service: ``bentoml serve serving.service:EarlyRiskScoring``.

A thin HTTP adapter over :class:`serving.engine.ServingEngine`: it checks the bearer token
and role of every call, runs the engine, and turns every refusal into a JSON body
``{"error": ..., "request_id": ...}`` with the right status. No stack trace ever reaches a
client; the full trace goes to the server log under the same request id.

Status codes: 400 bad request (the message names the field), 401 missing/invalid token,
403 wrong role, 404 unknown score_id, 503 the audit log cannot be written (the score is not
returned), 500 anything unexpected. BentoML's own ``/livez`` and ``/readyz`` are the health
and readiness probes (no token); ``/docs.json`` is the OpenAPI document.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

import bentoml
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from serving.audit_log import AuditLogUnavailable
from serving.auth import AuthError, Principal, authorize
from serving.engine import (
    RequestError,
    ServingEngine,
    UnknownScoreError,
    load_engine,
    new_request_id,
)
from serving.i18n import negotiate
from serving.schemas import (
    AuditLogPage,
    Decision,
    ErrorBody,
    FeedbackResponse,
    ModelCardResponse,
    ScoredFamily,
    ScoreResponse,
)
from serving.settings import ServingSettings

logger = logging.getLogger("earlyrisk.serving")

AUDIT_UNAVAILABLE_MESSAGE = (
    "The audit log cannot be written, so no score is returned (every score must be on "
    "record). Nothing was recorded for this request; retry later or alert the operator."
)
INTERNAL_ERROR_MESSAGE = "An unexpected error occurred; quote the request_id to the operator."
MAX_SEQ = 2**63 - 1
LangField = Annotated[
    str | None,
    Field(
        max_length=35,
        pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$",
        description="Language of the texts: en, ru or kk (default: the Accept-Language "
        "header, then English; an unknown language gets English).",
    ),
]


def _workers() -> int:
    """Worker processes, from EARLYRISK_WORKERS (read at import: BentoML needs it then)."""
    try:
        return max(1, int(os.environ.get("EARLYRISK_WORKERS", "1")))
    except ValueError:
        return 1


def _flag(name: str) -> bool:
    """An on/off switch from the environment (read at import, like the worker count).

    Prometheus metrics, the per-request access log and tracing spans are off by default:
    together they double the latency of a one-family score, and the audit log already
    records every scoring call. EARLYRISK_METRICS=1, EARLYRISK_ACCESS_LOG=1 and
    EARLYRISK_TRACING=1 turn them on.
    """
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _error(ctx: bentoml.Context, status: int, message: str, request_id: str) -> JSONResponse:
    ctx.response.status_code = status
    headers = {"X-Request-ID": request_id}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="earlyrisk"'
    body = ErrorBody(error=message, request_id=request_id)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def _validation_refusal(body: bytes) -> tuple[str, list[dict[str, Any]]] | None:
    """BentoML's own 400 body (its schema check of the request) as one line naming each
    field and the rule it broke, plus its ``detail`` list; None for any other body."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("detail"), list):
        return None
    parts = []
    for item in data["detail"]:
        if not isinstance(item, dict):
            return None
        field = ".".join(str(part) for part in item.get("loc") or ()) or "body"
        parts.append(f"{field}: {item.get('msg', 'invalid')}")
    return ("; ".join(parts), data["detail"]) if parts else None


class _ValidationRefusals:
    """ASGI middleware: BentoML's schema refusals in the service's own error shape.

    BentoML validates a request body against the endpoint's signature before our handler
    runs and answers a mismatch itself, as ``{"error": "1 validation error for Input",
    "detail": [...]}``: no request id, and the field only inside ``detail``. This rewrites
    exactly those answers (status 400 without our X-Request-ID header) into
    :class:`ErrorBody` with the field and rule in ``error``, a fresh request id and
    BentoML's ``detail`` list kept; every other response passes through untouched.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] | None = None
        chunks: list[bytes] = []

        async def hold_refusal(message: dict[str, Any]) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", ())}
                if message["status"] == 400 and b"x-request-id" not in names:
                    held = message
                    return
            if held is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            refusal = _validation_refusal(body)
            headers = [(k, v) for k, v in held.get("headers", ()) if k.lower() != b"content-length"]
            if refusal is not None:
                text, detail = refusal
                request_id = new_request_id()
                logger.info("request %s refused by schema validation: %s", request_id, text)
                error = ErrorBody(error=text, request_id=request_id, detail=detail)
                body = error.model_dump_json(exclude_none=True).encode()
                headers.append((b"x-request-id", request_id.encode()))
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**held, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, hold_refusal)


@bentoml.service(
    name="earlyrisk_scoring",
    workers=_workers(),
    # Handler threads per worker: one can compute while another waits on the audit log's
    # fsync (SQLite and LightGBM release the GIL there); audit writes stay serialized.
    threads=4,
    traffic={"timeout": 60},
    http={"cors": {"enabled": False}},
    metrics={"enabled": _flag("EARLYRISK_METRICS")},
    logging={"access": {"enabled": _flag("EARLYRISK_ACCESS_LOG")}},
    # No trace exporter is configured, so spans cost CPU and go nowhere; EARLYRISK_TRACING=1
    # keeps BentoML's OpenTelemetry spans for a deployment that configures an exporter.
    tracing={} if _flag("EARLYRISK_TRACING") else {"excluded_urls": [".*"]},
)
class EarlyRiskScoring:
    """Explained, advisory family risk scores; every score logged; bearer-token roles."""

    def __init__(self) -> None:
        self.engine: ServingEngine = load_engine(ServingSettings())
        logger.info(
            "serving model %s version %s on snapshot %s",
            self.engine.identity.name,
            self.engine.identity.version,
            self.engine.snapshot_date,
        )

    def _handle(
        self,
        ctx: bentoml.Context,
        endpoint: str,
        body: type[BaseModel],
        work: Callable[[Principal, str], Any],
    ) -> Any:
        """Authorize, run work(principal, request_id) into body, map refusals to JSON errors."""
        request_id = new_request_id()
        ctx.response.headers["X-Request-ID"] = request_id
        try:
            principal = authorize(
                self.engine.tokens, ctx.request.headers.get("authorization"), endpoint
            )
            return body.model_validate(work(principal, request_id))
        except AuthError as exc:
            return _error(ctx, exc.status, exc.message, request_id)
        except RequestError as exc:
            return _error(ctx, 400, str(exc), request_id)
        except UnknownScoreError as exc:
            return _error(ctx, 404, str(exc), request_id)
        except AuditLogUnavailable:
            logger.exception("audit log unavailable (request %s)", request_id)
            return _error(ctx, 503, AUDIT_UNAVAILABLE_MESSAGE, request_id)
        except Exception:
            logger.exception("unexpected error (request %s)", request_id)
            return _error(ctx, 500, INTERNAL_ERROR_MESSAGE, request_id)

    @bentoml.api(route="/score")
    def score(
        self,
        family_ids: Annotated[
            list[str], Field(description="Family ids to score (at most the batch limit).")
        ],
        as_of: Annotated[
            date | None,
            Field(description="Snapshot date; default the latest snapshot."),
        ] = None,
        lang: LangField = None,
        *,
        ctx: bentoml.Context,
    ) -> ScoreResponse:
        """Explained risk scores of families from the latest snapshot (caseworker, admin).

        One result per id, in order; an unknown id is an error for that item only.
        """

        def work(principal: Principal, request_id: str) -> Any:
            results = self.engine.score(
                family_ids,
                as_of=as_of,
                principal=principal,
                request_id=request_id,
                lang=negotiate(lang, ctx.request.headers.get("accept-language")),
            )
            return {"request_id": request_id, "results": results}

        return self._handle(ctx, "score", ScoreResponse, work)

    @bentoml.api(route="/score_indicators")
    def score_indicators(
        self,
        indicators: Annotated[
            dict[str, float | None],
            Field(description="Every model indicator by name; null = not recorded."),
        ],
        lang: LangField = None,
        *,
        ctx: bentoml.Context,
    ) -> ScoredFamily:
        """Explained score of explicit indicator values (caseworker, admin).

        Unknown, missing or out-of-range indicators and protected attributes: 400.
        """

        def work(principal: Principal, request_id: str) -> Any:
            return self.engine.score_indicators(
                indicators,
                principal=principal,
                request_id=request_id,
                lang=negotiate(lang, ctx.request.headers.get("accept-language")),
            )

        return self._handle(ctx, "score_indicators", ScoredFamily, work)

    @bentoml.api(route="/feedback")
    def feedback(
        self,
        score_id: Annotated[str, Field(min_length=1, max_length=64)],
        decision: Decision,
        reason: Annotated[
            str,
            Field(
                min_length=1,
                max_length=2000,
                description="Why; no names or other personal details (the family id is known).",
            ),
        ],
        *,
        ctx: bentoml.Context,
    ) -> FeedbackResponse:
        """Record the caseworker's decision on a served score (caseworker, admin)."""

        def work(principal: Principal, request_id: str) -> Any:
            text = reason.strip()
            if not text:
                raise RequestError("reason", "must not be blank")
            self.engine.feedback(
                score_id=score_id,
                decision=decision,
                reason=text,
                principal=principal,
                request_id=request_id,
            )
            return {"request_id": request_id, "score_id": score_id, "decision": decision}

        return self._handle(ctx, "feedback", FeedbackResponse, work)

    @bentoml.api(route="/model_card")
    def model_card(self, *, ctx: bentoml.Context) -> ModelCardResponse:
        """The serving model's version, checksums and card (auditor, admin)."""
        return self._handle(
            ctx, "model_card", ModelCardResponse, lambda _p, _r: self.engine.model_card()
        )

    @bentoml.api(route="/audit_log")
    def audit_log(
        self,
        after_seq: Annotated[int, Field(ge=0, le=MAX_SEQ)] = 0,
        limit: Annotated[int, Field(ge=1, le=1000)] = 100,
        kind: Annotated[str | None, Field(pattern="^(score|feedback)$")] = None,
        *,
        ctx: bentoml.Context,
    ) -> AuditLogPage:
        """A page of the audit log: scores served and feedback, oldest first (auditor, admin)."""
        return self._handle(
            ctx,
            "audit_log",
            AuditLogPage,
            lambda _p, _r: self.engine.audit_page(after_seq=after_seq, limit=limit, kind=kind),
        )


EarlyRiskScoring.add_asgi_middleware(_ValidationRefusals)
