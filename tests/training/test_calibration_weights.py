"""Calibration honours the support weights (issue 24): the rows training keeps after support
stand, through their weights, for every family, and the calibrator must map the margin to
the rate of that population, not to the rate of the kept rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.calibration import CalibrationError, choose_calibration, fit_margin_calibrator
from training.models import SUPPORT_WEIGHT, RuleBaseline
from training.refit import cross_fitted_probability, recalibrate


def _two_margins() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Margin -1: 200 rows, 10 % positive; margin +1: 200 rows, half positive, negatives
    weighted 3: weighted rate 100 / (100 + 300) = 0.25 against 0.5 unweighted."""
    margin = np.repeat([-1.0, 1.0], 200)
    y = np.concatenate([np.arange(200) < 20, np.arange(200) < 100]).astype(int)
    weight = np.where((margin > 0) & (y == 0), 3.0, 1.0)
    return margin, y, weight


def test_isotonic_and_sigmoid_map_the_margin_to_the_weighted_rate() -> None:
    margin, y, weight = _two_margins()
    iso = fit_margin_calibrator(margin, y, method="isotonic", sample_weight=weight)
    assert iso.transform(np.array([1.0]))[0] == pytest.approx(0.25)
    assert iso.transform(np.array([-1.0]))[0] == pytest.approx(0.1)
    unweighted = fit_margin_calibrator(margin, y, method="isotonic")
    assert unweighted.transform(np.array([1.0]))[0] == pytest.approx(0.5)  # the kept rows' rate
    sig = fit_margin_calibrator(margin, y, method="sigmoid", sample_weight=weight)
    assert sig.transform(np.array([1.0]))[0] == pytest.approx(0.25, abs=0.02)


def test_bad_weights_are_refused_naming_them() -> None:
    margin, y, weight = _two_margins()
    with pytest.raises(CalibrationError, match=r"one weight per row \(400\), got shape \(399,\)"):
        fit_margin_calibrator(margin, y, method="isotonic", sample_weight=weight[:-1])
    with pytest.raises(CalibrationError, match="finite, >= 0 and not all 0; got min -1"):
        fit_margin_calibrator(margin, y, method="isotonic", sample_weight=weight - 2.0)
    with_nan = weight.copy()
    with_nan[7] = np.nan
    with pytest.raises(CalibrationError, match="1 not finite"):
        fit_margin_calibrator(margin, y, method="isotonic", sample_weight=with_nan)


def _selected_sample(n: int, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """A registry's calibration slice after support: the margin sees part of the risk; the
    rest (``future``, what the label window will bring, e.g. later flags) drives both the
    outcome and support. Supported rows are dropped and the kept ones weighted by
    ``1 / (1 - propensity)``, as ``interventions.method: ipw`` does. Returns the kept rows
    (with ``support_weight``) and the no-support outcome probability of every row."""
    rng = np.random.default_rng(seed)
    margin = rng.normal(size=n)
    future = rng.normal(size=n)
    p0 = 1.0 / (1.0 + np.exp(-(-2.6 + 0.9 * margin + 0.9 * future)))
    propensity = 1.0 / (1.0 + np.exp(-(-2.0 + 1.0 * margin + 1.5 * future)))
    supported = rng.random(n) < propensity
    y = (rng.random(n) < p0).astype(int)
    kept = ~supported
    frame = pd.DataFrame(
        {
            "wellbeing_score": margin[kept],
            "label": y[kept],
            "family_id": [f"F{i}" for i in np.flatnonzero(kept)],
            SUPPORT_WEIGHT: 1.0 / (1.0 - propensity[kept]),
        }
    )
    return frame, p0


def test_weighted_calibration_recovers_the_no_support_rate_of_the_top_band() -> None:
    frame, p0 = _selected_sample(40_000)
    # every family's margin (the same draws), to read the top 5 % band of the population
    rng = np.random.default_rng(3)
    margin_all = rng.normal(size=len(p0))
    top = margin_all >= np.quantile(margin_all, 0.95)
    true_rate = float(p0[top].mean())
    rule = RuleBaseline()
    weighted = recalibrate(rule, frame, method="isotonic")
    plain = recalibrate(rule, frame.drop(columns=SUPPORT_WEIGHT), method="isotonic")
    band = pd.DataFrame({"wellbeing_score": margin_all[top]})
    weighted_rate = float(weighted.predict_proba(band).mean())
    plain_rate = float(plain.predict_proba(band).mean())
    # the kept rows under-represent the families support reached: unweighted, the
    # calibrator under-states the top band's risk without support by over a fifth
    assert plain_rate < 0.8 * true_rate, (plain_rate, true_rate)
    assert weighted_rate == pytest.approx(true_rate, rel=0.08), (weighted_rate, true_rate)


def test_the_choice_and_the_cross_fitted_reference_use_the_weights() -> None:
    frame, _ = _selected_sample(8_000)
    rule = RuleBaseline()
    y = frame["label"].to_numpy()
    weight = frame[SUPPORT_WEIGHT].to_numpy()
    chosen = choose_calibration(rule, frame, y, sample_weight=weight)  # type: ignore[arg-type]
    plain = choose_calibration(rule, frame, y)  # type: ignore[arg-type]
    high = np.array([2.0])
    assert chosen.calibrator.transform(high)[0] > 1.15 * plain.calibrator.transform(high)[0]
    # the weighted Brier is a different sum from the plain one
    assert chosen.cv_brier != pytest.approx(plain.cv_brier)
    crossed = cross_fitted_probability(rule, frame, method="isotonic")
    uncrossed = cross_fitted_probability(
        rule, frame.drop(columns=SUPPORT_WEIGHT), method="isotonic"
    )
    assert crossed is not None and uncrossed is not None
    top = frame["wellbeing_score"].to_numpy() > 1.5
    assert crossed[top].mean() > 1.15 * uncrossed[top].mean()


def test_the_pipeline_calibrates_the_main_model_on_the_weighted_slice() -> None:
    from training.pipeline import _calibrate
    from training.results import MAIN

    frame, _ = _selected_sample(8_000)
    y = frame["label"].to_numpy()
    result = _calibrate(
        MAIN, RuleBaseline(), frame, y, seed=0, top_fraction=0.05, top_band=(0.8, 1.25)
    )
    plain = _calibrate(
        MAIN,
        RuleBaseline(),
        frame.drop(columns=SUPPORT_WEIGHT),
        y,
        seed=0,
        top_fraction=0.05,
        top_band=(0.8, 1.25),
    )
    high = np.array([2.0])
    assert result.calibrator.transform(high)[0] > 1.15 * plain.calibrator.transform(high)[0]
