"""`earlyrisk token`, `earlyrisk serve` (checks, then exec) and `earlyrisk score` (batch)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from private_modes import mode, usual_umask
from typer.testing import CliRunner

from earlyrisk.cli import app
from features.eligibility import EligibilityRule
from features.engine import build_feature_table
from serving.batch import score_features, score_registry
from serving.engine import scorer_from_settings
from serving.local_server import begin_audit_log
from serving.settings import ServingSettings
from serving.store.audit_log import AuditLog, AuditLogUnavailable
from serving.store.tokens import SqlTokenStore

AS_OF = "2024-06-30"


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "400"})  # rich folds long paths at 80


def test_token_create_prints_it_once_and_stores_a_hash(runner, serving_world, tmp_path):
    env = {"EARLYRISK_TOKEN_DB_PATH": str(tmp_path / "tokens.sqlite")}
    result = runner.invoke(app, ["token", "create", "--role", "auditor", "--quiet"], env=env)
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    principal = SqlTokenStore(tmp_path / "tokens.sqlite").verify(token)
    assert principal is not None and principal.role == "auditor"
    listing = runner.invoke(app, ["token", "list"], env=env)
    assert principal.token_id in listing.output and token not in listing.output
    revoked = runner.invoke(app, ["token", "revoke", principal.token_id], env=env)
    assert revoked.exit_code == 0
    assert SqlTokenStore(tmp_path / "tokens.sqlite").verify(token) is None
    again = runner.invoke(app, ["token", "revoke", principal.token_id], env=env)
    assert again.exit_code == 1 and "no live token" in again.output
    bad = runner.invoke(app, ["token", "create", "--role", "root"], env=env)
    assert bad.exit_code == 2


def test_serve_check_runs_the_startup_checks(runner, serving_world):
    ok = runner.invoke(app, ["serve", "--check"], env=serving_world.env)
    assert ok.exit_code == 0, ok.output
    assert f"version {serving_world.model_version}" in ok.output
    assert "2024-12-31" in ok.output
    refused = runner.invoke(
        app,
        ["serve", "--check", "--model", "models:/earlyrisk-serving-test@nobody"],
        env=serving_world.env,
    )
    assert refused.exit_code == 1 and "refusing to start" in refused.output


def test_serve_execs_bentoml_with_the_service_and_the_chosen_options(
    runner, serving_world, monkeypatch, tmp_path
):
    """After the checks, `serve` becomes `bentoml serve <the service>` (the tests' command)."""
    import os

    from serving.local_server import SERVICE_TARGET, bentoml_serve_argv

    calls = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    snapshot = str(serving_world.snapshot_path)
    result = runner.invoke(
        app,
        ["serve", "--port", "3456", "--snapshot", snapshot, "--workers", "2", "--new-log"],
        env={**serving_world.env, "EARLYRISK_AUDIT_LOG_PATH": str(tmp_path / "audit.sqlite")},
    )
    assert result.exit_code == 0, result.output
    [(path, argv, env)] = calls
    assert argv == bentoml_serve_argv(host="127.0.0.1", port=3456) and path == argv[0]
    assert argv[4] == SERVICE_TARGET == "serving.service:EarlyRiskScoring"
    assert env["EARLYRISK_SNAPSHOT_PATH"] == snapshot and env["EARLYRISK_WORKERS"] == "2"


def test_serve_and_score_share_the_model_and_registry_options():
    """Both verbs load the champion through ServingSettings: one option, one help text."""
    import typer.main

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    for name in ("model", "tracking_uri"):
        serve, score = (
            next(p for p in commands[verb].params if p.name == name) for verb in ("serve", "score")
        )
        assert serve.opts == score.opts and serve.help == score.help and serve.default is None
    model = next(p for p in commands["score"].params if p.name == "model")
    assert "EARLYRISK_MODEL_NAME" in model.help


@pytest.fixture(scope="module")
def batch_file(serving_world, small_registry_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch") / "scores.parquet"
    log = AuditLog(out.parent / "audit_log.sqlite")
    summary = score_registry(
        small_registry_dir,
        as_of=AS_OF,
        out=out,
        model_uri="models:/earlyrisk-serving-test@champion",
        tracking_uri=serving_world.tracking_uri,
        audit_log=log,
        operator="test:batch",
        families_per_partition=150,
    )
    assert summary.partitions > 1  # several row groups: memory bounded by a partition
    yield out, summary, log
    log.close()


@pytest.mark.slow
def test_batch_scores_every_family_with_the_service_reasons(
    batch_file, serving_world, small_registry_dir
):
    out, summary, _ = batch_file
    scores = pd.read_parquet(out)
    features = build_feature_table(small_registry_dir, [AS_OF], n_jobs=1)
    assert summary.families == len(features) == len(scores)
    assert scores["family_id"].is_unique
    assert set(scores["family_id"]) == set(features["family_id"])
    model = serving_world.model
    merged = features.merge(scores, on="family_id", suffixes=("", "_scored"))
    # design rule 10: a family without a child is not scored, it gets a status and a reason
    childless = merged["hh_children"] < 1
    assert childless.any() and (~childless).any()
    assert (merged.loc[childless, "status"] == "ineligible").all()
    assert merged.loc[childless, "probability"].isna().all()
    assert merged.loc[childless, "score_id"].isna().all()
    assert merged.loc[childless, "ineligible_reason"].str.contains("no child under 18").all()
    kids = merged.loc[~childless]
    assert (kids["status"] == "scored").all() and kids["ineligible_reason"].isna().all()
    np.testing.assert_array_equal(
        kids["probability"], np.round(model.predict_proba(kids[model.feature_names]), 4)
    )
    scorer = scorer_from_settings(model, ServingSettings(), eligibility=EligibilityRule())
    direct = score_features(features.head(20), scorer, model_name="m", model_version="v")
    by_id = scores.set_index("family_id")
    for _, row in direct.iterrows():
        assert row.status == by_id.loc[row.family_id, "status"]
        if row.status != "scored":
            continue
        batch_reasons = [r["indicator"] for r in by_id.loc[row.family_id, "reasons_raising"]]
        assert batch_reasons == [r["indicator"] for r in row.reasons_raising]
    assert not any(c in scores.columns for c in model.feature_names)
    assert {"label", "label_observed", "audit_settlement", "wellbeing_score"} <= set(scores)
    meta = pq.read_schema(out).metadata
    assert meta[b"earlyrisk.model_version"].decode() == serving_world.model_version
    assert meta[b"earlyrisk.as_of"] == AS_OF.encode()
    assert sum(summary.levels.values()) == len(scores)
    assert summary.levels["ineligible"] == int(childless.sum())
    # the levels are the bands set on the eligible scored population, stated in the metadata
    scored = scores[scores["status"] == "scored"]
    assert scores.loc[scores["status"] != "scored", "risk_level"].isna().all()
    assert scores.loc[scores["status"] != "scored", "percentile"].isna().all()
    high = float(meta[b"earlyrisk.band.high"].decode())
    assert summary.band_cutoffs["high"] == high
    assert ((scored["probability"] >= high) == (scored["risk_level"] == "high")).all()
    assert 0 < (scored["risk_level"] == "high").sum() <= math.ceil(0.05 * len(scored))
    assert scored["percentile"].round(1).equals(scored["percentile"])
    assert scored["percentile"].max() == 100.0
    # every reason is a need over the threshold with a worded value
    for reasons in scored["reasons_raising"]:
        for r in reasons:
            assert r["kind"] == "need" and r["contribution"] >= 0.002 and r["value"]
    for items in scored["context"]:
        assert all(r["kind"] in ("context", "support") for r in items)


@pytest.mark.slow
def test_score_verb_writes_the_same_file(
    runner, batch_file, serving_world, small_registry_dir, tmp_path
):
    out = tmp_path / "cli_scores.parquet"
    with usual_umask():
        result = runner.invoke(
            app,
            ["score", "--raw", str(small_registry_dir), "--as-of", AS_OF, "--out", str(out)],
            env=serving_world.env,
        )
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o600  # every family's score, level and reasons: owner-only
    via_cli = pd.read_parquet(out).sort_values("family_id").reset_index(drop=True)
    via_api = pd.read_parquet(batch_file[0]).sort_values("family_id").reset_index(drop=True)
    # One partition (CLI default) or three: the same scores.
    pd.testing.assert_series_equal(via_cli["probability"], via_api["probability"])
    pd.testing.assert_series_equal(via_cli["status"], via_api["status"])
    first = int(np.flatnonzero(via_cli["status"] == "scored")[0])
    assert json.dumps(list(via_cli["reasons_raising"][first]), default=str) == json.dumps(
        list(via_api["reasons_raising"][first]), default=str
    )


def test_score_verb_errors_are_clear(runner, serving_world, small_registry_dir, tmp_path):
    bad_date = runner.invoke(
        app,
        [
            "score",
            "--raw",
            str(small_registry_dir),
            "--as-of",
            "June",
            "--out",
            str(tmp_path / "x"),
        ],
        env=serving_world.env,
    )
    assert bad_date.exit_code == 2 and "not a date" in bad_date.output
    no_model = runner.invoke(
        app,
        [
            "score",
            "--raw",
            str(small_registry_dir),
            "--as-of",
            AS_OF,
            "--out",
            str(tmp_path / "x.parquet"),
            "--model",
            "models:/earlyrisk-serving-test@none",
        ],
        env=serving_world.env,
    )
    assert no_model.exit_code == 1 and "cannot score" in no_model.output
    assert not (tmp_path / "x.parquet").exists()
    # an --out under a file is refused before any work, naming both (no traceback)
    (tmp_path / "a_file").write_text("", encoding="utf-8")
    under_a_file = runner.invoke(
        app,
        [
            *("score", "--raw", str(small_registry_dir), "--as-of", AS_OF),
            *("--out", str(tmp_path / "a_file" / "x.parquet")),
        ],
        env=serving_world.env,
    )
    said = " ".join(under_a_file.output.split())
    assert under_a_file.exit_code == 2, under_a_file.output
    assert f"cannot be written: {tmp_path / 'a_file'} is a file, not a folder" in said


@pytest.mark.slow
def test_unobserved_labels_are_null_and_an_audit_on_them_is_refused(runner, batch_file, tmp_path):
    # AS_OF + 12 months reaches past the registry's extraction date: no label is known yet.
    out, _, _ = batch_file
    scores = pd.read_parquet(out)
    assert not scores["label_observed"].any()
    assert scores["label"].isna().all()
    result = runner.invoke(
        app,
        [
            "audit",
            "--scores",
            str(out),
            "--score",
            "probability",
            "--label",
            "label",
            "--group",
            "audit_settlement",
            "--top-fraction",
            "0.1",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert "label" in result.output and "missing" in result.output


@pytest.mark.slow
def test_every_batch_score_is_on_the_audit_log(batch_file):
    out, summary, log = batch_file
    scores = pd.read_parquet(out)
    scored = scores.loc[scores["status"] == "scored"]
    assert scored["score_id"].is_unique and scored["score_id"].notna().all()
    # an ineligible family got no score, so nothing of it is on the log
    assert log.count("score") == len(scored) < summary.families == len(scores)
    scores = scored
    entry = log.score_entry(scores["score_id"].iloc[0])
    assert entry is not None
    assert (entry["endpoint"], entry["role"], entry["token_id"]) == ("batch", "batch", "test:batch")
    assert entry["family_id"] == scores["family_id"].iloc[0]
    assert entry["probability"] == pytest.approx(scores["probability"].iloc[0])


def test_score_refuses_an_as_of_after_the_extraction_date(
    runner, serving_world, small_registry_dir, tmp_path
):
    """The registry cannot describe its families on 2200-01-01 (before the refusal, ~500 of
    them were scored there through memberships with no end date): exit 2, the message names
    both dates, and nothing is written or logged (not even the run's start)."""
    log_path = tmp_path / "audit_log.sqlite"
    out = tmp_path / "late.parquet"
    argv = ["score", "--raw", str(small_registry_dir), "--as-of", "2200-01-01", "--out", str(out)]
    env = {**serving_world.env, "EARLYRISK_AUDIT_LOG_PATH": str(log_path)}
    begin_audit_log(env)  # the service's log, begun by `serve --new-log`
    result = runner.invoke(app, argv, env=env)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    said = " ".join(result.output.split())
    assert "as-of date 2200-01-01 is after the data's extraction date" in said, said
    assert "nothing was scored" in said
    assert sorted(p.name for p in tmp_path.iterdir() if "late" in p.name) == []
    log = AuditLog(log_path)
    try:
        assert log.count("batch_run") == 0 and log.count("score") == 0
    finally:
        log.close()


@pytest.mark.slow
def test_batch_publishes_nothing_when_the_log_cannot_be_written(
    serving_world, small_registry_dir, tmp_path
):
    import sqlite3

    log_path = tmp_path / "audit_log.sqlite"
    log = AuditLog(log_path, busy_timeout_ms=50)
    blocker = sqlite3.connect(log_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the log
    out = tmp_path / "scores.parquet"
    try:
        with pytest.raises(AuditLogUnavailable):
            score_registry(
                small_registry_dir,
                as_of=AS_OF,
                out=out,
                model_uri="models:/earlyrisk-serving-test@champion",
                tracking_uri=serving_world.tracking_uri,
                audit_log=log,
                operator="test:batch",
            )
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert not out.exists()
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob("*.scored"))
    assert log.count("score") == 0
    log.close()
