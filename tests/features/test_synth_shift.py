"""``earlyrisk synth --shift-month``: the planted change and nothing else.

The shifted registry equals the unshifted one except, from the shift month on, benefit
amounts (x1.6), school-absence values of the school information system (x2) and a share of
the default-label outcomes (dropped); before the shift every table is identical.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from features.synth import SynthConfig, synthesize
from features.synth.shift import DEFAULT_SHIFT

SHIFT = dt.date(2022, 1, 1)


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, pd.DataFrame]]:
    out = {}
    for name, shift in (("plain", None), ("shifted", SHIFT)):
        directory = tmp_path_factory.mktemp(name)
        synthesize(SynthConfig(families=1000, seed=5, shift_month=shift), directory, workers=1)
        out[name] = {
            table: pd.read_parquet(directory / f"{table}.parquet")
            for table in ("families", "persons", "memberships", "events", "outcomes", "protected")
        } | {"ground_truth": pd.read_parquet(directory / "ground_truth.parquet")}
    return out


def test_only_the_documented_change_is_planted(registries) -> None:
    plain, shifted = registries["plain"], registries["shifted"]
    for table in ("families", "persons", "memberships", "protected", "ground_truth"):
        pd.testing.assert_frame_equal(plain[table], shifted[table])
    a, b = plain["events"], shifted["events"]
    pd.testing.assert_frame_equal(a.drop(columns="value"), b.drop(columns="value"))
    after = pd.to_datetime(a["event_date"]) >= pd.Timestamp(SHIFT)
    benefit = after & (a["event_type"] == "benefit_payment")
    absence = after & (a["event_type"] == "school_absence")
    assert benefit.sum() > 100 and absence.sum() > 100
    np.testing.assert_allclose(b.loc[benefit, "value"], a.loc[benefit, "value"] * 1.6)
    np.testing.assert_allclose(b.loc[absence, "value"], a.loc[absence, "value"] * 2.0)
    untouched = ~(benefit | absence)
    pd.testing.assert_series_equal(a.loc[untouched, "value"], b.loc[untouched, "value"])


def test_outcomes_after_the_shift_are_recorded_less_often(registries) -> None:
    plain, shifted = registries["plain"]["outcomes"], registries["shifted"]["outcomes"]
    key = ["family_id", "outcome_type", "outcome_date"]
    assert set(map(tuple, shifted[key].to_numpy())) <= set(map(tuple, plain[key].to_numpy()))
    before = pd.to_datetime(plain["outcome_date"]) < pd.Timestamp(SHIFT)
    labelled = plain["outcome_type"].isin(["child_protection_case", "child_placed_in_care"])
    kept_before = (pd.to_datetime(shifted["outcome_date"]) < pd.Timestamp(SHIFT)).sum()
    assert kept_before == before.sum()  # nothing before the shift is touched
    late_plain = (~before & labelled).sum()
    late_shifted = (
        (pd.to_datetime(shifted["outcome_date"]) >= pd.Timestamp(SHIFT))
        & shifted["outcome_type"].isin(["child_protection_case", "child_placed_in_care"])
    ).sum()
    assert late_plain > 30
    share = late_shifted / late_plain
    assert abs(share - DEFAULT_SHIFT.outcome_kept) < 0.2, share
    # family crises are not part of the label and keep their recording
    crises = plain["outcome_type"] == "family_crisis"
    assert (shifted["outcome_type"] == "family_crisis").sum() == crises.sum()


def test_cli_refuses_a_bad_shift_month(tmp_path) -> None:
    runner = CliRunner()
    common = ["synth", "--families", "5", "--out", str(tmp_path / "r"), "--no-progress"]
    bad = runner.invoke(app, [*common, "--shift-month", "2023-13"])
    assert bad.exit_code == 2 and "not a month" in bad.output
    outside = runner.invoke(app, [*common, "--shift-month", "2019-05"])
    assert outside.exit_code == 2 and "must lie after" in outside.output
    with pytest.raises(ValueError, match="first of a month"):
        SynthConfig(families=5, seed=0, shift_month=dt.date(2023, 1, 15))
