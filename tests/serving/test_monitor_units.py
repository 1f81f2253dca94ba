"""Monitoring's statistics on constructed data: each check fails on a bad case, passes on a
sound one (PSI false-alarm rate, whole-input drift, the label-free estimate and its
calibration check, fairness change, caseworkers' disagreement)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serving.monitor.config import MonitorConfig
from serving.monitor.decisions import decisions_section, disagreement_breach
from serving.monitor.drift import feature_drift, multivariate_drift, psi
from serving.monitor.fairness import fairness_changes
from serving.store.audit_log import AuditLog, FeedbackRecord, ScoreRecord
from training.performance_estimate import estimate_performance, realized_performance
from training.reference_stats import (
    FeatureBins,
    bin_counts,
    check_calibration,
    fit_pca_reference,
    quantile_edges,
)


def _bins(matrix: np.ndarray, n_bins: int = 10) -> list[FeatureBins]:
    out = []
    for j in range(matrix.shape[1]):
        edges = quantile_edges(matrix[:, j], n_bins)
        out.append(
            FeatureBins(name=f"x{j}", edges=edges, counts=bin_counts(matrix[:, j], edges).tolist())
        )
    return out


def _mixed(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Continuous, count-like (mass at zero) and partly missing columns."""
    cont = rng.normal(size=(n, d // 2))
    counts = rng.poisson(0.4, size=(n, d - d // 2)).astype(float)
    m = np.hstack([cont, counts])
    m[rng.random(m.shape) < 0.05] = np.nan
    return m


def test_psi_is_zero_on_equal_shares_and_grows_with_a_shift() -> None:
    assert psi(np.array([10, 20, 30]), np.array([20, 40, 60])) == pytest.approx(0.0, abs=1e-3)
    assert psi(np.array([100, 100]), np.array([150, 50])) > 0.1
    with pytest.raises(ValueError, match="differ in length"):
        psi(np.array([1, 2]), np.array([1, 2, 3]))


def test_flagged_share_without_change_stays_near_the_false_alarm_rate() -> None:
    """Pure sampling noise, no practical floor: the null threshold holds the rate."""
    rng = np.random.default_rng(0)
    config = MonitorConfig(false_alarm_rate=0.05, min_psi=0.0)
    flagged = []
    for _ in range(30):
        ref = _mixed(rng, 4000, 20)
        cur = _mixed(rng, 6000, 20)
        flagged += [f["drifted"] for f in feature_drift(_bins(ref), cur, config=config)]
    share = float(np.mean(flagged))
    assert 0.01 <= share <= 0.10, share


def test_a_shifted_indicator_is_flagged_and_the_others_are_not() -> None:
    rng = np.random.default_rng(1)
    ref = _mixed(rng, 5000, 10)
    cur = _mixed(rng, 5000, 10)
    cur[:, 0] = cur[:, 0] * 1.6 + 0.3  # an amount paid at a new rate
    cur[:, 7] = cur[:, 7] * 2  # a count reported in half-units
    result = {
        f["name"]: f["drifted"] for f in feature_drift(_bins(ref), cur, config=MonitorConfig())
    }
    assert result["x0"] and result["x7"]
    assert not any(v for k, v in result.items() if k not in ("x0", "x7"))


def test_whole_input_drift_sees_a_broken_correlation_the_marginals_miss() -> None:
    rng = np.random.default_rng(2)
    n = 8000
    common = rng.normal(size=(n, 1))
    ref = common + 0.3 * rng.normal(size=(n, 6))
    # the same marginals (each column is a normal of the same spread), the link broken
    cur = np.sqrt(1.09) * rng.normal(size=(n, 6))
    again = rng.normal(size=(n, 1)) + 0.3 * rng.normal(size=(n, 6))
    config = MonitorConfig()
    pca = fit_pca_reference(ref)
    assert not any(f["drifted"] for f in feature_drift(_bins(ref), cur, config=config))
    assert multivariate_drift(pca, cur, n_reference=n, config=config)["drifted"]
    assert not multivariate_drift(pca, again, n_reference=n, config=config)["drifted"]


def test_label_free_estimate_matches_realized_when_calibration_holds() -> None:
    rng = np.random.default_rng(3)
    p = 1 / (1 + np.exp(-(rng.normal(-3.2, 1.1, size=200_000))))
    y = (rng.random(p.size) < p).astype(int)
    k = 10_000
    est = estimate_performance(p, p, k=k)
    real = realized_performance(y, p, k=k)
    for metric in est:
        assert abs(est[metric].value - real[metric].value) < 0.01, metric
        assert est[metric].low <= real[metric].value <= est[metric].high, metric


def test_calibration_check_refits_when_the_top_is_over_predicted() -> None:
    """The served probability over-predicts its top 5 % by 1.5x; decile ECE hides it."""
    rng = np.random.default_rng(4)
    truth = 1 / (1 + np.exp(-(rng.normal(-3.0, 1.0, size=60_000))))
    y = (rng.random(truth.size) < truth).astype(int)
    top = truth >= np.quantile(truth, 0.95)
    served = np.where(top, np.minimum(truth * 1.5, 1.0), truth)
    k = int(top.sum())
    check, trusted = check_calibration(y, served, k=k)
    assert check.method == "isotonic"
    assert check.ece_after < check.ece_before
    naive = estimate_performance(served, served, k=k)["precision_at_capacity"].value
    fixed = estimate_performance(trusted, served, k=k)["precision_at_capacity"].value
    real = realized_performance(y, served, k=k)["precision_at_capacity"].value
    assert abs(fixed - real) < abs(naive - real)
    # a calibrated score is left alone
    sound, _ = check_calibration(y, truth, k=k)
    assert sound.method == "none"


def _group(attribute: str, group: str, ratio: tuple[float, float, float], n: int = 500) -> dict:
    return {
        "attribute": attribute,
        "group": group,
        "suppressed": False,
        "n": n,
        "selection_rate": {"value": 0.1, "low": 0.08, "high": 0.12},
        "selection_rate_ratio": {
            "reference_group": "a",
            "value": ratio[0],
            "low": ratio[1],
            "high": ratio[2],
            "p_value_holm": 0.01,
        },
    }


def test_fairness_alerts_on_a_changed_ratio_only() -> None:
    config = MonitorConfig()
    then = [_group("audit_x", "b", (1.0, 0.9, 1.1))]
    assert fairness_changes(then, [_group("audit_x", "b", (1.6, 1.4, 1.8))], config=config)
    assert not fairness_changes(then, [_group("audit_x", "b", (1.05, 0.95, 1.15))], config=config)
    # a near-empty cell (5 selected) is no evidence
    thin = [_group("audit_x", "b", (1.6, 1.4, 1.8), n=50)]
    assert not fairness_changes(then, thin, config=config)


def _log_decisions(path, decisions: list[tuple[float, str]]) -> None:
    log = AuditLog(path)
    try:
        for i, (probability, decision) in enumerate(decisions):
            score_id = f"s{i}"
            log.record_scores(
                [
                    ScoreRecord(
                        score_id=score_id,
                        request_id="r",
                        token_id="t",
                        role="caseworker",
                        endpoint="score",
                        family_id=f"F{i % 40}",
                        as_of="2024-12-31",
                        model_version="1",
                        probability=probability,
                        risk_level="high" if probability >= 0.25 else "low",
                        reasons=[],
                    )
                ]
            )
            log.record_feedback(
                FeedbackRecord(
                    score_id=score_id,
                    request_id="r",
                    token_id="t",
                    role="caseworker",
                    family_id=f"F{i % 40}",
                    decision=decision,
                    reason="",
                )
            )
    finally:
        log.close()


def test_decisions_alert_when_caseworkers_disagree_often(tmp_path) -> None:
    groups = pd.DataFrame(
        {"family_id": [f"F{i}" for i in range(40)], "audit_settlement": ["urban", "rural"] * 20}
    )
    config = MonitorConfig()
    agreeing = [(0.4, "support_offered")] * 30 + [(0.02, "no_action")] * 30
    _log_decisions(tmp_path / "agree.sqlite", agreeing)
    sound = decisions_section(
        tmp_path / "agree.sqlite",
        after="2024-01-01",
        until="2024-12-31",
        threshold=0.25,
        groups=groups,
        config=config,
    )
    assert sound["n_decisions"] == 60
    assert sound["disagreement_rate"]["value"] == 0.0
    assert not disagreement_breach(sound, config=config)
    assert {g["group"] for g in sound["by_group"]} == {"urban", "rural"}
    disagreeing = [(0.4, "no_action")] * 30 + [(0.02, "override_higher")] * 30
    _log_decisions(tmp_path / "disagree.sqlite", disagreeing)
    bad = decisions_section(
        tmp_path / "disagree.sqlite",
        after="2024-01-01",
        until="2024-12-31",
        threshold=0.25,
        groups=groups,
        config=config,
    )
    assert bad["disagreement_rate"]["value"] == 1.0
    assert disagreement_breach(bad, config=config)
    # too few decisions are not evaluable, never a pass or an alert
    few = decisions_section(
        tmp_path / "disagree.sqlite",
        after="2025-01-01",
        until="2025-12-31",
        threshold=0.25,
        groups=groups,
        config=config,
    )
    assert few["n_decisions"] == 0 and not disagreement_breach(few, config=config)


def _iv(value: float) -> dict[str, float]:
    return {"value": value, "low": value - 0.02, "high": value + 0.02}


def _report(*, estimated_auc: float, realized_auc: float | None, rate: float) -> dict:
    """A minimal report: no drift, one as-of date (labels in when realized_auc is given)."""
    iv = _iv
    estimated = {
        "roc_auc": iv(estimated_auc),
        "precision_at_capacity": iv(0.1),
        "recall_at_capacity": iv(0.2),
        "positive_rate": {"value": 0.03, "low": 0.027, "high": 0.033},
    }
    closed = {
        "as_of": "2023-12-31",
        "label_window_closed": realized_auc is not None,
        "estimated": estimated,
        "realized": None
        if realized_auc is None
        else {**estimated, "roc_auc": iv(realized_auc), "positive_rate": iv(rate)},
        "estimate_error": None,
    }
    return {
        "drift": {
            "features": [],
            "multivariate": {
                "drifted": False,
                "value": 1.0,
                "reference": 1.0,
                "threshold": 0.1,
                "n_components": 3,
            },
            "score": {
                "drifted": False,
                "value": 0.01,
                "threshold": 0.1,
                "mean_reference": 0.03,
                "mean_current": 0.03,
                "selection_rate_at_reference_threshold": 0.05,
                "selection_rate_reference": 0.05,
            },
        },
        "performance": {
            "estimated": {"as_of": "2024-12-31", **estimated},
            "realized": [closed],
        },
        "fairness": [],
        "decisions": {"available": False, "note": "none"},
    }


def _statuses(report: dict, reference_auc: float | None = 0.80) -> dict[str, str]:
    from serving.monitor.alerts import build_checks
    from training.reference_stats import ReferenceStats

    stats = ReferenceStats.model_construct(
        realized=None if reference_auc is None else {"roc_auc": {"value": reference_auc}}
    )
    return {
        c["check"]: c["status"] for c in build_checks(report, stats=stats, config=MonitorConfig())
    }


def test_performance_alerts_fire_on_a_drop_and_pass_when_held() -> None:
    sound = _statuses(_report(estimated_auc=0.79, realized_auc=0.78, rate=0.03))
    assert sound["estimated_auc"] == sound["realized_auc"] == "pass"
    assert sound["realized_positive_rate"] == "pass"
    dropped = _statuses(_report(estimated_auc=0.70, realized_auc=0.71, rate=0.03))
    assert dropped["estimated_auc"] == dropped["realized_auc"] == "alert"
    recorded_less = _statuses(_report(estimated_auc=0.79, realized_auc=0.78, rate=0.018))
    assert recorded_less["realized_positive_rate"] == "alert"
    # no labels yet, or no reference AUC: not evaluable, never a pass
    waiting = _statuses(_report(estimated_auc=0.79, realized_auc=None, rate=0.03))
    assert waiting["realized_performance"] == "not_evaluable"
    blind = _statuses(_report(estimated_auc=0.79, realized_auc=0.78, rate=0.03), None)
    assert blind["estimated_auc"] == blind["realized_auc"] == "not_evaluable"


def test_a_rate_outside_its_interval_is_never_said_to_be_within_it() -> None:
    from serving.monitor.alerts import build_checks
    from training.reference_stats import ReferenceStats

    stats = ReferenceStats.model_construct(realized={"roc_auc": {"value": 0.80}})

    def evidence(rate: float) -> tuple[str, str]:
        report = _report(estimated_auc=0.79, realized_auc=0.78, rate=rate)
        checks = build_checks(report, stats=stats, config=MonitorConfig())
        (check,) = [c for c in checks if c["check"] == "realized_positive_rate"]
        return check["status"], check["evidence"]

    # 2.5 % against 3.0 % (2.7 %-3.3 %): outside the interval, but a -17 % change is within
    # the 20 % tolerance, so no alert, and the evidence says it is outside
    status, text = evidence(0.025)
    assert status == "pass" and "outside the expected interval" in text
    assert "within the expected interval" not in text
    status, text = evidence(0.031)
    assert status == "pass" and "within the expected interval" in text


def test_the_monitoring_page_names_the_estimator_error_and_n_per_group() -> None:
    from serving.monitor.report_html import render_html

    report = _report(estimated_auc=0.79, realized_auc=0.78, rate=0.03)
    group = {"attribute": "region", "group": "KZ-AKT", "suppressed": False, "n": 1204}
    report.update(
        as_of="2024-12-31",
        model={"name": "m", "version": "3"},
        n_families=5000,
        reference={"source": "training", "n_rows": 100, "as_of": ["2022-12-31"], "capacity": "5%"},
        alerts=[],
        checks=[],
        fairness=[{"as_of": "2024-12-31", "groups": [{**group, "selection_rate": _iv(0.05)}]}],
    )
    report["drift"]["score"] = {"value": 0.01}
    report["performance"]["assumption"] = "calibration holds"
    report["performance"]["calibration_check"] = {
        "method": "isotonic",
        "n_bins": 10,
        "ece_before": 0.01,
        "ece_after": 0.008,
    }
    report["performance"]["estimator_error_on_reference"] = {
        "roc_auc": 0.0092,
        "positive_rate": None,
    }
    page = render_html(report)
    assert "Estimator error on the reference: ROC AUC 0.0092, positive rate –" in page
    assert "{'roc_auc'" not in page
    assert "<th>n</th>" in page and "<td>1,204</td>" in page
