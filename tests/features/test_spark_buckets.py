"""The Spark layout: units planned from metadata, rows typed as the engine types them, and
every partition holding exactly the rows, in the order, that the pandas engine's plan gives.

The reference is :func:`features.partitions.partition_plan` on the same registry in
memory: a partition read back from the layout must equal ``plan.take(raw, p)``, for every
table and partition, with units smaller than the tables (several row groups, several files
per table) so that rows from many tasks meet in one partition.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from raw_factory import write_lake

from features.contract import TABLES
from features.partitions import partition_plan
from features.raw import read_raw
from features.spark.buckets import (
    PART,
    ROW,
    assigner_for,
    forget_assigner,
    plan_registry_units,
    plan_units,
    read_partition,
    read_unit,
    registry_assigner,
    write_layout,
    write_unit,
)
from features.validation import load_validated

N_PARTITIONS = 3


def _assert_partitions_equal_the_plan(raw_dir: Path, scratch: Path, n: int) -> None:
    raw = load_validated(raw_dir)
    plan = partition_plan(raw, n)
    for p in range(n):
        expected = plan.take(raw, p)
        got = read_partition(scratch, p)
        for name in TABLES:
            want = getattr(expected, name)
            have = getattr(got, name)
            if name == "events":  # the source system is not laid out (the engine never reads it)
                want = want.assign(source=pd.Series([None] * len(want), dtype="str"))
            assert len(have) == len(want), (name, p)
            pd.testing.assert_frame_equal(
                have.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
            )


@pytest.fixture
def split_registry(small_registry_dir: Path, tmp_path: Path) -> Path:
    """The small registry with events as two part files of many row groups, persons as CSV."""
    raw = write_lake(small_registry_dir, tmp_path / "lake", row_group_sizes=(3_000, 5_000))
    # a hidden file is not data (Spark's rule), even when it holds rows
    events = pq.read_table(small_registry_dir / "events.parquet")
    pq.write_table(events.slice(0, 10), raw / "events" / "_ignored.parquet")
    return raw


def test_units_group_row_groups_in_stored_order(split_registry: Path) -> None:
    units = plan_units(split_registry, "events", rows_per_unit=10_000)
    paths = [Path(u.path).name for u in units]
    assert "_ignored.parquet" not in paths
    assert paths == sorted(paths)  # part-0 before part-1
    total = sum(pq.ParquetFile(split_registry / "events" / n).metadata.num_rows for n in set(paths))
    assert sum(u.rows or 0 for u in units) == total
    # units are consecutive in stored order, each at least rows_per_unit but a file's last
    starts = [u.first_row for u in units]
    assert starts == sorted(starts) and starts[0] == 0
    for unit, following in itertools.pairwise(units):
        assert following.first_row == unit.first_row + (unit.rows or 0)
        if following.path == unit.path:
            assert (unit.rows or 0) >= 10_000
    with pytest.raises(ValueError, match="rows_per_unit must be >= 1, got 0"):
        plan_units(split_registry, "events", rows_per_unit=0)
    # the CSV table is one unit; the whole registry's units come largest first
    assert [u.fmt for u in plan_units(split_registry, "persons")] == ["csv"]
    sizes = [u.rows or 10_000 for u in plan_registry_units(split_registry, rows_per_unit=10_000)]
    assert sizes == sorted(sizes, reverse=True)


def test_a_unit_is_typed_as_the_engine_types_the_table(
    small_registry_dir: Path, split_registry: Path
) -> None:
    reference = read_raw(small_registry_dir)
    persons = read_unit(plan_units(split_registry, "persons")[0])  # from CSV text
    assert persons.column(ROW).to_pylist() == list(range(len(reference.persons)))
    got = persons.drop_columns([ROW]).to_pandas()
    got["birth_date"] = pd.to_datetime(got["birth_date"])
    pd.testing.assert_frame_equal(got, reference.persons.reset_index(drop=True), check_dtype=False)


def test_text_dates_timestamps_blanks_and_hive_keys_are_typed(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    table = raw / "protected" / "attribute=ethnicity"
    table.mkdir(parents=True)
    pq.write_table(
        pa.table({"family_id": ["F1", " ", "F\u00a0", "\u00a0"], "value": ["a", "b", "", "d"]}),
        table / "part-0.parquet",
    )
    (unit,) = plan_units(raw, "protected")
    rows = read_unit(unit)
    assert rows.column("attribute").to_pylist() == ["ethnicity"] * 4  # from the directory
    # blank text (ASCII or Unicode space) is null; text with a space in it is kept
    assert rows.column("family_id").to_pylist() == ["F1", None, "F\u00a0", None]
    assert rows.column("value").to_pylist() == ["a", "b", None, "d"]

    events = raw / "outcomes.parquet"
    stamps = pa.array([pd.Timestamp("2023-05-06 17:30"), None], pa.timestamp("us"))
    pq.write_table(
        pa.table(
            {
                "family_id": ["F1", "F2"],
                "person_id": [None, "P1"],
                "outcome_type": ["eviction", "eviction"],
                "outcome_date": [" 2023-05-04", "2023-05-05"],
                "recorded_date": stamps,
            }
        ),
        events,
    )
    (unit,) = plan_units(raw, "outcomes")
    rows = read_unit(unit)
    assert rows.column("outcome_date").to_pylist() == [
        pd.Timestamp("2023-05-04").date(),
        pd.Timestamp("2023-05-05").date(),
    ]
    assert rows.column("recorded_date").to_pylist() == [pd.Timestamp("2023-05-06").date(), None]


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    pq.write_table(pa.table({"family_id": ["F1"], "attribute": ["x"]}), raw / "protected.parquet")
    (unit,) = plan_units(raw, "protected")
    with pytest.raises(KeyError, match="lacks column 'value'"):
        read_unit(unit)


def test_every_partition_equals_the_pandas_plan(
    small_registry_dir: Path, split_registry: Path, tmp_path: Path
) -> None:
    """Units laid out one by one, in this process (no Spark), against the in-memory plan."""
    scratch = tmp_path / "scratch"
    assigner = registry_assigner(split_registry, N_PARTITIONS)
    units = plan_registry_units(split_registry, rows_per_unit=4_000)
    assert len([u for u in units if u.table == "events"]) > 4  # many units meet per partition
    written = 0
    for unit_id in np.random.default_rng(5).permutation(len(units)):  # any order of tasks
        written += sum(write_unit(units[unit_id], int(unit_id), scratch, assigner).values())
    raw = load_validated(small_registry_dir)
    plan = partition_plan(raw, N_PARTITIONS)
    assert written == sum(len(rows) for table in plan.rows.values() for rows in table)
    _assert_partitions_equal_the_plan(small_registry_dir, scratch, N_PARTITIONS)


def test_a_retried_unit_replaces_its_files_and_failed_attempts_stay_hidden(
    small_registry_dir: Path, split_registry: Path, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    assigner = registry_assigner(split_registry, N_PARTITIONS)
    units = plan_registry_units(split_registry)
    for unit_id, unit in enumerate(units):
        write_unit(unit, unit_id, scratch, assigner, attempt=0)
    write_unit(units[0], 0, scratch, assigner, attempt=1)  # a retry of the same unit
    # what a killed attempt leaves behind: a hidden, half-written file
    folder = scratch / units[0].table / f"{PART}=0"
    (folder / ".unit-000000-2-99.tmp").write_bytes(b"PAR1 half a file")
    _assert_partitions_equal_the_plan(small_registry_dir, scratch, N_PARTITIONS)


def test_the_worker_builds_one_assigner_per_layout(split_registry: Path) -> None:
    first = assigner_for("layout-a", str(split_registry), N_PARTITIONS)
    assert assigner_for("layout-a", str(split_registry), N_PARTITIONS) is first
    second = assigner_for("layout-b", str(split_registry), N_PARTITIONS)
    assert second is not first
    forget_assigner()
    assert assigner_for("layout-b", str(split_registry), N_PARTITIONS) is not second
    forget_assigner()


@pytest.mark.slow
def test_the_spark_layout_equals_the_pandas_plan(
    spark, small_registry_dir: Path, split_registry: Path, tmp_path: Path
) -> None:
    scratch = write_layout(
        spark, split_registry, N_PARTITIONS, tmp_path / "scratch", rows_per_unit=4_000
    )
    _assert_partitions_equal_the_plan(small_registry_dir, scratch, N_PARTITIONS)
    with pytest.raises(ValueError, match="n_partitions must be >= 1, got 0"):
        write_layout(spark, split_registry, 0, tmp_path / "other")


def test_a_unit_with_no_placed_row_writes_nothing(split_registry: Path, tmp_path: Path) -> None:
    """Persons who were never members go to no partition: the unit writes no file."""
    assigner = registry_assigner(split_registry, N_PARTITIONS)
    raw = tmp_path / "strangers"
    raw.mkdir()
    pd.DataFrame(
        {"person_id": ["X1", "X2"], "birth_date": ["2001-01-01", "2002-02-02"], "sex": ["F", "M"]}
    ).to_csv(raw / "persons.csv", index=False)
    (unit,) = plan_units(raw, "persons")
    assert write_unit(unit, 0, tmp_path / "scratch", assigner) == {}
    assert not (tmp_path / "scratch").exists()
