"""Disparities of each group against a reference group, with intervals and Holm-corrected p-values.

For a metric m, group g and reference r the report gives the difference ``m_g - m_r`` and the
ratio ``m_g / m_r`` (NaN when ``m_r`` is 0 or undefined). Intervals are bootstrap percentile
intervals of the same quantity computed in every resample (so the group and the reference
vary together, as they do in the data). The p-value tests "no difference" with a Wald
statistic ``z = difference / bootstrap standard error`` (two-sided normal tail): it gives
continuous p-values, whereas a pure resampling p-value cannot go below 1/(B+1), which would
make any Holm-corrected family of more than a few dozen tests useless.

Holm's step-down correction controls the family-wise error rate without assuming independence.
The family is every disparity test of one report (all attributes, intersections and metrics),
which is conservative on purpose: auditors read the whole table at once.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from training.audit.bootstrap import nan_quantiles, nan_std
from training.audit.metrics import safe_divide


def holm_adjust(p_values: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values; NaN entries stay NaN and do not count as tests.

    With the m defined p-values sorted ascending, the adjusted value of the i-th (1-based) is
    ``max_{j <= i} min(1, (m - j + 1) * p_(j))``; a test is rejected at level alpha exactly when
    its adjusted p-value is <= alpha.
    """
    p = np.asarray(p_values, dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got min {np.nanmin(p)}, max {np.nanmax(p)}")
    adjusted = np.full(p.shape, np.nan)
    defined = np.flatnonzero(~np.isnan(p))
    m = defined.size
    if m == 0:
        return adjusted
    order = defined[np.argsort(p[defined], kind="stable")]
    factors = m - np.arange(m)
    stepped = np.minimum(1.0, np.maximum.accumulate(factors * p[order]))
    adjusted[order] = stepped
    return adjusted


def wald_p_value(estimate: np.ndarray, standard_error: np.ndarray) -> np.ndarray:
    """Two-sided normal p-value of estimate / standard error; 1 if both are 0, NaN if undefined."""
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(standard_error, dtype=float)
    z = safe_divide(np.abs(est), se)
    p = 2.0 * norm.sf(z)
    degenerate = (se == 0) & ~np.isnan(est)
    p = np.where(degenerate & (est == 0), 1.0, p)
    p = np.where(degenerate & (est != 0), 0.0, p)
    return np.where(np.isnan(est) | np.isnan(se), np.nan, p)


def group_disparities(
    estimates: np.ndarray,
    samples: np.ndarray | None,
    reference: int,
    *,
    confidence_level: float,
) -> dict[str, np.ndarray]:
    """Difference and ratio of every group against group ``reference`` for one metric.

    ``estimates`` has shape (G,), ``samples`` (B, G) bootstrap values or None (no intervals).
    Returns arrays of shape (G,); the reference's own entries are 0 and 1.
    """
    est = np.asarray(estimates, dtype=float)
    difference = est - est[reference]
    ratio = safe_divide(est, np.full(est.shape, est[reference]))
    nan = np.full(est.shape, np.nan)
    out = {
        "difference": difference,
        "ratio": ratio,
        "difference_lower": nan.copy(),
        "difference_upper": nan.copy(),
        "ratio_lower": nan.copy(),
        "ratio_upper": nan.copy(),
        "p_value": nan.copy(),
    }
    if samples is None:
        return out
    alpha = 1.0 - confidence_level
    quantiles = (alpha / 2.0, 1.0 - alpha / 2.0)
    boot = np.asarray(samples, dtype=float)
    boot_difference = boot - boot[:, [reference]]
    boot_ratio = safe_divide(boot, np.repeat(boot[:, [reference]], boot.shape[1], axis=1))
    diff_q = nan_quantiles(boot_difference, quantiles)
    ratio_q = nan_quantiles(boot_ratio, quantiles)
    out["difference_lower"], out["difference_upper"] = diff_q[0], diff_q[1]
    out["ratio_lower"], out["ratio_upper"] = ratio_q[0], ratio_q[1]
    out["p_value"] = wald_p_value(difference, nan_std(boot_difference))
    out["p_value"][reference] = np.nan  # the reference is not tested against itself
    return out
