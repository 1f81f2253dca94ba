"""docs/architecture.md names, for each rule the design keeps, the tests that prove it:
each named test must exist, so the table cannot point at a test that was renamed or removed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMED = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _rules_section() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    start = text.index("## Rules the design keeps")
    return text[start : text.index("\n## ", start + 1)]


def test_every_rule_names_at_least_one_test() -> None:
    rows = [line for line in _rules_section().splitlines() if re.match(r"\| \d+ \|", line)]
    assert [int(line.split("|")[1]) for line in rows] == list(range(1, 12))
    for line in rows:
        assert NAMED.search(line), f"rule without a proving test: {line[:80]}"


def test_every_named_test_exists() -> None:
    missing = []
    for path, name in NAMED.findall(_rules_section()):
        source = ROOT / path
        if not source.exists() or not re.search(
            rf"^def {name}\(", source.read_text(encoding="utf-8"), re.MULTILINE
        ):
            missing.append(f"{path}::{name}")
    assert not missing, f"docs/architecture.md names tests that do not exist: {missing}"
