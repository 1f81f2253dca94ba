"""Per-group metrics with the standard definitions, computed from confusion counts.

Every rate is a ratio of confusion-table counts of one group (TP, FP, FN, TN; "selected"
means the decision rule picked the row, "positive" means the label is 1):

============================  =====================  ==============================
metric                        definition             NaN when
============================  =====================  ==============================
``base_rate``                 (TP+FN) / n            n = 0
``selection_rate``            (TP+FP) / n            n = 0
``tpr`` (recall)              TP / (TP+FN)           the group has no positives
``fpr``                       FP / (FP+TN)           the group has no negatives
``fnr``                       FN / (TP+FN)           the group has no positives
``tnr``                       TN / (FP+TN)           the group has no negatives
``precision`` (PPV)           TP / (TP+FP)           nobody in the group is selected
``npv``                       TN / (TN+FN)           everybody in the group is selected
``false_omission_rate``       FN / (TN+FN)           everybody in the group is selected
``false_discovery_rate``      FP / (TP+FP)           nobody in the group is selected
============================  =====================  ==============================

An undefined rate is NaN, never 0: a group without positives has no true positive rate, and
reporting 0 would invent an error the model never made (sklearn's ``zero_division`` default
of 0 differs here on purpose). Score-based metrics (ROC AUC, Brier, expected calibration
error, the reliability table, mean predicted) are computed from the rows of the group; ROC
AUC is NaN when the group holds only one class, and the calibration metrics are only
computed when the scores are probabilities (all within [0, 1]). ``observed_to_expected``
(O/E, calibration in the large) is the base rate divided by the mean predicted probability:
1 means the group's risk is predicted right on average, above 1 under-prediction; it is how a
label recorded more often for one group (surveillance bias) shows against a fair score.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

import numpy as np
import pandas as pd
from scipy.stats import rankdata

#: A rate computable from confusion counts (also what a fairness ratio gate may bound).
CountMetric = Literal[
    "base_rate",
    "selection_rate",
    "tpr",
    "fpr",
    "fnr",
    "tnr",
    "precision",
    "npv",
    "false_omission_rate",
    "false_discovery_rate",
]
#: Rates computable from confusion counts, in report order.
COUNT_METRICS: Final[tuple[str, ...]] = get_args(CountMetric)
#: Rates that need no label (label-free mode).
LABEL_FREE_METRICS: Final[tuple[str, ...]] = ("selection_rate",)
#: Metrics computed from the scores and labels of each row.
SCORE_METRICS: Final[tuple[str, ...]] = (
    "roc_auc",
    "brier",
    "ece",
    "ece_chance_q95",
    "mean_predicted",
    "observed_to_expected",
)

#: Simulations behind ``ece_chance_q95`` (fixed seed: the same file gives the same report).
ECE_CHANCE_SIMULATIONS: Final[int] = 200
ECE_CHANCE_SEED: Final[int] = 20240917

METRIC_LABELS: Final[dict[str, str]] = {
    "n": "families",
    "base_rate": "base rate (observed positives)",
    "selection_rate": "selection rate",
    "tpr": "true positive rate",
    "fpr": "false positive rate",
    "fnr": "false negative rate",
    "tnr": "true negative rate",
    "precision": "precision (PPV)",
    "npv": "negative predictive value",
    "false_omission_rate": "false omission rate",
    "false_discovery_rate": "false discovery rate",
    "roc_auc": "ROC AUC",
    "brier": "Brier score",
    "ece": "expected calibration error (equal-width bins)",
    "ece_chance_q95": "ECE a calibrated score shows by chance (95th percentile)",
    "mean_predicted": "mean predicted score",
    "observed_to_expected": "observed / expected (O/E)",
}


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise, NaN where the denominator is 0 (no warning)."""
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def fractions_from_counts(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(numerator, denominator) of every :data:`COUNT_METRICS` rate, from confusion counts.

    Every rate is a proportion of some rows of the group; the denominator is that row count
    (tests of a difference between groups need it).
    """
    tp, fp, fn, tn = (np.asarray(x, dtype=float) for x in (tp, fp, fn, tn))
    n = tp + fp + fn + tn
    positives = tp + fn
    negatives = fp + tn
    selected = tp + fp
    not_selected = fn + tn
    return {
        "base_rate": (positives, n),
        "selection_rate": (selected, n),
        "tpr": (tp, positives),
        "fpr": (fp, negatives),
        "fnr": (fn, positives),
        "tnr": (tn, negatives),
        "precision": (tp, selected),
        "npv": (tn, not_selected),
        "false_omission_rate": (fn, not_selected),
        "false_discovery_rate": (fp, selected),
    }


def rates_from_counts(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray
) -> dict[str, np.ndarray]:
    """All :data:`COUNT_METRICS` from confusion counts; arrays of any (equal) shape.

    Vectorized so the bootstrap can pass a (resamples x groups) matrix of counts at once.
    """
    return {
        name: safe_divide(numerator, denominator)
        for name, (numerator, denominator) in fractions_from_counts(tp, fp, fn, tn).items()
    }


def roc_auc(label: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of the score for the label; NaN when only one class is present."""
    y = np.asarray(label, dtype=bool)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # Mann-Whitney form (ties count one half), equal to sklearn's roc_auc_score but without
    # its per-call validation overhead, which dominates when hundreds of groups are audited.
    ranks = rankdata(np.asarray(score, dtype=float), method="average")
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def brier(label: np.ndarray, score: np.ndarray) -> float:
    """Mean squared difference between probability and outcome; NaN for an empty group."""
    y = np.asarray(label, dtype=float)
    if y.size == 0:
        return float("nan")
    return float(np.mean((np.asarray(score, dtype=float) - y) ** 2))


def bin_edges(n_bins: int) -> np.ndarray:
    """Equal-width probability bins over [0, 1]; the last bin includes 1.0."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    return np.linspace(0.0, 1.0, n_bins + 1)


def reliability_table(label: np.ndarray, score: np.ndarray, *, n_bins: int = 10) -> pd.DataFrame:
    """Per probability bin: n, mean predicted probability and observed positive rate.

    Bins are ``[k/n_bins, (k+1)/n_bins)`` with the last one closed at 1.0; empty bins are kept
    (n = 0, rates NaN) so tables of different groups line up bin for bin.
    """
    y = np.asarray(label, dtype=float)
    s = np.asarray(score, dtype=float)
    edges = bin_edges(n_bins)
    index = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins).astype(float)
    sum_pred = np.bincount(index, weights=s, minlength=n_bins)
    sum_obs = np.bincount(index, weights=y, minlength=n_bins)
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "lower": edges[:-1],
            "upper": edges[1:],
            "n": counts.astype(int),
            "mean_predicted": safe_divide(sum_pred, counts),
            "observed_rate": safe_divide(sum_obs, counts),
        }
    )


def expected_calibration_error(label: np.ndarray, score: np.ndarray, *, n_bins: int = 10) -> float:
    """ECE: the n-weighted mean over bins of |mean predicted - observed rate|.

    Uses the same equal-width bins as :func:`reliability_table`; NaN for an empty group.
    """
    y = np.asarray(label)
    if y.size == 0:
        return float("nan")
    table = reliability_table(label, score, n_bins=n_bins)
    filled = table[table["n"] > 0]
    gaps = np.abs(filled["mean_predicted"] - filled["observed_rate"])
    return float(np.sum(filled["n"] * gaps) / y.size)


def scores_are_probabilities(score: np.ndarray) -> bool:
    """True when every score lies in [0, 1], so calibration metrics are meaningful."""
    s = np.asarray(score, dtype=float)
    return bool(s.size == 0 or (np.nanmin(s) >= 0.0 and np.nanmax(s) <= 1.0))


def score_metrics(
    label: np.ndarray, score: np.ndarray, *, probabilities: bool, n_bins: int = 10
) -> dict[str, float]:
    """ROC AUC, Brier, ECE and mean predicted of one group (calibration only if probabilities)."""
    s = np.asarray(score, dtype=float)
    nan = float("nan")
    return {
        "roc_auc": roc_auc(label, s),
        "brier": brier(label, s) if probabilities else nan,
        "ece": expected_calibration_error(label, s, n_bins=n_bins) if probabilities else nan,
        "mean_predicted": float(np.mean(s)) if s.size else nan,
    }


def grouped_auc(
    label: np.ndarray, score: np.ndarray, codes: np.ndarray, n_groups: int
) -> np.ndarray:
    """ROC AUC of every group at once (Mann-Whitney with average ranks for ties).

    One lexsort by (group, score) puts each group's scores in order; runs of equal scores
    inside a group share their average rank. Equal to :func:`roc_auc` group by group.
    """
    y = np.asarray(label, dtype=float)
    s = np.asarray(score, dtype=float)
    c = np.asarray(codes, dtype=np.int64)
    order = np.lexsort((s, c))
    cs, ss, ys = c[order], s[order], y[order]
    sizes = np.bincount(c, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    position = np.arange(1, c.size + 1) - starts[cs]  # 1-based rank inside the group
    new_run = np.ones(c.size, dtype=bool)
    new_run[1:] = (cs[1:] != cs[:-1]) | (ss[1:] != ss[:-1])
    run = np.cumsum(new_run) - 1
    run_mean = np.bincount(run, weights=position) / np.bincount(run)
    ranks = run_mean[run]
    n_pos = np.bincount(cs, weights=ys, minlength=n_groups)
    n_neg = sizes - n_pos
    rank_sum = np.bincount(cs, weights=ranks * ys, minlength=n_groups)
    return safe_divide(rank_sum - n_pos * (n_pos + 1) / 2.0, n_pos * n_neg)


def grouped_reliability(
    label: np.ndarray, score: np.ndarray, codes: np.ndarray, n_groups: int, *, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(counts, mean predicted, observed rate), each (n_groups, n_bins), for every group at once.

    Same bins as :func:`reliability_table` (equal width, last closed at 1.0).
    """
    y = np.asarray(label, dtype=float)
    s = np.asarray(score, dtype=float)
    edges = bin_edges(n_bins)
    index = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, n_bins - 1)
    flat = np.asarray(codes, dtype=np.int64) * n_bins + index
    size = n_groups * n_bins
    counts = np.bincount(flat, minlength=size).reshape(n_groups, n_bins)
    sum_pred = np.bincount(flat, weights=s, minlength=size).reshape(n_groups, n_bins)
    sum_obs = np.bincount(flat, weights=y, minlength=size).reshape(n_groups, n_bins)
    return counts, safe_divide(sum_pred, counts), safe_divide(sum_obs, counts)


