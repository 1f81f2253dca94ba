"""The raw-data contract (version 1) as code: table names, columns, types and vocabularies.

Everything that reads or writes raw registry data (the synthetic generator, the validator,
the feature pipeline) takes its names from here: columns and types, unique keys, foreign
keys, vocabularies, which event types carry a ``value`` and the clarifications the code
applies where the contract is silent. Each fact is stated once, here. The user-facing page
``docs/data_contract.md`` is generated from this module (``python -m features.contract_doc``)
and a test fails when the two disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

CONTRACT_VERSION = 1

ColumnKind = Literal["id", "string", "date", "float"]


@dataclass(frozen=True)
class Column:
    """One column of a raw table: its kind, whether a null is allowed, what it means."""

    name: str
    kind: ColumnKind
    nullable: bool = False
    note: str = ""


TABLE_COLUMNS: dict[str, tuple[Column, ...]] = {
    "families": (
        Column("family_id", "id"),
        Column("region", "string", note="administrative region code"),
        Column("settlement", "string"),
        Column("registered_date", "date", note="when the family record was created"),
    ),
    "persons": (
        Column("person_id", "id"),
        Column("birth_date", "date", note="not after the data's extraction date"),
        Column("sex", "string"),
    ),
    "memberships": (
        Column("person_id", "id"),
        Column("family_id", "id"),
        Column("role", "string"),
        Column("start_date", "date", note="first day of membership"),
        Column(
            "end_date",
            "date",
            nullable=True,
            note="last day of membership (inclusive); null = still a member",
        ),
    ),
    "events": (
        Column("event_id", "id"),
        Column("family_id", "id", nullable=True, note="set for a family-level event"),
        Column(
            "person_id",
            "id",
            nullable=True,
            note="counts for the person's family on event_date",
        ),
        Column("event_type", "string", note="see the event types below"),
        Column("detail", "string", nullable=True, note="sub-type, e.g. the benefit kind"),
        Column("event_date", "date", note="when it happened"),
        Column("recorded_date", "date", note="when the state's systems learnt of it"),
        Column("value", "float", nullable=True, note="meaning depends on event_type"),
        Column("source", "string", note="the agency system the record came from"),
    ),
    "outcomes": (
        Column("family_id", "id"),
        Column("person_id", "id", nullable=True, note="the child concerned, when known"),
        Column("outcome_type", "string"),
        Column("outcome_date", "date", note="when it happened"),
        Column("recorded_date", "date"),
    ),
    "protected": (
        Column("family_id", "id"),
        Column("attribute", "string", note="e.g. ethnicity, primary_language"),
        Column("value", "string", note="the family's value of the attribute"),
    ),
    # --- issue 24: what caseworkers did (an optional table; see OPTIONAL_TABLES) ---
    "interventions": (
        Column("intervention_id", "id"),
        Column("family_id", "id"),
        Column(
            "offered_date",
            "date",
            nullable=True,
            note="when support was offered; null = the caseworker decided not to offer",
        ),
        Column(
            "programme",
            "string",
            nullable=True,
            note="the programme offered (serving/support_catalogue.yaml); null = none named",
        ),
        Column(
            "accepted",
            "string",
            nullable=True,
            note="null = nothing offered, or no answer recorded",
        ),
        Column("caseworker_id", "id", note="who decided"),
        Column(
            "score_id",
            "id",
            nullable=True,
            note="the served score the decision answered; null = decided without a score",
        ),
        Column("score_shown", "string", note="no = the display hold-out hid the score"),
        Column("recorded_date", "date", note="when the decision was recorded"),
    ),
}

# Tables a registry may lack: a registry from before the service was used has no
# interventions, and every pipeline reads the same with and without it. When the file is
# present, the validator applies its rules like any other table's.
OPTIONAL_TABLES: tuple[str, ...] = ("interventions",)

# The tables every registry holds (the optional ones are not among them).
TABLES: tuple[str, ...] = tuple(t for t in TABLE_COLUMNS if t not in OPTIONAL_TABLES)
ALL_TABLES: tuple[str, ...] = (*TABLES, *OPTIONAL_TABLES)

TABLE_DESCRIPTIONS: dict[str, str] = {
    "families": "One row per family record.",
    "persons": "One row per person.",
    "memberships": (
        "Who belongs to which family, over time (births, marriages, separations, moves)."
    ),
    "events": "All administrative records, one long table.",
    "outcomes": "What the model learns to anticipate.",
    "protected": (
        "Attributes used only to audit fairness, never as model inputs. Long format, so a "
        "deployment can add attributes without a schema change."
    ),
    "interventions": (
        "Optional. What caseworkers decided about the families a score flagged: one row per "
        "decision (support offered or not), with the score it answered and whether the "
        "score was shown (the display hold-out hides it). Training and evaluation use it to "
        "account for support changing outcomes (docs/interventions.md); `earlyrisk "
        "interventions export` writes it from the service's audit log."
    ),
}

Role = Literal["head", "spouse", "child", "other_adult"]

SETTLEMENTS = ("urban", "rural")
SEXES = ("F", "M")
ROLES: tuple[Role, ...] = get_args(Role)
OUTCOME_TYPES = ("child_protection_case", "child_placed_in_care", "family_crisis")
YES_NO = ("yes", "no")

# (table, column) -> the closed vocabulary of that column.
VOCABULARIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("families", "settlement"): SETTLEMENTS,
    ("persons", "sex"): SEXES,
    ("memberships", "role"): ROLES,
    ("outcomes", "outcome_type"): OUTCOME_TYPES,
    ("interventions", "accepted"): YES_NO,
    ("interventions", "score_shown"): YES_NO,
}

# table -> the columns whose values identify one row (no two rows share them).
UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "families": ("family_id",),
    "persons": ("person_id",),
    "events": ("event_id",),
    "protected": ("family_id", "attribute"),
    "interventions": ("intervention_id",),
}

# (child table, column, parent table, parent key): every reference names an existing row.
FOREIGN_KEYS: tuple[tuple[str, str, str, str], ...] = (
    ("memberships", "person_id", "persons", "person_id"),
    ("memberships", "family_id", "families", "family_id"),
    ("events", "family_id", "families", "family_id"),
    ("events", "person_id", "persons", "person_id"),
    ("outcomes", "family_id", "families", "family_id"),
    ("outcomes", "person_id", "persons", "person_id"),
    ("protected", "family_id", "families", "family_id"),
    ("interventions", "family_id", "families", "family_id"),
)

# (table, earlier column, later column): the later date is never before the earlier one.
DATE_ORDERS: tuple[tuple[str, str, str], ...] = (
    ("events", "event_date", "recorded_date"),
    ("outcomes", "outcome_date", "recorded_date"),
    ("memberships", "start_date", "end_date"),
    ("interventions", "offered_date", "recorded_date"),
)

Domain = Literal["economic", "social", "housing", "health", "education"]
Level = Literal["person", "family"]


@dataclass(frozen=True)
class EventType:
    """An event type of the contract's vocabulary.

    ``details`` is the closed list of ``detail`` values (None: free text or null);
    ``value`` says what ``events.value`` holds for this type (an amount, a count or a
    ratio, never negative), None when the type carries no value. ``acute`` marks an event
    that calls for a caseworker's attention now when it happened within
    :data:`ACUTE_WINDOW_DAYS` (violence, losing one's home, treatment for addiction or mental
    illness, a child's injury): the review page lists such needs first and never cuts them.
    """

    name: str
    domain: Domain
    level: Level
    details: tuple[str, ...] | None = None
    value: str | None = None
    acute: bool = False


EVENT_TYPES: dict[str, EventType] = {
    e.name: e
    for e in (
        EventType("income", "economic", "person", value="monthly income, KZT"),
        EventType(
            "benefit_payment",
            "economic",
            "family",
            (
                "targeted_social_assistance",
                "child_benefit",
                "large_family_benefit",
                "disability_benefit",
                "housing_assistance",
            ),
            value="amount, KZT",
        ),
        EventType("unemployment_registered", "economic", "person"),
        EventType("loan_overdue", "economic", "person", value="overdue amount, KZT"),
        EventType("utility_debt", "economic", "family", value="debt amount, KZT"),
        EventType("social_service_contact", "social", "family"),
        EventType("family_support_center_visit", "social", "family"),
        EventType("domestic_violence_report", "social", "family", acute=True),
        EventType("police_contact", "social", "person", ("offense", "victim", "witness")),
        EventType("juvenile_offense", "social", "person"),
        EventType(
            "housing_inspection",
            "housing",
            "family",
            ("adequate", "overcrowded", "unsafe"),
            value="persons per room",
        ),
        EventType("eviction_notice", "housing", "family", acute=True),
        EventType("homelessness_episode", "housing", "family", acute=True),
        EventType("missed_vaccination", "health", "person"),
        EventType("injury_emergency_visit", "health", "person", acute=True),
        EventType("prenatal_visit_missed", "health", "person"),
        EventType("substance_use_treatment", "health", "person", acute=True),
        EventType("mental_health_treatment", "health", "person", acute=True),
        EventType("school_absence", "education", "person", value="days absent in the month"),
        EventType("school_dropout", "education", "person"),
        EventType("preschool_not_enrolled", "education", "person"),
        EventType("special_education_needs", "education", "person"),
    )
}

# Event types whose ``value`` is an amount, a count or a ratio (never negative); the others
# carry no value, so no value-reading aggregation may use them.
VALUED_EVENT_TYPES: tuple[str, ...] = tuple(n for n, e in EVENT_TYPES.items() if e.value)

DOMAINS: tuple[Domain, ...] = get_args(Domain)

# An acute event (EventType.acute) counts as acute this many days after its event date.
ACUTE_WINDOW_DAYS = 90
ACUTE_EVENT_TYPES: tuple[str, ...] = tuple(n for n, e in EVENT_TYPES.items() if e.acute)

# The default label: a child protection case or placement within 12 months after as-of.
DEFAULT_LABEL_OUTCOMES: tuple[str, ...] = ("child_protection_case", "child_placed_in_care")
DEFAULT_HORIZON_MONTHS = 12

# A record back-dated by more than this many days is suspicious (counted, not dropped).
BACKDATED_SUSPICIOUS_DAYS = 365

# Dates outside this range are not dates of the registry (a ``date_type`` error).
DATE_RANGE = ("1900-01-01", "2100-12-31")

# How the code reads the contract where its text leaves room; the validator, the
# composition and the engine apply exactly these, and docs/data_contract.md lists them.
CLARIFICATIONS: tuple[str, ...] = (
    "Membership intervals are closed: a person is a member of a family on day d when "
    "start_date <= d and (end_date is null or d <= end_date). end_date is the last day of "
    "membership, so a move on day d is one membership ending on d - 1 and the next starting "
    "on d; two memberships of one person sharing a day overlap (an error).",
    "A membership counts as known from its start_date: household composition as of T uses "
    "the memberships valid on T, whatever day they were entered.",
    "A person-level event counts for the family the person belongs to on event_date; when "
    "it names both a family and a person, the person must be a member of that family on "
    "that day.",
    "A feature as of T reads only rows with recorded_date <= T and event_date <= T, within "
    "a bounded window before T; the label looks forward: an outcome with "
    "T < outcome_date <= T + horizon.",
    "A column that is not in the contract is suspicious, not an error: the reader ignores "
    "it (a renamed column also shows up as missing, which is an error).",
    "A second row for the same (family_id, attribute) in protected is an error: an audit "
    "group needs exactly one value per family.",
    "detail may be null for the event types with a detail vocabulary; a non-null detail "
    "outside the vocabulary is an error.",
    f"Dates are ISO YYYY-MM-DD calendar dates between {DATE_RANGE[0]} and {DATE_RANGE[1]} "
    "(a Parquet timestamp must be at midnight).",
    "Whitespace-only text counts as empty (null).",
    "The data's extraction date is the latest recorded_date of events and outcomes; a birth "
    "after it is an error.",
    "An as-of date must be on or before the data's extraction date: after it the registry "
    "cannot describe a family (moves, deaths and records after the extraction are not in "
    "the data, and a membership with no end_date would still select it). `earlyrisk "
    "features`, `score` and `monitor` refuse a later --as-of with a message naming both "
    "dates (exit code 2); a FeatureConfig extraction_date, when given, is the date checked.",
    "A unique-key violation counts every row sharing the value (both rows of a pair).",
    "A person-level event with only person_id whose person belongs to no family on "
    "event_date is suspicious: it counts for no family, so it is counted rather than lost.",
    "Event types outside the vocabulary are kept and counted as suspicious; no feature "
    f"reads them. A record recorded more than {BACKDATED_SUSPICIOUS_DAYS} days after it "
    "happened is suspicious (back-dated), and enters features only once recorded.",
    "The interventions table is optional: a registry without it is a registry from before "
    "the service's decisions were recorded. When it is present its rules apply as to any "
    "table; it never enters the model's inputs (training uses it only to weigh or exclude "
    "rows whose outcome support may have changed, docs/interventions.md).",
)

# Fixed family-level audit groups derived from the other tables (besides `protected`).
DERIVED_AUDIT_GROUPS: tuple[str, ...] = (
    "settlement",
    "region",
    "single_parent",
    "large_family",
    "head_sex",
)


def column_names(table: str) -> list[str]:
    """The contract's column names of ``table``, in order; a clear error for an unknown table."""
    try:
        return [c.name for c in TABLE_COLUMNS[table]]
    except KeyError:
        raise KeyError(
            f"unknown raw table {table!r}; the contract has {', '.join(ALL_TABLES)}"
        ) from None


# --------------------------------------------------------------------------- corrections
# Issue 23: a family may contest a record and have it corrected on documents. The
# corrections table is optional in a raw directory (absent = no correction), so the six
# tables above keep their meaning; it is read, validated and applied by
# :mod:`features.corrections` and :mod:`features.validation.corrections`.
CORRECTIONS_TABLE = "corrections"
CORRECTION_COLUMNS: tuple[Column, ...] = (
    Column("correction_id", "id"),
    Column("family_id", "id", note="the family on whose behalf it was filed"),
    Column("record_table", "string", note="the table of the contested record"),
    Column("record_id", "id", note="the record's key in that table"),
    Column("action", "string", note="void (the record is wrong) or amend (one field is)"),
    Column("field", "string", nullable=True, note="the amended column (amend only)"),
    Column(
        "new_value", "string", nullable=True, note="the field's correct value as text (amend only)"
    ),
    Column("document_ref", "string", note="the reference of the documents that prove it"),
    Column("requested_date", "date", note="when the family (or its caseworker) filed it"),
    Column("decided_date", "date", nullable=True, note="when it was decided; null while open"),
    Column("decided_by", "string", nullable=True, note="who decided (a registry officer)"),
    Column("status", "string", note="requested, accepted or rejected"),
)
CORRECTION_ACTIONS = ("void", "amend")
CORRECTION_STATUSES = ("requested", "accepted", "rejected")
# table -> (its key column, the columns an amend may change with their kinds). Only events
# are correctable for now: they are the records behind the indicators a family is shown.
CORRECTABLE: dict[str, tuple[str, dict[str, ColumnKind]]] = {
    "events": ("event_id", {"value": "float", "detail": "string", "event_date": "date"}),
}
CORRECTION_CLARIFICATIONS: tuple[str, ...] = (
    "A raw directory may hold corrections.parquet or corrections.csv; without it no record "
    "is corrected. Only accepted corrections change data.",
    "A correction is known from its decided_date: a feature or score as of T sees the "
    "corrected record only when decided_date <= T, and the original before (an amended "
    "record counts as recorded on its decided_date). Training may instead rewrite history "
    "(train --config with corrections: rewrite_history): a voided record then never "
    "trains the model and an amended one keeps its recorded_date.",
    "Several accepted corrections of one record apply in decided_date order (then "
    "correction_id); nothing applies after a void.",
)
