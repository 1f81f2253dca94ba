"""Calibrate an already-fitted model on the calibration slice: isotonic or sigmoid.

How: scikit-learn's current API for a prefit model,
``CalibratedClassifierCV(FrozenEstimator(model), method=...)`` (``cv="prefit"`` is gone
since scikit-learn 1.8). The frozen estimator is a thin adapter whose ``decision_function``
is the risk model's margin, so scikit-learn fits exactly one calibrator on the margin of the
calibration slice. We then read the fitted calibrator's numbers (isotonic thresholds, or
Platt's ``a``/``b``) into a :class:`~training.risk_model.MarginCalibrator`.

Why on the margin and not on LightGBM's probability: the calibrated probability must be a
non-decreasing function of the raw score, so per-feature contributions (which sum to the raw
score) and the probability never disagree in direction; and the serialized model stays plain
numbers instead of a pickled scikit-learn object.

Why the choice is made by cross-validated Brier *within* the calibration slice: isotonic
regression is the best monotone fit of the very points it was fitted on, so the in-sample
Brier would always pick it, even on a small slice where it overfits. Five folds of the
calibration slice give each method an honest Brier on points it did not see; the winner is
then refitted on the whole slice. The test slice is never looked at.

Why the top band is looked at too: a decile-averaged Brier or ECE can look fine while the
few hundred families caseworkers visit are predicted at 1.5 times their observed rate. The
out-of-fold observed / expected ratio among the top ``top_fraction`` of the slice and the
out-of-fold calibration slope are recorded per method; a method whose top-band O/E lies
outside ``top_band`` is only chosen when every method does (then the one closest to 1 in
log ratio wins), otherwise the lowest Brier among those inside wins.

Why rows may carry weights: when caseworkers' support changed some labels, training keeps
the rows support did not touch and weights them by the inverse of their chance of going
without support (``support_weight``, :mod:`training.support`), so that the kept rows stand
for the population the model will rank. The calibration slice is such a sample too: an
unweighted calibrator would map the margin to the rate of the *kept* rows, which
under-represent the high-risk profile the deployed model flagged. So every fit here takes
the rows' weights, and the choice's Brier and top-band O/E are weighted the same way (the
out-of-fold calibration slope stays unweighted: it is reported, not used to choose).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold

from features.errors import EarlyriskError
from training.reliability import calibration_slope, observed_to_expected
from training.reliability import top_band as top_band_mask
from training.risk_model import UNCALIBRATED, MarginCalibrator, RiskModel

Method = Literal["isotonic", "sigmoid"]
METHODS: tuple[Method, ...] = ("isotonic", "sigmoid")


class CalibrationError(EarlyriskError, ValueError):
    """The calibration slice cannot calibrate (too small, one class only, inverted ranking)."""


class _MarginClassifier(ClassifierMixin, BaseEstimator):
    """Adapter presenting a fitted model to scikit-learn through its margin.

    Its input is the margin itself (one column, computed once by the caller from the
    RiskModel), so the many calibrator fits of the out-of-fold choice never re-score the
    model. ``fit`` never runs (the adapter is wrapped in FrozenEstimator); it exists because
    scikit-learn checks that a classifier has one.
    """

    def fit(self, X: np.ndarray, y: np.ndarray) -> _MarginClassifier:  # pragma: no cover
        raise RuntimeError("the risk model is already fitted; wrap it in FrozenEstimator")

    def __sklearn_is_fitted__(self) -> bool:
        return True

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=float)[:, 0]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)


class _FrozenMargin(FrozenEstimator):
    """A FrozenEstimator whose no-op ``fit`` names ``sample_weight``.

    Given weights, scikit-learn warns when the wrapped estimator's ``fit`` takes none ("sample
    weights will only be used for the calibration itself"), which is exactly what is meant
    here: the model is fitted already and only the calibrator is fitted now. Filtering that
    warning was not enough: ``warnings.catch_warnings`` is process-wide, and a thread leaving
    its own block (MLflow's, during a training run) restored the filters under ours, so the
    warning escaped now and then. Accepting the weights means it is never raised.
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> _FrozenMargin:
        """Nothing to fit (the estimator is frozen); ``sample_weight`` goes to the calibrator."""
        return self


def fit_calibrator(
    risk_model: RiskModel,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    method: Method,
    sample_weight: np.ndarray | None = None,
) -> MarginCalibrator:
    """Fit one calibrator of ``method`` on the margin of ``risk_model`` over (X, y)."""
    return fit_margin_calibrator(
        risk_model.raw_score(X), y, method=method, sample_weight=sample_weight
    )


def check_weights(sample_weight: np.ndarray | None, n: int) -> np.ndarray | None:
    """The rows' weights as floats, or None; refuses a wrong length or a negative, NaN or
    all-zero weight, naming what it got."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=float)
    if w.shape != (n,):
        raise CalibrationError(f"calibration needs one weight per row ({n}), got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise CalibrationError(
            "calibration weights must be finite, >= 0 and not all 0; got min "
            f"{np.nanmin(w) if w.size else float('nan')}, {int((~np.isfinite(w)).sum())} "
            "not finite"
        )
    return w


def fit_margin_calibrator(
    margin: np.ndarray,
    y: np.ndarray,
    *,
    method: Method,
    sample_weight: np.ndarray | None = None,
) -> MarginCalibrator:
    """Fit one calibrator of ``method`` mapping ``margin`` to the probability of ``y``,
    each row counting ``sample_weight`` times (see the module: support weights).

    ``cv=2`` only decides how scikit-learn slices the data to collect the frozen model's
    predictions; a frozen model predicts the same whatever the folds, so one calibrator is
    fitted on every row.
    """
    y = np.asarray(y).astype(int)
    _check_slice(y)
    margin = np.asarray(margin, dtype=float)
    weight = check_weights(sample_weight, len(y))
    if np.isnan(margin).any():
        raise CalibrationError(f"{int(np.isnan(margin).sum())} margins are NaN; cannot calibrate")
    cal = CalibratedClassifierCV(_FrozenMargin(_MarginClassifier()), method=method, cv=2)
    cal.fit(margin.reshape(-1, 1), y, sample_weight=weight)
    fitted = cal.calibrated_classifiers_[0].calibrators[0]
    if method == "isotonic":
        return MarginCalibrator(
            method="isotonic",
            x_thresholds=tuple(float(v) for v in fitted.X_thresholds_),
            y_thresholds=tuple(float(v) for v in fitted.y_thresholds_),
        )
    a, b = float(fitted.a_), float(fitted.b_)
    if not a < 0:
        raise CalibrationError(
            f"sigmoid calibration slope a={a:.4g} >= 0: on the calibration slice higher "
            "scores do not mean more outcomes; the model is not fit to serve"
        )
    return MarginCalibrator(method="sigmoid", a=a, b=b)


@dataclass(frozen=True)
class CalibrationResult:
    """The chosen calibrator and the evidence for the choice.

    ``cv_brier``: mean out-of-fold Brier on the calibration slice per method;
    ``uncalibrated_brier``: Brier of the raw model on the same slice (for the report).
    """

    method: Method
    calibrator: MarginCalibrator
    cv_brier: dict[str, float]
    uncalibrated_brier: float
    n_rows: int
    n_positive: int
    cv_top_oe: dict[str, float] = field(default_factory=dict)
    cv_slope: dict[str, float] = field(default_factory=dict)


def choose_calibration(
    risk_model: RiskModel,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    methods: tuple[Method, ...] = METHODS,
    n_folds: int = 5,
    seed: int = 0,
    top_fraction: float = 0.05,
    top_band: tuple[float, float] = (0.8, 1.25),
    sample_weight: np.ndarray | None = None,
) -> CalibrationResult:
    """Pick isotonic or sigmoid on the calibration slice (out of fold), refit on it.

    Lowest out-of-fold Brier among the methods whose top-band observed / expected ratio is
    within ``top_band``; see the module docstring. ``sample_weight`` (the rows' support
    weights) weights every fit, the Brier and the top-band ratio.
    """
    y = np.asarray(y).astype(int)
    _check_slice(y, n_folds=n_folds)
    weight = check_weights(sample_weight, len(y))
    w = np.ones(len(y)) if weight is None else weight
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    margin = risk_model.raw_score(X)
    cv_brier: dict[str, float] = {}
    cv_top_oe: dict[str, float] = {}
    cv_slope: dict[str, float] = {}
    for method in methods:
        oof = np.empty(len(y))
        for fit_idx, held_idx in folds.split(np.zeros(len(y)), y):
            cal = fit_margin_calibrator(
                margin[fit_idx],
                y[fit_idx],
                method=method,
                sample_weight=None if weight is None else weight[fit_idx],
            )
            oof[held_idx] = cal.transform(margin[held_idx])
        cv_brier[method] = float(brier_score_loss(y, oof, sample_weight=weight))
        top = top_band_mask(margin, max(1, round(top_fraction * len(y))))
        cv_top_oe[method] = (
            observed_to_expected(y[top], oof[top]).estimate
            if weight is None
            else weighted_observed_to_expected(y[top], oof[top], w[top])
        )
        cv_slope[method] = calibration_slope(y, oof).estimate
    lower, upper = top_band
    inside = [m for m in methods if lower <= cv_top_oe[m] <= upper]
    if inside:
        best: Method = min(inside, key=lambda m: (cv_brier[m], m))
    else:
        best = min(
            methods,
            key=lambda m: (
                abs(np.log(cv_top_oe[m])) if cv_top_oe[m] > 0 else np.inf,
                cv_brier[m],
                m,
            ),
        )
    return CalibrationResult(
        method=best,
        calibrator=fit_margin_calibrator(margin, y, method=best, sample_weight=weight),
        cv_brier=cv_brier,
        uncalibrated_brier=float(
            brier_score_loss(y, UNCALIBRATED.transform(margin), sample_weight=weight)
        ),
        n_rows=len(y),
        n_positive=int(y.sum()),
        cv_top_oe=cv_top_oe,
        cv_slope=cv_slope,
    )


def weighted_observed_to_expected(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    """Weighted observed / expected: sum(w y) / sum(w p) (NaN when nothing is expected)."""
    expected = float(np.sum(w * p))
    return float(np.sum(w * y)) / expected if expected > 0 else float("nan")


def _check_slice(y: np.ndarray, *, n_folds: int = 2) -> None:
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if min(n_pos, n_neg) < n_folds:
        raise CalibrationError(
            f"calibration slice has {n_pos} positive and {n_neg} negative rows; at least "
            f"{n_folds} of each are needed (use a larger registry or another as-of date)"
        )
