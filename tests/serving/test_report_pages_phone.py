"""The shadow report and the monitor's deployment section as an auditor sees them in
Chromium on a 360 px phone and on a 1,280 px screen, in each of their languages (the
page's switch clicked: English, Russian, Kazakh): the chosen language's block alone is
shown and reads in that language, the page is laid out at the screen's width (not shrunk
from 980 px), nothing is wider than the screen, and no table cell breaks a word or a number
across lines ("443" shown as "44" over "3").

The pages are the ones ``scripts/report_screenshots.py`` renders for the docs (a made-up
audit log with a rollout, a hold-out, a shadow and caseworkers' decisions), so the
screenshots in docs/ and this test look at the same pages.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from chromium_driver import chromium_driver

from serving.i18n.page_check import page_problems
from serving.i18n.report_words import REPORT_LATIN
from serving.i18n.words import LANGUAGE_CODES, Language

pytestmark = pytest.mark.slow  # a browser and a rendered audit log

REPO = Path(__file__).resolve().parents[2]

#: every word or number of a table cell standing on more than one line
BROKEN_WORDS_JS = """
const broken = [];
for (const cell of document.querySelectorAll('td, th')) {
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    for (const m of node.data.matchAll(/[\\p{L}\\p{N}]+(?:[.,]\\p{N}+)*/gu)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      if (lines.size > 1) broken.push(m[0]);
    }
  }
}
return broken;
"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("report_pages")
    run = subprocess.run(
        [sys.executable, "scripts/report_screenshots.py", "--html-only", "--out", str(out)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return {"shadow": out / "shadow.html", "deployment": out / "deployment.html"}


#: the languages of the blocks shown (laid out: a hidden block has no box) and the HTML of
#: the first one, with its charts' bytes left out
SHOWN_JS = """
const shown = [...document.querySelectorAll('.in-lang')].filter((b) => b.getClientRects().length);
return [shown.map((b) => b.lang),
        shown.length ? shown[0].outerHTML.replace(/src="data:[^"]*"/g, 'src=""') : ''];
"""
#: table cells on the screen (those of the shown block)
CELLS_JS = (
    "return [...document.querySelectorAll('td')].filter((c) => c.getClientRects().length).length"
)


@pytest.mark.parametrize("width", [360, 1280])
def test_the_reports_fit_the_screen_in_each_language_without_breaking_a_word(
    pages: dict[str, Path], width: int
) -> None:
    driver = chromium_driver(width, 800)
    seen: dict[tuple[str, Language], tuple[int, int, list[str], int, list[str], str]] = {}
    try:
        for name, page in pages.items():
            driver.get(page.as_uri())
            for lang in LANGUAGE_CODES:
                driver.find_element("id", f"{name}-{lang}").click()  # the switch, as a reader
                shown, block = driver.execute_script(SHOWN_JS)
                seen[(name, lang)] = (
                    driver.execute_script("return window.innerWidth"),
                    driver.execute_script("return document.documentElement.scrollWidth"),
                    driver.execute_script(BROKEN_WORDS_JS),
                    driver.execute_script(CELLS_JS),
                    shown,
                    block,
                )
    finally:
        driver.quit()
    for (name, lang), (layout_width, page_width, broken, cells, shown, block) in seen.items():
        where = (name, lang)
        assert shown == [lang], (where, shown)  # the chosen language alone
        assert page_problems(block, lang, allowed=REPORT_LATIN) == [], where
        assert cells > 20, (where, cells)  # the tables are there: the check has words to see
        assert layout_width == width, (where, layout_width)  # laid out at the screen's width
        assert page_width <= width, (where, page_width)
        assert broken == [], (where, broken[:10])
