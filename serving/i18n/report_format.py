"""Figures of the monitoring and shadow reports as each language writes them (Babel, via
:mod:`serving.i18n.locale_format`): "0,712 (0,690–0,734)", "38,3 % (32,9–44,0 %)" on a
Russian or Kazakh page, "0.712 (0.690–0.734)" on an English one.

Why not Python's format specs: a Russian reader reads "0.712" as a typo or as a thousands
group, and the review page already writes the Babel forms; a report of the same service
must not mix the two.
"""

from __future__ import annotations

from typing import Any

from serving.i18n import locale_format
from serving.i18n.report_words import AUDIT_VALUE
from serving.i18n.words import Language

DASH = "–"  # a figure that was not computed


def figure(value: Any, lang: Language, digits: int = 3) -> str:
    """A report's figure: None a dash, a flag yes/no in words, a float with ``digits``
    decimals, a whole number grouped in thousands."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return AUDIT_VALUE["yes" if value else "no"][lang]
    if isinstance(value, float):
        return locale_format.number(value, lang, decimals=digits)
    return locale_format.number(float(value), lang, decimals=0)


def count(value: int, lang: Language) -> str:
    """A count grouped in thousands ("1 234" in ru and kk, "1,234" in en)."""
    return locale_format.number(float(value), lang, decimals=0)


def interval(iv: dict[str, Any] | None, lang: Language, digits: int = 3) -> str:
    """An estimate and its interval: "0,712 (0,690–0,734)"."""
    if not iv or iv.get("value") is None:
        return DASH
    low, high = figure(iv.get("low"), lang, digits), figure(iv.get("high"), lang, digits)
    return f"{figure(iv['value'], lang, digits)} ({low}–{high})"


def share(iv: dict[str, Any] | None, lang: Language) -> str:
    """A share and its interval as percentages: "38,3 % (32,9–44,0 %)" (a no-break space
    before "%": a narrow phone column never puts the sign on its own line)."""
    if not iv or iv.get("value") is None:
        return DASH
    value = locale_format.percent(iv["value"], lang)
    low, high = iv.get("low"), iv.get("high")
    if low is None or high is None:
        return value
    low_text = locale_format.number(100.0 * low, lang, decimals=1)
    return f"{value} ({low_text}–{locale_format.percent(high, lang)})"


def percent(value: float, lang: Language, decimals: int = 0) -> str:
    """A share as a percentage with ``decimals`` decimals: "15 %", "4,6 %"."""
    return locale_format.percent(value, lang, decimals=decimals)


def when(stamp: str, lang: Language) -> str:
    """An audit entry's UTC time: the day in lang's medium form and the time ("14 янв.
    2025 г. 09:12")."""
    return f"{locale_format.day(stamp, lang)} {stamp[11:16]}".strip()
