"""Gates pass and fail where they should; YAML configs are validated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from training.audit import (
    COUNT_METRICS,
    FairnessGates,
    RatioBound,
    Threshold,
    TopFraction,
    audit,
    evaluate_fairness_gates,
    failed_gates,
    gates_passed,
)


def _biased(shift: float):
    from auditkit import make_scores

    frame = make_scores(4000, seed=3, shift=shift)
    return audit(
        frame,
        score="prob",
        label="label",
        groups=["sex", "settlement"],
        rule=TopFraction(0.2),
        n_boot=200,
    )


def test_fair_model_passes_and_biased_model_fails_naming_the_group() -> None:
    gates = FairnessGates(
        ratio_bounds={"fpr": RatioBound(), "fnr": RatioBound()}, oe_bounds=None, max_group_ece=0.2
    )
    # the fair model fails nothing (a check whose interval reaches outside the band is
    # inconclusive, not a pass); the biased one fails, naming the group
    assert not [o for o in evaluate_fairness_gates(_biased(0.0), gates) if o.status == "fail"]
    failed = [o for o in evaluate_fairness_gates(_biased(0.25), gates) if o.status == "fail"]
    assert failed
    assert {(o.gate, o.attribute, o.group) for o in failed} >= {("fpr_ratio", "sex", "F")}
    assert all(o.message for o in failed)


def test_interval_basis_is_more_lenient_than_point() -> None:
    result = _biased(0.03)
    strict = FairnessGates(
        ratio_bounds={"fpr": RatioBound(lower=0.99, upper=1.01)}, max_group_ece=None
    )
    lenient = strict.model_copy(update={"basis": "interval"})
    assert len(failed_gates(evaluate_fairness_gates(result, strict))) >= len(
        failed_gates(evaluate_fairness_gates(result, lenient))
    )
    assert failed_gates(evaluate_fairness_gates(result, strict))


def test_ece_gate_checks_every_reported_group() -> None:
    result = _biased(0.25)
    outcomes = evaluate_fairness_gates(
        result,
        FairnessGates(ratio_bounds={}, recall_parity=None, oe_bounds=None, max_group_ece=0.05),
    )
    assert {o.gate for o in outcomes} == {"group_ece"}
    failing = {o.group for o in failed_gates(outcomes)}
    assert "F" in failing and "M" not in failing
    ece_f = result.group_metric("sex", "F", "ece")
    outcome_f = next(o for o in outcomes if o.group == "F" and o.attribute == "sex")
    assert outcome_f.value == pytest.approx(ece_f)
    assert outcome_f.message == f"group_ece for sex=F is {ece_f:.4f}, above 0.05"


def test_zero_reference_rate_fails_unless_both_are_zero() -> None:
    # A (the larger group, so the reference) selects nobody: FPR 0. B flags half its rows.
    frame = pd.DataFrame(
        {
            "g": ["A"] * 220 + ["B"] * 180,
            "label": np.tile([0, 1], 200),
            "flag": np.concatenate([np.zeros(220), np.tile([1, 1, 0, 0], 45)]).astype(int),
        }
    )
    result = audit(frame, score="flag", label="label", groups=["g"], rule=Threshold(0.5), n_boot=0)
    assert result.references["g"] == "A" and result.group_metric("g", "A", "fpr") == 0.0
    outcome = next(
        o
        for o in evaluate_fairness_gates(
            result,
            FairnessGates(ratio_bounds={"fpr": RatioBound()}, min_group_positives=0),
        )
        if o.gate == "fpr_ratio"
    )
    assert outcome.status == "fail" and "unbounded" in outcome.message


def test_gates_restricted_to_attributes_and_intersections() -> None:
    result = _biased(0.25)
    only = FairnessGates(attributes=["settlement"], max_group_ece=None)
    assert {o.attribute for o in evaluate_fairness_gates(result, only)} == {"settlement"}
    with_pairs = FairnessGates(include_intersections=True, max_group_ece=None)
    attributes = {o.attribute for o in evaluate_fairness_gates(result, with_pairs)}
    assert "sex & settlement" in attributes
    with pytest.raises(ValueError, match="did not cover"):
        evaluate_fairness_gates(result, FairnessGates(attributes=["ethnicity"]))


def test_proxy_gate(scores: pd.DataFrame) -> None:
    frame = scores.assign(proxy=(scores["sex"] == "F").astype(float))
    result = audit(
        frame,
        score="prob",
        label="label",
        groups=["sex"],
        rule=TopFraction(0.2),
        n_boot=0,
        proxy_features=["proxy"],
    )
    outcomes = evaluate_fairness_gates(
        result,
        FairnessGates(
            ratio_bounds={},
            recall_parity=None,
            oe_bounds=None,
            max_group_ece=None,
            max_proxy_auc=0.8,
        ),
    )
    assert [o.status for o in outcomes] == ["fail"]
    [failed] = outcomes
    assert failed.metric == "proxy_auc:proxy" and failed.value is not None
    assert failed.message == (
        f"proxy_auc of feature proxy for sex (group {failed.group}) is {failed.value:.3f}, "
        "above 0.8"
    )
    no_check = audit(
        frame, score="prob", label="label", groups=["sex"], rule=TopFraction(0.2), n_boot=0
    )
    [outcome] = evaluate_fairness_gates(
        no_check,
        FairnessGates(
            ratio_bounds={},
            recall_parity=None,
            oe_bounds=None,
            max_group_ece=None,
            max_proxy_auc=0.8,
        ),
    )
    assert outcome.status == "not_evaluable"


def test_every_count_metric_can_be_gated_and_no_other_metric() -> None:
    wide = RatioBound(lower=0.01, upper=100.0)
    gates = FairnessGates(ratio_bounds=dict.fromkeys(COUNT_METRICS, wide), max_group_ece=None)
    outcomes = evaluate_fairness_gates(_biased(0.0), gates)
    for metric in COUNT_METRICS:
        statuses = {o.status for o in outcomes if o.gate == f"{metric}_ratio"}
        assert statuses == {"pass"}, metric
    with pytest.raises(ValidationError, match="roc_auc"):
        FairnessGates(ratio_bounds={"roc_auc": wide})


def test_yaml_config_round_trip_and_validation(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text("ratio_bounds:\n  fnr: {lower: 0.9, upper: 1.1}\nmax_group_ece: 0.03\n")
    gates = FairnessGates.from_yaml(path)
    assert gates.ratio_bounds["fnr"] == RatioBound(lower=0.9, upper=1.1)
    assert "fpr" not in gates.ratio_bounds and gates.max_group_ece == 0.03
    path.write_text("max_group_ece: 0.03\ntypo_field: 1\n")
    with pytest.raises(ValidationError, match="typo_field"):
        FairnessGates.from_yaml(path)
    path.write_text("ratio_bounds:\n  fpr: {lower: 1.2, upper: 1.5}\n")
    with pytest.raises(ValidationError, match="must contain 1"):
        FairnessGates.from_yaml(path)
    path.write_text("")
    assert FairnessGates.from_yaml(path) == FairnessGates()


def _calibration_frame(n_small: int, n_large: int, *, large_doubles_risk: bool, seed: int):
    """A small group whose scores are exactly calibrated and a large group, miscalibrated
    (its true risk is twice its score) when ``large_doubles_risk``."""
    rng = np.random.default_rng(seed)
    score = rng.uniform(0.02, 0.3, size=n_small + n_large)
    group = np.array(["small"] * n_small + ["large"] * n_large)
    truth = np.where((group == "large") & large_doubles_risk, np.minimum(2 * score, 1), score)
    label = (rng.uniform(size=score.size) < truth).astype(int)
    return pd.DataFrame({"prob": score, "label": label, "g": group})


def test_chance_ece_shrinks_with_group_size_and_bounds_calibrated_groups() -> None:
    from training.audit.metrics import expected_calibration_error, grouped_ece_by_chance

    rng = np.random.default_rng(5)
    sizes = [30, 300, 3000]
    codes = np.repeat(np.arange(3), sizes)
    score = rng.uniform(0.02, 0.5, size=codes.size)
    chance = grouped_ece_by_chance(score, codes, 3, n_bins=10)
    assert chance[0] > chance[1] > chance[2] > 0
    # outcomes drawn from the scores themselves: the group of 30 exceeds its 95th
    # percentile in about 5 % of 200 draws (binomial sd 1.5 %), never in a quarter of them
    small = score[:30]
    exceed = sum(
        expected_calibration_error(
            (np.random.default_rng(100 + draw).uniform(size=30) < small).astype(int), small
        )
        > chance[0]
        for draw in range(200)
    )
    assert 1 <= exceed <= 22


def test_interval_basis_forgives_small_group_ece_noise_but_not_real_miscalibration() -> None:
    frame = _calibration_frame(40, 6000, large_doubles_risk=True, seed=8)
    result = audit(
        frame, score="prob", label="label", groups=["g"], rule=TopFraction(0.1), n_boot=50
    )
    small_ece = result.group_metric("g", "small", "ece")
    small_chance = result.group_metric("g", "small", "ece_chance_q95")
    large_ece = result.group_metric("g", "large", "ece")
    assert small_ece > 0.02 and small_ece <= small_chance  # noisy, yet calibrated
    assert large_ece > result.group_metric("g", "large", "ece_chance_q95")
    point = FairnessGates(ratio_bounds={}, recall_parity=None, oe_bounds=None, max_group_ece=0.02)
    interval = point.model_copy(update={"basis": "interval"})
    failed_point = {o.group for o in failed_gates(evaluate_fairness_gates(result, point))}
    outcomes = evaluate_fairness_gates(result, interval)
    failed_interval = {o.group for o in outcomes if o.status == "fail"}
    assert failed_point == {"small", "large"}
    assert failed_interval == {"large"}
    (small,) = [o for o in outcomes if o.group == "small"]
    # above the bound but within chance: inconclusive (it still blocks), never a pass
    assert small.status == "inconclusive" and "by chance" in small.message
    assert small.blocks and not small.passed


def test_interval_basis_needs_a_significant_test_not_a_degenerate_interval() -> None:
    # "tiny": 30 families, 2 positives, both selected -> FNR 0 with a [0, 0] bootstrap
    # interval; "big": a real FNR gap over 3000 families. Reference "ref": 6000 families.
    rng = np.random.default_rng(4)
    parts = []
    for group, n, base, catch in (("ref", 6000, 0.1, 0.6), ("big", 3000, 0.1, 0.3)):
        label = (rng.uniform(size=n) < base).astype(int)
        selected = np.where(label == 1, rng.uniform(size=n) < catch, rng.uniform(size=n) < 0.05)
        parts.append(pd.DataFrame({"g": group, "label": label, "flag": selected.astype(int)}))
    tiny_label = np.array([1, 1] + [0] * 28)
    parts.append(pd.DataFrame({"g": "tiny", "label": tiny_label, "flag": tiny_label}))
    frame = pd.concat(parts, ignore_index=True)
    result = audit(
        frame,
        score="flag",
        label="label",
        groups=["g"],
        rule=Threshold(0.5),
        reference="ref",
        n_boot=300,
    )
    point = FairnessGates(
        ratio_bounds={"fnr": RatioBound()},
        recall_parity=None,
        oe_bounds=None,
        max_group_ece=None,
        min_group_positives=0,
    )
    interval = point.model_copy(update={"basis": "interval"})
    assert {o.group for o in failed_gates(evaluate_fairness_gates(result, point))} == {
        "tiny",
        "big",
    }
    outcomes = evaluate_fairness_gates(result, interval)
    assert {o.group for o in outcomes if o.status == "fail"} == {"big"}
    (tiny,) = [o for o in outcomes if o.group == "tiny"]
    assert tiny.interval == (0.0, 0.0)
    assert tiny.status == "inconclusive" and "not statistically clear" in tiny.message


def _rare_outcome_frame(*, factor_b: float, n: int = 6000, seed: int = 5) -> pd.DataFrame:
    """Rates near 3 %; group b's true rate is ``factor_b`` times what the score predicts."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.uniform(size=n) < 0.3, "b", "a")
    prob = rng.beta(2, 70, n)
    true = np.where(group == "b", np.clip(prob * factor_b, 0, 1), prob)
    return pd.DataFrame(
        {"g": group, "prob": prob, "label": (rng.uniform(size=n) < true).astype(int)}
    )


