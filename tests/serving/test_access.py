"""Issue 20 items 6-9 (HTTP): throttling that cannot be turned against users, review
sessions that are not tokens, decisions within the caller's regions, X-Forwarded-For from
configured proxies only, ``Cache-Control: no-store`` and the rules the OpenAPI document
states. Against the real BentoML app in this process (Starlette TestClient) with a real
token store, audit log, security log and session store on disk; clocks are moved by hand.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from serving_world import auth
from starlette.testclient import TestClient

from serving.client_address import client_address
from serving.gate import RequestGate
from serving.review import SESSION_COOKIE, ReviewPages
from serving.service import EarlyRiskScoring, served_engine, served_facts, served_security_log
from serving.settings import ServingSettings
from serving.store.review_sessions import open_review_sessions
from serving.store.security_log import SqlSecurityLog

NORTH_FAMILY = "F00003"  # families whose number is a multiple of 3 are North
SOUTH_FAMILY = "F00004"


class Clocks:
    """A monotonic clock (throttles, quotas) and a wall clock (sessions), moved by hand."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.mono

    def now(self) -> datetime:
        return self.wall

    def advance(self, **delta: float) -> None:
        step = timedelta(**delta)
        self.wall += step
        self.mono += step.total_seconds()


@pytest.fixture
def app(service_env, monkeypatch, tmp_path) -> Iterator[tuple[TestClient, Clocks]]:
    """The app with the gate and the review pages on low limits: 3 failures per 300 s,
    30 requests and 3 families a minute, sessions idle out after 30 minutes."""
    clocks = Clocks()
    settings = ServingSettings(
        auth_failure_limit=3,
        auth_failure_window_s=300,
        quota_requests_per_minute=30,
        quota_families_per_minute=3,
        review_session_idle_minutes=30,
    )
    gate = {"facts": served_facts, "settings": settings, "clock": clocks.monotonic}
    review = {
        "engine": served_engine,
        "settings": settings,
        "security_log": served_security_log,
        "sessions": open_review_sessions(None, tmp_path / "review_sessions.sqlite"),
        "clock": clocks.now,
        "monotonic": clocks.monotonic,
    }
    monkeypatch.setattr(
        EarlyRiskScoring, "middlewares", [(RequestGate, gate), (ReviewPages, review)]
    )
    with TestClient(EarlyRiskScoring.to_asgi(), raise_server_exceptions=False) as client:
        yield client, clocks


def security_events(service_env, **where: Any) -> list[dict[str, Any]]:
    log = SqlSecurityLog(service_env["EARLYRISK_SECURITY_LOG_PATH"])
    try:
        rows = log.page(limit=100_000)
    finally:
        log.close()
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def sign_in(client: TestClient, token: str) -> httpx.Response:
    """The browser's sign-in: the form (its CSRF cookie and value), then the POST."""
    form = client.get("/review")
    return client.post(
        "/review/signin",
        data={"token": token, "csrf": csrf_of(form)},
        follow_redirects=False,
    )


def fresh(serving_world, role: str = "caseworker", **kwargs: Any) -> tuple[str, str]:
    """A new token (clear text, token id) that no other test uses or revokes."""
    issued = serving_world.tokens().create(role, **kwargs)
    return issued.token, issued.token_id


def signed_in_page(page: httpx.Response) -> bool:
    return page.status_code == 200 and "/review/signout" in page.text


# ---------------------------------------------------------------- item 7: review sessions


def test_the_session_cookie_is_a_random_id_not_the_token(app, serving_world):
    client, _ = app
    token, _ = fresh(serving_world)
    response = sign_in(client, token)
    assert response.status_code == 303
    header = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")
    )
    value = header.split(";", 1)[0].split("=", 1)[1]
    assert value and value != token and token not in str(response.headers)
    assert token.split("_", 2)[2] not in value  # not even the secret part
    flags = header.lower()
    assert "httponly" in flags and "samesite=strict" in flags and "path=/review" in flags
    assert "secure" not in flags  # plain HTTP here; over TLS it is Secure (next test)
    assert signed_in_page(client.get("/review"))
    # the cookie is no bearer token: the API refuses it
    as_bearer = client.post("/score", json={"family_ids": [NORTH_FAMILY]}, headers=auth(value))
    assert as_bearer.status_code == 401


