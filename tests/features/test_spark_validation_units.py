"""Spark validation with the events spread over many tasks: still the pandas report.

The Spark validator runs the pandas validator's checks on units of events, one Python
task each (features/spark/event_checks.py), and decides the one registry-wide rule of the
events, unique ``event_id``, by a shuffle of id hashes. These tests cut the planted
registry's events into units of 4 rows, so every rule's count, first examples (with their
row numbers) and the unknown types' listing are merged across tasks, and a duplicated id
sits in two different units; and they read the events from a directory of CSV part files,
which the pandas validator cannot read, against the same rows in one file.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from raw_factory import duplicate_row
from test_spark_engine import _planted, _write_csv

from features.raw import RawTables
from features.spark.buckets import plan_units
from features.spark.validation import validate_raw_dir_spark
from features.validation import validate_raw_dir

pytestmark = [pytest.mark.slow]

ROWS = 4  # events per unit and per Parquet row group


def _planted_twice_e5() -> RawTables:
    """The planted registry plus a second E5 at the end of events (another unit)."""
    return duplicate_row(_planted(), "events", {"event_id": "E5"})


def _events_to_parquet(raw: Path) -> None:
    """events.csv as Parquet of text columns, in row groups of :data:`ROWS` rows."""
    columns = pcsv.read_csv(raw / "events.csv").column_names
    text = pcsv.read_csv(
        raw / "events.csv",
        convert_options=pcsv.ConvertOptions(
            column_types={c: pa.string() for c in columns}, strings_can_be_null=True
        ),
    )
    pq.write_table(text, raw / "events.parquet", row_group_size=ROWS)
    (raw / "events.csv").unlink()


def test_events_in_many_units_give_the_pandas_report(spark, tmp_path: Path) -> None:
    raw = _write_csv(_planted_twice_e5(), tmp_path / "units")
    _events_to_parquet(raw)
    assert len(plan_units(raw, "events", rows_per_unit=ROWS)) >= 4  # not one task
    reference = validate_raw_dir(raw, max_examples=3).to_dict()
    got = validate_raw_dir_spark(spark, raw, max_examples=3, rows_per_unit=ROWS).to_dict()
    assert got == reference
    duplicated = [v for v in got["errors"] if (v["table"], v["rule"]) == ("events", "unique")]
    assert [(v["count"], v["examples"]) for v in duplicated] == [(2, ["E5"])]
    # a finding with examples from more than one unit, in row order
    date_type = [v for v in got["errors"] if v["rule"] == "date_type"]
    assert date_type and date_type[0]["examples"]


def test_a_directory_of_csv_parts_reads_as_the_one_file(spark, tmp_path: Path) -> None:
    one = _write_csv(_planted_twice_e5(), tmp_path / "one")
    lake = _write_csv(_planted_twice_e5(), tmp_path / "lake")
    lines = (lake / "events.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    (lake / "events.csv").unlink()
    (lake / "events").mkdir()
    half = len(rows) // 2
    (lake / "events" / "part-0.csv").write_text(header + "".join(rows[:half]), encoding="utf-8")
    (lake / "events" / "part-1.csv").write_text(header + "".join(rows[half:]), encoding="utf-8")
    reference = validate_raw_dir(one, max_examples=3).to_dict()
    got = validate_raw_dir_spark(spark, lake, max_examples=3).to_dict()
    assert got["tables"]["events"] == {"file": "events", "rows": len(rows)}
    got["tables"]["events"]["file"] = "events.csv"
    got["source"] = reference["source"]
    assert got == reference


def test_an_events_file_a_task_cannot_read_is_unreadable_as_in_pandas(
    spark, tmp_path: Path
) -> None:
    """A row with a field too many: the events' findings give way to one
    ``file_unreadable``, as the pandas validator reports it."""
    raw = _write_csv(_planted_twice_e5(), tmp_path / "broken")
    with (raw / "events.csv").open("a", encoding="utf-8") as handle:
        handle.write("E99,F1,P1,school_absence,2021-01-01,2021-01-02,1.0,,extra,field\n")
    reference = validate_raw_dir(raw, max_examples=3).to_dict()
    got = validate_raw_dir_spark(spark, raw, max_examples=3).to_dict()
    unreadable = [v for v in got["errors"] if v["table"] == "events"]
    assert [v["rule"] for v in unreadable] == ["file_unreadable"]
    assert got["tables"]["events"] == {"file": "events.csv", "rows": None}
    for report in (got, reference):  # the two readers word Arrow's error alike up to ':'
        for violation in report["errors"]:
            violation["description"] = violation["description"].split(":")[0]
    assert got == reference
