"""A small, hand-made registry that satisfies every contract rule, and helpers to break it.

Each test starts from :func:`valid_tables` and changes exactly one thing. The data is
chosen so that each corruption breaks one rule only: persons P9 and P10 have no events
(their memberships can be broken without touching event attribution), every family has
members, every person has a membership, no record is late by more than a year, and
person P5 moves from F2 to F3 on 2022-06-01 with an event dated that very day (the
inclusive end-date convention: F2 ends 2022-05-31, F3 starts 2022-06-01).

Extraction date (latest recorded_date): 2023-11-20.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features.contract import TABLE_COLUMNS
from features.raw import RawTables, coerce_table

EXTRACTION_DATE = "2023-11-20"

_FAMILIES = [
    ("F1", "R01", "urban", "2019-01-10"),
    ("F2", "R02", "rural", "2019-03-01"),
    ("F3", "R01", "urban", "2022-05-20"),
    ("F4", "R03", "rural", "2018-07-07"),
]
_PERSONS = [
    ("P1", "1985-04-02", "F"),
    ("P2", "1983-08-15", "M"),
    ("P3", "2021-02-10", "F"),
    ("P4", "1990-01-20", "F"),
    ("P5", "2012-06-30", "M"),
    ("P6", "1975-11-11", "F"),
    ("P7", "1970-02-02", "M"),
    ("P8", "2008-09-09", "F"),
    ("P9", "1950-05-05", "M"),
    ("P10", "2000-12-12", "M"),
]
_MEMBERSHIPS = [
    ("P1", "F1", "head", "2019-01-10", None),
    ("P2", "F1", "spouse", "2019-01-10", None),
    ("P3", "F1", "child", "2021-02-10", None),
    ("P4", "F2", "head", "2019-03-01", None),
    ("P5", "F2", "child", "2019-03-01", "2022-05-31"),
    ("P5", "F3", "child", "2022-06-01", None),
    ("P6", "F3", "head", "2022-05-20", None),
    ("P7", "F4", "head", "2018-07-07", None),
    ("P8", "F4", "child", "2018-07-07", None),
    ("P9", "F4", "other_adult", "2018-07-07", "2021-01-15"),
    ("P10", "F4", "other_adult", "2019-01-01", None),
]
_EVENTS = [
    ("E1", "F1", "P1", "income", None, "2021-01-31", "2021-02-15", 180000.0, "tax"),
    (
        "E2",
        "F1",
        None,
        "benefit_payment",
        "child_benefit",
        "2021-03-01",
        "2021-03-05",
        25000.0,
        "ssa",
    ),
    ("E3", None, "P2", "loan_overdue", None, "2021-05-01", "2021-06-01", 300000.0, "credit_bureau"),
    ("E4", "F2", "P5", "school_absence", None, "2021-10-31", "2021-11-10", 6.0, "school"),
    ("E5", "F3", "P5", "school_absence", None, "2022-06-01", "2022-06-10", 3.0, "school"),
    (
        "E6",
        "F2",
        None,
        "housing_inspection",
        "overcrowded",
        "2021-07-07",
        "2021-07-20",
        2.5,
        "housing",
    ),
    ("E7", "F4", "P8", "police_contact", "victim", "2022-02-02", "2022-02-03", None, "police"),
    (
        "E8",
        None,
        "P7",
        "unemployment_registered",
        None,
        "2020-09-01",
        "2020-09-15",
        None,
        "employment",
    ),
    ("E9", "F4", None, "utility_debt", None, "2022-12-31", "2023-01-20", 45000.0, "utilities"),
    (
        "E10",
        "F3",
        None,
        "social_service_contact",
        "housing",
        "2023-03-03",
        "2023-03-04",
        None,
        "ssa",
    ),
    (
        "E11",
        None,
        "P6",
        "mental_health_treatment",
        None,
        "2023-01-01",
        "2023-02-01",
        None,
        "health",
    ),
    ("E12", "F1", "P3", "missed_vaccination", None, "2022-03-01", "2022-03-20", None, "health"),
    ("E13", None, "P4", "injury_emergency_visit", None, "2023-06-06", "2023-06-08", None, "health"),
    (
        "E14",
        "F4",
        None,
        "domestic_violence_report",
        None,
        "2023-08-01",
        "2023-08-02",
        None,
        "police",
    ),
    ("E15", "F2", "P4", "income", None, "2023-09-30", "2023-10-15", 120000.0, "tax"),
]
_OUTCOMES = [
    ("F4", "P8", "child_protection_case", "2023-09-01", "2023-09-10"),
    ("F2", None, "family_crisis", "2023-11-01", EXTRACTION_DATE),
]
_PROTECTED = [
    (family, attribute, value)
    for family, ethnicity, language in (
        ("F1", "kazakh", "kazakh"),
        ("F2", "russian", "russian"),
        ("F3", "uzbek", "uzbek"),
        ("F4", "kazakh", "russian"),
    )
    for attribute, value in (("ethnicity", ethnicity), ("primary_language", language))
]

_ROWS = {
    "families": _FAMILIES,
    "persons": _PERSONS,
    "memberships": _MEMBERSHIPS,
    "events": _EVENTS,
    "outcomes": _OUTCOMES,
    "protected": _PROTECTED,
}


@functools.cache
def _typed_tables() -> RawTables:
    """The valid registry typed once per process: :func:`coerce_table` parses every column
    (about 70 ms), and some 300 tests start from this registry."""
    frames = {}
    for table, rows in _ROWS.items():
        names = [c.name for c in TABLE_COLUMNS[table]]
        frames[table] = coerce_table(table, pd.DataFrame(rows, columns=names, dtype=object))
    return RawTables(**frames)


def valid_tables() -> RawTables:
    """A fresh copy of the valid registry, typed as :class:`RawTables` (deep copies: a
    test may change its frames in place)."""
    typed = _typed_tables()
    return RawTables(**{name: frame.copy(deep=True) for name, frame in typed.items()})


def _locate(frame: pd.DataFrame, where: dict[str, str]) -> int:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= frame[column].eq(value).to_numpy(dtype=bool, na_value=False)
    positions = np.flatnonzero(mask)
    assert len(positions) == 1, f"{where} matches {len(positions)} rows"
    return int(positions[0])


def set_cell(
    tables: RawTables, table: str, where: dict[str, str], column: str, value: object
) -> RawTables:
    """Copy of ``tables`` with one cell changed (the row chosen by ``where``).

    A text value in a date or float column turns that column into text (object), as a
    CSV reader would deliver it, so malformed cells can be expressed in memory.
    """
    frame = getattr(tables, table).copy()
    position = _locate(frame, where)
    kind = next(c.kind for c in TABLE_COLUMNS[table] if c.name == column)
    if kind in ("date", "float") and isinstance(value, str):
        original = frame[column]
        if kind == "date":
            text = original.dt.strftime("%Y-%m-%d")
        else:
            text = original.map(lambda v: None if pd.isna(v) else repr(float(v)))
        frame[column] = text.astype(object)
    elif kind == "date" and value is not None:
        value = pd.Timestamp(value)
    frame.iloc[position, frame.columns.get_loc(column)] = value
    return dataclasses.replace(tables, **{table: frame})


def append_row(tables: RawTables, table: str, row: dict[str, object]) -> RawTables:
    """Copy of ``tables`` with one row appended (missing columns null)."""
    frame = getattr(tables, table)
    new = coerce_table(table, pd.DataFrame([row], columns=list(frame.columns), dtype=object))
    return dataclasses.replace(tables, **{table: pd.concat([frame, new], ignore_index=True)})


def duplicate_row(tables: RawTables, table: str, where: dict[str, str]) -> RawTables:
    """Copy of ``tables`` with one existing row repeated at the end."""
    frame = getattr(tables, table)
    position = _locate(frame, where)
    repeated = pd.concat([frame, frame.iloc[[position]]], ignore_index=True)
    return dataclasses.replace(tables, **{table: repeated})


def drop_column(tables: RawTables, table: str, column: str) -> RawTables:
    """Copy of ``tables`` without one column of one table."""
    return dataclasses.replace(tables, **{table: getattr(tables, table).drop(columns=[column])})


def write_lake(
    source: Path, raw: Path, *, row_group_sizes: tuple[int | None, int | None] = (None, None)
) -> Path:
    """``source``'s registry as a data lake lays it out: events as two part files in
    ``events/`` (row groups of ``row_group_sizes`` rows each, Parquet's default when None),
    persons as CSV, the other tables as they are. Returns ``raw``."""
    raw.mkdir(parents=True)
    for table in ("families", "memberships", "outcomes", "protected"):
        shutil.copy(source / f"{table}.parquet", raw)
    events = pq.read_table(source / "events.parquet")
    (raw / "events").mkdir()
    half = events.num_rows // 2
    for name, part, size in zip(
        ("part-0", "part-1"),
        (events.slice(0, half), events.slice(half)),
        row_group_sizes,
        strict=True,
    ):
        pq.write_table(part, raw / "events" / f"{name}.parquet", row_group_size=size)
    persons = pd.read_parquet(source / "persons.parquet")
    persons.assign(birth_date=persons["birth_date"].astype("str")).to_csv(
        raw / "persons.csv", index=False
    )
    return raw
