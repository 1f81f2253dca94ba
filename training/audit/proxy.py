"""Proxy check: how well each model feature, on its own, predicts each protected attribute.

A model that never sees ethnicity can still learn it from a feature that stands in for it
(a disability benefit for disability in the family, a region for ethnicity). For every
(feature, attribute) pair this module reports

* ``auc``: the best one-vs-rest ROC AUC of the feature for membership of one group of the
  attribute, folded so that 0.5 means "no information" and 1.0 "perfect proxy"
  (``max(AUC, 1 - AUC)``), and the group it is reached for (``auc_group``);
* ``nmi``: normalized mutual information (arithmetic normalization) between the feature cut
  into up to ``n_bins`` quantile bins and the attribute.

Missing feature values rank below every observed value (and get their own bin), because
whether a value is recorded can itself reveal the attribute. Groups below the suppression
threshold take no part (their AUC would be noise and could disclose them). A pair is flagged
when ``auc >= auc_threshold`` or ``nmi >= nmi_threshold``; the report lists the strongest first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from training.audit.groups import Grouping

DEFAULT_AUC_THRESHOLD = 0.7
DEFAULT_NMI_THRESHOLD = 0.1


def _feature_values(series: pd.Series) -> np.ndarray:
    try:
        return pd.to_numeric(series, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        # A categorical feature: its codes rank arbitrarily, so only NMI is meaningful; the
        # AUC of sorted category codes is still a (lower-bound) signal and is kept.
        codes, _ = pd.factorize(series, sort=True, use_na_sentinel=True)
        values = codes.astype(float)
        values[codes < 0] = np.nan
        return values


def normalized_mutual_information(first: np.ndarray, second: np.ndarray) -> float:
    """NMI of two integer labelings, arithmetic normalization (as sklearn's default).

    ``MI / ((H(first) + H(second)) / 2)``; 1.0 when both labelings are constant (identical
    partitions), 0.0 when only one is. Written out (a contingency bincount) to keep
    scikit-learn's import cost out of the command line.
    """
    a = np.unique(np.asarray(first), return_inverse=True)[1]
    b = np.unique(np.asarray(second), return_inverse=True)[1]
    n_a, n_b = int(a.max()) + 1, int(b.max()) + 1
    if n_a == 1 and n_b == 1:
        return 1.0
    if n_a == 1 or n_b == 1:
        return 0.0
    joint = np.bincount(a * n_b + b, minlength=n_a * n_b).reshape(n_a, n_b) / a.size
    p_a, p_b = joint.sum(axis=1), joint.sum(axis=0)
    nonzero = joint > 0
    outer = np.outer(p_a, p_b)
    mutual = float(np.sum(joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])))
    entropy_a = -float(np.sum(p_a[p_a > 0] * np.log(p_a[p_a > 0])))
    entropy_b = -float(np.sum(p_b[p_b > 0] * np.log(p_b[p_b > 0])))
    return max(mutual, 0.0) / ((entropy_a + entropy_b) / 2.0)


def _quantile_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Codes of up to n_bins quantile bins; NaN gets its own code (-1 shifted to n_bins)."""
    observed = values[~np.isnan(values)]
    codes = np.full(values.shape, n_bins, dtype=np.int64)
    if observed.size:
        edges = np.unique(np.quantile(observed, np.linspace(0, 1, n_bins + 1)[1:-1]))
        # side="left": a value equal to an edge joins the bin below, so a feature that is
        # mostly 0 still separates its zeros from its positive values.
        codes[~np.isnan(values)] = np.searchsorted(edges, observed, side="left")
    return codes


def _one_vs_rest_auc(ranks: np.ndarray, grouping: Grouping, keep: np.ndarray) -> np.ndarray:
    """AUC of the ranked feature for each group vs all other rows (Mann-Whitney form)."""
    n = ranks.size
    sizes = np.bincount(grouping.codes, minlength=grouping.n_groups).astype(float)
    rank_sums = np.bincount(grouping.codes, weights=ranks, minlength=grouping.n_groups)
    others = n - sizes
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sums - sizes * (sizes + 1) / 2.0) / (sizes * others)
    auc[(sizes == 0) | (others == 0) | ~keep] = np.nan
    return auc


def _strongest(folded: np.ndarray, grouping: Grouping) -> int:
    """Code of the group with the highest folded AUC; ties (e.g. the two groups of a binary
    attribute) go to the smaller group, the one a proxy would single out. -1 if none."""
    if np.all(np.isnan(folded)):
        return -1
    top = np.nanmax(folded)
    candidates = np.flatnonzero(np.isclose(folded, top, rtol=0, atol=1e-12))
    sizes = np.bincount(grouping.codes, minlength=grouping.n_groups)
    return int(candidates[np.argmin(sizes[candidates])])


def proxy_check(
    features: pd.DataFrame,
    groupings: list[Grouping],
    *,
    keep: dict[str, np.ndarray],
    n_bins: int = 10,
    auc_threshold: float = DEFAULT_AUC_THRESHOLD,
    nmi_threshold: float = DEFAULT_NMI_THRESHOLD,
) -> pd.DataFrame:
    """One row per (feature, attribute): auc, auc_group, nmi, flagged; strongest first.

    ``keep[attribute]`` marks the groups that are large enough to take part.
    """
    rows: list[dict[str, object]] = []
    for feature in features.columns:
        values = _feature_values(features[feature])
        filled = np.where(np.isnan(values), -np.inf, values)
        ranks = rankdata(filled, method="average")
        bins = _quantile_bins(values, n_bins)
        for grouping in groupings:
            auc = _one_vs_rest_auc(ranks, grouping, keep[grouping.name])
            folded = np.maximum(auc, 1.0 - auc)
            best = _strongest(folded, grouping)
            best_auc = float(folded[best]) if best >= 0 else float("nan")
            nmi = normalized_mutual_information(grouping.codes, bins)
            rows.append(
                {
                    "feature": str(feature),
                    "attribute": grouping.name,
                    "auc": best_auc,
                    "auc_group": grouping.categories[best] if best >= 0 else None,
                    "nmi": nmi,
                    "flagged": bool(
                        (not np.isnan(best_auc) and best_auc >= auc_threshold)
                        or nmi >= nmi_threshold
                    ),
                }
            )
    table = pd.DataFrame(
        rows, columns=["feature", "attribute", "auc", "auc_group", "nmi", "flagged"]
    )
    if table.empty:
        return table
    return table.sort_values(
        ["flagged", "auc", "nmi"], ascending=[False, False, False], na_position="last"
    ).reset_index(drop=True)
