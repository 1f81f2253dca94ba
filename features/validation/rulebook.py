"""Every contract rule once: its id, severity, summary, and the message its findings carry.

Two engines check the contract (pandas, :mod:`features.validation.rules`; Spark,
:mod:`features.spark.validation`) and must report the same findings word for word, so
that a registry validated on either gives the same report (and the same validation
record). The words therefore live here, once per rule, as ``str.format`` templates; an
engine supplies only the facts of the finding (table, column, the parent a key was not
found in, ...) and never writes a description itself: the findings collectors of both
engines take the fields and render the template.

Facts of the contract (the date range, the valued event types, the detail vocabularies,
the back-dating threshold) are written into the templates when this module is imported;
a field holding a list or tuple renders as its items joined by ", ".
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from features.contract import (
    BACKDATED_SUSPICIOUS_DAYS,
    DATE_RANGE,
    EVENT_TYPES,
    VALUED_EVENT_TYPES,
    Column,
)
from features.validation.report import Severity

# A variant of a rule's message: the protected table's pair key is unique in another sense
# than a single-column key, so its finding says so in other words.
PROTECTED_PAIR = "protected_pair"
# How many unknown event types the ``unknown_event_type`` finding lists (most frequent first).
UNKNOWN_TYPES_LISTED = 5


class MessageFieldError(KeyError):
    """A template names a field the engine did not supply; says which rule and field."""


@dataclass(frozen=True)
class Rule:
    """A rule of the contract (or a suspicious pattern) and the words of its findings.

    ``text`` is the one-line summary (the rule table of docs/data_contract.md);
    ``message`` the template of a finding's description; ``example`` the template of
    one example's value where it is more than the offending cell (None: the cell as is);
    ``variants`` other templates of the same rule, by name.
    """

    id: str
    severity: Severity
    text: str
    message: str
    example: str | None = None
    variants: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.message.strip():
            raise ValueError(
                f"rule {self.id!r} has no message template; both engines render its "
                "findings from it"
            )

    def describe(self, variant: str | None = None, /, **fields: object) -> str:
        """The description of a finding of this rule (``variant``: another template)."""
        if variant is None:
            template = self.message
        elif variant in self.variants:
            template = self.variants[variant]
        else:
            raise KeyError(
                f"rule {self.id!r} has no message variant {variant!r} "
                f"(variants: {sorted(self.variants) or 'none'})"
            )
        return _render(self.id, template, fields)

    def show(self, **fields: object) -> str:
        """One example's value, by :attr:`example` (which must be set)."""
        if self.example is None:
            raise KeyError(f"rule {self.id!r} has no example template")
        return _render(self.id, self.example, fields)

    def fields(self) -> set[str]:
        """The field names the message, its variants and the example use."""
        templates = [self.message, *self.variants.values()]
        if self.example is not None:
            templates.append(self.example)
        return {
            name
            for template in templates
            for _, name, _, _ in string.Formatter().parse(template)
            if name
        }


def _render(rule: str, template: str, fields: Mapping[str, object]) -> str:
    values = {
        key: ", ".join(str(item) for item in value) if isinstance(value, list | tuple) else value
        for key, value in fields.items()
    }
    try:
        return template.format(**values)
    except KeyError as missing:
        raise MessageFieldError(
            f"rule {rule!r}: the template {template!r} needs the field {missing.args[0]!r}; "
            f"the engine gave {sorted(fields)}"
        ) from None


def column_kind(column: Column) -> str:
    """How a ``column_missing`` finding names the absent column's type."""
    return f"{column.kind}{', nullable' if column.nullable else ''}"


def type_counts(counts: Iterable[tuple[object, int]]) -> str:
    """The ``listing`` of an ``unknown_event_type`` finding: the first types, with counts
    (``counts`` most frequent first)."""
    shown = list(counts)[:UNKNOWN_TYPES_LISTED]
    return ", ".join(f"{event_type} ({count:,})" for event_type, count in shown)


_DETAIL_VOCABULARIES = "; ".join(
    f"{event_type.name}: {', '.join(event_type.details)}"
    for event_type in EVENT_TYPES.values()
    if event_type.details is not None
)
_NO_MEMBERSHIP = (
    "{table}.{column} appears in no membership (no household composition, no snapshot row)"
)

