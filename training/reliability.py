"""Calibration where decisions are made: observed / expected ratios and the calibration slope.

An expected calibration error averaged over deciles says little about the families that
caseworkers actually visit: on rates near 3 % every absolute gap looks small, and the top
of the ranking (a few hundred families) weighs little in the average. Two numbers answer
the question directly, each with an interval and a test against perfect calibration:

* **observed / expected (O/E)**, calibration in the large: observed outcomes divided by the
  sum of predicted probabilities, over any set of families (everyone, one group, the top
  band of the ranking, one group within the top band). 1 is right on average; 0.68 means
  the families were predicted at 1.5 times their observed rate (over-confident).
* **calibration slope**: the slope of a logistic regression of the outcome on the logit of
  the predicted probability. 1 is right; below 1 the predictions are too extreme
  (over-confident at the top, under-confident at the bottom).

Conditional on the model, the probabilities are fixed and only the outcomes are random, so
the O/E interval is the Wilson interval of the observed rate divided by the mean predicted
probability, and its test is the normal approximation to the Poisson-binomial count of
outcomes (mean ``sum p``, variance ``sum p (1 - p)``). The slope uses the Wald interval of
the maximum-likelihood fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

_EPS = 1e-6


@dataclass(frozen=True)
class CalibrationStat:
    """One calibration figure with its interval, the p-value of "perfectly calibrated"
    (ratio or slope equal to 1) and the counts behind it."""

    estimate: float
    low: float
    high: float
    p_value: float
    n: int
    observed: float
    expected: float

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _z(confidence_level: float) -> float:
    return float(norm.ppf(0.5 + confidence_level / 2))


def observed_to_expected(
    y: np.ndarray, p: np.ndarray, *, confidence_level: float = 0.95
) -> CalibrationStat:
    """O/E of the rows given (NaN estimate when nothing is expected)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    n = int(y.size)
    observed = float(y.sum())
    expected = float(p.sum())
    if n == 0 or expected <= 0:
        nan = float("nan")
        return CalibrationStat(nan, nan, nan, nan, n, observed, expected)
    z = _z(confidence_level)
    rate = observed / n
    centre = (rate + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(rate * (1 - rate) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    mean_p = expected / n
    variance = float(np.sum(p * (1 - p)))
    p_value = (
        float(2 * norm.sf(abs(observed - expected) / np.sqrt(variance)))
        if variance > 0
        else float("nan")
    )
    return CalibrationStat(
        estimate=observed / expected,
        low=float(max(centre - half, 0.0) / mean_p),
        high=float((centre + half) / mean_p),
        p_value=p_value,
        n=n,
        observed=observed,
        expected=expected,
    )


@dataclass(frozen=True)
class LogitLinearFit:
    """``logit P(y=1) = intercept + slope * logit(p)`` fitted by maximum likelihood, with the
    Fisher information at the fit (for a Wald interval)."""

    intercept: float
    slope: float
    information: np.ndarray


def logit_linear_fit(y: np.ndarray, p: np.ndarray, *, max_iter: int = 100) -> LogitLinearFit | None:
    """Fit ``logit P(y=1) = a + b * logit(p)`` by Newton's method with step halving.

    One fit serves both the calibration slope (the gates read ``b``) and the monitor's
    logistic recalibration (which maps probabilities through ``a`` and ``b``). None when both
    classes are not present, the probabilities are all equal, or the fit does not converge
    to a finite slope (the score separates the outcomes): no map to report then.
    """
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    n = int(y.size)
    x = np.log(p / (1 - p))
    if n < 3 or not 0 < float(y.sum()) < n or np.ptp(x) == 0:
        return None
    design = np.column_stack([np.ones(n), x])

    def loglik(b: np.ndarray) -> float:
        eta = design @ b
        return float(np.sum(y * eta - np.logaddexp(0, eta)))

    beta = np.array([0.0, 1.0])
    current = loglik(beta)
    converged = False
    for _ in range(max_iter):
        mu = 1 / (1 + np.exp(-np.clip(design @ beta, -30, 30)))
        info = design.T @ (design * (mu * (1 - mu))[:, None])
        try:
            step = np.linalg.solve(info, design.T @ (y - mu))
        except np.linalg.LinAlgError:
            break
        scale = 1.0  # step halving keeps every iteration an improvement
        while loglik(beta + scale * step) < current - 1e-12 and scale > 1e-6:
            scale /= 2
        beta = beta + scale * step
        updated = loglik(beta)
        if abs(updated - current) < 1e-10 and np.max(np.abs(scale * step)) < 1e-8:
            converged = True
            current = updated
            break
        current = updated
    slope = float(beta[1])
    if not converged or not np.isfinite(slope) or abs(slope) > 100:
        # the outcomes are (quasi-)separated by the score: no finite slope to report
        return None
    mu = 1 / (1 + np.exp(-np.clip(design @ beta, -30, 30)))
    info = design.T @ (design * (mu * (1 - mu))[:, None])
    return LogitLinearFit(intercept=float(beta[0]), slope=slope, information=info)


def calibration_slope(
    y: np.ndarray, p: np.ndarray, *, confidence_level: float = 0.95, max_iter: int = 100
) -> CalibrationStat:
    """Slope of ``logit P(y=1) = a + b * logit(p)`` (:func:`logit_linear_fit`), with a Wald
    interval.

    NaN when both classes are not present, the probabilities are all equal, or the fit does
    not converge to a finite slope (the score separates the outcomes).
    """
    y = np.asarray(y, dtype=float)
    n = int(y.size)
    observed = float(y.sum())
    expected = float(np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS).sum())
    nan = float("nan")
    fit = logit_linear_fit(y, p, max_iter=max_iter)
    if fit is None:
        return CalibrationStat(nan, nan, nan, nan, n, observed, expected)
    slope = fit.slope
    se = float(np.sqrt(np.linalg.inv(fit.information)[1, 1]))
    z = _z(confidence_level)
    return CalibrationStat(
        estimate=slope,
        low=slope - z * se,
        high=slope + z * se,
        p_value=float(2 * norm.sf(abs(slope - 1) / se)) if se > 0 else nan,
        n=n,
        observed=observed,
        expected=expected,
    )


def top_band(rank_score: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` highest-ranked rows (stable: ties go to the earlier row),
    the same selection as the evaluation's capacity metrics."""
    rank_score = np.asarray(rank_score, dtype=float)
    mask = np.zeros(rank_score.size, dtype=bool)
    mask[np.argsort(-rank_score, kind="stable")[:k]] = True
    return mask
