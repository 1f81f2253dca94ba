"""The shadow report as one self-contained HTML page (English, like the monitoring report
it sits beside; plots inline as base64 PNG, nothing fetched from anywhere)."""

from __future__ import annotations

from html import escape
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from serving.monitor.report_html import _STYLE, VIEWPORT, _fmt, _png, _table
from serving.monitor.shadow_report import LEVELS


def _scatter(points: list[list[float]], title: str) -> str:
    """Champion against shadow probability, one dot per family (the diagonal: equal)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    if points:
        xs, ys = zip(*points, strict=True)
        ax.scatter(xs, ys, s=8, alpha=0.5)
        top = max(max(xs), max(ys)) * 1.05 or 1.0
        ax.plot([0, top], [0, top], color="#888", lw=1)
    ax.set_xlabel("champion's probability")
    ax.set_ylabel("shadow's probability")
    ax.set_title(title)
    return _png(fig)


def _moves_chart(rows: list[dict[str, Any]]) -> str | None:
    """Entering and leaving the high band, share of each group (unsuppressed groups)."""
    kept = [r for r in rows if not r.get("suppressed")]
    if not kept:
        return None
    labels = [f"{_attribute(r['attribute'])}: {r['group']}" for r in kept]
    enter = [r["entering_high"]["value"] or 0.0 for r in kept]
    leave = [r["leaving_high"]["value"] or 0.0 for r in kept]
    fig, ax = plt.subplots(figsize=(max(5, len(kept) * 0.9), 3.5))
    x = range(len(kept))
    ax.bar([i - 0.2 for i in x], enter, width=0.4, label="would enter high")
    ax.bar([i + 0.2 for i in x], leave, width=0.4, label="would leave high")
    ax.set_xticks(list(x), labels, rotation=30, ha="right")
    ax.set_ylabel("share of the group's families")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title("Who would enter and leave the high band, by group")
    ax.legend()
    return _png(fig)


def _share(iv: dict[str, Any] | None) -> str:
    """A share and its interval as percentages: "3.8 % (2.6–5.7 %)"."""
    if not iv or iv.get("value") is None:
        return "–"
    low, high = iv.get("low"), iv.get("high")
    # a no-break space before "%": a narrow (phone) column never puts the sign on its own line
    if low is None or high is None:
        return f"{iv['value']:.1%}".replace("%", "\u00a0%")
    return f"{iv['value'] * 100:.1f}\u00a0% ({low * 100:.1f}–{high * 100:.1f}\u00a0%)"


def _moved(part: dict[str, Any]) -> str:
    """Families that would move, with their share: "23 families, 3.8 % (2.6–5.7 %)"."""
    count = int(part["count"])
    return f"{count:,} {'family' if count == 1 else 'families'}, {_share(part)}"


def _when(stamp: str) -> str:
    """An entry's UTC time as people read it: "2025-01-14 09:12"."""
    return escape(stamp[:16].replace("T", " "))


def _title(c: dict[str, Any]) -> str:
    model = f" ({c['shadow_model']})" if c.get("shadow_model") else ""
    return (
        f"Champion version {c['champion_version']} against shadow version "
        f"{c['shadow_version']}{model}"
    )


def _lead(c: dict[str, Any]) -> str:
    """The comparison in one sentence: what a reader needs before the tables."""
    rank = c["rank_correlation"]["spearman"]
    order = (
        "too few families to compare the order"
        if rank is None
        else f"orders the families {'almost ' if rank >= 0.9 else ''}as the champion does "
        f"(Spearman {rank:.2f})"
        if rank >= 0.8
        else f"orders the families differently from the champion (Spearman {rank:.2f})"
    )
    agree = c["band_agreement"]["value"]
    return (
        f"<p class='lead'>On {c['n']:,} families the shadow {escape(order)}; "
        f"{agree:.0%} would see the same level. If it were served, "
        f"<b>{c['entering_high']['count']:,}</b> would enter the high band and "
        f"<b>{c['leaving_high']['count']:,}</b> would leave it.</p>"
    )


def _attribute(name: str) -> str:
    """An audit column as the reader knows it: ``audit_region`` is "region"."""
    return name.removeprefix("audit_").replace("_", " ")


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
        ["same level (band agreement)", _share(c["band_agreement"])],
        ["Cohen's kappa of the levels", _fmt(c["kappa"])],
        ["in the high band: champion", _share(c["champion_high_rate"])],
        ["in the high band: shadow", _share(c["shadow_high_rate"])],
        ["would enter the high band", _moved(c["entering_high"])],
        ["would leave the high band", _moved(c["leaving_high"])],
    ]


def render_shadow_html(report: dict[str, Any]) -> str:
    """The page: per version pair a summary, the level table, the plots, the groups."""
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>{VIEWPORT}",
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
        title = _title(c)
        parts.append(f"<h2>{escape(title)}</h2>")
        parts.append(
            f"<p>Traffic recorded from {_when(c['first_recorded_at'])} to "
            f"{_when(c['last_recorded_at'])} UTC.</p>"
        )
        parts.append(_lead(c))
        parts.append(_table(["measure", "value (95 % interval)"], _summary_rows(c)))
        parts.append(
            "<h3>Levels</h3><p>Families by the champion's level (rows) and the shadow's "
            "(columns); the diagonal is where both agree.</p>"
        )
        parts.append(
            _table(
                ["champion ↓ / shadow →", *LEVELS],
                [
                    [
                        row["champion_level"],
                        *(
                            f"<b>{row[lv]:,}</b>" if lv == row["champion_level"] else f"{row[lv]:,}"
                            for lv in LEVELS
                        ),
                    ]
                    for row in c["levels"]
                ],
            )
        )
        parts.append(
            "<p>Each dot is a family: above the grey line the shadow rates it higher than the "
            "champion, below it lower.</p>"
        )
        parts.append(
            _scatter(
                c.get("_points", []), f"version {c['champion_version']} vs {c['shadow_version']}"
            )
        )
        groups = c["by_group"]
        if groups:
            parts.append(
                "<h3>By audit group</h3><p>Does the change fall on one group? Shares are of "
                "the group's families; groups under the minimum size are suppressed.</p>"
            )
            rows = []
            for g in groups:
                if g.get("suppressed"):
                    rows.append(
                        [escape(_attribute(g["attribute"])), escape(g["group"])]
                        + ["suppressed"] * 5
                    )
                    continue
                rank = g["rank_correlation"]["spearman"]
                rows.append(
                    [
                        escape(_attribute(g["attribute"])),
                        escape(g["group"]),
                        f"{g['n']:,}",
                        "–" if rank is None else f"{rank:.2f}",
                        _share(g["band_agreement"]),
                        _moved(g["entering_high"]),
                        _moved(g["leaving_high"]),
                    ]
                )
            parts.append(
                _table(
                    [
                        "attribute",
                        "group",
                        "families",
                        "Spearman",
                        "same level",
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
