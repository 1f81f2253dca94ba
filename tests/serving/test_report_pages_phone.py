"""The shadow report and the monitor's deployment section as an auditor sees them in
Chromium on a 360 px phone and on a 1,280 px screen: the page is laid out at the screen's
width (not shrunk from 980 px), nothing is wider than the screen, and no table cell breaks
a word or a number across lines ("443" shown as "44" over "3").

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


@pytest.mark.parametrize("width", [360, 1280])
def test_the_reports_fit_the_screen_without_breaking_a_word(
    pages: dict[str, Path], width: int
) -> None:
    driver = chromium_driver(width, 800)
    seen: dict[str, tuple[int, int, list[str], int]] = {}
    try:
        for name, page in pages.items():
            driver.get(page.as_uri())
            seen[name] = (
                driver.execute_script("return window.innerWidth"),
                driver.execute_script("return document.documentElement.scrollWidth"),
                driver.execute_script(BROKEN_WORDS_JS),
                driver.execute_script("return document.querySelectorAll('td').length"),
            )
    finally:
        driver.quit()
    for name, (layout_width, page_width, broken, cells) in seen.items():
        assert cells > 20, (name, cells)  # the tables are there: the check has words to see
        assert layout_width == width, (name, layout_width)  # laid out at the screen's width
        assert page_width <= width, (name, page_width)
        assert broken == [], (name, broken[:10])
