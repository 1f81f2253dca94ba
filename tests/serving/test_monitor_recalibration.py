"""The map the label-free ROC AUC estimate trusts (serving.monitor.recalibration), on
constructed labelled years (arrays: what the rule sees).

* served probabilities a little too flat (the truth is a logistic recalibration of them):
  over many draws of a small labelled year, the default rule's estimate at a later date is
  closer to the realized ROC AUC than the served probability's (too low) and than the
  isotonic map's (its steps over-fit a few hundred outcomes);
* the map's own spread: over those draws the Hanley-McNeil interval alone misses the realized
  value too often; widened by the spread of the estimate over bootstrap refits of the map
  it covers at least 90 %;
* the safeguards: a map that would reverse the ranking is kept flat, a year with too few
  outcomes keeps the served probability and says why, an unknown rule is refused by name.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.special import expit

from serving.monitor.config import MonitorConfig
from serving.monitor.recalibration import RULES, map_spread, recalibrate
from serving.monitor.transfer import auc_sampling_se, widen
from training.performance_estimate import MetricInterval, expected_roc_auc
from training.reference_stats import MIN_RECALIBRATION_EVENTS

YEAR = [dt.date(2023, 3, 31), dt.date(2023, 6, 30), dt.date(2023, 9, 30), dt.date(2023, 12, 31)]
SLOPE = 0.9  # served logit = truth's, squeezed 10 % towards the base rate: too flat


def k(n: int) -> int:
    return max(1, round(0.05 * n))


def _draw(
    rng: np.random.Generator, n: int, *, slope: float = SLOPE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, served probabilities and the true probabilities of ``n`` families."""
    truth = -3.0 + 1.4 * rng.normal(size=n)
    y = (rng.random(n) < expit(truth)).astype(int)
    return y, expit(-3.0 + slope * (truth + 3.0)), expit(truth)


