"""The optional ``interventions`` table: absent is fine, present is checked by the contract's
declared rules on every engine (pandas whole-table, streamed, Spark), word for word alike."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.contract import ALL_TABLES, OPTIONAL_TABLES, TABLES
from features.spark.validation import validate_raw_dir_spark
from features.validation import validate_raw_dir
from tests.features.raw_factory import valid_tables

_COLUMNS = [
    "intervention_id",
    "family_id",
    "offered_date",
    "programme",
    "accepted",
    "caseworker_id",
    "score_id",
    "score_shown",
    "recorded_date",
]
_GOOD = [
    (
        "I1",
        "F1",
        "2023-03-01",
        "targeted_social_assistance",
        "yes",
        "CW1",
        "S1",
        "yes",
        "2023-03-02",
    ),
    ("I2", "F2", None, None, None, "CW2", "S2", "no", "2023-04-01"),
]


def _write(tmp_path: Path, rows: list[tuple[object, ...]] | None) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir(parents=True)
    for name, frame in valid_tables().items():
        text = frame.copy()
        for column in text.columns:
            if pd.api.types.is_datetime64_any_dtype(text[column].dtype):
                text[column] = text[column].dt.strftime("%Y-%m-%d")
        text.to_csv(raw / f"{name}.csv", index=False, encoding="utf-8")
    if rows is not None:
        pd.DataFrame(rows, columns=_COLUMNS).to_csv(raw / "interventions.csv", index=False)
    return raw


def test_the_table_is_optional_and_a_valid_one_passes(tmp_path: Path) -> None:
    assert OPTIONAL_TABLES == ("interventions",)
    assert "interventions" not in TABLES and "interventions" in ALL_TABLES
    without = validate_raw_dir(_write(tmp_path / "a", None))
    assert without.ok and "interventions" not in without.tables
    report = validate_raw_dir(_write(tmp_path / "b", _GOOD))
    assert report.ok, report.summary()
    assert report.tables["interventions"].rows == 2


_BAD = [
    *_GOOD,
    # unknown family, 'maybe' is no answer, recorded before offered, shown left empty
    ("I3", "F99", "2023-05-10", "x", "maybe", "CW1", "S3", None, "2023-05-01"),
    ("I1", "F1", "2023-06-01", None, "no", None, None, "perhaps", "2023-06-01"),
]
_EXPECTED = {
    ("foreign_key", "family_id"),
    ("vocabulary", "accepted"),
    ("vocabulary", "score_shown"),
    ("date_order", "recorded_date"),
    ("not_null", "score_shown"),
    ("not_null", "caseworker_id"),
    ("unique", "intervention_id"),
}


def test_each_broken_rule_of_the_table_is_reported(tmp_path: Path) -> None:
    report = validate_raw_dir(_write(tmp_path, _BAD))
    found = {(v.rule, v.column) for v in report.errors if v.table == "interventions"}
    assert found == _EXPECTED
    vocabulary = next(v for v in report.errors if (v.rule, v.column) == ("vocabulary", "accepted"))
    assert "yes, no" in vocabulary.description and vocabulary.count == 1


@pytest.mark.slow
def test_spark_reports_the_same_interventions_findings(spark, tmp_path: Path) -> None:
    raw = _write(tmp_path, _BAD)
    reference = validate_raw_dir(raw, max_examples=3).to_dict()
    got = validate_raw_dir_spark(spark, raw, max_examples=3).to_dict()
    assert got == reference
    assert {(v["rule"], v["column"]) for v in got["errors"]} == _EXPECTED
