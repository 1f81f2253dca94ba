"""The request gate over HTTP in this process: what is refused before a handler runs.

Each test reproduces an attack or a careless call from issue 10 against the real BentoML
app (Starlette TestClient, real token store, audit and security logs on disk).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serving_world import auth
from starlette.testclient import TestClient

from serving.gate import API_PATHS, RequestGate
from serving.schemas import ErrorBody
from serving.service import EarlyRiskScoring, served_facts
from serving.settings import ServingSettings
from serving.store.regions import regions_path
from serving.store.security_log import SqlSecurityLog


@pytest.fixture(scope="module")
def client(service_env) -> Iterator[TestClient]:
    with TestClient(EarlyRiskScoring.to_asgi(), raise_server_exceptions=False) as c:
        yield c


class FakeClock:
    """A monotonic clock the test moves by hand (no test waits on wall time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def strict_client(service_env, monkeypatch) -> Iterator[tuple[TestClient, FakeClock]]:
    """The app with low limits: 3 failures per 300 s, 4 requests and 6 families a minute."""
    clock = FakeClock()
    settings = ServingSettings(
        auth_failure_limit=3,
        auth_failure_window_s=300,
        quota_requests_per_minute=4,
        quota_families_per_minute=6,
    )
    options = {"facts": served_facts, "settings": settings, "clock": clock}
    monkeypatch.setattr(EarlyRiskScoring, "middlewares", [(RequestGate, options)])
    with TestClient(EarlyRiskScoring.to_asgi(), raise_server_exceptions=False) as c:
        yield c, clock


def security_events(service_env, **where: str) -> list[dict[str, Any]]:
    log = SqlSecurityLog(service_env["EARLYRISK_SECURITY_LOG_PATH"])
    try:
        rows = log.page(limit=100_000)
    finally:
        log.close()
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def refusal(response, status: int) -> ErrorBody:
    assert response.status_code == status, response.text[:500]
    body = ErrorBody.model_validate(response.json())
    assert body.request_id == response.headers["x-request-id"]
    return body


# ---------------------------------------------------------------- 6. auth before the body


def test_an_unauthenticated_huge_body_gets_a_small_401(client):
    # The attack of issue 10: a body that also breaks the schema (numbers for ids), which
    # BentoML answered with a 400 echoing every element (39 MB for these 1.5 MB).
    response = client.post("/score", json={"family_ids": list(range(200_000))})
    body = refusal(response, 401)
    assert body.error == "Missing or invalid bearer token."
    assert len(response.content) < 300


@pytest.mark.parametrize("status_token", [(401, None), (403, "auditor")])
def test_the_gate_answers_401_and_403_without_reading_the_body(
    service_env, tokens, status_token
) -> None:
    status, role = status_token
    settings = ServingSettings()
    reads: list[str] = []
    sent: list[dict[str, Any]] = []

    async def app(scope, receive, send) -> None:
        raise AssertionError("an unauthorised request reached the service")

    async def receive() -> dict[str, Any]:
        reads.append("body")
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json")]
    if role is not None:
        headers.append((b"authorization", f"Bearer {tokens[role]}".encode()))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/score",
        "headers": headers,
        "client": ("10.1.2.3", 5555),
        "query_string": b"",
    }
    asyncio.run(RequestGate(app, settings=settings)(scope, receive, send))
    assert reads == []
    assert sent[0]["status"] == status


# ---------------------------------------------------------------- 7. limits


def test_a_body_over_the_size_limit_is_413_unread(client, tokens, service_env):
    limit = ServingSettings().max_body_bytes
    blob = json.dumps({"family_ids": ["F00001"], "pad": "x" * limit}).encode()
    headers = {**auth(tokens["caseworker"]), "Content-Type": "application/json"}
    response = client.post("/score", content=blob, headers=headers)
    body = refusal(response, 413)
    assert str(limit) in body.error and "xxxx" not in response.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        yield b'{"family_ids": ["F00001"], "pad": "'
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536
        yield b'"}'

    response = client.post("/score", content=chunks(), headers=headers)
    refusal(response, 413)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/score", {"family_ids": ["F" + "9" * 200]}, "family_ids.0"),
        ("/feedback", {"score_id": "s" * 65, "decision": "no_action", "reason": "r"}, "score_id"),
        (
            "/feedback",
            {"score_id": "abc", "decision": "no_action", "reason": "w" * 2001},
            "reason",
        ),
    ],
)
def test_over_long_strings_are_400_naming_the_field_without_echo(client, tokens, path, body, field):
    response = client.post(path, json=body, headers=auth(tokens["admin"]))
    error = refusal(response, 400).error
    assert error.startswith(f"{field}: String should have at most")
    assert "9999999999" not in response.text and "wwwwwwwwww" not in response.text
    assert "sssssssss" not in response.text


