"""Corrections of raw records: the validator's rules, point-in-time meaning, rewriting history.

The registry is tests/features/raw_factory.py's hand-made one (extraction 2023-11-20).
Each bad-row test starts from a valid corrections table and breaks one thing: the rule
named must be reported (and the data refused), and the valid table passes, so the test
fails without the rule. The point-in-time tests compare the engine with corrections to
the engine on the registry edited by hand: a snapshot before a correction's decided date
equals the original registry's, one after equals the corrected registry's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pandas as pd
import pytest

from features.corrections import RETRACTED, apply_corrections
from features.engine import build_feature_table
from features.raw import RawTables, write_raw
from features.validation import InvalidRawDataError, load_validated, validate_raw_dir
from tests.features.raw_factory import valid_tables

DECIDED = "2023-06-01"
BEFORE, AFTER, LATEST = "2023-05-01", "2023-07-01", "2023-11-20"


def correction(**changes: object) -> dict[str, object]:
    """A valid accepted amend of E9 (F4's utility debt, recorded 2023-01-20) to 0."""
    row: dict[str, object] = {
        "correction_id": "C1",
        "family_id": "F4",
        "record_table": "events",
        "record_id": "E9",
        "action": "amend",
        "field": "value",
        "new_value": "0",
        "document_ref": "utility receipt 2023/118",
        "requested_date": "2023-05-10",
        "decided_date": DECIDED,
        "decided_by": "officer-7",
        "status": "accepted",
    }
    row.update(changes)
    return row


def void_e11(**changes: object) -> dict[str, object]:
    """A valid accepted void of E11 (F3's head in mental health treatment, a person-only
    record recorded 2023-02-01)."""
    row: dict[str, object] = {
        "correction_id": "C2",
        "family_id": "F3",
        "record_id": "E11",
        "action": "void",
        "field": None,
        "new_value": None,
    }
    row.update(changes)
    return correction(**row)


def registry(
    tmp_path: Path,
    rows: list[dict[str, object]],
    tables: RawTables | None = None,
    *,
    fmt: Literal["parquet", "csv"] = "parquet",
) -> Path:
    raw = tmp_path / "raw"
    write_raw(tables or valid_tables(), raw, fmt=fmt)
    # as text (CSV), so a malformed date reaches the validator as it was filed
    pd.DataFrame(rows, columns=list(correction())).to_csv(raw / "corrections.csv", index=False)
    return raw


def rules_of(raw: Path) -> set[str]:
    return {v.rule for v in validate_raw_dir(raw).errors}


def test_a_valid_corrections_table_passes_and_is_counted(tmp_path: Path) -> None:
    raw = registry(tmp_path, [correction(), void_e11()])
    report = validate_raw_dir(raw)
    assert report.ok, report.summary()
    assert report.tables["corrections"].rows == 2


@pytest.mark.parametrize(
    ("rows", "rule", "column"),
    [
        ([correction(record_id="E999")], "correction_record", "record_id"),
        ([correction(family_id="F1")], "correction_family", "family_id"),
        ([correction(family_id="F99")], "foreign_key", "family_id"),
        (
            [correction(decided_date="2023-01-05", requested_date="2023-01-01")],
            "correction_before_record",
            "decided_date",
        ),
        ([correction(field="event_type")], "correction_field", "field"),
        ([correction(new_value=None)], "correction_field", "field"),
        ([void_e11(field="value", new_value="1")], "correction_field", "field"),
        ([correction(new_value="forty")], "correction_value_type", "new_value"),
        ([correction(new_value="-5")], "correction_value_type", "new_value"),
        (
            [correction(field="event_date", new_value="2023-02-30")],
            "correction_value_type",
            "new_value",
        ),
        (
            [correction(field="event_date", new_value="2023-03-01")],
            "correction_value_type",
            "new_value",
        ),
        (
            [correction(record_id="E6", family_id="F2", field="detail", new_value="flooded")],
            "correction_value_type",
            "new_value",
        ),
        ([correction(decided_by=None)], "correction_decision", "status"),
        ([correction(status="requested")], "correction_decision", "status"),
        (
            [
                correction(status="requested", decided_date=None, decided_by=None),
                correction(
                    correction_id="C9", status="requested", decided_date=None, decided_by=None
                ),
            ],
            "correction_open_twice",
            "record_id",
        ),
        (
            [
                correction(action="void", field=None, new_value=None),
                correction(correction_id="C3", decided_date="2023-07-01"),
            ],
            "correction_after_void",
            "record_id",
        ),
        ([correction(), correction(decided_date="2023-07-01")], "unique", "correction_id"),
        ([correction(status="approved")], "vocabulary", "status"),
        ([correction(action="delete")], "vocabulary", "action"),
        ([correction(record_table="persons")], "vocabulary", "record_table"),
        ([correction(requested_date="2023-06-02")], "date_order", "decided_date"),
        ([correction(decided_date="1 June 2023")], "date_type", "decided_date"),
        ([correction(document_ref=" ")], "not_null", "document_ref"),
    ],
)
def test_each_rule_fails_on_a_constructed_bad_row(
    tmp_path: Path, rows: list[dict[str, object]], rule: str, column: str
) -> None:
    raw = registry(tmp_path, rows)
    report = validate_raw_dir(raw)
    found = [v for v in report.errors if v.rule == rule]
    assert found, f"{rule} not reported: {report.summary()}"
    assert found[0].table == "corrections" and found[0].column == column
    with pytest.raises(InvalidRawDataError, match=rule):
        load_validated(raw)
    with pytest.raises(InvalidRawDataError, match=rule):  # no feature from broken data
        build_feature_table(raw, [LATEST], n_jobs=1)


def test_examples_name_the_correction_and_the_bad_value(tmp_path: Path) -> None:
    raw = registry(tmp_path, [correction(correction_id="C77", new_value="forty")])
    (violation,) = [v for v in validate_raw_dir(raw).errors]
    assert violation.rule == "correction_value_type"
    assert violation.examples == ("C77: value = 'forty': not a number",)


def test_the_streamed_registry_refuses_broken_corrections(tmp_path: Path) -> None:
    from features.partitioned_raw import open_registry

    raw = registry(tmp_path, [correction(record_id="E999")])
    with pytest.raises(InvalidRawDataError, match="correction_record"):
        open_registry(raw, n_partitions=2)


def _edited(tables: RawTables, event_id: str, **values: object) -> RawTables:
    """The registry with one event changed by hand (None: removed)."""
    events = tables.events
    if not values:
        return dataclasses.replace(tables, events=events.loc[events["event_id"] != event_id])
    events = events.copy()
    for column, value in values.items():
        events.loc[events["event_id"] == event_id, column] = value
    return dataclasses.replace(tables, events=events)


def _features(source: RawTables | Path, dates: list[str], **options: object) -> pd.DataFrame:
    table = build_feature_table(source, dates, n_jobs=1, **options)  # type: ignore[arg-type]
    table.attrs.clear()
    return table


def test_a_snapshot_before_the_decided_date_sees_the_original_records(tmp_path: Path) -> None:
    """A void and an amend, decided on 2023-06-01: as of 2023-05-01 nothing changed; as of
    2023-07-01 and 2023-11-20 the features are those of the registry edited by hand."""
    original = valid_tables()
    raw = registry(tmp_path, [correction(), void_e11()])
    got = _features(raw, [BEFORE, AFTER, LATEST])
    edited = _edited(_edited(original, "E11"), "E9", value=0.0)
    assert not got.empty
    by_date = dict(tuple(got.groupby("as_of")))
    pd.testing.assert_frame_equal(
        by_date[pd.Timestamp(BEFORE)].reset_index(drop=True), _features(original, [BEFORE])
    )
    for day in (AFTER, LATEST):
        pd.testing.assert_frame_equal(
            by_date[pd.Timestamp(day)].reset_index(drop=True), _features(edited, [day])
        )
    # and the corrections did change something (else the comparison proves nothing)
    assert not _features(original, [LATEST]).equals(_features(edited, [LATEST]))


def test_rewriting_history_applies_every_accepted_correction_at_every_date(
    tmp_path: Path,
) -> None:
    original = valid_tables()
    raw = registry(tmp_path, [correction(), void_e11()])
    corrections = pd.read_csv(raw / "corrections.csv", dtype=str)
    from features.corrections import typed_corrections

    got = _features(
        original,
        [BEFORE, LATEST],
        corrections=typed_corrections(corrections),
        correction_mode="rewrite_history",
    )
    edited = _edited(_edited(original, "E11"), "E9", value=0.0)
    pd.testing.assert_frame_equal(got, _features(edited, [BEFORE, LATEST]))


def test_open_and_rejected_corrections_change_nothing(tmp_path: Path) -> None:
    rows = [
        correction(status="requested", decided_date=None, decided_by=None),
        void_e11(status="rejected"),
    ]
    raw = registry(tmp_path, rows)
    assert validate_raw_dir(raw).ok
    pd.testing.assert_frame_equal(
        _features(raw, [AFTER, LATEST]), _features(valid_tables(), [AFTER, LATEST])
    )


def test_versions_of_a_corrected_record_never_overlap() -> None:
    """Two amends then a void of one record: each day sees at most one version."""
    events = valid_tables().events
    from features.corrections import typed_corrections

    rows = typed_corrections(
        pd.DataFrame(
            [
                correction(
                    correction_id="A", decided_date="2023-03-01", requested_date="2023-03-01"
                ),
                correction(
                    correction_id="B",
                    new_value="7",
                    decided_date="2023-04-01",
                    requested_date="2023-04-01",
                ),
                correction(
                    correction_id="Z",
                    action="void",
                    field=None,
                    new_value=None,
                    decided_date="2023-05-01",
                    requested_date="2023-05-01",
                ),
            ]
        )
    )
    out = apply_corrections(events, rows)
    versions = out.loc[out["event_id"] == "E9"].sort_values("recorded_date")
    assert versions["value"].tolist() == [45000.0, 0.0, 7.0]
    assert versions[RETRACTED].dt.strftime("%Y-%m-%d").tolist() == [
        "2023-03-01",
        "2023-04-01",
        "2023-05-01",
    ]
    assert versions["recorded_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2023-01-20",
        "2023-03-01",
        "2023-04-01",
    ]
    assert len(out) == len(events) + 2
