"""Evaluate calibrated scores on the test slice, with paired bootstrap confidence intervals.

Every model (the main model and the baselines) is scored on the same rows and the same
bootstrap resamples, so their intervals and the AUC differences between them are directly
comparable (a paired bootstrap). On synthetic data the true probability of each family is
known (``ground_truth.parquet``); then the evaluation also reports how far the calibrated
probabilities are from the truth, and the AUC an oracle that knew the truth would reach:
the ceiling no model can beat on these labels.

Why equal-mass bins for the expected calibration error and the reliability diagram: the
label is rare (a few per cent), so equal-width bins would put almost every family into the
first bin and say nothing about the high-risk families caseworkers will actually see.

Ranking at capacity uses the raw score (the calibrated probability is a non-decreasing map
of it, but isotonic calibration creates ties; the raw score breaks them in the model's own
order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

METRICS: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "ece",
    "precision_at_k",
    "recall_at_k",
    "lift_at_k",
)
HIGHER_IS_BETTER = {
    "roc_auc": True,
    "pr_auc": True,
    "brier": False,
    "log_loss": False,
    "ece": False,
    "precision_at_k": True,
    "recall_at_k": True,
    "lift_at_k": True,
}
CAPACITY_FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
_EPS = float(np.finfo(np.float64).eps)  # the clipping scikit-learn's log_loss applies


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap percentile interval."""

    estimate: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class ScoredModel:
    """What the evaluation needs of one model on the test rows."""

    probability: np.ndarray
    rank_score: np.ndarray


@dataclass(frozen=True)
class ModelEvaluation:
    """One model's test-slice metrics, reliability diagram and capacity curve."""

    name: str
    metrics: dict[str, Interval]
    reliability: pd.DataFrame  # bin, mean_predicted, observed, n, observed_low, observed_high
    capacity_curve: pd.DataFrame  # fraction, k, precision, recall, lift
    truth: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    """The whole test-slice evaluation: each model, paired AUC differences, the oracle."""

    models: dict[str, ModelEvaluation]
    auc_difference: dict[str, Interval]  # "<main> - <baseline>" -> paired interval
    n_rows: int
    n_positive: int
    capacity_k: int
    confidence_level: float
    n_bootstrap: int
    oracle: dict[str, Interval] = field(default_factory=dict)
    # metric -> "<main> - <other>" -> paired interval of the difference (same resamples)
    differences: dict[str, dict[str, Interval]] = field(default_factory=dict)

    @property
    def prevalence(self) -> float:
        return self.n_positive / self.n_rows

    def comparison_table(self) -> pd.DataFrame:
        """Models side by side: one row per model, ``<metric>``, ``_low``, ``_high`` columns."""
        rows = []
        for name, ev in self.models.items():
            row: dict[str, object] = {"model": name}
            for metric, iv in ev.metrics.items():
                row[metric] = iv.estimate
                row[f"{metric}_low"] = iv.low
                row[f"{metric}_high"] = iv.high
            row.update({f"truth_{k}": v for k, v in ev.truth.items()})
            rows.append(row)
        if self.oracle:
            row = {"model": "oracle (true probability)"}
            for metric, iv in self.oracle.items():
                row[metric] = iv.estimate
                row[f"{metric}_low"] = iv.low
                row[f"{metric}_high"] = iv.high
            rows.append(row)
        return pd.DataFrame(rows).set_index("model")


# --------------------------------------------------------------------------- metrics


def expected_calibration_error(y: np.ndarray, p: np.ndarray, *, n_bins: int) -> float:
    """Weighted mean |observed rate - mean probability| over equal-mass bins.

    Reported as "ECE (equal-mass bins)". The fairness audit's per-group ``ece``
    (:mod:`training.audit.metrics`) uses equal-width bins on [0, 1] (comparable between
    groups and score files) and is labelled "ECE (equal-width bins)": two names for two
    definitions. Neither is a promotion gate on its own for groups; calibration is gated on
    observed / expected ratios (:mod:`training.reliability`).
    """
    table = _bin_table(y, p, n_bins=n_bins)
    return float(np.sum(table["n"] * np.abs(table["observed"] - table["mean_predicted"])) / len(y))


def _bin_edges(p: np.ndarray, n_bins: int) -> np.ndarray:
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    return edges


def _bin_table(y: np.ndarray, p: np.ndarray, *, n_bins: int) -> pd.DataFrame:
    edges = _bin_edges(p, n_bins)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    n = np.bincount(idx, minlength=max(len(edges) - 1, 1))
    pos = np.bincount(idx, weights=y, minlength=len(n))
    psum = np.bincount(idx, weights=p, minlength=len(n))
    keep = n > 0
    return pd.DataFrame(
        {
            "bin": np.arange(len(n))[keep],
            "n": n[keep],
            "positives": pos[keep],
            "mean_predicted": psum[keep] / n[keep],
            "observed": pos[keep] / n[keep],
        }
    )