# ---------------------------------------------------------------- 8. content types


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "text/plain", "application/x-www-form-urlencoded", None],
)
def test_only_json_bodies_are_accepted(client, tokens, content_type):
    headers = auth(tokens["caseworker"])
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.post("/score", content=b'{"family_ids": ["F00001"]}', headers=headers)
    assert refusal(response, 415).error == "Send the body as application/json."


def test_json_with_a_charset_is_json(client, tokens):
    headers = {**auth(tokens["caseworker"]), "Content-Type": "application/json; charset=utf-8"}
    response = client.post("/score", content=b'{"family_ids": ["F00001"]}', headers=headers)
    assert response.status_code == 200


# ---------------------------------------------------------------- 9. strict bodies


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/score",
            {"family_ids": ["F00001"], "asof": "2024-12-31"},
            "asof: Extra inputs are not permitted",
        ),
        ("/audit_log", {"limit": "5"}, "limit: Input should be a valid integer"),
        ("/audit_log", {"limit": "1e1"}, "limit: Input should be a valid integer"),
        ("/audit_log", {"limit": 10.5}, "limit: Input should be a valid integer"),
        ("/audit_log", {"after_seq": True}, "after_seq: Input should be a valid integer"),
        ("/model_card", {"verbose": 1}, "verbose: Extra inputs are not permitted"),
        (
            "/score_indicators",
            {"indicators": {"hh_members": "5"}},
            "indicators.hh_members: Input should be a valid number",
        ),
        (
            "/score_indicators",
            {"indicators": {"hh_members": True}},
            "indicators.hh_members: Input should be a valid number",
        ),
    ],
)
def test_strict_bodies_refuse_unknown_fields_and_non_numbers(client, tokens, path, body, message):
    response = client.post(path, json=body, headers=auth(tokens["admin"]))
    got = refusal(response, 400)
    assert got.error == message
    assert got.detail and "input" not in got.detail[0]


def test_an_integral_json_number_is_an_integer(client, tokens):
    response = client.post("/audit_log", json={"limit": 1e1}, headers=auth(tokens["auditor"]))
    assert response.status_code == 200


def test_a_wrong_method_is_405_with_allow(client, tokens):
    response = client.get("/score", headers=auth(tokens["caseworker"]))
    refusal(response, 405)
    assert response.headers["allow"] == "POST"


# ---------------------------------------------------------------- 10. OpenAPI and docs page


def test_the_openapi_document_is_the_projects_own(client, serving_world):
    spec = client.get("/docs.json").json()
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["title"] == "earlyrisk scoring service"
    assert spec["info"]["version"] == serving_world.model_version
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `earlyrisk token create --role ROLE`.",
    }
    assert spec["security"] == [{"bearerAuth": []}]
    assert "/metrics" not in spec["paths"]
    schemas = spec["components"]["schemas"]
    for path in API_PATHS:
        operation = spec["paths"][path]["post"]
        statuses = set(operation["responses"])
        assert {"200", "400", "401", "403", "413", "415", "429", "500", "503"} <= statuses
        assert operation["responses"]["429"]["headers"]["Retry-After"]["required"] is True
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body = schemas[ref.rsplit("/", 1)[1]]
        # strict bodies: one schema, or one per step of a tagged body (/correction)
        steps = [schemas[o["$ref"].rsplit("/", 1)[1]] for o in body.get("oneOf", [])]
        assert all(s["additionalProperties"] is False for s in steps or [body]), body
    assert "404" in spec["paths"]["/feedback"]["post"]["responses"]
    nullable = schemas["ScoredFamily"]["properties"]["family_id"]
    assert {"type": "null"} in nullable["anyOf"]
    as_of = schemas["ScoreRequest"]["properties"]["as_of"]["anyOf"][0]
    assert as_of["enum"] == ["2024-06-30", "2024-12-31"]
    indicators = schemas["ScoreIndicatorsRequest"]["properties"]["indicators"]
    assert indicators["additionalProperties"] is False and "hh_members" in indicators["required"]
    # the indicator the eligibility rule reads: required, at least one child (not nullable),
    # so a schema-valid body is never a family the model refuses to score
    children = indicators["properties"]["hh_children"]
    assert children["type"] == "number" and children["minimum"] == 1.0
    assert "anyOf" not in children and "Required" in children["description"]
    assert schemas["FeedbackRequest"]["properties"]["reason"]["maxLength"] == 2000


