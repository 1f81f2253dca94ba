"""The final refit's out-of-fold probabilities: a row's probability comes from a calibrator
fitted on the other families, so changing that row's own label cannot change it (while the
probabilities of the families whose calibrator saw the change do move)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training import lightgbm_adapter as lgbx
from training.refit import REFERENCE_SALT, cross_fitted_probability, recalibrate
from training.risk_model import LightGBMRiskModel
from training.splits import family_hash_unit


def _frame(n: int = 3000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 1.2 * x[:, 0])))).astype(int)
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["family_id"] = [f"F{i:05d}" for i in range(n)]
    frame["label"] = y
    return frame


def _model(frame: pd.DataFrame) -> LightGBMRiskModel:
    params = {"objective": "binary", "verbose": -1, "num_leaves": 5, "num_threads": 1, "seed": 1}
    booster = lgbx.train(
        params, lgbx.dataset(frame[["a", "b", "c"]], frame["label"]), num_boost_round=20
    )
    return LightGBMRiskModel(booster)


def test_a_rows_out_of_fold_probability_ignores_its_own_label() -> None:
    frame = _frame()
    model = recalibrate(_model(frame), frame, method="isotonic")
    oof = cross_fitted_probability(model, frame, method="isotonic")
    assert oof is not None and oof.shape == (len(frame),)
    assert not np.allclose(oof, model.predict_proba(frame))
    fold0 = family_hash_unit(frame["family_id"], salt=REFERENCE_SALT) < 0.5
    flipped = frame.assign(label=np.where(fold0, 1 - frame["label"], frame["label"]))
    again = cross_fitted_probability(model, flipped, method="isotonic")
    assert again is not None
    np.testing.assert_allclose(again[fold0], oof[fold0])  # own labels never used
    assert not np.allclose(again[~fold0], oof[~fold0])  # the other fold's calibrator moved


def test_nothing_to_cross_fit_without_a_calibrator_or_with_a_one_class_fold() -> None:
    frame = _frame()
    model = _model(frame)
    assert cross_fitted_probability(model, frame, method="none") is None
    tiny = frame.iloc[:6].assign(label=[1, 0, 0, 0, 0, 0])
    assert cross_fitted_probability(model, tiny, method="sigmoid") is None
    # a fold whose outcomes fall as the score rises cannot be calibrated: no figures
    fold0 = family_hash_unit(frame["family_id"], salt=REFERENCE_SALT) < 0.5
    reversed_ = frame.assign(label=np.where(fold0, 1 - frame["label"], frame["label"]))
    assert cross_fitted_probability(model, reversed_, method="sigmoid") is None
