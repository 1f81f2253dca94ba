"""Fit the main model (LightGBM) and the baselines (logistic regression, well-being rule).

All three end up scored the same way: a margin (``raw_score``) calibrated on the same
calibration slice, evaluated on the same test slice. Fitting sees the training slice only:
LightGBM's early stopping and its small tuning grid use a validation part carved out of the
*training* families (by a salted hash, so it is reproducible and family-disjoint).

Model inputs are checked before any fit: a protected attribute, an audit group, the label or
the well-being index among them is refused with the offending names (the rule: protected
attributes audit, they never predict).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features.aggregations import MAX_LOOKBACK_DAYS
from features.catalogue import FEATURES
from features.errors import EarlyriskError
from training import lightgbm_adapter as lgbx
from training.config import LightGBMSpec, LogisticSpec
from training.evaluation import ScoredModel
from training.protected import PROTECTED_NAMES
from training.risk_model import (
    UNCALIBRATED,
    LightGBMRiskModel,
    LogisticRiskModel,
    MarginCalibrator,
    RiskModel,
)
from training.splits import family_hash_unit

# Column names and prefixes that may never be model inputs.
NON_INPUT_COLUMNS = frozenset(
    {"family_id", "as_of", "label", "label_observed", "wellbeing_score", "wellbeing_level"}
)
NON_INPUT_PREFIXES = ("audit_", "deprived_", "protected_")
VALIDATION_SALT = "earlyrisk-early-stopping-v1"


class FitError(EarlyriskError, ValueError):
    """The training slice cannot support the configured fit (the message gives the counts)."""


class ProtectedInputError(EarlyriskError, ValueError):
    """A protected attribute, audit group, label or index column was offered as model input."""


def check_model_inputs(feature_names: Sequence[str], *, protected: Sequence[str] = ()) -> list[str]:
    """Return ``feature_names`` if none of them is forbidden, else raise naming each one.

    ``protected`` adds the attribute names of the data's ``protected`` table (a deployment
    may add attributes without a schema change; they are forbidden too).
    """
    banned = PROTECTED_NAMES | {p.lower() for p in protected}
    bad = []
    for name in feature_names:
        low = name.lower()
        if (
            low in NON_INPUT_COLUMNS
            or low.startswith(NON_INPUT_PREFIXES)
            or low in banned
            or any(low.endswith("_" + p) or low.startswith(p + "_") for p in banned)
        ):
            bad.append(name)
    if bad:
        raise ProtectedInputError(
            f"{len(bad)} column(s) may not be model inputs (protected attributes, audit groups, "
            f"label or well-being index audit and explain, they never predict): {', '.join(bad)}"
        )
    return list(feature_names)


class Scorer(Protocol):
    """Anything with a margin and a calibrated probability (models and the rule baseline)."""

    def raw_score(self, X: pd.DataFrame) -> np.ndarray: ...

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...


@dataclass
class RuleBaseline:
    """The well-being index as a scorer: its deprivation score is the margin.

    A higher ``wellbeing_score`` means more deprivation, so it ranks like a risk score; the
    same calibration as the learned models turns it into a probability.
    """

    column: str = "wellbeing_score"
    calibrator: MarginCalibrator = field(default=UNCALIBRATED)
    kind: str = "wellbeing_rule"

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        if self.column not in X:
            raise KeyError(f"rule baseline needs column {self.column!r} in the feature table")
        return X[self.column].to_numpy(dtype="float64", na_value=np.nan)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrator.transform(np.nan_to_num(self.raw_score(X), nan=0.0))

    def with_calibrator(self, calibrator: MarginCalibrator) -> RuleBaseline:
        return RuleBaseline(column=self.column, calibrator=calibrator, kind=self.kind)


def score_rows(model: Scorer, frame: pd.DataFrame) -> ScoredModel:
    """What the evaluation needs of ``model`` on ``frame``: its calibrated probability and
    the margin it ranks by (NaN ranked last).

    The margin is computed once: a risk model's probability is its calibrator applied to
    the same margin (exactly what its ``predict_proba`` does), so it is not predicted twice.
    """
    raw = np.asarray(model.raw_score(frame), dtype=float)
    if isinstance(model, RiskModel):
        probability = model.calibrator.transform(raw)
    else:
        probability = model.predict_proba(frame)
    return ScoredModel(probability=probability, rank_score=np.nan_to_num(raw, nan=-np.inf))


@dataclass(frozen=True)
class LightGBMFit:
    """The fitted LightGBM model and what the fit learned about itself."""

    model: LightGBMRiskModel
    params: dict[str, Any]
    best_iteration: int
    validation_logloss: float
    tuning: pd.DataFrame  # one row per candidate: its params, rounds and validation log-loss
    n_fit_rows: int
    n_validation_rows: int


def validation_mask(family_ids: pd.Series, *, fraction: float) -> np.ndarray:
    """True for rows of families held out (by hash) for early stopping."""
    return family_hash_unit(family_ids.to_numpy(), salt=VALIDATION_SALT) < fraction


def fit_lightgbm(
    train: pd.DataFrame,
    *,
    feature_names: Sequence[str],
    spec: LightGBMSpec,
    seed: int,
    n_threads: int = 0,
    on_candidate: Callable[[int, int], None] | None = None,
) -> LightGBMFit:
    """Fit LightGBM on the training slice with early stopping on held-out training families.

    Every combination of ``spec.tune`` is fitted; the lowest validation log-loss wins (ties:
    the first in grid order). The final booster is the winner at its best iteration.
    """
    names = check_model_inputs(feature_names)
    held = validation_mask(train["family_id"], fraction=spec.validation_fraction)
    y = train["label"].to_numpy(dtype=int)
    if held.all() or not held.any() or len(np.unique(y[held])) < 2 or len(np.unique(y[~held])) < 2:
        raise FitError(
            f"cannot hold out {spec.validation_fraction:.0%} of {train['family_id'].nunique()} "
            f"training families for early stopping with both classes on each side "
            f"({int(y[held].sum())} positives held out, {int(y[~held].sum())} kept)"
        )
    X = train.loc[:, names].astype("float64")
    weight = row_weights(train)
    fit_set = lgbx.dataset(
        X.loc[~held],
        y[~held],
        feature_name=names,
        free_raw_data=False,
        weight=None if weight is None else weight[~held],
    )
    val_set = lgbx.dataset(
        X.loc[held],
        y[held],
        reference=fit_set,
        free_raw_data=False,
        weight=None if weight is None else weight[held],
    )
    keys = sorted(spec.tune)
    grid = [
        dict(zip(keys, combo, strict=True))
        for combo in itertools.product(*(spec.tune[k] for k in keys))
    ] or [{}]
    rows = []
    best: tuple[float, int, Any, dict[str, Any]] | None = None
    for i, overrides in enumerate(grid):
        params = {
            **spec.params,
            **overrides,
            "objective": "binary",
            "metric": "binary_logloss",
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": n_threads,
            "verbose": -1,
        }
        evals: dict[str, Any] = {}
        booster = lgbx.train(
            params,
            fit_set,
            num_boost_round=spec.num_boost_round,
            validation=val_set,
            early_stopping_rounds=spec.early_stopping_rounds,
            evaluation=evals,
        )
        it = lgbx.best_iteration(booster) or spec.num_boost_round
        loss = float(evals["validation"]["binary_logloss"][it - 1])
        rows.append({**overrides, "best_iteration": it, "validation_logloss": loss})
        if best is None or loss < best[0]:
            best = (loss, it, booster, params)
        if on_candidate is not None:
            on_candidate(i + 1, len(grid))
    assert best is not None
    loss, it, booster, params = best
    final = lgbx.truncated(booster, it)
    return LightGBMFit(
        model=LightGBMRiskModel(final, feature_names=names, metadata={"best_iteration": it}),
        params={k: v for k, v in params.items() if k != "num_threads"},
        best_iteration=it,
        validation_logloss=loss,
        tuning=pd.DataFrame(rows),
        n_fit_rows=int((~held).sum()),
        n_validation_rows=int(held.sum()),
    )


SUPPORT_WEIGHT = "support_weight"


def row_weights(train: pd.DataFrame) -> np.ndarray | None:
    """The training rows' weights when the frame carries them (the ``support_weight``
    column that :mod:`training.support_training` adds for inverse-propensity training),
    else None (every row counts once)."""
    if SUPPORT_WEIGHT not in train.columns:
        return None
    return train[SUPPORT_WEIGHT].to_numpy(dtype=float)


def never_value(name: str) -> float:
    """The value of a ``*_days_since_*`` indicator for "no event in its window": one day past
    the window (the catalogue's ``window_days``, else the longest look-back)."""
    spec = FEATURES.get(name)
    window = getattr(spec, "window_days", None) or MAX_LOOKBACK_DAYS
    return float(window + 1)


def column_medians(X: np.ndarray) -> np.ndarray:
    """Median of each column over its non-missing values; 0 for a column with none.

    The numbers scikit-learn's ``SimpleImputer(strategy="median", keep_empty_features=True)``
    learns, computed column by column with a partial sort instead of its masked arrays
    (which took half of the baseline's fit on 260k training rows).
    """
    out = np.zeros(X.shape[1])
    for j in range(X.shape[1]):
        column = X[:, j]
        present = column[~np.isnan(column)]
        if present.size:
            out[j] = float(np.median(present))
    return out


def fit_logistic(
    train: pd.DataFrame, *, feature_names: Sequence[str], spec: LogisticSpec, seed: int
) -> LogisticRiskModel:
    """Imputation, standardization and L2 logistic regression on the training slice.

    A missing value is filled with the training median, except a missing ``*_days_since_*``
    indicator: there it means "no such event within the window", so it is filled with
    "never" (one day past the window, :func:`never_value`), not with the median of the
    families who had the event (which would place "never" among the recent ones).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    names = check_model_inputs(feature_names)
    X = train.loc[:, names].to_numpy(dtype="float64", na_value=np.nan)
    y = train["label"].to_numpy(dtype=int)
    fill = column_medians(X)
    for j, name in enumerate(names):
        if "_days_since_" in name:
            fill[j] = never_value(name)
    filled = np.where(np.isnan(X), fill, X)
    scaler = StandardScaler().fit(filled)
    clf = LogisticRegression(C=spec.C, max_iter=spec.max_iter, random_state=seed)
    clf.fit(scaler.transform(filled), y, sample_weight=row_weights(train))
    return LogisticRiskModel(
        feature_names=names,
        medians=fill.tolist(),
        means=scaler.mean_,
        scales=scaler.scale_,
        coef=clf.coef_[0],
        intercept=float(clf.intercept_[0]),
    )