def _pair(drawn: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """What the monitor sees of a draw: labels and served probabilities."""
    return drawn[0], drawn[1]


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def _year(rng: np.random.Generator, n: int) -> dict[dt.date, tuple[np.ndarray, np.ndarray]]:
    return {day: _pair(_draw(rng, n)) for day in YEAR}


def test_the_default_rule_beats_the_served_and_the_isotonic_map_on_a_flat_model() -> None:
    rng = np.random.default_rng(3)
    errors: dict[str, list[float]] = {"served": [], "isotonic": [], "default": []}
    default = MonitorConfig().recalibration
    for _ in range(12):
        year = _year(rng, 1500)  # about 300 outcomes in the year
        _, p, truth = _draw(rng, 13_000)
        # against the ROC AUC the true probabilities imply (the realized value's own draw
        # would hide the maps' differences in its noise)
        expected = expected_roc_auc(truth, p)
        errors["served"].append(expected_roc_auc(p, p) - expected)
        for name, rule in (("isotonic", "isotonic"), ("default", default)):
            check, _ = recalibrate(rule, year, k=k)
            errors[name].append(expected_roc_auc(check.apply(p), p) - expected)
    mae = {name: float(np.mean(np.abs(e))) for name, e in errors.items()}
    assert np.mean(errors["served"]) < -0.01, mae  # the too-flat probabilities under-state
    assert mae["default"] < 0.8 * mae["served"] and mae["default"] < 0.8 * mae["isotonic"], mae


def test_the_maps_spread_makes_the_interval_cover() -> None:
    rng = np.random.default_rng(4)
    config = MonitorConfig()
    plain, wide = [], []
    for _ in range(25):
        year = _year(rng, 1200)
        check, _ = recalibrate(config.recalibration, year, k=k)
        spread = map_spread(check.method, year, k=k, n_boot=20, seed=0)
        y, p, _ = _draw(rng, 13_000)
        realized = _auc(y, p)
        value, se = auc_sampling_se(check.apply(p), p)
        narrow = widen(MetricInterval(value, value - 1.96 * se, value + 1.96 * se), se,
                       confidence_level=0.95)  # fmt: skip
        spread_se = spread.se(p)
        assert spread_se > 0
        widened = widen(narrow, se, spread_se, confidence_level=0.95)
        assert widened.low < narrow.low and widened.high > narrow.high
        plain.append(narrow.low <= realized <= narrow.high)
        wide.append(widened.low <= realized <= widened.high)
    assert np.mean(wide) >= 0.9, (np.mean(plain), np.mean(wide))
    assert np.mean(plain) < np.mean(wide), (np.mean(plain), np.mean(wide))
    # no resamples: nothing to spread over, the interval is left as it is
    assert map_spread(check.method, year, k=k, n_boot=0, seed=0).se(p) == 0.0


def test_a_map_that_would_reverse_the_ranking_is_kept_flat() -> None:
    rng = np.random.default_rng(5)
    year = {}
    for day in YEAR:
        y, p, _ = _draw(rng, 3000)
        year[day] = (1 - y, p)  # outcomes where the model says least: a reversed relation
    check, _ = recalibrate("logistic", year, k=k)
    trusted = check.apply(np.linspace(0.001, 0.999, 50))
    assert np.ptp(trusted) == 0.0, trusted  # flat, never a reversed ranking
    assert expected_roc_auc(trusted, np.linspace(0.001, 0.999, 50)) == pytest.approx(0.5)


def test_a_year_with_too_few_outcomes_keeps_the_served_probability_and_says_why() -> None:
    rng = np.random.default_rng(6)
    year = {day: _pair(_draw(rng, 200)) for day in YEAR}  # about 18 outcomes a quarter
    events = sum(int(y.sum()) for y, _ in year.values())
    assert events < MIN_RECALIBRATION_EVENTS
    for rule in RULES:
        check, info = recalibrate(rule, year, k=k)
        assert check.method == "none" and info["option"] == "none", (rule, check)
        assert check.note is not None and f"{events} outcomes" in check.note, check.note
        assert str(MIN_RECALIBRATION_EVENTS) in check.note


def test_an_unknown_rule_is_refused_naming_the_allowed_ones() -> None:
    year = _year(np.random.default_rng(7), 1000)
    with pytest.raises(ValueError, match="'platt' is unknown; allowed: ece_check, isotonic"):
        recalibrate("platt", year, k=k)
    with pytest.raises(ValidationError, match="recalibration"):
        MonitorConfig.model_validate({"recalibration": "platt"})


def test_auc_check_keeps_the_option_closest_one_quarter_out() -> None:
    """On a too-flat model the served probability is the worst option one quarter out;
    the check names each option's error and keeps the smallest."""
    year = _year(np.random.default_rng(8), 6000)
    check, info = recalibrate("auc_check", year, k=k)
    rms = info["rms_error"]
    assert set(rms) == {"none", "isotonic", "logistic"}
    assert info["option"] == min(rms, key=rms.__getitem__) != "none", rms
    assert check.method == info["option"]
    assert check.note is not None and "one quarter out" in check.note


def test_the_report_states_the_maps_spread_and_widens_by_it() -> None:
    """Through the monitor's own path (choose_reference, year_map_spread, monitor) on a real
    LightGBM model: the report's ``calibration_map_spread`` and the page's line, and an
    interval wider than the one with ``calibration_boot: 0`` around the same estimate."""
    import pandas as pd

    from serving.monitor.core import monitor
    from serving.monitor.recalibration import year_map_spread
    from serving.monitor.report_html import render_html
    from serving.monitor.seasonal import choose_reference
    from training import lightgbm_adapter as lgbx
    from training.config import CapacityConfig
    from training.reference_stats import compute_reference_stats
    from training.risk_model import LightGBMRiskModel

    rng = np.random.default_rng(9)

    def rows(day: dt.date | str, n: int) -> pd.DataFrame:
        x = rng.normal(size=n)
        y = (rng.random(n) < expit(-3.0 + 1.4 * x)).astype(int)
        return pd.DataFrame(
            {"family_id": [f"F{i}" for i in range(n)], "as_of": pd.Timestamp(day), "x": x,
             "label": y, "label_observed": True}
        )  # fmt: skip

    train = rows(YEAR[0], 8000)
    booster = lgbx.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7, "seed": 1, "num_threads": 1},
        lgbx.dataset(train[["x"]], train["label"]),
        num_boost_round=30,
    )
    model = LightGBMRiskModel(booster, feature_names=["x"])
    year = pd.concat([rows(day, 1500) for day in YEAR], ignore_index=True)
    stored = compute_reference_stats(
        year.loc[year["as_of"] == pd.Timestamp(YEAR[-1])].reset_index(drop=True),
        model=model,
        capacity=CapacityConfig(fraction=0.05),
        source="constructed",
        label=None,
        horizon_months=12,
    )
    later = {"2024-03-31": rows("2024-03-31", 5000)}
    reports = {}
    for boot in (0, 20):
        config = MonitorConfig(n_boot=0, calibration_boot=boot)
        stats, season = choose_reference(
            stored, model, year, season_day=None, calibration_days=YEAR, config=config
        )
        spread = year_map_spread(stats, model, year, season, config=config)
        reports[boot] = monitor(stats, model, later, config=config, spread=spread)
    entry = reports[20]["performance"]["calibration_map_spread"]
    assert entry["available"] is True and entry["option"] == "logistic" and entry["n_boot"] == 20
    assert entry["se_at_as_of"] > 0.001, entry
    assert reports[0]["performance"]["calibration_map_spread"]["available"] is False
    plain = reports[0]["performance"]["estimated"]["roc_auc"]
    wide = reports[20]["performance"]["estimated"]["roc_auc"]
    assert wide["value"] == plain["value"]
    assert wide["low"] < plain["low"] and wide["high"] > plain["high"]
    page = render_html({**reports[20], "model": {"name": "m", "version": "1"}})
    assert "Calibration map spread: the ROC AUC estimate moves by a standard deviation" in page