def test_the_docs_page_loads_nothing_from_elsewhere(client):
    for path in ("/", "/docs"):
        page = client.get(path)
        assert page.status_code == 200
        assert "googletagmanager" not in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        sources = [part.split('"')[1] for part in page.text.split("src=")[1:]]
        sources += [part.split('"')[1] for part in page.text.split("href=")[1:]]
        assert sources and all(s.startswith("/docs/") for s in sources), sources
        for source in sources:
            asset = client.get(source)
            assert asset.status_code == 200 and len(asset.content) > 100
            assert "googletagmanager" not in asset.text
    assert "validatorUrl: null" in client.get("/docs/init.js").text
    assert client.get("/schema.json").status_code == 404  # BentoML's own is hidden


# ---------------------------------------------------------------- 12. security log, throttle


def test_refused_attempts_are_on_the_security_log_without_the_secret(client, tokens, service_env):
    wrong = tokens["caseworker"][:-4] + "AAAA"  # a known token id with a wrong secret
    response = client.post("/score", json={"family_ids": ["F00001"]}, headers=auth(wrong))
    request_id = refusal(response, 401).request_id
    forbidden = client.post("/audit_log", json={}, headers=auth(tokens["caseworker"]))
    forbidden_id = refusal(forbidden, 403).request_id
    (event,) = security_events(service_env, request_id=request_id)
    token_id = tokens["caseworker"].split("_")[1]
    assert event["event"] == "unauthenticated" and event["token_id"] == token_id
    assert event["endpoint"] == "score" and event["client"] == "testclient"
    assert event["recorded_at"]
    (event,) = security_events(service_env, request_id=forbidden_id)
    assert event["event"] == "forbidden" and event["endpoint"] == "audit_log"
    path = service_env["EARLYRISK_SECURITY_LOG_PATH"]
    with open(path, "rb") as raw:
        content = raw.read()
    secret = tokens["caseworker"].split("_", 2)[2].encode()
    assert secret not in content and wrong.encode() not in content


def test_failures_throttle_their_address_but_never_a_valid_token(
    strict_client, tokens, service_env
):
    """Issue 20: 10 unauthenticated probes from one address made every request with a valid
    token from it 429 for 5 minutes (one caseworker system calls for a whole ministry)."""
    client, clock = strict_client
    for _ in range(20):
        client.post("/model_card", json={}, headers=auth("er_nope"))
    # The address is throttled: its requests without a valid token are told to back off
    # (still the 401 a client expects, with Retry-After) and no longer recorded ...
    before = len(security_events(service_env))
    blocked = client.post("/model_card", json={}, headers=auth("er_nope"))
    assert refusal(blocked, 401).error.startswith("Too many requests without a valid token")
    assert 1 <= int(blocked.headers["retry-after"]) <= 300
    assert "retry-after" in refusal(client.post("/model_card", json={}), 401).error.lower()
    assert len(security_events(service_env)) == before
    # ... but a valid token from the same address is never refused for them.
    assert client.post("/model_card", json={}, headers=auth(tokens["auditor"])).status_code == 200
    clock.now += 301
    cleared = client.post("/model_card", json={}, headers=auth("er_nope"))
    assert refusal(cleared, 401).error == "Missing or invalid bearer token."
    assert "retry-after" not in cleared.headers


