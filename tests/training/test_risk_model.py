"""RiskModel: contributions sum to the raw score, monotone calibration, faithful bytes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from training_frames import FEATURES, small_booster_model, synthetic_frame

from training.calibration import choose_calibration
from training.risk_model import (
    LightGBMRiskModel,
    LogisticRiskModel,
    MarginCalibrator,
    ModelArtifactError,
    ModelInputError,
    RiskModel,
)


@pytest.fixture(scope="module")
def fitted():
    X, y = synthetic_frame(1500)
    model = small_booster_model(X, y)
    cal = choose_calibration(model, X, y, seed=0)
    return X, y, model.with_calibrator(cal.calibrator)


def test_lightgbm_contributions_sum_to_raw_score(fitted):
    X, _, model = fitted
    contrib = model.contributions(X)
    assert list(contrib.columns) == [*FEATURES, "bias"]
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), model.raw_score(X), atol=1e-9)


def _logistic() -> LogisticRiskModel:
    return LogisticRiskModel(
        feature_names=FEATURES,
        medians=[0.0, 0.1, 0.2, 0.3],
        means=[0.1, 0.0, -0.1, 0.2],
        scales=[1.0, 2.0, 0.5, 1.5],
        coef=[0.7, -0.2, 0.3, 1.1],
        intercept=-1.3,
        metadata={"fitted_on": "test"},
    )


def test_logistic_contributions_sum_to_raw_score():
    X, _ = synthetic_frame(50)
    model = _logistic()
    contrib = model.contributions(X)
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), model.raw_score(X), atol=1e-12)
    assert (contrib["bias"] == -1.3).all()
    assert not np.isnan(model.raw_score(X)).any()  # missing income imputed by its median


def test_probability_is_monotone_in_raw_score(fitted):
    X, _, model = fitted
    order = np.argsort(model.raw_score(X), kind="stable")
    proba = model.predict_proba(X)[order]
    assert np.all(np.diff(proba) >= 0)


def test_extra_columns_are_ignored_and_order_does_not_matter(fitted):
    X, _, model = fitted
    shuffled = X[FEATURES[::-1]].assign(family_id="f", audit_region="R1")
    np.testing.assert_array_equal(model.predict_proba(shuffled), model.predict_proba(X))


def test_missing_input_column_is_named(fitted):
    X, _, model = fitted
    with pytest.raises(ModelInputError, match="absences"):
        model.predict_proba(X.drop(columns=["absences"]))


def test_bytes_round_trip_is_exact(fitted):
    X, _, model = fitted
    back = RiskModel.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    pd.testing.assert_frame_equal(back.contributions(X), model.contributions(X))
    assert back.sha256() == model.sha256()
    assert back.calibrator == model.calibrator


def test_logistic_bytes_round_trip_is_exact():
    X, _ = synthetic_frame(80)
    model = _logistic().with_calibrator(MarginCalibrator(method="sigmoid", a=-1.2, b=0.3))
    back = RiskModel.from_bytes(model.to_bytes())
    assert isinstance(back, LogisticRiskModel)
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    pd.testing.assert_frame_equal(back.contributions(X), model.contributions(X))
    assert back.sha256() == model.sha256()
    assert back.metadata == {"fitted_on": "test"}


@pytest.mark.parametrize("kind", ["lightgbm", "logistic"])
def test_with_calibrator_leaves_the_original_untouched(fitted, kind):
    X, _, booster_model = fitted
    model = booster_model if kind == "lightgbm" else _logistic()
    before = model.predict_proba(X)
    clone = model.with_calibrator(MarginCalibrator(method="sigmoid", a=-2.0, b=1.0))
    assert type(clone) is type(model) and clone.kind == kind
    assert clone.calibrator.a == -2.0 and model.calibrator != clone.calibrator
    np.testing.assert_array_equal(clone.raw_score(X), model.raw_score(X))
    np.testing.assert_array_equal(model.predict_proba(X), before)
    clone.metadata["note"] = "clone only"
    clone.feature_names.append("extra")
    assert "note" not in model.metadata and model.feature_names == FEATURES


def test_unknown_artifact_is_refused():
    with pytest.raises(ModelArtifactError, match="unknown model format"):
        RiskModel.from_bytes(b'{"format": "something-else"}')


def test_truncated_or_foreign_document_is_an_artifact_error_naming_what_lacks():
    doc = json.loads(_logistic().to_bytes())
    del doc["calibrator"], doc["model"]
    with pytest.raises(ModelArtifactError, match="logistic model document lacks calibrator, model"):
        RiskModel.from_bytes(json.dumps(doc).encode())
    with pytest.raises(ModelArtifactError, match="a JSON list, not an object"):
        RiskModel.from_bytes(b"[1, 2]")


def test_sigmoid_with_inverted_slope_is_refused():
    with pytest.raises(ValueError, match=r"a=0\.5"):
        MarginCalibrator(method="sigmoid", a=0.5, b=0.0)


def test_decreasing_isotonic_thresholds_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"y_thresholds\[1\]=0\.5 > y_thresholds\[2\]=0\.2"):
        MarginCalibrator(method="isotonic", x_thresholds=(0, 1, 2), y_thresholds=(0.1, 0.5, 0.2))
    with pytest.raises(ValueError, match=r"x_thresholds\[0\]=3 > x_thresholds\[1\]=1"):
        MarginCalibrator(method="isotonic", x_thresholds=(3, 1, 2), y_thresholds=(0.1, 0.2, 0.3))


def test_booster_and_feature_names_mismatch_names_the_first_difference(fitted):
    _, _, model = fitted
    renamed = [*FEATURES[:2], "arrears", FEATURES[3]]
    with pytest.raises(ValueError, match="position 2: the booster has 'contacts', feature_names "):
        LightGBMRiskModel(model.booster, feature_names=renamed)
    with pytest.raises(ValueError, match=r"position 4: the booster has nothing.*4 vs 5 names"):
        LightGBMRiskModel(model.booster, feature_names=[*FEATURES, "extra"])


@pytest.mark.parametrize("call", ["raw_score", "contributions"])
def test_lightgbm_calls_wait_for_the_process_wide_lock(fitted, call):
    """Concurrent boosters crashed lib_lightgbm.so (training/lightgbm_adapter.py): a
    LightGBM call from another thread must wait while the lock is held, and run once free."""
    from lock_probe import assert_waits_for_lightgbm_lock

    frame, _, model = fitted
    out = assert_waits_for_lightgbm_lock(lambda: getattr(model, call)(frame))
    assert len(out) == len(frame)
