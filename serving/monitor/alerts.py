"""Checks of a monitoring report, each ``pass``, ``alert`` or ``not_evaluable``, in words.

Every check states its evidence (the numbers and the threshold), so an operator woken by
the exit code reads why. "Not evaluable" (no labels yet, too few decisions) is its own
status, never a pass; ``--strict`` turns it into a non-zero exit too.
"""

from __future__ import annotations

from typing import Any

from serving.monitor.config import MonitorConfig
from serving.monitor.decisions import disagreement_breach
from serving.monitor.fairness import fairness_changes
from training.reference_stats import ReferenceStats


def _check(check: str, subject: str, status: str, evidence: str) -> dict[str, str]:
    return {"check": check, "subject": subject, "status": status, "evidence": evidence}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _drift_checks(report: dict[str, Any]) -> list[dict[str, str]]:
    drift = report["drift"]
    out = []
    for f in drift["features"]:
        threshold = "none (constant)" if f["threshold"] is None else f"{f['threshold']:.3f}"
        words = (
            f"PSI {f['value']:.3f} against threshold {threshold}; missing "
            f"{_pct(f['missing_share_reference'])} on the reference, "
            f"{_pct(f['missing_share_current'])} now"
        )
        out.append(_check("feature_drift", f["name"], "alert" if f["drifted"] else "pass", words))
    m = drift["multivariate"]
    out.append(
        _check(
            "multivariate_drift",
            "all model inputs",
            "alert" if m["drifted"] else "pass",
            f"mean PCA reconstruction error {m['value']:.3f} against {m['reference']:.3f} on "
            f"the reference (tolerance {m['threshold']:.3f}, {m['n_components']} components)",
        )
    )
    s = drift["score"]
    out.append(
        _check(
            "score_drift",
            "calibrated score",
            "alert" if s["drifted"] else "pass",
            f"PSI {s['value']:.3f} against threshold "
            f"{'none (one bin)' if s['threshold'] is None else format(s['threshold'], '.3f')}; "
            "mean score "
            f"{_pct(s['mean_reference'])} -> {_pct(s['mean_current'])}; "
            f"{_pct(s['selection_rate_at_reference_threshold'])} of families now reach the "
            f"reference's capacity threshold ({_pct(s['selection_rate_reference'])} did)",
        )
    )
    return out


def _performance_checks(
    report: dict[str, Any], *, stats: ReferenceStats, config: MonitorConfig
) -> list[dict[str, str]]:
    perf = report["performance"]
    if perf.get("estimated") is None:  # served statistics: no probabilities, no outcomes
        return [
            _check(
                "performance",
                "estimated and realized performance",
                "not_evaluable",
                perf.get("not_applicable") or "no performance figures in this report",
            )
        ]
    out = []
    ref_auc = (stats.realized or {}).get("roc_auc", {}).get("value")
    est = perf["estimated"]["roc_auc"]
    if ref_auc is None or est["value"] is None:
        out.append(
            _check(
                "estimated_auc",
                "ROC AUC (label-free estimate)",
                "not_evaluable",
                "the reference has no realized AUC (no labels) or the estimate is undefined",
            )
        )
    else:
        low = ref_auc - config.auc_drop
        status = "alert" if est["value"] < low else "pass"
        out.append(
            _check(
                "estimated_auc",
                "ROC AUC (label-free estimate)",
                status,
                f"estimated {est['value']:.3f} as of {perf['estimated']['as_of']} against "
                f"{ref_auc:.3f} realized on the reference (alert below {low:.3f}); the "
                "estimate assumes the calibration still holds",
            )
        )
    # an in-sample date's realized figures are the model's own training outcomes
    closed = [r for r in perf["realized"] if r["label_window_closed"] and not r.get("in_sample")]
    if not closed:
        out.append(
            _check(
                "realized_performance",
                "realized performance",
                "not_evaluable",
                "no monitored out-of-sample as-of date has a closed label window yet",
            )
        )
        return out
    latest = closed[-1]
    real_auc = latest["realized"]["roc_auc"]["value"]
    if ref_auc is None or real_auc is None:
        out.append(
            _check(
                "realized_auc",
                f"ROC AUC realized as of {latest['as_of']}",
                "not_evaluable",
                "the reference has no realized AUC or the outcomes of that date are all one class",
            )
        )
    else:
        low = ref_auc - config.auc_drop
        out.append(
            _check(
                "realized_auc",
                f"ROC AUC realized as of {latest['as_of']}",
                "alert" if real_auc < low else "pass",
                f"realized {real_auc:.3f} against {ref_auc:.3f} on the reference "
                f"(alert below {low:.3f})",
            )
        )
    real_rate = latest["realized"]["positive_rate"]["value"]
    est_rate = latest["estimated"]["positive_rate"]
    if real_rate is not None and est_rate["value"]:
        relative = (real_rate - est_rate["value"]) / est_rate["value"]
        outside = not (est_rate["low"] <= real_rate <= est_rate["high"])
        breach = outside and abs(relative) > config.positive_rate_relative_change
        out.append(
            _check(
                "realized_positive_rate",
                f"recorded outcome rate as of {latest['as_of']}",
                "alert" if breach else "pass",
                f"{_pct(real_rate)} of families had a recorded outcome; the scores expected "
                f"{_pct(est_rate['value'])} ({_pct(est_rate['low'])}-{_pct(est_rate['high'])}), "
                f"a {relative:+.0%} difference: "
                + (
                    "outcomes are recorded differently than the model learned (concept shift)"
                    if breach
                    else (
                        "outside the expected interval, but within the tolerated change of "
                        f"{config.positive_rate_relative_change:.0%}: no alert"
                    )
                    if outside
                    else "within the expected interval"
                ),
            )
        )
    return out


