"""The ``deployment`` section of the monitoring report page (see serving.monitor.deployment)."""

from __future__ import annotations

from html import escape
from typing import Any

from serving.monitor.report_html import _fmt, _interval, _table

_METRICS = ("roc_auc", "precision_at_capacity", "recall_at_capacity", "positive_rate")
_METRIC_NAMES = {
    "roc_auc": "ROC AUC",
    "precision_at_capacity": "precision at capacity",
    "recall_at_capacity": "recall at capacity",
    "positive_rate": "outcome rate",
}


def _pct(iv: dict[str, Any] | None) -> str:
    """A share and its interval as percentages: "38.3 % (32.9–44.0 %)"."""
    if not iv or iv.get("value") is None:
        return "–"
    low, high = iv.get("low"), iv.get("high")
    if low is None or high is None:
        return f"{iv['value'] * 100:.1f}\u00a0%"  # no-break: the sign stays with its number
    return f"{iv['value'] * 100:.1f}\u00a0% ({low * 100:.1f}–{high * 100:.1f}\u00a0%)"


def _perf_rows(name: str, part: dict[str, Any]) -> list[list[str]]:
    if part.get("status") != "evaluated":
        return [[escape(name), f"{part.get('n_rows', 0):,}", "too few families", "", ""]]
    rows = []
    for metric in _METRICS:
        realized = part["realized"][metric] if part.get("realized") else None
        rows.append(
            [
                escape(name),
                f"{part['n_rows']:,}",
                escape(_METRIC_NAMES[metric]),
                _interval(part["estimated"][metric]),
                _interval(realized) if realized else "labels not in",
            ]
        )
    return rows


def deployment_html(section: dict[str, Any] | None) -> str:
    """The section as HTML ("" when the report has none)."""
    if not section:
        return ""
    parts = ["<h2>Who was served: deployment, hold-out and decisions</h2>"]
    if not section.get("available"):
        parts.append(f"<p>{escape(section.get('note', 'not available'))}</p>")
        return "\n".join(parts)
    parts.append(
        f"<p>{section['n_families']:,} eligible families; {section['n_scored']:,} scored in "
        f"the window; {section['n_served']:,} offered support (served). Support changes the "
        "outcome it is measured on, so performance is estimated on the families not served "
        "and on the display hold-out (whose caseworkers did not see the level).</p>"
    )
    parts.append(
        _table(
            ["families", "n", "metric", "label-free estimate", "realized"],
            _perf_rows("not served", section["not_served"])
            + _perf_rows("hold-out", section["holdout"]),
        )
    )
    d = section["decisions"]
    parts.append(
        "<h3>Decision audit</h3><p>How caseworkers' decisions relate to the level they saw "
        "(the shown arm), and what they chose without it (the hold-out). An override is a "
        "decision against the level: support for a family below the high band (higher), "
        "none for one in it (lower). Shares with 95 % intervals.</p>"
    )
    parts.append(
        _table(
            ["measure", "share (95 % interval)"],
            [
                [
                    "decisions recorded",
                    f"{d['n_decisions']:,}, of which {d['n_decisions_holdout']:,} in the hold-out",
                ],
                ["agree with the level (shown arm)", _pct(d["agreement_with_level"])],
                ["override the level", _pct(d["override_rate"])],
                ["… to support a family the level did not flag", _pct(d["override_higher_rate"])],
                ["… to decline a family the level flagged", _pct(d["override_lower_rate"])],
                ["families selected, level shown", _pct(d["selection_rate_shown"])],
                [
                    "families selected, caseworker alone (hold-out)",
                    _pct(d["selection_rate_holdout"]),
                ],
                [
                    "lowest / highest group support rate, algorithm alone (1 = equal)",
                    _fmt(d["support_rate_min_max_ratio_algorithm"]),
                ],
                [
                    "lowest / highest group support rate, algorithm + caseworker",
                    _fmt(d["support_rate_min_max_ratio_with_caseworker"]),
                ],
            ],
        )
    )
    parts.append(
        "<h3>Selection and support by group</h3><p>Selection: the share of the group's "
        "families the algorithm alone would flag at capacity, against those the caseworkers "
        "chose with it. Support: the share offered support. A gap that differs between "
        "groups is where caseworkers widen or narrow the algorithm's disparity.</p>"
    )
    parts.append(
        _table(
            [
                "attribute",
                "group",
                "decisions",
                "selection: algorithm",
                "selection: + caseworker",
                "support: algorithm",
                "support: + caseworker",
            ],
            [
                [escape(g["attribute"].removeprefix("audit_")), escape(g["group"])]
                + (
                    ["suppressed (too few families)", "", "", "", ""]
                    if g["suppressed"]
                    else [
                        f"{g['n_decisions']:,}",
                        _pct(g["selection_rate_algorithm"]),
                        _pct(g["selection_rate_with_caseworker"]),
                        _pct(g["support_rate_algorithm"]),
                        _pct(g["support_rate_with_caseworker"]),
                    ]
                )
                for g in d["by_group"]
            ],
        )
    )
    design = section["design"]
    parts.append("<h3>The hold-out design</h3>")
    if not design.get("available"):
        parts.append(f"<p>{escape(design.get('note', ''))}</p>")
        return "\n".join(parts)
    balance, power = design["balance"], design["power"]
    achieved = power.get("achieved_power")
    power_status = power.get("status", "insufficient_evidence")
    parts.append(
        f"<p>Cycle {escape(design['cycle'])}, sealed config "
        f"<code>{escape(design['config_sha256'][:12])}</code>.</p><ul>"
        f"<li><b>Balance of the arms:</b> <span class='{_css(balance['status'])}'>"
        f"{escape(balance['status'].replace('_', ' '))}</span>: {balance['n_holdout']:,} "
        f"hold-out and {balance['n_shown']:,} shown families; the alarm fires when a "
        f"covariate's standardized difference exceeds {balance['threshold']} (the draw was "
        "not random, or was steered).</li>"
        f"<li><b>Power:</b> <span class='{_css(power_status)}'>"
        f"{'–' if achieved is None else f'{achieved:.0%}'}</span> to detect a "
        f"{power['relative_reduction']:.0%} fall of the outcome rate from "
        f"{power['baseline_rate']:.1%} (alpha {power['alpha']}); the target "
        f"{power['target_power']:.0%} needs {power['needed_per_arm']:,} families per arm.</li>"
        "</ul>"
    )
    worst = sorted(
        (r for r in balance["covariates"] if r["standardized_difference"] is not None),
        key=lambda r: -abs(r["standardized_difference"]),
    )[:10]
    parts.append(
        _table(
            ["covariate (10 largest)", "standardized difference", "imbalanced"],
            [
                [escape(r["covariate"]), _fmt(r["standardized_difference"]), _fmt(r["imbalanced"])]
                for r in worst
            ],
        )
    )
    return "\n".join(parts)


def _css(status: str) -> str:
    """The report's class for a status: pass green, fail red, anything else amber."""
    return {"pass": "pass", "fail": "alert"}.get(status, "not_evaluable")


def with_deployment(page: str, section: dict[str, Any] | None) -> str:
    """The monitoring report page with the deployment section before its end."""
    closing = "</body></html>"
    html = deployment_html(section)
    if not html or closing not in page:
        return page
    head, _, tail = page.rpartition(closing)
    return f"{head}{html}\n{closing}{tail}"
