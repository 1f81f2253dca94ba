"""Baseline margins pooled over backtest origins: more evidence, same bound, families clustered."""

from __future__ import annotations

import numpy as np
import pytest

from training.config import GatesConfig
from training.evaluation import ScoredModel, evaluate
from training.gates import performance_gates
from training.pooled_evidence import OriginScores, pooled_differences

N = 6_000


def _origin(seed: int, *, main_noise: float, base_noise: float, offset: int = 0) -> OriginScores:
    rng = np.random.default_rng(seed)
    logit = -3.0 + 1.2 * rng.standard_normal(N)
    truth = 1 / (1 + np.exp(-logit))
    y = (rng.random(N) < truth).astype(int)

    def scored(noise: float) -> ScoredModel:
        s = logit + noise * rng.standard_normal(N)
        return ScoredModel(probability=1 / (1 + np.exp(-s)), rank_score=s)

    return OriginScores(
        label=y,
        family_ids=np.array([f"F{offset + i}" for i in range(N)], dtype=object),
        k=N // 20,
        scored={"model": scored(main_noise), "logistic": scored(base_noise)},
    )


def _pooled(origins: list[OriginScores]):
    return pooled_differences(origins, main="model", n_bootstrap=200, confidence_level=0.95, seed=0)


def _alone(o: OriginScores):
    return evaluate(o.label, o.scored, k=o.k, main="model", n_bootstrap=200, seed=0)


def test_a_small_real_margin_unclear_at_each_origin_is_clear_when_pooled() -> None:
    origins = [_origin(s, main_noise=0.55, base_noise=0.75, offset=s * N) for s in (1, 2, 3, 4)]
    singles = [_alone(o).auc_difference["model - logistic"] for o in origins]
    pooled = _pooled(origins).differences["roc_auc"]["model - logistic"]
    assert pooled.estimate == pytest.approx(np.mean([s.estimate for s in singles]), abs=1e-9)
    width = pooled.high - pooled.low
    assert all(width < 0.7 * (s.high - s.low) for s in singles)
    assert pooled.low > 0, pooled
    assert min(s.low for s in singles) < 0, singles  # one origin alone would not show it


def test_a_weaker_model_fails_the_pooled_margin_and_the_gate_says_how_it_was_judged() -> None:
    origins = [_origin(s, main_noise=0.9, base_noise=0.5, offset=s * N) for s in (5, 6, 7)]
    pooled = _pooled(origins)
    held_out = _alone(origins[0])
    gates = {
        g.name: g
        for g in performance_gates(held_out, main="model", config=GatesConfig(), pooled=pooled)
    }
    auc = gates["auc_margin_over_logistic"]
    assert auc.status == "fail" and auc.value < 0
    assert "mean over 3 backtest origins" in auc.detail and "held-out slice alone" in auc.detail
    assert auc.value == pytest.approx(pooled.differences["roc_auc"]["model - logistic"].low)


def test_one_origin_judges_on_the_held_out_slice_alone() -> None:
    origin = _origin(8, main_noise=0.5, base_noise=0.9)
    held_out = _alone(origin)
    gate = next(
        g
        for g in performance_gates(
            held_out, main="model", config=GatesConfig(), pooled=_pooled([origin])
        )
        if g.name == "auc_margin_over_logistic"
    )
    assert "backtest origins" not in gate.detail
    assert gate.value == pytest.approx(held_out.auc_difference["model - logistic"].low)


def test_the_same_families_at_every_origin_are_not_counted_as_new_evidence() -> None:
    """Three copies of one origin (same families) carry the evidence of one, not of three."""
    origin = _origin(9, main_noise=0.55, base_noise=0.75)
    single = _pooled([origin]).differences["roc_auc"]["model - logistic"]
    copies = _pooled([origin, origin, origin]).differences["roc_auc"]["model - logistic"]
    assert copies.estimate == pytest.approx(single.estimate)
    assert (copies.high - copies.low) == pytest.approx(single.high - single.low, rel=0.2)


def test_origins_must_score_the_same_models_and_hold_both_classes() -> None:
    a = _origin(10, main_noise=0.5, base_noise=0.5)
    b = OriginScores(
        label=a.label, family_ids=a.family_ids, k=a.k, scored={"model": a.scored["model"]}
    )
    with pytest.raises(ValueError, match="origin 1 scores"):
        _pooled([a, b])
    flat = OriginScores(
        label=np.zeros(N, dtype=int), family_ids=a.family_ids, k=a.k, scored=a.scored
    )
    with pytest.raises(ValueError, match="origin 1 needs both classes"):
        _pooled([a, flat])
    with pytest.raises(KeyError, match="main model"):
        pooled_differences([a], main="other", n_bootstrap=10, confidence_level=0.95, seed=0)
