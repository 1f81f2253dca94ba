"""Recall parity after risk: is each group's recall at capacity what its probabilities promise?

The plain recall (true-positive rate) ratio between groups cannot be a promotion gate on its
own. When groups differ in how often the outcome happens, a score that is calibrated within
every group and applied with one cut-off reaches a larger share of the outcomes of the
higher-risk group: equal recall and calibration within groups are incompatible at unequal base
rates (Kleinberg, Mullainathan and Raghavan 2016; Chouldechova 2017), and equal recall could only
be forced with a cut-off per group, which needs the protected attribute at scoring time
(forbidden: protected attributes audit, never predict). On the synthetic registry the true
probabilities themselves give large families 2.4 times the recall of other families at 5 %
capacity, so a plain recall band blocks every sound model, the perfect one included.

What a model *is* responsible for is whether it reaches a group's outcomes as often as its own
calibrated probabilities say it does. For the rows of a group, with ``y`` the label, ``p`` the
calibrated probability and ``s`` the selection at capacity::

    recall            = sum(y * s) / sum(y)      (observed: outcomes reached)
    expected recall   = sum(p * s) / sum(p)      (promised by the probabilities)
    recall O/E        = recall / expected recall

A model that under-ranks one group's outcomes (they sit below the cut-off more often than the
scores promise; a model blind to that group's needs) has a recall O/E below the reference
group's; the gate bounds the ratio ``recall O/E (group) / recall O/E (reference)``. The plain
recall ratio stays in the audit's disparity table for every reader, and can still be gated
(``ratio_bounds: {tpr: ...}``) by a ministry that chooses it knowingly.

Uncertainty comes from the delta method on the log of the four sums of each group (a ratio of
sums of independent rows is asymptotically normal), so p-values are continuous and a Holm
family of dozens of groups can still reject; groups and their reference are disjoint, so their
variances add. A group none of whose families is selected has neither a recall nor a promised
recall: its ratio is undefined (not evaluable). A group whose outcomes are all missed while
its probabilities promised some has recall 0: its ratio is taken with half an outcome reached
(Haldane's correction) so the ratio and its interval stay finite and the check can fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from training.audit.disparity import holm_adjust
from training.audit.groups import Grouping

RECALL_PARITY_COLUMNS = (
    "attribute",
    "group",
    "reference",
    "n",
    "n_positive",
    "n_selected",
    "recall",
    "expected_recall",
    "recall_oe",
    "reference_recall_oe",
    "ratio",
    "ratio_lower",
    "ratio_upper",
    "p_value",
    "p_value_holm",
)


def _log_recall_oe(y: np.ndarray, p: np.ndarray, s: np.ndarray) -> tuple[float, float, float]:
    """(recall O/E, log of it, variance of the log) of one group's rows; NaN when undefined."""
    reached, outcomes = y * s, y
    promised, mass = p * s, p
    sums = np.array([reached.sum(), outcomes.sum(), promised.sum(), mass.sum()], dtype=float)
    if sums[1] <= 0 or sums[2] <= 0 or sums[3] <= 0:
        return float("nan"), float("nan"), float("nan")
    estimate = (sums[0] / sums[1]) / (sums[2] / sums[3])
    adjusted = sums.copy()
    if adjusted[0] == 0:
        adjusted[0] = 0.5  # Haldane: every outcome missed, the promise was not
    rows = np.column_stack([reached, outcomes, promised, mass]).astype(float)
    n = len(rows)
    covariance = np.cov(rows, rowvar=False, ddof=1) * n if n > 1 else np.zeros((4, 4))
    gradient = np.array([1 / adjusted[0], -1 / adjusted[1], -1 / adjusted[2], 1 / adjusted[3]])
    variance = float(gradient @ covariance @ gradient)
    log_value = float(np.log(adjusted[0] / adjusted[1]) - np.log(adjusted[2] / adjusted[3]))
    return float(estimate), log_value, max(variance, 0.0)


def recall_parity(
    label: np.ndarray,
    probability: np.ndarray,
    selected: np.ndarray,
    groupings: Sequence[Grouping],
    *,
    kept: Mapping[str, np.ndarray],
    references: Mapping[str, int],
    confidence_level: float = 0.95,
) -> pd.DataFrame:
    """One row per reported non-reference group: recall, promised recall, and the parity ratio.

    ``kept`` says which groups of each grouping are reported (suppressed ones are left out,
    as everywhere in the audit); ``references`` gives the reference group's code per grouping.
    ``p_value`` tests "recall O/E equal to the reference's"; ``p_value_holm`` is Holm-adjusted
    over every row of the table.
    """
    y = np.asarray(label, dtype=float)
    p = np.asarray(probability, dtype=float)
    s = np.asarray(selected, dtype=bool).astype(float)
    if not (len(y) == len(p) == len(s)):
        raise ValueError(
            f"label, probability and selection differ in length: {len(y)}, {len(p)}, {len(s)}"
        )
    z = float(norm.ppf(0.5 + confidence_level / 2))
    rows: list[dict[str, object]] = []
    for grouping in groupings:
        ref = references.get(grouping.name, -1)
        if ref < 0:
            continue
        per_group = [
            _log_recall_oe(y[mask], p[mask], s[mask])
            for mask in (grouping.codes == code for code in range(grouping.n_groups))
        ]
        ref_value, ref_log, ref_var = per_group[ref]
        for code, group in enumerate(grouping.categories):
            if code == ref or not kept[grouping.name][code]:
                continue
            mask = grouping.codes == code
            value, log_value, variance = per_group[code]
            ratio = lower = upper = p_value = float("nan")
            if not (np.isnan(log_value) or np.isnan(ref_log)):
                log_ratio = log_value - ref_log
                ratio = float(np.exp(log_ratio))
                se = float(np.sqrt(variance + ref_var))
                if se > 0:
                    lower = float(np.exp(log_ratio - z * se))
                    upper = float(np.exp(log_ratio + z * se))
                    p_value = float(2 * norm.sf(abs(log_ratio) / se))
                else:
                    lower = upper = ratio
                    p_value = 1.0 if log_ratio == 0 else 0.0
            outcomes = float(y[mask].sum())
            mass = float(p[mask].sum())
            rows.append(
                {
                    "attribute": grouping.name,
                    "group": group,
                    "reference": grouping.categories[ref],
                    "n": int(mask.sum()),
                    "n_positive": int(outcomes),
                    "n_selected": int(s[mask].sum()),
                    "recall": float((y[mask] * s[mask]).sum() / outcomes) if outcomes else np.nan,
                    "expected_recall": float((p[mask] * s[mask]).sum() / mass) if mass else np.nan,
                    "recall_oe": value,
                    "reference_recall_oe": ref_value,
                    "ratio": ratio,
                    "ratio_lower": lower,
                    "ratio_upper": upper,
                    "p_value": p_value,
                }
            )
    table = pd.DataFrame(rows, columns=[c for c in RECALL_PARITY_COLUMNS if c != "p_value_holm"])
    table["p_value_holm"] = holm_adjust(table["p_value"].to_numpy(dtype=float))
    return table
