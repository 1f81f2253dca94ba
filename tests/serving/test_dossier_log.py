"""The ``dossier`` entries of the audit log (an explanation record produced, a notices run)
on both dialects: appended to the hash chain, read back with their detail, refused nothing
the chain's verification would miss."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.store.audit_log import AuditLogBase, open_audit_log
from serving.store.audit_log_pg import open_postgres_audit_log


def _write_and_read(log: AuditLogBase) -> None:
    seq = log.record_dossier(
        request_id="req-d1",
        token_id="cw0000000001",
        role="caseworker",
        endpoint="dossier",
        family_id="F00001",
        as_of="2024-12-31",
        model_version="3",
        detail={"explains_score_id": "s1", "lang": "kk", "format": "pdf",
                "numbers_sha256": "ab" * 32},
    )  # fmt: skip
    log.record_dossier(
        request_id="req-n1",
        token_id="cli:ops",
        role="operator",
        endpoint="notices",
        family_id=None,
        as_of="2024-12-31",
        model_version="3",
        detail={"config": {"legal_basis": "law", "opt_out_allowed": False}, "notices": 12},
    )
    entries = [e for e in log.page(limit=100) if e["kind"] == "dossier"]
    assert [e["endpoint"] for e in entries] == ["dossier", "notices"]
    first, run = entries
    assert first["seq"] == seq and first["score_id"] == "dossier:req-d1"
    assert first["detail"]["numbers_sha256"] == "ab" * 32 and first["family_id"] == "F00001"
    assert run["family_id"] is None and run["detail"]["config"]["legal_basis"] == "law"
    assert log.count("dossier") == 2
    report = log.verify()
    assert report.intact and report.entries == 2, report


def test_dossier_entries_on_sqlite(tmp_path: Path) -> None:
    log = open_audit_log(tmp_path / "audit_log.sqlite", new_log=True)
    try:
        _write_and_read(log)
    finally:
        log.close()


@pytest.mark.server
@pytest.mark.slow
def test_dossier_entries_on_postgresql(postgres_url: str) -> None:
    log = open_postgres_audit_log(postgres_url, new_log=True)
    try:
        _write_and_read(log)
    finally:
        log.close()
