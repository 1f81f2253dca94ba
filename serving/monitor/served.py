"""``earlyrisk monitor --served-stats``: the drift, score and fairness parts of the report on
what the service scored (:mod:`serving.store.served_stats`), not on a snapshot.

The service keeps counts in the reference's own bins, so the drift tests are the same as on
a snapshot. What cannot be computed from counts is said, never passed:

* ``performance``: the label-free estimate needs each row's probability and the realized
  figures need outcomes; neither is in the served statistics, so both are ``null`` with the
  reason, and the check is ``not_evaluable`` (``--strict`` exits 4);
* ``decisions``: read from the audit log by the snapshot mode (they need each family's
  audit group), not here.

What was served is whom caseworkers asked about, not necessarily the whole population: a
drift here may be a change in who is asked as well as in the families. Selection "at
capacity" is the share of served rows at or above the reference's capacity threshold.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import norm

from features.errors import EarlyriskError
from serving.monitor.alerts import build_checks
from serving.monitor.config import MonitorConfig
from serving.monitor.drift import (
    STATISTIC,
    _bins_used,
    feature_drift_from_counts,
    multivariate_drift_from_mean,
    psi,
    psi_threshold,
)
from serving.store.served_stats import FORMAT
from training.performance_estimate import wilson_interval
from training.reference_stats import ReferenceStats

NOT_APPLICABLE = (
    "Served statistics hold counts in the reference's bins, not each row's probability or "
    "outcome: the label-free estimate and the realized performance cannot be computed from "
    "them. Run `earlyrisk monitor --raw DIR --as-of DATE` on a snapshot for performance."
)
DECISIONS_NOTE = (
    "not read in --served-stats mode (decisions by audit group need the snapshot's groups); "
    "run `earlyrisk monitor --raw` for the decisions section"
)
SERVED_CAVEAT = (
    "Statistics of the rows the service scored between the dates: the families caseworkers "
    "asked about (a family scored twice counts twice), not necessarily the whole population, "
    "so a drift may also be a change in who is asked."
)


class ServedStatsSourceError(EarlyriskError, ValueError):
    """The served statistics cannot be read or used (the message says why)."""


def read_served_stats(
    source: str,
    *,
    since: dt.date,
    until: dt.date,
    as_of: dt.date | None = None,
    token: str | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """The served-statistics document from a service URL (``POST /served_stats`` with an
    auditor token) or from a file (what the endpoint answered, saved)."""
    if source.startswith(("http://", "https://")):
        import httpx

        if not token:
            raise ServedStatsSourceError(
                "reading served statistics from a service needs an auditor token "
                "(--token or EARLYRISK_TOKEN)"
            )
        url = source.rstrip("/")
        if not url.endswith("/served_stats"):
            url += "/served_stats"
        body: dict[str, Any] = {"since": since.isoformat(), "until": until.isoformat()}
        if as_of is not None:
            body["as_of"] = as_of.isoformat()
        try:
            response = httpx.post(
                url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise ServedStatsSourceError(f"cannot reach {url}: {exc}") from exc
        if response.status_code != 200:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise ServedStatsSourceError(
                f"{url} refused the request ({response.status_code}): {message}"
            )
        document = response.json()
    else:
        path = Path(source)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ServedStatsSourceError(f"cannot read served statistics {path}: {exc}") from exc
        document = _filter(document, since=since, until=until, as_of=as_of)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ServedStatsSourceError(f"{source} is not a served-statistics document ({FORMAT})")
    return document


def _filter(
    document: Any, *, since: dt.date, until: dt.date, as_of: dt.date | None
) -> dict[str, Any]:
    """A saved document's periods that fall within the dates (whole months kept)."""
    if not isinstance(document, dict) or not isinstance(document.get("periods"), list):
        return document
    keep = [
        p
        for p in document["periods"]
        if p["last_day"] >= since.isoformat()
        and p["first_day"] <= until.isoformat()
        and (as_of is None or p["snapshot_as_of"] == as_of.isoformat())
    ]
    return {**document, "periods": keep}