def test_group_oe_fails_a_group_observed_at_twice_its_prediction() -> None:
    gates = FairnessGates(ratio_bounds={})
    bad = audit(
        _rare_outcome_frame(factor_b=2.2),
        score="prob",
        label="label",
        groups=["g"],
        rule=TopFraction(0.05),
        n_boot=0,
    )
    outcomes = {o.group: o for o in evaluate_fairness_gates(bad, gates)}
    assert outcomes["b"].status == "fail" and outcomes["b"].value > 1.8
    assert outcomes["a"].status != "fail"
    # the absolute ECE bound of the first release passes the same group
    ece = evaluate_fairness_gates(
        bad, FairnessGates(ratio_bounds={}, recall_parity=None, oe_bounds=None, max_group_ece=0.05)
    )
    assert gates_passed(ece)
    sound = audit(
        _rare_outcome_frame(factor_b=1.0),
        score="prob",
        label="label",
        groups=["g"],
        rule=TopFraction(0.05),
        n_boot=0,
    )
    assert not [o for o in evaluate_fairness_gates(sound, gates) if o.status == "fail"]


def test_tpr_ratio_of_a_group_with_few_outcomes_is_insufficient_evidence() -> None:
    frame = _rare_outcome_frame(factor_b=1.0)
    frame.loc[frame.index[:100], "g"] = "c"  # a few outcomes
    result = audit(
        frame, score="prob", label="label", groups=["g"], rule=TopFraction(0.05), n_boot=100
    )
    plain_recall = {"tpr": RatioBound()}
    outcomes = evaluate_fairness_gates(
        result, FairnessGates(ratio_bounds=plain_recall, recall_parity=None, oe_bounds=None)
    )
    small = next(o for o in outcomes if o.group == "c")
    assert small.gate == "tpr_ratio" and small.status == "insufficient_evidence"
    assert not small.passed and not gates_passed(outcomes)
    assert "min_group_positives" in small.message
    waived = FairnessGates(
        ratio_bounds=plain_recall,
        recall_parity=None,
        oe_bounds=None,
        waivers=[{"check": "tpr_ratio[g/c]", "reason": "group c is a pilot with too few cases"}],
    )
    after = {o.group: o for o in evaluate_fairness_gates(result, waived)}
    # the reason is kept once, on the outcome, not repeated in its message
    assert (
        after["c"].status == "waived"
        and after["c"].waiver == "group c is a pilot with too few cases"
    )
    assert after["c"].waived_from == "insufficient_evidence" and "pilot" not in after["c"].message


@pytest.mark.parametrize("case", ["one_group", "all_suppressed"])
def test_an_attribute_with_nothing_to_compare_is_not_evaluable_not_passed(case: str) -> None:
    frame = _rare_outcome_frame(factor_b=1.0, n=800)
    if case == "one_group":
        frame["g"] = "only"
    else:
        frame["g"] = [f"g{i}" for i in range(len(frame))]  # every group below the minimum size
    result = audit(
        frame, score="prob", label="label", groups=["g"], rule=TopFraction(0.05), n_boot=0
    )
    outcomes = evaluate_fairness_gates(result, FairnessGates())
    assert outcomes and not gates_passed(outcomes)
    assert any(o.gate == "group_coverage" and o.status == "not_evaluable" for o in outcomes)
    assert not any(o.status == "pass" and o.gate.endswith("_ratio") for o in outcomes)
