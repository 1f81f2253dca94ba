"""The raw-data contract (version 1) as code: table names, columns, types and vocabularies.

Everything that reads or writes raw registry data (the synthetic generator, the validator,
the feature pipeline) takes its names from here, so the contract page
(``shared/DATA_CONTRACT.md``) and the code cannot drift apart silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CONTRACT_VERSION = 1

ColumnKind = Literal["id", "string", "date", "float"]


@dataclass(frozen=True)
class Column:
    """One column of a raw table: its kind and whether a null is allowed."""

    name: str
    kind: ColumnKind
    nullable: bool = False


TABLE_COLUMNS: dict[str, tuple[Column, ...]] = {
    "families": (
        Column("family_id", "id"),
        Column("region", "string"),
        Column("settlement", "string"),
        Column("registered_date", "date"),
    ),
    "persons": (
        Column("person_id", "id"),
        Column("birth_date", "date"),
        Column("sex", "string"),
    ),
    "memberships": (
        Column("person_id", "id"),
        Column("family_id", "id"),
        Column("role", "string"),
        Column("start_date", "date"),
        Column("end_date", "date", nullable=True),
    ),
    "events": (
        Column("event_id", "id"),
        Column("family_id", "id", nullable=True),
        Column("person_id", "id", nullable=True),
        Column("event_type", "string"),
        Column("detail", "string", nullable=True),
        Column("event_date", "date"),
        Column("recorded_date", "date"),
        Column("value", "float", nullable=True),
        Column("source", "string"),
    ),
    "outcomes": (
        Column("family_id", "id"),
        Column("person_id", "id", nullable=True),
        Column("outcome_type", "string"),
        Column("outcome_date", "date"),
        Column("recorded_date", "date"),
    ),
    "protected": (
        Column("family_id", "id"),
        Column("attribute", "string"),
        Column("value", "string"),
    ),
}

TABLES: tuple[str, ...] = tuple(TABLE_COLUMNS)

SETTLEMENTS = ("urban", "rural")
SEXES = ("F", "M")
ROLES = ("head", "spouse", "child", "other_adult")
OUTCOME_TYPES = ("child_protection_case", "child_placed_in_care", "family_crisis")

Domain = Literal["economic", "social", "housing", "health", "education"]
Level = Literal["person", "family"]


@dataclass(frozen=True)
class EventType:
    """An event type of the contract's vocabulary: its domain, level and allowed details."""

    name: str
    domain: Domain
    level: Level
    details: tuple[str, ...] | None = None  # None: detail is free text or null


EVENT_TYPES: dict[str, EventType] = {
    e.name: e
    for e in (
        EventType("income", "economic", "person"),
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
        ),
        EventType("unemployment_registered", "economic", "person"),
        EventType("loan_overdue", "economic", "person"),
        EventType("utility_debt", "economic", "family"),
        EventType("social_service_contact", "social", "family"),
        EventType("family_support_center_visit", "social", "family"),
        EventType("domestic_violence_report", "social", "family"),
        EventType("police_contact", "social", "person", ("offense", "victim", "witness")),
        EventType("juvenile_offense", "social", "person"),
        EventType("housing_inspection", "housing", "family", ("adequate", "overcrowded", "unsafe")),
        EventType("eviction_notice", "housing", "family"),
        EventType("homelessness_episode", "housing", "family"),
        EventType("missed_vaccination", "health", "person"),
        EventType("injury_emergency_visit", "health", "person"),
        EventType("prenatal_visit_missed", "health", "person"),
        EventType("substance_use_treatment", "health", "person"),
        EventType("mental_health_treatment", "health", "person"),
        EventType("school_absence", "education", "person"),
        EventType("school_dropout", "education", "person"),
        EventType("preschool_not_enrolled", "education", "person"),
        EventType("special_education_needs", "education", "person"),
    )
}

DOMAINS: tuple[str, ...] = ("economic", "social", "housing", "health", "education")

# The default label: a child protection case or placement within 12 months after as-of.
DEFAULT_LABEL_OUTCOMES: tuple[str, ...] = ("child_protection_case", "child_placed_in_care")
DEFAULT_HORIZON_MONTHS = 12

# A record back-dated by more than this many days is suspicious (counted, not dropped).
BACKDATED_SUSPICIOUS_DAYS = 365

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
            f"unknown raw table {table!r}; the contract has {', '.join(TABLES)}"
        ) from None
