"""``SynthConfig.deploy_acceptance`` and ``deploy_leniency``: the deployment synth's take-up.

The interventions benchmark needs a deployment whose support reaches most of the families
it flags, so that the naive AUC's bias is clear (``benchmarks/interventions.py``). These
prove the knobs reach the simulation and change only who is supported: the same families
are flagged on the same days (the draws are the same; only the thresholds move), more of
them are offered and accept support, and bad values are refused naming the option."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from earlyrisk.cli import app
from features.synth import SynthConfig, generate_chunk

DEPLOY = date(2021, 1, 1)


@pytest.fixture(scope="module")
def registries() -> tuple[pd.DataFrame, pd.DataFrame, float, float]:
    """The interventions of the default take-up and of a high one, and each truth's share
    of rows with support in the label window."""
    base = SynthConfig(families=1500, seed=11, deploy_from=DEPLOY, deploy_capacity=0.03)
    high = base.model_copy(update={"deploy_acceptance": 0.95, "deploy_leniency": (0.7, 1.0)})
    out = []
    for config in (base, high):
        chunk = generate_chunk(config, 0)
        truth = chunk.tables["ground_truth"].to_pandas()
        out.append((chunk.tables["interventions"].to_pandas(), truth["support_in_window"].mean()))
    (plain, plain_share), (eager, eager_share) = out
    return plain, eager, float(plain_share), float(eager_share)


def test_higher_take_up_supports_more_of_the_same_flagged_families(
    registries: tuple[pd.DataFrame, pd.DataFrame, float, float],
) -> None:
    plain, eager, plain_share, eager_share = registries
    assert len(plain) > 100
    # the same flags: the same families on the same days, the same hold-out arm
    for column in ("family_id", "recorded_date", "score_shown", "caseworker_id"):
        assert plain[column].tolist() == eager[column].tolist(), column

    def rates(rows: pd.DataFrame) -> tuple[float, float]:
        shown = rows["score_shown"].eq("yes")
        offered = rows["offered_date"].notna()
        accepted = rows["accepted"].eq("yes")
        return float(offered[shown].mean()), float(accepted[offered].mean())

    plain_offer, plain_accept = rates(plain)
    eager_offer, eager_accept = rates(eager)
    # leniency uniform on (0.45, 0.95) averages 0.70; on (0.7, 1.0) 0.85
    assert plain_offer < 0.78 < eager_offer
    assert plain_accept < 0.87 < eager_accept  # acceptance 0.8 against 0.95
    # more supported families: more label windows with support in the truth
    assert eager_share > plain_share * 1.2


def test_a_leniency_out_of_order_or_range_is_refused() -> None:
    for bad in ((0.9, 0.5), (-0.1, 0.5), (0.5, 1.2)):
        with pytest.raises(ValidationError, match="deploy_leniency"):
            SynthConfig(families=10, seed=1, deploy_leniency=bad)
    with pytest.raises(ValidationError, match="deploy_acceptance"):
        SynthConfig(families=10, seed=1, deploy_acceptance=1.5)


def test_the_cli_passes_take_up_and_refuses_bad_values(tmp_path: Path) -> None:
    args = ["synth", "-n", "300", "--workers", "1", "--no-progress", "--deploy-from", "2021-01"]
    knobs = ["--deploy-capacity", "0.05", "--acceptance", "1", "--leniency", "1:1"]
    ok = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "reg"), *knobs])
    assert ok.exit_code == 0, ok.output
    rows = pd.read_parquet(tmp_path / "reg" / "interventions.parquet")
    shown = rows["score_shown"].eq("yes")
    # every caseworker offers every shown family support and every family accepts
    assert shown.sum() > 10
    assert rows.loc[shown, "accepted"].eq("yes").all()
    for option, value, says in (
        ("--leniency", "0.9:0.5", "LOW:HIGH"),
        ("--leniency", "half", "LOW:HIGH"),
        ("--acceptance", "1.5", "--acceptance"),
    ):
        bad = CliRunner().invoke(
            app,
            [*args, "--out", str(tmp_path / "bad"), option, value],
            env={"COLUMNS": "400"},
        )
        assert bad.exit_code == 2, (option, value, bad.output)
        assert says in bad.output and option in bad.output