def choose_version(document: dict[str, Any], *, model: str | None) -> tuple[str, str]:
    """(name, version) to monitor: the one ``--model models:/NAME/VERSION`` names, else the
    one served most recently in the document."""
    periods = document["periods"]
    if document.get("recording") is False:
        raise ServedStatsSourceError(f"the service keeps no served statistics: {document['note']}")
    if not periods:
        raise ServedStatsSourceError(
            f"no served statistics from {document.get('since')} to {document.get('until')} "
            "(nothing scored, or the service keeps none: see its log)"
        )
    served = {(p["model_name"], p["model_version"]) for p in periods}
    if model:
        parts = model.removeprefix("models:/").split("/")
        if len(parts) == 2 and (parts[0], parts[1]) in served:
            return parts[0], parts[1]
        raise ServedStatsSourceError(
            f"--model {model} did not serve in these statistics (served: "
            f"{', '.join(sorted(f'{n}/{v}' for n, v in served))}); give models:/NAME/VERSION"
        )
    latest = max(periods, key=lambda p: (p["last_day"], p["model_version"]))
    return str(latest["model_name"]), str(latest["model_version"])


def _dense(sparse: dict[str, Any], size: int, what: str) -> np.ndarray:
    out = np.zeros(size)
    for index, count in sparse.items():
        i = int(index)
        if not 0 <= i < size:
            raise ServedStatsSourceError(
                f"{what} bin {i} is outside the reference's {size} bins: the statistics were "
                "kept with another reference"
            )
        out[i] += float(count)
    return out


def _fairness_point(
    period_groups: dict[str, dict[str, Any]], *, config: MonitorConfig
) -> list[dict[str, Any]]:
    """Selection rate and mean score per audit group, from counts (see module docstring)."""
    z = float(norm.ppf(0.5 + config.confidence_level / 2.0))
    out: list[dict[str, Any]] = []
    for attribute, cells in sorted(period_groups.items()):
        shown = {
            g: c for g, c in cells.items() if c is not None and c["n"] >= config.min_group_size
        }
        reference = max(shown, key=lambda g: (shown[g]["n"], g)) if shown else None
        for group, cell in sorted(cells.items()):
            entry: dict[str, Any] = {
                "attribute": attribute,
                "group": group,
                "suppressed": group not in shown,
                "is_reference": group == reference,
            }
            if group not in shown:
                out.append(entry)
                continue
            n, sel = cell["n"], cell["selected"]
            rate = wilson_interval(sel, n, z)
            mean = cell["score_sum"] / n
            var = max(cell["score_sumsq"] / n - mean * mean, 0.0)
            half = z * np.sqrt(var / n)
            entry |= {
                "n": int(n),
                "selection_rate": {"value": rate.value, "low": rate.low, "high": rate.high},
                "mean_score": {
                    "value": mean,
                    "low": max(0.0, mean - half),
                    "high": min(1.0, mean + half),
                },
            }
            assert reference is not None
            ref = shown[reference]
            if sel > 0 and ref["selected"] > 0:
                ratio = (sel / n) / (ref["selected"] / ref["n"])
                se = np.sqrt(
                    (1 - sel / n) / sel + (1 - ref["selected"] / ref["n"]) / ref["selected"]
                )
                entry["selection_rate_ratio"] = {
                    "reference_group": reference,
                    "value": float(ratio),
                    "low": float(ratio * np.exp(-z * se)),
                    "high": float(ratio * np.exp(z * se)),
                    "p_value_holm": None,
                }
            out.append(entry)
    return out


