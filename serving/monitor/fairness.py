"""Fairness over time: selection rate and mean score per audit group at each as-of date.

Reuses the fairness audit of :mod:`training.audit` without labels (selection rates at
capacity, their bootstrap intervals, ratios to the reference group with Holm-adjusted
tests, small-cell suppression), so the monitor and the training gate read groups the same
way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from serving.monitor.config import MonitorConfig
from training.audit import TopK, audit


def _number(value: object) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)  # type: ignore[arg-type]


def fairness_at(
    frame: pd.DataFrame,
    probability: np.ndarray,
    *,
    groups: Sequence[str],
    k: int,
    config: MonitorConfig,
) -> list[dict[str, Any]]:
    """One entry per (attribute, group): selection rate and mean score with intervals,
    the selection-rate ratio to the reference group, and ``suppressed``."""
    if not groups:
        return []
    data = frame[list(groups)].assign(probability=np.asarray(probability, dtype=float))
    result = audit(
        data,
        score="probability",
        groups=list(groups),
        rule=TopK(k),
        n_boot=config.n_boot,
        seed=config.seed,
        confidence_level=config.confidence_level,
        min_group_size=config.min_group_size,
        intersections=False,
    )
    z = float(norm.ppf(0.5 + config.confidence_level / 2.0))
    intervals = result.intervals.set_index(["attribute", "group", "metric"])
    disparities = result.disparities.set_index(["attribute", "group", "metric"])
    summary = result.score_summary.set_index(["attribute", "group"])
    out = []
    for row in result.by_group.itertuples(index=False):
        key = (row.attribute, row.group)
        entry: dict[str, Any] = {
            "attribute": row.attribute,
            "group": row.group,
            "suppressed": bool(row.suppressed),
            "is_reference": bool(row.is_reference),
        }
        if row.suppressed:
            out.append(entry)
            continue
        iv = (
            intervals.loc[(*key, "selection_rate")]
            if (*key, "selection_rate") in intervals.index
            else None
        )
        entry["n"] = int(row.n)
        entry["selection_rate"] = {
            "value": _number(row.selection_rate),
            "low": _number(iv["lower"]) if iv is not None else None,
            "high": _number(iv["upper"]) if iv is not None else None,
        }
        if key in summary.index:
            mean, sd = float(summary.loc[key, "mean"]), float(summary.loc[key, "std"])
            half = z * sd / np.sqrt(row.n) if np.isfinite(sd) else float("nan")
            entry["mean_score"] = {
                "value": mean,
                "low": _number(max(0.0, mean - half)),
                "high": _number(min(1.0, mean + half)),
            }
        dkey = (*key, "selection_rate")
        if dkey in disparities.index:
            d = disparities.loc[dkey]
            entry["selection_rate_ratio"] = {
                "reference_group": str(d["reference"]),
                "value": _number(d["ratio"]),
                "low": _number(d["ratio_lower"]),
                "high": _number(d["ratio_upper"]),
                "p_value_holm": _number(d["p_value_holm"]),
            }
        out.append(entry)
    return out


def fairness_changes(
    first: list[dict[str, Any]], last: list[dict[str, Any]], *, config: MonitorConfig
) -> list[dict[str, Any]]:
    """Groups whose selection-rate ratio to the reference group moved between two dates.

    A standing disparity is the training audit's business (its gates); the monitor asks
    whether it *changed*: the ratio now over the ratio then is outside
    ``fairness_ratio_bounds`` and the two dates' intervals do not overlap (so a change
    inside the noise of either estimate is no evidence).
    """
    lower, upper = config.fairness_ratio_bounds

    def enough(e: dict[str, Any]) -> bool:
        rate = (e.get("selection_rate") or {}).get("value")
        return rate is not None and rate * e["n"] >= config.min_selected_for_change

    before = {
        (e["attribute"], e["group"]): e["selection_rate_ratio"]
        for e in first
        if not e["suppressed"] and e.get("selection_rate_ratio") and enough(e)
    }
    out = []
    for e in last:
        ratio = e.get("selection_rate_ratio")
        then = before.get((e["attribute"], e["group"]))
        if e["suppressed"] or not ratio or not then or not enough(e):
            continue
        values = (
            ratio["value"],
            ratio["low"],
            ratio["high"],
            then["value"],
            then["low"],
            then["high"],
        )
        if any(v is None for v in values) or not then["value"]:
            continue
        change = ratio["value"] / then["value"]
        apart = ratio["low"] > then["high"] or ratio["high"] < then["low"]
        if (change < lower or change > upper) and apart:
            out.append({**e, "ratio_then": then, "change": change})
    return out
