"""The ROC AUC interval's transfer term (serving.monitor.transfer), on constructed data.

* a labelled year whose calibration moves from quarter to quarter (a constructed bad case:
  the outcome's dependence on the indicator is weaker in one season): the Hanley-McNeil
  interval alone misses the realized ROC AUC of a later date in that season; the
  leave-one-quarter-out term widens it until it covers, and the report says by how much;
* a year whose quarters agree: the term is 0 and the interval is the one without it;
* labels not all in, or a single quarter: no term, and the report says why.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from serving.monitor.config import MonitorConfig
from serving.monitor.core import monitor
from serving.monitor.seasonal import choose_reference
from serving.monitor.transfer import calibration_transfer, year_transfer
from training import lightgbm_adapter as lgbx
from training.config import CapacityConfig
from training.reference_stats import ReferenceStats, compute_reference_stats
from training.risk_model import LightGBMRiskModel

YEAR = [dt.date(2023, 3, 31), dt.date(2023, 6, 30), dt.date(2023, 9, 30), dt.date(2023, 12, 31)]
LATER = "2024-03-31"
STEADY = 1.4  # the outcome's slope on the indicator the model learned


def _draw(rng: np.random.Generator, day: dt.date | str, slope: float, n: int) -> pd.DataFrame:
    x = rng.normal(size=n)
    label = (rng.random(n) < 1 / (1 + np.exp(3.0 - slope * x))).astype(int)
    return pd.DataFrame(
        {
            "family_id": [f"F{i}" for i in range(n)],
            "as_of": pd.Timestamp(day),
            "x": x,
            "label": label,
            "label_observed": True,
        }
    )


def _model(rng: np.random.Generator) -> LightGBMRiskModel:
    """A real LightGBM model of the steady relation (calibrated for it)."""
    train = _draw(rng, YEAR[0], STEADY, 20_000)
    booster = lgbx.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7, "seed": 1, "num_threads": 1},
        lgbx.dataset(train[["x"]], train["label"]),
        num_boost_round=40,
    )
    return LightGBMRiskModel(booster, feature_names=["x"])


def _stats(model: LightGBMRiskModel, year: pd.DataFrame) -> ReferenceStats:
    return compute_reference_stats(
        year.loc[year["as_of"] == pd.Timestamp(YEAR[-1])].reset_index(drop=True),
        model=model,
        capacity=CapacityConfig(fraction=0.05),
        source="constructed",
        label=None,
        horizon_months=12,
    )


@pytest.fixture(scope="module")
def world() -> dict:
    rng = np.random.default_rng(11)
    model = _model(rng)
    # the bad case: the first quarter of the year (and the later date, the same season)
    # depends on the indicator far less than the rest of the year
    seasonal = pd.concat(
        [
            _draw(rng, day, s, 6000)
            for day, s in zip(YEAR, (0.5, STEADY, STEADY, STEADY), strict=True)
        ],
        ignore_index=True,
    )
    steady = pd.concat([_draw(rng, day, STEADY, 6000) for day in YEAR], ignore_index=True)
    return {
        "model": model,
        "seasonal": seasonal,
        "steady": steady,
        "later": _draw(rng, LATER, 0.5, 40_000),
    }


def _report(world: dict, year: pd.DataFrame, *, with_transfer: bool) -> dict:
    config = MonitorConfig(n_boot=0)
    stats, season = choose_reference(
        _stats(world["model"], year),
        world["model"],
        year,
        season_day=None,
        calibration_days=YEAR,
        config=config,
    )
    transfer, note = year_transfer(stats, world["model"], year, season)
    return monitor(
        stats,
        world["model"],
        {LATER: world["later"]},
        config=config,
        transfer=transfer if with_transfer else None,
        transfer_note=note,
    )


def test_a_season_whose_calibration_moved_is_covered_only_with_the_transfer_term(
    world: dict,
) -> None:
    narrow = _report(world, world["seasonal"], with_transfer=False)
    entry = narrow["performance"]["realized"][-1]
    # the year's pooled calibration over-states the ranking of the weak season
    assert entry["estimate_error"]["roc_auc"] > 0.05, entry["estimate_error"]
    assert entry["estimate_within_interval"]["roc_auc"] is False
    assert narrow["performance"]["calibration_transfer"]["available"] is False

    wide = _report(world, world["seasonal"], with_transfer=True)
    transfer = wide["performance"]["calibration_transfer"]
    assert transfer["available"] is True
    assert [e["as_of"] for e in transfer["left_out"]] == [d.isoformat() for d in YEAR]
    assert transfer["extra_se"] > 0.03, transfer
    assert "widened by a transfer standard error" in transfer["note"]
    entry = wide["performance"]["realized"][-1]
    assert entry["estimate_within_interval"]["roc_auc"] is True
    # the same point estimate: only the interval moved
    est_narrow = narrow["performance"]["estimated"]["roc_auc"]
    est_wide = wide["performance"]["estimated"]["roc_auc"]
    assert est_wide["value"] == est_narrow["value"]
    assert est_wide["low"] < est_narrow["low"] and est_wide["high"] > est_narrow["high"]
    # the page says it in one line
    from serving.monitor.report_html import render_html

    page = render_html({**wide, "model": {"name": "m", "version": "1"}})
    assert "Calibration transfer between quarters: left-out errors" in page
    assert f"transfer standard error of {transfer['extra_se']:.4f}" in page


def test_a_year_whose_quarters_agree_adds_nothing(world: dict) -> None:
    narrow = _report(world, world["steady"], with_transfer=False)
    wide = _report(world, world["steady"], with_transfer=True)
    transfer = wide["performance"]["calibration_transfer"]
    assert transfer["available"] is True and transfer["extra_se"] == 0.0, transfer
    assert "not widened" in transfer["note"]
    assert (
        wide["performance"]["estimated"]["roc_auc"] == narrow["performance"]["estimated"]["roc_auc"]
    )


def test_labels_not_in_or_one_quarter_give_no_term_and_say_why(world: dict) -> None:
    model, year = world["model"], world["steady"]
    stats = _stats(model, year)
    frames = {
        day: year.loc[year["as_of"] == pd.Timestamp(day)].reset_index(drop=True) for day in YEAR
    }
    open_window = {**frames, YEAR[2]: frames[YEAR[2]].assign(label_observed=False)}
    transfer, note = calibration_transfer(stats, model, open_window)
    assert transfer is None and note is not None and "2023-09-30" in note and "not all in" in note
    transfer, note = calibration_transfer(stats, model, {YEAR[0]: frames[YEAR[0]]})
    assert transfer is None and note is not None and "at least 2" in note
    # the stored check (no labelled year read): nothing to leave out, said in the report
    transfer, note = year_transfer(stats, model, year, {"calibration_as_of": []})
    assert transfer is None and note is not None and "stored reference" in note
    report = monitor(
        stats, model, {LATER: world["later"]}, config=MonitorConfig(n_boot=0), transfer_note=note
    )
    assert report["performance"]["calibration_transfer"] == {
        "available": False,
        "metric": "roc_auc",
        "extra_se": 0.0,
        "note": note,
    }


def test_a_refused_labelled_year_names_no_dates_and_measures_no_term(world: dict) -> None:
    """When the year's check is refused (a quarter's labels not in), the estimate trusts the
    stored check: the report must not list the year's dates as the calibration's, and no
    transfer term is measured for a calibration that was not used."""
    model, year = world["model"], world["steady"]
    late = year["as_of"] == pd.Timestamp(YEAR[1])
    year = year.assign(label_observed=~late)
    stored = _stats(model, year)
    stats, season = choose_reference(
        stored, model, year, season_day=None, calibration_days=YEAR, config=MonitorConfig()
    )
    assert stats is stored and season["calibration_as_of"] == []
    assert "not all in" in season["calibration"]
    transfer, note = year_transfer(stats, model, year, season)
    assert transfer is None and note is not None and "stored reference" in note
