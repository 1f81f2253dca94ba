"""The validator names exactly the contract rule a dataset breaks, and nothing else.

Every case starts from the valid hand-made registry of ``raw_factory``, changes exactly
one thing, and asserts the report's errors are exactly one (table, column, rule). The
suspicious cases assert the data stays valid and the rows are counted, not dropped.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors
import pytest
from raw_factory import (
    EXTRACTION_DATE,
    append_row,
    drop_column,
    duplicate_row,
    set_cell,
    valid_tables,
)
from typer.testing import CliRunner

from earlyrisk.cli import app
from features.contract import BACKDATED_SUSPICIOUS_DAYS, TABLES
from features.raw import RawTables, write_raw
from features.schemas import RAW_SCHEMAS, validate_schemas
from features.validation import (
    RULES,
    InvalidRawDataError,
    ValidationReport,
    load_validated,
    validate_raw_dir,
    validate_tables,
)
from features.validation.rulebook import CORRECTION_RULES

Corruption = Callable[[RawTables], RawTables]


def test_the_hand_made_registry_is_valid_and_unsuspicious() -> None:
    report = validate_tables(valid_tables())
    assert report.ok
    assert report.errors == []
    assert report.suspicious == []
    assert report.extraction_date == EXTRACTION_DATE


# One case per contract rule (several columns for the per-column rules). Each corrupts one
# cell or one row; the expected error is the only one allowed.
ERROR_CASES: dict[str, tuple[Corruption, tuple[str, str | None, str]]] = {
    # types: dates parse as ISO YYYY-MM-DD, floats are numbers
    "date_type/invalid_day": (
        lambda t: set_cell(t, "events", {"event_id": "E3"}, "event_date", "2021-02-30"),
        ("events", "event_date", "date_type"),
    ),
    "date_type/not_iso": (
        lambda t: set_cell(t, "persons", {"person_id": "P4"}, "birth_date", "20/01/1990"),
        ("persons", "birth_date", "date_type"),
    ),
    "date_type/nullable_end_date": (
        lambda t: set_cell(t, "memberships", {"person_id": "P9"}, "end_date", "2021-13-01"),
        ("memberships", "end_date", "date_type"),
    ),
    "date_type/implausible_year": (
        lambda t: set_cell(t, "families", {"family_id": "F2"}, "registered_date", "0219-03-01"),
        ("families", "registered_date", "date_type"),
    ),
    "float_type": (
        lambda t: set_cell(t, "events", {"event_id": "E1"}, "value", "lots"),
        ("events", "value", "float_type"),
    ),
    "float_type/infinite": (
        lambda t: set_cell(t, "events", {"event_id": "E1"}, "value", float("inf")),
        ("events", "value", "float_type"),
    ),
    # columns and files
    "column_missing": (
        lambda t: drop_column(t, "families", "region"),
        ("families", "region", "column_missing"),
    ),
    # nulls only where allowed (whitespace counts as empty)
    "not_null/region": (
        lambda t: set_cell(t, "families", {"family_id": "F3"}, "region", None),
        ("families", "region", "not_null"),
    ),
    "not_null/blank_sex": (
        lambda t: set_cell(t, "persons", {"person_id": "P7"}, "sex", "   "),
        ("persons", "sex", "not_null"),
    ),
    "not_null/event_id": (
        lambda t: set_cell(t, "events", {"event_id": "E10"}, "event_id", ""),
        ("events", "event_id", "not_null"),
    ),
    "not_null/source": (
        lambda t: set_cell(t, "events", {"event_id": "E6"}, "source", None),
        ("events", "source", "not_null"),
    ),
    "not_null/outcome_date": (
        lambda t: set_cell(t, "outcomes", {"outcome_type": "family_crisis"}, "outcome_date", None),
        ("outcomes", "outcome_date", "not_null"),
    ),
    "not_null/protected_value": (
        lambda t: set_cell(
            t, "protected", {"family_id": "F1", "attribute": "ethnicity"}, "value", None
        ),
        ("protected", "value", "not_null"),
    ),
    # uniqueness
    "unique/family_id": (
        lambda t: duplicate_row(t, "families", {"family_id": "F4"}),
        ("families", "family_id", "unique"),
    ),
    "unique/person_id": (
        lambda t: duplicate_row(t, "persons", {"person_id": "P9"}),
        ("persons", "person_id", "unique"),
    ),
    "unique/event_id": (
        lambda t: set_cell(t, "events", {"event_id": "E10"}, "event_id", "E9"),
        ("events", "event_id", "unique"),
    ),
    "unique/protected_attribute": (
        lambda t: append_row(
            t, "protected", {"family_id": "F1", "attribute": "ethnicity", "value": "russian"}
        ),
        ("protected", "family_id+attribute", "unique"),
    ),
    # foreign keys
    "foreign_key/memberships.person_id": (
        lambda t: set_cell(t, "memberships", {"person_id": "P10"}, "person_id", "P999"),
        ("memberships", "person_id", "foreign_key"),
    ),
    "foreign_key/memberships.family_id": (
        lambda t: set_cell(t, "memberships", {"person_id": "P10"}, "family_id", "F999"),
        ("memberships", "family_id", "foreign_key"),
    ),
    "foreign_key/events.family_id": (
        lambda t: set_cell(t, "events", {"event_id": "E2"}, "family_id", "F999"),
        ("events", "family_id", "foreign_key"),
    ),
    "foreign_key/events.person_id": (
        lambda t: set_cell(t, "events", {"event_id": "E3"}, "person_id", "P999"),
        ("events", "person_id", "foreign_key"),
    ),
    "foreign_key/events.person_id_with_family": (
        lambda t: set_cell(t, "events", {"event_id": "E4"}, "person_id", "P999"),
        ("events", "person_id", "foreign_key"),
    ),
    "foreign_key/outcomes.family_id": (
        lambda t: set_cell(t, "outcomes", {"outcome_type": "family_crisis"}, "family_id", "F9"),
        ("outcomes", "family_id", "foreign_key"),
    ),
    "foreign_key/outcomes.person_id": (
        lambda t: set_cell(t, "outcomes", {"family_id": "F4"}, "person_id", "P999"),
        ("outcomes", "person_id", "foreign_key"),
    ),
    "foreign_key/protected.family_id": (
        lambda t: set_cell(
            t, "protected", {"family_id": "F3", "attribute": "ethnicity"}, "family_id", "F999"
        ),
        ("protected", "family_id", "foreign_key"),
    ),
    # date order
    "date_order/events": (
        lambda t: set_cell(t, "events", {"event_id": "E8"}, "recorded_date", "2020-08-31"),
        ("events", "recorded_date", "date_order"),
    ),
    "date_order/outcomes": (
        lambda t: set_cell(t, "outcomes", {"family_id": "F4"}, "recorded_date", "2023-08-01"),
        ("outcomes", "recorded_date", "date_order"),
    ),
    "date_order/memberships": (
        lambda t: set_cell(t, "memberships", {"person_id": "P9"}, "end_date", "2017-01-01"),
        ("memberships", "end_date", "date_order"),
    ),
    # birth not after the extraction date (the latest recorded_date)
    "date_not_future": (
        lambda t: set_cell(t, "persons", {"person_id": "P3"}, "birth_date", "2023-11-21"),
        ("persons", "birth_date", "date_not_future"),
    ),
    # enumerations
    "vocabulary/settlement": (
        lambda t: set_cell(t, "families", {"family_id": "F1"}, "settlement", "suburban"),
        ("families", "settlement", "vocabulary"),
    ),
    "vocabulary/sex": (
        lambda t: set_cell(t, "persons", {"person_id": "P2"}, "sex", "X"),
        ("persons", "sex", "vocabulary"),
    ),
    "vocabulary/role": (
        lambda t: set_cell(t, "memberships", {"person_id": "P10"}, "role", "lodger"),
        ("memberships", "role", "vocabulary"),
    ),
    "vocabulary/outcome_type": (
        lambda t: set_cell(t, "outcomes", {"family_id": "F4"}, "outcome_type", "adoption"),
        ("outcomes", "outcome_type", "vocabulary"),
    ),
    "detail_vocabulary/benefit_payment": (
        lambda t: set_cell(t, "events", {"event_id": "E2"}, "detail", "pension"),
        ("events", "detail", "detail_vocabulary"),
    ),
    "detail_vocabulary/police_contact": (
        lambda t: set_cell(t, "events", {"event_id": "E7"}, "detail", "suspect"),
        ("events", "detail", "detail_vocabulary"),
    ),
    "detail_vocabulary/housing_inspection": (
        lambda t: set_cell(t, "events", {"event_id": "E6"}, "detail", "Overcrowded"),
        ("events", "detail", "detail_vocabulary"),
    ),
    # events name a family or a person
    "event_subject": (
        lambda t: set_cell(t, "events", {"event_id": "E14"}, "family_id", None),
        ("events", "family_id+person_id", "event_subject"),
    ),
    # a person belongs to at most one family on any date (end_date inclusive)
    "membership_overlap": (
        lambda t: set_cell(
            t, "memberships", {"person_id": "P5", "family_id": "F2"}, "end_date", "2022-09-01"
        ),
        ("memberships", "start_date", "membership_overlap"),
    ),
    "membership_overlap/shared_day": (
        lambda t: set_cell(
            t, "memberships", {"person_id": "P5", "family_id": "F2"}, "end_date", "2022-06-01"
        ),
        ("memberships", "start_date", "membership_overlap"),
    ),
    # both ids set: the person is a member of that family on event_date
    "event_attribution": (
        lambda t: set_cell(t, "events", {"event_id": "E12"}, "family_id", "F2"),
        ("events", "family_id+person_id", "event_attribution"),
    ),
    "event_attribution/after_leaving": (
        lambda t: set_cell(t, "events", {"event_id": "E5"}, "family_id", "F2"),
        ("events", "family_id+person_id", "event_attribution"),
    ),
    # a registry without events cannot be assessed (every row rule passes on no rows)
    "table_empty/events": (
        lambda t: dataclasses.replace(t, events=t.events.iloc[:0]),
        ("events", None, "table_empty"),
    ),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_one_corruption_breaks_exactly_its_rule(case: str) -> None:
    corrupt, expected = ERROR_CASES[case]
    report = validate_tables(corrupt(valid_tables()))
    assert report.rules_broken() == [expected]
    assert not report.ok
    (violation,) = report.errors
    assert violation.count == (2 if expected[2] == "unique" else 1)  # both rows of a pair
    if expected[2] in ("column_missing", "table_empty"):  # about a column or table, not rows
        assert violation.examples == ()
    elif expected[0] == "protected" and expected[2] == "unique":  # both conflicting values
        assert len(violation.examples) == 2
    else:
        assert len(violation.examples) == 1
    assert violation.description


def test_every_error_rule_has_a_corruption_case() -> None:
    tested = {rule for _, (_, _, rule) in ERROR_CASES.values()}
    # the two file-level rules need a directory; they are tested below.
    tested |= {"file_missing", "file_unreadable"}
    # the corrections table's rules: one corruption case each in test_corrections.py
    tested |= set(CORRECTION_RULES)
    error_rules = {rule_id for rule_id, rule in RULES.items() if rule.severity == "error"}
    assert tested == error_rules


def test_examples_name_the_offending_key_and_value() -> None:
    tables = set_cell(valid_tables(), "events", {"event_id": "E3"}, "event_date", "2021-02-30")
    (violation,) = validate_tables(tables).errors
    assert violation.examples == ("E3: '2021-02-30'",)
    tables = set_cell(valid_tables(), "memberships", {"person_id": "P10"}, "family_id", "F999")
    (violation,) = validate_tables(tables).errors
    assert violation.examples == ("row 11 (person_id=P10, family_id=F999): 'F999'",)


def test_counts_every_offending_row_but_shows_few_examples() -> None:
    tables = valid_tables()
    events = tables.events.copy()
    events["recorded_date"] = events["event_date"] - pd.Timedelta(days=1)
    # keep the extraction date: outcomes still hold the latest recorded_date
    report = validate_tables(dataclasses.replace(tables, events=events), max_examples=5)
    (violation,) = report.errors
    assert violation.rule == "date_order"
    assert violation.count == len(events)
    assert len(violation.examples) == 5
    assert violation.examples[0] == "E1: recorded_date 2021-01-30 < event_date 2021-01-31"


def test_dropping_a_row_that_others_reference_is_reported_as_foreign_keys() -> None:
    tables = valid_tables()
    persons = tables.persons[tables.persons["person_id"] != "P5"]
    report = validate_tables(dataclasses.replace(tables, persons=persons))
    broken = {(t, c, r) for t, c, r in report.rules_broken()}
    assert broken == {
        ("memberships", "person_id", "foreign_key"),
        ("events", "person_id", "foreign_key"),
    }
    counts = {(v.table, v.column): v.count for v in report.errors}
    assert counts[("memberships", "person_id")] == 2
    assert counts[("events", "person_id")] == 2


# Suspicious findings: the data stays valid, the rows are counted and kept.
SUSPICIOUS_CASES: dict[str, tuple[Corruption, tuple[str, str | None, str]]] = {
    "unknown_event_type": (
        lambda t: set_cell(t, "events", {"event_id": "E10"}, "event_type", "court_hearing"),
        ("events", "event_type", "unknown_event_type"),
    ),
    "backdated_record/events": (
        lambda t: set_cell(t, "events", {"event_id": "E13"}, "event_date", "2022-06-07"),
        ("events", "recorded_date", "backdated_record"),
    ),
    "backdated_record/outcomes": (
        lambda t: set_cell(t, "outcomes", {"family_id": "F4"}, "outcome_date", "2021-09-01"),
        ("outcomes", "recorded_date", "backdated_record"),
    ),
    "family_without_members": (
        lambda t: append_row(
            t,
            "families",
            {
                "family_id": "F5",
                "region": "R01",
                "settlement": "urban",
                "registered_date": "2020-01-01",
            },
        ),
        ("families", "family_id", "family_without_members"),
    ),
    "person_without_membership": (
        lambda t: append_row(
            t, "persons", {"person_id": "P11", "birth_date": "2001-01-01", "sex": "F"}
        ),
        ("persons", "person_id", "person_without_membership"),
    ),
    "unattributed_event": (
        lambda t: set_cell(t, "events", {"event_id": "E11"}, "event_date", "2022-05-19"),
        ("events", "person_id", "unattributed_event"),
    ),
    "extra_column": (
        lambda t: dataclasses.replace(t, families=t.families.assign(comment="moved")),
        ("families", "comment", "extra_column"),
    ),
    "negative_value": (
        lambda t: set_cell(t, "events", {"event_id": "E9"}, "value", -45000.0),
        ("events", "value", "negative_value"),
    ),
}


@pytest.mark.parametrize("case", sorted(SUSPICIOUS_CASES))
def test_suspicious_rows_are_counted_not_errors(case: str) -> None:
    corrupt, expected = SUSPICIOUS_CASES[case]
    report = validate_tables(corrupt(valid_tables()))
    assert report.ok, report.summary()
    assert [(v.table, v.column, v.rule) for v in report.suspicious] == [expected]
    assert report.suspicious[0].count == 1


def test_every_suspicious_rule_has_a_case() -> None:
    tested = {rule for _, (_, _, rule) in SUSPICIOUS_CASES.values()}
    assert tested == {r for r, rule in RULES.items() if rule.severity == "suspicious"}


def test_backdated_threshold_is_the_contract_constant() -> None:
    limit = BACKDATED_SUSPICIOUS_DAYS
    recorded = pd.Timestamp("2023-06-08")
    at_limit = (recorded - pd.Timedelta(days=limit)).strftime("%Y-%m-%d")
    beyond = (recorded - pd.Timedelta(days=limit + 1)).strftime("%Y-%m-%d")
    on_edge = set_cell(valid_tables(), "events", {"event_id": "E13"}, "event_date", at_limit)
    assert validate_tables(on_edge).suspicious == []
    late = set_cell(valid_tables(), "events", {"event_id": "E13"}, "event_date", beyond)
    (finding,) = validate_tables(late).suspicious
    assert finding.examples == (f"E13: {limit + 1} days late",)


def test_unknown_event_types_are_summarised_by_type() -> None:
    tables = valid_tables()
    events = tables.events.copy()
    events.loc[events["event_id"].isin(["E10", "E13", "E14"]), "event_type"] = "court_hearing"
    events.loc[events["event_id"] == "E11", "event_type"] = "tax_audit"
    report = validate_tables(dataclasses.replace(tables, events=events))
    (finding,) = report.suspicious
    assert finding.count == 4
    assert "court_hearing (3)" in finding.description
    assert "tax_audit (1)" in finding.description


# --------------------------------------------------------------------------------------
# Directories: Parquet and CSV, files, columns, load_validated
# --------------------------------------------------------------------------------------


def _comparable(report: ValidationReport) -> dict:
    """The report without where it was read from (file names differ by format)."""
    out = report.to_dict()
    out.pop("source")
    out["tables"] = {name: info["rows"] for name, info in out["tables"].items()}
    return out


def _write(tables: RawTables, path: Path, fmt: str) -> Path:
    """Write like ``write_raw``; date columns a corruption turned into text stay text."""
    if fmt == "parquet":
        return write_raw(tables, path, fmt="parquet")
    path.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        text = frame.copy()
        for column in text.columns:
            if pd.api.types.is_datetime64_any_dtype(text[column].dtype):
                text[column] = text[column].dt.strftime("%Y-%m-%d")
        text.to_csv(path / f"{name}.csv", index=False, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "case",
    ["valid", "date_order/events", "foreign_key/events.person_id", "membership_overlap"],
)
def test_csv_export_validates_like_parquet(case: str, tmp_path: Path) -> None:
    tables = valid_tables() if case == "valid" else ERROR_CASES[case][0](valid_tables())
    tables = SUSPICIOUS_CASES["unknown_event_type"][0](tables)
    from_parquet = validate_raw_dir(_write(tables, tmp_path / "pq", "parquet"))
    from_csv = validate_raw_dir(_write(tables, tmp_path / "csv", "csv"))
    assert from_parquet.tables["events"].file == "events.parquet"
    assert from_csv.tables["events"].file == "events.csv"
    assert _comparable(from_csv) == _comparable(from_parquet)
    assert from_csv.ok is (case == "valid")
    assert len(from_csv.suspicious) == 1


def test_malformed_csv_cells_are_reported_per_row_not_raised(tmp_path: Path) -> None:
    raw = _write(valid_tables(), tmp_path, "csv")
    events = (raw / "events.csv").read_text(encoding="utf-8")
    events = events.replace("2021-05-01,2021-06-01,300000.0", "01/05/2021,2021-06-01,3e5x")
    events = events.replace("2022-12-31,2023-01-20", "2022-12-32,2023-01-20")
    (raw / "events.csv").write_text(events, encoding="utf-8")
    report = validate_raw_dir(raw)
    assert sorted(report.rules_broken()) == [
        ("events", "event_date", "date_type"),
        ("events", "value", "float_type"),
    ]
    dates = next(v for v in report.errors if v.rule == "date_type")
    assert dates.count == 2
    assert dates.examples == ("E3: '01/05/2021'", "E9: '2022-12-32'")


def test_parquet_with_arrow_date32_columns_validates(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = valid_tables()
    write_raw(tables, tmp_path)
    arrow = pa.Table.from_pandas(tables.persons, preserve_index=False)
    arrow = arrow.set_column(1, "birth_date", arrow.column("birth_date").cast(pa.date32()))
    pq.write_table(arrow, tmp_path / "persons.parquet")
    assert validate_raw_dir(tmp_path).ok
    loaded = load_validated(tmp_path)
    assert loaded.persons["birth_date"].dtype == "datetime64[ns]"
    pd.testing.assert_frame_equal(loaded.persons, tables.persons)


def test_missing_table_file_is_reported(tmp_path: Path) -> None:
    raw = _write(valid_tables(), tmp_path, "parquet")
    (raw / "persons.parquet").unlink()
    report = validate_raw_dir(raw)
    assert report.rules_broken() == [("persons", None, "file_missing")]
    assert report.tables["persons"].file is None


def test_unreadable_table_file_is_reported(tmp_path: Path) -> None:
    raw = _write(valid_tables(), tmp_path, "parquet")
    (raw / "events.parquet").write_bytes(b"this is not parquet")
    report = validate_raw_dir(raw)
    assert report.rules_broken() == [("events", None, "file_unreadable")]
    assert "events.parquet" in report.errors[0].description


def test_csv_row_with_wrong_field_count_is_unreadable(tmp_path: Path) -> None:
    raw = _write(valid_tables(), tmp_path, "csv")
    with (raw / "outcomes.csv").open("a", encoding="utf-8") as handle:
        handle.write("F1,P1,family_crisis,2023-01-01,2023-01-02,extra\n")
    report = validate_raw_dir(raw)
    assert report.rules_broken() == [("outcomes", None, "file_unreadable")]
    assert "outcomes.csv" in report.errors[0].description


def test_missing_csv_column_is_reported_and_extra_column_is_suspicious(tmp_path: Path) -> None:
    tables = valid_tables()
    raw = _write(tables, tmp_path, "csv")
    families = tables.families.drop(columns=["settlement"]).assign(
        registered_date=tables.families["registered_date"].dt.strftime("%Y-%m-%d"),
        comment="moved from R02",
    )
    families.to_csv(raw / "families.csv", index=False)
    report = validate_raw_dir(raw)
    assert report.rules_broken() == [("families", "settlement", "column_missing")]
    assert [(v.table, v.column, v.rule) for v in report.suspicious] == [
        ("families", "comment", "extra_column")
    ]


def test_parquet_preferred_over_csv(tmp_path: Path) -> None:
    good = valid_tables()
    _write(good, tmp_path, "parquet")
    _write(ERROR_CASES["vocabulary/sex"][0](good), tmp_path, "csv")
    report = validate_raw_dir(tmp_path)
    assert report.ok
    assert {info.file for info in report.tables.values()} == {f"{t}.parquet" for t in TABLES}


def test_validate_raw_dir_requires_a_directory(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="does not exist"):
        validate_raw_dir(tmp_path / "nowhere")


def test_load_validated_returns_the_in_memory_shape(tmp_path: Path) -> None:
    tables = valid_tables()
    for fmt in ("parquet", "csv"):
        loaded = load_validated(_write(tables, tmp_path / fmt, fmt))
        for name, frame in tables.items():
            pd.testing.assert_frame_equal(getattr(loaded, name), frame, obj=f"{fmt} {name}")


def test_load_validated_keeps_suspicious_rows(tmp_path: Path) -> None:
    tables = SUSPICIOUS_CASES["unknown_event_type"][0](valid_tables())
    tables = SUSPICIOUS_CASES["negative_value"][0](tables)
    loaded = load_validated(_write(tables, tmp_path, "parquet"))
    assert len(loaded.events) == len(tables.events)
    assert (loaded.events["event_type"] == "court_hearing").sum() == 1
    assert (loaded.events["value"] < 0).sum() == 1


def test_load_validated_refuses_broken_data(tmp_path: Path) -> None:
    tables = ERROR_CASES["event_attribution"][0](valid_tables())
    tables = ERROR_CASES["vocabulary/sex"][0](tables)
    raw = _write(tables, tmp_path, "parquet")
    with pytest.raises(InvalidRawDataError) as caught:
        load_validated(raw)
    error = caught.value
    assert not error.report.ok
    assert sorted(error.report.rules_broken()) == [
        ("events", "family_id+person_id", "event_attribution"),
        ("persons", "sex", "vocabulary"),
    ]
    message = str(error)
    assert "breaks 2 rule(s)" in message
    assert "persons.sex [vocabulary] 1 row (e.g. P2: 'X')" in message
    assert "E12" in message


def test_schemas_accept_valid_tables_and_reject_a_wrong_dtype() -> None:
    tables = valid_tables()
    assert validate_schemas(tables) is tables
    bad = tables.events.assign(value=tables.events["value"].astype("object"))
    with pytest.raises(pandera.errors.SchemaErrors, match="value"):
        RAW_SCHEMAS["events"].validate(bad, lazy=True)
    extra = tables.families.assign(comment="x")
    with pytest.raises(pandera.errors.SchemaErrors, match="comment"):
        RAW_SCHEMAS["families"].validate(extra, lazy=True)


def test_report_json_shape() -> None:
    report = validate_tables(
        SUSPICIOUS_CASES["negative_value"][0](ERROR_CASES["vocabulary/role"][0](valid_tables()))
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == {
        "contract_version",
        "source",
        "ok",
        "extraction_date",
        "tables",
        "errors",
        "suspicious",
        "coverage",
        "warnings",
    }
    assert data["ok"] is False
    assert data["extraction_date"] == EXTRACTION_DATE
    assert data["tables"]["memberships"] == {"file": None, "rows": 11}
    (error,) = data["errors"]
    assert error == {
        "table": "memberships",
        "column": "role",
        "rule": "vocabulary",
        "description": "memberships.role must be one of head, spouse, child, other_adult",
        "count": 1,
        "examples": ["row 11 (person_id=P10, family_id=F4): 'lodger'"],
    }
    assert [s["rule"] for s in data["suspicious"]] == ["negative_value"]


def test_report_renders_with_rich() -> None:
    from rich.console import Console

    report = validate_tables(ERROR_CASES["vocabulary/role"][0](valid_tables()))
    console = Console(record=True, width=160)
    report.print(console)
    text = console.export_text()
    assert "INVALID" in text
    assert "memberships" in text
    assert "lodger" in text


def test_validation_is_independent_of_row_order() -> None:
    tables = ERROR_CASES["membership_overlap"][0](valid_tables())
    tables = ERROR_CASES["event_attribution"][0](tables)
    rng = np.random.default_rng(3)
    shuffled = RawTables(
        **{
            name: frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
            for name, frame in tables.items()
        }
    )
    first, second = validate_tables(tables), validate_tables(shuffled)
    assert sorted(first.rules_broken()) == sorted(second.rules_broken())
    assert [v.count for v in first.errors] == [v.count for v in second.errors]


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_valid_directory_exits_zero(tmp_path: Path) -> None:
    raw = _write(valid_tables(), tmp_path, "parquet")
    result = runner.invoke(app, ["validate", str(raw)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "VALID" in result.output
    assert "events.parquet" in result.output


def test_cli_invalid_directory_exits_one_and_names_the_rule(tmp_path: Path) -> None:
    raw = _write(ERROR_CASES["date_order/events"][0](valid_tables()), tmp_path, "csv")
    result = runner.invoke(app, ["validate", str(raw)], terminal_width=200)
    assert result.exit_code == 1, result.output
    for text in ("INVALID", "events", "recorded_date", "date_order", "E8"):
        assert text in result.output


def test_cli_json_output(tmp_path: Path) -> None:
    tables = SUSPICIOUS_CASES["unknown_event_type"][0](valid_tables())
    raw = _write(ERROR_CASES["vocabulary/sex"][0](tables), tmp_path, "parquet")
    result = runner.invoke(app, ["validate", str(raw), "--json", "--examples", "2"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["source"] == str(raw)
    assert [(e["table"], e["column"], e["rule"], e["count"]) for e in data["errors"]] == [
        ("persons", "sex", "vocabulary", 1)
    ]
    assert data["errors"][0]["examples"] == ["P2: 'X'"]
    assert [s["rule"] for s in data["suspicious"]] == ["unknown_event_type"]
    assert data["tables"]["events"] == {"file": "events.parquet", "rows": 15}


def test_an_empty_memberships_table_is_refused_by_name() -> None:
    """Without memberships no family has a member: refused, whatever else it causes."""
    tables = valid_tables()
    report = validate_tables(dataclasses.replace(tables, memberships=tables.memberships.iloc[:0]))
    assert not report.ok
    first = report.errors[0]
    assert (first.table, first.column, first.rule) == ("memberships", None, "table_empty")
    assert first.description.startswith("memberships has no rows; a registry without memberships")


@pytest.mark.parametrize("table", ["events", "memberships"])
def test_cli_refuses_an_empty_table_and_names_it(table: str, tmp_path: Path) -> None:
    tables = valid_tables()
    emptied = dataclasses.replace(tables, **{table: getattr(tables, table).iloc[:0]})
    raw = _write(emptied, tmp_path / "raw", "csv")
    result = runner.invoke(app, ["validate", str(raw)], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "INVALID" in result.output and "table_empty" in result.output
    as_json = runner.invoke(app, ["validate", str(raw), "--json"])
    assert as_json.exit_code == 1
    first = json.loads(as_json.stdout)["errors"][0]
    assert (first["table"], first["rule"]) == (table, "table_empty")
    assert f"{table} has no rows; a registry without {table} cannot be" in first["description"]


def test_cli_json_valid_exits_zero(tmp_path: Path) -> None:
    raw = _write(valid_tables(), tmp_path, "csv")
    result = runner.invoke(app, ["validate", str(raw), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["ok"] is True


def test_cli_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    result = runner.invoke(app, ["validate", str(missing)])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert str(missing) in result.stderr.replace("\n", "")


def test_cli_file_instead_of_directory_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "families.csv"
    path.write_text("family_id\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "directory" in result.stderr


# --------------------------------------------------------------------------------------
# Kernels: the fast paths agree with the plain pandas computation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", ["fixed", "varying", "with_nulls"])
def test_duplicated_kernel_matches_pandas(width: str) -> None:
    from features.validation.kernels import duplicated

    rng = np.random.default_rng(11)
    numbers = rng.integers(0, 5_000, size=20_000)
    if width == "fixed":
        ids = pd.Series([f"E{n:09d}" for n in numbers], dtype="str")
    else:
        ids = pd.Series([f"E{n}" for n in numbers], dtype="str")
    if width == "with_nulls":
        ids[rng.random(len(ids)) < 0.1] = None
    involved, first = duplicated(ids)
    expected = ids.duplicated(keep=False).to_numpy() & ids.notna().to_numpy()
    np.testing.assert_array_equal(involved, expected)
    np.testing.assert_array_equal(first, expected & ~ids.duplicated(keep="first").to_numpy())


def test_hash_collisions_are_not_reported_as_duplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    from features.validation import kernels as validation_kernels

    ids = pd.Series(["A1", "B2", "C3", "A1"], dtype="str")
    hashes = validation_kernels.fixed_width_hashes(ids)
    assert hashes is not None and hashes[0] == hashes[3]
    # force every id onto one hash: only the exact comparison can tell them apart
    monkeypatch.setattr(
        validation_kernels, "fixed_width_hashes", lambda s: np.zeros(len(s), dtype=np.uint64)
    )
    involved, first = validation_kernels.duplicated(ids)
    assert involved.tolist() == [True, False, False, True]
    assert first.tolist() == [True, False, False, False]


def test_text_hashes_depend_only_on_the_value_whatever_the_slice() -> None:
    """A value hashes alike in a slice of one id width and in a slice of mixed widths (the
    streamed validator compares event-id hashes across slices)."""
    import pyarrow as pa

    from features.validation.kernels import text_hashes

    fixed = pd.Series(["E12", "E13", "E14"], dtype="str")
    mixed = pd.Series(["E1", None, "E12", "", "E140", "E12"], dtype="str")
    h_fixed, p_fixed = text_hashes(fixed)
    h_mixed, p_mixed = text_hashes(mixed)
    assert p_fixed.tolist() == [True, True, True]
    assert p_mixed.tolist() == [True, False, True, True, True, True]
    assert h_fixed[0] == h_mixed[2] == h_mixed[5]
    present = h_mixed[p_mixed]
    assert len(np.unique(present)) == 4  # E1, E12 (twice), "", E140
    # zero padding does not make a shorter value equal a longer one ending in NUL bytes
    padded, _ = text_hashes(pd.Series(["A", "A\x00"], dtype="str"))
    assert padded[0] != padded[1]
    # a sliced Arrow chunk (non-zero offset) hashes as the whole array does
    array = pa.array(["X1", "Y22", "Z333", "X1"], type=pa.large_string())
    whole, _ = text_hashes(array)
    part, _ = text_hashes(array.slice(1, 3))
    np.testing.assert_array_equal(part, whole[1:])


@pytest.mark.parametrize("width", ["fixed", "varying"])
def test_key_index_codes_equal_arrow_codes(width: str) -> None:
    """The prepared parent index finds exactly what Arrow's index_in finds."""
    import pyarrow as pa

    from features.validation.kernels import KeyIndex, codes

    rng = np.random.default_rng(3)
    form = "P{:07d}" if width == "fixed" else "P{}"
    keys = pa.array(
        [form.format(n) for n in rng.choice(50_000, 8_000, replace=False)],
        type=pa.large_string(),
    )
    child = pd.Series([form.format(n) for n in rng.integers(0, 60_000, 30_000)], dtype="str")
    child[rng.random(len(child)) < 0.05] = None
    index = KeyIndex(keys)
    expected = codes(child, keys)
    np.testing.assert_array_equal(index.codes(child), expected)
    assert (expected >= 0).any() and (expected < 0).any()


