"""Hand-made registries for the feature tests: small, explicit, and a random one with
late and back-dated records (independent of the synthetic generator, so the
point-in-time test also covers shapes the generator may never produce)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import EVENT_TYPES, OUTCOME_TYPES, TABLE_COLUMNS, TABLES
from features.raw import RawTables, coerce_table


def table(name: str, rows: list[dict]) -> pd.DataFrame:
    """A contract table from dict rows; absent columns are null."""
    columns = [c.name for c in TABLE_COLUMNS[name]]
    frame = pd.DataFrame(rows, columns=columns)
    return coerce_table(name, frame.astype(object))


def make_raw(**tables: list[dict]) -> RawTables:
    """RawTables from dict rows per table (missing tables are empty)."""
    return RawTables(**{name: table(name, tables.get(name, [])) for name in TABLES})


def family(family_id: str, *, region: str = "R1", settlement: str = "urban") -> dict:
    """One families row registered on 2015-01-01."""
    return {
        "family_id": family_id,
        "region": region,
        "settlement": settlement,
        "registered_date": "2015-01-01",
    }


def person(person_id: str, birth_date: str, sex: str = "F") -> dict:
    """One persons row."""
    return {"person_id": person_id, "birth_date": birth_date, "sex": sex}


def member(person_id: str, family_id: str, role: str, start: str, end: str | None = None) -> dict:
    """One memberships row (end date inclusive, None = still a member)."""
    return {
        "person_id": person_id,
        "family_id": family_id,
        "role": role,
        "start_date": start,
        "end_date": end,
    }


def outcome(family_id: str, outcome_type: str, date: str, recorded: str | None = None) -> dict:
    """One outcomes row; recorded defaults to the outcome date."""
    return {
        "family_id": family_id,
        "person_id": None,
        "outcome_type": outcome_type,
        "outcome_date": date,
        "recorded_date": recorded or date,
    }


def event(
    event_id: str,
    event_type: str,
    event_date: str,
    *,
    recorded: str | None = None,
    family: str | None = None,
    person: str | None = None,
    detail: str | None = None,
    value: float | None = None,
) -> dict:
    """One events row; recorded defaults to the event date."""
    return {
        "event_id": event_id,
        "family_id": family,
        "person_id": person,
        "event_type": event_type,
        "detail": detail,
        "event_date": event_date,
        "recorded_date": recorded or event_date,
        "value": value,
        "source": "test",
    }


def random_registry(n_families: int = 60, *, seed: int = 0) -> RawTables:
    """A random registry with moves, separations, births, late and back-dated records.

    About a third of the records arrive late (weeks to two years after the event), so
    deleting the rows recorded after an as-of date removes plenty of past events.
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2019-01-01")
    span = 6 * 365
    day = lambda d: start + pd.Timedelta(days=int(d))  # noqa: E731
    families, persons, memberships, events, outcomes, protected = [], [], [], [], [], []
    pid = 0
    for f in range(n_families):
        fam = f"F{f:04d}"
        families.append(
            {
                "family_id": fam,
                "region": f"R{rng.integers(3)}",
                "settlement": ["urban", "rural"][rng.integers(2)],
                "registered_date": start,
            }
        )
        if rng.random() < 0.8:
            protected.append(
                {"family_id": fam, "attribute": "ethnicity", "value": f"E{rng.integers(3)}"}
            )
        if rng.random() < 0.5:
            protected.append(
                {"family_id": fam, "attribute": "primary_language", "value": f"L{rng.integers(2)}"}
            )
        fam_start = day(rng.integers(0, 400))
        members = []
        for role in ["head", "spouse", *["child"] * int(rng.integers(0, 6))]:
            if role == "spouse" and rng.random() < 0.3:
                continue
            pid += 1
            person = f"P{pid:05d}"
            if role == "child":
                birth = day(rng.integers(-17 * 365, span - 200))
            else:
                birth = day(rng.integers(-60 * 365, -20 * 365))
            persons.append({"person_id": person, "birth_date": birth, "sex": "FM"[rng.integers(2)]})
            m_start = max(fam_start, birth)
            m_end = None
            if role == "spouse" and rng.random() < 0.4:
                m_end = m_start + pd.Timedelta(days=int(rng.integers(30, span)))
            memberships.append(
                {
                    "person_id": person,
                    "family_id": fam,
                    "role": role,
                    "start_date": m_start,
                    "end_date": m_end,
                }
            )
            members.append((person, m_start, m_end))
        for e in range(int(rng.integers(5, 60))):
            event_type = list(EVENT_TYPES)[rng.integers(len(EVENT_TYPES))]
            spec = EVENT_TYPES[event_type]
            when = day(rng.integers(0, span))
            delay = int(rng.choice([0, 0, 3, 20, 90, 400, 700]))
            person = None
            family = fam
            if spec.level == "person":
                person, m_start, m_end = members[rng.integers(len(members))]
                if when < m_start or (m_end is not None and when > m_end):
                    when = m_start
                family = fam if rng.random() < 0.5 else None
            detail = None if spec.details is None else spec.details[rng.integers(len(spec.details))]
            events.append(
                event(
                    f"E{fam}-{e:03d}",
                    event_type,
                    when,
                    recorded=when + pd.Timedelta(days=delay),
                    family=family,
                    person=person,
                    detail=detail,
                    value=float(rng.integers(0, 200_000)) if rng.random() < 0.7 else None,
                )
            )
        for _ in range(int(rng.integers(0, 3))):
            when = day(rng.integers(0, span))
            outcomes.append(
                {
                    "family_id": fam,
                    "person_id": None,
                    "outcome_type": OUTCOME_TYPES[rng.integers(3)],
                    "outcome_date": when,
                    "recorded_date": when + pd.Timedelta(days=int(rng.integers(0, 200))),
                }
            )
    return make_raw(
        families=families,
        persons=persons,
        memberships=memberships,
        events=events,
        outcomes=outcomes,
        protected=protected,
    )


def recorded_by(raw: RawTables, as_of: pd.Timestamp) -> RawTables:
    """The registry as it stood on ``as_of``: rows recorded later are deleted."""
    as_of = pd.Timestamp(as_of)
    return RawTables(
        families=raw.families,
        persons=raw.persons,
        memberships=raw.memberships,
        events=raw.events.loc[raw.events["recorded_date"] <= as_of].reset_index(drop=True),
        outcomes=raw.outcomes.loc[raw.outcomes["recorded_date"] <= as_of].reset_index(drop=True),
        protected=raw.protected,
    )
