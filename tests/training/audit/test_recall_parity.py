"""Recall parity after risk: fails on a model blind to one group's needs, passes on the truth.

The constructed population has two groups whose risk differs (group ``high`` about twice the
base rate of ``low``), labels drawn from known probabilities, and a 5 % capacity. Scoring
with the true probabilities is the best any model can do; the plain recall ratio still lies
far outside 0.8-1.25 there, which is why it is not the default gate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.audit import FairnessGates, RatioBound, TopK, audit, evaluate_fairness_gates
from training.audit.recall_parity import recall_parity

N = 40_000
CAPACITY = N // 20


def _population(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(N) < 0.3, "high", "low")
    logit = -3.8 + 1.1 * rng.standard_normal(N) + 0.9 * (group == "high")
    truth = 1 / (1 + np.exp(-logit))
    label = (rng.random(N) < truth).astype(int)
    return pd.DataFrame({"group": group, "truth": truth, "label": label})


def _blind_to(frame: pd.DataFrame, group: str, seed: int = 4) -> pd.Series:
    """Scores that keep each group's mean risk but lose the ranking within ``group``."""
    rng = np.random.default_rng(seed)
    score = frame["truth"].copy()
    rows = np.flatnonzero(frame["group"].to_numpy() == group)
    score.iloc[rows] = rng.permutation(score.iloc[rows].to_numpy())
    return score


def _outcomes(frame: pd.DataFrame, score: str, gates: FairnessGates) -> list:
    result = audit(
        frame,
        score=score,
        label="label",
        groups=["group"],
        rule=TopK(CAPACITY),
        n_boot=50,
        intersections=False,
        seed=1,
    )
    return evaluate_fairness_gates(result, gates)


def _only(outcomes: list, gate: str):
    found = [o for o in outcomes if o.gate == gate]
    assert len(found) == 1, [o.name for o in outcomes]
    return found[0]


def test_true_probabilities_do_not_fail_recall_parity_but_fail_the_plain_recall_ratio() -> None:
    frame = _population()
    gates = FairnessGates(
        basis="interval",
        ratio_bounds={"tpr": RatioBound()},
        recall_parity=RatioBound(),
        oe_bounds=None,
    )
    outcomes = _outcomes(frame, "truth", gates)
    plain = _only(outcomes, "tpr_ratio")
    after_risk = _only(outcomes, "recall_parity")
    # the reference is the larger group ("low"): the high-risk group's outcomes are reached
    # far more often at one cut-off, even by the true probabilities
    assert plain.status == "fail" and plain.value > 1.5, plain.message
    # within the band on the estimate; its interval reaching outside makes it inconclusive
    # (never a failure, never a pass on the estimate alone)
    assert after_risk.status == "inconclusive", after_risk.message
    assert 0.8 <= after_risk.value <= 1.25 and "interval reaches outside" in after_risk.message


def test_a_model_blind_to_one_groups_needs_fails_recall_parity() -> None:
    frame = _population()
    frame["blind"] = _blind_to(frame, "high")
    outcomes = _outcomes(frame, "blind", FairnessGates(basis="interval", oe_bounds=None))
    check = _only(outcomes, "recall_parity")
    assert check.status == "fail", check.message
    assert check.interval is not None and check.interval[1] < 0.8
    # calibration in the large of the blind group is intact: only the new gate sees it
    group_oe = _outcomes(frame, "blind", FairnessGates(basis="interval", recall_parity=None))
    assert [o.status for o in group_oe] == ["pass", "pass"], [o.message for o in group_oe]


def test_the_blind_reference_group_shows_as_a_high_ratio_of_the_other_group() -> None:
    frame = _population()
    frame["blind"] = _blind_to(frame, "low")
    check = _only(
        _outcomes(frame, "blind", FairnessGates(basis="interval", oe_bounds=None)),
        "recall_parity",
    )
    assert check.status == "fail" and check.value > 1.25, check.message