def test_the_beta_map_drops_a_tail_that_would_turn_it_down() -> None:
    """Outcomes that get rarer again towards p = 1 (a negative ``c``): beta calibration's own
    rule drops that term and refits, so the trusted map never reverses the ranking."""
    rng = np.random.default_rng(10)
    year = {}
    for day in YEAR:
        p = expit(-1.5 + 1.6 * rng.normal(size=4000))
        truth = expit(1.0 + 1.2 * np.log(p) + 2.5 * np.log1p(-p))  # c = -2.5
        year[day] = ((rng.random(p.size) < truth).astype(int), p)
    check, info = recalibrate("beta", year, k=k)
    assert check.method == "beta" and info["option"] == "beta"
    grid = np.linspace(0.001, 0.999, 400)
    assert np.all(np.diff(check.apply(grid)) >= 0), check.note
    assert check.note is not None and "- 0.000 ln(1-p)" in check.note, check.note


def test_the_blend_is_the_mean_of_both_maps_and_keeps_the_served_one_without_a_fit() -> None:
    year = _year(np.random.default_rng(11), 3000)
    maps = {rule: recalibrate(rule, year, k=k)[0] for rule in ("blend", "logistic", "isotonic")}
    grid = np.linspace(0.0, 1.0, 501)
    mean = (maps["logistic"].apply(grid) + maps["isotonic"].apply(grid)) / 2
    assert maps["blend"].method == "blend"
    np.testing.assert_allclose(maps["blend"].apply(grid), mean, atol=1e-12)
    # outcomes separated by the score: the logistic half has no finite fit, so the blend
    # keeps the served probability and says why (never half a map)
    rng = np.random.default_rng(12)
    separated = {}
    for day in YEAR:
        p = rng.random(1000)
        separated[day] = ((p > 0.8).astype(int), p)
    check, _ = recalibrate("blend", separated, k=k)
    assert check.method == "none", check
    assert check.note is not None and "no finite fit" in check.note, check.note
