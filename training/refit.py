"""Fit LightGBM with hyperparameters already chosen, and recalibrate it.

Used twice after the held-out evaluation has decided: by the rolling-origin backtest (the
same model specification at earlier origins) and by the final refit (the registered model,
trained on the most recent labelled data). Nothing is tuned here and nothing is held out:
the tuning grid, the early-stopping round and the calibration method were chosen on the
held-out design, so refitting them on other dates cannot peek at any test slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from training import lightgbm_adapter as lgbx
from training.calibration import CalibrationError, fit_margin_calibrator
from training.models import LightGBMFit, check_model_inputs, row_weights
from training.risk_model import UNCALIBRATED, LightGBMRiskModel, MarginCalibrator
from training.splits import family_hash_unit


class _Scorer(Protocol):
    def raw_score(self, X: pd.DataFrame) -> np.ndarray: ...

    def with_calibrator(self, calibrator: MarginCalibrator) -> Any: ...


_Calibratable = TypeVar("_Calibratable", bound=_Scorer)

#: Folds of families the final refit's calibration window is cross-fitted in, so the
#: monitoring reference's calibration check and realized figures use, for each row, a
#: calibrator that did not see it (the served calibrator is fitted on every row).
REFERENCE_FOLDS = 2
#: Salt of the stable family hash that assigns the folds (independent of the slices' salt).
REFERENCE_SALT = "earlyrisk-monitoring-reference"


def cross_fitted_probability(
    model: _Calibratable,
    frame: pd.DataFrame,
    *,
    method: str,
    n_folds: int = REFERENCE_FOLDS,
    salt: str = REFERENCE_SALT,
) -> np.ndarray | None:
    """Out-of-fold calibrated probabilities of ``frame``'s rows (the booster of ``model``
    with a calibrator of ``method`` fitted on the other folds' families), or None when a
    fold lacks a class or cannot be calibrated (too small a window) or there is no
    calibrator (``none``)."""
    if method == "none" or n_folds < 2:
        return None
    fold = np.minimum(
        (family_hash_unit(frame["family_id"], salt=salt) * n_folds).astype(int), n_folds - 1
    )
    y = frame["label"].to_numpy(dtype=int)
    weight = row_weights(frame)
    margin = model.raw_score(frame)
    out = np.empty(len(frame))
    for f in range(n_folds):
        fit = fold != f
        if not (~fit).any() or y[fit].min() == y[fit].max():
            return None
        try:
            calibrator = fit_margin_calibrator(
                margin[fit],
                y[fit],
                method=method,  # type: ignore[arg-type]
                sample_weight=None if weight is None else weight[fit],
            )
        except CalibrationError:  # a fold too noisy to calibrate: no out-of-fold figures
            return None
        out[~fit] = model.with_calibrator(calibrator).predict_proba(frame.loc[~fit])
    return out


def fit_chosen(
    train: pd.DataFrame,
    *,
    feature_names: Sequence[str],
    chosen: LightGBMFit,
    n_threads: int,
) -> LightGBMRiskModel:
    """LightGBM on every row of ``train`` with ``chosen``'s parameters and tree count."""
    names = check_model_inputs(feature_names)
    y = train["label"].to_numpy(dtype=int)
    if len(np.unique(y)) < 2:
        from training.models import FitError

        raise FitError(
            f"the refit slice has {len(y)} rows of one class only ({int(y.sum())} positive)"
        )
    X = train.loc[:, names].astype("float64")
    params = {**chosen.params, "num_threads": n_threads}
    params.pop("metric", None)
    data = lgbx.dataset(X, y, feature_name=names, weight=row_weights(train))
    booster = lgbx.train(params, data, num_boost_round=chosen.best_iteration)
    return LightGBMRiskModel(
        booster,
        feature_names=list(names),
        metadata={"best_iteration": chosen.best_iteration, "refit": True},
    )


def recalibrate(model: _Calibratable, frame: pd.DataFrame, *, method: str) -> _Calibratable:
    """``model`` with a calibrator of ``method`` fitted on ``frame``'s raw scores and labels,
    each row weighted by its ``support_weight`` when the frame carries one (rows kept and
    weighted for support: :mod:`training.calibration`)."""
    if method == "none":
        return model.with_calibrator(UNCALIBRATED)
    y = frame["label"].to_numpy(dtype=int)
    calibrator = fit_margin_calibrator(
        model.raw_score(frame),
        y,
        method=method,  # type: ignore[arg-type]
        sample_weight=row_weights(frame),
    )
    return model.with_calibrator(calibrator)
