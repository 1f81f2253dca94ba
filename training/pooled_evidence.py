"""Baseline margins pooled over the backtest origins: more evidence, not a looser bound.

One held-out slice of 20,000 families holds a few hundred outcomes: the paired interval of
(model - baseline) ROC AUC is then about +-0.012 wide, so a model that is better by 0.012 at
every origin still shows a lower bound below 0 at any one of them. The rolling-origin
backtest evaluates the same design at several test dates; pooling the paired differences
over those origins judges the margin on all of that evidence while keeping the bound the
issue asks for (the lower bound of the interval, not the point estimate).

The pooled difference is the mean over origins of each origin's (model - baseline) metric.
Its interval comes from one bootstrap over the union of the origins' families: a family is
drawn with all its rows at every origin (the same family appears at several test dates, and
its rows are not independent), each origin's metrics are recomputed with those weights
(:func:`training.evaluation.weighted_metrics`), and the mean difference is taken per
resample. With one origin this is the held-out slice's own paired interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.evaluation import (
    Interval,
    ScoredModel,
    equal_mass_bin_index,
    percentile_interval,
    weighted_metrics,
)

POOLED_METRICS: tuple[str, ...] = ("roc_auc", "precision_at_k", "recall_at_k")
# what :func:`training.evaluation.weighted_metrics` computes with ``ranking_only``
RANKING_METRICS = frozenset({"roc_auc", "precision_at_k", "recall_at_k", "lift_at_k"})


@dataclass(frozen=True)
class OriginScores:
    """One origin's test rows: labels, family ids, capacity and every model's scores."""

    label: np.ndarray
    family_ids: np.ndarray
    k: int
    scored: Mapping[str, ScoredModel]


@dataclass(frozen=True)
class PooledDifferences:
    """metric -> "<main> - <other>" -> pooled interval, and the per-origin point estimates."""

    n_origins: int
    differences: dict[str, dict[str, Interval]]
    per_origin: dict[str, dict[str, tuple[float, ...]]]


def pooled_differences(
    origins: Sequence[OriginScores],
    *,
    main: str,
    metrics: Sequence[str] = POOLED_METRICS,
    n_bootstrap: int,
    confidence_level: float,
    seed: int,
    n_bins: int = 10,
) -> PooledDifferences:
    """Paired (main - other) differences averaged over origins, with a family bootstrap.

    Every origin must score ``main`` and the same other models; origins without both
    classes are refused (their AUC is undefined), naming the origin.
    """
    if not origins:
        raise ValueError("no origin to pool")
    names = list(origins[0].scored)
    if main not in names:
        raise KeyError(f"main model {main!r} not among the scored models {names}")
    for i, o in enumerate(origins):
        if list(o.scored) != names:
            raise ValueError(f"origin {i} scores {list(o.scored)}, origin 0 scores {names}")
        y = np.asarray(o.label)
        if not 0 < int(y.sum()) < len(y):
            raise ValueError(f"origin {i} needs both classes: {int(y.sum())} of {len(y)}")
    others = [n for n in names if n != main]
    codes, uniques = pd.factorize(
        pd.Series(np.concatenate([np.asarray(o.family_ids, dtype=object) for o in origins])),
        sort=False,
    )
    n_families = len(uniques)
    bounds = np.cumsum([0, *(len(o.label) for o in origins)])
    origin_codes = [codes[bounds[i] : bounds[i + 1]] for i in range(len(origins))]
    binning = [
        {
            name: equal_mass_bin_index(np.asarray(o.scored[name].probability, dtype=float), n_bins)
            for name in names
        }
        for o in origins
    ]

    ranking_only = set(metrics) <= RANKING_METRICS

    def metrics_of(i: int, weights: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        o = origins[i]
        y = np.asarray(o.label, dtype=float)
        out = {}
        for name in names:
            s = o.scored[name]
            idx, nb = binning[i][name]
            out[name] = weighted_metrics(
                y,
                np.asarray(s.probability, dtype=float),
                np.asarray(s.rank_score, dtype=float),
                weights,
                k=o.k,
                bin_index=idx,
                n_bins=nb,
                ranking_only=ranking_only,
            )
        return out

    per_origin: dict[str, dict[str, tuple[float, ...]]] = {m: {} for m in metrics}
    points: dict[str, dict[str, float]] = {m: {} for m in metrics}
    point_by_origin = [metrics_of(i, np.ones((1, len(o.label)))) for i, o in enumerate(origins)]
    for m in metrics:
        for other in others:
            diffs = tuple(float(p[main][m][0] - p[other][m][0]) for p in point_by_origin)
            per_origin[m][f"{main} - {other}"] = diffs
            points[m][other] = float(np.mean(diffs))

    rng = np.random.default_rng(seed)
    total_rows = int(bounds[-1])
    chunk = max(1, min(n_bootstrap, 4_000_000 // max(total_rows, 1)))
    samples: dict[str, dict[str, list[np.ndarray]]] = {
        m: {other: [] for other in others} for m in metrics
    }

    def chunk_means(family_weights: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        size = len(family_weights)
        mean = {m: {other: np.zeros(size) for other in others} for m in metrics}
        for i in range(len(origins)):
            batch = metrics_of(i, family_weights[:, origin_codes[i]])
            for m in metrics:
                for other in others:
                    mean[m][other] += (batch[main][m] - batch[other][m]) / len(origins)
        return mean

    # The resamples are drawn here, in order, so the result is the same however many
    # threads sum them; numpy releases the GIL, so two threads use two cores.
    sizes = [min(chunk, n_bootstrap - start) for start in range(0, n_bootstrap, chunk)]
    draws = (
        rng.multinomial(n_families, np.full(n_families, 1.0 / n_families), size=size)
        for size in sizes
    )
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="earlyrisk-pooled") as pool:
        for mean in pool.map(chunk_means, draws):
            for m in metrics:
                for other in others:
                    samples[m][other].append(mean[m][other])
    differences = {
        m: {
            f"{main} - {other}": percentile_interval(
                points[m][other], np.concatenate(samples[m][other]), confidence_level
            )
            for other in others
        }
        for m in metrics
    }
    return PooledDifferences(n_origins=len(origins), differences=differences, per_origin=per_origin)
