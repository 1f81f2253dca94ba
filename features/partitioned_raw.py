"""A validated raw directory read one family partition at a time (the engine's streamed input).

:func:`open_registry` validates the directory with the streamed validator
(:mod:`features.validation.stream`): the five small tables are read whole, events one slice
at a time. In the same pass every checked slice of events is fingerprinted and written
out by family partition (the stable hash of ``family_id`` of
:func:`features.partitions.partition_of`; person-only events go to every partition their
person was ever a member in, exactly as :func:`features.partitions.partition_plan` places
them) into one Parquet file per partition under a scratch directory. Data that breaks a
rule is refused with the report, as :func:`features.validation.load_validated` does.

:meth:`PartitionedRegistry.take` then gives partition ``p`` as :class:`RawTables`: the small
tables' rows of its families and persons, and its events file read back. So memory holds the
small tables (about 5% of a registry), one slice while validating, and one partition per
worker while computing, never all events. The feature engine's output does not depend on
the partitioning, so features from a registry equal features from the same data in memory
(a test compares them).

The scratch directory (``tempfile``'s, so ``TMPDIR`` moves it; or ``scratch_dir``) holds
about the events file's size again and is removed on :meth:`PartitionedRegistry.close`, on
an error, at exit, and when SIGTERM, SIGINT or SIGHUP stops the process, provided the
caller installed the handler (the CLI does: :mod:`features.cli_signals`; the directory is
registered in :mod:`features.scratch_signals`).
"""

from __future__ import annotations

import math
import shutil
import tempfile
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.contract import TABLE_COLUMNS, TABLES
from features.corrections import read_corrections
from features.memory import release_free_memory
from features.partitions import (
    DEFAULT_FAMILIES_PER_PARTITION,
    PartitionAssigner,
    PartitionPlan,
    partition_plan,
)
from features.raw import RawTables, coerce_table
from features.scratch_signals import forget, remove_on_signal
from features.snapshot_store import RawHasher
from features.validation import InvalidRawDataError
from features.validation.corrections import add_correction_findings
from features.validation.report import ValidationReport
from features.validation.rules import ParsedTable
from features.validation.stream import DEFAULT_SLICE_ROWS, validate_streamed_tables

EVENTS = "events"
# The engine never reads the source system; the partition files leave it out.
_DROPPED = ("source",)


class PartitionedRegistry:
    """A validated registry: the small tables in memory, events on disk by partition."""

    def __init__(
        self,
        *,
        small: RawTables,
        plan: PartitionPlan,
        buckets: Path,
        n_partitions: int,
        raw_sha256: str,
        latest_event_record: pd.Timestamp | None,
        report: ValidationReport,
        scratch: Path,
    ) -> None:
        self.small = small
        # the registry's corrections (features.corrections), set by open_registry
        self.corrections: pd.DataFrame | None = None
        self.plan = plan
        self.buckets = buckets
        self.n_partitions = n_partitions
        self.raw_sha256 = raw_sha256
        self.latest_event_record = latest_event_record
        self.report = report
        self._scratch: Path | None = scratch
        # removed even when a caller never closes it (an error path), at exit at the latest
        self._cleanup = weakref.finalize(self, _remove_scratch, scratch)

    @property
    def n_families(self) -> int:
        return int(self.small.families["family_id"].nunique())

    def nonempty(self) -> list[int]:
        """Partitions holding at least one membership (others produce no rows)."""
        return self.plan.nonempty()

    def take(self, p: int) -> RawTables:
        """Partition ``p``: its rows of the small tables and its events file."""
        return self.task(p)()

    def task(self, p: int) -> PartitionFile:
        """Partition ``p`` as a value a spawned worker loads by itself: its rows of the
        small tables (about 1/n of them) and the path of its events file."""
        return PartitionFile(
            small=self.plan.take(self.small, p), events=bucket_path(self.buckets, p)
        )

    def close(self) -> None:
        """Remove the scratch directory (idempotent)."""
        if self._scratch is not None:
            self._cleanup()
            self._scratch = None

    def __enter__(self) -> PartitionedRegistry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class PartitionFile:
    """One partition of a :class:`PartitionedRegistry`, picklable: its rows of the small
    tables and its events file (read when called; a partition without events has none)."""

    small: RawTables
    events: Path

    def __call__(self) -> RawTables:
        tables = replace(self.small)
        if self.events.exists():
            tables.events = pq.read_table(self.events).to_pandas()
        return tables


def _remove_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    forget(scratch)


def bucket_path(buckets: Path, p: int) -> Path:
    return buckets / f"events-{p:05d}.parquet"


def default_partition_count(
    n_families: int, *, jobs: int = 1, families_per_partition: int = DEFAULT_FAMILIES_PER_PARTITION
) -> int:
    """One partition per 25,000 families, at least one per job (as the in-memory driver)."""
    return max(jobs, math.ceil(n_families / families_per_partition), 1)


