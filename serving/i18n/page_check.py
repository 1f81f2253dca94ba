"""The checker of a rendered page's language: no raw code, no Latin word on a Cyrillic page.

:func:`serving.i18n.translation_problems` checks the tables of words; this checks what a
caseworker actually reads, so a code that reaches the page without passing through a table
(``household`` in the Area column, ``financial_hardship``, an English reason on the Kazakh
page) is caught too. It reads the visible text and the ``aria-label``/``title``/``alt``
attributes, skipping ``<style>``/``<script>`` and any element in another language
(``lang="en"`` on the language menu's "English").

A problem is a snake_case word (a code: ``no_action``, ``domestic_violence_report``) in any
language, a known code of the service's vocabularies (domains, event types, details,
decisions, kinds, levels, statuses, channels) on a Russian or Kazakh page, or, on those
pages, any word of two or more Latin letters except :data:`ALLOWED_LATIN` (the product's
name) and words with digits (family numbers, token ids).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html.parser import HTMLParser

from serving.i18n.words import Language

ALLOWED_LATIN = frozenset({"earlyrisk"})
_SNAKE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b")
_WORD = re.compile(r"[^\W\d_]{2,}[\w-]*|\w+", re.UNICODE)
_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


def _codes() -> frozenset[str]:
    """Every code of the service's vocabularies."""
    from features.contract import DOMAINS, EVENT_TYPES
    from serving.i18n.events import CHANNEL_NAME, DECISION_NAME, DETAIL_NAME
    from serving.i18n.phrases import KIND_NAME, LEVEL_NAME

    found = {*DOMAINS, "household", *EVENT_TYPES, *DETAIL_NAME, *DECISION_NAME, *KIND_NAME}
    found |= {*LEVEL_NAME, *CHANNEL_NAME, "scored", "ineligible", "eligible", "error"}
    return frozenset(found)


class _Text(HTMLParser):
    def __init__(self, lang: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, skipped)
        self.page_lang = lang
        self.chunks: list[str] = []

    def _skipped(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        other_lang = values.get("lang") not in (None, self.page_lang) and tag != "html"
        skipped = self._skipped() or tag in ("style", "script") or other_lang
        if not skipped:
            self.chunks += [str(values[a]) for a in ("aria-label", "title", "alt") if values.get(a)]
        if tag not in _VOID:
            self.stack.append((tag, skipped))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if not self._skipped() and data.strip():
            self.chunks.append(data)


def visible_text(html: str, lang: str) -> list[str]:
    """The texts a reader of a ``lang`` page sees (and hears), in order."""
    parser = _Text(lang)
    parser.feed(html)
    parser.close()
    return parser.chunks


def page_problems(html: str, lang: Language, *, allowed: Iterable[str] = ()) -> list[str]:
    """Every raw code and (on ru and kk pages) every Latin word the page shows; empty when
    the page is all in its language. ``allowed``: Latin words the page may show besides
    :data:`ALLOWED_LATIN` (a report's "ROC AUC", :data:`serving.i18n.report_words.REPORT_LATIN`)."""
    codes = _codes()
    latin_ok = ALLOWED_LATIN | {word.lower() for word in allowed}
    problems: list[str] = []
    for text in visible_text(html, lang):
        for code in _SNAKE.findall(text):
            problems.append(f"raw code {code!r} in {text.strip()[:80]!r}")
        if lang == "en":
            continue
        for word in _WORD.findall(text):
            if any(ch.isdigit() for ch in word) or word.lower() in latin_ok:
                continue
            if "_" in word:
                continue  # reported above as a code
            if word in codes:
                problems.append(f"raw code {word!r} in {text.strip()[:80]!r}")
            elif re.search(r"[A-Za-z]{2,}", word):
                problems.append(f"Latin word {word!r} on a {lang} page in {text.strip()[:80]!r}")
    return problems
