"""Promotion gates: each fails on a constructed bad case and passes on a sound one.

Cases: a weak model (baseline margins and capacity), a tiny test slice (insufficient
evidence), a miscalibrated group and an over-confident top band (calibration), a proxy input
(proxy gate), waivers (never for a failure), and the status rules of the decision.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from training.audit import Waiver
from training.config import AllowedProxy, GatesConfig, ProxyGatesConfig
from training.evaluation import ScoredModel, evaluate
from training.gates import (
    GateResult,
    calibration_gates,
    decide,
    gate_meaning,
    performance_gates,
    proxy_gates,
)


def _evaluation(*, n: int = 6000, baseline_noise: float = 2.0, main_noise: float = 0.0, seed=0):
    """Truth-ranked main model against a noisier baseline (or the other way round)."""
    rng = np.random.default_rng(seed)
    truth = rng.beta(1.2, 12, n)
    y = (rng.random(n) < truth).astype(int)
    logit = np.log(truth / (1 - truth))

    def noisy(sd: float) -> np.ndarray:
        return 1 / (1 + np.exp(-(logit + rng.normal(0, sd, n)))) if sd else truth

    main, base = noisy(main_noise), noisy(baseline_noise)
    return evaluate(
        y,
        {"lightgbm": ScoredModel(main, main), "logistic": ScoredModel(base, base)},
        k=round(0.05 * n),
        main="lightgbm",
        n_bootstrap=100,
        seed=0,
    )


def _by_name(gates: list[GateResult]) -> dict[str, GateResult]:
    return {g.name: g for g in gates}


def test_sound_model_passes_every_performance_gate():
    gates = performance_gates(_evaluation(), main="lightgbm", config=GatesConfig())
    decision = decide(gates)
    assert decision.alias == "champion" and decision.promoted, decision.explain()
    assert set(_by_name(gates)) == {
        "test_slice_evidence",
        "auc_margin_over_logistic",
        "precision_at_k_vs_logistic",
        "recall_at_k_vs_logistic",
        "max_ece",
    }


def test_weak_model_fails_the_margin_and_capacity_gates_against_the_baseline():
    # the main model is the noisy one: worse ranking and fewer outcomes at the top
    ev = _evaluation(baseline_noise=0.0, main_noise=2.0)
    gates = _by_name(performance_gates(ev, main="lightgbm", config=GatesConfig()))
    for name in (
        "auc_margin_over_logistic",
        "precision_at_k_vs_logistic",
        "recall_at_k_vs_logistic",
    ):
        assert gates[name].status == "fail", gates[name].detail
    assert "a pass needs the lower bound >=" in gates["precision_at_k_vs_logistic"].detail
    assert decide(gates.values()).alias == "challenger"


def test_margin_with_its_interval_straddling_the_threshold_is_inconclusive_not_a_pass():
    ev = _evaluation(baseline_noise=0.4)
    diff = ev.auc_difference["lightgbm - logistic"]
    assert diff.estimate > 0
    between = (diff.low + diff.estimate) / 2  # above the lower bound, below the estimate
    gate = _by_name(
        performance_gates(ev, main="lightgbm", config=GatesConfig(min_auc_margin=between))
    )["auc_margin_over_logistic"]
    assert gate.status == "inconclusive" and gate.value == pytest.approx(diff.low)
    assert gate.blocks and "straddles" in gate.detail


def test_capacity_loss_alone_fails_although_the_auc_margin_passes():
    # same overall ranking quality, but the main model scrambles its top 5 %
    rng = np.random.default_rng(3)
    n = 8000
    truth = rng.beta(1.2, 12, n)
    y = (rng.random(n) < truth).astype(int)
    main = truth.copy()
    top = np.argsort(-truth)[: round(0.15 * n)]
    main[top] = rng.permutation(truth[top]) * 0.3  # its best families drop below the top band
    base = truth
    ev = evaluate(
        y,
        {"lightgbm": ScoredModel(main, main), "logistic": ScoredModel(base, base)},
        k=round(0.05 * n),
        main="lightgbm",
        n_bootstrap=100,
        seed=0,
    )
    gates = _by_name(performance_gates(ev, main="lightgbm", config=GatesConfig(min_auc_margin=-1)))
    assert gates["auc_margin_over_logistic"].status == "pass"
    assert gates["precision_at_k_vs_logistic"].status == "fail"


def test_tiny_test_slice_is_insufficient_evidence_and_blocks():
    ev = _evaluation(n=400)
    assert ev.n_positive < 100
    gates = performance_gates(ev, main="lightgbm", config=GatesConfig())
    evidence = _by_name(gates)["test_slice_evidence"]
    assert evidence.status == "insufficient_evidence" and not evidence.passed
    decision = decide(gates)
    assert decision.alias == "challenger"
    assert "[inconclusive, insufficient_evidence]" in decision.explain()
    # a sound slice of the same model passes it
    assert _by_name(performance_gates(_evaluation(), main="lightgbm", config=GatesConfig()))[
        "test_slice_evidence"
    ].passed


def test_waiver_accepts_insufficient_evidence_with_its_reason_but_never_a_failure():
    reason = "pilot region: too few outcomes yet, reviewed by the ethics board on 2026-11-02"
    blocked = GateResult.of(
        "top_band_oe[g/x]", "insufficient_evidence", value=1.0, threshold=0.8, detail="d"
    )
    failed = GateResult.of("top_band_oe[g/y]", "fail", value=0.4, threshold=0.8, detail="d")
    waiver = Waiver(check="top_band_oe[g/*]", reason=reason)
    decision = decide([blocked], waivers=[waiver])
    assert decision.promoted and decision.gates[0].status == "waived"
    # the reason is kept once (the waiver field), the detail says only that it was waived
    assert decision.gates[0].waiver == reason and reason not in decision.gates[0].detail
    assert decision.gates[0].waived_from == "insufficient_evidence"
    assert decision.gates[0].outcome.value == "inconclusive"
    assert not decide([blocked, failed], waivers=[waiver]).promoted
    # a waiver limited to another status, or another name, does not apply
    other = Waiver(check="top_band_oe[g/*]", reason=reason, status="not_evaluable")
    assert not decide([blocked], waivers=[other]).promoted
    assert decide([blocked], waivers=[other]).unused_waivers == ("top_band_oe[g/*]",)
    with pytest.raises(ValidationError):
        Waiver(check="x", reason="because")  # a reason must say something


def test_statuses_and_passed_cannot_contradict():
    with pytest.raises(ValueError, match="contradicts"):
        GateResult(name="x", passed=True, value=0, threshold=0, detail="", status="not_evaluable")
    assert GateResult.of("c", "no_champion", value=0, threshold=0, detail="").passed
    assert decide([]).alias == "challenger"


def _calibration_case(*, miscalibrated_group: bool, overconfident_top: bool, n=80000, seed=1):
    rng = np.random.default_rng(seed)
    p = rng.beta(1.5, 30, n)
    group = np.where(rng.random(n) < 0.2, "b", "a")
    true_p = p.copy()
    if miscalibrated_group:
        true_p = np.where(group == "b", np.clip(2.2 * p, 0, 1), p)  # observed 2.2x predicted
    rank = p
    if overconfident_top:
        top = p >= np.quantile(p, 0.95)
        true_p = np.where(top, p / 2.5, true_p)
    y = (rng.random(n) < true_p).astype(int)
    return y, p, rank, pd.DataFrame({"audit_g": group})


def test_sound_calibration_passes_overall_per_group_and_in_the_top_band():
    y, p, rank, groups = _calibration_case(miscalibrated_group=False, overconfident_top=False)
    gates = calibration_gates(y, p, rank, groups=groups, k=4000, config=GatesConfig())
    assert {g.status for g in gates} == {"pass"}, [g.detail for g in gates if not g.passed]
    names = {g.name for g in gates}
    assert {"calibration_in_the_large", "calibration_slope", "top_band_oe"} <= names
    assert "top_band_oe[audit_g/b]" in names and "calibration_slope[audit_g/a]" in names


def test_overconfident_top_band_fails_while_overall_calibration_looks_fine():
    y, p, rank, groups = _calibration_case(miscalibrated_group=False, overconfident_top=True)
    gates = _by_name(calibration_gates(y, p, rank, groups=groups, k=4000, config=GatesConfig()))
    assert gates["top_band_oe"].status == "fail", gates["top_band_oe"].detail
    assert gates["calibration_in_the_large"].status == "pass"
    assert "observed / expected in the top 4000" in gates["top_band_oe"].detail


def test_miscalibrated_group_fails_in_its_top_band():
    y, p, rank, groups = _calibration_case(miscalibrated_group=True, overconfident_top=False)
    gates = _by_name(calibration_gates(y, p, rank, groups=groups, k=4000, config=GatesConfig()))
    assert gates["top_band_oe[audit_g/b]"].status == "fail"
    assert gates["top_band_oe[audit_g/a]"].status == "pass"


def test_small_group_is_insufficient_evidence_not_a_pass():
    y, p, rank, groups = _calibration_case(miscalibrated_group=False, overconfident_top=False)
    groups = groups.assign(audit_g=np.where(np.arange(len(y)) < 60, "tiny", groups["audit_g"]))
    gates = _by_name(calibration_gates(y, p, rank, groups=groups, k=4000, config=GatesConfig()))
    tiny = gates["top_band_oe[audit_g/tiny]"]
    assert tiny.status == "insufficient_evidence" and not tiny.passed


def _proxies(auc: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feature": ["econ_x", "econ_y"],
            "attribute": ["audit_disability_in_family", "audit_region"],
            "auc": [auc, 0.99],
            "auc_group": ["yes", "KZ-TUR"],
            "nmi": [0.5, 0.5],
            "flagged": [True, True],
        }
    )


def test_proxy_input_blocks_unless_allowed_with_a_justification():
    config = ProxyGatesConfig()
    [gate] = proxy_gates(_proxies(0.97), protected=["disability_in_family"], config=config)
    assert gate.status == "fail" and gate.name == "proxy_econ_x[audit_disability_in_family]"
    assert "AUC 0.970 >= 0.9" in gate.detail
    why = "the benefit is support the family receives; reviewed with the disability council"
    allowed = ProxyGatesConfig(allowed=(AllowedProxy(feature="econ_x", justification=why),))
    [ok] = proxy_gates(_proxies(0.97), protected=["disability_in_family"], config=allowed)
    assert ok.status == "pass" and why in ok.detail
    # below the bound, and for a non-protected audit group (region), nothing blocks
    [sound] = proxy_gates(_proxies(0.75), protected=["disability_in_family"], config=config)
    assert sound.status == "pass" and sound.name == "proxy_check"
    [missing] = proxy_gates(None, protected=["disability_in_family"], config=config)
    assert missing.status == "not_evaluable"


def test_every_gate_name_has_a_meaning():
    names = [
        "test_slice_evidence",
        "auc_margin_over_logistic",
        "precision_at_k_vs_logistic",
        "recall_at_k_vs_wellbeing_index",
        "max_ece",
        "calibration_in_the_large",
        "calibration_slope[audit_g/a]",
        "top_band_oe",
        "champion_roc_auc",
        "proxy_econ_x[audit_disability_in_family]",
        "fairness_tpr_ratio[audit_region/KZ-AKM]",
        "fairness_group_oe[audit_region/KZ-AKM]",
        "fairness_group_coverage[audit_region]",
    ]
    for name in names:
        assert gate_meaning(name), name


def test_explain_can_shorten_a_long_list():
    gates = [
        GateResult(name=f"g{i}", passed=False, value=1, threshold=0, detail="x") for i in range(7)
    ]
    text = decide(gates).explain(max_listed=3)
    assert "g0" in text and "g2" in text and "g3" not in text and "4 more" in text


def test_calibration_slope_matches_a_logistic_fit_and_reads_overconfidence():
    from sklearn.linear_model import LogisticRegression

    from training.reliability import calibration_slope, observed_to_expected

    rng = np.random.default_rng(7)
    p = rng.beta(1.5, 20, 20000)
    logit = np.log(p / (1 - p))
    y = (rng.random(p.size) < 1 / (1 + np.exp(-(0.5 * logit - 1.0)))).astype(int)  # too extreme
    stat = calibration_slope(y, p)
    reference = LogisticRegression(C=1e12, tol=1e-12, max_iter=10000).fit(logit.reshape(-1, 1), y)
    assert stat.estimate == pytest.approx(reference.coef_[0, 0], abs=1e-4)
    assert stat.high < 1 and stat.p_value < 1e-6
    # separated outcomes have no finite slope: undefined, not a huge number
    separated = calibration_slope(np.array([0, 0, 0, 1, 1, 1]), np.array([0.1] * 3 + [0.2] * 3))
    assert np.isnan(separated.estimate)
    oe = observed_to_expected(np.array([1, 0, 0, 0]), np.array([0.5, 0.5, 0.5, 0.5]))
    assert oe.estimate == pytest.approx(0.5) and oe.low < 0.5 < oe.high
