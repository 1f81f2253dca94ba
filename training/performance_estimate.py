"""Performance of a calibrated score, estimated without labels or measured from labels.

A child-protection outcome is known a year after the score, so the monitor needs a figure
before the labels arrive. When the probabilities are calibrated, each family's label is a
Bernoulli draw with its own probability, so the expected confusion counts at capacity, the
expected positive rate and the expected ROC AUC follow from the probabilities alone
(confidence-based performance estimation). The same functions give the realized figures
once outcomes are known, so estimates and realizations are computed the same way and
compared like for like.

Intervals of the estimates are the spread of the metric over the label draws the
probabilities imply (normal approximations: Poisson-binomial variances, the delta method for
recall, Hanley & McNeil for the AUC). They hold **only if the calibration holds**; a concept
shift (outcomes recorded less often) breaks that assumption and shows in the realized
figures once labels arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

PERFORMANCE_METRICS = ("roc_auc", "precision_at_capacity", "recall_at_capacity", "positive_rate")


@dataclass(frozen=True)
class MetricInterval:
    """A figure with its interval (``low``/``high`` NaN when it cannot be computed)."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float | None]:
        return {k: _finite_or_none(v) for k, v in self.__dict__.items()}


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _normal(
    value: float, se: float, z: float, *, lo: float = 0.0, hi: float = 1.0
) -> MetricInterval:
    if not np.isfinite(value) or not np.isfinite(se):
        return MetricInterval(value, float("nan"), float("nan"))
    return MetricInterval(value, max(lo, value - z * se), min(hi, value + z * se))


def top_k_mask(rank_score: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` highest-ranked rows (ties broken by position, as a stable sort does)."""
    s = np.asarray(rank_score, dtype=float)
    if not 1 <= k <= s.size:
        raise ValueError(f"capacity k={k} must be between 1 and the {s.size} rows scored")
    order = np.argsort(-s, kind="stable")
    mask = np.zeros(s.size, dtype=bool)
    mask[order[:k]] = True
    return mask


def hanley_mcneil_se(auc: float, n_pos: float, n_neg: float) -> float:
    """Standard error of an AUC from the numbers of positives and negatives."""
    if n_pos <= 0 or n_neg <= 0 or not np.isfinite(auc):
        return float("nan")
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    var = (
        auc * (1.0 - auc) + (n_pos - 1.0) * (q1 - auc * auc) + (n_neg - 1.0) * (q2 - auc * auc)
    ) / (n_pos * n_neg)
    return float(np.sqrt(max(var, 0.0)))


def expected_roc_auc(probability: np.ndarray, rank_score: np.ndarray) -> float:
    """E[concordant pairs] / E[positive-negative pairs] when label_i ~ Bernoulli(p_i).

    Rows are grouped by rank score (ties count one half), in O(n log n); a row is never
    paired with itself.
    """
    p = np.asarray(probability, dtype=float)
    s = np.asarray(rank_score, dtype=float)
    _, inverse = np.unique(s, return_inverse=True)
    pos = np.bincount(inverse, weights=p)
    neg = np.bincount(inverse, weights=1.0 - p)
    self_pairs = np.bincount(inverse, weights=p * (1.0 - p))
    neg_below = np.cumsum(neg) - neg
    concordant = float(np.sum(pos * neg_below) + 0.5 * np.sum(pos * neg - self_pairs))
    pairs = float(pos.sum() * neg.sum() - self_pairs.sum())
    return concordant / pairs if pairs > 0 else float("nan")


def estimate_performance(
    probability: np.ndarray,
    rank_score: np.ndarray,
    *,
    k: int,
    confidence_level: float = 0.95,
) -> dict[str, MetricInterval]:
    """Label-free estimates of :data:`PERFORMANCE_METRICS` from calibrated probabilities.

    ``probability``: the (re)calibrated probabilities the estimate trusts; ``rank_score``:
    the score that decides who is reached (the served probability); ``k``: families reached.
    """
    p = np.clip(np.asarray(probability, dtype=float), 0.0, 1.0)
    if p.size == 0:
        raise ValueError("no rows to estimate performance on")
    z = float(norm.ppf(0.5 + confidence_level / 2.0))
    top = top_k_mask(rank_score, k)
    variance = p * (1.0 - p)
    n = p.size
    positive_rate = float(p.mean())
    tp, fn = float(p[top].sum()), float(p[~top].sum())
    var_tp, var_fn = float(variance[top].sum()), float(variance[~top].sum())
    precision = tp / k
    recall = tp / (tp + fn) if tp + fn > 0 else float("nan")
    recall_se = (
        float(np.sqrt(fn * fn * var_tp + tp * tp * var_fn) / (tp + fn) ** 2)
        if tp + fn > 0
        else float("nan")
    )
    auc = expected_roc_auc(p, rank_score)
    n_pos = float(p.sum())
    return {
        "roc_auc": _normal(auc, hanley_mcneil_se(auc, n_pos, n - n_pos), z),
        "precision_at_capacity": _normal(precision, np.sqrt(var_tp) / k, z),
        "recall_at_capacity": _normal(recall, recall_se, z),
        "positive_rate": _normal(positive_rate, np.sqrt(variance.sum()) / n, z),
    }


def wilson_interval(successes: float, n: float, z: float) -> MetricInterval:
    """A proportion with its Wilson score interval (sound near 0, where outcomes are rare)."""
    if n <= 0:
        return MetricInterval(float("nan"), float("nan"), float("nan"))
    rate = successes / n
    denom = 1.0 + z * z / n
    centre = (rate + z * z / (2.0 * n)) / denom
    half = z * np.sqrt(rate * (1.0 - rate) / n + z * z / (4.0 * n * n)) / denom
    return MetricInterval(rate, max(0.0, centre - half), min(1.0, centre + half))


def realized_performance(
    label: np.ndarray,
    rank_score: np.ndarray,
    *,
    k: int,
    confidence_level: float = 0.95,
) -> dict[str, MetricInterval]:
    """The same metrics from observed 0/1 labels (Wilson intervals; Hanley-McNeil for AUC)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(label).astype(int)
    if y.size == 0:
        raise ValueError("no labelled rows to measure performance on")
    z = float(norm.ppf(0.5 + confidence_level / 2.0))
    top = top_k_mask(rank_score, k)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos and n_neg:
        auc = float(roc_auc_score(y, np.asarray(rank_score, dtype=float)))
        auc_iv = _normal(auc, hanley_mcneil_se(auc, n_pos, n_neg), z)
    else:
        auc_iv = MetricInterval(float("nan"), float("nan"), float("nan"))
    tp = int(y[top].sum())
    return {
        "roc_auc": auc_iv,
        "precision_at_capacity": wilson_interval(tp, k, z),
        "recall_at_capacity": wilson_interval(tp, n_pos, z),
        "positive_rate": wilson_interval(n_pos, y.size, z),
    }


def as_dicts(metrics: dict[str, MetricInterval]) -> dict[str, Any]:
    """JSON-ready form of a metrics dict."""
    return {name: iv.as_dict() for name, iv in metrics.items()}
