"""Level 3: a real `bentoml serve` process on a free 127.0.0.1 port.

Also the properties that only a real server can show: the audit log holds exactly one row
per score served under concurrent clients, and an OpenAPI-driven fuzz run (schemathesis)
finds no 5xx response.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from serving_world import auth

# starts a real `bentoml serve` process
pytestmark = pytest.mark.server


def _audit_count(real_server, serving_world) -> int:
    path = serving_world.root / "server" / "audit_log.sqlite"
    with sqlite3.connect(path) as conn:
        return int(
            conn.execute("SELECT COUNT(*) FROM audit_entries WHERE kind='score'").fetchone()[0]
        )


def test_probes_and_explained_score(real_server, tokens):
    with httpx.Client(base_url=real_server.url, timeout=30) as client:
        assert client.get("/livez").status_code == 200
        assert client.get("/readyz").status_code == 200
        response = client.post(
            "/score", json={"family_ids": ["F00011"]}, headers=auth(tokens["caseworker"])
        )
        assert response.status_code == 200
        (item,) = response.json()["results"]
        assert item["status"] == "scored" and item["reasons_raising"]
        denied = client.post("/model_card", json={}, headers=auth(tokens["caseworker"]))
        assert denied.status_code == 403
        anonymous = client.post("/score", json={"family_ids": ["F00011"]})
        assert anonymous.status_code == 401


def test_audit_log_counts_every_score_under_concurrency(real_server, serving_world, tokens):
    before = _audit_count(real_server, serving_world)
    ids = [f"F{i:05d}" for i in range(40)]

    def one(i: int) -> set[str]:
        batch = [ids[i % 40], ids[(i * 7) % 40], "not-a-family"]
        with httpx.Client(base_url=real_server.url, timeout=30) as client:
            response = client.post(
                "/score", json={"family_ids": batch}, headers=auth(tokens["caseworker"])
            )
        assert response.status_code == 200
        results = response.json()["results"]
        assert [r["status"] for r in results] == ["scored", "scored", "error"]
        return {r["score_id"] for r in results if r["status"] == "scored"}

    with ThreadPoolExecutor(max_workers=16) as pool:
        served = set().union(*pool.map(one, range(64)))
    # A family named twice in one request is scored once (one score_id, one audit row).
    assert len(served) == 128 - 4
    assert _audit_count(real_server, serving_world) - before == len(served)


def test_openapi_fuzz_finds_no_server_error(real_server, tokens):
    schema = schemathesis.openapi.from_url(f"{real_server.url}/docs.json")
    headers = auth(tokens["admin"])
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {op.path for op in operations}
    assert {"/score", "/score_indicators", "/feedback", "/model_card", "/audit_log"} <= paths
    tested = 0
    for operation in operations:
        if operation.path not in {
            "/score",
            "/score_indicators",
            "/feedback",
            "/model_card",
            "/audit_log",
        }:
            continue

        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case) -> None:
            response = case.call(base_url=real_server.url, headers=headers, timeout=30)
            assert response.status_code < 500, (case.body, response.text)
            assert "Traceback" not in response.text

        check()
        tested += 1
    assert tested == 5