def _fairness_checks(report: dict[str, Any], *, config: MonitorConfig) -> list[dict[str, str]]:
    points = report["fairness"]
    if not points or not points[-1]["groups"]:
        return [_check("fairness", "audit groups", "not_evaluable", "the data hold no audit group")]
    first, last = points[0], points[-1]
    if first["as_of"] == last["as_of"]:
        return [
            _check(
                "fairness",
                "selection rate per audit group",
                "not_evaluable",
                "a single as-of date: no earlier date to compare the group ratios with",
            )
        ]
    lower, upper = config.fairness_ratio_bounds
    changes = fairness_changes(first["groups"], last["groups"], config=config)
    if not changes:
        return [
            _check(
                "fairness",
                "selection rate per audit group",
                "pass",
                f"no group's selection-rate ratio to its reference group moved by a factor "
                f"outside {lower}-{upper} between {first['as_of']} and {last['as_of']} beyond "
                "the intervals",
            )
        ]
    return [
        _check(
            "fairness",
            f"{e['attribute']}={e['group']}",
            "alert",
            f"selection-rate ratio to {e['selection_rate_ratio']['reference_group']!r} went "
            f"from {e['ratio_then']['value']:.2f} ({e['ratio_then']['low']:.2f}-"
            f"{e['ratio_then']['high']:.2f}) on {first['as_of']} to "
            f"{e['selection_rate_ratio']['value']:.2f} ({e['selection_rate_ratio']['low']:.2f}-"
            f"{e['selection_rate_ratio']['high']:.2f}) on {last['as_of']}, a {e['change']:.2f}x "
            f"change (outside {lower}-{upper})",
        )
        for e in changes
    ]


def _decision_checks(report: dict[str, Any], *, config: MonitorConfig) -> list[dict[str, str]]:
    d = report["decisions"]
    if not d.get("available") or d.get("n_decisions", 0) < config.min_decisions:
        return [
            _check(
                "decisions",
                "caseworkers' decisions",
                "not_evaluable",
                f"{d.get('n_decisions', 0)} decisions on record (at least "
                f"{config.min_decisions} needed); {d.get('note', '')}".rstrip("; "),
            )
        ]
    rate = d["disagreement_rate"]
    return [
        _check(
            "decisions",
            "caseworkers' decisions",
            "alert" if disagreement_breach(d, config=config) else "pass",
            f"caseworkers disagreed with the algorithm-alone selection in {_pct(rate['value'])} "
            f"of {d['n_decisions']} decisions ({_pct(rate['low'])}-{_pct(rate['high'])}; "
            f"alert above {_pct(config.max_disagreement_rate)})",
        )
    ]


def build_checks(
    report: dict[str, Any], *, stats: ReferenceStats, config: MonitorConfig
) -> list[dict[str, str]]:
    """Every check of the report, in the report's order."""
    return [
        *_drift_checks(report),
        *_performance_checks(report, stats=stats, config=config),
        *_fairness_checks(report, config=config),
        *_decision_checks(report, config=config),
    ]