def reliability_table(
    y: np.ndarray, p: np.ndarray, *, n_bins: int, confidence_level: float = 0.95
) -> pd.DataFrame:
    """Reliability diagram data: per equal-mass bin, mean probability vs observed rate.

    The observed rate carries a Wilson score interval, so a reader sees which gaps are noise.
    """
    from scipy.stats import norm

    table = _bin_table(y, p, n_bins=n_bins)
    z = float(norm.ppf(0.5 + confidence_level / 2))
    n = table["n"].to_numpy(dtype=float)
    phat = table["observed"].to_numpy()
    centre = (phat + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(phat * (1 - phat) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return table.assign(observed_low=centre - half, observed_high=centre + half)


def _top_k(rank_score: np.ndarray, k: int) -> np.ndarray:
    # stable: among equal scores the earlier row wins, so results do not depend on the sort
    order = np.argsort(-rank_score, kind="stable")
    return order[:k]


def capacity_metrics(y: np.ndarray, rank_score: np.ndarray, *, k: int) -> dict[str, float]:
    """Precision, recall and lift among the top ``k`` families by score."""
    top = _top_k(rank_score, k)
    hits = float(y[top].sum())
    positives = float(y.sum())
    prevalence = positives / len(y)
    precision = hits / k
    return {
        "precision_at_k": precision,
        "recall_at_k": hits / positives if positives else float("nan"),
        "lift_at_k": precision / prevalence if prevalence else float("nan"),
    }


def capacity_curve(
    y: np.ndarray, rank_score: np.ndarray, *, fractions: tuple[float, ...] = CAPACITY_FRACTIONS
) -> pd.DataFrame:
    """Precision, recall and lift as the caseworkers' capacity grows."""
    rows = []
    for f in fractions:
        k = max(1, round(f * len(y)))
        rows.append({"fraction": f, "k": k, **capacity_metrics(y, rank_score, k=k)})
    return pd.DataFrame(rows).rename(
        columns={"precision_at_k": "precision", "recall_at_k": "recall", "lift_at_k": "lift"}
    )


def point_metrics(
    y: np.ndarray, p: np.ndarray, rank_score: np.ndarray, *, k: int, n_bins: int
) -> dict[str, float]:
    """Every metric of :data:`METRICS` on one sample (NaN where a class is absent)."""
    both = 0 < y.sum() < len(y)
    pc = np.clip(p, _EPS, 1 - _EPS)
    out = {
        "roc_auc": float(roc_auc_score(y, rank_score)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, rank_score)) if both else float("nan"),
        "brier": float(np.mean((p - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))),
        "ece": expected_calibration_error(y, p, n_bins=n_bins),
    }
    out.update(
        capacity_metrics(y, rank_score, k=k)
        if y.sum()
        else dict.fromkeys(("precision_at_k", "recall_at_k", "lift_at_k"), float("nan"))
    )
    return out


def _interval(point: float, samples: np.ndarray, confidence_level: float) -> Interval:
    alpha = (1 - confidence_level) / 2
    valid = samples[~np.isnan(samples)]
    if valid.size < max(10, samples.size // 2):
        return Interval(point, float("nan"), float("nan"))
    low, high = np.quantile(valid, [alpha, 1 - alpha])
    return Interval(float(point), float(low), float(high))


def weighted_metrics(
    y: np.ndarray,
    p: np.ndarray,
    rank_score: np.ndarray,
    weights: np.ndarray,
    *,
    k: int,
    bin_index: np.ndarray,
    n_bins: int,
    ranking_only: bool = False,
) -> dict[str, np.ndarray]:
    """Every metric for a batch of bootstrap resamples given as row counts (B x n).

    ``ranking_only``: ROC AUC and the top-k metrics only (the pooled baseline margins need
    no more); the probability metrics' passes are skipped.

    A bootstrap resample is fully described by how often each row was drawn, so instead of
    materialising B resamples, each metric is a weighted sum over rows sorted once by score:
    O(B * n) with no per-resample sort. With all weights 1 this is the plain metric
    (the tests compare it with scikit-learn's). Ties in the score count as half, as in
    ``roc_auc_score``; top-k takes rows in stable score order, as :func:`capacity_metrics`.
    Calibration bins are the equal-mass bins of the full test slice.
    """
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    n = w.shape[1]
    order = np.argsort(-rank_score, kind="stable")
    ys, ws = y[order], w[:, order]
    wp = ws * ys
    # running weight of positives and of all rows in score order (one pass each)
    run_p = np.cumsum(wp, axis=1)
    run_w = np.cumsum(ws, axis=1)
    total_p = run_p[:, -1]
    total_n = run_w[:, -1] - total_p
    s_sorted = rank_score[order]
    ends = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
    with np.errstate(invalid="ignore", divide="ignore"):
        if len(ends) == n:
            # no ties: a negative row counts the positive weight ranked above it; only
            # positive rows add to the average precision
            pos = ys.astype(bool)
            above = np.einsum("ij,ij->i", ws, run_p) - np.einsum("ij,ij->i", wp, run_p)
            auc = above / (total_p * total_n)
            ap = (
                None
                if ranking_only
                else np.einsum("ij,ij->i", wp[:, pos], np.nan_to_num(run_p[:, pos] / run_w[:, pos]))
                / total_p
            )
        else:
            # ties: a tie group's totals are read at its last row; half of a tied pair counts
            cum_p, cum_w = run_p[:, ends], run_w[:, ends]
            pg = np.diff(cum_p, axis=1, prepend=0.0)
            ng = np.diff(cum_w, axis=1, prepend=0.0) - pg
            auc = np.sum(ng * (cum_p - 0.5 * pg), axis=1) / (total_p * total_n)
            ap = (
                None
                if ranking_only
                else np.sum(pg * np.nan_to_num(cum_p / cum_w), axis=1) / total_p
            )
    both = (total_p > 0) & (total_n > 0)
    auc = np.where(both, auc, np.nan)

    n_w = w.sum(axis=1)
    top = _top_k_metrics(ys, ws, run_w, total_p, n_w, k=k)
    if ranking_only:
        return {"roc_auc": auc, **top}
    assert ap is not None
    ap = np.where(both, ap, np.nan)
    pc = np.clip(p, _EPS, 1 - _EPS)
    brier = w @ ((p - y) ** 2) / n_w
    log_loss = w @ (-(y * np.log(pc) + (1 - y) * np.log(1 - pc))) / n_w
    # per-bin sums of (y - p) for every resample at once: weights times a one-column-per-bin
    # matrix (one matrix product instead of a gather per bin)
    residual = np.zeros((n, n_bins))
    residual[np.arange(n), bin_index] = y - p
    ece = np.abs(w @ residual).sum(axis=1) / n_w

    return {
        "roc_auc": auc,
        "pr_auc": ap,
        "brier": brier,
        "log_loss": log_loss,
        "ece": ece,
        **top,
    }


def _top_k_metrics(
    ys: np.ndarray,
    ws: np.ndarray,
    run_w: np.ndarray,
    total_p: np.ndarray,
    n_w: np.ndarray,
    *,
    k: int,
) -> dict[str, np.ndarray]:
    """Precision, recall and lift at capacity of resamples in score order (see above)."""
    # only the rows before each resample's running weight reaches k can be taken
    n = ws.shape[1]
    last = max(int(np.searchsorted(row, k, side="left")) for row in run_w) + 1
    head = slice(0, min(last, n))
    taken = np.clip(k - (run_w[:, head] - ws[:, head]), 0, ws[:, head])
    hits = taken @ ys[head]
    prevalence = total_p / n_w
    with np.errstate(invalid="ignore", divide="ignore"):
        precision_k = hits / k
        recall_k = np.where(total_p > 0, hits / total_p, np.nan)
        lift_k = np.where(total_p > 0, precision_k / prevalence, np.nan)
    return {"precision_at_k": precision_k, "recall_at_k": recall_k, "lift_at_k": lift_k}


def bootstrap_weights(
    rng: np.random.Generator, size: int, n: int, *, groups: np.ndarray | None = None
) -> np.ndarray:
    """How often each row is drawn in ``size`` bootstrap resamples (a ``size x n`` array).

    With ``groups`` (one label per row, e.g. the family id), whole groups are resampled:
    a family with several snapshots is drawn with all of them or not at all, so rows of one
    family, which are not independent, do not narrow the interval as if they were.
    """
    if groups is None:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=size)
    codes, uniques = pd.factorize(pd.Series(groups), sort=False)
    m = len(uniques)
    if m == n:  # one row per group: the plain row bootstrap, drawn the same way
        return rng.multinomial(n, np.full(n, 1.0 / n), size=size)
    drawn = rng.multinomial(m, np.full(m, 1.0 / m), size=size)
    return drawn[:, codes]


def _bin_index(p: np.ndarray, n_bins: int) -> tuple[np.ndarray, int]:
    edges = _bin_edges(p, n_bins)
    nb = max(len(edges) - 1, 1)
    return np.clip(np.searchsorted(edges, p, side="right") - 1, 0, nb - 1), nb


def evaluate(
    y: np.ndarray,
    scored: Mapping[str, ScoredModel],
    *,
    k: int,
    main: str,
    n_bootstrap: int = 200,
    confidence_level: float = 0.95,
    n_bins: int = 10,
    seed: int = 0,
    true_probability: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> Evaluation:
    """Evaluate every scored model on the same rows and the same bootstrap resamples.

    ``main`` names the model whose AUC is compared (paired) with each other model's.
    ``true_probability`` (synthetic data only) adds the distance to the truth and the oracle.
    ``groups`` (e.g. family ids): resample whole groups (:func:`bootstrap_weights`).
    """
    y = np.asarray(y).astype(int)
    n = len(y)
    if main not in scored:
        raise KeyError(f"main model {main!r} not among scored models {list(scored)}")
    if not 0 < y.sum() < n:
        raise ValueError(f"test slice needs both classes: {int(y.sum())} positives in {n} rows")
    for name, s in scored.items():
        if len(s.probability) != n or len(s.rank_score) != n:
            raise ValueError(f"model {name!r} scored {len(s.probability)} rows, labels have {n}")
    candidates = dict(scored)
    if true_probability is not None:
        tp = np.asarray(true_probability, dtype=float)
        candidates["__oracle__"] = ScoredModel(probability=tp, rank_score=tp)
    rng = np.random.default_rng(seed)
    points: dict[str, dict[str, float]] = {}
    samples: dict[str, dict[str, list[np.ndarray]]] = {
        name: {m: [] for m in METRICS} for name in candidates
    }
    binning = {name: _bin_index(s.probability, n_bins) for name, s in candidates.items()}
    ones = np.ones((1, n))
    for name, s in candidates.items():
        idx, nb = binning[name]
        full = weighted_metrics(y, s.probability, s.rank_score, ones, k=k, bin_index=idx, n_bins=nb)
        points[name] = {m: float(v[0]) for m, v in full.items()}
    chunk = max(1, min(n_bootstrap, 4_000_000 // max(n, 1)))
    done = 0
    while done < n_bootstrap:
        size = min(chunk, n_bootstrap - done)
        weights = bootstrap_weights(rng, size, n, groups=groups).astype(float)
        for name, s in candidates.items():
            idx, nb = binning[name]
            batch = weighted_metrics(
                y, s.probability, s.rank_score, weights, k=k, bin_index=idx, n_bins=nb
            )
            for m in METRICS:
                samples[name][m].append(batch[m])
        done += size
    stacked = {name: {m: np.concatenate(v) for m, v in d.items()} for name, d in samples.items()}
    intervals = {
        name: {m: _interval(points[name][m], stacked[name][m], confidence_level) for m in METRICS}
        for name in candidates
    }
    models = {}
    for name, s in scored.items():
        truth: dict[str, float] = {}
        if true_probability is not None:
            gap = s.probability - tp
            truth = {
                "mae_vs_truth": float(np.mean(np.abs(gap))),
                "rmse_vs_truth": float(np.sqrt(np.mean(gap**2))),
                "mean_predicted": float(np.mean(s.probability)),
                "mean_true": float(np.mean(tp)),
            }
        models[name] = ModelEvaluation(
            name=name,
            metrics=intervals[name],
            reliability=reliability_table(
                y, s.probability, n_bins=n_bins, confidence_level=confidence_level
            ),
            capacity_curve=capacity_curve(y, s.rank_score),
            truth=truth,
        )
    differences: dict[str, dict[str, Interval]] = {m: {} for m in METRICS}
    for name in scored:
        if name == main:
            continue
        for m in METRICS:
            diff = stacked[main][m] - stacked[name][m]
            point = points[main][m] - points[name][m]
            differences[m][f"{main} - {name}"] = _interval(point, diff, confidence_level)
    auc_difference = dict(differences["roc_auc"])
    return Evaluation(
        models=models,
        auc_difference=auc_difference,
        n_rows=n,
        n_positive=int(y.sum()),
        capacity_k=k,
        confidence_level=confidence_level,
        n_bootstrap=n_bootstrap,
        oracle=intervals.get("__oracle__", {}),
        differences=differences,
    )


def equal_mass_bin_index(p: np.ndarray, n_bins: int) -> tuple[np.ndarray, int]:
    """Each probability's equal-mass calibration bin and the number of bins (public for
    the modules that recompute metrics with :func:`weighted_metrics`)."""
    return _bin_index(p, n_bins)


def percentile_interval(point: float, samples: np.ndarray, confidence_level: float) -> Interval:
    """``point`` with the bootstrap percentile interval of ``samples`` (NaN bounds when too few
    resamples are defined)."""
    return _interval(point, samples, confidence_level)
