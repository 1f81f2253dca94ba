"""``SynthConfig.deploy_support_months``: how long support lasts in the deployment synth.

The interventions benchmark plants support that covers a whole label window (24 months), so
that the selective-labels bias is large enough to measure; this proves the knob reaches the
simulation: a family is flagged again only after its support ended, and the truth's
``support_in_window`` follows the longer support."""

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


def _gaps_in_months(months: int) -> tuple[pd.Series, float]:
    config = SynthConfig(
        families=1500,
        seed=11,
        deploy_from=DEPLOY,
        deploy_capacity=0.05,
        deploy_support_months=months,
    )
    chunk = generate_chunk(config, 0)
    rows = chunk.tables["interventions"].to_pandas()
    decided = pd.to_datetime(rows["recorded_date"]).dt.to_period("M")
    # recorded 0..10 days after the month's end: the decision month is the one before
    month = (decided - 1).where(pd.to_datetime(rows["recorded_date"]).dt.day <= 11, decided)
    ordered = pd.DataFrame({"family": rows["family_id"], "month": month}).sort_values("month")
    gaps = ordered.groupby("family")["month"].diff().dropna().map(lambda d: d.n)
    truth = chunk.tables["ground_truth"].to_pandas()
    return gaps, float(truth["support_in_window"].mean())


def test_a_family_is_flagged_again_only_after_its_support_months() -> None:
    short_gaps, short_share = _gaps_in_months(12)
    long_gaps, long_share = _gaps_in_months(24)
    assert len(short_gaps) > 20 and len(long_gaps) > 5
    assert short_gaps.min() == 13  # flagged again the month after a 12-month case closed
    assert long_gaps.min() == 25
    # longer support covers more label windows
    assert long_share > short_share


@pytest.mark.parametrize("months", [0, 37])
def test_support_months_outside_1_to_36_are_refused(months: int) -> None:
    with pytest.raises(ValidationError, match="deploy_support_months"):
        SynthConfig(families=10, seed=1, deploy_support_months=months)


def test_the_cli_passes_support_months_and_refuses_a_bad_value(tmp_path: Path) -> None:
    args = ["synth", "-n", "300", "--workers", "1", "--no-progress", "--deploy-from", "2021-01"]
    deployment = ["--deploy-capacity", "0.05", "--support-months", "30"]
    ok = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "reg"), *deployment])
    assert ok.exit_code == 0, ok.output
    rows = pd.read_parquet(tmp_path / "reg" / "interventions.parquet")
    months = pd.to_datetime(rows["recorded_date"]).dt.to_period("M")
    gaps = pd.DataFrame({"f": rows["family_id"], "m": months}).sort_values("m")
    again = gaps.groupby("f")["m"].diff().dropna().map(lambda d: d.n)
    assert again.empty or again.min() >= 29  # 31 months between flags, +-1 for the lag
    bad = CliRunner().invoke(
        app,
        [*args, "--out", str(tmp_path / "bad"), "--support-months", "0"],
        env={"COLUMNS": "400"},
    )
    assert bad.exit_code == 2
    assert "--support-months" in bad.output
    assert "greater than or equal to 1" in bad.output
