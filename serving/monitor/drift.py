"""Drift of the inputs, of their joint structure and of the score against the reference bins.

Per indicator: the population stability index (PSI) on the reference's stored bins,
``sum((c - r) * ln(c / r))`` over the bin shares (half a row added to every bin so an
empty bin stays finite). An indicator is flagged when its PSI exceeds the larger of

* ``min_psi`` (a shift too small to matter is not an alarm however many rows there are), and
* the PSI that sampling noise alone exceeds with probability ``false_alarm_rate``: for two
  independent samples of one distribution the PSI is approximately
  ``(1/n_ref + 1/n_cur) * chi2(bins - 1)``, so the threshold is that chi-square quantile.

Whole-input drift: the mean PCA reconstruction error of the new rows against the
reference's (a change in correlations moves it even when every marginal stays put).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import chi2, norm

from serving.monitor.config import MonitorConfig
from training.performance_estimate import top_k_mask
from training.reference_stats import (
    FeatureBins,
    PCAReference,
    ReferenceStats,
    bin_counts,
    pca_reconstruction_error,
)

STATISTIC = "population_stability_index"


def psi(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """PSI of two count vectors over the same bins (bins empty in both are ignored)."""
    r = np.asarray(reference_counts, dtype=float)
    c = np.asarray(current_counts, dtype=float)
    if r.shape != c.shape:
        raise ValueError(f"bin counts differ in length: {r.size} reference, {c.size} current")
    used = (r > 0) | (c > 0)
    r, c = r[used] + 0.5, c[used] + 0.5
    r, c = r / r.sum(), c / c.sum()
    return float(np.sum((c - r) * np.log(c / r)))


def psi_threshold(n_reference: int, n_current: int, n_bins: int, *, config: MonitorConfig) -> float:
    """The flagging threshold for a PSI over ``n_bins`` used bins (see the module docstring)."""
    if n_bins < 2:
        return float("inf")  # one used bin: nothing can move
    noise = (1.0 / n_reference + 1.0 / n_current) * float(
        chi2.ppf(1.0 - config.false_alarm_rate, n_bins - 1)
    )
    return max(config.min_psi, noise)


def _bins_used(reference: np.ndarray, current: np.ndarray) -> int:
    return int(np.count_nonzero((reference > 0) | (current > 0)))


def feature_drift(
    reference: list[FeatureBins], matrix: np.ndarray, *, config: MonitorConfig
) -> list[dict[str, Any]]:
    """One entry per model input: name, statistic, value, threshold, drifted, missing shares."""
    if matrix.shape[1] != len(reference):
        raise ValueError(
            f"{matrix.shape[1]} input columns for {len(reference)} reference indicators"
        )
    counts = [bin_counts(matrix[:, j], bins.edges) for j, bins in enumerate(reference)]
    return feature_drift_from_counts(reference, counts, config=config)


def feature_drift_from_counts(
    reference: list[FeatureBins], counts: list[np.ndarray], *, config: MonitorConfig
) -> list[dict[str, Any]]:
    """:func:`feature_drift` on current counts already in the reference's bins (what the
    service accumulates), one count vector per indicator in the reference's order."""
    out = []
    for bins, current in zip(reference, counts, strict=True):
        ref = np.asarray(bins.counts, dtype=float)
        cur = np.asarray(current, dtype=float)
        n_cur = int(cur.sum())
        value = psi(ref, cur)
        threshold = psi_threshold(
            int(ref.sum()), max(n_cur, 1), _bins_used(ref, cur), config=config
        )
        out.append(
            {
                "name": bins.name,
                "statistic": STATISTIC,
                "value": value,
                "threshold": threshold if np.isfinite(threshold) else None,
                "drifted": bool(value > threshold),
                "missing_share_reference": float(ref[-1] / ref.sum()),
                "missing_share_current": float(cur[-1] / max(cur.sum(), 1.0)),
            }
        )
    return out


def multivariate_drift(
    pca: PCAReference, matrix: np.ndarray, *, n_reference: int, config: MonitorConfig
) -> dict[str, Any]:
    """Mean PCA reconstruction error now against the reference's, with ``drifted``."""
    error = pca_reconstruction_error(matrix, pca)
    return multivariate_drift_from_mean(
        pca, float(error.mean()), n_current=error.size, n_reference=n_reference, config=config
    )


def multivariate_drift_from_mean(
    pca: PCAReference,
    current: float,
    *,
    n_current: int,
    n_reference: int,
    config: MonitorConfig,
) -> dict[str, Any]:
    """:func:`multivariate_drift` from the mean error of ``n_current`` rows (served totals)."""
    z = float(norm.ppf(1.0 - config.false_alarm_rate / 2.0))
    noise = z * pca.error_sd * np.sqrt(1.0 / n_reference + 1.0 / max(n_current, 1))
    tolerance = max(config.multivariate_min_relative_change * pca.error_mean, float(noise))
    return {
        "method": "pca_reconstruction_error",
        "n_components": len(pca.components),
        "explained_variance_reference": pca.explained_variance,
        "reference": pca.error_mean,
        "value": current,
        "relative_change": (current - pca.error_mean) / pca.error_mean
        if pca.error_mean > 0
        else None,
        "threshold": tolerance,
        "drifted": bool(abs(current - pca.error_mean) > tolerance),
    }


def score_drift(
    stats: ReferenceStats, probability: np.ndarray, *, k: int, config: MonitorConfig
) -> dict[str, Any]:
    """PSI of the calibrated score on the reference's score bins, and selection at capacity."""
    ref = np.asarray(stats.score.counts, dtype=float)
    cur = bin_counts(probability, stats.score.edges).astype(float)
    value = psi(ref, cur)
    threshold = psi_threshold(stats.n_rows, probability.size, _bins_used(ref, cur), config=config)
    top = top_k_mask(probability, k)
    return {
        "statistic": STATISTIC,
        "value": value,
        "threshold": threshold if np.isfinite(threshold) else None,
        "drifted": bool(value > threshold),
        "mean_reference": stats.score.mean,
        "mean_current": float(np.mean(probability)),
        "capacity_k": k,
        "threshold_at_capacity_reference": stats.score.threshold_at_capacity,
        "threshold_at_capacity_current": float(probability[top].min()),
        "selection_rate_reference": stats.score.k / stats.n_rows,
        "selection_rate_at_reference_threshold": float(
            np.mean(probability >= stats.score.threshold_at_capacity)
        ),
    }