def grouped_ece_by_chance(
    score: np.ndarray,
    codes: np.ndarray,
    n_groups: int,
    *,
    n_bins: int,
    quantile: float = 0.95,
    n_simulations: int = ECE_CHANCE_SIMULATIONS,
    seed: int = ECE_CHANCE_SEED,
    chunk: int = 25,
) -> np.ndarray:
    """Per group, the ``quantile`` of the ECE that *perfectly calibrated* scores would show.

    ECE is biased upward in small groups: with 40 families, a score that is exactly right
    still shows an ECE of several points, because the observed rate of a bin is noisy. To
    tell miscalibration from that noise, outcomes are simulated as ``Bernoulli(score)`` for
    every row (so the scores are calibrated by construction), the group's ECE is recomputed
    on the same bins, and the ``quantile`` of those simulated ECEs is returned. An observed
    ECE above it is unlikely under calibration (a one-sided test at level 1 - quantile).
    Simulations run in chunks (``chunk`` x rows booleans at a time), so memory stays bounded.
    """
    s = np.asarray(score, dtype=float)
    c = np.asarray(codes, dtype=np.int64)
    edges = bin_edges(n_bins)
    index = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, n_bins - 1)
    flat = c * n_bins + index
    size = n_groups * n_bins
    sizes = np.bincount(c, minlength=n_groups).astype(float)
    sum_pred = np.bincount(flat, weights=s, minlength=size)
    rng = np.random.default_rng(seed)
    simulated: list[np.ndarray] = []
    for start in range(0, n_simulations, chunk):
        k = min(chunk, n_simulations - start)
        outcomes = rng.random((k, s.size), dtype=np.float32) < s
        # one bincount for the chunk: simulation j's cells are offset by j * size
        offsets = (flat[None, :] + size * np.arange(k)[:, None]).ravel()
        sum_obs = np.bincount(offsets, weights=outcomes.ravel(), minlength=k * size)
        sum_obs = sum_obs.reshape(k, size)
        gaps = np.abs(sum_pred[None, :] - sum_obs).reshape(k, n_groups, n_bins).sum(axis=2)
        simulated.append(safe_divide(gaps, sizes[None, :]))
    return np.quantile(np.vstack(simulated), quantile, axis=0)


