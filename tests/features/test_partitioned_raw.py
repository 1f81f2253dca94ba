"""Features from a streamed registry (events on disk by partition) equal features in memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from raw_factory import set_cell, valid_tables

from features.engine import KEY_COLUMNS, build_feature_table, feature_partitions, raw_fingerprint
from features.partitioned_raw import PartitionedRegistry, PartitionFile, open_registry
from features.raw import RawTables, read_raw, write_raw
from features.validation import InvalidRawDataError, load_validated

AS_OF = ["2022-12-31", "2023-12-31"]


@pytest.fixture(scope="module")
def whole(small_registry_dir: Path) -> pd.DataFrame:
    return build_feature_table(load_validated(small_registry_dir), AS_OF, n_jobs=1)


@pytest.mark.parametrize(
    ("partitions", "jobs", "slice_rows"), [(1, 1, 10**6), (3, 1, 7_000), (5, 2, 20_000)]
)
def test_streamed_features_equal_the_in_memory_ones(
    small_registry_dir: Path, whole: pd.DataFrame, partitions: int, jobs: int, slice_rows: int
) -> None:
    with open_registry(small_registry_dir, n_partitions=partitions, slice_rows=slice_rows) as reg:
        assert reg.n_partitions == partitions
        streamed = build_feature_table(reg, AS_OF, n_jobs=jobs)
    pd.testing.assert_frame_equal(streamed, whole, check_exact=True)
    assert streamed.attrs == whole.attrs  # the raw fingerprint included


def test_the_streamed_fingerprint_is_the_in_memory_one(small_registry_dir: Path) -> None:
    with open_registry(small_registry_dir, slice_rows=3_333) as reg:
        assert reg.raw_sha256 == raw_fingerprint(read_raw(small_registry_dir))


def test_csv_registry_streams_like_parquet(small_registry_dir: Path, tmp_path: Path) -> None:
    csv = write_raw(read_raw(small_registry_dir), tmp_path / "csv", fmt="csv")
    with (
        open_registry(csv, n_partitions=2, slice_rows=9_000) as from_csv,
        open_registry(small_registry_dir, n_partitions=2) as from_parquet,
    ):
        assert from_csv.raw_sha256 == from_parquet.raw_sha256
        for p in from_parquet.nonempty():
            a, b = from_csv.take(p), from_parquet.take(p)
            for name, frame in a.items():
                pd.testing.assert_frame_equal(frame, getattr(b, name), check_exact=True)


def test_broken_data_is_refused_and_scratch_removed(tmp_path: Path) -> None:
    raw = write_raw(
        set_cell(valid_tables(), "events", {"event_id": "E3"}, "person_id", "P99"), tmp_path / "raw"
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(InvalidRawDataError) as caught:
        open_registry(raw, slice_rows=2, scratch_dir=scratch)
    assert caught.value.report.rules_broken() == [("events", "person_id", "foreign_key")]
    assert list(scratch.iterdir()) == []


def test_closing_removes_the_partition_files(small_registry_dir: Path, tmp_path: Path) -> None:
    reg = open_registry(small_registry_dir, n_partitions=2, scratch_dir=tmp_path)
    (held,) = list(tmp_path.iterdir())
    assert sorted(p.name for p in held.iterdir()) == [
        "events-00000.parquet",
        "events-00001.parquet",
    ]
    reg.close()
    assert list(tmp_path.iterdir()) == []


def test_a_registry_without_events_is_refused_by_both_readers(tmp_path: Path) -> None:
    """No events: every indicator would be computed from no record (issue 20, item 9)."""
    tables = valid_tables()
    tables.events = tables.events.iloc[:0]
    raw = write_raw(tables, tmp_path / "raw")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(InvalidRawDataError) as streamed:
        open_registry(raw, n_partitions=2, scratch_dir=scratch)
    with pytest.raises(InvalidRawDataError) as whole:
        load_validated(raw)
    for caught in (streamed, whole):
        assert caught.value.report.rules_broken() == [("events", None, "table_empty")]
    assert list(scratch.iterdir()) == []


# Filled in the test process only: a worker that inherited the parent's memory (a forked
# one) would find it filled too.
_PARENT_ONLY: list[bytes] = []


@dataclass(frozen=True)
class _InheritanceProbe:
    """A partition task that refuses to run in a process holding the parent's objects."""

    task: PartitionFile

    def __call__(self) -> RawTables:
        if _PARENT_ONLY:
            raise RuntimeError("the worker inherited the parent's memory")
        return self.task()


class _ProbedRegistry:
    """A registry whose tasks are probes, counting the tasks the parent made."""

    def __init__(self, registry: PartitionedRegistry) -> None:
        self.registry = registry
        self.n_partitions = registry.n_partitions
        self.small = registry.small
        self.latest_event_record = registry.latest_event_record
        self.raw_sha256 = registry.raw_sha256
        self.tasks_made = 0

    def nonempty(self) -> list[int]:
        return self.registry.nonempty()

    def take(self, p: int) -> RawTables:
        return self.registry.take(p)

    def task(self, p: int) -> _InheritanceProbe:
        self.tasks_made += 1
        return _InheritanceProbe(self.registry.task(p))


def test_workers_of_a_streamed_registry_inherit_nothing_from_the_parent(
    small_registry_dir: Path, whole: pd.DataFrame
) -> None:
    with open_registry(small_registry_dir, n_partitions=9) as reg:
        probed = _ProbedRegistry(reg)
        _PARENT_ONLY.append(b"x" * 1_000_000)
        try:
            parts = feature_partitions(probed, AS_OF, n_jobs=2)
            first = next(parts)
            # two tasks queued per worker, and one more for each partition done
            assert probed.tasks_made <= 2 * 2 + 1
            rest = list(parts)
        finally:
            _PARENT_ONLY.clear()
    assert probed.tasks_made == 9
    table = pd.concat([frame for _, frame in sorted([first, *rest], key=lambda pair: pair[0])])
    table = table.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(table, whole, check_exact=True)


def test_the_probe_fails_in_a_process_that_holds_the_parent_memory(
    small_registry_dir: Path,
) -> None:
    with open_registry(small_registry_dir, n_partitions=2) as reg:
        probe = _ProbedRegistry(reg).task(reg.nonempty()[0])
        _PARENT_ONLY.append(b"x")
        try:
            with pytest.raises(RuntimeError, match="inherited"):
                probe()
        finally:
            _PARENT_ONLY.clear()
        assert len(probe().memberships) > 0