class _Bucketer:
    """Receives checked slices of events: fingerprints them, writes them by partition."""

    def __init__(
        self, buckets: Path, n_partitions: int | None, jobs: int, families_per_partition: int
    ) -> None:
        self.buckets = buckets
        self.requested = n_partitions
        self.jobs = jobs
        self.families_per_partition = families_per_partition
        self.n_partitions: int | None = None
        self.hasher = RawHasher()
        self.latest: pd.Timestamp | None = None
        self.empty_events: pd.DataFrame | None = None
        self.usable = True
        self._assigner: PartitionAssigner | None = None
        self._writers: dict[int, pq.ParquetWriter] = {}
        self._schema: pa.Schema | None = None

    def __call__(self, events: pd.DataFrame, small: dict[str, ParsedTable]) -> None:
        if not self.usable:
            return
        if self._assigner is None:
            if not _complete(small, events):  # the report will refuse the data
                self.usable = False
                return
            self.empty_events = events.iloc[:0]
            tables = RawTables(
                **{name: small[name].frame for name in TABLES if name != EVENTS},
                events=self.empty_events,
            )
            self.n_partitions = self.requested or default_partition_count(
                int(tables.families["family_id"].nunique()),
                jobs=self.jobs,
                families_per_partition=self.families_per_partition,
            )
            self._assigner = PartitionAssigner(tables, self.n_partitions)
        self.hasher.update(EVENTS, events)
        latest = events["recorded_date"].max()
        if not pd.isna(latest) and (self.latest is None or latest > self.latest):
            self.latest = latest
        self._write(events)

    def _write(self, events: pd.DataFrame) -> None:
        assert self._assigner is not None and self.n_partitions is not None
        rows, parts = self._assigner.event_parts(events)
        order = np.lexsort((rows, parts))
        rows, parts = rows[order], parts[order]
        bounds = np.searchsorted(parts, np.arange(self.n_partitions + 1))
        table = pa.Table.from_pandas(
            events.drop(columns=list(_DROPPED)).reset_index(drop=True), preserve_index=False
        )
        if self._schema is None:
            self._schema = table.schema
        table = table.cast(self._schema)
        for p in range(self.n_partitions):
            if bounds[p + 1] > bounds[p]:
                if p not in self._writers:
                    path = bucket_path(self.buckets, p)
                    self._writers[p] = pq.ParquetWriter(path, self._schema)
                self._writers[p].write_table(table.take(rows[bounds[p] : bounds[p + 1]]))

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
        self._assigner = None  # its id look-up tables are not needed after the pass


def _complete(small: dict[str, ParsedTable], events: pd.DataFrame) -> bool:
    """Every table and contract column is there (otherwise validation has failed)."""
    frames = {**{name: table.frame for name, table in small.items()}, EVENTS: events}
    return all(
        name in frames and all(c.name in frames[name].columns for c in TABLE_COLUMNS[name])
        for name in TABLES
    )


def open_registry(
    raw_dir: Path | str,
    *,
    n_partitions: int | None = None,
    jobs: int = 1,
    families_per_partition: int = DEFAULT_FAMILIES_PER_PARTITION,
    slice_rows: int = DEFAULT_SLICE_ROWS,
    scratch_dir: Path | str | None = None,
    progress: bool = False,
) -> PartitionedRegistry:
    """Validate ``raw_dir`` and lay its events out by partition (see the module docstring).

    ``n_partitions`` defaults to one per ``families_per_partition`` families (25,000), at
    least one per job. Raises
    :class:`InvalidRawDataError` (with the report) when a contract rule is broken,
    NotADirectoryError when ``raw_dir`` is not a directory. Close the result (or use it as
    a context manager) to remove its scratch files.
    """
    if n_partitions is not None and n_partitions < 1:
        raise ValueError(f"n_partitions must be >= 1, got {n_partitions}")
    # imported here: pandera (behind the schemas) is slow to import; see load_validated
    from features.schemas import validate_schemas

    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise NotADirectoryError(
            f"raw data directory {raw_dir} does not exist or is not a directory"
        )
    scratch = Path(tempfile.mkdtemp(prefix="earlyrisk-partitions-", dir=scratch_dir))
    remove_on_signal(scratch)
    bucketer = _Bucketer(scratch, n_partitions, jobs, families_per_partition)
    try:
        try:
            report, parsed = validate_streamed_tables(
                raw_dir, progress=progress, slice_rows=slice_rows, on_slice=bucketer
            )
        finally:
            bucketer.close()
        report = add_correction_findings(report, raw_dir)  # the optional corrections table
        if not report.ok:
            raise InvalidRawDataError(report)
        empty_events = bucketer.empty_events
        if empty_events is None:  # no event at all
            columns = [c.name for c in TABLE_COLUMNS[EVENTS]]
            empty_events = coerce_table(EVENTS, pd.DataFrame({c: [] for c in columns}))
        small = RawTables(
            **{name: parsed[name].frame for name in TABLES if name != EVENTS},
            events=empty_events,
        )
        validate_schemas(small, values=False)
        count = bucketer.n_partitions or n_partitions
        count = count or default_partition_count(
            int(small.families["family_id"].nunique()),
            jobs=jobs,
            families_per_partition=families_per_partition,
        )
        for name, frame in small.items():
            if name != EVENTS:
                bucketer.hasher.update(name, frame)
        plan = partition_plan(small, count)
        del parsed
        release_free_memory()  # the validation's freed pages, before the feature workers run
        registry = PartitionedRegistry(
            small=small,
            plan=plan,
            buckets=scratch,
            n_partitions=count,
            raw_sha256=bucketer.hasher.hexdigest(),
            latest_event_record=bucketer.latest,
            report=report,
            scratch=scratch,
        )
        # validated above; every partition applies them, each from its decided date
        registry.corrections = read_corrections(raw_dir)
        return registry
    except BaseException:
        _remove_scratch(scratch)
        raise
