"""Calibration on a later slice improves (or keeps) the Brier score on held-out data."""

from __future__ import annotations

import numpy as np
import pytest
from training_frames import FEATURES, small_booster_model, synthetic_frame

from training.calibration import CalibrationError, choose_calibration, fit_calibrator
from training.risk_model import LogisticRiskModel


def _brier(p, y):
    return float(np.mean((p - y) ** 2))


def _overconfident_model() -> LogisticRiskModel:
    # Right ranking direction, three times too steep and shifted: badly calibrated.
    return LogisticRiskModel(
        feature_names=FEATURES,
        medians=[0, 0, 0, 0],
        means=[0, 0, 0, 0],
        scales=[1, 1, 1, 1],
        coef=[4.5, 0.0, -1.5, 0.0],
        intercept=1.0,
    )


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibration_improves_or_keeps_brier_on_held_out_data(seed):
    X_cal, y_cal = synthetic_frame(3000, seed=seed)
    X_test, y_test = synthetic_frame(3000, seed=seed + 100)
    for model in (_overconfident_model(), small_booster_model(*synthetic_frame(2000, seed=9))):
        before = _brier(model.predict_proba(X_test), y_test)
        result = choose_calibration(model, X_cal, y_cal, seed=seed)
        after = _brier(model.with_calibrator(result.calibrator).predict_proba(X_test), y_test)
        assert after <= before + 1e-4, (type(model).__name__, result.method, before, after)
    # the deliberately miscalibrated model is fixed by a wide margin
    model = _overconfident_model()
    result = choose_calibration(model, X_cal, y_cal, seed=seed)
    fixed = model.with_calibrator(result.calibrator).predict_proba(X_test)
    assert _brier(fixed, y_test) < 0.9 * _brier(model.predict_proba(X_test), y_test)


@pytest.mark.slow
def test_choice_is_by_out_of_fold_brier():
    X, y = synthetic_frame(2000, seed=5)
    result = choose_calibration(_overconfident_model(), X, y, seed=0)
    assert set(result.cv_brier) == {"isotonic", "sigmoid"}
    assert result.cv_brier[result.method] == min(result.cv_brier.values())
    assert result.calibrator.method == result.method


def test_calibrated_probability_is_monotone_in_the_margin_for_both_methods():
    X, y = synthetic_frame(2000, seed=6)
    model = _overconfident_model()
    grid = np.linspace(-10, 10, 401)
    for method in ("isotonic", "sigmoid"):
        cal = fit_calibrator(model, X, y, method=method)
        assert np.all(np.diff(cal.transform(grid)) >= 0), method


def test_one_class_calibration_slice_is_refused_with_counts():
    X, _ = synthetic_frame(100, seed=1)
    with pytest.raises(CalibrationError, match="0 positive and 100 negative"):
        choose_calibration(_overconfident_model(), X, np.zeros(100, dtype=int))
