"""One report file in three languages, with a switch and no script.

Why a switch and not one file per language: the monitoring and shadow reports are files
(mailed, archived, logged to MLflow, opened offline), read by people of different
languages; the review page negotiates its language per request, a file cannot. So a report
carries its text in English, Russian and Kazakh, each block marked with its ``lang``, and a
row of radio buttons shows one. Plain CSS does the switching (``:has()``, in every current
browser); a browser without ``:has()`` shows all three blocks one after another rather than
none, and the page still needs no script (MLflow's artifact viewer and mail clients drop
scripts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from serving.i18n.report_words import LANGUAGE_NAME
from serving.i18n.words import LANGUAGE_CODES, Language

_NAME = re.compile(r"^[a-z][a-z0-9-]*$")

SWITCH_STYLE = """
.langs{display:flex;flex-wrap:wrap;gap:.3em .8em;align-items:center;margin:.6em 0;
padding:.4em .6em;background:#f3f3f3;border-radius:4px}
.langs label{cursor:pointer;padding:.15em .2em}.langs input{margin:0 .2em 0 0}
"""


def language_switch(blocks: Mapping[Language, str], *, name: str, first: Language = "en") -> str:
    """The switch and the three blocks (HTML), ``first`` shown when the page opens.

    ``name`` tells this switch from another on the same page (the monitoring page may hold
    more than one section with a switch): lower case letters, digits and hyphens.
    """
    if not _NAME.match(name):
        raise ValueError(f"switch name {name!r}: use lower case letters, digits and hyphens")
    missing = [lang for lang in LANGUAGE_CODES if lang not in blocks]
    if missing or first not in LANGUAGE_CODES:
        raise ValueError(
            f"a switch needs a block in each of {list(LANGUAGE_CODES)} and a first language "
            f"among them; missing {missing}, first {first!r}"
        )
    buttons = "".join(
        f'<label lang="{lang}"><input type="radio" name="{name}" id="{name}-{lang}" '
        f'value="{lang}"{" checked" if lang == first else ""}>{LANGUAGE_NAME[lang]}</label>'
        for lang in LANGUAGE_CODES
    )
    hide = "\n".join(
        f"body:has(#{name}-{lang}:not(:checked)) "
        f'.in-lang[data-switch="{name}"][lang="{lang}"]{{display:none}}'
        for lang in LANGUAGE_CODES
    )
    parts = [
        f"<style>{SWITCH_STYLE}@supports selector(:has(a)){{\n{hide}\n}}</style>",
        # no label in one language: each button is its language's own name
        f'<div class="langs" role="radiogroup">{buttons}</div>',
        *(
            f'<div class="in-lang" data-switch="{name}" lang="{lang}">{blocks[lang]}</div>'
            for lang in LANGUAGE_CODES
        ),
    ]
    return "\n".join(parts)