def test_a_token_id_without_its_secret_neither_locks_nor_slows_the_token(
    strict_client, serving_world
):
    """Token ids are public (audit log, security log, `token list`): 20 bad requests naming
    one lock nothing for the token, from this address or any other, and take none of its
    quota (4 requests a minute here, all still there)."""
    client, _ = strict_client
    victim = serving_world.tokens().create("auditor").token
    token_id = victim.split("_")[1]
    for _ in range(20):
        client.post("/model_card", json={}, headers=auth(f"er_{token_id}_not-the-secret"))
    for _ in range(4):  # the whole per-token quota, from the attacker's own address
        assert client.post("/model_card", json={}, headers=auth(victim)).status_code == 200
    over = client.post("/model_card", json={}, headers=auth(victim))
    assert refusal(over, 429).error == "This token is over its quota of requests per minute."


def test_a_throttle_starts_with_one_security_event(strict_client, service_env):
    client, _ = strict_client
    before = len(security_events(service_env, event="throttled"))
    for _ in range(6):
        client.post("/audit_log", json={}, headers=auth("er_000000000000_guess"))
    after = security_events(service_env, event="throttled")
    # One for the address (the claimed token id is named, never counted), not one per call.
    assert len(after) - before == 1
    assert after[-1]["token_id"] == "000000000000" and "address testclient" in after[-1]["detail"]


# ---------------------------------------------------------------- 13. auditor reads audited


def test_auditor_reads_are_audited(client, tokens, service_env):
    for path, body in (("/audit_log", {"limit": 7}), ("/model_card", {}), ("/security_log", {})):
        response = client.post(path, json=body, headers=auth(tokens["auditor"]))
        assert response.status_code == 200
        (event,) = security_events(service_env, request_id=response.headers["x-request-id"])
        assert event["event"] == "auditor_read"
        assert event["endpoint"] == path.lstrip("/")
        assert event["token_id"] == tokens["auditor"].split("_")[1]
    assert '"limit":7' in security_events(service_env, endpoint="audit_log")[-1]["detail"]


