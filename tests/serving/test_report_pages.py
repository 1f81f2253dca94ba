"""The reports an auditor reads, as produced: three outcomes shown apart, no page wider than
the window, no raw Python object.

One synthetic registry, one real training run (training report, fairness report, model
card) and one real monitoring run (monitoring report), shared with the monitor tests
(``monitor_world.py``, built once per run); each test reads the files those runs wrote.
The width is measured in Debian's headless Chromium (Selenium), at a 1,280 px window.
"""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import pytest
from chromium_driver import chromium_driver
from monitor_world import monitor_world

from training.outcome import Outcome

# pandera imports pyspark.pandas when pyspark is installed, which warns at import
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support:FutureWarning")

#: what a Python object looks like when it leaks into a page: a dict, a list of strings,
#: a numpy scalar, a pandas or datetime object
RAW_REPRS = (
    re.compile(r"\{'[^'<>]{1,80}': "),
    re.compile(r"\['[^'<>]{0,80}'(, '[^'<>]{0,80}')*\]"),
    re.compile(r"\bnp\.(float|int)\d*\("),
    re.compile(r"\b(Timestamp|datetime\.date|datetime\.datetime|Decimal)\("),
    re.compile(r"<[a-zA-Z_.]+ object at 0x[0-9a-f]+>"),
)


def raw_objects(text: str) -> list[str]:
    """Every raw Python repr in a page's text (embedded images left out)."""
    text = html_lib.unescape(re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text))
    return [m.group(0) for pattern in RAW_REPRS for m in pattern.finditer(text)]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict:
    world = monitor_world(tmp_path_factory)
    report = world["root"] / "report"
    return {
        "decision": world["decision"],
        "training": report / "training_report.html",
        "fairness": report / "fairness" / "fairness_report.html",
        "card": report / "model_card" / "model_card.md",
        "monitor": world["root"] / "monitor" / "monitor_report.html",
    }


def _cells(row: str) -> list[str]:
    """The text of each cell of one HTML table row."""
    cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)
    return [html_lib.unescape(re.sub(r"<[^>]+>", " ", c)).strip() for c in cells]


def test_no_inconclusive_check_is_rendered_as_a_pass(pages: dict) -> None:
    gates = pages["decision"].gates
    unclear = [g for g in gates if g.outcome is Outcome.INCONCLUSIVE and g.status != "waived"]
    # the small registry leaves checks undecided: without one this test would prove nothing
    assert unclear, [(g.name, g.status) for g in gates]

    training = pages["training"].read_text(encoding="utf-8")
    rows = {
        cells[0]: cells
        for r in re.findall(r"<tr>.*?</tr>", training, flags=re.S)
        if (cells := _cells(r))
    }
    for gate in unclear:
        outcome = rows[gate.name][1]
        assert outcome.startswith("INCONCLUSIVE") and "pass" not in outcome.lower(), outcome

    card = pages["card"].read_text(encoding="utf-8")
    for gate in unclear:
        (line,) = [x for x in card.splitlines() if x.startswith(f"| `{gate.name}` |")]
        outcome = line.split("|")[2]
        assert "INCONCLUSIVE" in outcome and "pass" not in outcome.lower(), line
    # the card's warning counts every blocking gate, the performance ones included
    failed = [g for g in gates if g.outcome is Outcome.FAIL]
    assert f"{len(failed)} failed and {len(pages['decision'].failed) - len(failed)}" in card

    fairness = pages["fairness"].read_text(encoding="utf-8")
    fairness_rows = [_cells(r) for r in re.findall(r"<tr>.*?</tr>", fairness, flags=re.S)]
    outcome_word = re.compile(r"^(FAIL|INCONCLUSIVE|pass)\b")
    audited = [r for r in fairness_rows if len(r) == 5 and outcome_word.match(r[0])]
    unclear_rows = [r for r in audited if "inconclusive" in r[2] or "insufficient evidence" in r[2]]
    assert unclear_rows, "the fairness report shows no inconclusive check"
    for row in unclear_rows:
        assert row[0].startswith("INCONCLUSIVE"), row
    # failed first, then inconclusive, then passed
    order = [
        Outcome.FAIL
        if r[0].startswith("FAIL")
        else Outcome.PASS
        if r[0] == "pass"
        else Outcome.INCONCLUSIVE
        for r in audited
    ]
    assert order == sorted(order, key=lambda o: o.rank)


def test_no_report_is_wider_than_a_1280px_window(pages: dict) -> None:
    driver = chromium_driver(1280, 900)
    try:
        widths = {}
        for name in ("training", "fairness", "monitor"):
            driver.get(Path(pages[name]).resolve().as_uri())
            widths[name] = driver.execute_script(
                "return [document.documentElement.scrollWidth, document.body.scrollWidth,"
                " window.innerWidth]"
            )
    finally:
        driver.quit()
    for name, (document_width, body_width, window) in widths.items():
        assert window <= 1280, widths
        assert document_width <= 1280 and body_width <= 1280, (name, widths)


def test_no_report_holds_a_raw_python_object(pages: dict) -> None:
    assert raw_objects("Estimator error on the reference: {'roc_auc': 0.0092, 'x': 1}")
    assert raw_objects("groups ['a', 'b']") and not raw_objects("interval [0.12, 0.40]")
    for name in ("training", "fairness", "card", "monitor"):
        text = Path(pages[name]).read_text(encoding="utf-8")
        assert not raw_objects(text), (name, raw_objects(text)[:5])
    monitor = pages["monitor"].read_text(encoding="utf-8")
    assert "Estimator error on the reference: ROC AUC" in monitor


def test_the_monitor_shows_n_beside_every_group_rate(pages: dict) -> None:
    monitor = pages["monitor"].read_text(encoding="utf-8")
    tables = re.findall(r"<table>.*?</table>", monitor, flags=re.S)
    group_tables = [t for t in tables if "<th>group</th>" in t and "rate" in t]
    assert group_tables
    for table in group_tables:
        header = _cells(re.search(r"<tr>.*?</tr>", table, flags=re.S).group(0))
        assert "n" in header, header
