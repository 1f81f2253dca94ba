"""What a caseworker reads, in English, Russian or Kazakh (design rule 11).

One place turns codes into words: :func:`negotiate` picks the language of a request (an
explicit ``lang`` first, then the ``Accept-Language`` header, English by default);
:func:`describe_indicator`, :func:`format_value`, :func:`format_contribution`,
:func:`level_name`, :func:`kind_name` and :func:`notice` give the texts. English
descriptions are the catalogue's own; Russian and Kazakh are in
:mod:`serving.i18n.indicators` and :mod:`serving.i18n.phrases`, never inline in code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from string import Formatter
from typing import get_args

from features.contract import DOMAINS, EVENT_TYPES
from serving.i18n import locale_format
from serving.i18n.events import (
    CHANNEL_NAME,
    DECISION_NAME,
    DETAIL_NAME,
    DOMAIN_NAME,
    EVENT_TYPE_NAME,
    SOURCE_NAME,
)
from serving.i18n.indicators import DESCRIPTIONS, MISSING
from serving.i18n.page import PAGE
from serving.i18n.phrases import (
    BAND_MEANING,
    BAND_MEANING_FIXED,
    CONTRIBUTION,
    INELIGIBLE_REASON,
    KIND_NAME,
    LEVEL_NAME,
    NOT_RECORDED,
    NOTICE,
    RU_PLURAL,
    UNIT,
    YES_NO,
)
from serving.i18n.words import LANGUAGE_CODES, Language, Words
from serving.schemas import Decision

DEFAULT_LANGUAGE: Language = "en"
# Tags people send for Kazakh besides ISO 639-1 "kk" ("kz" is the country code).
_ALIASES: dict[str, Language] = {"kz": "kk", "kaz": "kk", "rus": "ru", "eng": "en"}

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGE_CODES",
    "Language",
    "band_meaning",
    "channel_name",
    "decision_name",
    "describe_indicator",
    "domain_name",
    "event_name",
    "format_contribution",
    "format_value",
    "ineligible_reason",
    "kind_name",
    "level_name",
    "negotiate",
    "notice",
    "rounded_value",
    "source_name",
    "translation_problems",
]


def _primary(tag: str) -> Language | None:
    code = tag.strip().lower().replace("_", "-").split("-")[0]
    if code in LANGUAGE_CODES:
        return code
    return _ALIASES.get(code)


def negotiate(lang: str | None, accept_language: str | None) -> Language:
    """The request's language: ``lang`` when given and known, else the best-weighted known
    language of ``Accept-Language`` (RFC 9110 q-values), else English.

    An unknown ``lang`` falls back like a missing one: the score is still served, in
    English, and the response's ``lang`` field says which language was used.
    """
    if lang:
        chosen = _primary(lang)
        if chosen is not None:
            return chosen
    if not accept_language:
        return DEFAULT_LANGUAGE
    best: tuple[float, int, Language] | None = None
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.partition(";")
        chosen = _primary(tag)
        if chosen is None:
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0.0:
            continue
        # higher q wins; among equal q, the earlier tag
        if best is None or (quality, -position) > (best[0], best[1]):
            best = (quality, -position, chosen)
    return best[2] if best is not None else DEFAULT_LANGUAGE


def describe_indicator(name: str, lang: Language) -> str:
    """The indicator's description in lang (English: the catalogue's)."""
    from features.catalogue import FEATURES

    if lang == "en":
        return FEATURES[name].description
    return DESCRIPTIONS[name][lang]


def rounded_value(value: float | None, unit: str) -> float | None:
    """The value as shown: whole tenge, days, years and counts; one decimal otherwise.

    None stays None (not recorded); so does NaN.
    """
    if value is None or math.isnan(value):
        return None
    if unit in ("KZT", "days", "years", "yes/no"):
        return float(round(value))
    if unit == "count" and float(value).is_integer():
        return float(value)
    return round(float(value), 1)


def _number(value: float, lang: Language) -> str:
    """A number with thousands grouped the way each language writes it (Babel)."""
    return locale_format.number(value, lang)


def _ru_plural(value: float, forms: tuple[str, str, str]) -> str:
    if not float(value).is_integer():
        return forms[1]
    n = abs(int(value)) % 100
    if 11 <= n <= 14:
        return forms[2]
    n %= 10
    if n == 1:
        return forms[0]
    if 2 <= n <= 4:
        return forms[1]
    return forms[2]


def _is_change(name: str) -> bool:
    from features.catalogue import FEATURES

    spec = FEATURES.get(name)
    return spec is not None and spec.aggregation in ("sum_change", "count_change")


def format_value(name: str, value: float | None, *, unit: str, lang: Language) -> str:
    """The family's value for a person: rounded, with its unit, or the missing phrase.

    Never empty: a value that is not recorded is said in words ("no income recorded in
    the last 90 days").
    """
    shown = rounded_value(value, unit)
    if shown is None:
        return MISSING.get(name, NOT_RECORDED)[lang]
    if unit == "yes/no":
        yes, no = YES_NO[lang]
        return yes if shown >= 0.5 else no
    number = _number(shown, lang)
    if shown > 0 and _is_change(name):
        number = "+" + number  # a change says which way it went
    if unit == "years" and lang == "en" and shown == 1:
        return f"{number} year"
    if unit == "days" and lang == "en" and shown == 1:
        return f"{number} day"
    if lang == "ru" and unit in RU_PLURAL:
        return f"{number} {_ru_plural(shown, RU_PLURAL[unit])}"
    label = UNIT[unit][lang]
    return f"{number} {label}" if label else number


def format_contribution(contribution: float, lang: Language) -> str:
    """A contribution (probability difference) as signed percentage points, one decimal."""
    return CONTRIBUTION[lang].format(points=locale_format.points(contribution, lang))


def level_name(level: str, lang: Language) -> str:
    """The risk level's name in lang."""
    return LEVEL_NAME[level][lang]


def kind_name(kind: str, lang: Language) -> str:
    """The indicator kind's name in lang (need, family situation, support received)."""
    return KIND_NAME[kind][lang]


def _word(table: Mapping[str, Words], code: str, lang: Language) -> str:
    entry = table.get(code)
    return entry[lang] if entry is not None else code


def event_name(event_type: str, detail: str | None, lang: Language) -> str:
    """A record's event in words: its type, then its detail (benefit kind, a person's part
    in a police contact, an inspection's result) when it has one.

    A detail outside the contract's closed lists is free text from the source and is shown
    as written; every event type of the contract has words (a test checks it).
    """
    name = _word(EVENT_TYPE_NAME, event_type, lang)
    return name if detail is None else f"{name}: {_word(DETAIL_NAME, detail, lang)}"


def source_name(source: str, lang: Language) -> str:
    """The agency system a record came from in words (an unknown system: its own name)."""
    return _word(SOURCE_NAME, source, lang)


def domain_name(domain: str, lang: Language) -> str:
    """The catalogue domain of an indicator in words."""
    return _word(DOMAIN_NAME, domain, lang)


def channel_name(endpoint: str, lang: Language) -> str:
    """Where a score was served (the audit log's endpoint) in words."""
    return _word(CHANNEL_NAME, endpoint, lang)


def decision_name(decision: str, lang: Language) -> str:
    """A caseworker's decision in words."""
    return _word(DECISION_NAME, decision, lang)


def _percent(value: float, lang: Language) -> str:
    return locale_format.number(100.0 * value, lang, decimals=1)


def band_meaning(
    level: str,
    *,
    lang: Language,
    lower: float,
    upper: float | None,
    derived: bool,
    count: int = 0,
    share: float = 0.0,
    ratio: float = 0.0,
    base: float = 0.0,
) -> str:
    """What a band means, with its cut-offs (probabilities in [0, 1], shown in %)."""
    fields = {
        "cut": _percent(lower, lang),
        "upper": _percent(upper if upper is not None else 1.0, lang),
        "count": _number(float(count), lang),
        "share": _percent(share, lang),
        "ratio": locale_format.number(ratio, lang),
        "base": _percent(base, lang),
    }
    if not derived:
        return BAND_MEANING_FIXED[lang].format(**fields)
    return BAND_MEANING[level][lang].format(**fields)


def ineligible_reason(min_children: int, lang: Language) -> str:
    """Why a family outside the scored population has no score, in lang (the rule of
    :class:`features.eligibility.EligibilityRule`: ``min_children`` children under 18)."""
    if min_children <= 1:
        return INELIGIBLE_REASON["children_under_18"][lang]
    return INELIGIBLE_REASON["children_under_18_many"][lang].format(n=min_children)


def notice(lang: Language) -> str:
    """The default advisory notice in lang."""
    return NOTICE[lang]


# --------------------------------------------------------------------------- checks

_PLACEHOLDER_MARKS = ("TODO", "TBD", "FIXME", "XXX", "???", "lorem", "translate")
_NAN_AGGREGATIONS = ("sum_per_month", "mean", "max", "last", "days_since_last")


def _text_problems(where: str, lang: str, text: object) -> list[str]:
    if not isinstance(text, str) or not text.strip():
        return [f"{where} [{lang}]: empty"]
    problems = []
    if any(mark.lower() in text.lower() for mark in _PLACEHOLDER_MARKS):
        problems.append(f"{where} [{lang}]: placeholder text {text!r}")
    words = "".join(literal for literal, _, _, _ in Formatter().parse(text))
    cyrillic = sum("\u0400" <= ch <= "\u04ff" for ch in words)
    latin = sum(ch.isascii() and ch.isalpha() for ch in words)
    if lang in ("ru", "kk") and cyrillic <= latin:
        problems.append(f"{where} [{lang}]: not written in Cyrillic: {text!r}")
    if lang == "en" and cyrillic:
        problems.append(f"{where} [en]: Cyrillic in the English text {text!r}")
    return problems


def translation_problems() -> list[str]:
    """Every gap in the three languages (empty list = complete): a catalogue entry without
    a Russian or Kazakh description, a translation of an indicator the catalogue does not
    have, a missing-value phrase absent for an indicator whose value can be missing, a
    level, kind or unit without its words, templates whose fields differ between
    languages, placeholder or untranslated text."""
    from features.catalogue import FEATURES

    problems: list[str] = []
    for name, spec in FEATURES.items():
        problems += _text_problems(f"description of {name}", "en", spec.description)
        texts = DESCRIPTIONS.get(name)
        if texts is None:
            problems.append(f"description of {name}: no translations")
            continue
        for lang in ("ru", "kk"):
            problems += _text_problems(f"description of {name}", lang, texts.get(lang))
        if texts.get("ru") == texts.get("kk"):
            problems.append(f"description of {name}: Russian and Kazakh are the same text")
        if spec.aggregation in _NAN_AGGREGATIONS and name not in MISSING:
            problems.append(f"{name}: its value can be missing but no phrase says so")
        if spec.kind not in KIND_NAME:
            problems.append(f"{name}: kind {spec.kind!r} has no words")
        if spec.unit not in UNIT:
            problems.append(f"{name}: unit {spec.unit!r} has no words")
    problems += [
        f"translation of {n}: not in the catalogue" for n in DESCRIPTIONS.keys() - FEATURES.keys()
    ]
    problems += [
        f"missing phrase of {n}: not in the catalogue" for n in MISSING.keys() - FEATURES.keys()
    ]
    for event in EVENT_TYPES.values():
        if event.name not in EVENT_TYPE_NAME:
            problems.append(f"event type {event.name}: no words")
        problems += [
            f"detail {detail} of {event.name}: no words"
            for detail in event.details or ()
            if detail not in DETAIL_NAME
        ]
    problems += [f"domain {d}: no words" for d in DOMAINS if d not in DOMAIN_NAME]
    problems += [f"decision {d}: no words" for d in get_args(Decision) if d not in DECISION_NAME]
    from serving.i18n.report_words import AUDIT_ATTRIBUTE, AUDIT_VALUE, REPORT
    from serving.i18n.worklist_words import STATUS_NAME, WORKLIST

    words: dict[str, Mapping[str, Words]] = {
        "event type": EVENT_TYPE_NAME,
        "detail": DETAIL_NAME,
        "source": SOURCE_NAME,
        "domain": DOMAIN_NAME,
        "channel": CHANNEL_NAME,
        "decision": DECISION_NAME,
        "page label": PAGE,
        "missing phrase of": MISSING,
        "level": LEVEL_NAME,
        "band meaning": BAND_MEANING,
        "ineligible reason": INELIGIBLE_REASON,
        "kind": KIND_NAME,
        "unit": UNIT,
        "case status": STATUS_NAME,  # the worklist (issue 21)
        "worklist label": WORKLIST,
        # the shadow report and the monitor's deployment section (serving.i18n.report_words)
        "report label": REPORT,
        "audit attribute": AUDIT_ATTRIBUTE,
        "audit group": AUDIT_VALUE,
    }
    # every text in the three languages: one Words each
    tables: dict[str, Words] = {
        **{f"{what} {code}": t for what, table in words.items() for code, t in table.items()},
        "fixed band meaning": BAND_MEANING_FIXED,
        "contribution": CONTRIBUTION,
        "notice": NOTICE,
        "not recorded": NOT_RECORDED,
    }
    for where, entry in tables.items():
        fields = None
        for lang in LANGUAGE_CODES:
            text = entry.get(lang)
            if where.startswith("unit ") and text == "":
                continue  # a count or a yes/no has no unit word, in any language
            problems += _text_problems(where, lang, text)
            found = sorted(f for _, f, _, _ in Formatter().parse(str(text or "")) if f)
            if fields is not None and found != fields:
                problems.append(f"{where} [{lang}]: fields {found} differ from English {fields}")
            fields = found if fields is None else fields
    for level in ("low", "elevated", "high"):
        if level not in LEVEL_NAME or level not in BAND_MEANING:
            problems.append(f"level {level}: no words")
    for lang in LANGUAGE_CODES:
        if lang not in YES_NO:
            problems.append(f"yes/no [{lang}]: no words")
    return problems