def test_the_session_cookie_is_secure_over_tls(service_env, app, serving_world):
    client, _ = app
    token, _ = fresh(serving_world)
    client.base_url = httpx.URL("https://testserver")
    response = sign_in(client, token)
    header = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")
    )
    assert "secure" in header.lower()


def test_a_replayed_cookie_after_sign_out_is_refused(app, serving_world, service_env):
    client, _ = app
    token, _ = fresh(serving_world)
    sign_in(client, token)
    cookie = client.cookies.get(SESSION_COOKIE)
    page = client.get("/review")
    assert signed_in_page(page)
    out = client.post("/review/signout", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.set(SESSION_COOKIE, cookie, path="/review")  # the copied cookie, replayed
    replay = client.get("/review", params={"family_id": NORTH_FAMILY})
    assert replay.status_code == 401 and 'id="probability"' not in replay.text
    assert "Your session has ended" in replay.text
    (event,) = security_events(service_env, request_id=replay.headers["x-request-id"])
    assert event["event"] == "unauthenticated" and event["endpoint"] == "review"
    assert event["token_id"] is None  # the ended session names no token


def test_an_idle_session_ends(app, serving_world):
    client, clocks = app
    token, _ = fresh(serving_world)
    sign_in(client, token)
    clocks.advance(minutes=29)
    assert signed_in_page(client.get("/review"))  # each use restarts the idle time
    clocks.advance(minutes=29)
    assert signed_in_page(client.get("/review"))
    clocks.advance(minutes=31)
    late = client.get("/review")
    assert late.status_code == 401 and "/review/signout" not in late.text


def test_revoking_the_token_ends_its_session(app, serving_world):
    client, _ = app
    token, token_id = fresh(serving_world)
    sign_in(client, token)
    cookie = client.cookies.get(SESSION_COOKIE)
    assert signed_in_page(client.get("/review"))
    assert serving_world.tokens().revoke(token_id)
    refused = client.get("/review", params={"family_id": NORTH_FAMILY})
    assert refused.status_code == 401 and 'id="probability"' not in refused.text
    client.cookies.set(SESSION_COOKIE, cookie, path="/review")
    assert client.get("/review").status_code == 401  # ended, not just refused once


def test_a_guessed_cookie_is_recorded_and_throttled_but_a_live_session_is_not(
    app, serving_world, service_env
):
    client, _ = app
    token, _ = fresh(serving_world)
    guesses = []
    for _ in range(3):  # the failure limit of the fixture
        client.cookies.set(SESSION_COOKIE, secrets.token_urlsafe(32), path="/review")
        guess = client.get("/review")
        assert guess.status_code == 401
        guesses.append(guess.headers["x-request-id"])
    for request_id in guesses:
        (event,) = security_events(service_env, request_id=request_id, event="unauthenticated")
        assert event["client"] == "testclient" and event["endpoint"] == "review"
    # the third reached the limit: the block's start is one more event
    (start,) = security_events(service_env, request_id=guesses[-1], event="throttled")
    assert "reached 3 failures" in start["detail"]
    client.cookies.set(SESSION_COOKIE, secrets.token_urlsafe(32), path="/review")
    blocked = client.get("/review")
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    # the address is over the limit, yet a valid token signs in and its session works
    client.cookies.clear()
    assert sign_in(client, token).status_code == 303
    assert signed_in_page(client.get("/review"))
    bad = sign_in(client, "er_000000000000_wrong")
    assert bad.status_code == 429


def test_the_page_fails_closed_when_the_sessions_cannot_be_read(
    service_env, serving_world, monkeypatch, tmp_path
):
    """Sessions unreadable (the database away, the file gone bad): 503, no family shown."""
    sessions = open_review_sessions(None, tmp_path / "sessions.sqlite")
    review = {"engine": served_engine, "security_log": served_security_log, "sessions": sessions}
    monkeypatch.setattr(
        EarlyRiskScoring,
        "middlewares",
        [(RequestGate, {"facts": served_facts}), (ReviewPages, review)],
    )
    token, _ = fresh(serving_world)
    with TestClient(EarlyRiskScoring.to_asgi(), raise_server_exceptions=False) as client:
        sign_in(client, token)
        assert signed_in_page(client.get("/review"))
        sessions.close()
        away = client.get("/review", params={"family_id": NORTH_FAMILY})
    assert away.status_code == 503 and 'id="probability"' not in away.text


def test_a_failed_sign_in_is_recorded_with_its_request_id(app, service_env):
    client, _ = app
    refused = sign_in(client, "er_0123456789ab_not-a-secret")
    assert refused.status_code == 401
    (event,) = security_events(service_env, request_id=refused.headers["x-request-id"])
    assert event["event"] == "unauthenticated" and event["token_id"] == "0123456789ab"
    assert event["detail"] == "review sign-in"


def test_a_review_quota_refusal_is_recorded(app, serving_world, service_env):
    client, _ = app
    token, token_id = fresh(serving_world)
    sign_in(client, token)
    for family in ("F00003", "F00006", "F00009"):  # the fixture's 3 families a minute
        assert client.get("/review", params={"family_id": family}).status_code == 200
    over = client.get("/review", params={"family_id": "F00012"})
    assert over.status_code == 429
    (event,) = security_events(service_env, request_id=over.headers["x-request-id"])
    assert event["event"] == "quota_exceeded" and event["token_id"] == token_id


# ---------------------------------------------------------------- item 8: decisions


def _score(client: TestClient, token: str, family: str) -> str:
    response = client.post("/score", json={"family_ids": [family]}, headers=auth(token))
    assert response.status_code == 200, response.text
    return str(response.json()["results"][0]["score_id"])


def test_feedback_outside_the_token_regions_is_refused_like_an_unknown_score(
    app, serving_world, service_env
):
    client, _ = app
    everywhere, _ = fresh(serving_world)
    north, north_id = fresh(serving_world, regions=["North"])
    south_score = _score(client, everywhere, SOUTH_FAMILY)
    body = {"score_id": south_score, "decision": "no_action", "reason": "not ours"}
    refused = client.post("/feedback", json=body, headers=auth(north))
    unknown = client.post(
        "/feedback", json={**body, "score_id": "never-served"}, headers=auth(north)
    )
    assert refused.status_code == unknown.status_code == 404
    assert refused.json()["error"] == unknown.json()["error"]  # nothing told about the score
    (event,) = security_events(service_env, request_id=refused.headers["x-request-id"])
    assert event["event"] == "forbidden" and event["endpoint"] == "feedback"
    assert event["token_id"] == north_id and "outside the token's regions" in event["detail"]
    page = client.post(
        "/audit_log", json={"kind": "feedback", "limit": 1000}, headers=auth(everywhere)
    )
    assert page.status_code == 403  # a caseworker does not read the log; the admin does
    # its own region's score is accepted
    north_score = _score(client, north, NORTH_FAMILY)
    ok = client.post("/feedback", json={**body, "score_id": north_score}, headers=auth(north))
    assert ok.status_code == 200


def test_another_caseworkers_decision_supersedes_explicitly(app, serving_world, tokens):
    client, _ = app
    first, first_id = fresh(serving_world)
    second, second_id = fresh(serving_world)
    score_id = _score(client, first, "F00021")
    made = client.post(
        "/feedback",
        json={"score_id": score_id, "decision": "support_offered", "reason": "visit agreed"},
        headers=auth(first),
    )
    assert made.status_code == 200 and made.json()["supersedes"] is None
    later = client.post(
        "/feedback",
        json={"score_id": score_id, "decision": "no_action", "reason": "family moved"},
        headers=auth(second),
    )
    assert later.status_code == 200
    replaced = later.json()["supersedes"]
    assert replaced["token_id"] == first_id and replaced["decision"] == "support_offered"
    assert replaced["seq"] == later.json()["supersedes_seq"] and replaced["recorded_at"]
    log = client.post(
        "/audit_log", json={"kind": "feedback", "limit": 1000}, headers=auth(tokens["admin"])
    ).json()
    mine = [e for e in log["entries"] if e["score_id"] == score_id]
    assert [(e["token_id"], e["current"]) for e in mine] == [(first_id, False), (second_id, True)]
    history = client.post("/family", json={"family_id": "F00021"}, headers=auth(second)).json()
    (scored,) = [h for h in history["history"] if h["score_id"] == score_id]
    assert [(d["token_id"], d["current"]) for d in scored["decisions"]] == [
        (first_id, False),
        (second_id, True),
    ]
    assert all(d["recorded_at"] for d in scored["decisions"])


def test_the_review_decision_form_keeps_to_the_regions_and_names_what_it_supersedes(
    app, serving_world, service_env
):
    client, _ = app
    everywhere, everywhere_id = fresh(serving_world)
    north, _ = fresh(serving_world, regions=["North"])
    south_score = _score(client, everywhere, SOUTH_FAMILY)
    sign_in(client, north)
    page = client.get("/review", params={"family_id": NORTH_FAMILY})
    csrf = csrf_of(page)
    form = {"csrf": csrf, "decision": "no_action", "reason": "not ours"}
    refused = client.post(
        "/review/decision",
        data={**form, "score_id": south_score, "family_id": SOUTH_FAMILY},
        follow_redirects=False,
    )
    assert refused.status_code == 400
    (event,) = security_events(service_env, request_id=refused.headers["x-request-id"])
    assert event["event"] == "forbidden" and "outside the token's regions" in event["detail"]
    # a decision by another caseworker on this region's score: the page names it
    north_score = _score(client, everywhere, NORTH_FAMILY)
    client.post(
        "/feedback",
        json={"score_id": north_score, "decision": "referred", "reason": "school asked"},
        headers=auth(everywhere),
    )
    done = client.post(
        "/review/decision",
        data={**form, "score_id": north_score, "family_id": NORTH_FAMILY},
        follow_redirects=True,
    )
    assert done.status_code == 200
    assert "It supersedes the decision" in done.text and everywhere_id in done.text


# ---------------------------------------------------------------- item 9: Cache-Control


def test_every_api_and_review_answer_is_no_store(app, tokens, serving_world):
    client, _ = app
    caseworker, admin = auth(tokens["caseworker"]), auth(tokens["admin"])
    answers = [
        client.post("/score", json={"family_ids": ["F00011"]}, headers=caseworker),
        client.post("/family", json={"family_id": "F00011"}, headers=caseworker),
        client.post("/audit_log", json={}, headers=admin),
        client.post("/security_log", json={}, headers=admin),
        client.post("/model_card", json={}, headers=admin),
        client.post("/score", json={"family_ids": [5]}, headers=caseworker),  # 400
        client.post("/score", json={"family_ids": ["F00011"]}),  # 401
        client.post("/family", json={"family_id": "nobody"}, headers=caseworker),  # 404
        client.get("/review"),
    ]
    token, _ = fresh(serving_world)
    sign_in(client, token)
    answers.append(client.get("/review", params={"family_id": "F00011"}))
    for answer in answers:
        assert answer.headers.get("cache-control") == "no-store", (
            answer.request.url,
            answer.status_code,
        )


# ---------------------------------------------------------------- X-Forwarded-For


def _scope(peer: str, forwarded: str | None = None, token: str | None = None) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json")]
    if forwarded is not None:
        headers.append((b"x-forwarded-for", forwarded.encode()))
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "method": "POST",
        "path": "/model_card",
        "headers": headers,
        "client": (peer, 4444),
        "query_string": b"",
    }


