"""The shadow report as one self-contained HTML page in English, Russian and Kazakh behind
a language switch (plots inline as base64 PNG, one per language; nothing fetched from
anywhere).

Auditors and regional supervisors read it as caseworkers read the review page, in their own
language: its words are in :mod:`serving.i18n.report_words`, its figures in each
language's forms (:mod:`serving.i18n.report_format`).
"""

from __future__ import annotations

import re
from html import escape, unescape
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from serving.i18n import level_name
from serving.i18n.report_format import DASH, count, figure, percent, share, when
from serving.i18n.report_words import (
    as_code,
    attribute_name,
    families,
    group_name,
    report_text,
)
from serving.i18n.switch import language_switch
from serving.i18n.words import LANGUAGE_CODES, Language
from serving.monitor.report_html import _STYLE, VIEWPORT, _png, _table
from serving.monitor.shadow_report import LEVELS

_PROMOTE = "earlyrisk model promote"


def _t(key: str, lang: Language, **fields: str) -> str:
    return report_text(key, lang, **fields)


def _plain(html: str) -> str:
    """A label for a chart: the text of an HTML fragment (a data value is wrapped)."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def _scatter(points: list[list[float]], title: str, lang: Language) -> str:
    """Champion against shadow probability, one dot per family (the diagonal: equal)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    if points:
        xs, ys = zip(*points, strict=True)
        ax.scatter(xs, ys, s=8, alpha=0.5)
        top = max(max(xs), max(ys)) * 1.05 or 1.0
        ax.plot([0, top], [0, top], color="#888", lw=1)
    ax.set_xlabel(_t("sh_scatter_x", lang))
    ax.set_ylabel(_t("sh_scatter_y", lang))
    decimal = matplotlib.ticker.FuncFormatter(lambda v, _: figure(float(v), lang, 2))
    ax.xaxis.set_major_formatter(decimal)
    ax.yaxis.set_major_formatter(decimal)
    ax.set_title(title)
    return _png(fig).replace('alt="chart"', f'alt="{escape(title)}"')


def _moves_chart(rows: list[dict[str, Any]], lang: Language) -> str | None:
    """Entering and leaving the high band, share of each group (unsuppressed groups)."""
    kept = [r for r in rows if not r.get("suppressed")]
    if not kept:
        return None
    labels = [
        _plain(f"{attribute_name(r['attribute'], lang)}: {group_name(str(r['group']), lang)}")
        for r in kept
    ]
    enter = [r["entering_high"]["value"] or 0.0 for r in kept]
    leave = [r["leaving_high"]["value"] or 0.0 for r in kept]
    fig, ax = plt.subplots(figsize=(max(5, len(kept) * 0.9), 3.5))
    x = range(len(kept))
    ax.bar([i - 0.2 for i in x], enter, width=0.4, label=_t("sh_chart_enter", lang))
    ax.bar([i + 0.2 for i in x], leave, width=0.4, label=_t("sh_chart_leave", lang))
    ax.set_xticks(list(x), labels, rotation=30, ha="right")
    ax.set_ylabel(_t("sh_chart_y", lang))
    ax.yaxis.set_major_formatter(
        matplotlib.ticker.FuncFormatter(lambda v, _: percent(float(v), lang, 1))
    )
    ax.set_title(_t("sh_chart_title", lang))
    ax.legend()
    return _png(fig).replace('alt="chart"', f'alt="{escape(_t("sh_chart_title", lang))}"')


def _moved(part: dict[str, Any], lang: Language) -> str:
    """Families that would move, with their share: "23 families, 3.8 % (2.6–5.7 %)"."""
    n = int(part["count"])
    return escape(families(n, count(n, lang), lang)) + ", " + share(part, lang)


def _rank(value: float | None, lang: Language) -> str:
    return DASH if value is None else figure(value, lang, 2)


def _title(c: dict[str, Any], lang: Language) -> str:
    title = escape(
        _t("sh_pair", lang, champion=str(c["champion_version"]), shadow=str(c["shadow_version"]))
    )
    return f"{title} ({as_code(c['shadow_model'])})" if c.get("shadow_model") else title


def _lead(c: dict[str, Any], lang: Language) -> str:
    """The comparison in one sentence: what a reader needs before the tables."""
    rank = c["rank_correlation"]["spearman"]
    if rank is None:
        order = _t("sh_order_too_few", lang)
    elif rank >= 0.8:
        key = "sh_order_almost" if rank >= 0.9 else "sh_order_same"
        order = _t(key, lang, rank=_rank(rank, lang))
    else:
        order = _t("sh_order_different", lang, rank=_rank(rank, lang))
    enter, leave = int(c["entering_high"]["count"]), int(c["leaving_high"]["count"])
    text = _t(
        "sh_lead",
        lang,
        n=count(int(c["n"]), lang),
        order=order,
        agree=percent(c["band_agreement"]["value"], lang),
        enter="\x00",
        leave="\x01",
    )
    return (
        "<p class='lead'>"
        + escape(text)
        .replace("\x00", f"<b>{escape(families(enter, count(enter, lang), lang))}</b>")
        .replace("\x01", f"<b>{escape(families(leave, count(leave, lang), lang))}</b>")
        + "</p>"
    )


