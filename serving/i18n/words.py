"""The one shape of every text a caseworker reads: a :class:`Words` holds it in English,
Russian and Kazakh.

Every table of texts (page labels, levels, kinds, units, notices, event types, missing
values...) maps its keys to ``Words``, written ``words(en, ru, kk)``; a table entry that lacks a
language is then a type error (mypy) before it is a failed test
(:func:`serving.i18n.translation_problems`), and one lookup, ``words[lang]``, serves every
table.
"""

from __future__ import annotations

from typing import Literal, TypedDict, get_args

Language = Literal["en", "ru", "kk"]
LANGUAGE_CODES: tuple[Language, ...] = get_args(Language)


class Words(TypedDict):
    """One text in the three languages."""

    en: str
    ru: str
    kk: str


def words(en: str, ru: str, kk: str, /) -> Words:
    """One text in English, Russian and Kazakh, in that order.

    The tables hold hundreds of texts: one positional call an entry keeps each entry one
    shape (and short), and a missing language is still a type error.
    """
    return {"en": en, "ru": ru, "kk": kk}
