"""Disparities of each group against a reference group, with intervals and Holm-corrected p-values.

For a metric m, group g and reference r the report gives the difference ``m_g - m_r`` and the
ratio ``m_g / m_r`` (NaN when ``m_r`` is 0 or undefined). Intervals are bootstrap percentile
intervals of the same quantity computed in every resample (so the group and the reference
vary together, as they do in the data).

Every audited rate is a proportion (numerator / denominator rows of the group), and a group
and its reference are disjoint, so the p-value of "no difference" is the classical pooled
two-proportion z-test: ``z = (p_g - p_r) / sqrt(p (1 - p) (1/d_g + 1/d_r))`` with ``p`` the
pooled proportion and ``d`` the denominators (two-sided). It gives continuous p-values (a
resampling p-value cannot go below 1/(B+1), which would make a Holm family of more than a few
dozen tests useless), and unlike a bootstrap standard error it stays honest when a small group
has a zero cell (0 false positives out of 12 negatives is no evidence of a lower FPR; the
bootstrap cannot resample a false positive that is not there). Percentile intervals of such
a group are degenerate (both ends 0) for the same reason: read them with the group size.

Holm's step-down correction controls the family-wise error rate without assuming independence.
The family is every disparity test of one report (all attributes, intersections and metrics),
which is conservative on purpose: auditors read the whole table at once.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from training.audit.bootstrap import nan_quantiles
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


def two_proportion_p_value(
    numerator: np.ndarray, denominator: np.ndarray, reference: int
) -> np.ndarray:
    """Pooled two-proportion z-test of every group against group ``reference``.

    Two-sided; NaN where a denominator is 0 (the rate is undefined) and for the reference
    itself; 1 where the pooled proportion is 0 or 1 (both rates equal, no variance).
    """
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    pooled = safe_divide(num + num[reference], den + den[reference])
    variance = (
        pooled
        * (1.0 - pooled)
        * (safe_divide(np.ones_like(den), den) + safe_divide(np.ones_like(den), den[reference]))
    )
    difference = safe_divide(num, den) - safe_divide(num[reference], den[reference])
    z = safe_divide(np.abs(difference), np.sqrt(variance))
    p = np.where(variance == 0, 1.0, 2.0 * norm.sf(z))
    p = np.where(np.isnan(difference), np.nan, p)
    p[reference] = np.nan
    return p


def group_disparities(
    fraction: tuple[np.ndarray, np.ndarray],
    samples: np.ndarray | None,
    reference: int,
    *,
    confidence_level: float,
) -> dict[str, np.ndarray]:
    """Difference, ratio, intervals and p-value of every group against ``reference``.

    ``fraction`` is the (numerator, denominator) of the metric per group, shape (G,) each;
    ``samples`` (B, G) bootstrap values of the metric, or None (no intervals). Returns arrays
    of shape (G,); the reference's own difference and ratio are 0 and 1, its p-value NaN.
    """
    est = safe_divide(*fraction)
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
        "p_value": two_proportion_p_value(*fraction, reference),
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
    return out
