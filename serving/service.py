"""The BentoML service: ``bentoml serve serving.service:EarlyRiskScoring``.

A thin HTTP adapter over :class:`serving.engine.ServingEngine`. In front of it sits the
request gate (:mod:`serving.gate`): it authenticates and authorizes every call before the
body is read, throttles repeated failures, enforces per-token quotas, the content type,
the body size and the strict request schemas, and serves the service's own OpenAPI document
and docs page. A handler then runs the engine on the admitted request and turns every
refusal into a JSON body ``{"error": ..., "request_id": ...}`` with the right status. No
stack trace ever reaches a client; a client error (4xx) is one INFO line in the server log
(request id, endpoint, status, a reason code: no family id, no free text), and the same
request id is in the audit log's entries. A refusal the engine makes on access grounds (a
decision on a score outside the token's regions) also goes to the security log.

Status codes: 400 bad request (the message names the field), 401 missing/invalid token
(with Retry-After once the address is throttled), 403 wrong role, 404 unknown score_id (or
one outside the token's regions: the same answer), 405 not POST, 413 body too large, 415
not JSON, 429 over the token's quota (Retry-After), 503 the audit or security log cannot be
written (nothing is returned), 500 anything unexpected. BentoML's own ``/livez`` and ``/readyz``
are the health and readiness probes (no token); ``/docs.json`` is the OpenAPI document and
``/docs`` its page.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, cast

import bentoml
from pydantic import BaseModel
from starlette.responses import JSONResponse

from serving.auth import AuthError, Principal, authorize
from serving.case_schemas import Level, Status, WorklistResponse
from serving.client_address import client_address
from serving.correction_schemas import CorrectionResponse
from serving.errors import OutOfScopeScoreError, RequestError, UnknownFamilyError, UnknownScoreError
from serving.gate import ADMITTED, Admitted, RequestGate, new_request_id
from serving.i18n import negotiate
from serving.openapi import ServedFacts
from serving.schemas import (
    AuditLogPage,
    Decision,
    ErrorBody,
    FamilyResponse,
    FeedbackResponse,
    ModelCardResponse,
    ScoredFamily,
    ScoreResponse,
    SecurityLogPage,
    ServedStatsResponse,
)
from serving.settings import ServingSettings
from serving.store.audit_errors import AuditLogUnavailable
from serving.store.security_log import (
    SecurityEvent,
    SecurityLog,
    SecurityLogUnavailable,
    SecurityRecord,
)

# `bentoml serve` imports this module twice: in its main process, only to read the
# service's definition (name, workers, routes), and in each worker, which builds the
# service. The engine and what it needs (pandas, scipy, scikit-learn, the stores) are
# imported where a worker first uses them, not here: a server start then costs about
# 12.8 CPU-s instead of 16.3 (README.md, "Development checks").
if TYPE_CHECKING:
    from serving.correction_api import CorrectionEndpoint
    from serving.engine import ServingEngine
    from serving.model_watcher import ModelWatcher

logger = logging.getLogger("earlyrisk.serving")
# BentoML's server logging keeps the root logger at WARNING; the service's own one-line INFO
# records (refused requests with their request id, the model served) must reach its log.
logging.getLogger("earlyrisk").setLevel(logging.INFO)

AUDIT_UNAVAILABLE_MESSAGE = (
    "The audit log cannot be written, so no score is returned (every score must be on "
    "record). Nothing was recorded for this request; retry later or alert the operator."
)
INTERNAL_ERROR_MESSAGE = "An unexpected error occurred; quote the request_id to the operator."
SECURITY_LOG_UNAVAILABLE_MESSAGE = (
    "The security log cannot be written, so this auditor read is refused (every read of "
    "the logs and the model card is on record); retry later or alert the operator."
)
AUDITOR_READS = frozenset({"model_card", "audit_log", "security_log", "served_stats"})

# What the loaded worker serves, for the gate's OpenAPI document (set by the service).
_served: ServedFacts | None = None


_engine: ServingEngine | None = None
_security_log: SecurityLog | None = None


def served_engine() -> ServingEngine | None:
    """This worker's engine once it is loaded (for the review pages)."""
    return _engine


