"""Doubly robust evaluation of a score against the outcome *without support*.

Once caseworkers act on the scores, a test slice's recorded outcomes are partly outcomes
with support: the families the model ranked highest were helped, fewer of them had the
outcome, and the naive figures (computed on the recorded labels) under-rate the model on
exactly the families it should find. What a ministry needs to know is how well the score
ranks the outcome that would happen without support.

The doubly robust (augmented inverse-propensity) pseudo-outcome of each row,

    phi = mu0(X) + (1 - A) / (1 - pi(X)) * (Y - mu0(X)),

has the no-support outcome's expectation when either the outcome model ``mu0`` (the
outcome of rows without support, given the indicators) or the propensity model ``pi``
(support given the indicators) is right (Kennedy 2016; Coston, Mishler, Kennedy and
Chouldechova 2020 for performance metrics of risk assessments). Both are cross-fitted: each
fold's nuisance figures come from models fitted on the other folds (families kept whole).

Metrics then replace each label by ``phi``: precision at capacity is the mean ``phi`` among
the top-k rows, recall the share of all ``phi`` mass they hold (per group: of the group's
mass), ROC AUC the probability that a "positive" mass outranks a "negative" one, with
``phi`` positive and ``1 - phi`` negative mass per row. Bootstrap intervals resample
families with the nuisance figures held fixed. With ``phi = y`` these are the plain
metrics; with ``phi`` = the true no-support probability, the truth (the synthetic
registry's figures, :func:`truth_metrics`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from training.evaluation import Interval, bootstrap_weights, percentile_interval
from training.positivity import (
    DEFAULT_EPSILON,
    DEFAULT_MAX_SHARE,
    PositivityCheck,
    check_positivity,
)

METRICS = ("roc_auc", "precision_at_k", "recall_at_k")
PROPENSITY_CLIP = 0.01  # 1 - pi is never taken below this in the weights


@dataclass(frozen=True)
class Nuisance:
    """The cross-fitted nuisance figures of each row."""

    outcome: np.ndarray  # mu0: P(outcome | no support, indicators)
    propensity: np.ndarray  # pi: P(support | indicators)


@dataclass(frozen=True)
class CounterfactualEvaluation:
    """Naive and doubly robust figures of one score, side by side, and the positivity check."""

    naive: dict[str, Interval]
    doubly_robust: dict[str, Interval]
    # group column -> group value -> {"naive": Interval, "doubly_robust": Interval}
    group_recall: dict[str, dict[str, dict[str, Interval]]]
    positivity: PositivityCheck
    n_rows: int
    n_treated: int
    k: int
    n_bootstrap: int
    truth: dict[str, float] = field(default_factory=dict)
    # metric -> "<main> - <other>" -> paired interval of the doubly robust difference
    differences: dict[str, dict[str, Interval]] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per metric: naive and doubly robust estimate with interval (and truth)."""
        rows = []
        for metric in METRICS:
            row: dict[str, object] = {"metric": metric}
            for name, figures in (("naive", self.naive), ("doubly_robust", self.doubly_robust)):
                iv = figures[metric]
                row.update({name: iv.estimate, f"{name}_low": iv.low, f"{name}_high": iv.high})
            if self.truth:
                row["truth_without_support"] = self.truth.get(metric, float("nan"))
            rows.append(row)
        return pd.DataFrame(rows).set_index("metric")


# ------------------------------------------------------------------ metrics on pseudo-outcomes


def weighted_auc(score: np.ndarray, phi: np.ndarray, weight: np.ndarray | None = None) -> float:
    """ROC AUC with ``phi`` positive and ``1 - phi`` negative mass per row (ties count half;
    a row is never paired with itself). Equals :func:`sklearn.metrics.roc_auc_score` when
    ``phi`` is 0/1."""
    w = np.ones(len(score)) if weight is None else np.asarray(weight, dtype=float)
    pos, neg = w * phi, w * (1.0 - phi)
    order = np.argsort(score, kind="stable")
    s, p, q = score[order], pos[order], neg[order]
    _, start = np.unique(s, return_index=True)
    p_tie = np.add.reduceat(p, start)
    q_tie = np.add.reduceat(q, start)
    q_below = np.concatenate([[0.0], np.cumsum(q_tie)[:-1]])
    own = float(np.sum(p * q * (w > 0) / np.where(w > 0, w, 1.0)))  # a row with itself
    numerator = float(np.sum(p_tie * (q_below + 0.5 * q_tie))) - 0.5 * own
    denominator = float(p.sum() * q.sum()) - own
    return numerator / denominator if denominator > 0 else float("nan")


