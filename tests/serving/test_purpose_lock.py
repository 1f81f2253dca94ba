"""The purpose lock (issue 23, item 6): no score or level reaches a role outside the
family support services. The check refuses a matrix that breaks it (an approver, a registry
officer or a new role given a score-bearing endpoint; an endpoint that does not say whether
it bears scores), the shipped matrix passes, and the model card documents the same matrix.
The HTTP side (every role x endpoint outside the matrix answers 403 on a real server) is
in ``test_dossier_server.py``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from serving.auth import (
    PERMISSIONS,
    REDACTED_FOR_OTHER_ROLES,
    ROLES,
    SCORE_BEARING,
    SCORE_FREE,
    SUPPORT_SERVICE_ROLES,
    Endpoint,
    PurposeLockError,
    check_purpose_lock,
    purpose_lock_violations,
    redact_scores,
)

CARD = Path(__file__).resolve().parents[2] / "models" / "model_card.md.j2"


def test_the_shipped_matrix_keeps_the_lock() -> None:
    assert purpose_lock_violations(PERMISSIONS) == []
    assert set(get_args(Endpoint)) == SCORE_BEARING | SCORE_FREE
    assert not SCORE_BEARING & SCORE_FREE
    for role in ROLES:
        if role not in SUPPORT_SERVICE_ROLES:
            assert not PERMISSIONS[role] & (SCORE_BEARING - REDACTED_FOR_OTHER_ROLES), role


def test_a_redacted_endpoint_reaches_other_roles_only_without_scores() -> None:
    """/correction is score-bearing for a caseworker (the re-score's diff) and allowed to a
    registry officer only because its answer loses every score and level for that role;
    without the redaction the same matrix breaks the lock."""
    answer = {
        "correction": {"correction_id": "C1", "status": "accepted"},
        "before": {"probability": 0.21, "risk_level": "high"},
        "after": {"probability": 0.08, "risk_level": "low"},
        "diff": {"probability_change": -0.13, "level_changed": True},
        "corrections": [{"correction_id": "C1", "score_id": "s1", "probability": 0.2}],
    }
    seen = redact_scores(answer, "registry_officer")
    assert seen == {
        "correction": {"correction_id": "C1", "status": "accepted"},
        "corrections": [{"correction_id": "C1"}],
    }
    assert redact_scores(answer, "caseworker") == answer
    assert "correction" in PERMISSIONS["registry_officer"] & SCORE_BEARING
    broken = purpose_lock_violations(
        {**PERMISSIONS, "registry_officer": frozenset({"correction", "family"})}
    )
    assert broken and all("'family'" in problem for problem in broken), broken


@pytest.mark.parametrize(
    ("role", "endpoint"),
    [("approver", "score"), ("approver", "family"), ("registry_officer", "dossier"),
     ("registry_officer", "audit_log"), ("statistics_office", "score_indicators")],
)  # fmt: skip
def test_a_score_bearing_endpoint_outside_the_support_services_is_refused(
    role: str, endpoint: str
) -> None:
    bad = {**PERMISSIONS, role: PERMISSIONS.get(role, frozenset()) | {endpoint}}
    (problem,) = purpose_lock_violations(bad)
    assert f"role {role!r}" in problem and repr(endpoint) in problem
    with pytest.raises(PurposeLockError, match="social scoring is banned"):
        check_purpose_lock(bad)


def test_a_role_outside_the_support_services_may_still_use_score_free_endpoints() -> None:
    fine = {**PERMISSIONS, "registry_officer": frozenset({"model_card", "feedback"})}
    assert purpose_lock_violations(fine) == []


def test_an_endpoint_must_say_whether_it_bears_scores() -> None:
    endpoints = frozenset(get_args(Endpoint)) | {"worklist_export"}
    (problem,) = purpose_lock_violations(PERMISSIONS, endpoints=endpoints)
    assert "'worklist_export' is neither in SCORE_BEARING nor in SCORE_FREE" in problem


def test_the_model_card_documents_the_matrix() -> None:
    text = CARD.read_text(encoding="utf-8")
    section = text.split("## Purpose lock (no social scoring)", 1)[1].split("\n## ", 1)[0]
    rows = {
        cells[0]: cells[2]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| role")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    for role in ROLES:
        allowed = PERMISSIONS[role] & SCORE_BEARING
        if role not in SUPPORT_SERVICE_ROLES:  # its answers there lose every score
            allowed -= REDACTED_FOR_OTHER_ROLES
        row = rows.get(role, rows["any other role"])
        documented = set(re.findall(r"/(\w+)", row.split("(and")[0]))
        assert documented == allowed, (role, documented, allowed)
