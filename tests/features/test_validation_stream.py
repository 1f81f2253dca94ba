"""The streamed validator (events read in slices) reports exactly what the whole-table one does.

Each case writes a registry, validates it with the whole-table reader
(``features.validation.validate._validate_dir``, which ``load_validated`` uses) and with
:func:`features.validation.stream.validate_streamed` at slices of a few rows, so that every
cross-table rule and every count spans several slices, and compares the full JSON reports:
rule names, tables, columns, counts, example keys, descriptions and their order.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from raw_factory import append_row, duplicate_row, set_cell, valid_tables
from test_validation import ERROR_CASES, SUSPICIOUS_CASES, _write

from features.raw import RawTables
from features.validation import stream as validation_stream
from features.validation.stream import validate_streamed
from features.validation.validate import _validate_dir


def _whole(path: Path, max_examples: int = 5) -> dict:
    report, _ = _validate_dir(path, progress=False, max_examples=max_examples)
    return report.to_dict()


def _assert_same(path: Path, *, slice_rows: int, max_examples: int = 5) -> dict:
    streamed = validate_streamed(path, slice_rows=slice_rows, max_examples=max_examples)
    whole = _whole(path, max_examples)
    assert streamed.to_dict() == whole
    return whole


# Every rule in both formats; the quick lane (`make test-fast`, not slow) keeps every rule
# in Parquet and leaves CSV to `make test`: the 100 cases were the quick lane's largest
# file (32.5 of its 326 test-seconds); CSV read in slices stays in it below (empty tables).
@pytest.mark.parametrize("fmt", ["parquet", pytest.param("csv", marks=pytest.mark.slow)])
@pytest.mark.parametrize("case", sorted(ERROR_CASES) + sorted(SUSPICIOUS_CASES))
def test_each_rule_is_reported_alike(case: str, fmt: str, tmp_path: Path) -> None:
    corrupt = {**ERROR_CASES, **SUSPICIOUS_CASES}[case][0]
    path = _write(corrupt(valid_tables()), tmp_path / "raw", fmt)
    whole = _assert_same(path, slice_rows=3)
    assert whole["errors"] or whole["suspicious"]  # the case did break something


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("table", ["events", "memberships"])
def test_an_empty_table_is_refused_alike(table: str, fmt: str, tmp_path: Path) -> None:
    """Events are read in slices, after the other tables' checks: an empty events table
    is known only then, and a slice's zero-row stand-ins are not empty tables."""
    t = valid_tables()
    emptied = dataclasses.replace(t, **{table: getattr(t, table).iloc[:0]})
    whole = _assert_same(_write(emptied, tmp_path / "raw", fmt), slice_rows=3)
    first = whole["errors"][0]
    assert (first["table"], first["rule"]) == (table, "table_empty")
    assert sum(v["rule"] == "table_empty" for v in whole["errors"]) == 1


def _many_faults() -> RawTables:
    """Faults in every table at once, several per rule, spread over the events."""
    t = valid_tables()
    t = duplicate_row(t, "events", {"event_id": "E2"})  # unique across slices
    t = duplicate_row(t, "events", {"event_id": "E12"})
    t = set_cell(t, "events", {"event_id": "E3"}, "person_id", "P99")  # foreign key
    t = set_cell(t, "events", {"event_id": "E9"}, "value", -4.0)  # suspicious
    t = set_cell(t, "events", {"event_id": "E5"}, "family_id", "F2")  # attribution
    t = set_cell(t, "events", {"event_id": "E11"}, "event_date", pd.Timestamp("2022-05-19"))
    t = set_cell(t, "persons", {"person_id": "P3"}, "birth_date", pd.Timestamp("2030-01-01"))
    t = set_cell(t, "memberships", {"person_id": "P1"}, "family_id", "F77")
    t = set_cell(t, "outcomes", {"family_id": "F4"}, "recorded_date", pd.Timestamp("2000-01-01"))
    born = pd.Timestamp("2001-01-01")
    t = append_row(t, "persons", {"person_id": "P11", "birth_date": born, "sex": "F"})
    events = t.events.copy()
    events.loc[events["event_id"].isin(["E10", "E13", "E14"]), "event_type"] = "court_hearing"
    events.loc[events["event_id"] == "E1", "event_type"] = "tax_audit"
    events.loc[events["event_id"] == "E6", "event_id"] = None  # named by its row number
    return dataclasses.replace(t, events=events)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("slice_rows", [1, 2, 5, 1000])
def test_many_faults_at_once_same_report_whatever_the_slices(
    fmt: str, slice_rows: int, tmp_path: Path
) -> None:
    path = _write(_many_faults(), tmp_path / "raw", fmt)
    whole = _assert_same(path, slice_rows=slice_rows, max_examples=2)
    rules = {(v["table"], v["rule"]) for v in whole["errors"] + whole["suspicious"]}
    assert {
        ("events", "unique"),
        ("events", "foreign_key"),
        ("events", "event_attribution"),
        ("events", "not_null"),
        ("persons", "date_not_future"),
        ("memberships", "foreign_key"),
        ("events", "unknown_event_type"),
        ("events", "unattributed_event"),
        ("persons", "person_without_membership"),
    } <= rules


def test_the_small_registry_validates_alike(small_registry_dir: Path) -> None:
    whole = _assert_same(small_registry_dir, slice_rows=5_000)
    assert whole["ok"]


def test_unreadable_events_mid_stream_is_one_finding(tmp_path: Path) -> None:
    path = _write(valid_tables(), tmp_path / "raw", "csv")
    text = (path / "events.csv").read_text(encoding="utf-8").splitlines()
    text[-2] += ",one,field,too,many"  # late in the file: the first slices read fine
    (path / "events.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    report = validate_streamed(path, slice_rows=2)
    assert report.rules_broken() == [("events", None, "file_unreadable")]
    assert report.tables["events"].rows is None
    assert report.extraction_date is not None  # from the outcomes, as the whole reader does


def test_a_hash_collision_between_slices_is_not_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids whose 64-bit hashes collide are compared by value before they count."""
    path = _write(valid_tables(), tmp_path / "raw", "parquet")

    def constant_hash(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        return np.full(len(values), 7, dtype=np.uint64), values.notna().to_numpy()

    monkeypatch.setattr(validation_stream, "text_hashes", constant_hash)
    report = validate_streamed(path, slice_rows=2)
    assert report.ok
    assert report.errors == []