def _summary_rows(c: dict[str, Any], lang: Language) -> list[list[str]]:
    rank = c["rank_correlation"]
    spearman = (
        DASH
        if rank["spearman"] is None
        else f"{figure(rank['spearman'], lang)} ({figure(rank['low'], lang)}–"
        f"{figure(rank['high'], lang)})"
    )
    rows = [
        ("sh_compared", count(int(c["n"]), lang)),
        ("sh_spearman", spearman),
        ("sh_kendall", figure(rank["kendall"], lang)),
        ("sh_agreement", share(c["band_agreement"], lang)),
        ("sh_kappa", figure(c["kappa"], lang)),
        ("sh_high_champion", share(c["champion_high_rate"], lang)),
        ("sh_high_shadow", share(c["shadow_high_rate"], lang)),
        ("sh_enter", _moved(c["entering_high"], lang)),
        ("sh_leave", _moved(c["leaving_high"], lang)),
    ]
    return [[escape(_t(key, lang)), value] for key, value in rows]


def _levels_table(c: dict[str, Any], lang: Language) -> str:
    return _table(
        [_t("sh_levels_corner", lang), *(level_name(lv, lang) for lv in LEVELS)],
        [
            [
                escape(level_name(row["champion_level"], lang)),
                *(
                    f"<b>{count(row[lv], lang)}</b>"
                    if lv == row["champion_level"]
                    else count(row[lv], lang)
                    for lv in LEVELS
                ),
            ]
            for row in c["levels"]
        ],
    )


def _groups(groups: list[dict[str, Any]], lang: Language) -> list[str]:
    parts = [
        f"<h3>{escape(_t('sh_groups_heading', lang))}</h3>"
        f"<p>{escape(_t('sh_groups_help', lang))}</p>"
    ]
    rows = []
    for g in groups:
        names = [attribute_name(g["attribute"], lang), group_name(str(g["group"]), lang)]
        if g.get("suppressed"):
            rows.append(names + [escape(_t("sh_suppressed", lang))] * 5)
            continue
        rows.append(
            [
                *names,
                count(int(g["n"]), lang),
                _rank(g["rank_correlation"]["spearman"], lang),
                share(g["band_agreement"], lang),
                _moved(g["entering_high"], lang),
                _moved(g["leaving_high"], lang),
            ]
        )
    keys = ("col_attribute", "col_group", "col_families", "col_spearman", "col_same_level")
    header = [_t(k, lang) for k in (*keys, "col_enter", "col_leave")]
    parts.append(_table(header, rows))
    chart = _moves_chart(groups, lang)
    if chart:
        parts.append(chart)
    return parts


def shadow_body(report: dict[str, Any], lang: Language) -> str:
    """The report's content in one language: per version pair a summary, the level table,
    the plots, the groups."""
    level = percent(report["confidence_level"], lang)
    intro = escape(_t("sh_intro", lang, level=level, command="\x00"))
    parts = [
        f"<h1>{escape(_t('sh_title', lang))}</h1>",
        "<p>" + intro.replace("\x00", as_code(_PROMOTE)) + "</p>",
    ]
    if not report["groups_available"]:
        parts.append(f"<p>{escape(_t('sh_no_groups', lang))}</p>")
    for c in report["comparisons"]:
        parts.append(f"<h2>{_title(c, lang)}</h2>")
        traffic = _t(
            "sh_traffic",
            lang,
            first=when(c["first_recorded_at"], lang),
            last=when(c["last_recorded_at"], lang),
        )
        parts.append(f"<p>{escape(traffic)}</p>")
        parts.append(_lead(c, lang))
        level_header = _t("col_value", lang, level=percent(0.95, lang))
        parts.append(_table([_t("col_measure", lang), level_header], _summary_rows(c, lang)))
        parts.append(
            f"<h3>{escape(_t('sh_levels_heading', lang))}</h3>"
            f"<p>{escape(_t('sh_levels_help', lang))}</p>"
        )
        parts.append(_levels_table(c, lang))
        parts.append(f"<p>{escape(_t('sh_scatter_help', lang))}</p>")
        title = _t(
            "sh_scatter_title",
            lang,
            champion=str(c["champion_version"]),
            shadow=str(c["shadow_version"]),
        )
        parts.append(_scatter(c.get("_points", []), title, lang))
        if c["by_group"]:
            parts += _groups(c["by_group"], lang)
    return "\n".join(parts)


def render_shadow_html(report: dict[str, Any], *, lang: Language = "en") -> str:
    """The page: the report in English, Russian and Kazakh behind a switch, ``lang`` shown
    when it opens."""
    blocks = {code: shadow_body(report, code) for code in LANGUAGE_CODES}
    return "\n".join(
        [
            f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'>{VIEWPORT}",
            f"<title>{escape(_t('sh_title', lang))}</title>",
            f"<style>{_STYLE}</style></head><body>",
            language_switch(blocks, name="shadow", first=lang),
            "</body></html>",
        ]
    )
