"""`earlyrisk shadow-report`: the shadow beside the champion, on the traffic they both scored.

Read from the audit log (read-only; a SQLite file or PostgreSQL): every ``shadow`` entry
joined to the champion's ``score`` entry it shadows (``shadow:<score_id>``). A family
scored several times counts once per snapshot date and version pair (its latest pair), so
a family looked up often does not weigh more. For each pair of versions the report gives:

* the rank correlation of the two probabilities (Spearman, with a Fisher-z interval, and
  Kendall's tau): would the shadow put the families in the same order?
* band agreement (the share with the same level, Wilson interval, Cohen's kappa, the 3x3
  table of levels): would caseworkers see the same level?
* who would enter and who would leave the high band (the families caseworkers reach) if
  the shadow were served, as counts and shares with intervals;
* the same by audit group (the snapshot's ``audit_*`` columns, as the monitor reads them;
  groups smaller than ``min_group_size`` are suppressed): does the change fall on one group?

The shadow is compared, never judged here: its own gates run at `earlyrisk model promote`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, norm, spearmanr

from features.errors import EarlyriskError
from serving.monitor.audit_source import (
    AuditLogReadError,
    AuditSource,
    describe,
    exists,
    read_frame,
)
from training.performance_estimate import wilson_interval

LEVELS = ("low", "elevated", "high")
REPORT_JSON = "shadow_report.json"
REPORT_HTML = "shadow_report.html"

_QUERY = """
SELECT s.seq, s.score_id, s.family_id, s.as_of, s.recorded_at,
       s.model_version AS champion_version, s.probability AS champion_probability,
       s.risk_level AS champion_level,
       h.model_version AS shadow_version, h.probability AS shadow_probability,
       h.risk_level AS shadow_level, h.detail AS shadow_detail
FROM audit_entries AS h
JOIN audit_entries AS s ON s.kind = 'score' AND s.score_id = substr(h.score_id, 8)
WHERE h.kind = 'shadow'
"""


class ShadowReportError(EarlyriskError, ValueError):
    """The report cannot be made from this input (the message says what to change)."""


def read_pairs(
    source: AuditSource, *, since: str | None = None, until: str | None = None
) -> pd.DataFrame:
    """Champion and shadow scores of the same requests, recorded in [since, until] (days).

    ``source``: the SQLite file or the PostgreSQL URL of the log
    (:mod:`serving.monitor.audit_source`)."""
    if not exists(source):
        raise ShadowReportError(f"no audit log at {describe(source)}")
    try:
        frame = read_frame(source, _QUERY)
    except AuditLogReadError as exc:
        raise ShadowReportError(str(exc)) from exc
    day = frame["recorded_at"].str[:10]
    if since is not None:
        frame = frame.loc[day >= since]
    if until is not None:
        frame = frame.loc[day <= until]
    frame = frame.assign(
        shadow_name=[json.loads(d).get("model") if d else None for d in frame["shadow_detail"]]
    ).drop(columns="shadow_detail")
    families = frame["family_id"].notna()
    # one pair per family, snapshot date and version pair: its latest
    latest = (
        frame.loc[families]
        .sort_values("seq")
        .drop_duplicates(["family_id", "as_of", "champion_version", "shadow_version"], keep="last")
    )
    return pd.concat([latest, frame.loc[~families]]).sort_values("seq").reset_index(drop=True)


def _z(confidence: float) -> float:
    return float(norm.ppf(0.5 + confidence / 2))


def _rate(successes: int, n: int, confidence: float) -> dict[str, float | None]:
    return wilson_interval(float(successes), float(n), _z(confidence)).as_dict()


def _rank(a: np.ndarray, b: np.ndarray, confidence: float) -> dict[str, Any]:
    """Spearman's rho with a Fisher-z interval (se 1.06 / sqrt(n - 3)), Kendall's tau."""
    n = len(a)
    if n < 4 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return {"spearman": None, "low": None, "high": None, "kendall": None}
    rho = float(spearmanr(a, b).statistic)
    tau = float(kendalltau(a, b).statistic)
    clipped = min(max(rho, -0.999999), 0.999999)
    half = _z(confidence) * math.sqrt(1.06 / (n - 3))
    centre = math.atanh(clipped)
    return {
        "spearman": rho,
        "low": math.tanh(centre - half),
        "high": math.tanh(centre + half),
        "kendall": tau,
    }


def _kappa(a: pd.Series, b: pd.Series) -> float | None:
    """Cohen's kappa of two level columns (None when chance agreement is total)."""
    n = len(a)
    if n == 0:
        return None
    observed = float((a == b).mean())
    expected = sum(float((a == lv).mean()) * float((b == lv).mean()) for lv in LEVELS)
    return None if expected >= 1 else (observed - expected) / (1 - expected)


