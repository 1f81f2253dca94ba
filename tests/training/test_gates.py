"""Promotion gates: champion only when every gate passes; a failing gate is named."""

from __future__ import annotations

import numpy as np

from training.config import GatesConfig
from training.evaluation import ScoredModel, evaluate
from training.gates import GateResult, decide, performance_gates


def _evaluation():
    rng = np.random.default_rng(0)
    truth = rng.beta(1.2, 12, 3000)
    y = (rng.random(3000) < truth).astype(int)
    weak = np.clip(truth + rng.normal(0, 0.1, 3000), 0.001, 0.999)
    return evaluate(
        y,
        {"lightgbm": ScoredModel(truth, truth), "logistic": ScoredModel(weak, weak)},
        k=150,
        main="lightgbm",
        n_bootstrap=30,
        seed=0,
    )


def test_all_gates_pass_gives_champion():
    decision = decide(performance_gates(_evaluation(), main="lightgbm", config=GatesConfig()))
    assert decision.alias == "champion" and decision.promoted
    assert {g.name for g in decision.gates} == {"auc_margin_over_logistic", "max_ece"}


def test_impossible_auc_margin_blocks_promotion_and_is_named():
    gates = performance_gates(
        _evaluation(), main="lightgbm", config=GatesConfig(min_auc_margin=0.9)
    )
    decision = decide(gates)
    assert decision.alias == "challenger"
    assert [g.name for g in decision.failed] == ["auc_margin_over_logistic"]
    assert "auc_margin_over_logistic" in decision.explain()
    assert "needs >= +0.9000" in decision.explain()


def test_impossible_ece_blocks_promotion():
    decision = decide(
        performance_gates(_evaluation(), main="lightgbm", config=GatesConfig(max_ece=1e-9))
    )
    assert decision.alias == "challenger"
    assert [g.name for g in decision.failed] == ["max_ece"]


def test_one_failing_extra_gate_blocks_and_no_gates_never_promotes():
    ok = performance_gates(_evaluation(), main="lightgbm", config=GatesConfig())
    extra = GateResult(name="fairness_x", passed=False, value=2.0, threshold=1.25, detail="d")
    assert decide([*ok, extra]).alias == "challenger"
    assert decide([]).alias == "challenger"


def test_explain_can_shorten_a_long_list():
    gates = [
        GateResult(name=f"g{i}", passed=False, value=1, threshold=0, detail="x") for i in range(7)
    ]
    text = decide(gates).explain(max_listed=3)
    assert "g0" in text and "g2" in text and "g3" not in text and "4 more" in text
