"""The caseworker review page ``/review``: server-rendered HTML in front of the engine.

A caseworker signs in with a token, finds a family, reads its estimate, band, reasons,
context, indicators with their records and history, and records a decision. The page is
plain HTML and one stylesheet served here: no script, nothing loaded from elsewhere (its
Content-Security-Policy allows this origin's stylesheet only), so it works offline and
with a keyboard and a screen reader (landmarks, labels, a skip link, visible focus).

Sessions and forms:

* Sign-in checks the token like the API does (:func:`serving.auth.authorize` for the
  ``family`` endpoint: expired, revoked and non-caseworker tokens are refused and the
  refusal goes to the security log). The token is then kept in the ``earlyrisk_review``
  cookie: ``HttpOnly`` (no script can read it), ``SameSite=Strict`` (no other site's page
  sends it), ``Path=/review``, ``Secure`` behind TLS; it is verified again on every request,
  so revoking the token ends the session.
* Every form is CSRF-protected: a signed-in form carries an HMAC of the session token (no
  server state, so any worker checks it); the sign-in form carries a random value that must
  match its own ``SameSite=Strict`` cookie. A POST without the right value is refused (403).
* Every family shown is scored (a ``score`` entry, endpoint ``review``) and viewed (a
  ``view`` entry) on the audit log before the page is sent; a decision is a ``feedback``
  entry on that score. When the log cannot be written the page says so and shows nothing.
* Family views count against the token's families-per-minute quota; region-scoped tokens
  see only their regions' families (others read as not found).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from serving.audit_log import AuditLogUnavailable
from serving.auth import AuthError, Principal, authorize, claimed_token_id
from serving.engine import RequestError, ServingEngine, UnknownFamilyError, new_request_id
from serving.i18n import (
    LANGUAGE_CODES,
    Language,
    decision_name,
    format_contribution,
    negotiate,
)
from serving.i18n.page import page_text
from serving.limits import SlidingWindow
from serving.schemas import TEXT_PATTERN
from serving.settings import ServingSettings
from serving.store.security_log import SecurityLogUnavailable, SecurityRecord
from serving.store.stores import open_stores

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
_TEXT = __import__("re").compile(TEXT_PATTERN)


def csrf_for(token: str) -> str:
    """The CSRF value of a session: an HMAC keyed by the token (stateless, per session)."""
    key = hashlib.sha256(token.encode()).digest()
    return hmac.new(key, b"earlyrisk-review-csrf", hashlib.sha256).hexdigest()


class ReviewPages:
    """ASGI middleware serving ``/review`` and passing every other path on."""

    def __init__(
        self,
        app: Any,
        *,
        engine: Callable[[], ServingEngine | None],
        settings: ServingSettings | None = None,
    ) -> None:
        self.app = app
        self.engine = engine
        self.settings = settings if settings is not None else ServingSettings()
        self.quota = SlidingWindow(limit=self.settings.quota_families_per_minute, window_s=60)
        # open_stores: in PostgreSQL mode the refusals go to the shared database, not a file
        self.security_log = open_stores(self.settings, tokens=False).security_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self._route(request, path)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
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
            form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
            if path.endswith("/signin"):
                return await run_in_threadpool(self._signin, request, form)
            if path.endswith("/signout"):
                return self._signout(request, form)
            return await run_in_threadpool(self._decision, request, form)
        return HTMLResponse("Not found.", status_code=404 if method == "GET" else 405)

    # ---- helpers
    def _lang(self, request: Request, given: object = None) -> Language:
        chosen = given if isinstance(given, str) else request.query_params.get("lang")
        return negotiate(chosen, request.headers.get("accept-language"))

    def _principal(self, request: Request) -> tuple[Principal, str] | None:
        """The signed-in caseworker (token verified again now), or None."""
        engine = self.engine()
        token = request.cookies.get(SESSION_COOKIE)
        if engine is None or not token:
            return None
        try:
            return authorize(engine.tokens, f"Bearer {token}", "family"), token
        except AuthError:
            return None

    def _record(self, request: Request, event: str, token_id: str | None, detail: str) -> None:
        client = request.client.host if request.client else None
        try:
            self.security_log.record(
                SecurityRecord(event, new_request_id(), "review", token_id, client, detail)  # type: ignore[arg-type]
            )
        except SecurityLogUnavailable:
            return  # the refusal stands; the gate logs the same way

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
    ) -> HTMLResponse:
        def t(key: str) -> str:
            return page_text(key, lang)

        def lang_url(code: str) -> str:
            query = {"lang": code, **({"family_id": family_id} if family_id else {})}
            return f"{PREFIX}?{urlencode(query)}"

        def record_line(record: dict[str, Any]) -> str:
            return t("record_line").format(**record)

        band = None
        if score is not None and score.get("status") == "scored":
            band = next(b for b in score["risk_bands"] if b["level"] == score["risk_level"])
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
            percent=lambda p: "—" if p is None else f"{100 * float(p):.1f} %",
            contribution=lambda c: format_contribution(c, lang),
            max_id=self.settings.max_id_length,
            max_reason=self.settings.max_reason_length,
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
            secure=request.url.scheme == "https",
        )
        return response

    # ---- pages
    def _page(self, request: Request) -> Response:
        lang = self._lang(request)
        found = self._principal(request)
        if found is None:
            return self._signin_page(request, lang)
        principal, token = found
        csrf = csrf_for(token)
        family_id = (request.query_params.get("family_id") or "").strip()
        messages: list[tuple[str, str]] = []
        if request.query_params.get("recorded") == "1":
            messages.append((page_text("recorded", lang), "ok"))
        if not family_id:
            return self._render(request, lang=lang, signed_in=True, csrf=csrf, messages=messages)
        return self._family_page(request, principal, csrf, family_id, lang, messages)

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
            [score] = engine.score(
                [family_id],
                as_of=view["as_of"],
                principal=principal,
                request_id=request_id,
                lang=lang,
                endpoint="review",
            )
            # the score just served leads the history
            view["history"] = engine.family_history(family_id, lang)
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
            messages=messages,
        )

    def _signin(self, request: Request, form: FormData) -> Response:
        lang = self._lang(request, form.get("lang"))
        sent = form.get("csrf")
        expected = request.cookies.get(SIGNIN_COOKIE)
        if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
            self._record(request, "forbidden", None, "review sign-in form without its CSRF value")
            return self._signin_page(
                request, lang, status=403, message=page_text("form_refused", lang)
            )
        token = form.get("token")
        engine = self.engine()
        token_text = token.strip() if isinstance(token, str) else ""
        try:
            if engine is None:
                raise AuthError(401, "the service is starting")
            authorize(engine.tokens, f"Bearer {token_text}", "family")
        except AuthError as exc:
            event = "unauthenticated" if exc.status == 401 else "forbidden"
            self._record(request, event, claimed_token_id(f"Bearer {token_text}"), "review sign-in")
            return self._signin_page(
                request, lang, status=exc.status, message=page_text("signin_refused", lang)
            )
        response = RedirectResponse(f"{PREFIX}?{urlencode({'lang': lang})}", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token_text,
            httponly=True,
            samesite="strict",
            path=PREFIX,
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(SIGNIN_COOKIE, path=PREFIX)
        return response

    def _checked(self, request: Request, form: FormData) -> tuple[Principal, str] | Response:
        """The principal of a signed-in POST with its CSRF value, or the refusal page."""
        lang = self._lang(request, form.get("lang"))
        found = self._principal(request)
        if found is None:
            return self._signin_page(request, lang, status=401)
        principal, token = found
        sent = form.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_for(token)):
            self._record(request, "forbidden", principal.token_id, "review form without CSRF")
            return self._render(
                request,
                lang=lang,
                status=403,
                signed_in=True,
                csrf=csrf_for(token),
                messages=[(page_text("form_refused", lang), "error")],
            )
        return principal, token

    def _signout(self, request: Request, form: FormData) -> Response:
        checked = self._checked(request, form)
        if isinstance(checked, Response):
            return checked
        lang = self._lang(request, form.get("lang"))
        response = RedirectResponse(f"{PREFIX}?{urlencode({'lang': lang})}", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    def _decision(self, request: Request, form: FormData) -> Response:
        checked = self._checked(request, form)
        if isinstance(checked, Response):
            return checked
        principal, token = checked
        lang = self._lang(request, form.get("lang"))
        engine = self.engine()
        assert engine is not None
        family_id = str(form.get("family_id") or "")
        score_id = str(form.get("score_id") or "")
        decision = str(form.get("decision") or "")
        reason = str(form.get("reason") or "").strip()
        if decision not in DECISIONS or not score_id:
            return HTMLResponse("Bad request: unknown decision or score.", status_code=400)
        if not reason or len(reason) > self.settings.max_reason_length or not _TEXT.match(reason):
            return self._family_page(
                request,
                principal,
                csrf_for(token),
                family_id,
                lang,
                [(page_text("reason_required", lang), "error")],
                status=400,
            )
        entry = engine.audit_log.score_entry(score_id)
        if entry is None or entry["family_id"] != family_id:
            return HTMLResponse("Bad request: the score is not this family's.", status_code=400)
        try:
            engine.feedback(
                score_id=score_id,
                decision=decision,
                reason=reason,
                principal=principal,
                request_id=new_request_id(),
            )
        except (AuditLogUnavailable, RequestError):
            return self._render(
                request,
                lang=lang,
                status=503,
                signed_in=True,
                csrf=csrf_for(token),
                messages=[(page_text("unavailable", lang), "error")],
            )
        query = urlencode({"lang": lang, "family_id": family_id, "recorded": "1"})
        return RedirectResponse(f"{PREFIX}?{query}", status_code=303)


__all__ = ["LANGUAGE_CODES", "ReviewPages", "csrf_for"]