def compare(part: pd.DataFrame, confidence: float) -> dict[str, Any]:
    """The comparison figures of one set of pairs (see the module doc)."""
    n = len(part)
    champion_high = (part["champion_level"] == "high").to_numpy()
    shadow_high = (part["shadow_level"] == "high").to_numpy()
    enter = shadow_high & ~champion_high
    leave = champion_high & ~shadow_high
    agree = (part["champion_level"] == part["shadow_level"]).to_numpy()
    return {
        "n": n,
        "rank_correlation": _rank(
            part["champion_probability"].to_numpy(float),
            part["shadow_probability"].to_numpy(float),
            confidence,
        ),
        "band_agreement": _rate(int(agree.sum()), n, confidence),
        "kappa": _kappa(part["champion_level"], part["shadow_level"]),
        "champion_high_rate": _rate(int(champion_high.sum()), n, confidence),
        "shadow_high_rate": _rate(int(shadow_high.sum()), n, confidence),
        "entering_high": {"count": int(enter.sum()), **_rate(int(enter.sum()), n, confidence)},
        "leaving_high": {"count": int(leave.sum()), **_rate(int(leave.sum()), n, confidence)},
    }


def level_table(part: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows: champion level; columns: shadow level; cells: counts."""
    return [
        {
            "champion_level": c,
            **{
                s: int(((part.champion_level == c) & (part.shadow_level == s)).sum())
                for s in LEVELS
            },
        }
        for c in LEVELS
    ]


def audit_groups(snapshot: Path | str | None) -> pd.DataFrame | None:
    """``family_id``, ``as_of`` (ISO) and the ``audit_*`` columns of a feature snapshot."""
    if snapshot is None:
        return None
    import pyarrow.parquet as pq

    path = Path(snapshot)
    if not path.exists():
        raise ShadowReportError(f"no feature snapshot at {path} (for the audit groups)")
    names = pq.read_schema(path).names
    columns = ["family_id", "as_of", *[c for c in names if c.startswith("audit_")]]
    frame = pd.read_parquet(path, columns=columns)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.strftime("%Y-%m-%d")
    return frame


def by_group(
    pairs: pd.DataFrame, groups: pd.DataFrame | None, *, min_group_size: int, confidence: float
) -> list[dict[str, Any]]:
    """:func:`compare` per audit group (suppressed under ``min_group_size``)."""
    if groups is None or pairs.empty:
        return []
    merged = pairs.merge(groups, on=["family_id", "as_of"], how="inner")
    rows: list[dict[str, Any]] = []
    for column in [c for c in groups.columns if c.startswith("audit_")]:
        for group, part in merged.groupby(merged[column].astype("string").fillna("(missing)")):
            entry: dict[str, Any] = {"attribute": column, "group": str(group)}
            if len(part) < min_group_size:
                rows.append({**entry, "suppressed": True})
                continue
            rows.append({**entry, "suppressed": False, **compare(part, confidence)})
    return rows


def shadow_report(
    pairs: pd.DataFrame,
    groups: pd.DataFrame | None,
    *,
    min_group_size: int = 11,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The report (JSON-ready) of every champion/shadow version pair in ``pairs``."""
    if pairs.empty:
        raise ShadowReportError(
            "the audit log holds no shadow entries in this period: start the service with "
            "`earlyrisk serve --shadow models:/NAME/VERSION` and let it serve traffic"
        )
    comparisons = []
    keys = ["champion_version", "shadow_name", "shadow_version"]
    for (champion, name, shadow), part in pairs.groupby(keys, sort=True, dropna=False):
        comparisons.append(
            {
                "champion_version": str(champion),
                "shadow_model": None if pd.isna(name) else str(name),
                "shadow_version": str(shadow),
                "first_recorded_at": str(part["recorded_at"].min()),
                "last_recorded_at": str(part["recorded_at"].max()),
                **compare(part, confidence),
                "levels": level_table(part),
                "by_group": by_group(
                    part, groups, min_group_size=min_group_size, confidence=confidence
                ),
                "_points": part[["champion_probability", "shadow_probability"]]
                .to_numpy(float)
                .tolist(),
            }
        )
    return {
        "format": "earlyrisk.shadow_report",
        "format_version": 1,
        "confidence_level": confidence,
        "min_group_size": min_group_size,
        "groups_available": groups is not None,
        "comparisons": comparisons,
    }


__all__ = [
    "REPORT_HTML",
    "REPORT_JSON",
    "ShadowReportError",
    "audit_groups",
    "compare",
    "read_pairs",
    "shadow_report",
]