def test_an_auditor_read_that_cannot_be_recorded_is_refused(client, tokens, service_env):
    blocker = sqlite3.connect(service_env["EARLYRISK_SECURITY_LOG_PATH"], isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        response = client.post("/audit_log", json={}, headers=auth(tokens["auditor"]))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert refusal(response, 503).error.startswith("The security log cannot be written")
    assert "entries" not in response.text


# ---------------------------------------------------------------- 15. quotas and regions


def test_request_quota_is_429_with_retry_after(strict_client, tokens):
    client, clock = strict_client
    headers = auth(tokens["auditor"])
    for _ in range(4):
        assert client.post("/model_card", json={}, headers=headers).status_code == 200
    over = client.post("/model_card", json={}, headers=headers)
    assert refusal(over, 429).error == "This token is over its quota of requests per minute."
    assert 1 <= int(over.headers["retry-after"]) <= 60
    clock.now += 61
    assert client.post("/model_card", json={}, headers=headers).status_code == 200


def test_family_quota_stops_walking_the_register(strict_client, tokens):
    client, clock = strict_client
    headers = auth(tokens["caseworker"])
    first = client.post("/score", json={"family_ids": ["F00001", "F00002"]}, headers=headers)
    assert first.status_code == 200
    second = client.post(
        "/score", json={"family_ids": ["F00003", "F00004", "F00005"]}, headers=headers
    )
    assert second.status_code == 200
    over = client.post("/score", json={"family_ids": ["F00006", "F00007"]}, headers=headers)
    assert refusal(over, 429).error.endswith("families scored per minute.")
    assert "F00006" not in over.text
    clock.now += 61
    again = client.post("/score", json={"family_ids": ["F00006", "F00007"]}, headers=headers)
    assert again.status_code == 200


def test_a_region_scoped_token_sees_only_its_regions(client, serving_world):
    store = serving_world.tokens()
    north = store.create("caseworker", regions=["North"]).token
    response = client.post(
        "/score", json={"family_ids": ["F00003", "F00004", "nobody"]}, headers=auth(north)
    )
    assert response.status_code == 200
    inside, outside, unknown = response.json()["results"]
    assert inside["status"] == "scored" and inside["family_id"] == "F00003"
    # Outside the token's regions reads exactly like a family that does not exist.
    assert outside["status"] == unknown["status"] == "error"
    assert outside["error"] == unknown["error"].replace("'nobody'", "'F00004'")
    assert "South" not in response.text


# ---------------------------------------------------------------- 16. feedback


def test_a_later_decision_supersedes_the_earlier(client, tokens):
    headers = auth(tokens["caseworker"])
    served = client.post("/score", json={"family_ids": ["F00012"]}, headers=headers).json()
    score_id = served["results"][0]["score_id"]
    first = client.post(
        "/feedback",
        json={"score_id": score_id, "decision": "no_action", "reason": "family declined"},
        headers=headers,
    )
    assert first.status_code == 200 and first.json()["supersedes_seq"] is None
    second = client.post(
        "/feedback",
        json={"score_id": score_id, "decision": "support_offered", "reason": "visit agreed"},
        headers=headers,
    )
    assert second.status_code == 200
    page = client.post(
        "/audit_log", json={"kind": "feedback", "limit": 1000}, headers=auth(tokens["admin"])
    ).json()
    mine = [e for e in page["entries"] if e["score_id"] == score_id]
    assert [e["decision"] for e in mine] == ["no_action", "support_offered"]
    assert [e["current"] for e in mine] == [False, True]
    assert second.json()["supersedes_seq"] == mine[0]["seq"]
    assert {e["token_id"] for e in mine} == {tokens["caseworker"].split("_")[1]}


@pytest.mark.parametrize("reason", ["line one\nline two", "bell\x07", "rtl\u202eoverride", "   "])
def test_feedback_refuses_control_characters(client, tokens, reason):
    body = {"score_id": "abc", "decision": "no_action", "reason": reason}
    response = client.post("/feedback", json=body, headers=auth(tokens["caseworker"]))
    assert refusal(response, 400).error == (
        "reason: must not contain control characters or be blank"
    )


# ---------------------------------------------------------------- 17. no personal data in logs


def test_client_errors_are_one_info_line_without_personal_data(client, tokens, caplog):
    caplog.set_level(logging.DEBUG)
    headers = auth(tokens["caseworker"])
    calls = [
        ("/score", {"family_ids": ["SECRET-FAMILY-1"], "as_of": "1999-01-01"}),
        ("/score", {"family_ids": [123]}),
        ("/feedback", {"score_id": "SECRET-SCORE", "decision": "no_action", "reason": "PRIVATE"}),
        ("/feedback", {"score_id": "x", "decision": "no_action", "reason": "PRIVATE\x00"}),
    ]
    ids = []
    for path, body in calls:
        response = client.post(path, json=body, headers=headers)
        assert 400 <= response.status_code < 500
        ids.append(response.headers["x-request-id"])
    records = [r for r in caplog.records if any(i in r.getMessage() for i in ids)]
    assert {r.getMessage().split()[1] for r in records} == set(ids)
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("SECRET-FAMILY-1", "SECRET-SCORE", "PRIVATE"):
        assert secret not in text
    assert all(r.levelno == logging.INFO and r.exc_info is None for r in records)
    assert all("\n" not in r.getMessage() for r in records)


def test_files_naming_callers_and_regions_are_owner_only(client, service_env):
    security = Path(service_env["EARLYRISK_SECURITY_LOG_PATH"])
    regions = regions_path(Path(service_env["EARLYRISK_LOOKUP_DB_PATH"]))
    for path in (security, regions):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_endpoint_without_a_strict_model_is_still_gated(service_env, tokens):
    """A new endpoint known to auth is authenticated before its body, then forwarded."""
    reached: list[Any] = []

    async def app(scope, receive, send) -> None:
        reached.append(scope["earlyrisk.admitted"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    gate = RequestGate(app, settings=ServingSettings())
    del gate.models["model_card"]

    def call(token: str | None) -> int:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message) -> None:
            sent.append(message)

        headers = [(b"content-type", b"application/json")]
        if token is not None:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/model_card",
            "headers": headers,
            "client": ("10.9.9.9", 1),
            "query_string": b"",
        }
        asyncio.run(gate(scope, receive, send))
        return sent[0]["status"]

    assert call(None) == 401 and reached == []
    assert call(tokens["auditor"]) == 200
    (admitted,) = reached
    assert admitted.principal.role == "auditor" and admitted.body is None
