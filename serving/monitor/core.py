"""The monitoring computation: reference statistics + snapshots in, the report dict out.

Pure: no file, registry or network access (those are in :mod:`serving.monitor.run`), so
the tests and the benchmark call it on frames directly. ``snapshots`` maps each as-of date
(ISO string) to its feature table rows (model inputs, ``label``/``label_observed`` when
known, ``audit_*`` groups); the latest date is the one monitored, earlier ones are the
history whose estimates are compared with what was realized once their labels are in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from serving.monitor.alerts import build_checks
from serving.monitor.config import MonitorConfig
from serving.monitor.drift import feature_drift, multivariate_drift, score_drift
from serving.monitor.fairness import fairness_at
from serving.monitor.recalibration import MapSpread
from serving.monitor.transfer import CalibrationTransfer, auc_sampling_se, unavailable, widen
from training.metric_names import capacity_name
from training.performance_estimate import (
    PERFORMANCE_METRICS,
    as_dicts,
    estimate_performance,
    realized_performance,
)
from training.reference_stats import ReferenceStats
from training.risk_model import RiskModel

ASSUMPTION = (
    "The label-free estimate assumes the calibration checked on the reference still holds: "
    "that a family with a given score has the same chance of a recorded outcome as on the "
    "reference. A change in how outcomes are recorded (a concept shift) breaks it and shows "
    "only in performance.realized, once the labels arrive."
)


def labels_closed(frame: pd.DataFrame) -> bool:
    """True when every row's label window has closed (the label is known)."""
    if "label" not in frame.columns or "label_observed" not in frame.columns or frame.empty:
        return False
    return bool(frame["label_observed"].astype(bool).all() and frame["label"].notna().all())


def performance_at(
    frame: pd.DataFrame,
    probability: np.ndarray,
    *,
    stats: ReferenceStats,
    config: MonitorConfig,
    transfer: CalibrationTransfer | None = None,
    spread: MapSpread | None = None,
) -> dict[str, Any]:
    """Estimated (and, when the labels are in, realized) performance at one date; the ROC
    AUC interval widened by ``transfer``'s term (:mod:`serving.monitor.transfer`) and by the
    spread of the estimate over ``spread``'s resampled calibration maps
    (:mod:`serving.monitor.recalibration`) when given."""
    k = stats.capacity.k(len(frame))
    trusted = stats.calibration.apply(probability) if stats.calibration else probability
    estimated = estimate_performance(
        trusted, probability, k=k, confidence_level=config.confidence_level
    )
    map_se = spread.se(probability) if spread is not None else None
    if transfer is not None or map_se:
        _, se = auc_sampling_se(trusted, probability)
        estimated["roc_auc"] = widen(
            estimated["roc_auc"],
            se,
            transfer.extra_se if transfer is not None else 0.0,
            map_se or 0.0,
            confidence_level=config.confidence_level,
        )
    entry: dict[str, Any] = {
        "n_rows": len(frame),
        "capacity_k": k,
        "label_window_closed": labels_closed(frame),
        "calibration_map_se": map_se,
        "estimated": as_dicts(estimated),
        "realized": None,
        "estimate_error": None,
    }
    if entry["label_window_closed"]:
        y = frame["label"].to_numpy().astype(int)
        realized = realized_performance(
            y, probability, k=k, confidence_level=config.confidence_level
        )
        entry["realized"] = as_dicts(realized)
        entry["estimate_error"] = {
            m: _diff(estimated[m].value, realized[m].value) for m in PERFORMANCE_METRICS
        }
        entry["estimate_within_interval"] = {
            m: _within(realized[m].value, estimated[m].low, estimated[m].high)
            for m in PERFORMANCE_METRICS
        }
    return entry


def _diff(a: float, b: float) -> float | None:
    d = a - b
    return float(d) if np.isfinite(d) else None


def _within(value: float, low: float, high: float) -> bool | None:
    if not (np.isfinite(value) and np.isfinite(low) and np.isfinite(high)):
        return None
    return bool(low <= value <= high)


