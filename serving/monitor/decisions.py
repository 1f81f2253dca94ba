"""Caseworkers' decisions from ``/feedback``, beside what the algorithm alone would select.

Read from the audit log (read-only): every feedback entry joined to the score it answers
(its probability, risk level, family and as-of date); when a score got several decisions,
the latest counts. A decision *selects* the family for support when it is
``support_offered`` or ``override_higher``; the algorithm alone selects it when its
probability reaches the capacity threshold of the monitored date. Caseworkers disagree
with the score when the two differ. Only decisions on scores dated within the monitored
window are read.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from scipy.stats import norm

from serving.monitor.audit_source import AuditLogReadError, AuditSource, exists, read_frame
from serving.monitor.config import MonitorConfig
from training.performance_estimate import wilson_interval

SELECTING = ("support_offered", "override_higher")
DECISIONS = ("support_offered", "no_action", "override_higher", "override_lower")

_QUERY = """
SELECT s.score_id, s.family_id, s.as_of, s.probability, s.risk_level, s.model_version,
       f.decision, f.seq
FROM audit_entries AS f
JOIN audit_entries AS s ON s.kind = 'score' AND s.score_id = f.score_id
WHERE f.kind = 'feedback' AND s.as_of > ? AND s.as_of <= ?
"""


def read_decisions(path: AuditSource, *, after: str, until: str) -> pd.DataFrame:
    """Latest decision per score with the score's facts, for scores dated in (after, until]
    (a SQLite file or a PostgreSQL URL: :mod:`serving.monitor.audit_source`)."""
    frame = read_frame(path, _QUERY, (after, until))
    frame = frame.sort_values("seq").drop_duplicates("score_id", keep="last")
    return frame.reset_index(drop=True)


def _rate(successes: int, n: int, config: MonitorConfig) -> dict[str, float | None]:
    z = float(norm.ppf(0.5 + config.confidence_level / 2))
    return wilson_interval(float(successes), float(n), z).as_dict()


def summarize_decisions(
    decisions: pd.DataFrame,
    *,
    threshold: float,
    groups: pd.DataFrame | None,
    config: MonitorConfig,
) -> dict[str, Any]:
    """Decisions by risk level and audit group, disagreement and disparity (see module doc).

    ``groups``: one row per family (``family_id`` and ``audit_*`` columns) of the monitored
    date; decisions on families not in it count in the totals only.
    """
    n = len(decisions)
    if n == 0:
        return {"available": True, "n_decisions": 0, "note": "no /feedback decisions on record"}
    human = decisions["decision"].isin(SELECTING).to_numpy()
    algorithm = (decisions["probability"].astype(float) >= threshold).to_numpy()
    disagree = human != algorithm
    by_level = []
    for level, part in decisions.groupby("risk_level", sort=True):
        counts = part["decision"].value_counts()
        entry: dict[str, Any] = {
            "risk_level": str(level),
            "suppressed": len(part) < config.min_group_size,
        }
        if not entry["suppressed"]:
            entry["n"] = len(part)
            entry["decisions"] = {d: int(counts.get(d, 0)) for d in DECISIONS}
            entry["human_selection_rate"] = float(part["decision"].isin(SELECTING).mean())
        by_level.append(entry)
    out: dict[str, Any] = {
        "available": True,
        "n_decisions": n,
        "algorithm_threshold": threshold,
        "disagreement_rate": _rate(int(disagree.sum()), n, config),
        "human_selection_rate": _rate(int(human.sum()), n, config),
        "algorithm_selection_rate": _rate(int(algorithm.sum()), n, config),
        "by_risk_level": by_level,
        "by_group": [],
    }
    if groups is None or groups.empty:
        return out
    merged = decisions.assign(_human=human, _algorithm=algorithm).merge(
        groups, on="family_id", how="inner"
    )
    for column in [c for c in groups.columns if c.startswith("audit_")]:
        rows = []
        for group, part in merged.groupby(merged[column].astype("string").fillna("(missing)")):
            m = len(part)
            entry = {
                "attribute": column,
                "group": str(group),
                "suppressed": m < config.min_group_size,
            }
            if not entry["suppressed"]:
                entry["n"] = m
                entry["human_selection_rate"] = _rate(int(part["_human"].sum()), m, config)
                entry["algorithm_selection_rate"] = _rate(int(part["_algorithm"].sum()), m, config)
            rows.append(entry)
        kept = [r for r in rows if not r["suppressed"]]
        for kind in ("human", "algorithm"):
            rates = [r[f"{kind}_selection_rate"]["value"] for r in kept]
            rates = [r for r in rates if r is not None]
            ratio = (min(rates) / max(rates)) if rates and max(rates) > 0 else None
            out.setdefault("disparity", {}).setdefault(column, {})[f"{kind}_min_max_ratio"] = ratio
        out["by_group"].extend(rows)
    return out


def decisions_section(
    path: AuditSource | None,
    *,
    after: str,
    until: str,
    threshold: float,
    groups: pd.DataFrame | None,
    config: MonitorConfig,
) -> dict[str, Any]:
    """The report's ``decisions``: unavailable (with why) when there is no audit log."""
    if path is None or not exists(path):
        return {"available": False, "note": f"no audit log at {path}: no decisions to read"}
    decisions = read_decisions(path, after=after, until=until)
    return summarize_decisions(decisions, threshold=threshold, groups=groups, config=config)


def disagreement_breach(section: dict[str, Any], *, config: MonitorConfig) -> bool:
    """True when enough decisions disagree with the algorithm-alone selection too often."""
    if not section.get("available") or section.get("n_decisions", 0) < config.min_decisions:
        return False
    rate = section["disagreement_rate"]["value"]
    return rate is not None and rate > config.max_disagreement_rate


__all__ = ["AuditLogReadError", "decisions_section", "disagreement_breach", "summarize_decisions"]