# Tables that must hold rows, and why: an empty one passes every row rule, and its features
# (no member, no record) would read as families without any risk.
NON_EMPTY_TABLES: dict[str, str] = {
    "memberships": "no family would have a member, so none could be scored or audited",
    "events": "every indicator would be computed from no record at all",
}

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "file_missing",
            "error",
            "the table's file (<table>.parquet or <table>.csv) is absent",
            "neither {table}.parquet nor {table}.csv exists in {raw_dir}",
        ),
        Rule(
            "file_unreadable",
            "error",
            "the table's file exists but cannot be read",
            "cannot read {file}: {error}",
        ),
        Rule(
            "column_missing",
            "error",
            "a column the contract requires is absent",
            "{table} lacks column {column!r} ({kind})",
        ),
        Rule(
            "table_empty",
            "error",
            f"{' or '.join(NON_EMPTY_TABLES)} has no rows (the registry cannot be assessed)",
            "{table} has no rows; a registry without {table} cannot be assessed ({why})",
        ),
        Rule(
            "date_type",
            "error",
            f"not an ISO YYYY-MM-DD date between {DATE_RANGE[0]} and {DATE_RANGE[1]}",
            f"not an ISO YYYY-MM-DD date between {DATE_RANGE[0]} and {DATE_RANGE[1]}",
        ),
        Rule("float_type", "error", "not a finite number", "not a finite number"),
        Rule(
            "not_null",
            "error",
            "empty where the contract requires a value",
            "{table}.{column} must not be empty",
        ),
        Rule(
            "unique",
            "error",
            "key value occurs on more than one row",
            "{table}.{column} must be unique; these values occur on more than one row "
            "(every row sharing a value is counted)",
            variants={
                PROTECTED_PAIR: "a family has more than one value for the same protected "
                "attribute (an audit group needs exactly one)"
            },
        ),
        Rule(
            "foreign_key",
            "error",
            "refers to a row that does not exist",
            "{table}.{column} not found in {parent}.{parent_key}",
        ),
        Rule(
            "date_order",
            "error",
            "a date is before the date it must follow",
            "{table}.{column} is before {earlier}",
            example="{column} {later_date} < {earlier} {earlier_date}",
        ),
        Rule(
            "date_not_future",
            "error",
            "after the data's extraction date",
            "{table}.{column} after the extraction date {extraction:%Y-%m-%d} "
            "(latest recorded_date)",
        ),
        Rule(
            "vocabulary",
            "error",
            "value outside the contract's vocabulary",
            "{table}.{column} must be one of {allowed}",
        ),
        Rule(
            "detail_vocabulary",
            "error",
            "detail outside the vocabulary of its event type",
            f"detail outside its event type's vocabulary ({_DETAIL_VOCABULARIES})",
            example="{event_type} detail {detail!r}",
        ),
        Rule(
            "event_subject",
            "error",
            "neither family_id nor person_id is set",
            "an event must name its family_id, its person_id or both",
        ),
        Rule(
            "membership_overlap",
            "error",
            "a person belongs to two families at once",
            "membership starts on or before the last day of an earlier membership of the "
            "same person (end_date is inclusive)",
        ),
        Rule(
            "event_attribution",
            "error",
            "the person is not a member of the family that day",
            "the event names a family and a person, but the person is not a member of "
            "that family on event_date",
            example="{person_id} not in {family_id} on {event_date}",
        ),
        Rule(
            "extra_column",
            "suspicious",
            "a column the contract does not define (ignored)",
            "{where} has column {column!r}, which the contract does not define; it is ignored",
        ),
        Rule(
            "unknown_event_type",
            "suspicious",
            "event type outside the vocabulary (ignored)",
            "event types outside the contract's vocabulary, kept but unused by the "
            "catalogue: {listing}",
        ),
        Rule(
            "backdated_record",
            "suspicious",
            "recorded long after it happened",
            f"recorded more than {BACKDATED_SUSPICIOUS_DAYS} days after {{happened}} "
            "(back-dated record; kept, enters features only once recorded)",
            example="{days} days late",
        ),
        Rule(
            "family_without_members",
            "suspicious",
            "a family with no membership at all",
            _NO_MEMBERSHIP,
        ),
        Rule(
            "person_without_membership",
            "suspicious",
            "a person with no membership at all",
            _NO_MEMBERSHIP,
        ),
        Rule(
            "unattributed_event",
            "suspicious",
            "a person-level event with no family that day",
            "person-level event without family_id whose person belongs to no family on "
            "event_date (it counts for no family)",
        ),
        Rule(
            "negative_value",
            "suspicious",
            "a negative amount, count or ratio",
            "negative value for an event type whose value is an amount, count or ratio "
            f"({', '.join(VALUED_EVENT_TYPES)})",
        ),
    )
}

# Issue 23: the corrections table's own rules (features.validation.corrections checks them;
# its generic ones, unique, vocabulary, foreign_key, date_order, not_null, reuse the above).
CORRECTION_RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "correction_record",
            "error",
            "a correction names a record that does not exist",
            "{table}.{column} not found in {record_table}.{key} (a correction must name an "
            "existing record)",
        ),
        Rule(
            "correction_family",
            "error",
            "a correction's family is not the family of its record",
            "{table}.{column} is not the family_id of the contested record",
        ),
        Rule(
            "correction_before_record",
            "error",
            "a correction decided before its record was recorded",
            "{table}.{column} is before the contested record's recorded_date",
        ),
        Rule(
            "correction_field",
            "error",
            "an amend without a field it may change, or a void with one",
            "an amend names one field it may change ({fields}) and its new_value; a void "
            "names neither",
        ),
        Rule(
            "correction_value_type",
            "error",
            "an amend's new_value does not fit the field's type",
            "{table}.{column} does not fit the amended field (value: a number >= 0; "
            "event_date: an ISO date not after the record's recorded_date; detail: the "
            "event type's vocabulary)",
        ),
        Rule(
            "correction_decision",
            "error",
            "a decided correction without its date and decider, or an open one with them",
            "an accepted or rejected correction names its decided_date and decided_by; a "
            "requested (open) one names neither",
        ),
        Rule(
            "correction_open_twice",
            "error",
            "a second open correction for the same record",
            "a record has more than one open (requested) correction; decide the first",
        ),
        Rule(
            "correction_after_void",
            "error",
            "an accepted correction of a record voided earlier",
            "an accepted correction decided after the record was voided (nothing applies "
            "after a void)",
        ),
    )
}
RULES.update(CORRECTION_RULES)

__all__ = [
    "CORRECTION_RULES",
    "PROTECTED_PAIR",
    "RULES",
    "MessageFieldError",
    "Rule",
    "column_kind",
    "type_counts",
]