def test_recall_parity_figures_are_the_defining_sums() -> None:
    frame = _population()
    score = frame["truth"].to_numpy()
    result = audit(
        frame,
        score="truth",
        label="label",
        groups=["group"],
        rule=TopK(CAPACITY),
        n_boot=0,
        intersections=False,
    )
    row = result.recall_parity.iloc[0]
    selected = np.zeros(N, dtype=bool)
    selected[np.argsort(-score, kind="stable")[:CAPACITY]] = True
    high = frame["group"].to_numpy() == row["group"]
    y = frame["label"].to_numpy()
    recall = (y * selected)[high].sum() / y[high].sum()
    promised = (score * selected)[high].sum() / score[high].sum()
    assert row["group"] == "high" and row["reference"] == "low"
    assert row["recall"] == pytest.approx(recall)
    assert row["expected_recall"] == pytest.approx(promised)
    assert row["recall_oe"] == pytest.approx(recall / promised)
    low = ~high
    ref = ((y * selected)[low].sum() / y[low].sum()) / (
        (score * selected)[low].sum() / score[low].sum()
    )
    assert row["ratio"] == pytest.approx((recall / promised) / ref)
    assert row["ratio_lower"] < row["ratio"] < row["ratio_upper"]


def test_the_delta_interval_covers_like_a_bootstrap() -> None:
    """The analytic interval's width is that of a row bootstrap of the same ratio (within 25 %)."""
    frame = _population(seed=11).iloc[:12_000].reset_index(drop=True)
    y = frame["label"].to_numpy(dtype=float)
    p = frame["truth"].to_numpy()
    selected = np.zeros(len(frame), dtype=bool)
    selected[np.argsort(-p, kind="stable")[: len(frame) // 20]] = True
    result = audit(
        frame,
        score="truth",
        label="label",
        groups=["group"],
        rule=TopK(len(frame) // 20),
        n_boot=0,
        intersections=False,
    )
    row = result.recall_parity.iloc[0]
    rng = np.random.default_rng(0)
    high = frame["group"].to_numpy() == "high"

    def oe(mask: np.ndarray, w: np.ndarray) -> float:
        return ((w * y * selected)[mask].sum() / (w * y)[mask].sum()) / (
            (w * p * selected)[mask].sum() / (w * p)[mask].sum()
        )

    logs = []
    for _ in range(400):
        w = rng.poisson(1.0, len(frame)).astype(float)
        logs.append(np.log(oe(high, w) / oe(~high, w)))
    boot_width = np.quantile(logs, 0.975) - np.quantile(logs, 0.025)
    delta_width = np.log(row["ratio_upper"]) - np.log(row["ratio_lower"])
    assert delta_width == pytest.approx(boot_width, rel=0.25)


def test_a_group_with_few_outcomes_is_insufficient_evidence_never_a_pass() -> None:
    frame = _population()
    small = frame.index[frame["group"] == "high"][:40]
    frame.loc[small, "group"] = "pilot"
    pilot = _only(
        [o for o in _outcomes(frame, "truth", FairnessGates(oe_bounds=None)) if o.group == "pilot"],
        "recall_parity",
    )
    assert pilot.status == "insufficient_evidence" and not pilot.passed, pilot.message


def test_a_group_nobody_reaches_is_not_evaluable() -> None:
    frame = _population()
    rows = frame.index[frame["group"] == "high"][:2000]
    frame.loc[rows, "group"] = "unreached"
    frame.loc[rows, "truth"] = 0.02  # below every selected score, outcomes kept
    check = next(
        o
        for o in _outcomes(frame, "truth", FairnessGates(oe_bounds=None))
        if o.group == "unreached"
    )
    assert check.status == "not_evaluable" and not check.passed, check.message


def test_recall_parity_refuses_inputs_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        recall_parity(np.zeros(3), np.zeros(2), np.zeros(3, bool), [], kept={}, references={})


def test_without_labels_the_gate_is_not_evaluable() -> None:
    frame = _population().drop(columns="label")
    result = audit(
        frame, score="truth", groups=["group"], rule=TopK(CAPACITY), n_boot=0, intersections=False
    )
    assert result.recall_parity is None
    check = _only(evaluate_fairness_gates(result, FairnessGates()), "recall_parity")
    assert check.status == "not_evaluable"
