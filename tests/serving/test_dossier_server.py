"""``POST /dossier`` on a real ``bentoml serve`` process, and the purpose lock over HTTP:
a caseworker gets the record of a family of its regions (HTML) and is refused another
region's (404 like an unknown family, a security event, no record logged); an auditor gets
the PDF; every production is a ``dossier`` entry of the audit log; every role x endpoint
pair outside the role matrix is refused (403), so no score or level reaches a role outside
the support services."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from serving_world import DOSSIER_CONTACT, ServingWorld, auth

from serving.auth import (
    PERMISSIONS,
    REDACTED_FOR_OTHER_ROLES,
    ROLES,
    SCORE_BEARING,
    SUPPORT_SERVICE_ROLES,
    Endpoint,
)
from serving.dossier.render import numbers_of
from serving.local_server import LocalServer

pytestmark = pytest.mark.server

NORTH_FAMILY = "F00003"  # number % 3 == 0: North (serving_world)
SOUTH_FAMILY = "F00004"


@dataclass(frozen=True)
class DossierServer:
    """The session's real server (tests/serving/conftest.py: its dossiers carry the contact
    line) and the two logs it writes: the audit log beside its output, the world's security
    log."""

    url: str
    audit_log: Path
    security_log: Path


@pytest.fixture(scope="module")
def dossier_server(real_server: LocalServer, serving_world: ServingWorld) -> DossierServer:
    return DossierServer(
        url=real_server.url,
        audit_log=real_server.log_path.with_name("audit_log.sqlite"),
        security_log=Path(serving_world.env["EARLYRISK_SECURITY_LOG_PATH"]),
    )


@pytest.fixture(scope="module")
def role_tokens(serving_world: ServingWorld) -> dict[str, str]:
    """A token of every role, and a caseworker scoped to the North region."""
    store = serving_world.tokens()
    out = {role: store.create(role).token for role in ROLES}
    out["north_caseworker"] = store.create("caseworker", regions=["North"]).token
    return out


def _rows(server: DossierServer, table: str) -> list[dict[str, object]]:
    path = server.audit_log if table == "audit_entries" else server.security_log
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY seq")]


def _dossiers(server: DossierServer) -> list[dict[str, object]]:
    return [r for r in _rows(server, "audit_entries") if r["kind"] == "dossier"]


def test_a_caseworker_gets_the_record_of_a_family_of_its_regions(dossier_server, role_tokens):
    with httpx.Client(base_url=dossier_server.url, timeout=60) as client:
        response = client.post(
            "/dossier",
            json={"family_id": NORTH_FAMILY, "lang": "kk"},
            headers=auth(role_tokens["north_caseworker"]),
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert '<html lang="kk">' in html and DOSSIER_CONTACT in html
    numbers = numbers_of(html)
    assert numbers["family_id"] == NORTH_FAMILY
    (entry,) = [
        d for d in _dossiers(dossier_server) if d["request_id"] == response.headers["x-request-id"]
    ]
    assert entry["family_id"] == NORTH_FAMILY and entry["role"] == "caseworker"
    assert numbers["score_id"] in str(entry["detail"])


def test_another_region_is_refused_like_an_unknown_family_and_recorded(dossier_server, role_tokens):
    before = len(_dossiers(dossier_server))
    with httpx.Client(base_url=dossier_server.url, timeout=60) as client:
        refused = client.post(
            "/dossier",
            json={"family_id": SOUTH_FAMILY, "lang": "en"},
            headers=auth(role_tokens["north_caseworker"]),
        )
        unknown = client.post(
            "/dossier",
            json={"family_id": "F99999", "lang": "en"},
            headers=auth(role_tokens["north_caseworker"]),
        )
    assert refused.status_code == unknown.status_code == 404
    assert SOUTH_FAMILY not in refused.text.replace("family_id 'F00004'", "")
    assert len(_dossiers(dossier_server)) == before  # nothing produced, nothing logged
    events = [
        r
        for r in _rows(dossier_server, "security_events")
        if r["request_id"] == refused.headers["x-request-id"]
    ]
    assert [(e["event"], e["endpoint"]) for e in events] == [("forbidden", "dossier")]


def test_an_auditor_gets_the_pdf_and_it_is_logged(dossier_server, role_tokens):
    with httpx.Client(base_url=dossier_server.url, timeout=60) as client:
        response = client.post(
            "/dossier",
            json={"family_id": SOUTH_FAMILY, "lang": "ru", "format": "pdf"},
            headers=auth(role_tokens["auditor"]),
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    (entry,) = [
        d for d in _dossiers(dossier_server) if d["request_id"] == response.headers["x-request-id"]
    ]
    assert entry["role"] == "auditor" and '"format":"pdf"' in str(entry["detail"])


def test_a_bad_dossier_request_names_the_field(dossier_server, role_tokens):
    with httpx.Client(base_url=dossier_server.url, timeout=60) as client:
        response = client.post(
            "/dossier",
            json={"family_id": NORTH_FAMILY, "format": "docx"},
            headers=auth(role_tokens["caseworker"]),
        )
    assert response.status_code == 400
    assert "format" in response.json()["error"]


@pytest.mark.parametrize("endpoint", sorted(SCORE_BEARING))
def test_purpose_lock_every_role_outside_the_matrix_is_refused(
    dossier_server, role_tokens, endpoint: Endpoint
):
    """Every (role, score-bearing endpoint) pair the matrix does not allow answers 403,
    and no role outside the support services is allowed any of them."""
    bodies = {
        "score": {"family_ids": [NORTH_FAMILY]},
        "score_indicators": {"indicators": {}},
        "family": {"family_id": NORTH_FAMILY},
        "dossier": {"family_id": NORTH_FAMILY},
        "audit_log": {},
        "worklist": {},
        "correction": {"op": "list", "family_id": NORTH_FAMILY},
    }
    refused = [role for role in ROLES if endpoint not in PERMISSIONS[role]]
    # a role outside the support services reaches a score-bearing endpoint only where the
    # endpoint strips every score from its answer for it (test_purpose_lock.py)
    assert all(
        role in refused
        for role in ROLES
        if role not in SUPPORT_SERVICE_ROLES and endpoint not in REDACTED_FOR_OTHER_ROLES
    )
    with httpx.Client(base_url=dossier_server.url, timeout=60) as client:
        for role in refused:
            response = client.post(
                f"/{endpoint}", json=bodies[endpoint], headers=auth(role_tokens[role])
            )
            assert response.status_code == 403, (role, endpoint, response.text)
            assert "probability" not in response.text and "risk_level" not in response.text
