"""Level 2: the BentoML ASGI app over HTTP in this process (Starlette TestClient, no server)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from serving_world import auth
from starlette.testclient import TestClient

from serving.schemas import ErrorBody
from serving.service import AUDIT_UNAVAILABLE_MESSAGE, EarlyRiskScoring

BODIES = {
    "/score": {"family_ids": ["F00005"]},
    "/score_indicators": {"indicators": {"hh_members": 1.0}},
    "/feedback": {"score_id": "x", "decision": "no_action", "reason": "r"},
    "/model_card": {},
    "/audit_log": {},
}
ALLOWED = {
    "caseworker": {"/score", "/score_indicators", "/feedback"},
    "auditor": {"/model_card", "/audit_log"},
    "admin": set(BODIES),
}


@pytest.fixture(scope="module")
def client(service_env) -> Iterator[TestClient]:
    with TestClient(EarlyRiskScoring.to_asgi(), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def audit_db(service_env) -> str:
    return service_env["EARLYRISK_AUDIT_LOG_PATH"]


def test_probes_need_no_token(client):
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_openapi_documents_every_endpoint(client):
    spec = client.get("/docs.json").json()
    for path in BODIES:
        assert "post" in spec["paths"][path], path
    schemas = spec["components"]["schemas"]
    assert "ScoredFamily" in schemas and "ReasonOut" in schemas


@pytest.mark.parametrize("path", list(BODIES))
def test_every_endpoint_needs_a_valid_token(client, tokens, path):
    for headers in ({}, {"Authorization": "Bearer nope"}, auth(tokens["revoked"])):
        response = client.post(path, json=BODIES[path], headers=headers)
        assert response.status_code == 401
        refusal = ErrorBody.model_validate(response.json())  # the documented error shape
        assert refusal.error == "Missing or invalid bearer token."
        assert refusal.request_id == response.headers["x-request-id"]
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", ["caseworker", "auditor", "admin"])
def test_roles_get_exactly_their_endpoints(client, tokens, role):
    for path, body in BODIES.items():
        response = client.post(path, json=body, headers=auth(tokens[role]))
        if path in ALLOWED[role]:
            assert response.status_code != 403, (role, path)
        else:
            assert response.status_code == 403, (role, path)
            assert "role" in response.json()["error"]


def test_score_over_http(client, tokens):
    response = client.post(
        "/score", json={"family_ids": ["F00005", "nobody"]}, headers=auth(tokens["caseworker"])
    )
    assert response.status_code == 200
    body = response.json()
    assert response.headers["x-request-id"] == body["request_id"]
    scored, missing = body["results"]
    assert scored["status"] == "scored" and missing["status"] == "error"
    assert set(scored) >= {
        "family_id",
        "probability",
        "risk_level",
        "percentile",
        "reasons_raising",
        "reasons_lowering",
        "model_version",
        "snapshot_date",
        "score_id",
        "advisory_notice",
    }
    reason = scored["reasons_raising"][0]
    assert set(reason) == {
        "indicator",
        "kind",
        "kind_name",
        "domain",
        "description",
        "value",
        "value_number",
        "unit",
        "contribution",
        "contribution_text",
    }


def test_texts_follow_lang_then_accept_language_then_english(client, tokens):
    def score(body: dict, **headers: str) -> dict:
        response = client.post(
            "/score",
            json={"family_ids": ["F00005"], **body},
            headers={**auth(tokens["caseworker"]), **headers},
        )
        assert response.status_code == 200, response.text
        return response.json()["results"][0]

    english = score({})
    russian = score({}, **{"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    kazakh = score({"lang": "kk"}, **{"Accept-Language": "ru"})
    fallback = score({"lang": "de"})
    assert [r["lang"] for r in (english, russian, kazakh, fallback)] == ["en", "ru", "kk", "en"]
    assert russian["risk_level"] == english["risk_level"]  # the code stays, the name changes
    assert (
        russian["risk_level_name"]
        == {"low": "низкий", "elevated": "повышенный", "high": "высокий"}[russian["risk_level"]]
    )
    assert russian["advisory_notice"].startswith("Только для сведения")
    assert kazakh["advisory_notice"].startswith("Тек ақпарат үшін")
    items = [*english["reasons_raising"], *english["context"]]
    assert items, "the family has reasons or context to compare"
    for lang_result in (russian, kazakh):
        worded = [*lang_result["reasons_raising"], *lang_result["context"]]
        assert [r["indicator"] for r in worded] == [r["indicator"] for r in items]
        assert all(a["description"] != b["description"] for a, b in zip(worded, items, strict=True))
    bad = client.post(
        "/score",
        json={"family_ids": ["F00005"], "lang": "<script>"},
        headers=auth(tokens["caseworker"]),
    )
    assert bad.status_code == 400 and "lang" in bad.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"family_ids": "F00005"}, "family_ids: Input should be a valid array"),
        ({}, "family_ids: Field required"),
        (
            {"family_ids": [1, {"a": 2}]},
            "family_ids.0: Input should be a valid string; "
            "family_ids.1: Input should be a valid string",
        ),
    ],
)
def test_bad_bodies_are_400_naming_the_field_in_the_error_shape(client, tokens, body, message):
    """BentoML's own schema refusals reach the client as the service's ErrorBody."""
    response = client.post("/score", json=body, headers=auth(tokens["caseworker"]))
    assert response.status_code == 400, body
    assert "Traceback" not in response.text and 'File "' not in response.text
    refusal = ErrorBody.model_validate(response.json())
    assert refusal.error == message
    assert refusal.request_id == response.headers["x-request-id"]
    assert refusal.detail and all("loc" in item and "msg" in item for item in refusal.detail)


def test_unparsable_json_and_out_of_range_parameters_are_400_in_the_error_shape(client, tokens):
    response = client.post(
        "/score",
        content=b"{not json",
        headers={**auth(tokens["caseworker"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and "Traceback" not in response.text
    assert ErrorBody.model_validate(response.json()).error.startswith("body: Invalid JSON")
    response = client.post("/audit_log", json={"limit": 0}, headers=auth(tokens["auditor"]))
    assert response.status_code == 400
    refusal = ErrorBody.model_validate(response.json())
    assert refusal.error == "limit: Input should be greater than or equal to 1"
    assert refusal.request_id == response.headers["x-request-id"]


def test_fail_closed_when_the_audit_log_cannot_be_written(client, tokens, audit_db):
    before = client.post("/audit_log", json={"limit": 1000}, headers=auth(tokens["admin"]))
    count_before = sqlite3.connect(audit_db).execute("SELECT COUNT(*) FROM audit_entries")
    n_before = count_before.fetchone()[0]
    served = client.post(
        "/score", json={"family_ids": ["F00006"]}, headers=auth(tokens["caseworker"])
    )
    score_id = served.json()["results"][0]["score_id"]
    n_before += 1
    blocker = sqlite3.connect(audit_db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the log: writes time out
    try:
        response = client.post(
            "/score", json={"family_ids": ["F00005"]}, headers=auth(tokens["caseworker"])
        )
        feedback = client.post(
            "/feedback",
            json={"score_id": score_id, "decision": "no_action", "reason": "r"},
            headers=auth(tokens["caseworker"]),
        )
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == AUDIT_UNAVAILABLE_MESSAGE
    assert "probability" not in response.text and "F00005" not in response.text
    assert feedback.status_code == 503
    n_after = sqlite3.connect(audit_db).execute("SELECT COUNT(*) FROM audit_entries")
    assert n_after.fetchone()[0] == n_before
    assert before.status_code == 200
    # The service recovers as soon as the log is writable again.
    again = client.post(
        "/score", json={"family_ids": ["F00005"]}, headers=auth(tokens["caseworker"])
    )
    assert again.status_code == 200


def test_the_service_own_refusals_pass_the_gate_unchanged(client, tokens):
    body = {"family_ids": ["F00005"], "as_of": "2001-01-01"}  # schema-valid, not held
    response = client.post("/score", json=body, headers=auth(tokens["caseworker"]))
    assert response.status_code == 400
    refusal = ErrorBody.model_validate(response.json())
    assert refusal.error.startswith("as_of: no snapshot for 2001-01-01")
    assert refusal.request_id == response.headers["x-request-id"]
    assert response.headers.get_list("x-request-id") == [refusal.request_id]
    assert set(response.json()) == {"error", "request_id"}  # detail only for schema refusals


def test_the_batch_limit_is_a_schema_limit_naming_the_field(client, tokens):
    ids = [f"F{i:05d}" for i in range(51)]  # one more than EARLYRISK_MAX_BATCH_SIZE
    response = client.post("/score", json={"family_ids": ids}, headers=auth(tokens["caseworker"]))
    assert response.status_code == 400
    refusal = ErrorBody.model_validate(response.json())
    assert refusal.error.startswith("family_ids:") and "50" in refusal.error
    assert "F00050" not in response.text  # the input is not echoed
