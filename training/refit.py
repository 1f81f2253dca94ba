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
from training.splits import family_hash_unit


class _Scorer(Protocol):
    def raw_score(self, X: pd.DataFrame) -> np.ndarray: ...

    def with_calibrator(self, calibrator: MarginCalibrator) -> Any: ...


_Calibratable = TypeVar("_Calibratable", bound=_Scorer)

#: Share of the final refit's calibration-window families kept out of its calibrator, so
#: the monitoring reference statistics (and the label-free estimator's calibration check)
#: describe rows neither the refitted booster nor its calibrator saw.
REFERENCE_SHARE = 0.3
#: Salt of the stable family hash that picks them (independent of the slices' own salt).
REFERENCE_SALT = "earlyrisk-monitoring-reference"


def hold_out_reference(
    frame: pd.DataFrame, *, share: float = REFERENCE_SHARE, salt: str = REFERENCE_SALT
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(rows to recalibrate on, held-out reference rows) of the refit's calibration window.

    Families are split by a stable salted hash of their id (the same family always on the
    same side). When either side would lack a class (too small a window), nothing is held
    out: ``(frame, None)``, and the reference statistics then say which rows they describe.
    """
    if not 0.0 < share < 1.0:
        raise ValueError(f"reference share {share} must be strictly between 0 and 1")
    held = family_hash_unit(frame["family_id"], salt=salt) < share
    calibration, reference = frame.loc[~held], frame.loc[held]
    for part in (calibration, reference):
        y = part["label"].to_numpy(dtype=int)
        if y.size == 0 or y.min() == y.max():
            return frame, None
    return calibration.reset_index(drop=True), reference.reset_index(drop=True)


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
