"""Which reference the monitor takes (serving.monitor.seasonal), on constructed data.

* the drift reference: the same quarter, in the last year of the model's data once the
  monitored date is past it (a year-old comparison, not a two-year-old one);
* the estimate's calibration: the reference's whole labelled year pooled; on a model whose
  served probabilities are too flat (a constructed bad case) the stored reference's check
  under-estimates the ROC AUC, the year's check recalibrates and the estimate lands on the
  realized value; labels not yet in keep the stored check and say why.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from serving.monitor.config import MonitorConfig
from serving.monitor.core import monitor
from serving.monitor.seasonal import (
    calibration_reference_dates,
    choose_reference,
    labelled_year_calibration,
    seasonal_reference_date,
)
from training import lightgbm_adapter as lgbx
from training.config import CapacityConfig
from training.reference_stats import ReferenceStats, compute_reference_stats
from training.risk_model import LightGBMRiskModel, MarginCalibrator

STORED = ["2023-12-31"]
YEAR = [dt.date(2023, 3, 31), dt.date(2023, 6, 30), dt.date(2023, 9, 30), dt.date(2023, 12, 31)]


def test_past_the_models_data_the_same_quarter_comes_from_its_last_year() -> None:
    through = dt.date(2024, 12, 31)  # labels through 2024-12-31: snapshots up to it known
    assert seasonal_reference_date(dt.date(2025, 3, 31), STORED, data_through=through) == dt.date(
        2024, 3, 31
    )
    assert seasonal_reference_date(dt.date(2025, 12, 31), STORED, data_through=through) == dt.date(
        2024, 12, 31
    )
    # without the tag, or within the model's data: the stored reference's year, as before
    assert seasonal_reference_date(dt.date(2025, 3, 31), STORED) == dt.date(2023, 3, 31)
    assert seasonal_reference_date(dt.date(2024, 6, 30), STORED, data_through=through) == dt.date(
        2023, 6, 30
    )
    assert seasonal_reference_date(dt.date(2024, 12, 31), STORED, data_through=through) is None


def test_the_labelled_year_is_the_reference_date_and_the_three_quarter_ends_before_it() -> None:
    assert calibration_reference_dates(STORED, horizon_months=12) == YEAR
    assert calibration_reference_dates(STORED, horizon_months=6) == YEAR[2:]
    assert calibration_reference_dates(STORED, horizon_months=None) == []
    assert calibration_reference_dates([], horizon_months=12) == []


def _flat_model(rng: np.random.Generator) -> LightGBMRiskModel:
    """A real LightGBM model on one indicator whose served probabilities are squeezed
    towards the mean (Platt slope 0.35 on the margin): it ranks well but states too
    little spread, so a label-free estimate that trusts it under-states the ROC AUC."""
    x = rng.normal(size=6000)
    y = (rng.random(x.size) < 1 / (1 + np.exp(3.0 - 1.4 * x))).astype(int)
    booster = lgbx.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7, "seed": 1, "num_threads": 1},
        lgbx.dataset(pd.DataFrame({"x": x}), pd.Series(y)),
        num_boost_round=40,
    )
    model = LightGBMRiskModel(booster, feature_names=["x"])
    return model.with_calibrator(MarginCalibrator(method="sigmoid", a=-0.35, b=1.9))  # type: ignore[return-value]


def _snapshot(rng: np.random.Generator, day: dt.date, *, n: int = 5000) -> pd.DataFrame:
    x = rng.normal(size=n)
    label = (rng.random(x.size) < 1 / (1 + np.exp(3.0 - 1.4 * x))).astype(int)
    return pd.DataFrame(
        {
            "family_id": [f"F{i}" for i in range(x.size)],
            "as_of": pd.Timestamp(day),
            "x": x,
            "label": label,
            "label_observed": True,
        }
    )


@pytest.fixture(scope="module")
def flat() -> dict:
    rng = np.random.default_rng(5)
    model = _flat_model(rng)
    year = pd.concat([_snapshot(rng, day) for day in YEAR], ignore_index=True)
    stored = compute_reference_stats(
        year.loc[year["as_of"] == pd.Timestamp(YEAR[-1])].reset_index(drop=True),
        model=model,
        capacity=CapacityConfig(fraction=0.05),
        source="constructed",
        label=None,  # no stored calibration check: the estimate trusts the served probability
        horizon_months=12,
    )
    return {
        "model": model,
        "year": year,
        "stored": stored,
        "later": _snapshot(rng, YEAR[-1], n=60_000),
    }


def _auc_error(stats: ReferenceStats, flat: dict) -> float:
    later = flat["later"].assign(as_of=pd.Timestamp("2024-06-30"))
    report = monitor(stats, flat["model"], {"2024-06-30": later}, config=MonitorConfig(n_boot=0))
    entry = report["performance"]["realized"][-1]
    return float(entry["estimate_error"]["roc_auc"])


def test_the_labelled_years_check_recalibrates_what_the_stored_one_trusted(flat: dict) -> None:
    before = _auc_error(flat["stored"], flat)
    assert before < -0.1, before  # the constructed flat probabilities under-state the AUC
    stats, note = choose_reference(
        flat["stored"],
        flat["model"],
        flat["year"],
        season_day=None,
        calibration_days=YEAR,
        config=MonitorConfig(),
    )
    # the default rule's map (serving.monitor.recalibration: logistic, chosen on clean setups)
    assert stats.calibration is not None and stats.calibration.method == "logistic"
    assert note["calibration_as_of"] == [d.isoformat() for d in YEAR]
    assert "20000 families" in note["calibration"], note
    after = _auc_error(stats, flat)
    # a small under-statement stays (about 0.018 here with the logistic map, 0.015 with the
    # isotonic one, against 0.19 before): the booster's steps on one indicator are not the
    # true probability's shape, which no map of the served probability restores
    assert abs(after) < 0.02 and abs(after) < abs(before) / 8, (before, after)


def test_labels_not_yet_in_keep_the_stored_check_and_say_so(flat: dict) -> None:
    frames = {
        day: flat["year"].loc[flat["year"]["as_of"] == pd.Timestamp(day)].reset_index(drop=True)
        for day in YEAR
    }
    frames[YEAR[1]] = frames[YEAR[1]].assign(label_observed=False)
    stats, note = labelled_year_calibration(flat["stored"], flat["model"], frames)
    assert stats is flat["stored"]
    assert note is not None and "2023-06-30" in note and "not all in" in note


def test_a_labelled_year_before_the_data_keeps_the_stored_check(flat: dict) -> None:
    frames = {day: flat["year"].iloc[:0] for day in YEAR}  # a registry too short for it
    stats, note = labelled_year_calibration(flat["stored"], flat["model"], frames)
    assert stats is flat["stored"]
    assert note is not None and "no family as of 2023-03-31" in note