def grouped_score_metrics(
    label: np.ndarray | None,
    score: np.ndarray,
    codes: np.ndarray,
    n_groups: int,
    *,
    probabilities: bool,
    n_bins: int = 10,
) -> dict[str, np.ndarray]:
    """:func:`score_metrics` for every group at once; label-free gives mean_predicted only."""
    s = np.asarray(score, dtype=float)
    c = np.asarray(codes, dtype=np.int64)
    sizes = np.bincount(c, minlength=n_groups).astype(float)
    out = {"mean_predicted": safe_divide(np.bincount(c, weights=s, minlength=n_groups), sizes)}
    if label is None:
        return out
    y = np.asarray(label, dtype=float)
    out["roc_auc"] = grouped_auc(y, s, c, n_groups)
    nan = np.full(n_groups, np.nan)
    if probabilities:
        squared = np.bincount(c, weights=(s - y) ** 2, minlength=n_groups)
        out["brier"] = safe_divide(squared, sizes)
        counts, mean_pred, observed = grouped_reliability(y, s, c, n_groups, n_bins=n_bins)
        gaps = np.where(counts > 0, np.abs(mean_pred - observed), 0.0)
        out["ece"] = safe_divide((counts * gaps).sum(axis=1), sizes)
        out["ece_chance_q95"] = grouped_ece_by_chance(s, c, n_groups, n_bins=n_bins)
        positives = np.bincount(c, weights=y, minlength=n_groups)
        out["observed_to_expected"] = safe_divide(positives, sizes * out["mean_predicted"])
    else:
        out["brier"] = nan
        out["ece"] = nan.copy()
        out["ece_chance_q95"] = nan.copy()
        out["observed_to_expected"] = nan.copy()
    return out
