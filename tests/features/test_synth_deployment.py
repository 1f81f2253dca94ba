"""``synth --deploy-from``: the planted deployment does what docs/interventions.md says."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from features.synth import SynthConfig, generate_chunk
from features.synth.deployment import DeploymentParams, leniencies
from features.validation import validate_raw_dir

DEPLOY = date(2022, 1, 1)


@pytest.fixture(scope="module")
def chunks():
    base = SynthConfig(families=2500, seed=11)
    deployed = base.model_copy(update={"deploy_from": DEPLOY, "support_effect": 0.6})
    return generate_chunk(base, 0), generate_chunk(deployed, 0)


def test_records_before_the_deployment_and_every_event_are_unchanged(chunks) -> None:
    plain, deployed = chunks
    assert plain.tables["events"].equals(deployed.tables["events"])
    before = pc.less(plain.tables["outcomes"]["outcome_date"], pd.Timestamp(DEPLOY).date())
    before_d = pc.less(deployed.tables["outcomes"]["outcome_date"], pd.Timestamp(DEPLOY).date())
    assert (
        plain.tables["outcomes"].filter(before).equals(deployed.tables["outcomes"].filter(before_d))
    )
    # support removed outcomes (never added one): the deployed outcomes are a subset
    assert deployed.tables["outcomes"].num_rows < plain.tables["outcomes"].num_rows


def test_interventions_follow_the_design(chunks) -> None:
    _, deployed = chunks
    rows = deployed.tables["interventions"].to_pandas()
    assert len(rows) > 100
    assert (pd.to_datetime(rows["recorded_date"]) >= pd.Timestamp(DEPLOY)).all()
    hidden = rows["score_shown"].eq("no")
    assert 0.1 < hidden.mean() < 0.3  # the default hold-out share is 0.2
    offered = rows["offered_date"].notna()
    # a hidden score leaves the family on the usual path: support is offered far less often
    assert offered[hidden].mean() < offered[~hidden].mean() - 0.2
    assert rows.loc[~offered, ["programme", "accepted"]].isna().all().all()
    assert set(rows.loc[offered, "accepted"]) == {"yes", "no"}
    # caseworkers are assigned within the family's region
    families = deployed.tables["families"].to_pandas().set_index("family_id")["region"]
    assert (rows["caseworker_id"].str[3:9] == rows["family_id"].map(families)).all()


def test_caseworkers_differ_in_leniency_the_same_in_every_chunk() -> None:
    params = DeploymentParams()
    first, again = leniencies(5, 17, params), leniencies(5, 17, params)
    assert np.array_equal(first, again)
    assert first.max() - first.min() > 0.2
    assert ((first >= 0.45) & (first <= 0.95)).all()


def test_the_truth_keeps_both_probabilities(chunks) -> None:
    _, deployed = chunks
    truth = deployed.tables["ground_truth"].to_pandas()
    assert (truth["probability_without_support"] == truth["true_probability"]).all()
    assert (truth["probability_with_support"] <= truth["probability_without_support"]).all()
    at_risk = truth["probability_without_support"] > 0.01
    ratio = truth.loc[at_risk, "probability_with_support"] / truth.loc[at_risk, "true_probability"]
    assert 0.35 < ratio.median() < 0.5  # a 60 % lower hazard over the whole window
    supported = truth.groupby(pd.to_datetime(truth["as_of"]).dt.year)["support_in_window"].mean()
    assert supported.loc[2020] == 0 and supported.loc[2022] > 0.02


def test_the_cli_writes_a_valid_registry_with_interventions(tmp_path: Path) -> None:
    out = tmp_path / "reg"
    args = ["synth", "-n", "400", "--out", str(out), "--workers", "1", "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--deploy-from", "2023-01"])
    assert result.exit_code == 0, result.output
    assert (out / "interventions.parquet").exists()
    assert validate_raw_dir(out).ok
    # a run without a deployment replaces the interventions it would otherwise leave behind
    again = CliRunner().invoke(app, [*args, "--overwrite"])
    assert again.exit_code == 0, again.output
    assert not (out / "interventions.parquet").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [("2023-13", "is not a month"), ("2019-06", "must lie after --start")],
)
def test_a_bad_deploy_month_is_refused(tmp_path: Path, value: str, message: str) -> None:
    result = CliRunner().invoke(
        app,
        ["synth", "-n", "10", "--out", str(tmp_path), "--deploy-from", value],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 2
    assert message in result.output
