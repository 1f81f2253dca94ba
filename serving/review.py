"""The caseworker review page ``/review``: server-rendered HTML in front of the engine.

A caseworker signs in with a token, finds a family, reads its estimate, band, reasons,
context, indicators with their records and history, and records a decision. The page is
plain HTML and one stylesheet served here: no script, nothing loaded from elsewhere (its
Content-Security-Policy allows this origin's stylesheet only), so it works offline and
with a keyboard and a screen reader (landmarks, labels, a skip link, visible focus).

Sessions and forms:

* Sign-in checks the token like the API does (:func:`serving.auth.authorize` for the
  ``family`` endpoint: expired, revoked and non-caseworker tokens are refused). It then
  creates a server-side session (:mod:`serving.store.review_sessions`) with its own random
  id, bound to the token's id; the cookie ``earlyrisk_review`` holds that id, never the
  token: ``HttpOnly`` (no script can read it), ``SameSite=Strict`` (no other site's page
  sends it), ``Path=/review``, ``Secure`` behind TLS (ours, or a trusted proxy's). On every
  request the session must be live (not signed out, used within
  ``EARLYRISK_REVIEW_SESSION_IDLE_MINUTES``) and its token too (not revoked, not expired):
  sign-out, idleness and revoking the token each end it, on every replica (the sessions
  are in the shared database when there is one).
* Every form is CSRF-protected: a signed-in form carries an HMAC of the session id (no
  more server state, so any worker checks it); the sign-in form carries a random value that
  must match its own ``SameSite=Strict`` cookie. A POST without the right value is refused.
* Refusals are throttled and recorded like the API's: a failed sign-in, a form without its
  CSRF value and a session cookie that is not (or no longer) a live session each go to the
  security log (with a request id, also sent as ``X-Request-ID``) and count against the
  caller's address; while an address is over the limit its sign-ins and cookies are
  refused (429) unchecked, but a valid token or a live session from it never is.
* Every family shown is scored (a ``score`` entry, endpoint ``review``) and viewed (a
  ``view`` entry) on the audit log before the page is sent; a decision is a ``feedback``
  entry on that score, only on a score of the caseworker's regions (else refused as an
  unknown score, and recorded), and the page names the decision it superseded (who, when).
  When the log cannot be written the page says so and shows nothing.
* Family views count against the token's families-per-minute quota (a refusal is
  recorded once a minute); region-scoped tokens see only their regions' families (others
  read as not found).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from serving.auth import AuthError, Principal, authorize, check_role, claimed_token_id
from serving.client_address import client_address, forwarded_https
from serving.engine import (
    OutOfScopeScoreError,
    RequestError,
    ServingEngine,
    StaleDecisionError,
    UnknownFamilyError,
    UnknownScoreError,
    new_request_id,
)
from serving.holdout import withheld_result
from serving.i18n import (
    LANGUAGE_CODES,
    Language,
    decision_name,
    format_contribution,
    level_name,
    locale_format,
    negotiate,
)
from serving.i18n.page import PAGE, page_text
from serving.i18n.worklist_words import status_name, worklist_text
from serving.limits import SlidingWindow, retry_after
from serving.needs_view import needs_page
from serving.schemas import TEXT_PATTERN
from serving.service_time import local_time, today, zone_label
from serving.settings import ServingSettings
from serving.store.audit_log import AuditLogUnavailable
from serving.store.review_sessions import ReviewSessionStore
from serving.store.security_log import (
    SecurityEvent,
    SecurityLog,
    SecurityLogUnavailable,
    SecurityRecord,
)
from serving.store.stores import open_stores
from serving.support_catalogue import load_support_catalogue
from serving.worklist import LEVELS, STATUSES, WorklistQuery

logger = logging.getLogger("earlyrisk.serving")

SESSION_COOKIE = "earlyrisk_review"
SIGNIN_COOKIE = "earlyrisk_review_signin"
PREFIX = "/review"
TEMPLATES = Path(__file__).parent / "templates"
DECISIONS = ("support_offered", "no_action", "referred", "disagree")
LANGUAGE_NAMES = (("en", "English"), ("ru", "Русский"), ("kk", "Қазақша"))
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
_TEMPLATE = _ENV.get_template("review.html.j2")
_TEXT = re.compile(TEXT_PATTERN)
_FORM_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: Scope key of the request id a /review answer carries (X-Request-ID, security log).
REQUEST_ID = "earlyrisk.review_request_id"


def csrf_for(session_id: str) -> str:
    """The CSRF value of a session: an HMAC keyed by its id (no more state, per session)."""
    key = hashlib.sha256(session_id.encode()).digest()
    return hmac.new(key, b"earlyrisk-review-csrf", hashlib.sha256).hexdigest()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ReviewPages:
    """ASGI middleware serving ``/review`` and passing every other path on."""

    def __init__(
        self,
        app: Any,
        *,
        engine: Callable[[], ServingEngine | None],
        settings: ServingSettings | None = None,
        security_log: Callable[[], SecurityLog | None] = lambda: None,
        sessions: ReviewSessionStore | None = None,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.engine = engine
        self.settings = settings if settings is not None else ServingSettings()
        self.security_log = security_log
        if sessions is None:  # opened where every store is: serving.store.stores
            opened = open_stores(
                self.settings, tokens=False, security_log=False, review_sessions=True
            ).review_sessions
            assert opened is not None  # asked for above
            sessions = opened
        self.sessions: ReviewSessionStore = sessions
        self.idle = timedelta(minutes=self.settings.review_session_idle_minutes)
        # checked at start: a bad catalogue stops the service, naming its field
        self.support = load_support_catalogue(self.settings.support_catalogue_path)
        self.clock = clock
        self.quota = SlidingWindow(
            limit=self.settings.quota_families_per_minute, window_s=60, clock=monotonic
        )
        self.failures = SlidingWindow(
            limit=self.settings.auth_failure_limit,
            window_s=self.settings.auth_failure_window_s,
            clock=monotonic,
        )
        self._monotonic = monotonic
        self._quota_recorded: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        scope[REQUEST_ID] = new_request_id()
        request = Request(scope, receive)
        try:
            response = await self._route(request, path)
        except AuditLogUnavailable as exc:  # the sessions' or tokens' database is away
            logger.error("request %s: review store unavailable: %s", scope[REQUEST_ID], exc)
            response = self._render(
                request,
                lang=self._lang(request),
                status=503,
                messages=[(page_text("unavailable", self._lang(request)), "error")],
            )
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers["X-Request-ID"] = scope[REQUEST_ID]
        await response(scope, receive, send)

    async def _route(self, request: Request, path: str) -> Response:
        method = request.method
        if path == f"{PREFIX}/static/review.css" and method == "GET":
            css = (TEMPLATES / "review.css").read_text(encoding="utf-8")
            return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=300"})
        if path in (PREFIX, PREFIX + "/") and method == "GET":
            return await run_in_threadpool(self._page, request)
        if method == "POST" and path in (
            f"{PREFIX}/signin",
            f"{PREFIX}/decision",
            f"{PREFIX}/signout",
        ):
            form = await request.form(max_files=0, max_fields=14, max_part_size=4096)
            if path.endswith("/signin"):
                return await run_in_threadpool(self._signin, request, form)
            if path.endswith("/signout"):
                return await run_in_threadpool(self._signout, request, form)
            return await run_in_threadpool(self._decision, request, form)
        return HTMLResponse("Not found.", status_code=404 if method == "GET" else 405)

    # ---- helpers
    def _lang(self, request: Request, given: object = None) -> Language:
        chosen = given if isinstance(given, str) else request.query_params.get("lang")
        return negotiate(chosen, request.headers.get("accept-language"))

    def _address(self, request: Request) -> str:
        return client_address(request.scope, self.settings.trusted_proxies)

    def _session(self, request: Request) -> tuple[Principal, str] | Response | None:
        """The signed-in caseworker and the session id; None without a session cookie; the
        refusal page for a cookie that is not a live session of a live token (recorded,
        counted against the address, the cookie cleared)."""
        session_id = request.cookies.get(SESSION_COOKIE)
        engine = self.engine()
        if not session_id or engine is None:
            return None
        lang = self._lang(request)
        token_id = self.sessions.token_of(session_id, now=self.clock(), idle=self.idle)
        principal = engine.tokens.live_principal(token_id) if token_id else None
        if principal is None and self.failures.blocked_for(self._address(request)) > 0:
            # over the limit: a live session still opens, anything else waits, unrecorded
            throttled = self._throttled(request, lang)
            throttled.delete_cookie(SESSION_COOKIE, path=PREFIX)
            return throttled
        if principal is not None:
            try:
                return check_role(principal, "family"), session_id
            except AuthError:
                principal = None
        if token_id is not None:  # the session was live but its token is not: end it
            self.sessions.end(session_id, now=self.clock(), why="token revoked or expired")
        self._refused(
            request,
            "unauthenticated",
            token_id,
            "review session cookie that is not a live session (unknown, signed out, idle, "
            "or its token revoked or expired)",
        )
        response = self._signin_page(
            request, lang, status=401, message=page_text("session_ended", lang)
        )
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    def _throttled(self, request: Request, lang: Language) -> Response:
        """The 429 page of an address over the failure limit (its block start is recorded)."""
        wait = self.failures.blocked_for(self._address(request))
        response = self._signin_page(
            request, lang, status=429, message=page_text("throttled", lang)
        )
        response.headers["Retry-After"] = retry_after(wait)
        return response

    def _refused(
        self, request: Request, event: SecurityEvent, token_id: str | None, detail: str
    ) -> None:
        """Record a refusal and count it against the caller's address (a throttle's start
        is one more event)."""
        address = self._address(request)
        self._record(request, event, token_id, detail)
        if self.failures.add(address) == self.failures.limit:
            self._record(
                request,
                "throttled",
                token_id,
                f"address {address} reached {self.failures.limit} failures in "
                f"{self.failures.window_s:g} s on the review page",
            )

    def _record(
        self, request: Request, event: SecurityEvent, token_id: str | None, detail: str
    ) -> None:
        """Write a security event with this answer's request id (the service's security
        log, so the shared database's when there is one); a failure to write is logged and
        the refusal stands."""
        request_id = str(request.scope.get(REQUEST_ID) or new_request_id())
        log = self.security_log()
        record = SecurityRecord(
            event, request_id, "review", token_id, self._address(request), detail
        )
        if log is None:
            logger.error("request %s: security event not recorded: service not loaded", request_id)
            return
        try:
            log.record(record)
        except SecurityLogUnavailable as exc:
            logger.error("request %s: security event not recorded: %s", request_id, exc)

    def _render(
        self,
        request: Request,
        *,
        lang: Language,
        status: int = 200,
        signed_in: bool = False,
        csrf: str = "",
        messages: list[tuple[str, str]] | None = None,
        family_id: str | None = None,
        view: dict[str, Any] | None = None,
        score: dict[str, Any] | None = None,
        worklist: dict[str, Any] | None = None,
        case: dict[str, Any] | None = None,
    ) -> HTMLResponse:
        tz = self.settings.time_zone

        def t(key: str) -> str:
            return page_text(key, lang) if key in PAGE else worklist_text(key, lang)

        def lang_url(code: str) -> str:
            query = {"lang": code, **({"family_id": family_id} if family_id else {})}
            return f"{PREFIX}?{urlencode(query)}"

        def worklist_url(**changes: Any) -> str:
            filters = dict(worklist["filters"]) if worklist else {}
            filters.update(page=worklist["page"] if worklist else 1)
            filters.update(changes)
            query = {"lang": lang, **{k: v for k, v in filters.items() if v not in (None, "")}}
            return f"{PREFIX}?{urlencode(query)}"

        def record_line(record: dict[str, Any]) -> str:
            return t("record_line").format(**record)

        band = needs = None
        if score is not None and score.get("status") == "scored" and view is not None:
            # an expired score has no band: its level is not shown (serving.expiry)
            band = next((b for b in score["risk_bands"] if b["level"] == score["risk_level"]), None)
            needs = needs_page(
                view, score, lang=lang, catalogue=self.support, one_item_per_record_type=True
            )
        html = _TEMPLATE.render(
            lang=lang,
            t=t,
            languages=LANGUAGE_NAMES,
            lang_url=lang_url,
            signed_in=signed_in,
            csrf=csrf,
            messages=messages or [],
            family_id=family_id,
            view=view,
            score=score,
            band=band,
            decisions=DECISIONS,
            decision_name=lambda code: decision_name(code, lang),
            record_line=record_line,
            needs=needs,
            percent=lambda p: "—" if p is None else locale_format.percent(float(p), lang),
            number=lambda x: locale_format.number(float(x), lang),
            day=lambda d: locale_format.day(str(d), lang),
            contribution=lambda c: format_contribution(c, lang),
            max_id=self.settings.max_id_length,
            max_reason=self.settings.max_reason_length,
            worklist=worklist,
            case=case,
            form_token=secrets.token_urlsafe(24),
            today=today(tz).isoformat(),
            zone_label=zone_label(tz, lang),
            when=lambda stored: local_time(str(stored), tz, lang),
            levels=LEVELS,
            statuses=STATUSES,
            level_label=lambda code: level_name(code, lang),
            status_label=lambda code: status_name(code, lang),
            worklist_url=worklist_url,
            family_url=lambda fid: f"{PREFIX}?{urlencode({'lang': lang, 'family_id': fid})}",
            worklist_home=f"{PREFIX}?{urlencode({'lang': lang})}",
        )
        return HTMLResponse(html, status_code=status)

    def _signin_page(
        self, request: Request, lang: Language, *, status: int = 200, message: str | None = None
    ) -> HTMLResponse:
        value = secrets.token_urlsafe(32)
        response = self._render(
            request,
            lang=lang,
            status=status,
            csrf=value,
            messages=[(message, "error")] if message else [],
        )
        response.set_cookie(
            SIGNIN_COOKIE,
            value,
            httponly=True,
            samesite="strict",
            path=PREFIX,
            secure=self._secure(request),
        )
        return response

    def _secure(self, request: Request) -> bool:
        """Whether the page reached us over TLS (then its cookies are ``Secure``)."""
        return forwarded_https(request.scope, self.settings.trusted_proxies)

    # ---- pages
    def _page(self, request: Request) -> Response:
        lang = self._lang(request)
        found = self._session(request)
        if found is None:
            return self._signin_page(request, lang)
        if isinstance(found, Response):
            return found
        principal, session_id = found
        csrf = csrf_for(session_id)
        family_id = (request.query_params.get("family_id") or "").strip()
        messages: list[tuple[str, str]] = []
        if request.query_params.get("recorded") == "1":
            messages.append((page_text("recorded", lang), "ok"))
        if request.query_params.get("already") == "1":
            messages.append((worklist_text("already_recorded", lang), "ok"))
        if not family_id:
            return self._worklist_page(request, principal, csrf, lang, messages)
        supersedes = request.query_params.get("supersedes", "")
        return self._family_page(
            request,
            principal,
            csrf,
            family_id,
            lang,
            messages,
            supersedes=int(supersedes) if supersedes.isdigit() else None,
        )

    def _family_page(
        self,
        request: Request,
        principal: Principal,
        csrf: str,
        family_id: str,
        lang: Language,
        messages: list[tuple[str, str]],
        *,
        status: int = 200,
        supersedes: int | None = None,
    ) -> HTMLResponse:
        engine = self.engine()
        assert engine is not None  # a principal implies a loaded engine
        common: dict[str, Any] = {"lang": lang, "signed_in": True, "csrf": csrf}
        if len(family_id) > self.settings.max_id_length:
            return self._render(
                request,
                **common,
                status=404,
                family_id=None,
                messages=[(page_text("not_found", lang), "error")],
            )
        if self.quota.admit(principal.token_id, 1) > 0:
            self._record_quota(request, principal.token_id)
            return self._render(
                request,
                **common,
                status=429,
                family_id=family_id,
                messages=[(page_text("too_many", lang), "error")],
            )
        request_id = new_request_id()
        try:
            view = engine.family(
                family_id,
                as_of=None,
                principal=principal,
                request_id=request_id,
                lang=lang,
                endpoint="review",
                with_history=False,  # read once, below, with the score just served
            )
            case = None
            if engine.casework is None:
                [score] = engine.score(
                    [family_id],
                    as_of=view["as_of"],
                    principal=principal,
                    request_id=request_id,
                    lang=lang,
                    endpoint="review",
                )
            else:  # the case's one score: the first view scores, later views reuse it
                score, opened = engine.casework.family_score(
                    family_id,
                    day=view["as_of"],
                    principal=principal,
                    request_id=request_id,
                    lang=lang,
                    endpoint="review",
                )
                if opened is not None:
                    engine.casework.viewed(family_id, day=view["as_of"])
                    stored = engine.casework.case_of(family_id, day=view["as_of"])
                    case = None if stored is None else engine.casework.case_json(stored, lang)
                if score.get("status") == "scored" and engine.withheld(
                    family_id, as_of=view["as_of"]
                ):  # the display hold-out: the case's score stays on record, unshown
                    score = withheld_result(score, lang)
            view["history"] = engine.family_history(family_id, lang, as_of=view["as_of"])
            if supersedes is not None:
                messages = messages + self._superseded(view["history"], supersedes, lang)
        except UnknownFamilyError:
            return self._render(
                request,
                **common,
                status=404,
                family_id=family_id,
                messages=[(page_text("not_found", lang), "error")],
            )
        except AuditLogUnavailable:
            return self._render(
                request,
                **common,
                status=503,
                family_id=family_id,
                messages=[(page_text("unavailable", lang), "error")],
            )
        return self._render(
            request,
            **common,
            status=status,
            family_id=family_id,
            view=view,
            score=score,
            case=case,
            messages=messages,
        )

    def _worklist_page(
        self,
        request: Request,
        principal: Principal,
        csrf: str,
        lang: Language,
        messages: list[tuple[str, str]],
    ) -> HTMLResponse:
        """The caseworker's worklist (filters and page from the query; a bad one is 400
        naming the field and the allowed values)."""
        engine = self.engine()
        assert engine is not None  # a principal implies a loaded engine
        common: dict[str, Any] = {"lang": lang, "signed_in": True, "csrf": csrf}
        if engine.casework is None:
            return self._render(request, **common, messages=messages)
        params = request.query_params
        page_text_ = params.get("page") or "1"
        try:
            if not page_text_.isdigit():
                raise RequestError(
                    "page", f"{page_text_!r} is not a page number; allowed: 1 or more"
                )
            query = WorklistQuery(
                region=params.get("region") or None,
                level=params.get("level") or "high",
                status=params.get("status") or None,
                page=int(page_text_),
                page_size=self.settings.worklist_page_size,
            )
            worklist = engine.casework.worklist(principal, query, lang=lang)
        except RequestError as exc:
            text = worklist_text("bad_filter", lang).format(detail=str(exc))
            return self._render(request, **common, status=400, messages=[(text, "error")])
        except AuditLogUnavailable:
            return self._render(
                request, **common, status=503, messages=[(page_text("unavailable", lang), "error")]
            )
        return self._render(request, **common, messages=messages, worklist=worklist)

    def _superseded(
        self, history: list[dict[str, Any]], seq: int, lang: Language
    ) -> list[tuple[str, str]]:
        """The line naming the decision a new one superseded (who, when), from the history."""
        for item in history:
            for decision in item["decisions"]:
                if decision["seq"] == seq:
                    text = page_text("supersedes", lang).format(
                        decision=decision["decision_name"],
                        token_id=decision["token_id"],
                        recorded_at=local_time(
                            str(decision["recorded_at"]), self.settings.time_zone, lang
                        ),
                    )
                    return [(text, "ok")]
        return []

    def _record_quota(self, request: Request, token_id: str) -> None:
        """One quota_exceeded event per token and minute (a loop over 429s adds no rows)."""
        now = self._monotonic()
        last = self._quota_recorded.get(token_id)
        if last is not None and now - last < 60:
            return
        self._quota_recorded[token_id] = now
        self._record(request, "quota_exceeded", token_id, "review: families per minute")

    def _signin(self, request: Request, form: FormData) -> Response:
        lang = self._lang(request, form.get("lang"))
        token = form.get("token")
        engine = self.engine()
        token_text = token.strip() if isinstance(token, str) else ""
        claimed = claimed_token_id(f"Bearer {token_text}")
        blocked = self.failures.blocked_for(self._address(request)) > 0
        sent = form.get("csrf")
        expected = request.cookies.get(SIGNIN_COOKIE)
        if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
            if blocked:
                return self._throttled(request, lang)
            self._refused(request, "forbidden", None, "review sign-in form without its CSRF value")
            return self._signin_page(
                request, lang, status=403, message=page_text("form_refused", lang)
            )
        try:
            if engine is None:
                raise AuthError(401, "the service is starting")
            principal = authorize(engine.tokens, f"Bearer {token_text}", "family")
        except AuthError as exc:
            if blocked:  # a valid token is let in below; anything else waits unchecked
                return self._throttled(request, lang)
            event: SecurityEvent = "unauthenticated" if exc.status == 401 else "forbidden"
            self._refused(request, event, claimed, "review sign-in")
            return self._signin_page(
                request, lang, status=exc.status, message=page_text("signin_refused", lang)
            )
        session_id = self.sessions.create(principal.token_id, now=self.clock())
        response = RedirectResponse(f"{PREFIX}?{urlencode({'lang': lang})}", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            httponly=True,
            samesite="strict",
            path=PREFIX,
            secure=self._secure(request),
        )
        response.delete_cookie(SIGNIN_COOKIE, path=PREFIX)
        return response

    def _checked(self, request: Request, form: FormData) -> tuple[Principal, str] | Response:
        """The principal and session id of a signed-in POST with its CSRF value, or the
        refusal page."""
        lang = self._lang(request, form.get("lang"))
        found = self._session(request)
        if found is None:
            self._refused(request, "unauthenticated", None, "review form without a session")
            return self._signin_page(request, lang, status=401)
        if isinstance(found, Response):
            return found
        principal, session_id = found
        sent = form.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_for(session_id)):
            self._refused(request, "forbidden", principal.token_id, "review form without CSRF")
            return self._render(
                request,
                lang=lang,
                status=403,
                signed_in=True,
                csrf=csrf_for(session_id),
                messages=[(page_text("form_refused", lang), "error")],
            )
        return principal, session_id

    def _signout(self, request: Request, form: FormData) -> Response:
        checked = self._checked(request, form)
        if isinstance(checked, Response):
            return checked
        _, session_id = checked
        self.sessions.end(session_id, now=self.clock(), why="signed out")
        lang = self._lang(request, form.get("lang"))
        response = RedirectResponse(f"{PREFIX}?{urlencode({'lang': lang})}", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    def _decision(self, request: Request, form: FormData) -> Response:
        """Record a decision: once per form (its token), on the case's score, naming the
        decision in force it replaces (a stale form is refused), with a follow-up date that
        is not in the past."""
        checked = self._checked(request, form)
        if isinstance(checked, Response):
            return checked
        principal, session_id = checked
        lang = self._lang(request, form.get("lang"))
        engine = self.engine()
        assert engine is not None
        family_id = str(form.get("family_id") or "")
        score_id = str(form.get("score_id") or "")
        decision = str(form.get("decision") or "")
        reason = str(form.get("reason") or "").strip()
        form_token = str(form.get("form_token") or "")
        in_force_text = str(form.get("in_force") or "").strip()
        follow_text = str(form.get("follow_up") or "").strip()
        if decision not in DECISIONS or not score_id:
            return HTMLResponse(
                f"Bad request: decision must be one of {', '.join(DECISIONS)}, with a score_id.",
                status_code=400,
            )
        if form_token and not _FORM_TOKEN.match(form_token):
            return HTMLResponse(
                "Bad request: form_token must be the form's own value (16-64 letters, digits, "
                "- or _).",
                status_code=400,
            )

        def again(message: str, status: int) -> HTMLResponse:
            return self._family_page(
                request,
                principal,
                csrf_for(session_id),
                family_id,
                lang,
                [(message, "error")],
                status=status,
            )

        if not reason or len(reason) > self.settings.max_reason_length or not _TEXT.match(reason):
            return again(page_text("reason_required", lang), 400)
        follow_up = None
        past = worklist_text("follow_up_past", lang).format(
            today=locale_format.day(today(self.settings.time_zone), lang)
        )
        if follow_text:
            try:
                follow_up = date.fromisoformat(follow_text)
            except ValueError:
                return again(past, 400)
            if follow_up < today(self.settings.time_zone):
                return again(past, 400)
        not_this_family = HTMLResponse(
            "Bad request: the score is not this family's.", status_code=400
        )
        entry = engine.audit_log.score_entry(score_id)
        if entry is None or entry["family_id"] != family_id:
            return not_this_family
        casework = engine.casework
        claimed = bool(form_token) and casework is not None
        if claimed and casework is not None and not casework.claim_form(form_token):
            # the same form again (a double click, a resent POST): recorded once, already
            query = {"lang": lang, "family_id": family_id, "already": "1"}
            return RedirectResponse(f"{PREFIX}?{urlencode(query)}", status_code=303)
        try:
            superseded = engine.feedback(
                score_id=score_id,
                decision=decision,
                reason=reason,
                principal=principal,
                request_id=str(request.scope[REQUEST_ID]),
                follow_up=follow_up,
                # the decision in force the form was read with (a form without the field,
                # from an older page, is not checked)
                in_force=(int(in_force_text) if in_force_text.isdigit() else None)
                if "in_force" in form
                else ...,
                form_token=form_token if claimed else None,
            )
        except BaseException as exc:
            if claimed and casework is not None:
                casework.release_form(form_token)  # nothing recorded: the form may be sent again
            if isinstance(exc, StaleDecisionError):
                return again(worklist_text("decision_stale", lang), 409)
            if isinstance(exc, OutOfScopeScoreError):
                # answered like a score of another family, and recorded
                self._record(
                    request,
                    "forbidden",
                    principal.token_id,
                    "review decision on a score outside the token's regions",
                )
                return not_this_family
            if isinstance(exc, UnknownScoreError):
                return not_this_family
            if isinstance(exc, RequestError) and exc.field == "follow_up":
                return again(past, 400)
            if isinstance(exc, AuditLogUnavailable | RequestError):
                return self._render(
                    request,
                    lang=lang,
                    status=503,
                    signed_in=True,
                    csrf=csrf_for(session_id),
                    messages=[(page_text("unavailable", lang), "error")],
                )
            raise
        query = {"lang": lang, "family_id": family_id, "recorded": "1"}
        if superseded is not None:
            query["supersedes"] = str(superseded["seq"])
        return RedirectResponse(f"{PREFIX}?{urlencode(query)}", status_code=303)


__all__ = ["LANGUAGE_CODES", "ReviewPages", "csrf_for"]