def top_k_mask(score: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` highest scores (ties: the earlier row), as the evaluation ranks them."""
    mask = np.zeros(len(score), dtype=bool)
    mask[np.argsort(-score, kind="stable")[:k]] = True
    return mask


def capacity_figures(
    top: np.ndarray, phi: np.ndarray, weight: np.ndarray | None = None
) -> tuple[float, float]:
    """(precision, recall) at capacity of the rows ``top``, with ``phi`` for the label."""
    w = np.ones(len(phi)) if weight is None else weight
    mass = w * phi
    flagged = float(w[top].sum())
    total = float(mass.sum())
    precision = float(mass[top].sum()) / flagged if flagged else float("nan")
    recall = float(mass[top].sum()) / total if total else float("nan")
    return precision, recall


def metrics_of(
    score: np.ndarray, top: np.ndarray, phi: np.ndarray, weight: np.ndarray | None = None
) -> dict[str, float]:
    """ROC AUC, precision and recall at capacity of ``score`` on the pseudo-outcome ``phi``."""
    precision, recall = capacity_figures(top, phi, weight)
    return {
        "roc_auc": weighted_auc(score, phi, weight),
        "precision_at_k": precision,
        "recall_at_k": recall,
    }


def truth_metrics(score: np.ndarray, probability: np.ndarray, *, k: int) -> dict[str, float]:
    """The figures against known outcome probabilities (the synthetic truth without
    support): expected AUC, precision and recall over the outcome's randomness."""
    return metrics_of(score, top_k_mask(score, k), np.asarray(probability, dtype=float))


# --------------------------------------------------------------------------- nuisance


def family_folds(family_ids: pd.Series, n_folds: int) -> np.ndarray:
    """A stable fold per row from a hash of its family id (a family stays in one fold)."""
    codes = [
        int.from_bytes(hashlib.sha256(f"dr-fold:{f}".encode()).digest()[:4], "big") % n_folds
        for f in family_ids.astype(str)
    ]
    return np.asarray(codes, dtype=np.int64)


def _classifier(seed: int, *, evaluation: bool) -> object:
    """The nuisance models' learner: gradient boosting, held to large leaves for evaluation.

    Why two settings, each chosen by measurement on the deployment synth
    (``python -m benchmarks interventions``):

    * **evaluation** (the doubly robust pseudo-outcomes): the outcome is rare (about 5 % of
      rows) and support goes to a minority, so leaves of 40 rows scatter the cross-fitted
      propensities; ``1 / (1 - pi)`` is convex, so scatter inflates the weighted residuals
      on average, and the AUC's pairs amplify it. On the 6,000-family synth this put the
      doubly robust AUC 0.028 above the AUC on the same families' realized outcomes
      without support (the twin registry); leaves of 200 rows and L2 5 bring it to 0.006.
    * **training weights** (``interventions.method: ipw``): the weights are capped and
      scaled to mean 1, and there a too-smooth propensity under-weights the kept rows that
      stand for the supported profile (inverse-propensity training rated the supported
      families at 0.92 of their no-support risk with the held settings, 0.955 with these).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    if evaluation:
        return HistGradientBoostingClassifier(
            max_iter=100,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=200,
            l2_regularization=5.0,
            random_state=seed,
        )
    return HistGradientBoostingClassifier(
        max_iter=150,
        learning_rate=0.08,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        random_state=seed,
    )


def _fit_predict(
    X: np.ndarray,
    y: np.ndarray,
    fit_rows: np.ndarray,
    predict_rows: np.ndarray,
    seed: int,
    *,
    evaluation: bool,
) -> np.ndarray:
    """P(y = 1) on ``predict_rows`` from a model fitted on ``fit_rows`` (a constant when
    the fitted rows hold one class only: nothing to learn)."""
    target = y[fit_rows]
    if target.size == 0:
        return np.zeros(int(predict_rows.sum()))
    if target.min() == target.max():
        return np.full(int(predict_rows.sum()), float(target[0]))
    model = _classifier(seed, evaluation=evaluation)
    model.fit(X[fit_rows], target)  # type: ignore[attr-defined]
    return np.asarray(model.predict_proba(X[predict_rows])[:, 1])  # type: ignore[attr-defined]


def cross_fit_nuisance(
    X: np.ndarray,
    y: np.ndarray,
    treated: np.ndarray,
    folds: np.ndarray,
    *,
    seed: int = 0,
) -> Nuisance:
    """mu0 and pi of each row from models fitted on the other folds (see the module)."""
    outcome = np.empty(len(y))
    propensity = np.empty(len(y))
    for fold in np.unique(folds):
        here = folds == fold
        there = ~here
        outcome[here] = _fit_predict(X, y, there & ~treated, here, seed, evaluation=True)
        propensity[here] = _fit_predict(X, treated.astype(int), there, here, seed, evaluation=True)
    return Nuisance(outcome=outcome, propensity=propensity)


def cross_fit_propensity(
    X: np.ndarray, treated: np.ndarray, folds: np.ndarray, *, seed: int = 0
) -> np.ndarray:
    """pi of each row from models of support fitted on the other folds."""
    propensity = np.empty(len(treated))
    target = np.asarray(treated, dtype=int)
    everyone = np.ones(len(treated), dtype=bool)
    for fold in np.unique(folds):
        here = folds == fold
        propensity[here] = _fit_predict(X, target, everyone & ~here, here, seed, evaluation=False)
    return propensity


def pseudo_outcomes(
    y: np.ndarray, treated: np.ndarray, nuisance: Nuisance, *, clip: float = PROPENSITY_CLIP
) -> np.ndarray:
    """The doubly robust pseudo-outcome of each row (the module's formula)."""
    untreated = 1.0 - np.asarray(treated, dtype=float)
    residual = y - nuisance.outcome
    return nuisance.outcome + untreated / np.maximum(1.0 - nuisance.propensity, clip) * residual


# --------------------------------------------------------------------------- evaluation


def evaluate_counterfactual(
    *,
    score: np.ndarray,
    y: np.ndarray,
    treated: np.ndarray,
    X: np.ndarray,
    family_ids: pd.Series,
    k: int,
    groups: Mapping[str, Sequence[object]] | None = None,
    n_bootstrap: int = 200,
    confidence_level: float = 0.95,
    n_folds: int = 2,
    seed: int = 0,
    epsilon: float = DEFAULT_EPSILON,
    max_share: float = DEFAULT_MAX_SHARE,
    truth_probability: np.ndarray | None = None,
    main: str = "model",
    others: Mapping[str, np.ndarray] | None = None,
) -> CounterfactualEvaluation:
    """Naive and doubly robust ROC AUC, precision and recall at capacity (top ``k``) and
    per-group recall of ``score``, with family-bootstrap intervals, and the positivity
    check of the cross-fitted propensities. ``truth_probability`` (a synthetic registry's
    no-support probability) adds the true figures for comparison; ``others`` (name ->
    score of a baseline) adds the paired doubly robust differences ``main - other``."""
    score = np.asarray(score, dtype=float)
    y = np.asarray(y, dtype=float)
    treated = np.asarray(treated, dtype=bool)
    if not len(score) == len(y) == len(treated) == len(X):
        raise ValueError(
            f"score, y, treated and X need one entry per row: {len(score)}, {len(y)}, "
            f"{len(treated)}, {len(X)}"
        )
    nuisance = cross_fit_nuisance(
        X, y.astype(int), treated, family_folds(family_ids, n_folds), seed=seed
    )
    phi = pseudo_outcomes(y, treated, nuisance)
    top = top_k_mask(score, k)
    resamples = bootstrap_weights(
        np.random.default_rng(seed), n_bootstrap, len(y), groups=family_ids.to_numpy()
    )

    def sampled(
        of: np.ndarray, label: np.ndarray
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        chosen = top_k_mask(of, k)
        point = metrics_of(of, chosen, label)
        samples = {m: np.empty(n_bootstrap) for m in METRICS}
        for b, weight in enumerate(resamples):
            figures = metrics_of(of, chosen, label, weight.astype(float))
            for m in METRICS:
                samples[m][b] = figures[m]
        return point, samples

    def with_intervals(label: np.ndarray) -> dict[str, Interval]:
        point, samples = sampled(score, label)
        return {m: percentile_interval(point[m], samples[m], confidence_level) for m in METRICS}

    differences: dict[str, dict[str, Interval]] = {m: {} for m in METRICS}
    if others:
        point, samples = sampled(score, phi)
        for name, other in others.items():
            other_point, other_samples = sampled(np.asarray(other, dtype=float), phi)
            for m in METRICS:
                differences[m][f"{main} - {name}"] = percentile_interval(
                    point[m] - other_point[m], samples[m] - other_samples[m], confidence_level
                )

    group_recall: dict[str, dict[str, dict[str, Interval]]] = {}
    for column, values in (groups or {}).items():
        labels = pd.Series(values).astype("string").fillna("(missing)").to_numpy()
        group_recall[column] = {}
        for value in sorted(set(labels)):
            member = (labels == value).astype(float)
            group_recall[column][str(value)] = {
                name: _recall_interval(top, label, member, resamples, confidence_level)
                for name, label in (("naive", y), ("doubly_robust", phi))
            }
    truth = (
        {}
        if truth_probability is None
        else metrics_of(score, top, np.asarray(truth_probability, dtype=float))
    )
    return CounterfactualEvaluation(
        naive=with_intervals(y),
        doubly_robust=with_intervals(phi),
        group_recall=group_recall,
        positivity=check_positivity(
            nuisance.propensity, treated, epsilon=epsilon, max_share=max_share
        ),
        n_rows=len(y),
        n_treated=int(treated.sum()),
        k=k,
        n_bootstrap=n_bootstrap,
        truth=truth,
        differences=differences if others else {},
    )


def _recall_interval(
    top: np.ndarray,
    label: np.ndarray,
    member: np.ndarray,
    resamples: np.ndarray,
    confidence_level: float,
) -> Interval:
    """Recall at capacity within a group (``member`` 0/1 per row)."""
    _, point = capacity_figures(top, label, member)
    samples = np.array([capacity_figures(top, label, member * w)[1] for w in resamples])
    return percentile_interval(point, samples, confidence_level)