def test_x_forwarded_for_is_believed_only_from_a_configured_proxy():
    proxies = ("10.0.0.1", "10.1.0.0/16")
    spoofed = _scope("198.51.100.7", "203.0.113.9")
    assert client_address(spoofed, ()) == "198.51.100.7"  # the default: no proxy
    assert client_address(spoofed, proxies) == "198.51.100.7"  # not one of ours
    via = _scope("10.0.0.1", "203.0.113.9")
    assert client_address(via, proxies) == "203.0.113.9"
    assert client_address(via, ()) == "10.0.0.1"
    # the client's own made-up hop stays left of what our proxies appended
    chain = _scope("10.0.0.1", "1.2.3.4, 203.0.113.9, 10.1.5.5")
    assert client_address(chain, proxies) == "203.0.113.9"


def _gate_answer(gate: RequestGate, scope: dict[str, Any]) -> tuple[int, bool]:
    """The gate's status for scope, and whether it was throttled (a Retry-After)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(gate(scope, receive, send))
    headers = dict(sent[0]["headers"])
    return int(sent[0]["status"]), b"retry-after" in headers


def test_a_spoofed_x_forwarded_for_neither_escapes_nor_redirects_the_throttle(service_env, tokens):
    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    settings = ServingSettings(auth_failure_limit=3, trusted_proxies=("10.0.0.1",))
    gate = RequestGate(app, settings=settings)
    # a guesser making up a new address per attempt is still one address
    answers = [
        _gate_answer(gate, _scope("198.51.100.7", f"203.0.113.{i}", "er_nope")) for i in range(5)
    ]
    assert [throttled for _, throttled in answers] == [False, False, False, True, True]
    assert {status for status, _ in answers} == {401}
    # ... and named no victim: the spoofed addresses are not throttled behind our proxy
    assert _gate_answer(gate, _scope("10.0.0.1", "203.0.113.1", "er_nope")) == (401, False)
    # behind the proxy the forwarded client is the one counted and recorded
    for _ in range(3):
        _gate_answer(gate, _scope("10.0.0.1", "192.0.2.50", "er_nope"))
    assert _gate_answer(gate, _scope("10.0.0.1", "192.0.2.50", "er_nope")) == (401, True)
    assert _gate_answer(gate, _scope("10.0.0.1", "192.0.2.51", "er_nope")) == (401, False)
    assert _gate_answer(gate, _scope("10.0.0.1", "192.0.2.50", tokens["auditor"]))[0] == 200
    rows = security_events(service_env, event="throttled")
    assert {"198.51.100.7", "192.0.2.50"} <= {r["client"] for r in rows}


def test_a_bad_trusted_proxy_setting_names_the_value():
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300' is not an IP address or network"):
        ServingSettings(trusted_proxies=("10.0.0.300",))


# ---------------------------------------------------------------- OpenAPI rules


def test_the_openapi_document_states_every_rule_the_service_enforces(app):
    client, _ = app
    spec = client.get("/docs.json").json()
    text = " ".join(spec["info"]["description"].split())
    assert "A request with a valid token is never refused" in text
    assert "once the caller's address has sent 3 such requests in 300 s" in text
    assert "30 requests and 3 families a minute" in text
    assert "must not be blank" in text
    assert "`until` before `since`" in text
    assert "Cache-Control: no-store" in text and "EARLYRISK_TRUSTED_PROXIES" in text
    stats = spec["components"]["schemas"]["ServedStatsRequest"]
    assert "`until` must not be before `since`" in stats["description"]
    assert "Not before `since`" in stats["properties"]["until"]["description"]
    feedback = spec["paths"]["/feedback"]["post"]
    assert "within the token's regions" in feedback["description"]
    for path, item in spec["paths"].items():
        if "post" not in item:
            continue
        for status, response in item["post"]["responses"].items():
            header = response["headers"]["Cache-Control"]
            assert header["required"] and header["schema"]["const"] == "no-store", (path, status)
    reason = spec["components"]["schemas"]["FeedbackRequest"]["properties"]["reason"]
    assert reason["minLength"] == 1 and reason["pattern"].endswith("]*$")


def test_the_sessions_table_is_declared_by_the_migrations(tmp_path):
    store = open_review_sessions(None, tmp_path / "sessions.sqlite")
    store.close()
    with sqlite3.connect(tmp_path / "sessions.sqlite") as conn:
        (version,) = conn.execute(
            "SELECT MAX(version) FROM schema_migrations WHERE store = 'review_sessions'"
        ).fetchone()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(review_sessions)")}
    assert version == 1
    assert "session_sha256" in columns and "token_id" in columns
    assert not {"token", "session_id"} & columns  # no clear secret is kept


@pytest.mark.server
@pytest.mark.slow
def test_sessions_in_postgres_are_shared_by_replicas(postgres_url: str) -> None:
    """Two stores on one database (two replicas): a session made through one is live
    through the other, idles out and ends for both; the row keeps no clear session id."""
    from serving.store.review_sessions import open_postgres_sessions

    first, second = open_postgres_sessions(postgres_url), open_postgres_sessions(postgres_url)
    idle = timedelta(minutes=30)
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    try:
        session_id = first.create("0123456789ab", now=at)
        assert second.token_of(session_id, now=at + timedelta(minutes=20), idle=idle) == (
            "0123456789ab"
        )
        assert first.token_of(session_id, now=at + timedelta(minutes=45), idle=idle)
        assert second.end(session_id, now=at + timedelta(minutes=46), why="signed out")
        assert first.token_of(session_id, now=at + timedelta(minutes=47), idle=idle) is None
        idle_one = first.create("0123456789ab", now=at)
        assert second.token_of(idle_one, now=at + timedelta(minutes=31), idle=idle) is None
        assert first.token_of(idle_one, now=at + timedelta(minutes=32), idle=idle) is None
    finally:
        first.close()
        second.close()
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        stored = [r[0] for r in conn.execute("SELECT session_sha256 FROM review_sessions")]
    assert session_id not in stored and len(stored) == 2
