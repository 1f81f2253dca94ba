"""The shadow report and the monitoring report's deployment section speak Kazakh, Russian
and English, as the review page does: every block of the page reads in its own language
(no English word, no raw code on the Russian and Kazakh blocks), its figures in that
language's forms (Babel: "38,3 %" in ru and kk, "38.3 %" in en), the audit groups of the
contract's closed lists in words, and the switch between them refuses what it cannot show.

The pages are the ones ``scripts/report_screenshots.py`` renders for the docs (a made-up
audit log with a rollout, a hold-out, a shadow and caseworkers' decisions); the browser
checks at 360 and 1,280 px are in ``test_report_pages_phone.py``.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.i18n.page_check import page_problems, visible_text
from serving.i18n.report_words import REPORT_LATIN, families, group_name
from serving.i18n.switch import language_switch
from serving.i18n.words import LANGUAGE_CODES, Language

REPO = Path(__file__).resolve().parents[2]
#: a heading each page shows in each language (its own words, not a translation of a code)
HEADINGS = {
    "shadow": {"en": "By audit group", "ru": "По группам аудита", "kk": "Аудит топтары бойынша"},
    "deployment": {"en": "Decision audit", "ru": "Аудит решений", "kk": "Шешімдер аудиті"},
}


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    spec = importlib.util.spec_from_file_location(
        "report_screenshots", REPO / "scripts" / "report_screenshots.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    shadow, deployment = script.build_pages(tmp_path_factory.mktemp("report_languages"))
    return {
        "shadow": shadow.read_text(encoding="utf-8"),
        "deployment": deployment.read_text(encoding="utf-8"),
    }


def _blocks(page: str, switch: str) -> dict[Language, str]:
    """Each language's block of a switch, as its own page in that language."""
    found = re.findall(
        rf'<div class="in-lang" data-switch="{switch}" lang="(\w+)">(.*?)</div>(?=\n<div '
        rf'class="in-lang"|</section>|\n</body>)',
        page,
        flags=re.S,
    )
    return {
        next(code for code in LANGUAGE_CODES if code == lang): (
            f"<html lang='{lang}'><body>{body}</body></html>"
        )
        for lang, body in found
    }


@pytest.mark.parametrize("name", ["shadow", "deployment"])
def test_each_block_reads_in_its_own_language(pages: dict[str, str], name: str) -> None:
    blocks = _blocks(pages[name], name)
    assert sorted(blocks) == sorted(LANGUAGE_CODES)
    for lang, block in blocks.items():
        assert HEADINGS[name][lang] in block, (name, lang)
        assert page_problems(block, lang, allowed=REPORT_LATIN) == [], (name, lang)
        assert len(" ".join(visible_text(block, lang))) > 1500  # the whole section, not a stub


@pytest.mark.parametrize("name", ["shadow", "deployment"])
def test_figures_are_written_in_each_languages_forms(pages: dict[str, str], name: str) -> None:
    blocks = _blocks(pages[name], name)
    shares = re.compile(r"\b\d+([.,])\d\u00a0%")
    for lang, block in blocks.items():
        text = " ".join(visible_text(block, lang))
        marks = {m.group(1) for m in shares.finditer(text)}
        assert marks == ({"."} if lang == "en" else {","}), (name, lang, marks)
        if lang != "en":  # no English decimal point in a figure ("0.712" is a typo in ru)
            assert not re.search(r"\b0\.\d{2,3}\b", text), (name, lang)


def test_closed_list_groups_are_words_and_data_is_shown_as_written(
    pages: dict[str, str],
) -> None:
    blocks = _blocks(pages["deployment"], "deployment")
    assert ">село<" in blocks["ru"] and ">город<" in blocks["ru"]
    assert ">ауыл<" in blocks["kk"] and ">қала<" in blocks["kk"]
    assert ">rural<" in blocks["en"]
    # a region is data: as written, marked as of no known language
    assert '<span lang="" translate="no">Almaty</span>' in blocks["ru"]
    assert group_name("KZ-ALA", "kk") == '<span lang="" translate="no">KZ-ALA</span>'


def test_the_shadow_page_opens_in_the_language_asked_for(pages: dict[str, str]) -> None:
    from serving.monitor.shadow_report_html import render_shadow_html

    report = {"confidence_level": 0.95, "groups_available": False, "comparisons": []}
    page = render_shadow_html(report, lang="kk")
    assert "<html lang='kk'>" in page and 'id="shadow-kk" value="kk" checked' in page
    assert page.count(" checked") == 1
    # the default page opens in English
    assert 'id="shadow-en" value="en" checked' in pages["shadow"]


def test_a_number_takes_the_nouns_form_in_each_language() -> None:
    def f(n: int, lang: Language) -> str:
        return families(n, str(n), lang)

    assert [f(n, "ru") for n in (1, 2, 5, 11, 21, 22, 112)] == [
        "1 семья",
        "2 семьи",
        "5 семей",
        "11 семей",
        "21 семья",
        "22 семьи",
        "112 семей",
    ]
    assert [f(n, "en") for n in (1, 2)] == ["1 family", "2 families"]
    assert f(5, "kk") == "5 отбасы"


def test_the_switch_refuses_a_missing_language_and_a_bad_name() -> None:
    with pytest.raises(ValueError, match=r"missing \['kk'\]"):
        language_switch({"en": "a", "ru": "б"}, name="x")
    with pytest.raises(ValueError, match="switch name 'X y'"):
        language_switch({"en": "a", "ru": "б", "kk": "ә"}, name="X y")
    html = language_switch({"en": "a", "ru": "б", "kk": "ә"}, name="x", first="ru")
    # a browser without :has() shows every block rather than none
    assert "@supports selector(:has(a))" in html and 'id="x-ru" value="ru" checked' in html


def test_shadow_report_refuses_an_unknown_language(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["shadow-report", "--out", str(tmp_path / "out"), "--lang", "de"],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 2, result.output
    assert "--lang 'de' is not one of en, ru, kk" in result.output
    assert not (tmp_path / "out").exists()
