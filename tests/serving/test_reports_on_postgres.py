"""The reports read an audit log kept in PostgreSQL exactly as one in a SQLite file:
`earlyrisk shadow-report` and the monitor's ``decisions`` and ``deployment`` sections, on a
throwaway server. The same entries are written to both backends and every figure compared;
the PostgreSQL session only reads, and a database that cannot be reached is a refusal that
names it without its password."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.monitor.audit_source import AuditLogReadError, read_frame, source_option
from serving.monitor.config import MonitorConfig
from serving.monitor.decisions import read_decisions
from serving.monitor.deployment import deployment_section, read_deployment
from serving.monitor.shadow_report import ShadowReportError, read_pairs
from serving.rollout import RolloutConfig, assign, score_detail
from serving.settings import ServingSettings
from serving.store.audit_log import (
    AuditLogBase,
    FeedbackRecord,
    ScoreRecord,
    ShadowRecord,
    open_audit_log,
)
from serving.store.audit_log_pg import open_postgres_audit_log

N = 400
ROLLOUT = RolloutConfig.model_validate(
    {"cycle": "2025-Q1", "seed": 7, "regions": {"North": {"holdout_share": 0.5}}}
)


def _families() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "family_id": [f"F{i:04d}" for i in range(N)],
            "debt": rng.gamma(2.0, 1.0, N),
            "audit_region": np.where(np.arange(N) % 2 == 0, "North", "South"),
            "label": (rng.random(N) < 0.15).astype(int),
            "label_observed": True,
        }
    )


def _level(p: float) -> str:
    return "high" if p >= 0.2 else "elevated" if p >= 0.1 else "low"


def _fill(log: AuditLogBase, frame: pd.DataFrame, probability: np.ndarray) -> None:
    """Seal the rollout; score 300 families with a shadow beside each; decide on 200."""
    log.record_rollout(
        config_json=ROLLOUT.canonical_json(), config_sha256=ROLLOUT.sha256(), cycle=ROLLOUT.cycle
    )
    rng = np.random.default_rng(9)
    scores, shadows = [], []
    for i in range(300):
        fid, region = str(frame.at[i, "family_id"]), str(frame.at[i, "audit_region"])
        p, q = float(probability[i]), float(np.clip(probability[i] + rng.normal(0, 0.03), 0, 1))
        score_id = f"s{i:04d}"
        scores.append(
            ScoreRecord(
                score_id, "r", "t", "caseworker", "score", fid, "2024-12-31", "1", p,
                _level(p), [], detail=score_detail(assign(ROLLOUT, fid, region), ROLLOUT),
            )
        )  # fmt: skip
        shadows.append(ShadowRecord(score_id, "r", fid, "2024-12-31", "m", "2", q, _level(q), 50.0))
    log.record_scores(scores, shadows)
    for i, s in enumerate(scores[:200]):
        decision = "support_offered" if (s.risk_level == "high") == (i % 3 > 0) else "no_action"
        log.record_feedback(
            FeedbackRecord(s.score_id, uuid.uuid4().hex, "t", "caseworker", s.family_id,
                           decision, "x")
        )  # fmt: skip


@pytest.fixture()
def logs(tmp_path: Path, postgres_url: str) -> tuple[Path, str, pd.DataFrame, np.ndarray]:
    frame = _families()
    probability = np.clip(0.03 + 0.05 * frame["debt"].to_numpy(), 0, 1)
    sqlite_path = tmp_path / "audit.sqlite"
    for log in (
        open_audit_log(sqlite_path, new_log=True),
        open_postgres_audit_log(postgres_url, new_log=True),
    ):
        try:
            _fill(log, frame, probability)
        finally:
            log.close()
    return sqlite_path, postgres_url, frame, probability


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    drop = [c for c in ("recorded_at",) if c in a.columns]
    pd.testing.assert_frame_equal(
        a.drop(columns=drop).reset_index(drop=True), b.drop(columns=drop).reset_index(drop=True)
    )


def test_every_reader_gives_the_same_rows_on_both_backends(logs) -> None:
    sqlite_path, url, _, _ = logs
    pairs = read_pairs(url)
    assert len(pairs) == 300 and set(pairs["shadow_version"]) == {"2"}
    _same(read_pairs(sqlite_path), pairs)
    _same(
        read_decisions(sqlite_path, after="2024-12-30", until="2024-12-31"),
        read_decisions(url, after="2024-12-30", until="2024-12-31"),
    )
    lite, pg = (read_deployment(s, after="2024-12-30", until="2024-12-31") for s in logs[:2])
    _same(lite[0], pg[0])
    _same(lite[1], pg[1])
    assert pg[2] == ROLLOUT == lite[2]
    assert set(pg[0]["arm"]) == {"shown", "holdout"}


def test_the_deployment_section_is_the_same_read_from_postgresql(logs) -> None:
    sqlite_path, url, frame, probability = logs
    sections = [
        deployment_section(
            source,
            after="2024-12-30",
            until="2024-12-31",
            current=frame,
            probability=probability,
            covariates=["debt"],
            capacity_k=lambda n: max(1, round(0.1 * n)),
            calibrate=None,
            config=MonitorConfig(min_group_size=11),
        )
        for source in (sqlite_path, url)
    ]
    assert sections[1]["available"] and sections[1]["n_scored"] == 300
    assert sections[1]["decisions"]["n_decisions"] == 200
    assert json.dumps(sections[0], sort_keys=True, default=str) == json.dumps(
        sections[1], sort_keys=True, default=str
    )


def test_shadow_report_reads_the_database_by_url_and_by_the_services_setting(
    logs, tmp_path: Path
) -> None:
    sqlite_path, url, _, _ = logs
    reports = {}
    for name, args, env in (
        ("sqlite", ["--audit-log", str(sqlite_path)], {}),
        ("url", ["--audit-log", url], {}),
        ("setting", [], {"EARLYRISK_DATABASE_URL": url}),
    ):
        out = tmp_path / name
        result = CliRunner().invoke(
            app,
            ["shadow-report", "--out", str(out), *args, "--min-group-size", "3"],
            env={"COLUMNS": "400", "EARLYRISK_SNAPSHOT_PATH": str(tmp_path / "none"), **env},
        )
        assert result.exit_code == 0, result.output
        assert "300 families" in result.output
        reports[name] = json.loads((out / "shadow_report.json").read_text())
    figures = [  # the same figures; only the times of the entries differ between the logs
        [{k: v for k, v in c.items() if not k.endswith("recorded_at")} for c in r["comparisons"]]
        for r in reports.values()
    ]
    assert figures[0][0]["n"] == 300
    assert figures[0] == figures[1] == figures[2]


def test_the_postgresql_session_only_reads(logs) -> None:
    _, url, _, _ = logs
    with pytest.raises(AuditLogReadError, match="read-only transaction"):
        read_frame(url, "DELETE FROM audit_entries WHERE seq = ?", (1,))
    log = open_postgres_audit_log(url)
    try:
        assert log.count("score") == 300 and log.verify().intact
    finally:
        log.close()


def test_an_unreachable_database_is_a_refusal_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://someone:s3cret@127.0.0.1:1/audit"
    with pytest.raises(ShadowReportError, match=r"someone:\*\*\*@") as caught:
        read_pairs(url)
    assert "s3cret" not in str(caught.value)
    result = CliRunner().invoke(
        app,
        ["shadow-report", "--out", str(tmp_path / "r"), "--audit-log", url],
        env={"COLUMNS": "400", "EARLYRISK_SNAPSHOT_PATH": str(tmp_path / "none")},
    )
    assert result.exit_code == 1 and "cannot read the audit log" in result.output
    assert "s3cret" not in result.output


def test_the_log_a_report_reads_by_default() -> None:
    url = "postgresql://u@h:5432/db"
    assert source_option(url, ServingSettings()) == url  # a URL is kept whole
    assert source_option("logs/a.sqlite", ServingSettings()) == Path("logs/a.sqlite")
    assert source_option(None, ServingSettings(database_url=url)) == url
    local = ServingSettings(audit_log_path=Path("x/audit.sqlite"))
    assert source_option(None, local) == Path("x/audit.sqlite")
