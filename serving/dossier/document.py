"""An explanation record's words: the re-derived numbers (:mod:`serving.dossier.build`) in
a family member's language, laid out by ``serving/templates/dossier.html.j2``.

The needs and their records are those of the family page (:func:`serving.needs_view.needs_page`:
each record with what happened, when, when it was recorded and by which agency, the child by
age), kept to the needs that raised the estimate; numbers, percentages and dates are
formatted per language by Babel (:mod:`serving.i18n.locale_format`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from features.catalogue import FEATURES
from serving.dossier.build import DossierFacts
from serving.dossier.mutable import MUTABLE_CHANGES
from serving.dossier.texts import DOSSIER
from serving.explain import explanation_json
from serving.family_view import indicator_rows
from serving.i18n import Language, decision_name, format_value, level_name
from serving.i18n import locale_format as fmt
from serving.needs_view import needs_page
from serving.records import FamilyRecords
from serving.support_catalogue import SupportCatalogue

_CHANGE_TEXT = {change.code: change.text for change in MUTABLE_CHANGES}


def _t(key: str, lang: Language, **fields: object) -> str:
    return DOSSIER[key][lang].format(**fields)


def _correction_line(correction: Mapping[str, Any], lang: Language) -> str:
    """One correction in the family's words: which record, when, what, and the decision."""
    day = correction.get("decided_date") or correction["requested_date"]
    return _t(
        "correction_item",
        lang,
        record=correction["record_id"],
        day=fmt.day(str(day), lang),
        action=_t(f"correction_{correction['action']}", lang),
        status=_t(f"correction_{correction['status']}", lang),
    )


def _value(indicator: str, value: float | None, lang: Language) -> str:
    return format_value(indicator, value, unit=FEATURES[indicator].unit, lang=lang)


def dossier_document(
    facts: DossierFacts,
    *,
    lang: Language,
    records: FamilyRecords | None,
    catalogue: SupportCatalogue,
    contact: str | None = None,
    produced_at: datetime | None = None,
    contested: bool = False,
    corrections: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The template's context: every section of the record in ``lang``; ``corrections`` are
    the family's corrections filed through the service (each with its record, action,
    status and dates), listed so the family sees what was contested and decided."""
    numbers = facts.numbers
    family_id, day = str(numbers["family_id"]), str(numbers["as_of"])
    scorer = facts.model.scorer
    family_records = records.for_family(family_id, day) if records is not None else None
    # only the needs that raised the estimate are worded (a record is not about the rest)
    raising = {r.indicator for r in facts.explanation.needs_raising}
    shown = [i for i, name in enumerate(scorer.feature_names) if name in raising]
    view = {
        "as_of": day,
        "indicators": indicator_rows(
            names=[scorer.feature_names[i] for i in shown],
            values=[float(facts.row[i]) for i in shown],
            info=scorer.indicators,
            records=family_records,
            lang=lang,
        ),
    }
    score = {
        **explanation_json(facts.explanation, lang),
        "probability": numbers["probability"],
        "risk_bands": [],
    }
    page = needs_page(view, score, lang=lang, catalogue=catalogue)
    needs = [
        {**need, "records_missing": need["records"] is None}
        for group in page["groups"]
        for need in group["needs"]
        if need["effect"] is not None  # raised the estimate (an acute need alone is not)
    ]
    level = str(numbers["risk_level"])
    level_words = level_name(level, lang)
    probability = fmt.percent(float(numbers["probability"]), lang)
    cutoff = numbers["cutoff"]
    return {
        "lang": lang,
        "title": _t("title", lang),
        "intro": _t("intro", lang),
        "facts_heading": _t("facts_heading", lang),
        "facts": [
            (_t("family", lang), family_id),
            (_t("data_date", lang), fmt.day(day, lang)),
            (_t("assessed_on", lang), fmt.day(str(numbers["recorded_at"]), lang)),
            (_t("model", lang), f"{numbers['model_name']} {numbers['model_version']}"),
            (_t("reference", lang), str(numbers["score_id"])),
        ],
        "level_line": _t("level_line", lang, level=level_words),
        "level_meaning": _t(f"level_{level}", lang),
        "estimate_line": (
            _t("estimate_low", lang, probability=probability)
            if cutoff is None
            else _t(
                "estimate_line",
                lang,
                probability=probability,
                level=level_words,
                cutoff=fmt.percent(float(cutoff), lang),
            )
        ),
        "needs_heading": _t("needs_heading", lang),
        "needs_intro": _t("needs_intro", lang),
        "no_needs": _t("no_needs", lang),
        "no_records": _t("no_records", lang),
        "needs": [
            {
                "description": n["description"],
                "value": _t("need_value", lang, value=n["value"]),
                "effect": _t("need_effect", lang, effect=n["effect"]),
                "records": n["records"] or [],
                "records_ref": n["records_ref"],
                "records_missing": n["records_missing"],
            }
            for n in needs
        ],
        "change_heading": _t("change_heading", lang),
        "change": _change_section(facts, lang),
        "change_note": _t("change_note", lang),
        "decision_heading": _t("decision_heading", lang),
        "decisions": _decisions(facts, lang),
        "contest_heading": _t("contest_heading", lang),
        "contest_text": _t("contest_text", lang, reference=numbers["score_id"]),
        "contact": None if not contact else _t("contact", lang, contact=contact),
        "contested": _t("contested", lang) if contested else None,
        "corrections_heading": _t("corrections_heading", lang),
        "corrections": [_correction_line(c, lang) for c in corrections],
        "footer": _t(
            "footer",
            lang,
            produced=fmt.day((produced_at or datetime.now(UTC)).date(), lang),
            reference=numbers["score_id"],
            model=f"{numbers['model_name']} {numbers['model_version']}",
            as_of=fmt.day(day, lang),
        ),
        "numbers": numbers,
        "sha256": facts.sha256,
    }


def _change_section(facts: DossierFacts, lang: Language) -> dict[str, Any]:
    """What would change the level, in words (a lead sentence and the changes)."""
    cf = facts.counterfactual
    if cf.cutoff is None:
        return {"lead": _t("change_low", lang), "changes": []}
    if not cf.changes:
        return {"lead": _t("change_nothing", lang), "changes": []}
    items = [
        _t(
            "change_item",
            lang,
            change=_CHANGE_TEXT[c.code][lang],
            values="; ".join(_value(i.indicator, i.before, lang) for i in c.indicators),
        )
        for c in cf.changes
    ]
    p = fmt.percent(float(cf.probability or 0.0), lang)
    cut = fmt.percent(cf.cutoff, lang)
    if cf.found:
        lead = _t(
            "change_found",
            lang,
            probability=p,
            cutoff=cut,
            new_level=level_name(str(cf.new_level), lang),
        )
        return {"lead": lead, "changes": items}
    return {"lead": _t("change_not_found", lang, probability=p, cutoff=cut), "changes": items}


def _decisions(facts: DossierFacts, lang: Language) -> dict[str, Any]:
    """The caseworker's decisions on the score (the one in force first), or the sentence
    saying none is recorded yet."""
    made = [
        _t(
            "decision_line",
            lang,
            decision=decision_name(str(d["decision"]), lang),
            date=fmt.day(str(d["recorded_at"]), lang),
            who=_t("who", lang, token_id=d["token_id"]),
            reason=d["reason"],
        )
        for d in reversed(facts.decisions)
    ]
    return {
        "none": _t("decision_none", lang) if not made else None,
        "current": made[0] if made else None,
        "earlier_heading": _t("decision_earlier", lang),
        "earlier": made[1:],
    }
