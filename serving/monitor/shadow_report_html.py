"""The shadow report as one self-contained HTML page (English, like the monitoring report
it sits beside; plots inline as base64 PNG, nothing fetched from anywhere)."""

from __future__ import annotations

from html import escape
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from serving.monitor.report_html import _STYLE, _fmt, _interval, _png, _table
from serving.monitor.shadow_report import LEVELS


def _scatter(points: list[list[float]], title: str) -> str:
    """Champion against shadow probability, one dot per family (the diagonal: equal)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    if points:
        xs, ys = zip(*points, strict=True)
        ax.scatter(xs, ys, s=8, alpha=0.5)
        top = max(max(xs), max(ys)) * 1.05 or 1.0
        ax.plot([0, top], [0, top], color="#888", lw=1)
    ax.set_xlabel("champion probability")
    ax.set_ylabel("shadow probability")
    ax.set_title(title)
    return _png(fig)


def _moves_chart(rows: list[dict[str, Any]]) -> str | None:
    """Entering and leaving the high band, share of each group (unsuppressed groups)."""
    kept = [r for r in rows if not r.get("suppressed")]
    if not kept:
        return None
    labels = [f"{r['attribute'].removeprefix('audit_')}={r['group']}" for r in kept]
    enter = [r["entering_high"]["value"] or 0.0 for r in kept]
    leave = [r["leaving_high"]["value"] or 0.0 for r in kept]
    fig, ax = plt.subplots(figsize=(max(5, len(kept) * 0.9), 3.5))
    x = range(len(kept))
    ax.bar([i - 0.2 for i in x], enter, width=0.4, label="would enter high")
    ax.bar([i + 0.2 for i in x], leave, width=0.4, label="would leave high")
    ax.set_xticks(list(x), labels, rotation=30, ha="right")
    ax.set_ylabel("share of the group's families")
    ax.legend()
    return _png(fig)


def _summary_rows(c: dict[str, Any]) -> list[list[str]]:
    rank = c["rank_correlation"]
    spearman = (
        "–"
        if rank["spearman"] is None
        else f"{_fmt(rank['spearman'])} ({_fmt(rank['low'])}–{_fmt(rank['high'])})"
    )
    return [
        ["families compared", _fmt(c["n"])],
        ["rank correlation (Spearman, interval)", spearman],
        ["Kendall's tau", _fmt(rank["kendall"])],
        ["band agreement (same level)", _interval(c["band_agreement"])],
        ["Cohen's kappa of the levels", _fmt(c["kappa"])],
        ["high band: champion", _interval(c["champion_high_rate"])],
        ["high band: shadow", _interval(c["shadow_high_rate"])],
        [
            "would enter the high band",
            f"{c['entering_high']['count']} ({_interval(c['entering_high'])})",
        ],
        [
            "would leave the high band",
            f"{c['leaving_high']['count']} ({_interval(c['leaving_high'])})",
        ],
    ]


def render_shadow_html(report: dict[str, Any]) -> str:
    """The page: per version pair a summary, the level table, the plots, the groups."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>earlyrisk shadow report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Shadow report: the shadow beside the champion on the same traffic</h1>",
        "<p>Each family counts once per snapshot date (its latest pair of scores). Intervals "
        f"are {report['confidence_level']:.0%} (Wilson for shares, Fisher z for Spearman). "
        "The shadow's scores were never shown to anyone; this page compares, it does not "
        "judge: the shadow's own gates run at <code>earlyrisk model promote</code>.</p>",
    ]
    if not report["groups_available"]:
        parts.append("<p>No snapshot given: no comparison by audit group.</p>")
    for c in report["comparisons"]:
        title = (
            f"champion {c['champion_version']} vs shadow "
            f"{c['shadow_model'] or ''} {c['shadow_version']}"
        )
        parts.append(f"<h2>{escape(title)}</h2>")
        parts.append(
            f"<p>Traffic recorded {escape(c['first_recorded_at'][:19])} to "
            f"{escape(c['last_recorded_at'][:19])} (UTC).</p>"
        )
        parts.append(_table(["measure", "value"], _summary_rows(c)))
        parts.append("<h3>Levels: champion (rows) against shadow (columns)</h3>")
        parts.append(
            _table(
                ["champion \\ shadow", *LEVELS],
                [[row["champion_level"], *(str(row[lv]) for lv in LEVELS)] for row in c["levels"]],
            )
        )
        parts.append(_scatter(c.get("_points", []), title))
        groups = c["by_group"]
        if groups:
            parts.append("<h3>By audit group</h3>")
            rows = []
            for g in groups:
                if g.get("suppressed"):
                    rows.append([escape(g["attribute"]), escape(g["group"])] + ["suppressed"] * 5)
                    continue
                rank = g["rank_correlation"]["spearman"]
                rows.append(
                    [
                        escape(g["attribute"]),
                        escape(g["group"]),
                        _fmt(g["n"]),
                        _fmt(rank),
                        _interval(g["band_agreement"]),
                        f"{g['entering_high']['count']} ({_interval(g['entering_high'])})",
                        f"{g['leaving_high']['count']} ({_interval(g['leaving_high'])})",
                    ]
                )
            parts.append(
                _table(
                    [
                        "attribute",
                        "group",
                        "families",
                        "Spearman",
                        "band agreement",
                        "would enter high",
                        "would leave high",
                    ],
                    rows,
                )
            )
            chart = _moves_chart(groups)
            if chart:
                parts.append(chart)
    parts.append("</body></html>")
    return "\n".join(parts)
