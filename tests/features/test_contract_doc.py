"""docs/data_contract.md is generated from features/contract.py and proved in step with it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from features import contract, contract_doc
from features.contract_doc import DOC_PATH, main, render_contract_doc
from features.validation.rulebook import RULES


def test_the_committed_page_is_what_the_code_renders() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == render_contract_doc(), (
        "docs/data_contract.md is out of date: run python -m features.contract_doc"
    )


def test_the_page_states_every_contract_fact() -> None:
    page = render_contract_doc()
    for table, columns in contract.TABLE_COLUMNS.items():
        assert f"### {table}\n" in page
        for column in columns:
            assert f"| {column.name} | " in page
    for (_, _), vocabulary in contract.VOCABULARIES.items():
        assert ", ".join(f"`{v}`" for v in vocabulary) in page
    for event in contract.EVENT_TYPES.values():
        value = event.value or "none"
        assert f"| {event.name} | {event.domain} | {event.level} | {value} |" in page
    for rule in RULES.values():
        assert f"| `{rule.id}` | {rule.severity} |" in page
    for clarification in contract.CLARIFICATIONS:
        assert clarification in page
    assert "last day of membership (inclusive)" in page
    assert "counts as known from its start_date" in page


def test_a_change_in_the_code_shows_in_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: a new vocabulary value and a value-bearing type change the page."""
    before = render_contract_doc()
    vocab = dict(contract_doc.VOCABULARIES)
    vocab[("families", "settlement")] = ("urban", "rural", "nomadic")
    monkeypatch.setattr(contract_doc, "VOCABULARIES", vocab)
    events = dict(contract_doc.EVENT_TYPES)
    events["eviction_notice"] = dataclasses.replace(events["eviction_notice"], value="days")
    monkeypatch.setattr(contract_doc, "EVENT_TYPES", events)
    after = render_contract_doc()
    assert after != before
    assert "`nomadic`" in after
    assert "| eviction_notice | housing | family | days |" in after


def test_check_mode_fails_on_a_stale_page_and_passes_on_a_fresh_one(tmp_path: Path) -> None:
    page = tmp_path / "data_contract.md"
    page.write_text(render_contract_doc().replace("`rural`", "`suburban`"), encoding="utf-8")
    assert main(["--check", "--out", str(page)]) == 1
    assert main(["--out", str(page)]) == 0
    assert main(["--check", "--out", str(page)]) == 0
