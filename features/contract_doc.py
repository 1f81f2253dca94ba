"""Render the raw-data contract page, ``docs/data_contract.md``, from the code.

The page is generated, never edited by hand: every table, column, type, key, vocabulary,
event type, rule and clarification comes from :mod:`features.contract` and the rule list
of :mod:`features.validation.rulebook`, so a change to the contract in code changes the page
and ``tests/features/test_contract_doc.py`` fails until the page is regenerated::

    python -m features.contract_doc            # rewrite docs/data_contract.md
    python -m features.contract_doc --check    # exit 1 when the page is out of date
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from features.contract import (
    BACKDATED_SUSPICIOUS_DAYS,
    CLARIFICATIONS,
    CONTRACT_VERSION,
    CORRECTABLE,
    CORRECTION_ACTIONS,
    CORRECTION_CLARIFICATIONS,
    CORRECTION_COLUMNS,
    CORRECTION_STATUSES,
    CORRECTIONS_TABLE,
    DATE_ORDERS,
    DEFAULT_HORIZON_MONTHS,
    DEFAULT_LABEL_OUTCOMES,
    DERIVED_AUDIT_GROUPS,
    EVENT_TYPES,
    FOREIGN_KEYS,
    OPTIONAL_TABLES,
    TABLE_COLUMNS,
    TABLE_DESCRIPTIONS,
    TABLES,
    UNIQUE_KEYS,
    VOCABULARIES,
    Column,
)
from features.validation.rulebook import RULES

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "data_contract.md"

_TYPES = {"id": "string (id)", "string": "string", "date": "date", "float": "float"}


def _code(values: Sequence[str]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _column_rules(table: str, column: Column) -> str:
    """The rules on one column, in words, from the contract's facts."""
    rules = []
    key = UNIQUE_KEYS.get(table, ())
    if key == (column.name,):
        rules.append("unique")
    elif column.name in key:
        rules.append(f"unique together with {_code([c for c in key if c != column.name])}")
    if not column.nullable and column.kind in ("id", "string"):
        rules.append("non-empty")
    for child, child_column, parent, parent_key in FOREIGN_KEYS:
        if (child, child_column) == (table, column.name):
            rules.append(f"must exist in `{parent}.{parent_key}`")
    if (table, column.name) in VOCABULARIES:
        rules.append(f"one of {_code(VOCABULARIES[(table, column.name)])}")
    for order_table, earlier, later in DATE_ORDERS:
        if (order_table, later) == (table, column.name):
            rules.append(f"`>= {earlier}`")
    if column.note:
        rules.append(column.note)
    return "; ".join(rules)


def _table_section(table: str) -> list[str]:
    lines = [f"### {table}", "", TABLE_DESCRIPTIONS[table], ""]
    lines += ["| column | type | null | rules |", "|---|---|---|---|"]
    for column in TABLE_COLUMNS[table]:
        null = "allowed" if column.nullable else "no"
        lines.append(
            f"| {column.name} | {_TYPES[column.kind]} | {null} | {_column_rules(table, column)} |"
        )
    return [*lines, ""]


def _event_types() -> list[str]:
    lines = [
        "### Event types",
        "",
        "The vocabulary of `events.event_type`: domain, level (whether a record is about a "
        "person or a whole family), what `value` holds (types without one carry no value; "
        "a negative value is suspicious) and the closed vocabulary of `detail`, where there "
        "is one.",
        "",
        "| event_type | domain | level | value | detail |",
        "|---|---|---|---|---|",
    ]
    for event in EVENT_TYPES.values():
        value = event.value or "none"
        detail = _code(event.details) if event.details else "free text or null"
        lines.append(f"| {event.name} | {event.domain} | {event.level} | {value} | {detail} |")
    return [*lines, ""]


def _rules() -> list[str]:
    lines = [
        "## Rules the validator checks",
        "",
        "`earlyrisk validate DIR` reports every broken rule with its id, the table and "
        "column, the count of offending rows and a few example keys. Data with any *error* "
        "is refused by every command that reads raw data; *suspicious* rows are kept and "
        "counted in the report, never dropped silently.",
        "",
        "| rule | severity | meaning |",
        "|---|---|---|",
    ]
    # a rule's text may hold "<table>": escaped, or Markdown would read it as an HTML tag
    lines += [
        f"| `{r.id}` | {r.severity} | {r.text.replace('<', chr(92) + '<')} |"
        for r in RULES.values()
    ]
    return [*lines, ""]


