"""Each rule's words live once, in features/validation/rulebook.py, for both engines.

The pandas and Spark engines render a finding's description from its rule's template
(test_spark_engine.py proves the two reports equal on a registry that breaks every rule);
here: a rule cannot exist without a template, a template's missing field is named, and
no engine module carries a copy of a template's words (a source scan, shown to catch a
constructed copy).
"""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pandas as pd
import pytest

import features
from features.validation.rulebook import (
    PROTECTED_PAIR,
    RULES,
    MessageFieldError,
    Rule,
    type_counts,
)

FEATURES = Path(features.__file__).parent
# The modules that find violations: they supply facts, never words.
ENGINE_MODULES = (
    "validation/rules.py",
    "validation/parse.py",
    "validation/stream.py",
    "validation/validate.py",
    "spark/validation.py",
    "spark/event_checks.py",
    "spark/stored.py",
)
# Words shorter than this are too common to call a copy ("days late", " is before ").
MIN_COPIED = 12


def _fragments(rule: Rule) -> set[str]:
    """The literal words of a rule's templates, between the fields."""
    templates = [rule.message, *rule.variants.values()]
    if rule.example is not None:
        templates.append(rule.example)
    return {
        literal.strip()
        for template in templates
        for literal, _, _, _ in string.Formatter().parse(template)
        if len(literal.strip()) >= MIN_COPIED
    }


def copied_messages(source: str) -> list[tuple[str, str]]:
    """(rule id, words) for every template's words found in a string literal of ``source``
    (docstrings, which may speak of a rule, excepted)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    literals = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]
    return sorted(
        (rule.id, words)
        for rule in RULES.values()
        for words in _fragments(rule)
        if any(words in literal for literal in literals)
    )


def test_a_rule_without_a_message_template_is_refused() -> None:
    with pytest.raises(ValueError, match="rule 'orphan_rule' has no message template"):
        Rule("orphan_rule", "error", "a summary but no words for its findings", "  ")


def test_every_rule_has_a_template_that_renders_with_its_fields() -> None:
    for rule in RULES.values():
        assert rule.message.strip(), rule.id
        sample = {name: f"<{name}>" for name in rule.fields()}
        if "extraction" in sample:
            sample["extraction"] = pd.Timestamp("2024-03-31")
        text = rule.describe(**sample)
        assert "{" not in text and "}" not in text, (rule.id, text)
        for variant in rule.variants:
            assert rule.describe(variant, **sample)
        if rule.example is not None:
            assert rule.show(**sample)


def test_a_field_the_engine_did_not_give_is_named() -> None:
    with pytest.raises(MessageFieldError, match=r"'foreign_key'.*'parent'"):
        RULES["foreign_key"].describe(table="events", column="family_id")
    with pytest.raises(KeyError, match="no message variant 'typo'"):
        RULES["unique"].describe("typo", table="families", column="family_id")


def test_templates_render_the_words_reports_had() -> None:
    """The report a caseworker or a record reads did not change wording in the move."""
    assert RULES["foreign_key"].describe(
        table="events", column="family_id", parent="families", parent_key="family_id"
    ) == ("events.family_id not found in families.family_id")
    assert RULES["vocabulary"].describe(
        table="families", column="settlement", allowed=("urban", "rural")
    ) == ("families.settlement must be one of urban, rural")
    assert RULES["date_not_future"].describe(
        table="persons", column="birth_date", extraction=pd.Timestamp("2024-03-31")
    ) == ("persons.birth_date after the extraction date 2024-03-31 (latest recorded_date)")
    assert RULES["unique"].describe(PROTECTED_PAIR).startswith("a family has more than one")
    assert type_counts([("a", 1200), ("b", 3)]) == "a (1,200), b (3)"
    assert type_counts([(str(n), n) for n in range(9)]).count("(") == 5


def test_no_engine_words_a_finding_itself() -> None:
    found = {
        module: copied_messages((FEATURES / module).read_text(encoding="utf-8"))
        for module in ENGINE_MODULES
    }
    assert found == {module: [] for module in ENGINE_MODULES}


def test_the_scan_catches_a_copied_message() -> None:
    offender = """
def check(run, name, key):
    run.add(_Pending("unique", table, key, mask,
        f"{name}.{key} must be unique; these values occur on more than one row "
        "(every row sharing a value is counted)"))
"""
    assert copied_messages(offender) == [
        (
            "unique",
            "must be unique; these values occur on more than one row (every row sharing "
            "a value is counted)",
        )
    ]
