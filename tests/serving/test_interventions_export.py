"""``earlyrisk interventions export``: the audit log's current decisions as the contract's
interventions table, from a real log on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from features.validation import validate_raw_dir
from serving.store.audit_log import FeedbackRecord, ScoreRecord, open_audit_log
from tests.features.raw_factory import valid_tables


def _score(score_id: str, family: str) -> ScoreRecord:
    return ScoreRecord(
        score_id=score_id,
        request_id="req",
        token_id="svc",
        role="caseworker",
        endpoint="score",
        family_id=family,
        as_of="2023-06-30",
        model_version="3",
        probability=0.4,
        risk_level="high",
        reasons=[],
    )


def _decide(log: object, score_id: str, family: str, decision: str, who: str) -> None:
    log.record_feedback(  # type: ignore[attr-defined]
        FeedbackRecord(score_id, "req", who, "caseworker", family, decision, "a reason")
    )


def _fill(log: object) -> None:
    log.record_scores([_score("S1", "F1"), _score("S2", "F2"), _score("S3", "F3")])  # type: ignore[attr-defined]
    _decide(log, "S1", "F1", "no_action", "cw-a")
    _decide(log, "S1", "F1", "support_offered", "cw-b")  # supersedes the first
    _decide(log, "S2", "F2", "no_action", "cw-a")
    # S3 was scored, never decided: no row


def _check(table: pd.DataFrame) -> None:
    table = table.sort_values("family_id").reset_index(drop=True)
    assert table["family_id"].tolist() == ["F1", "F2"]
    first, second = table.iloc[0], table.iloc[1]
    assert first["caseworker_id"] == "cw-b" and first["score_id"] == "S1"
    assert not pd.isna(first["offered_date"]) and first["score_shown"] == "yes"
    assert pd.isna(second["offered_date"]) and pd.isna(second["accepted"])
    assert second["caseworker_id"] == "cw-a"


def test_export_from_a_sqlite_log_validates_beside_the_registry(tmp_path: Path) -> None:
    log_path = tmp_path / "audit.sqlite"
    log = open_audit_log(log_path, new_log=True)
    _fill(log)
    log.close()
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, frame in valid_tables().items():
        frame.to_parquet(raw / f"{name}.parquet", index=False)
    out = raw / "interventions.parquet"
    result = CliRunner().invoke(
        app, ["interventions", "export", "--log", str(log_path), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 2 decisions (1 with support offered)" in result.output
    _check(pd.read_parquet(out))
    # the recorded date is today's: the registry's extraction date is earlier, which the
    # contract allows for this table; every rule of the table holds
    report = validate_raw_dir(raw)
    assert report.ok, report.summary()
    assert report.tables["interventions"].rows == 2
    again = CliRunner().invoke(
        app,
        ["interventions", "export", "--log", str(log_path), "--out", str(out)],
        env={"COLUMNS": "400"},
    )
    assert again.exit_code == 2 and "pass --overwrite" in again.output


def test_a_hidden_score_and_a_programme_are_exported(tmp_path: Path) -> None:
    from serving.interventions_export import interventions_from_feedback

    feedback = pd.DataFrame(
        [
            (
                5,
                "2024-03-01T10:00:00Z",
                "cw",
                "S9",
                "F9",
                "support_offered",
                json.dumps({"programme": "debt_counselling", "accepted": True}),
                json.dumps({"arm": "holdout"}),
            ),
        ],
        columns=[
            "seq",
            "recorded_at",
            "token_id",
            "score_id",
            "family_id",
            "decision",
            "detail",
            "score_detail",
        ],
    )
    row = interventions_from_feedback(feedback).iloc[0]
    assert row["programme"] == "debt_counselling" and row["accepted"] == "yes"
    assert row["score_shown"] == "no" and row["intervention_id"] == "feedback-5"


def test_export_refuses_a_missing_log_and_a_bad_suffix(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(
        app,
        [
            "interventions",
            "export",
            "--log",
            str(tmp_path / "none.sqlite"),
            "--out",
            str(tmp_path / "i.parquet"),
        ],
        env={"COLUMNS": "400"},
    )
    assert missing.exit_code == 2 and "no audit log at" in missing.output
    suffix = runner.invoke(
        app,
        [
            "interventions",
            "export",
            "--log",
            str(tmp_path / "x"),
            "--out",
            str(tmp_path / "i.json"),
        ],
        env={"COLUMNS": "400"},
    )
    assert suffix.exit_code == 2 and ".parquet or .csv" in suffix.output


@pytest.mark.slow
@pytest.mark.server
def test_export_from_a_postgresql_log(postgres_url: str, tmp_path: Path) -> None:
    from serving.store.audit_log_pg import open_postgres_audit_log

    log = open_postgres_audit_log(postgres_url, new_log=True)
    _fill(log)
    log.close()
    out = tmp_path / "interventions.csv"
    result = CliRunner().invoke(
        app, ["interventions", "export", "--url", postgres_url, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    _check(pd.read_csv(out, dtype=str))
