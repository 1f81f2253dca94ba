"""What a caseworker sees of a family in the display hold-out: no level, and why.

The score of a hold-out family is computed and logged (the evaluation needs it), but
``/score``, ``/family`` and the review page show neither its probability, level,
percentile nor reasons (the reasons give the level away). The family stays on the
caseworker's usual path: the caseworker decides as before, and the decision is recorded
on the withheld score like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from serving.i18n import Language

#: what the response says instead of the level, in the caseworker's language
WITHHELD_REASON: dict[str, str] = {
    "en": (
        "The risk level of this family is withheld for evaluation this cycle (display "
        "hold-out). Nothing is withheld from the family: follow your usual path and record "
        "your decision as always."
    ),
    "ru": (
        "Уровень риска этой семьи в этом цикле скрыт для оценки (контрольная группа). "
        "Семья ничего не лишается: действуйте как обычно и запишите своё решение."
    ),
    "kk": (
        "Бұл отбасының тәуекел деңгейі осы кезеңде бағалау үшін жасырылған (бақылау "
        "тобы). Отбасы ештеңеден айырылмайды: әдеттегідей әрекет етіп, шешіміңізді жазыңыз."
    ),
}

#: the level column of a hold-out family's history
WITHHELD_LEVEL: dict[str, str] = {
    "en": "withheld for evaluation",
    "ru": "скрыт для оценки",
    "kk": "бағалау үшін жасырылған",
}


def withheld_reason(lang: Language) -> str:
    """The hold-out notice in lang (English for a language without one)."""
    return WITHHELD_REASON.get(lang, WITHHELD_REASON["en"])


def withheld_result(scored: Mapping[str, Any], lang: Language) -> dict[str, Any]:
    """A ``/score`` result of a hold-out family: the score id to decide on, no level."""
    return {
        "status": "withheld",
        "family_id": scored["family_id"],
        "score_id": scored["score_id"],
        "lang": lang,
        "reason": withheld_reason(lang),
        "model_version": scored["model_version"],
        "snapshot_date": scored["snapshot_date"],
        "advisory_notice": scored["advisory_notice"],
    }


def mask_history(history: list[dict[str, Any]], lang: Language) -> list[dict[str, Any]]:
    """A hold-out family's history without probabilities or levels (decisions stay)."""
    name = WITHHELD_LEVEL.get(lang, WITHHELD_LEVEL["en"])
    return [
        {**item, "probability": None, "risk_level": None, "risk_level_name": name}
        for item in history
    ]


def withheld_item(item: dict[str, Any], lang: Language) -> dict[str, Any]:
    """A worklist item of a hold-out family: on the list like the others (the caseworker's
    usual path, its status and decision in force), without its probability or level."""
    return {
        **item,
        "probability": None,
        "risk_level": None,
        "risk_level_name": WITHHELD_LEVEL.get(lang, WITHHELD_LEVEL["en"]),
    }
