"""Shadow and rollout entries on both audit-log backends: the shadow's rows go in the same
transaction as the scores, the sealed config and the scores' arms replay, the chain holds."""

from __future__ import annotations

import uuid
from pathlib import Path

from serving.rollout import RolloutConfig, assign, replay, score_detail
from serving.store.audit_log import AuditLogBase, ScoreRecord, ShadowRecord, open_audit_log
from serving.store.audit_log_pg import open_postgres_audit_log

CONFIG = RolloutConfig.model_validate(
    {"cycle": "c1", "seed": 5, "regions": {"North": {"holdout_share": 0.5}}}
)


def _write(log: AuditLogBase) -> list[str]:
    log.record_rollout(
        config_json=CONFIG.canonical_json(), config_sha256=CONFIG.sha256(), cycle=CONFIG.cycle
    )
    ids = [f"F{i:03d}" for i in range(20)]
    scores = [
        ScoreRecord(
            score_id=uuid.uuid4().hex,
            request_id="r",
            token_id="t",
            role="caseworker",
            endpoint="score",
            family_id=fid,
            as_of="2024-12-31",
            model_version="1",
            probability=0.1,
            risk_level="low",
            reasons=[],
            detail=score_detail(assign(CONFIG, fid, "North"), CONFIG),
        )
        for fid in ids
    ]
    shadow = [
        ShadowRecord(s.score_id, "r", s.family_id, s.as_of, "m", "2", 0.2, "elevated", 55.0)
        for s in scores
    ]
    log.record_scores(scores, shadow)
    return [s.score_id for s in scores]


def _check(log: AuditLogBase, score_ids: list[str]) -> None:
    entries = log.page(after_seq=0, limit=1000)
    assert [e["kind"] for e in entries] == ["rollout"] + ["score"] * 20 + ["shadow"] * 20
    shadows = [e for e in entries if e["kind"] == "shadow"]
    assert [e["detail"]["shadows"] for e in shadows] == score_ids
    assert {e["score_id"] for e in shadows} == {f"shadow:{s}" for s in score_ids}
    assert all(e["model_version"] == "2" and e["probability"] == 0.2 for e in shadows)
    # the shadow's entries do not make its ids answerable as scores
    assert log.score_entry(f"shadow:{score_ids[0]}") is None
    report = replay(entries)
    assert report.ok and report.checked == 20
    assert log.verify().intact


def test_sqlite(tmp_path: Path) -> None:
    log = open_audit_log(tmp_path / "audit.sqlite", new_log=True)
    try:
        _check(log, _write(log))
    finally:
        log.close()


def test_postgresql(postgres_url: str) -> None:
    log = open_postgres_audit_log(postgres_url, new_log=True)
    try:
        _check(log, _write(log))
    finally:
        log.close()
