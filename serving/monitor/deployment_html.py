"""The ``deployment`` section of the monitoring report page (see serving.monitor.deployment)."""

from __future__ import annotations

from html import escape
from typing import Any

from serving.monitor.report_html import _fmt, _interval, _table

_METRICS = ("roc_auc", "precision_at_capacity", "recall_at_capacity", "positive_rate")


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
                escape(metric.replace("_", " ")),
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
    parts.append("<h3>Decision audit</h3>")
    parts.append(
        _table(
            ["measure", "value (interval)"],
            [
                ["decisions (hold-out)", f"{d['n_decisions']:,} ({d['n_decisions_holdout']:,})"],
                ["agreement with the level (shown arm)", _interval(d["agreement_with_level"])],
                ["override rate", _interval(d["override_rate"])],
                ["override higher", _interval(d["override_higher_rate"])],
                ["override lower", _interval(d["override_lower_rate"])],
                ["selection rate, level shown", _interval(d["selection_rate_shown"])],
                [
                    "selection rate, caseworker alone (hold-out)",
                    _interval(d["selection_rate_holdout"]),
                ],
                [
                    "support-rate ratio min/max, algorithm alone",
                    _fmt(d["support_rate_min_max_ratio_algorithm"]),
                ],
                [
                    "support-rate ratio min/max, algorithm + caseworker",
                    _fmt(d["support_rate_min_max_ratio_with_caseworker"]),
                ],
            ],
        )
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
                [escape(g["attribute"]), escape(g["group"])]
                + (
                    ["suppressed", "", "", "", ""]
                    if g["suppressed"]
                    else [
                        f"{g['n_decisions']:,}",
                        _interval(g["selection_rate_algorithm"]),
                        _interval(g["selection_rate_with_caseworker"]),
                        _interval(g["support_rate_algorithm"]),
                        _interval(g["support_rate_with_caseworker"]),
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
    parts.append(
        f"<p>Cycle {escape(design['cycle'])} (config {escape(design['config_sha256'][:12])}): "
        f"balance <span class='{'alert' if balance['status'] == 'fail' else 'pass'}'>"
        f"{escape(balance['status'])}</span> ({balance['n_holdout']:,} hold-out, "
        f"{balance['n_shown']:,} shown; alarm when a standardized difference exceeds "
        f"{balance['threshold']}). Power {_fmt(power.get('achieved_power'))} to detect a "
        f"{power['relative_reduction']:.0%} fall from {power['baseline_rate']:.1%} "
        f"(alpha {power['alpha']}); {power['needed_per_arm']:,} per arm give "
        f"{power['target_power']:.0%}.</p>"
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


def with_deployment(page: str, section: dict[str, Any] | None) -> str:
    """The monitoring report page with the deployment section before its end."""
    closing = "</body></html>"
    html = deployment_html(section)
    if not html or closing not in page:
        return page
    head, _, tail = page.rpartition(closing)
    return f"{head}{html}\n{closing}{tail}"
