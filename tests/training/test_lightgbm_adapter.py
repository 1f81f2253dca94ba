"""Every call of the LightGBM adapter takes the process-wide lock (training, batch scoring
and the service all reach the booster only through it), and its refusals name the value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from lock_probe import assert_waits_for_lightgbm_lock
from training_frames import small_booster_model, synthetic_frame

from training import lightgbm_adapter as lgbx

PARAMS = {"objective": "binary", "verbose": -1, "num_leaves": 7, "seed": 1, "num_threads": 1}


@pytest.fixture(scope="module")
def fitted():
    X, y = synthetic_frame(600, seed=4)
    return X, y, small_booster_model(X, y, rounds=10).booster


CALLS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "train": lambda X, y, b: lgbx.train(PARAMS, lgbx.dataset(X, y), num_boost_round=3),
    "predict_probability": lambda X, y, b: lgbx.predict_probability(b, X.to_numpy()),
    "predict_raw": lambda X, y, b: lgbx.predict_raw(b, X.to_numpy(), num_threads=1),
    "predict_contributions": lambda X, y, b: lgbx.predict_contributions(b, X.to_numpy()),
    "load_booster": lambda X, y, b: lgbx.load_booster(lgbx.booster_to_string(b)),
    "booster_to_string": lambda X, y, b: lgbx.booster_to_string(b, num_iteration=5),
    "truncated": lambda X, y, b: lgbx.truncated(b, 5),
    "feature_names": lambda X, y, b: lgbx.feature_names(b),
    "gain_importance": lambda X, y, b: lgbx.gain_importance(b),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_call_waits_for_the_lock(fitted, name: str) -> None:
    X, y, booster = fitted
    assert assert_waits_for_lightgbm_lock(lambda: CALLS[name](X, y, booster)) is not None


def test_contributions_sum_to_the_margin_and_a_loaded_copy_predicts_the_same(fitted) -> None:
    X, _, booster = fitted
    matrix = X.to_numpy()
    contributions = lgbx.predict_contributions(booster, matrix)
    assert contributions.shape == (len(X), X.shape[1] + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), lgbx.predict_raw(booster, matrix))
    copy = lgbx.load_booster(lgbx.booster_to_string(booster))
    np.testing.assert_array_equal(lgbx.predict_raw(copy, matrix), lgbx.predict_raw(booster, matrix))
    assert lgbx.feature_names(copy) == list(X.columns)


def test_early_stopping_without_a_validation_set_is_refused_naming_the_rounds(fitted) -> None:
    X, y, _ = fitted
    with pytest.raises(ValueError, match="early_stopping_rounds=7 needs a validation dataset"):
        lgbx.train(PARAMS, lgbx.dataset(X, y), num_boost_round=3, early_stopping_rounds=7)


def test_the_lock_is_reentrant_and_counts_no_waiter_for_its_owner() -> None:
    with lgbx.LIGHTGBM_LOCK, lgbx.LIGHTGBM_LOCK:
        assert lgbx.LIGHTGBM_LOCK.waiting == 0