def monitor(
    stats: ReferenceStats,
    model: RiskModel,
    snapshots: Mapping[str, pd.DataFrame],
    *,
    config: MonitorConfig,
    decisions: dict[str, Any] | None = None,
    fairness_history: bool = True,
    trained_through: str | None = None,
    transfer: CalibrationTransfer | None = None,
    transfer_note: str | None = None,
    spread: MapSpread | None = None,
) -> dict[str, Any]:
    """The body of ``monitor_report.json`` (without the run's metadata, added by the caller).

    ``trained_through``: the latest as-of date the model's fit or calibration used (its
    ``data_through`` tag less the horizon). An as-of date on or before it is **in-sample**:
    its realized figures are the model's own training data, so the entry is marked
    ``in_sample``, its estimate error is moved to ``estimate_error_in_sample`` and left out
    of the estimator's error summary and of the realized-performance checks.

    ``transfer``: the calibration's leave-one-quarter-out transfer error within the labelled
    year (:func:`serving.monitor.transfer.calibration_transfer`), which widens the ROC AUC
    interval; without it ``transfer_note`` says why (the report's
    ``performance.calibration_transfer``).

    ``spread``: the calibration map refitted on resamples of the labelled year
    (:func:`serving.monitor.recalibration.map_spread`); the estimate's spread over them
    widens the ROC AUC interval too (the report's ``performance.calibration_map_spread``).

    ``decisions``: the section built by :mod:`serving.monitor.decisions` (needs the capacity
    threshold of the monitored date, see :func:`capacity_threshold`).
    """
    if not snapshots:
        raise ValueError("no snapshot to monitor")
    if list(model.feature_names) != stats.feature_names:
        raise ValueError(
            "the model's inputs differ from the reference statistics' indicators: "
            f"{len(model.feature_names)} vs {len(stats.feature_names)}; the statistics belong "
            "to another model"
        )
    dates = sorted(snapshots)
    as_of = dates[-1]
    current = snapshots[as_of]
    if current.empty:
        raise ValueError(f"no family to monitor as of {as_of}")
    matrix = model.feature_matrix(current)
    probability = model.predict_proba(current)
    k = stats.capacity.k(len(current))
    groups = [c for c in current.columns if c.startswith("audit_")]

    history = []
    fairness = []
    for day in dates:
        frame = snapshots[day]
        if frame.empty:
            continue
        p = probability if day == as_of else model.predict_proba(frame)
        entry = {
            "as_of": day,
            **performance_at(
                frame, p, stats=stats, config=config, transfer=transfer, spread=spread
            ),
        }
        entry["in_sample"] = trained_through is not None and day <= trained_through
        if entry["in_sample"] and entry["estimate_error"] is not None:
            entry["estimate_error_in_sample"] = entry.pop("estimate_error")
            entry["estimate_error"] = None
        history.append(entry)
        if fairness_history or day == as_of:
            k_day = stats.capacity.k(len(frame))
            fairness.append(
                {
                    "as_of": day,
                    "groups": fairness_at(frame, p, groups=groups, k=k_day, config=config),
                }
            )
    now = history[-1]
    report: dict[str, Any] = {
        "as_of": as_of,
        "n_families": len(current),
        "reference": {
            "source": stats.source,
            "rows": stats.rows,
            "as_of": stats.as_of,
            "n_rows": stats.n_rows,
            "capacity": stats.capacity.describe(),
            "capacity_name": capacity_name(stats.capacity),  # in metric names: 5pct, top200
        },
        "drift": {
            "features": feature_drift(stats.features, matrix, config=config),
            "multivariate": multivariate_drift(
                stats.multivariate, matrix, n_reference=stats.n_rows, config=config
            ),
            "score": score_drift(stats, probability, k=k, config=config),
        },
        "performance": {
            "assumption": ASSUMPTION,
            "calibration_check": stats.calibration.model_dump(
                exclude={"x_thresholds", "y_thresholds"}
            )
            if stats.calibration
            else None,
            "calibration_transfer": transfer.describe()
            if transfer is not None
            else unavailable(transfer_note or "not measured (no labelled year was read)"),
            "calibration_map_spread": {
                **spread.describe(),
                "se_at_as_of": now["calibration_map_se"],
            }
            if spread is not None
            else {"available": False, "note": "not measured (no labelled year was read)"},
            "reference_realized": stats.realized,
            "estimator_error_on_reference": stats.estimator_error,
            "estimated": {"as_of": as_of, **now["estimated"]},
            "model_trained_through": trained_through,
            "estimator_error": estimator_error_summary(history),
            "realized": [
                {
                    "as_of": h["as_of"],
                    "in_sample": h["in_sample"],
                    "estimate_error_in_sample": h.get("estimate_error_in_sample"),
                    "label_window_closed": h["label_window_closed"],
                    "realized": h["realized"],
                    "estimated": h["estimated"],
                    "estimate_error": h["estimate_error"],
                    "estimate_within_interval": h.get("estimate_within_interval"),
                }
                for h in history
            ],
        },
        "fairness": fairness,
        "decisions": decisions
        if decisions is not None
        else {"available": False, "note": "decisions were not read"},
    }
    checks = build_checks(report, stats=stats, config=config)
    report["checks"] = checks
    report["alerts"] = [
        {"check": c["check"], "subject": c["subject"], "evidence": c["evidence"]}
        for c in checks
        if c["status"] == "alert"
    ]
    return report


def estimator_error_summary(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean error and interval coverage of the ROC AUC estimate over the out-of-sample dates
    whose labels are in (in-sample dates are listed apart, never averaged in)."""
    scored = [
        h
        for h in history
        if h["label_window_closed"] and not h["in_sample"] and h.get("estimate_error")
    ]
    errors = [h["estimate_error"]["roc_auc"] for h in scored]
    errors = [e for e in errors if e is not None]
    covered = [h.get("estimate_within_interval", {}).get("roc_auc") for h in scored]
    covered = [c for c in covered if c is not None]
    return {
        "metric": "roc_auc",
        "out_of_sample_dates": [h["as_of"] for h in scored],
        "in_sample_dates": [h["as_of"] for h in history if h["in_sample"]],
        "mean_error": float(np.mean(errors)) if errors else None,
        "mean_absolute_error": float(np.mean(np.abs(errors))) if errors else None,
        "interval_coverage": float(np.mean(covered)) if covered else None,
    }


def capacity_threshold(model: RiskModel, frame: pd.DataFrame, stats: ReferenceStats) -> float:
    """The probability at which the algorithm alone reaches capacity on ``frame``."""
    p = model.predict_proba(frame)
    k = stats.capacity.k(len(frame))
    return float(np.sort(p)[::-1][k - 1])
