"""Numbers, percentages, money and dates as each language writes them (Babel's CLDR data).

One place formats every number a caseworker reads, so a page never mixes "18.0 %" with
"11,0 %": Russian and Kazakh get a decimal comma and a no-break space between thousands,
English a decimal point and a comma. Money is in tenge with the sign "₸" in every language
(CLDR's Russian writes "KZT", Latin letters on a Cyrillic page). Dates: CLDR's medium form
("8 дек. 2024 г.", "2024 ж. 08 жел.", "Dec 8, 2024").
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from babel.dates import format_date as _babel_date
from babel.numbers import format_decimal

from serving.i18n.words import Language

_MINUS = "\u2212"


def number(value: float, lang: Language, *, decimals: int | None = None) -> str:
    """A number grouped per lang: whole numbers without decimals, else one (or ``decimals``).

    Cached: Babel takes most of a millisecond per number, and a page (an explanation
    record, a family page) formats the same few values (0, 1, 2 ...) hundreds of times."""
    return _number(float(value), lang, decimals)


@lru_cache(maxsize=16_384)
def _number(value: float, lang: Language, decimals: int | None) -> str:
    if decimals is None:
        decimals = 0 if float(value).is_integer() else 1
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=lang).replace("-", _MINUS)


def percent(share: float, lang: Language, *, decimals: int = 1) -> str:
    """A share in [0, 1] as a percentage with ``decimals`` decimals ("18,3 %" in ru/kk)."""
    text = number(100.0 * share, lang, decimals=decimals)
    return f"{text}\u00a0%"


def points(share: float, lang: Language) -> str:
    """A signed difference of probabilities in percentage points' number ("+1,2")."""
    sign = "+" if share >= 0 else _MINUS
    return sign + number(abs(100.0 * share), lang, decimals=1)


def money(amount: float, lang: Language) -> str:
    """An amount in tenge, whole: "125 000 ₸"."""
    return f"{number(round(amount), lang, decimals=0)}\u00a0₸"


def day(value: str | date, lang: Language) -> str:
    """An ISO date (or a date) in lang's medium form (cached like :func:`number`)."""
    parsed = date.fromisoformat(value[:10]) if isinstance(value, str) else value
    return _day(parsed, lang)


@lru_cache(maxsize=16_384)
def _day(parsed: date, lang: Language) -> str:
    return _babel_date(parsed, format="medium", locale=lang)
