"""`earlyrisk monitor` end to end with its audit log in PostgreSQL, as one run.

The monitor world's registry and model (``monitor_world``), and one day of service written
the same way into a SQLite audit log and into a database on a throwaway PostgreSQL server:
a sealed rollout with a display hold-out, a score (and a shadow score) for 400 families,
caseworkers' decisions on two thirds of them. The CLI then runs whole, once per way of
naming the log (``--audit-log FILE``, ``--audit-log postgresql://...``, and the service's own
``EARLYRISK_DATABASE_URL``), and the ``decisions`` and ``deployment`` sections must be the
same figures from either backend, read without writing a row; a database that cannot be
reached stops the run with a refusal that does not show the password."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from monitor_world import MONITOR_MODEL, monitor_world
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.rollout import RolloutConfig, assign, score_detail
from serving.store.audit_log import (
    AuditLogBase,
    FeedbackRecord,
    ScoreRecord,
    ShadowRecord,
    open_audit_log,
)
from serving.store.audit_log_pg import open_postgres_audit_log

AS_OF = "2023-12-31"
N_SCORED = 400
N_DECIDED = 270
# both tests need the monitor world's trained model (built once per run, minutes): slow
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support:FutureWarning"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return monitor_world(tmp_path_factory)


def _scored_families(raw: Path) -> pd.DataFrame:
    """400 families of the registry that exist by the as-of date, with their region."""
    families = pd.read_parquet(raw / "families.parquet")
    registered = pd.to_datetime(families["registered_date"]) <= pd.Timestamp(AS_OF)
    return families.loc[registered, ["family_id", "region"]].head(N_SCORED).reset_index(drop=True)


def _rollout(families: pd.DataFrame) -> RolloutConfig:
    """Half of the most common region's families in the display hold-out."""
    region = str(families["region"].value_counts().index[0])
    return RolloutConfig.model_validate(
        {"cycle": "2024-Q1", "seed": 3, "regions": {region: {"holdout_share": 0.5}}}
    )


def _fill(log: AuditLogBase, families: pd.DataFrame, rollout: RolloutConfig, version: str) -> None:
    """Seal the rollout, score every family with a shadow beside it, decide on 270."""
    log.record_rollout(
        config_json=rollout.canonical_json(), config_sha256=rollout.sha256(), cycle=rollout.cycle
    )
    rng = np.random.default_rng(17)
    probability = rng.beta(1.2, 14.0, len(families))
    scores, shadows = [], []
    for i, (fid, region) in enumerate(families.itertuples(index=False)):
        p = float(probability[i])
        level = "high" if p >= 0.15 else "elevated" if p >= 0.08 else "low"
        score_id = f"s{i:04d}"
        scores.append(
            ScoreRecord(
                score_id, "r", "t", "caseworker", "score", fid, AS_OF, version, p, level, [],
                detail=score_detail(assign(rollout, fid, region), rollout),
            )
        )  # fmt: skip
        shadows.append(ShadowRecord(score_id, "r", fid, AS_OF, "shadow", "0", p, level, 20.0))
    log.record_scores(scores, shadows)
    for i, score in enumerate(scores[:N_DECIDED]):
        agree = i % 4 != 0
        high = score.risk_level == "high"
        decision = ("support_offered" if high else "no_action") if agree else (
            "override_lower" if high else "override_higher"
        )  # fmt: skip
        log.record_feedback(
            FeedbackRecord(score.score_id, uuid.uuid4().hex, "t", "caseworker", score.family_id,
                           decision, "reviewed")
        )  # fmt: skip


@pytest.fixture(scope="module")
def logs(
    world: dict[str, Any], postgres_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """The same day of service in a SQLite file and in a fresh PostgreSQL database."""
    families = _scored_families(world["raw"])
    rollout = _rollout(families)
    sqlite_path = tmp_path_factory.mktemp("pg_monitor") / "audit.sqlite"
    url = postgres_server.create_database(f"t_monitor_run_{uuid.uuid4().hex[:8]}")
    both = (open_audit_log(sqlite_path, new_log=True), open_postgres_audit_log(url, new_log=True))
    for log in both:
        try:
            _fill(log, families, rollout, str(world["version"]))
        finally:
            log.close()
    return sqlite_path, url


def _monitor(world: dict[str, Any], out: Path, args: list[str], env: dict[str, str]) -> Any:
    # the sections compared read the audit log, not the registry's history, the fairness
    # resamples or a seasonal reference (whose labelled year costs four more feature dates)
    config = out.parent / f"{out.name}.yaml"
    settings = {"history_months": 0, "n_boot": 0, "seasonal_reference": False}
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return CliRunner().invoke(
        app,
        [
            "monitor",
            "--raw", str(world["raw"]),
            "--as-of", AS_OF,
            "--model", f"models:/{MONITOR_MODEL}/{world['version']}",
            "--tracking-uri", world["tracking"],
            "--config", str(config),
            "--no-mlflow",
            "--out", str(out),
            *args,
        ],
        env={"COLUMNS": "400", "EARLYRISK_AUDIT_LOG_PATH": str(out.parent / "unused.sqlite"),
             **env},
    )  # fmt: skip


def _sections(out: Path) -> dict[str, Any]:
    report = json.loads((out / "monitor_report.json").read_text(encoding="utf-8"))
    return {"decisions": report["decisions"], "deployment": report["deployment"]}


def test_monitor_runs_whole_on_a_postgresql_audit_log(
    world: dict[str, Any], logs: tuple[Path, str], tmp_path: Path
) -> None:
    sqlite_path, url = logs
    runs = {
        "sqlite": (["--audit-log", str(sqlite_path)], {}),
        "url": (["--audit-log", url], {}),
        "setting": ([], {"EARLYRISK_DATABASE_URL": url}),
    }
    before = open_postgres_audit_log(url)
    try:
        entries = before.count("score") + before.count("feedback") + before.count("shadow")
    finally:
        before.close()
    sections = {}
    for name, (args, env) in runs.items():
        result = _monitor(world, tmp_path / name, args, env)
        assert result.exit_code in (0, 3), (name, result.output)  # a report, alerts or not
        sections[name] = _sections(tmp_path / name)
    deployment = sections["url"]["deployment"]
    assert deployment["available"], deployment
    # the log's families that the model scores at the as-of date were read from PostgreSQL
    assert 0 < deployment["n_scored"] <= N_SCORED
    assert 0 < deployment["n_served"] < deployment["n_scored"]
    assert deployment["design"]["available"] and deployment["design"]["balance"]["n_holdout"] > 0
    decisions = sections["url"]["decisions"]
    assert decisions["available"], decisions
    # one figure for the three ways of naming the log
    text = {name: json.dumps(s, sort_keys=True, default=str) for name, s in sections.items()}
    assert text["url"] == text["sqlite"] == text["setting"]
    after = open_postgres_audit_log(url)
    try:  # the monitor only read: not one entry more, the chain intact
        assert after.count("score") + after.count("feedback") + after.count("shadow") == entries
        assert after.verify().intact
    finally:
        after.close()


def test_an_unreachable_database_stops_the_run_without_the_password(
    world: dict[str, Any], tmp_path: Path
) -> None:
    url = "postgresql://monitor:s3cret@127.0.0.1:1/audit"
    result = _monitor(world, tmp_path / "refused", ["--audit-log", url], {})
    assert result.exit_code == 1, result.output
    assert "cannot monitor" in result.output and "monitor:***@" in result.output
    assert "s3cret" not in result.output
    assert not (tmp_path / "refused" / "monitor_report.json").exists()
