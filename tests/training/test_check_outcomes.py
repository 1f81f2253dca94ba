"""Every kind of check ends in pass, fail or inconclusive, on constructed cases of each.

Each case feeds the real check function numbers built so that the answer is known: the
estimate and its interval inside the band (pass), outside and clear after the Holm
correction (fail), and neither (inconclusive). The issue's own figures are among them:
``recall_parity`` 2.632 [1.269, 5.461] against a band up to 1.25 with a non-significant
Holm test, and ``calibration_slope`` 0.334 [-0.452, 1.121], are inconclusive, not passes.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from training.audit import FairnessGates, RatioBound, TopFraction, evaluate_fairness_gates
from training.audit.gates import Waiver
from training.audit.result import AuditResult
from training.champion import CANDIDATE, SERVED, ChampionComparison, champion_gates
from training.config import ChampionGatesConfig, GatesConfig, ProxyGatesConfig
from training.evaluation import Evaluation, Interval, ModelEvaluation
from training.gates import (
    GateResult,
    _calibration_gate,
    decide,
    performance_gates,
    proxy_gates,
)
from training.outcome import (
    Outcome,
    judge_band,
    outcome_of,
    outcome_summary,
    sort_checks,
)
from training.reliability import CalibrationStat

PASS, FAIL, INCONCLUSIVE = Outcome.PASS, Outcome.FAIL, Outcome.INCONCLUSIVE


# --------------------------------------------------------------------------- the enum


@pytest.mark.parametrize(
    ("estimate", "low", "high", "clear", "expected"),
    [
        (1.0, 0.9, 1.1, False, PASS),  # estimate and interval inside
        (2.632, 1.269, 5.461, True, FAIL),  # outside, clear
        (2.632, 1.269, 5.461, False, INCONCLUSIVE),  # the recall_parity
        (1.0, 0.7, 1.3, False, INCONCLUSIVE),  # inside, interval reaches outside
        (1.0, None, None, False, INCONCLUSIVE),  # no interval: the band is not shown
        (math.nan, 0.9, 1.1, True, INCONCLUSIVE),  # undefined
    ],
)
def test_judge_band(estimate, low, high, clear, expected) -> None:
    assert judge_band(estimate, low, high, lower=0.8, upper=1.25, clear=clear) is expected


def test_statuses_map_to_outcomes_and_unknown_ones_are_refused() -> None:
    assert outcome_of("insufficient_evidence") is INCONCLUSIVE
    assert outcome_of("not_evaluable") is INCONCLUSIVE
    assert outcome_of("waived", "insufficient_evidence") is INCONCLUSIVE
    assert outcome_of("no_champion") is PASS
    with pytest.raises(ValueError, match="'passed'"):
        outcome_of("passed")
    with pytest.raises(ValueError, match="must name the status it waived"):
        outcome_of("waived")


def test_checks_sort_failed_then_inconclusive_then_passed() -> None:
    gates = [
        GateResult.of("a", "pass", value=1, threshold=1, detail=""),
        GateResult.of("b", "insufficient_evidence", value=1, threshold=1, detail=""),
        GateResult.of("c", "fail", value=1, threshold=1, detail=""),
        GateResult.of("d", "inconclusive", value=1, threshold=1, detail=""),
    ]
    assert [g.name for g in sort_checks(gates)] == ["c", "b", "d", "a"]
    assert outcome_summary(gates) == "1 failed, 2 inconclusive, 1 passed"
    decision = decide(gates)
    assert [g.name for g in decision.failed] == ["c", "b", "d"]
    assert not decision.promoted


# --------------------------------------------------------------------------- performance


def _evaluation(*, auc_diff: Interval, ece: Interval, positives: int = 500) -> Evaluation:
    empty = pd.DataFrame()
    main = ModelEvaluation("lightgbm", {"ece": ece}, empty, empty)
    return Evaluation(
        models={"lightgbm": main},
        auc_difference={"lightgbm - logistic": auc_diff},
        n_rows=10_000,
        n_positive=positives,
        capacity_k=500,
        confidence_level=0.95,
        n_bootstrap=200,
    )


@pytest.mark.parametrize(
    ("diff", "expected"),
    [
        (Interval(0.05, 0.02, 0.08), PASS),  # whole interval at or above the margin 0.01
        (Interval(-0.03, -0.05, -0.01), FAIL),  # whole interval below
        (Interval(0.03, -0.004, 0.06), INCONCLUSIVE),  # straddles: advantage may be noise
    ],
)
def test_auc_margin_gate(diff: Interval, expected: Outcome) -> None:
    ev = _evaluation(auc_diff=diff, ece=Interval(0.01, 0.005, 0.02))
    gates = {g.name: g for g in performance_gates(ev, main="lightgbm", config=GatesConfig())}
    gate = gates["auc_margin_over_logistic"]
    assert gate.outcome is expected, gate.detail
    assert gate.blocks is (expected is not PASS)


@pytest.mark.parametrize(
    ("ece", "expected"),
    [
        (Interval(0.01, 0.005, 0.02), PASS),
        (Interval(0.09, 0.07, 0.11), FAIL),
        (Interval(0.04, 0.03, 0.07), INCONCLUSIVE),
    ],
)
def test_max_ece_gate(ece: Interval, expected: Outcome) -> None:
    ev = _evaluation(auc_diff=Interval(0.05, 0.02, 0.08), ece=ece)
    gates = {g.name: g for g in performance_gates(ev, main="lightgbm", config=GatesConfig())}
    assert gates["max_ece"].outcome is expected, gates["max_ece"].detail


def test_test_slice_evidence_gate_passes_or_is_inconclusive() -> None:
    good = _evaluation(auc_diff=Interval(0.05, 0.02, 0.08), ece=Interval(0.01, 0.0, 0.02))
    thin = _evaluation(
        auc_diff=Interval(0.05, 0.02, 0.08), ece=Interval(0.01, 0.0, 0.02), positives=20
    )
    cfg = GatesConfig()
    assert performance_gates(good, main="lightgbm", config=cfg)[0].outcome is PASS
    # too few outcomes can never fail a model, only leave the question open
    assert performance_gates(thin, main="lightgbm", config=cfg)[0].outcome is INCONCLUSIVE


# --------------------------------------------------------------------------- calibration


def _stat(estimate: float, low: float, high: float, p: float) -> CalibrationStat:
    return CalibrationStat(estimate, low, high, p, n=2000, observed=200, expected=190)


@pytest.mark.parametrize(
    ("stat", "p_adjusted", "expected"),
    [
        (_stat(1.02, 0.91, 1.14, 0.7), 0.7, PASS),
        (_stat(0.40, 0.30, 0.55, 1e-9), 1e-9, FAIL),
        (_stat(0.334, -0.452, 1.121, 0.09), 0.09, INCONCLUSIVE),  # the KZ-PAV slope
        (_stat(0.70, 0.55, 0.85, 0.001), 0.2, INCONCLUSIVE),  # outside, not after Holm
    ],
)
def test_calibration_gate(stat: CalibrationStat, p_adjusted: float, expected: Outcome) -> None:
    gate = _calibration_gate(
        "calibration_slope[audit_region/KZ-PAV]",
        stat,
        what="calibration slope",
        lower=0.8,
        upper=1.25,
        p_adjusted=p_adjusted,
        significance=0.05,
        min_count=10,
    )
    assert gate.outcome is expected, gate.detail
    assert ("pass" in gate.detail) is (expected is PASS)


# --------------------------------------------------------------------------- champion


def _comparison(diff: Interval) -> ChampionComparison:
    empty = pd.DataFrame()
    metrics = {"roc_auc": Interval(0.8, 0.78, 0.82), "precision_at_k": Interval(0.2, 0.18, 0.22)}
    ev = Evaluation(
        models={
            CANDIDATE: ModelEvaluation(CANDIDATE, metrics, empty, empty),
            SERVED: ModelEvaluation(SERVED, metrics, empty, empty),
        },
        auc_difference={},
        n_rows=10_000,
        n_positive=500,
        capacity_k=500,
        confidence_level=0.95,
        n_bootstrap=200,
        differences={m: {f"{CANDIDATE} - {SERVED}": diff} for m in ("roc_auc", "precision_at_k")},
    )
    return ChampionComparison(champion_version="3", evaluation=ev, note="")


@pytest.mark.parametrize(
    ("diff", "expected"),
    [
        (Interval(0.01, -0.005, 0.02), PASS),  # lower bound above -margin
        (Interval(-0.08, -0.10, -0.06), FAIL),  # clearly worse
        (Interval(-0.01, -0.05, 0.03), INCONCLUSIVE),  # non-inferiority not shown
    ],
)
def test_champion_gate(diff: Interval, expected: Outcome) -> None:
    config = ChampionGatesConfig(auc_margin=0.01, precision_margin=0.01)
    gates = champion_gates(_comparison(diff), config=config)
    assert {g.outcome for g in gates} == {expected}, [g.detail for g in gates]


# --------------------------------------------------------------------------- proxies


@pytest.mark.parametrize(("auc", "expected"), [(0.6, PASS), (0.97, FAIL)])
def test_proxy_gate_passes_or_fails(auc: float, expected: Outcome) -> None:
    proxies = pd.DataFrame(
        [
            {
                "feature": "hh_single_parent",
                "attribute": "audit_disability",
                "auc": auc,
                "auc_group": "yes",
            }
        ]
    )
    gates = proxy_gates(proxies, protected=["disability"], config=ProxyGatesConfig())
    assert [g.outcome for g in gates] == [expected]


def test_proxy_gate_without_a_protected_attribute_is_inconclusive() -> None:
    proxies = pd.DataFrame(
        [{"feature": "x", "attribute": "audit_region", "auc": 0.99, "auc_group": "a"}]
    )
    (gate,) = proxy_gates(proxies, protected=["disability"], config=ProxyGatesConfig())
    assert gate.outcome is INCONCLUSIVE


# --------------------------------------------------------------------------- the audit's gates


def _audit(
    *,
    by_group: list[dict],
    disparities: list[dict] | None = None,
    recall_parity: list[dict] | None = None,
    proxies: list[dict] | None = None,
) -> AuditResult:
    """An audit result built from its tables (what :func:`training.audit.audit` returns)."""
    empty = pd.DataFrame()
    groups = pd.DataFrame(by_group).assign(suppressed=False, kind="attribute")
    return AuditResult(
        score="prob",
        label="label",
        attributes=("g",),
        rule=TopFraction(0.05),
        references={"g": "a"},
        n_boot=200,
        seed=0,
        min_group_size=20,
        confidence_level=0.95,
        n_bins=10,
        scores_are_probabilities=True,
        n_rows=int(groups["n"].sum()),
        n_selected=100,
        overall=empty,
        by_group=groups,
        intervals=empty,
        disparities=pd.DataFrame(disparities or [], columns=_DISPARITY_COLUMNS),
        reliability=empty,
        score_summary=empty,
        score_histogram=empty,
        groupings=pd.DataFrame([{"attribute": "g", "kind": "attribute"}]),
        proxies=None if proxies is None else pd.DataFrame(proxies),
        recall_parity=None if recall_parity is None else pd.DataFrame(recall_parity),
    )


_DISPARITY_COLUMNS = [
    "attribute",
    "group",
    "reference",
    "metric",
    "value",
    "reference_value",
    "ratio",
    "ratio_lower",
    "ratio_upper",
    "p_value_holm",
]
_GROUPS = [
    {"attribute": "g", "group": "a", "n": 5000, "n_positive": 400, "mean_predicted": 0.08},
    {"attribute": "g", "group": "b", "n": 3000, "n_positive": 240, "mean_predicted": 0.08},
]


def _only(outcomes, gate: str):
    found = [o for o in outcomes if o.gate == gate and o.group == "b"]
    assert len(found) == 1, [o.name for o in outcomes]
    return found[0]


_RATIO_CASES = [
    ((1.02, 0.95, 1.10, 0.8), PASS),
    ((2.632, 1.269, 5.461, 0.001), FAIL),
    ((2.632, 1.269, 5.461, 0.21), INCONCLUSIVE),  # the figure, Holm not significant
    ((1.10, 0.75, 1.40, 0.6), INCONCLUSIVE),  # within on the estimate only
]


@pytest.mark.parametrize(("figures", "expected"), _RATIO_CASES)
def test_recall_parity_gate(figures: tuple[float, ...], expected: Outcome) -> None:
    ratio, low, high, p_holm = figures
    row = {
        "attribute": "g",
        "group": "b",
        "reference": "a",
        "ratio": ratio,
        "ratio_lower": low,
        "ratio_upper": high,
        "p_value_holm": p_holm,
        "recall": 0.4,
        "expected_recall": 0.4 / ratio,
        "reference_recall_oe": 1.0,
    }
    gates = FairnessGates(basis="interval", oe_bounds=None)
    outcome = _only(
        evaluate_fairness_gates(_audit(by_group=_GROUPS, recall_parity=[row]), gates),
        "recall_parity",
    )
    assert outcome.outcome is expected, outcome.message
    assert outcome.blocks is (expected is not PASS)


@pytest.mark.parametrize(("figures", "expected"), _RATIO_CASES)
def test_ratio_gate(figures: tuple[float, ...], expected: Outcome) -> None:
    ratio, low, high, p_holm = figures
    row = {
        "attribute": "g",
        "group": "b",
        "reference": "a",
        "metric": "fpr",
        "value": 0.05 * ratio,
        "reference_value": 0.05,
        "ratio": ratio,
        "ratio_lower": low,
        "ratio_upper": high,
        "p_value_holm": p_holm,
    }
    gates = FairnessGates(
        basis="interval", ratio_bounds={"fpr": RatioBound()}, recall_parity=None, oe_bounds=None
    )
    outcome = _only(
        evaluate_fairness_gates(_audit(by_group=_GROUPS, disparities=[row]), gates), "fpr_ratio"
    )
    assert outcome.outcome is expected, outcome.message


@pytest.mark.parametrize(
    ("n_positive", "mean_predicted", "expected"),
    [
        (24_000, 0.08, PASS),  # 300,000 families observed at their prediction
        (600, 0.08, FAIL),  # observed 2.5x predicted, clear
        (30, 0.08, INCONCLUSIVE),  # wide interval: within on the estimate, not shown
    ],
)
def test_group_oe_gate(n_positive: int, mean_predicted: float, expected: Outcome) -> None:
    n = {PASS: 300_000, FAIL: 3000, INCONCLUSIVE: 375}[expected]
    groups = [
        _GROUPS[0],
        {
            "attribute": "g",
            "group": "b",
            "n": n,
            "n_positive": n_positive,
            "mean_predicted": mean_predicted,
        },
    ]
    gates = FairnessGates(basis="interval", recall_parity=None)
    outcome = _only(evaluate_fairness_gates(_audit(by_group=groups), gates), "group_oe")
    assert outcome.outcome is expected, outcome.message


@pytest.mark.parametrize(
    ("ece", "chance", "expected"),
    [(0.01, 0.03, PASS), (0.09, 0.03, FAIL), (0.05, 0.08, INCONCLUSIVE)],
)
def test_group_ece_gate(ece: float, chance: float, expected: Outcome) -> None:
    groups = [dict(g, ece=0.01, ece_chance_q95=0.03) for g in _GROUPS]
    groups[1].update(ece=ece, ece_chance_q95=chance)
    gates = FairnessGates(basis="interval", recall_parity=None, oe_bounds=None, max_group_ece=0.04)
    outcome = _only(evaluate_fairness_gates(_audit(by_group=groups), gates), "group_ece")
    assert outcome.outcome is expected, outcome.message


@pytest.mark.parametrize(("auc", "expected"), [(0.6, PASS), (0.95, FAIL)])
def test_audit_proxy_gate(auc: float, expected: Outcome) -> None:
    proxies = [{"attribute": "g", "feature": "x", "auc": auc, "auc_group": "b"}]
    gates = FairnessGates(recall_parity=None, oe_bounds=None, max_proxy_auc=0.9)
    outcomes = evaluate_fairness_gates(_audit(by_group=_GROUPS, proxies=proxies), gates)
    (outcome,) = [o for o in outcomes if o.gate == "proxy_auc"]
    assert outcome.outcome is expected, outcome.message


def test_audit_check_short_of_evidence_is_inconclusive_and_a_waiver_keeps_its_outcome() -> None:
    groups = [_GROUPS[0], dict(_GROUPS[1], n_positive=3)]
    row = dict(
        zip(_DISPARITY_COLUMNS, ["g", "b", "a", "tpr", 0.3, 0.5, 0.6, 0.2, 1.2, 0.5], strict=True)
    )
    gates = FairnessGates(ratio_bounds={"tpr": RatioBound()}, recall_parity=None, oe_bounds=None)
    outcome = _only(
        evaluate_fairness_gates(_audit(by_group=groups, disparities=[row]), gates), "tpr_ratio"
    )
    assert outcome.status == "insufficient_evidence" and outcome.outcome is INCONCLUSIVE
    waived = FairnessGates(
        ratio_bounds={"tpr": RatioBound()},
        recall_parity=None,
        oe_bounds=None,
        waivers=[Waiver(check="tpr_ratio[g/b]", reason="a pilot group with few cases so far")],
    )
    after = _only(
        evaluate_fairness_gates(_audit(by_group=groups, disparities=[row]), waived), "tpr_ratio"
    )
    assert after.status == "waived" and after.outcome is INCONCLUSIVE and not after.blocks