def test_key_index_never_matches_on_a_hash_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Equal hashes of different ids are told apart: in the child (exact comparison of the
    found id) and among the parent's own ids (fall back to Arrow's exact look-up)."""
    import pyarrow as pa

    from features.validation import kernels as validation_kernels

    def constant(values: object) -> tuple[np.ndarray, np.ndarray]:
        n = len(values)  # type: ignore[arg-type]
        return np.full(n, 9, dtype=np.uint64), np.ones(n, dtype=bool)

    monkeypatch.setattr(validation_kernels, "text_hashes", constant)
    child = pd.Series(["P2", "P9", "P1"], dtype="str")
    single = validation_kernels.KeyIndex(pa.array(["P1"], type=pa.large_string()))
    assert single.codes(child).tolist() == [-1, -1, 0]
    colliding = validation_kernels.KeyIndex(pa.array(["P1", "P2"], type=pa.large_string()))
    assert colliding.codes(child).tolist() == [1, -1, 0]


def test_covering_interval_matches_brute_force() -> None:
    from features.validation.kernels import covering_interval

    rng = np.random.default_rng(5)
    n_keys, n_intervals, n_events = 50, 120, 2_000
    keys = rng.integers(0, n_keys, n_intervals)
    starts = rng.integers(0, 1_000, n_intervals)
    ends = np.where(rng.random(n_intervals) < 0.3, -1, starts + rng.integers(0, 200, n_intervals))
    # keep one key's intervals disjoint, as the validator only asks after overlaps are out
    order = np.lexsort((starts, keys))
    keys, starts, ends = keys[order], starts[order], ends[order]
    next_same = np.r_[keys[1:] == keys[:-1], False]
    next_start = np.r_[starts[1:], 0]
    ends = np.where(next_same & ((ends < 0) | (ends >= next_start)), next_start - 1, ends)
    keep = (ends < 0) | (ends >= starts)
    keys, starts, ends = keys[keep], starts[keep], ends[keep]
    event_keys = rng.integers(-1, n_keys + 5, n_events)
    event_days = rng.integers(0, 1_300, n_events)
    got = covering_interval(event_keys, event_days, keys, starts, ends)
    covers = (
        (event_keys[:, None] == keys[None, :])
        & (starts[None, :] <= event_days[:, None])
        & ((ends[None, :] < 0) | (event_days[:, None] <= ends[None, :]))
    )
    np.testing.assert_array_equal(got, covers.any(axis=1))
    assert 0 < got.sum() < n_events


def test_every_rule_is_documented_in_the_rules_module() -> None:
    import features.validation.rules as rules

    doc = rules.__doc__ or ""
    missing = [rule_id for rule_id in RULES if f"``{rule_id}``" not in doc]
    assert missing == []
