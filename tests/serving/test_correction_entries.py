"""A correction's steps go on record through the audit log's own method, on both backends:
chained like every entry, readable back by id and step, and nothing else reads them."""

from __future__ import annotations

from pathlib import Path

from serving.store.audit_log import AuditLogBase, open_audit_log
from serving.store.audit_log_pg import open_postgres_audit_log

REASONS = [{"indicator": "utility_debt", "contribution": -0.01}]


def _walk(log: AuditLogBase) -> None:
    filed = log.record_correction(
        correction_id="C1",
        step="requested",
        request_id="r1",
        token_id="tok-cw",
        role="caseworker",
        family_id="F001",
        detail={"correction": {"correction_id": "C1", "status": "requested"}},
    )
    decided = log.record_correction(
        correction_id="C1",
        step="accepted",
        request_id="r2",
        token_id="tok-ro",
        role="registry_officer",
        family_id="F001",
        detail={"diff": {"probability": -0.02}},
        as_of="2024-12-31",
        model_version="3",
        probability=0.11,
        risk_level="elevated",
        reasons=REASONS,
    )
    assert decided == filed + 1
    entries = log.page(after_seq=0, limit=10, kind="correction")
    assert [e["score_id"] for e in entries] == ["correction:C1:requested", "correction:C1:accepted"]
    first, second = entries
    assert first["probability"] is None and first["risk_level"] is None
    assert first["decision"] == "requested" and first["reason"] == "C1"
    assert second["probability"] == 0.11 and second["risk_level"] == "elevated"
    assert second["model_version"] == "3" and second["role"] == "registry_officer"
    assert log.correction_detail("C1", "accepted") == {"diff": {"probability": -0.02}}
    assert log.correction_detail("C1", "rejected") is None  # a step never taken
    assert log.correction_detail("C2", "requested") is None
    assert log.verify().intact


def test_sqlite(tmp_path: Path) -> None:
    log = open_audit_log(tmp_path / "audit.sqlite", new_log=True)
    try:
        _walk(log)
    finally:
        log.close()


def test_postgresql(postgres_url: str) -> None:
    log = open_postgres_audit_log(postgres_url, new_log=True)
    try:
        _walk(log)
    finally:
        log.close()


def test_the_corrections_desk_uses_no_private_part_of_the_log() -> None:
    """The review finding: corrections wrote through ``_append``/``_rows``."""
    source = (Path(__file__).parents[2] / "serving" / "corrections.py").read_text()
    assert "._append" not in source and "._rows" not in source
