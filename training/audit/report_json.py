"""The JSON audit report: plain, versioned, documented in ``docs/audit_report_schema.md``.

Building the dictionary (:func:`build_report`) is pure; :func:`write_json_report` is the thin
file adapter. NaN and suppressed numbers become ``null``; a suppressed group keeps its label
and ``"suppressed": true`` and nothing else, so no number of a small group leaks.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.private_files import write_private_text
from training.audit.metrics import SCORE_METRICS
from training.audit.summary import summarize
from training.outcome import count_outcomes, sort_checks

if TYPE_CHECKING:
    from training.audit.gates import GateOutcome
    from training.audit.result import AuditResult

SCHEMA_NAME = "earlyrisk.audit_report"
SCHEMA_VERSION = 1
COUNT_FIELDS = ("n", "n_selected", "n_positive", "tp", "fp", "fn", "tn")


def _clean(value: Any) -> Any:
    """JSON-safe scalar: NaN/NA -> None, numpy -> Python."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _group_entry(row: pd.Series, intervals: pd.DataFrame, result: AuditResult) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "group": row["group"],
        "suppressed": bool(row["suppressed"]),
        "is_reference": bool(row["is_reference"]),
    }
    if row["suppressed"]:
        return entry
    entry["counts"] = {f: _clean(row[f]) for f in COUNT_FIELDS if f in row.index}
    rates: dict[str, Any] = {}
    for metric in result.metrics:
        found = intervals[intervals["metric"] == metric]
        lower = found["lower"].iloc[0] if not found.empty else float("nan")
        upper = found["upper"].iloc[0] if not found.empty else float("nan")
        rates[metric] = {
            "estimate": _clean(row[metric]),
            "lower": _clean(lower),
            "upper": _clean(upper),
        }
    entry["rates"] = rates
    entry["score_metrics"] = {m: _clean(row[m]) for m in SCORE_METRICS if m in row.index}
    return entry


def _grouping_entries(result: AuditResult) -> list[dict[str, Any]]:
    entries = []
    intervals = result.intervals
    for meta in result.groupings.itertuples(index=False):
        rows = result.by_group[result.by_group["attribute"] == meta.attribute]
        own = intervals[intervals["attribute"] == meta.attribute]
        entries.append(
            {
                "name": meta.attribute,
                "kind": meta.kind,
                "reference": meta.reference,
                "n_groups": int(meta.n_groups),
                "n_suppressed": int(meta.n_suppressed),
                "groups": [
                    _group_entry(row, own[own["group"] == row["group"]], result)
                    for _, row in rows.iterrows()
                ],
            }
        )
    return entries


def build_report(
    result: AuditResult,
    *,
    gate_outcomes: list[GateOutcome] | None = None,
    source: str | None = None,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """The whole report as a JSON-ready dictionary (see the schema document)."""
    overall_row = result.overall.iloc[0]
    overall = _group_entry(
        overall_row, result.intervals[result.intervals["attribute"] == "(all)"], result
    )
    report: dict[str, Any] = {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "generated_at": (generated_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "source": source,
        "config": {
            "score": result.score,
            "label": result.label,
            "label_free": result.label_free,
            "attributes": list(result.attributes),
            "rule": {**result.rule.to_dict(), "description": result.rule.describe()},
            "n_boot": result.n_boot,
            "seed": result.seed,
            "confidence_level": result.confidence_level,
            "min_group_size": result.min_group_size,
            "n_bins": result.n_bins,
            "intersections": bool(result.settings.get("intersections", True)),
            "scores_are_probabilities": result.scores_are_probabilities,
            "p_value_method": "two_proportion_z_pooled_holm",
        },
        "population": {
            "n_rows": result.n_rows,
            "n_selected": result.n_selected,
            "ties_at_cutoff": result.settings.get("ties_at_cutoff"),
        },
        "overall": {k: v for k, v in overall.items() if k not in ("group", "is_reference")},
        "groupings": _grouping_entries(result),
        "disparities": _records(result.disparities),
        "reliability": _records(result.reliability),
        "score_distribution": {
            "summary": _records(result.score_summary),
            "histogram": _records(result.score_histogram),
        },
        "proxies": None if result.proxies is None else _records(result.proxies),
        "recall_parity": None if result.recall_parity is None else _records(result.recall_parity),
        "summary": summarize(result),
        "gates": None,
    }
    if gate_outcomes is not None:
        checks = sort_checks(gate_outcomes)
        counts = count_outcomes(checks)
        report["gates"] = {
            "passed": all(o.passed for o in gate_outcomes),
            "counts": {outcome.value: n for outcome, n in counts.items()},
            "waivers": sorted({o.waiver for o in checks if o.waiver}),
            # failed first, then inconclusive, then passed; each with its outcome
            "outcomes": [
                {**o.model_dump(mode="json"), "outcome": o.outcome.value, "blocks": o.blocks}
                for o in checks
            ],
        }
    return report


def write_json_report(report: dict[str, Any], path: str | Path) -> Path:
    """Write the report dictionary as UTF-8 JSON (``allow_nan=False`` proves it is clean)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_private_text(
        target, json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )
    return target
