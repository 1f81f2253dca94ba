"""Doubly robust evaluation and the positivity check, on constructed cases with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from training.counterfactual import (
    capacity_figures,
    evaluate_counterfactual,
    top_k_mask,
    truth_metrics,
    weighted_auc,
)
from training.outcome import Outcome
from training.positivity import check_positivity


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _world(n: int, *, seed: int, deterministic: bool = False) -> dict[str, np.ndarray]:
    """Risk rises with x1; support is given more often to high x1 (confounded) and cuts the
    outcome probability to 30 %; the score sees x1 with noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    p0 = _sigmoid(-2.2 + 1.4 * X[:, 0] + 0.4 * X[:, 1])
    # deterministic: everyone above a cut-off is supported, nobody else
    random_support = rng.random(n) < _sigmoid(-1.5 + 1.6 * X[:, 0])
    treated = X[:, 0] > 0.3 if deterministic else random_support
    p = np.where(treated, 0.3 * p0, p0)
    y = (rng.random(n) < p).astype(int)
    score = X[:, 0] + 0.6 * rng.normal(size=n)
    return {"X": X, "p0": p0, "treated": treated, "y": y, "score": score}


def _evaluate(world: dict[str, np.ndarray], score: np.ndarray, **options):
    """``evaluate_counterfactual`` of ``score`` on the world's rows, capacity 5 %."""
    n = len(world["y"])
    return evaluate_counterfactual(
        score=score,
        y=world["y"],
        treated=world["treated"],
        X=world["X"],
        family_ids=pd.Series([f"F{i}" for i in range(n)]),
        k=n // 20,
        **options,
    )


def test_weighted_auc_is_roc_auc_on_labels_ties_included() -> None:
    rng = np.random.default_rng(0)
    score = rng.integers(0, 5, size=400).astype(float)  # many ties
    y = (rng.random(400) < 0.3).astype(float)
    assert weighted_auc(score, y) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    top = top_k_mask(score, 40)
    precision, recall = capacity_figures(top, y)
    assert precision == pytest.approx(y[top].mean())
    assert recall == pytest.approx(y[top].sum() / y.sum())


def test_doubly_robust_figures_recover_the_no_support_truth() -> None:
    world = _world(16_000, seed=1)
    k = len(world["y"]) // 20
    groups = {"half": np.where(world["X"][:, 2] > 0, "a", "b")}
    result = _evaluate(
        world, world["score"], groups=groups, n_bootstrap=40, truth_probability=world["p0"]
    )
    truth = truth_metrics(world["score"], world["p0"], k=k)
    assert result.truth == pytest.approx(truth)
    for metric in ("roc_auc", "recall_at_k", "precision_at_k"):
        naive = result.naive[metric].estimate
        dr = result.doubly_robust[metric]
        # the naive figure is off (support hid outcomes of the high scores); DR is not
        assert abs(naive - truth[metric]) > 2.5 * abs(dr.estimate - truth[metric]), metric
    assert abs(result.doubly_robust["roc_auc"].estimate - truth["roc_auc"]) < 0.02
    assert result.naive["roc_auc"].estimate < truth["roc_auc"] - 0.03
    dr_auc = result.doubly_robust["roc_auc"]
    assert dr_auc.low < truth["roc_auc"] < dr_auc.high
    # per group: the recall DR recovers the group's true recall, naive under-rates it
    top = top_k_mask(world["score"], k)
    for value in ("a", "b"):
        member = (groups["half"] == value).astype(float)
        true_recall = capacity_figures(top, world["p0"], member)[1]
        figures = result.group_recall["half"][value]
        assert abs(figures["doubly_robust"].estimate - true_recall) < 0.04
        assert figures["naive"].estimate < true_recall - 0.04
    assert result.positivity.outcome is Outcome.PASS


def test_positivity_fails_when_support_is_deterministic() -> None:
    world = _world(6_000, seed=2, deterministic=True)
    result = _evaluate(world, world["score"], n_bootstrap=5)
    check = result.positivity
    assert check.outcome is Outcome.FAIL and check.blocks
    assert check.share_near_one > 0.2
    assert "never had a chance of going without support" in check.describe()


def test_positivity_outcomes_on_propensities() -> None:
    treated = np.zeros(1000, dtype=bool)
    treated[:100] = True
    fine = check_positivity(np.full(1000, 0.1), treated)
    assert fine.outcome is Outcome.PASS
    near_one = np.full(1000, 0.1)
    near_one[:30] = 0.995  # 3 % of rows supported for sure, 1 % allowed
    assert check_positivity(near_one, treated).outcome is Outcome.FAIL
    few = np.zeros(1000, dtype=bool)
    few[:5] = True
    assert check_positivity(np.full(1000, 0.1), few).status == "insufficient_evidence"
    assert check_positivity(np.array([]), np.array([], dtype=bool)).status == "not_evaluable"
    with pytest.raises(ValueError, match="one propensity per row"):
        check_positivity(np.zeros(3), np.zeros(4, dtype=bool))


def test_counterfactual_gates_fail_on_a_model_worse_than_its_baseline_without_support() -> None:
    from training.config import GatesConfig
    from training.support_training import counterfactual_gates

    world = _world(8_000, seed=3)
    n = len(world["y"])
    rng = np.random.default_rng(4)
    result = _evaluate(
        world,
        rng.normal(size=n),  # a model that ranks at random...
        n_bootstrap=40,
        main="model",
        others={"baseline": world["score"]},  # ...beside a baseline that ranks by risk
    )
    gates = {g.name: g for g in counterfactual_gates(result, main="model", config=GatesConfig())}
    assert gates["positivity"].outcome is Outcome.PASS
    assert gates["counterfactual_auc_margin_over_baseline"].outcome is Outcome.FAIL
    assert gates["counterfactual_recall_at_k_vs_baseline"].outcome is Outcome.FAIL
    assert gates["counterfactual_auc_margin_over_baseline"].blocks
    # the same evaluation with the roles swapped passes
    swapped = _evaluate(
        world,
        world["score"],
        n_bootstrap=40,
        main="model",
        others={"baseline": rng.normal(size=n)},
    )
    passed = {g.name: g for g in counterfactual_gates(swapped, main="model", config=GatesConfig())}
    assert passed["counterfactual_auc_margin_over_baseline"].outcome is Outcome.PASS