def served_security_log() -> SecurityLog | None:
    """This worker's security log once the service is loaded (the review pages record
    their refusals in it: the shared database's when there is one)."""
    return _security_log


# The service, not the HTTP server, decides whose X-Forwarded-For to believe
# (EARLYRISK_TRUSTED_PROXIES, see serving.client_address). uvicorn would otherwise rewrite
# the peer address from the header for any caller on 127.0.0.1 before the gate sees it;
# BentoML builds the server's configuration after importing this module, in this process.
os.environ["FORWARDED_ALLOW_IPS"] = ""


def served_facts() -> ServedFacts | None:
    """The facts of the model this worker serves, once it is loaded."""
    return _served


def _served_version(version: str) -> None:
    """The OpenAPI document's facts name the version a watcher switched to."""
    global _served
    if _served is not None:
        _served = dataclasses.replace(_served, model_version=version)


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


def _error(
    ctx: bentoml.Context, status: int, message: str, request_id: str, why: str = ""
) -> JSONResponse:
    if status < 500:
        # One line, no traceback, no family id or free text (not even the field, which may
        # be a client's key): method, path, status and the kind of refusal; the request id
        # ties it to the client's answer and the audit log.
        scope = ctx.request.scope
        logger.info(
            "request %s %s %s -> %d %s",
            request_id,
            scope.get("method"),
            scope.get("path"),
            status,
            why,
        )
    ctx.response.status_code = status
    headers = {"X-Request-ID": request_id}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="earlyrisk"'
    body = ErrorBody(error=message, request_id=request_id)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


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
        from serving.dossier.produce import DossierDesk
        from serving.explain import catalogue_descriptions
        from serving.model_watcher import ModelWatcher
        from serving.startup import start_engine
        from serving.store.anchor_refresher import AnchorRefresher
        from serving.store.stores import open_stores

        global _served, _engine, _security_log
        settings = ServingSettings()
        # a shadow refused here is logged and left out: it never costs the service its answers
        self.engine: ServingEngine = start_engine(settings, strict_shadow=False)
        _engine = self.engine
        self.anchor_refresher = AnchorRefresher(
            self.engine.audit_log, interval_s=settings.audit_anchor_interval_s
        ).start()
        self.security_log = open_stores(settings, tokens=False).security_log
        self.dossier_desk = DossierDesk(
            self.engine,
            contact=settings.dossier_contact,
            open_contests=self.engine.open_contests,  # an open correction shows as contested
            corrections_of=self.engine.corrections_of,  # and decided ones are listed
        )
        _security_log = self.security_log
        _served = ServedFacts(
            model_name=self.engine.identity.name,
            model_version=self.engine.identity.version,
            snapshot_dates=list(self.engine.as_of_dates),
            indicator_ranges=dict(self.engine.indicator_ranges),
            indicator_descriptions=catalogue_descriptions(self.engine.scorer.feature_names),
            metrics_enabled=_flag("EARLYRISK_METRICS"),
            eligibility_minimums=self.engine.scorer.eligibility.minimums(),
            eligibility_rule=self.engine.scorer.eligibility.describe(),
            regions=(
                self.engine.regions.regions_at(self.engine.snapshot_date)
                if self.engine.regions is not None
                else []
            ),
        )
        self._corrections: CorrectionEndpoint | None = None  # opened on the first /correction
        # a new champion (`earlyrisk model promote`, `rollback`) is swapped in between requests
        self.model_watcher: ModelWatcher | None = None
        if settings.model_uri is None and settings.model_reload_interval_s > 0:
            self.model_watcher = ModelWatcher(
                self.engine,
                settings,
                interval_s=settings.model_reload_interval_s,
                on_switch=_served_version,
            ).start()
        logger.info(
            "serving model %s version %s on snapshot %s",
            self.engine.identity.name,
            self.engine.identity.version,
            self.engine.snapshot_date,
        )

    @bentoml.on_shutdown
    def close_audit_log(self) -> None:
        """A clean stop: the anchor refresher ends, and closing refreshes the anchor a last
        time, so entries cut from the end after the stop are caught at the next start."""
        if self.model_watcher is not None:
            self.model_watcher.stop()
        self.anchor_refresher.stop()
        self.engine.close()

    def __is_ready__(self) -> bool:
        """BentoML's /readyz hook: 503 while the audit log cannot take the next score."""
        return self.engine.ready()

    def _handle(
        self,
        ctx: bentoml.Context,
        endpoint: str,
        body: type[BaseModel] | None,
        work: Callable[[Principal, str], Any],
    ) -> Any:
        """Run work(principal, request_id) into body (None: work's own response, e.g. a
        dossier's HTML or PDF); map refusals to JSON errors.

        Behind the gate the principal and request id come from it; called in-process
        without the gate (tests), the token is checked here.
        """
        from serving.corrections import CorrectionConflict, CorrectionsUnavailable
        from serving.dossier.build import NotReproducibleError

        admitted = ctx.request.scope.get(ADMITTED)
        request_id = admitted.request_id if isinstance(admitted, Admitted) else new_request_id()
        ctx.response.headers["X-Request-ID"] = request_id
        try:
            if isinstance(admitted, Admitted):
                principal = admitted.principal
            else:
                principal = authorize(
                    self.engine.tokens, ctx.request.headers.get("authorization"), endpoint
                )
            produced = work(principal, request_id)
            result = produced if body is None else body.model_validate(produced)
            if endpoint in AUDITOR_READS:
                self._record_read(ctx, principal, endpoint, request_id)
            return result
        except AuthError as exc:
            return _error(ctx, exc.status, exc.message, request_id, "auth")
        except RequestError as exc:
            return _error(ctx, 400, str(exc), request_id, "request refused by the engine")
        except UnknownScoreError as exc:
            return _error(ctx, 404, str(exc), request_id, "unknown score_id")
        except UnknownFamilyError as exc:
            return _error(ctx, 404, str(exc), request_id, "unknown family")
        except NotReproducibleError as exc:
            return _error(ctx, 409, str(exc), request_id, "dossier not reproducible")
        except CorrectionConflict as exc:  # issue 23: a second open correction, say
            return _error(ctx, 409, str(exc), request_id, "conflict")
        except CorrectionsUnavailable as exc:  # started without its raw registry
            return _error(ctx, 503, str(exc), request_id, "corrections unavailable")
        except AuditLogUnavailable:
            logger.exception("audit log unavailable (request %s)", request_id)
            return _error(ctx, 503, AUDIT_UNAVAILABLE_MESSAGE, request_id)
        except SecurityLogUnavailable as exc:
            logger.error("security log unavailable (request %s): %s", request_id, exc)
            return _error(ctx, 503, SECURITY_LOG_UNAVAILABLE_MESSAGE, request_id)
        except Exception:
            logger.exception("unexpected error (request %s)", request_id)
            return _error(ctx, 500, INTERNAL_ERROR_MESSAGE, request_id)

    def _record_read(
        self, ctx: bentoml.Context, principal: Principal, endpoint: str, request_id: str
    ) -> None:
        """Put an auditor's read on record before it is answered (raises when it cannot).

        The detail is the read's parameters (which page, which kind), never what it returned.
        """
        admitted = ctx.request.scope.get(ADMITTED)
        params = (
            admitted.body.model_dump_json()
            if isinstance(admitted, Admitted) and admitted.body is not None
            else None
        )
        self.security_log.record(
            SecurityRecord(
                "auditor_read", request_id, endpoint, principal.token_id, self._client(ctx), params
            )
        )

    def _client(self, ctx: bentoml.Context) -> str:
        """The caller's address as the gate counts it (X-Forwarded-For from our proxies)."""
        return client_address(ctx.request.scope, self.engine.settings.trusted_proxies)

    def _record_refusal(
        self,
        ctx: bentoml.Context,
        event: SecurityEvent,
        principal: Principal,
        endpoint: str,
        request_id: str,
        detail: str,
    ) -> None:
        """Put a refusal the engine made on the security log (the refusal stands when the
        log cannot be written; that is logged)."""
        try:
            self.security_log.record(
                SecurityRecord(
                    event, request_id, endpoint, principal.token_id, self._client(ctx), detail
                )
            )
        except SecurityLogUnavailable as exc:
            logger.error("request %s: security event not recorded: %s", request_id, exc)

    @bentoml.api(route="/score")
    def score(
        self,
        family_ids: list[str],
        as_of: date | None = None,
        lang: str | None = None,
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
        indicators: dict[str, float | None],
        lang: str | None = None,
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

    @bentoml.api(route="/family")
    def family(
        self,
        family_id: str,
        as_of: date | None = None,
        lang: str | None = None,
        *,
        ctx: bentoml.Context,
    ) -> FamilyResponse:
        """One family's indicators with their records, its scores and the decisions on them
        (caseworker, admin). The view is on the audit log before it is answered."""

        from serving.casework_http import family_case

        def work(principal: Principal, request_id: str) -> Any:
            language = negotiate(lang, ctx.request.headers.get("accept-language"))
            view = self.engine.family(
                family_id,
                as_of=as_of,
                principal=principal,
                request_id=request_id,
                lang=language,
            )
            return {"request_id": request_id, **view, "case": family_case(self.engine, view)}

        return self._handle(ctx, "family", FamilyResponse, work)

    @bentoml.api(route="/feedback")
    def feedback(
        self,
        score_id: str,
        decision: Decision,
        reason: str,
        follow_up: date | None = None,
        *,
        ctx: bentoml.Context,
    ) -> FeedbackResponse:
        """Record the caseworker's decision on a served score (caseworker, admin).

        The token id of the caller is recorded with it; a later decision on the same score
        supersedes this one (both stay in the log, the latest is marked current).
        """

        def work(principal: Principal, request_id: str) -> Any:
            text = reason.strip()
            if not text:
                raise RequestError("reason", "must not be blank")
            try:
                superseded = self.engine.feedback(
                    score_id=score_id,
                    decision=decision,
                    reason=text,
                    principal=principal,
                    request_id=request_id,
                    follow_up=follow_up,
                )
            except OutOfScopeScoreError:
                self._record_refusal(
                    ctx,
                    "forbidden",
                    principal,
                    "feedback",
                    request_id,
                    "feedback on a score outside the token's regions",
                )
                raise
            return {
                "request_id": request_id,
                "score_id": score_id,
                "decision": decision,
                "supersedes_seq": None if superseded is None else superseded["seq"],
                "supersedes": superseded,
            }

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
        after_seq: int = 0,
        limit: int = 100,
        kind: str | None = None,
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

    @bentoml.api(route="/security_log")
    def security_log_page(
        self,
        after_seq: int = 0,
        limit: int = 100,
        event: str | None = None,
        *,
        ctx: bentoml.Context,
    ) -> SecurityLogPage:
        """A page of the security log: refused attempts and auditor reads (auditor, admin)."""

        def work(_principal: Principal, _request_id: str) -> Any:
            limit_ = min(limit, self.engine.settings.audit_page_limit)
            entries = self.security_log.page(after_seq=after_seq, limit=limit_, event=event)  # type: ignore[arg-type]
            next_after = entries[-1]["seq"] if len(entries) == limit_ else None
            return {"entries": entries, "next_after_seq": next_after}

        return self._handle(ctx, "security_log", SecurityLogPage, work)

    @bentoml.api(route="/served_stats")
    def served_stats(
        self,
        since: date,
        until: date,
        as_of: date | None = None,
        *,
        ctx: bentoml.Context,
    ) -> ServedStatsResponse:
        """Aggregate statistics of what was scored, for `earlyrisk monitor --served-stats`:
        bin counts of each model input and of the score, selection at capacity and audit-group
        cells, per model version and month; no family id or value (auditor, admin)."""
        return self._handle(
            ctx,
            "served_stats",
            ServedStatsResponse,
            lambda _p, _r: self.engine.served_stats_document(since=since, until=until, as_of=as_of),
        )

    @bentoml.api(route="/worklist")
    def worklist(
        self,
        region: str | None = None,
        level: Level = "high",
        status: Status | None = None,
        page: int = 1,
        page_size: int | None = None,
        lang: str | None = None,
        *,
        ctx: bentoml.Context,
    ) -> WorklistResponse:
        """The caseworker's worklist (caseworker, admin): the flagged families of the latest
        snapshot in the token's regions, with status and decision in force (one request)."""
        from serving.casework_http import worklist_json
        from serving.worklist import WorklistQuery

        def work(principal: Principal, request_id: str) -> Any:
            return {
                "request_id": request_id,
                **worklist_json(
                    self.engine,
                    principal,
                    WorklistQuery(
                        region=region,
                        level=level,
                        status=status,
                        page=page,
                        page_size=page_size or self.engine.settings.worklist_page_size,
                    ),
                    lang=negotiate(lang, ctx.request.headers.get("accept-language")),
                ),
            }

        return self._handle(ctx, "worklist", WorklistResponse, work)

    # ---- issue 23 (dossier lane): the explanation record a family can read
    @bentoml.api(route="/dossier")
    def dossier(
        self,
        family_id: str,
        as_of: date | None = None,
        score_id: str | None = None,
        lang: str | None = None,
        format: Literal["html", "pdf"] = "html",
        *,
        ctx: bentoml.Context,
    ) -> Any:
        """A family's explanation record as HTML or PDF (caseworker within its regions,
        auditor, admin); logged as a ``dossier`` entry before it is returned. A family or
        score outside the token's regions: 404 like an unknown one (and a security event);
        a score that no longer re-derives bit for bit: 409."""
        from serving.dossier.http import dossier_work

        def refused(principal: Principal, request_id: str) -> None:
            self._record_refusal(
                ctx,
                "forbidden",
                principal,
                "dossier",
                request_id,
                "dossier of a family outside the token's regions",
            )

        work = dossier_work(
            self.dossier_desk,
            family_id=family_id,
            as_of=as_of,
            score_id=score_id,
            lang=negotiate(lang, ctx.request.headers.get("accept-language")),
            fmt=format,
            refused=refused,
        )
        return self._handle(ctx, "dossier", None, work)

    # ---- issue 23: contest and correct (serving.correction_api does the work)
    @bentoml.api(route="/correction")
    def correction(
        self,
        op: str,
        family_id: str | None = None,
        record_table: str | None = None,
        record_id: str | None = None,
        action: str | None = None,
        field: str | None = None,
        new_value: str | float | None = None,
        document_ref: str | None = None,
        correction_id: str | None = None,
        decision: str | None = None,
        status: str | None = None,
        *,
        ctx: bentoml.Context,
    ) -> CorrectionResponse:
        """File a correction of a family's record (caseworker, within its regions), decide
        it (registry officer: the family is re-scored, both scores logged, the diff
        returned) or list them."""
        body = {
            "op": op,
            "family_id": family_id,
            "record_table": record_table,
            "record_id": record_id,
            "action": action,
            "field": field,
            "new_value": new_value,
            "document_ref": document_ref,
            "correction_id": correction_id,
            "decision": decision,
            "status": status,
        }

        def work(principal: Principal, request_id: str) -> Any:
            if self._corrections is None:
                from serving.correction_api import CorrectionEndpoint

                self._corrections = CorrectionEndpoint(self.engine)
            answer = self._corrections.handle(body, principal, request_id)
            return {"request_id": request_id, **answer}

        return self._handle(ctx, "correction", CorrectionResponse, work)


def _review_pages(app: Any, **options: Any) -> Any:
    """The /review middleware, imported when a worker builds its app (see the imports)."""
    from serving.review import ReviewPages

    return ReviewPages(app, **options)


# The decorator returns a bentoml Service; its type stubs present the class itself.
cast(Any, EarlyRiskScoring).add_asgi_middleware(RequestGate, facts=served_facts)
# /review (HTML, cookie sessions): the gate passes its paths on to this middleware
cast(Any, EarlyRiskScoring).add_asgi_middleware(
    _review_pages, engine=served_engine, security_log=served_security_log
)
