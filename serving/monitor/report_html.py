"""The monitoring report as one self-contained HTML page (plots inline as base64 PNG).

No script, stylesheet, font or image is fetched from anywhere: the page can be mailed,
archived and opened offline.
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

# Wide tables scroll inside themselves (display:block), long words wrap: the page is never
# wider than the window (a 1,280 px screen at default zoom).
_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;display:block;max-width:100%;overflow-x:auto}
td,th{border:1px solid #ccc;padding:3px 8px;overflow-wrap:anywhere;
font-size:13px;text-align:left}th{background:#f3f3f3}.alert{color:#a00;font-weight:bold}
.pass{color:#070}.not_evaluable{color:#a60}img{max-width:100%}
@media (max-width:600px){body{margin:1em auto;padding:0 .6em}h1{font-size:1.4em}
h2{font-size:1.2em}td,th{padding:2px 5px;font-size:12px;overflow-wrap:break-word}}
"""
# A phone lays a page without this out 980 px wide and shrinks it to its screen: at 360 px
# the text of the reports was about 5 px high. With it the page is as wide as the screen
# and a table wider than a phone scrolls inside itself: on a phone a cell no longer breaks
# inside a word (``anywhere`` squeezed columns until "443" stood as "44" over "3").
VIEWPORT = "<meta name='viewport' content='width=device-width, initial-scale=1'>"


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return (
        '<img alt="chart" src="data:image/png;base64,'
        + base64.b64encode(buffer.getvalue()).decode("ascii")
        + '">'
    )


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(str(value))


def _interval(iv: dict[str, Any] | None) -> str:
    if not iv or iv.get("value") is None:
        return "–"
    return f"{_fmt(iv['value'])} ({_fmt(iv.get('low'))}–{_fmt(iv.get('high'))})"


def _named_figures(figures: dict[str, Any] | None, digits: int = 4) -> str:
    """``{"roc_auc": 0.0092, "positive_rate": None}`` as "ROC AUC 0.0092, positive rate –"
    (a report shows words and numbers, never a Python dict)."""
    if not figures:
        return "not computed"
    names = {"roc_auc": "ROC AUC"}
    return ", ".join(
        f"{names.get(k, k.replace('_', ' '))} {_fmt(v, digits)}" for k, v in figures.items()
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _psi_chart(features: list[dict[str, Any]]) -> str:
    names = [f["name"] for f in features]
    fig, ax = plt.subplots(figsize=(10, max(3, 0.22 * len(names))))
    colors = ["#c33" if f["drifted"] else "#69c" for f in features]
    ax.barh(names, [f["value"] for f in features], color=colors)
    ax.set_xlabel("population stability index (red: drifted)")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def _performance_chart(realized: list[dict[str, Any]], metric: str) -> str:
    fig, ax = plt.subplots(figsize=(8, 3.2))
    days = [r["as_of"] for r in realized]
    est = [r["estimated"][metric] for r in realized]
    ax.errorbar(
        days,
        [e["value"] for e in est],
        yerr=[
            [e["value"] - (e["low"] if e["low"] is not None else e["value"]) for e in est],
            [(e["high"] if e["high"] is not None else e["value"]) - e["value"] for e in est],
        ],
        fmt="o-",
        label="estimated (no labels)",
        capsize=3,
    )
    closed = [r for r in realized if r["realized"]]
    if closed:
        ax.plot(
            [r["as_of"] for r in closed],
            [r["realized"][metric]["value"] for r in closed],
            "s",
            color="#c33",
            label="realized (labels in)",
        )
    ax.set_title(metric.replace("_", " "))
    ax.tick_params(axis="x", rotation=45, labelsize=7)
    ax.legend(fontsize=8)
    return _png(fig)


def _fairness_chart(fairness: list[dict[str, Any]], attribute: str) -> str | None:
    series: dict[str, list[tuple[str, float]]] = {}
    for point in fairness:
        for g in point["groups"]:
            if g["attribute"] == attribute and not g["suppressed"]:
                series.setdefault(g["group"], []).append(
                    (point["as_of"], g["selection_rate"]["value"])
                )
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(8, 3))
    for group, points in sorted(series.items()):
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=group)
    ax.set_title(f"selection rate at capacity by {attribute}")
    ax.tick_params(axis="x", rotation=45, labelsize=7)
    ax.legend(fontsize=7, ncol=3)
    return _png(fig)