def monitor_served(
    stats: ReferenceStats,
    document: dict[str, Any],
    *,
    name: str,
    version: str,
    config: MonitorConfig,
) -> dict[str, Any]:
    """The body of ``monitor_report.json`` on served statistics of one model version."""
    periods = [
        p for p in document["periods"] if (p["model_name"], p["model_version"]) == (name, version)
    ]
    if not periods:
        raise ServedStatsSourceError(f"no served statistics of {name}/{version}")
    unknown = sorted({f for p in periods for f in p["features"]} - set(stats.feature_names))
    if unknown:
        raise ServedStatsSourceError(
            f"the served statistics count indicator(s) {', '.join(unknown[:5])} that the "
            f"reference of {name}/{version} does not have: they belong to another model"
        )
    n = float(sum(p["n"] for p in periods))
    if n <= 0:
        raise ServedStatsSourceError(f"{name}/{version} scored no row in these statistics")
    counts = [
        sum(
            (_dense(p["features"].get(f.name, {}), len(f.counts), f.name) for p in periods),
            start=np.zeros(len(f.counts)),
        )
        for f in stats.features
    ]
    features = feature_drift_from_counts(stats.features, counts, config=config)
    pca_mean = sum(p["pca_error_sum"] for p in periods) / n
    multivariate = multivariate_drift_from_mean(
        stats.multivariate, pca_mean, n_current=int(n), n_reference=stats.n_rows, config=config
    )
    ref_score = np.asarray(stats.score.counts, dtype=float)
    cur_score = sum(
        (_dense(p["score"], ref_score.size, "score") for p in periods),
        start=np.zeros(ref_score.size),
    )
    value = psi(ref_score, cur_score)
    threshold = psi_threshold(stats.n_rows, int(n), _bins_used(ref_score, cur_score), config=config)
    score = {
        "statistic": STATISTIC,
        "value": value,
        "threshold": threshold if np.isfinite(threshold) else None,
        "drifted": bool(value > threshold),
        "mean_reference": stats.score.mean,
        "mean_current": sum(p["score_sum"] for p in periods) / n,
        "capacity_k": None,
        "threshold_at_capacity_reference": stats.score.threshold_at_capacity,
        "threshold_at_capacity_current": None,
        "selection_rate_reference": stats.score.k / stats.n_rows,
        "selection_rate_at_reference_threshold": sum(p["selected"] for p in periods) / n,
    }
    months = sorted({p["month"] for p in periods})
    fairness = []
    for month in months:
        merged: dict[str, dict[str, dict[str, float] | None]] = {}
        for p in (p for p in periods if p["month"] == month):
            for attribute, cells in p["groups"].items():
                into = merged.setdefault(attribute, {})
                for group, cell in cells.items():
                    if cell is None or (group in into and into[group] is None):
                        into[group] = None  # suppressed in one part: suppressed in the sum
                        continue
                    have = into.get(group) or dict.fromkeys(cell, 0.0)
                    into[group] = {m: have[m] + float(cell[m]) for m in cell}
        fairness.append({"as_of": month, "groups": _fairness_point(merged, config=config)})
    report: dict[str, Any] = {
        "as_of": max(p["last_day"] for p in periods),
        "n_families": int(n),
        "served": {
            "caveat": SERVED_CAVEAT,
            "since": document.get("since"),
            "until": document.get("until"),
            "months": months,
            "snapshot_as_of": sorted(
                {p["snapshot_as_of"] or "explicit indicators" for p in periods}
            ),
            "rows_scored": int(n),
            "unrecorded_batches": document.get("unrecorded_batches", 0),
            "other_versions_ignored": sorted(
                {
                    f"{p['model_name']}/{p['model_version']}"
                    for p in document["periods"]
                    if (p["model_name"], p["model_version"]) != (name, version)
                }
            ),
        },
        "reference": {
            "source": stats.source,
            "rows": stats.rows,
            "as_of": stats.as_of,
            "n_rows": stats.n_rows,
            "capacity": stats.capacity.describe(),
        },
        "drift": {"features": features, "multivariate": multivariate, "score": score},
        "performance": {
            "assumption": NOT_APPLICABLE,
            "not_applicable": NOT_APPLICABLE,
            "estimated": None,
            "realized": None,
        },
        "fairness": fairness,
        "decisions": {"available": False, "note": DECISIONS_NOTE},
    }
    checks = build_checks(report, stats=stats, config=config)
    report["checks"] = checks
    report["alerts"] = [
        {"check": c["check"], "subject": c["subject"], "evidence": c["evidence"]}
        for c in checks
        if c["status"] == "alert"
    ]
    return report
