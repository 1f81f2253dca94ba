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

from training.calibration import fit_margin_calibrator
from training.models import LightGBMFit, check_model_inputs
from training.risk_model import UNCALIBRATED, LightGBMRiskModel, MarginCalibrator


class _Scorer(Protocol):
    def raw_score(self, X: pd.DataFrame) -> np.ndarray: ...

    def with_calibrator(self, calibrator: MarginCalibrator) -> Any: ...


_Calibratable = TypeVar("_Calibratable", bound=_Scorer)


def fit_chosen(
    train: pd.DataFrame,
    *,
    feature_names: Sequence[str],
    chosen: LightGBMFit,
    n_threads: int,
) -> LightGBMRiskModel:
    """LightGBM on every row of ``train`` with ``chosen``'s parameters and tree count."""
    import lightgbm as lgb

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
    booster = lgb.train(
        params,
        lgb.Dataset(X, y, feature_name=list(names)),
        num_boost_round=chosen.best_iteration,
    )
    return LightGBMRiskModel(
        booster,
        feature_names=list(names),
        metadata={"best_iteration": chosen.best_iteration, "refit": True},
    )


def recalibrate(model: _Calibratable, frame: pd.DataFrame, *, method: str) -> _Calibratable:
    """``model`` with a calibrator of ``method`` fitted on ``frame``'s raw scores and labels."""
    if method == "none":
        return model.with_calibrator(UNCALIBRATED)
    y = frame["label"].to_numpy(dtype=int)
    calibrator = fit_margin_calibrator(model.raw_score(frame), y, method=method)  # type: ignore[arg-type]
    return model.with_calibrator(calibrator)
