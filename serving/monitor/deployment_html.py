"""The ``deployment`` section of the monitoring report page (see serving.monitor.deployment),
in English, Russian and Kazakh with a language switch (:mod:`serving.i18n.switch`).

Auditors and regional supervisors read the decision audit as caseworkers read the review
page, in their own language: its words are in :mod:`serving.i18n.report_words`, its
figures in each language's forms (:mod:`serving.i18n.report_format`).
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from serving.i18n import describe_indicator
from serving.i18n.report_format import count, figure, interval, percent, share
from serving.i18n.report_words import as_code, attribute_name, group_name, report_text
from serving.i18n.switch import language_switch
from serving.i18n.words import LANGUAGE_CODES, Language
from serving.monitor.report_html import _table

_METRICS = ("roc_auc", "precision_at_capacity", "recall_at_capacity", "positive_rate")
_NO_LOG = re.compile(r"^no audit log at (?P<path>.*): who was served is unknown$")
#: the decision audit's intervals (Wilson, serving.monitor.decisions)
_LEVEL = 0.95


def _t(key: str, lang: Language, **fields: str) -> str:
    return report_text(key, lang, **fields)


def _perf_rows(key: str, part: dict[str, Any], lang: Language) -> list[list[str]]:
    name = escape(_t(key, lang))
    n = count(part.get("n_rows", 0), lang)
    if part.get("status") != "evaluated":
        return [[name, n, escape(_t("dep_too_few", lang)), "", ""]]
    rows = []
    for metric in _METRICS:
        realized = part["realized"][metric] if part.get("realized") else None
        rows.append(
            [
                name,
                n,
                "ROC AUC" if metric == "roc_auc" else escape(_t(f"metric_{metric}", lang)),
                interval(part["estimated"][metric], lang),
                interval(realized, lang) if realized else escape(_t("dep_labels_not_in", lang)),
            ]
        )
    return rows


def _note(section: dict[str, Any], lang: Language) -> str:
    """Why the section (or its design) is not available, in lang."""
    note = str(section.get("note", ""))
    found = _NO_LOG.match(note)
    if found:
        return escape(_t("dep_no_log", lang, path="\x00")).replace("\x00", as_code(found["path"]))
    if note.startswith("no rollout sealed"):
        return escape(_t("dep_no_rollout", lang))
    return f'<span lang="en">{escape(note)}</span>'  # a note this page has no words for


def _status(status: str, lang: Language) -> str:
    known = {"pass", "fail", "insufficient_evidence"}
    return escape(_t(f"status_{status if status in known else 'not_evaluable'}", lang))


def _covariate(name: str, lang: Language) -> str:
    """A model input in words (the catalogue's description), its code when it has none."""
    try:
        return escape(describe_indicator(name, lang))
    except KeyError:
        return as_code(name)


def deployment_html(section: dict[str, Any] | None, lang: Language = "en") -> str:
    """The section as HTML in one language ("" when the report has none)."""
    if not section:
        return ""
    parts = [f"<h2>{escape(_t('dep_heading', lang))}</h2>"]
    if not section.get("available"):
        parts.append(f"<p>{_note(section, lang)}</p>")
        return "\n".join(parts)
    parts.append(
        "<p>"
        + escape(
            _t(
                "dep_intro",
                lang,
                families=count(section["n_families"], lang),
                scored=count(section["n_scored"], lang),
                served=count(section["n_served"], lang),
            )
        )
        + "</p>"
    )
    parts.append(
        _table(
            [
                _t(k, lang)
                for k in (
                    "dep_col_families",
                    "dep_col_n",
                    "dep_col_metric",
                    "dep_col_estimate",
                    "dep_col_realized",
                )
            ],
            _perf_rows("dep_not_served", section["not_served"], lang)
            + _perf_rows("dep_holdout", section["holdout"], lang),
        )
    )
    parts += _decision_audit(section["decisions"], lang)
    parts += _design(section["design"], lang)
    return "\n".join(parts)


def _decision_audit(d: dict[str, Any], lang: Language) -> list[str]:
    level = percent(_LEVEL, lang)
    parts = [
        f"<h3>{escape(_t('dep_decisions_heading', lang))}</h3>"
        f"<p>{escape(_t('dep_decisions_help', lang, level=level))}</p>"
    ]
    shares = (
        ("dep_agree", "agreement_with_level"),
        ("dep_override", "override_rate"),
        ("dep_override_higher", "override_higher_rate"),
        ("dep_override_lower", "override_lower_rate"),
        ("dep_selected_shown", "selection_rate_shown"),
        ("dep_selected_holdout", "selection_rate_holdout"),
    )
    recorded = _t(
        "dep_decisions_value",
        lang,
        n=count(d["n_decisions"], lang),
        holdout=count(d["n_decisions_holdout"], lang),
    )
    rows = [
        [escape(_t("dep_decisions_recorded", lang)), escape(recorded)],
        *([escape(_t(key, lang)), share(d[field], lang)] for key, field in shares),
        [
            escape(_t("dep_ratio_algorithm", lang)),
            figure(d["support_rate_min_max_ratio_algorithm"], lang),
        ],
        [
            escape(_t("dep_ratio_caseworker", lang)),
            figure(d["support_rate_min_max_ratio_with_caseworker"], lang),
        ],
    ]
    parts.append(_table([_t("col_measure", lang), _t("col_share", lang, level=level)], rows))
    parts.append(
        f"<h3>{escape(_t('dep_groups_heading', lang))}</h3>"
        f"<p>{escape(_t('dep_groups_help', lang))}</p>"
    )
    header = [
        _t(k, lang)
        for k in (
            "col_attribute",
            "col_group",
            "col_decisions",
            "col_sel_algorithm",
            "col_sel_caseworker",
            "col_sup_algorithm",
            "col_sup_caseworker",
        )
    ]
    parts.append(
        _table(
            header,
            [
                [attribute_name(g["attribute"], lang), group_name(str(g["group"]), lang)]
                + (
                    [escape(_t("dep_suppressed", lang)), "", "", "", ""]
                    if g["suppressed"]
                    else [
                        count(g["n_decisions"], lang),
                        share(g["selection_rate_algorithm"], lang),
                        share(g["selection_rate_with_caseworker"], lang),
                        share(g["support_rate_algorithm"], lang),
                        share(g["support_rate_with_caseworker"], lang),
                    ]
                )
                for g in d["by_group"]
            ],
        )
    )
    return parts


def _design(design: dict[str, Any], lang: Language) -> list[str]:
    parts = [f"<h3>{escape(_t('dep_design_heading', lang))}</h3>"]
    if not design.get("available"):
        return [*parts, f"<p>{_note(design, lang)}</p>"]
    balance, power = design["balance"], design["power"]
    achieved = power.get("achieved_power")
    power_status = power.get("status", "insufficient_evidence")
    cycle = escape(_t("dep_cycle", lang, cycle="\x00", sha="\x01"))
    cycle = cycle.replace("\x00", as_code(design["cycle"])).replace(
        "\x01", as_code(design["config_sha256"][:12])
    )
    balance_text = _t(
        "dep_balance",
        lang,
        holdout=count(balance["n_holdout"], lang),
        shown=count(balance["n_shown"], lang),
        threshold=figure(float(balance["threshold"]), lang, 2),
    )
    power_text = _t(
        "dep_power",
        lang,
        power=percent(achieved, lang) if achieved is not None else "–",
        reduction=percent(power["relative_reduction"], lang),
        baseline=percent(power["baseline_rate"], lang, 1),
        alpha=figure(float(power["alpha"]), lang, 2),
        target=percent(power["target_power"], lang),
        needed=count(power["needed_per_arm"], lang),
    )
    parts.append(
        f"<p>{cycle}</p><ul>"
        f"<li><b>{escape(_t('dep_balance_label', lang))}</b> "
        f"<span class='{_css(balance['status'])}'>{_status(balance['status'], lang)}</span>: "
        f"{escape(balance_text)}</li>"
        f"<li><b>{escape(_t('dep_power_label', lang))}</b> "
        f"<span class='{_css(power_status)}'>{_status(power_status, lang)}</span>: "
        f"{escape(power_text)}</li></ul>"
    )
    worst = sorted(
        (r for r in balance["covariates"] if r["standardized_difference"] is not None),
        key=lambda r: -abs(r["standardized_difference"]),
    )[:10]
    parts.append(
        _table(
            [_t("col_covariate", lang), _t("col_std_diff", lang), _t("col_imbalanced", lang)],
            [
                [
                    _covariate(r["covariate"], lang),
                    figure(r["standardized_difference"], lang),
                    figure(r["imbalanced"], lang),
                ]
                for r in worst
            ],
        )
    )
    return parts


def _css(status: str) -> str:
    """The report's class for a status: pass green, fail red, anything else amber."""
    return {"pass": "pass", "fail": "alert"}.get(status, "not_evaluable")


def deployment_languages(section: dict[str, Any] | None, *, first: Language = "en") -> str:
    """The section in the three languages behind a switch ("" when the report has none)."""
    if not section:
        return ""
    blocks = {lang: deployment_html(section, lang) for lang in LANGUAGE_CODES}
    switch = language_switch(blocks, name="deployment", first=first)
    return f"<section id='deployment'>{switch}</section>"


def with_deployment(page: str, section: dict[str, Any] | None) -> str:
    """The monitoring report page with the deployment section, in English, Russian and
    Kazakh behind a switch, before its end."""
    closing = "</body></html>"
    html = deployment_languages(section)
    if not html or closing not in page:
        return page
    head, _, tail = page.rpartition(closing)
    return f"{head}{html}\n{closing}{tail}"