def _corrections_section() -> list[str]:
    """The optional corrections table (issue 23)."""
    lines = [
        f"### {CORRECTIONS_TABLE} (optional)",
        "",
        "A family may contest a record and have it voided or amended on documents. "
        f"`{CORRECTIONS_TABLE}.parquet` (or `.csv`) is optional: without it no record is "
        "corrected. Only accepted corrections change data; each is known from its "
        "`decided_date` (see the last clarifications below). The service keeps the "
        "corrections filed through it in the same columns (`earlyrisk correction`, "
        "docs/corrections.md).",
        "",
        "| column | type | null | rules |",
        "|---|---|---|---|",
    ]
    rules = {
        "correction_id": "unique",
        "family_id": "must exist in `families.family_id`; the contested record's family",
        "record_table": f"one of {_code(tuple(CORRECTABLE))}",
        "record_id": "must exist in the record table (`events.event_id`); at most one open "
        "(requested) correction per record",
        "action": f"one of {_code(CORRECTION_ACTIONS)}",
        "field": "amend: one of "
        + "; ".join(f"{t}: {_code(tuple(f))}" for t, (_, f) in CORRECTABLE.items())
        + "; void: empty",
        "new_value": "amend: of the field's type (value: a number >= 0; event_date: an ISO "
        "date not after the record's recorded_date; detail: the event type's vocabulary); "
        "void: empty",
        "decided_date": "`>= requested_date` and the record's recorded_date; set exactly "
        "when status is accepted or rejected",
        "decided_by": "set exactly when status is accepted or rejected",
        "status": f"one of {_code(CORRECTION_STATUSES)}",
    }
    for column in CORRECTION_COLUMNS:
        null = "allowed" if column.nullable else "no"
        text = "; ".join(x for x in (rules.get(column.name, ""), column.note) if x)
        lines.append(f"| {column.name} | {_TYPES[column.kind]} | {null} | {text} |")
    return [*lines, ""]


def render_contract_doc() -> str:
    """The Markdown of ``docs/data_contract.md`` for the contract in this code."""
    lines = [
        f"# Raw data contract (version {CONTRACT_VERSION})",
        "",
        "<!-- Generated from features/contract.py by `python -m features.contract_doc`; "
        "do not edit by hand. -->",
        "",
        "The one shape of administrative data the project reads. `earlyrisk synth` writes "
        "it, `earlyrisk validate` checks it, the feature engine reads only it, and a "
        "ministry's real export is mapped onto it.",
        "",
        f"A raw data directory holds {len(TABLES)} tables ({_code(TABLES)}), each as "
        "`<name>.parquet` (preferred) or `<name>.csv` (UTF-8, header row, ISO dates "
        "`YYYY-MM-DD`, empty cell = null). Optional: "
        f"{_code(OPTIONAL_TABLES)}, checked by the same rules when its file is present.",
        "",
        "## Time",
        "",
        "Every fact has two dates: when it happened in the world (`event_date`, "
        "`outcome_date`) and when the state's systems learnt of it (`recorded_date`, never "
        "earlier). A feature or label as of date T uses only rows with `recorded_date <= T`; "
        "deleting every row recorded after T changes no feature at T. Labels look forward: "
        f"by default any of {_code(DEFAULT_LABEL_OUTCOMES)} for the family within "
        f"{DEFAULT_HORIZON_MONTHS} months after T (outcome types and horizon are "
        "configuration). A record recorded more than "
        f"{BACKDATED_SUSPICIOUS_DAYS} days after it happened is suspicious.",
        "",
        "## Tables",
        "",
    ]
    for table in (*TABLES, *OPTIONAL_TABLES):
        lines += _table_section(table)
        if table == "events":
            lines += _event_types()
    lines += [
        "Audit groups derived from the other tables, as of each as-of date, besides the "
        f"`protected` attributes: {_code(DERIVED_AUDIT_GROUPS)}. Audit groups are never "
        "model inputs.",
        "",
    ]
    lines += _corrections_section()
    lines += _rules()
    lines += ["## How the code reads the contract", ""]
    clarifications = (*CLARIFICATIONS, *CORRECTION_CLARIFICATIONS)
    lines += [f"{n}. {text}" for n, text in enumerate(clarifications, start=1)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the page (default) or, with ``--check``, say whether it is up to date."""
    parser = argparse.ArgumentParser(
        prog="python -m features.contract_doc", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, default=DOC_PATH, help="where the page goes")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the page differs from the code"
    )
    args = parser.parse_args(argv)
    text = render_contract_doc()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run python -m features.contract_doc")
            return 1
        print(f"{args.out} matches features/contract.py")
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