def render_html(report: dict[str, Any]) -> str:
    """The whole page."""
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>{VIEWPORT}",
        f"<title>earlyrisk monitoring {escape(report['as_of'])}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Monitoring as of {escape(report['as_of'])}</h1>",
        (
            f"<p><strong>On served statistics:</strong> {escape(report['served']['caveat'])}</p>"
            if report.get("served")
            else ""
        ),
        f"<p>Model {escape(str(report['model']['name']))} version "
        f"{escape(str(report['model']['version']))}; {report['n_families']} families; "
        f"reference: {escape(report['reference']['source'])} "
        f"({report['reference']['n_rows']} rows, as of "
        f"{escape(', '.join(report['reference']['as_of']))}); capacity "
        f"{escape(report['reference']['capacity'])}.</p>",
        _seasonal_note(report["reference"].get("seasonal")),
        "<h2>Checks</h2>",
    ]
    alerts = report["alerts"]
    parts.append(
        f"<p class='{'alert' if alerts else 'pass'}'>"
        + (f"{len(alerts)} alert(s) fired." if alerts else "No alert fired.")
        + "</p>"
    )
    shown = [c for c in report["checks"] if c["status"] != "pass" or c["check"] != "feature_drift"]
    parts.append(
        _table(
            ["check", "subject", "status", "evidence"],
            [
                [
                    escape(c["check"]),
                    escape(c["subject"]),
                    f"<span class='{c['status']}'>{escape(c['status'])}</span>",
                    escape(c["evidence"]),
                ]
                for c in shown
            ],
        )
    )
    drift = report["drift"]
    parts += [
        "<h2>Input drift</h2>",
        "<p>Population stability index of each indicator on the reference's bins; flagged "
        "above the larger of the practical floor and the sampling-noise quantile.</p>",
        _psi_chart(drift["features"]),
        _table(
            ["indicator", "PSI", "threshold", "drifted"],
            [
                [escape(f["name"]), _fmt(f["value"]), _fmt(f["threshold"]), _fmt(f["drifted"])]
                for f in drift["features"]
            ],
        ),
        "<h3>Whole input (PCA reconstruction error)</h3>",
        _table(
            ["reference", "now", "tolerance", "drifted"],
            [
                [
                    _fmt(drift["multivariate"]["reference"]),
                    _fmt(drift["multivariate"]["value"]),
                    _fmt(drift["multivariate"]["threshold"]),
                    _fmt(drift["multivariate"]["drifted"]),
                ]
            ],
        ),
        "<h3>Score</h3>",
        _table(
            list(drift["score"].keys()),
            [[_fmt(v, 4) for v in drift["score"].values()]],
        ),
    ]
    perf = report["performance"]
    if perf.get("realized") is None:  # served statistics: not applicable, with the reason
        parts += ["<h2>Performance</h2>", f"<p>{escape(perf.get('not_applicable') or '')}</p>"]
    else:
        parts += [
            "<h2>Performance</h2>",
            f"<p><em>{escape(perf['assumption'])}</em></p>",
            _table(
                ["as of", "labels in", "metric", "estimated", "realized", "error"],
                [
                    [
                        escape(r["as_of"]),
                        _fmt(r["label_window_closed"]),
                        escape(m),
                        _interval(r["estimated"][m]),
                        _interval(r["realized"][m]) if r["realized"] else "–",
                        _fmt((r["estimate_error"] or {}).get(m)),
                    ]
                    for r in perf["realized"]
                    for m in r["estimated"]
                ],
            ),
            _performance_chart(perf["realized"], "roc_auc"),
            _performance_chart(perf["realized"], "positive_rate"),
        ]
    cal = perf.get("calibration_check")
    if cal:
        parts.append(
            f"<p>Calibration check{' (' + escape(cal['note']) + ')' if cal.get('note') else ''}"
            f" on the reference: {escape(cal['method'])} "
            f"(ECE on {cal['n_bins']} equal-count bins {_fmt(cal['ece_before'], 4)} served, "
            f"{_fmt(cal['ece_after'], 4)} recalibrated, cross-fitted). Estimator error on "
            f"the reference: {_named_figures(perf.get('estimator_error_on_reference'))}.</p>"
        )
    transfer = perf.get("calibration_transfer")
    if transfer:  # the ROC AUC interval's transfer term (serving.monitor.transfer)
        parts.append(f"<p>Calibration transfer between quarters: {escape(transfer['note'])}.</p>")
    spread = perf.get("calibration_map_spread")
    if spread and spread.get("available"):  # serving.monitor.recalibration.MapSpread
        parts.append(
            f"<p>Calibration map spread: the ROC AUC estimate moves by a standard deviation of "
            f"{_fmt(spread.get('se_at_as_of'), 4)} over {spread['n_boot']} bootstrap refits of "
            f"the {escape(spread['option'])} map on the labelled year; the interval includes "
            "it.</p>"
        )
    parts.append("<h2>Fairness over time</h2>")
    attributes = sorted({g["attribute"] for point in report["fairness"] for g in point["groups"]})
    for attribute in attributes:
        chart = _fairness_chart(report["fairness"], attribute)
        if chart:
            parts.append(chart)
    if report["fairness"]:
        latest = report["fairness"][-1]
        parts.append(
            _table(
                ["attribute", "group", "n", "selection rate", "mean score", "ratio to reference"],
                [
                    [
                        escape(g["attribute"]),
                        escape(g["group"]),
                        f"{g['n']:,}" if g.get("n") is not None else "fewer than the minimum",
                        "suppressed" if g["suppressed"] else _interval(g.get("selection_rate")),
                        "" if g["suppressed"] else _interval(g.get("mean_score")),
                        "" if g["suppressed"] else _interval(g.get("selection_rate_ratio")),
                    ]
                    for g in latest["groups"]
                ],
            )
        )
    d = report["decisions"]
    parts.append("<h2>Caseworkers' decisions</h2>")
    if not d.get("available") or not d.get("n_decisions"):
        parts.append(f"<p>{escape(d.get('note', 'no decisions'))}</p>")
    else:
        parts.append(
            f"<p>{d['n_decisions']} decisions; disagreement with the algorithm-alone "
            f"selection {_interval(d['disagreement_rate'])}; human selection rate "
            f"{_interval(d['human_selection_rate'])}, algorithm alone "
            f"{_interval(d['algorithm_selection_rate'])}.</p>"
        )
        parts.append(
            _table(
                ["risk level", "n", "decisions", "human selection rate"],
                [
                    [
                        escape(r["risk_level"]),
                        "suppressed" if r["suppressed"] else str(r["n"]),
                        "" if r["suppressed"] else escape(str(r["decisions"])),
                        "" if r["suppressed"] else _fmt(r["human_selection_rate"]),
                    ]
                    for r in d["by_risk_level"]
                ],
            )
        )
        parts.append(
            _table(
                ["attribute", "group", "n", "human selection", "algorithm alone"],
                [
                    [
                        escape(g["attribute"]),
                        escape(g["group"]),
                        f"{g['n']:,}" if g.get("n") is not None else "fewer than the minimum",
                        "suppressed" if g["suppressed"] else _interval(g["human_selection_rate"]),
                        "" if g["suppressed"] else _interval(g["algorithm_selection_rate"]),
                    ]
                    for g in d["by_group"]
                ],
            )
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _seasonal_note(seasonal: dict | None) -> str:
    """Which reference the inputs and score were compared with, and which calibration the
    estimate trusts (``reference.seasonal``, :mod:`serving.monitor.seasonal`)."""
    if not seasonal:
        return ""
    if seasonal["method"] == "same_quarter":
        compared = f"the same quarter of the training period, as of {seasonal['as_of']}"
    else:
        compared = f"the stored reference ({seasonal['reason']})"
    calibration = seasonal.get("calibration") or "the stored reference's calibration check"
    return (
        f"<p>Inputs and score compared with {escape(compared)}; the label-free estimate "
        f"trusts {escape(calibration)}.</p>"
    )
