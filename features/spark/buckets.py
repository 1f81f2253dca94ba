"""A registry laid out by family partition by Python tasks on Spark, read back per task.

:func:`features.compute.compute_partition` needs the six tables of one family partition
in one Python call. Two earlier layouts let the JVM carry the rows: a
``groupBy(partition).applyInArrow`` over the stacked tables (18x the pandas engine at 100k
families), then Spark scanning, typing, joining and converting every row to Arrow for a
``mapInArrow`` writer (3.6x; 169 CPU-seconds of layout at 100k against about 40 for the
features themselves). The rows need none of that: each is read once and written once.

So Spark here schedules Python tasks and the rows never enter the JVM:

1. the driver plans *units* from the raw files' metadata only (:func:`plan_units`): a
   group of Parquet row groups of about :data:`ROWS_PER_UNIT` rows, or one CSV file;
2. one Spark task per unit (``spark.range(units).mapInArrow``) reads its unit with pyarrow
   (:func:`read_unit`: the contract's columns in the in-memory types, dates as dates,
   blank text null, as :func:`features.spark.raw.typed_table` types them), places every
   row with the pandas engine's own :class:`features.partitions.PartitionAssigner` and
   writes ``<scratch>/<table>/_part=<p>/unit-<u>.parquet``;
3. the feature tasks read their partition's files back (:func:`read_partition`).

Placement is therefore the pandas engine's, by construction: a partition holds its
families (the stable hash of ``family_id`` of :func:`features.partitions.partition_of`)
with their memberships, outcomes and protected rows; every person who was ever a member of
one of them; family events by family_id and person-only events once for every partition
their person was ever a member in. The assigner needs the families, persons and memberships
(about 5% of a registry); each Python worker reads them once per layout and keeps them
while it runs that layout's tasks (:func:`assigner_for`). A ``_row`` number (the table's
stored order: the file order, then the row order) travels with every row, so a partition
sees its rows in the same order as the pandas engine does.

The scratch directory must be readable and writable by every executor: a local path in
``local`` mode or on a shared mount, or any URI pyarrow opens (``file://``, ``s3a://``,
``hdfs://``, ...: :mod:`features.spark.scratch`), so an object store serves a cluster. The
raw directory must be readable by every executor too; the caller removes the scratch after
the job. A failed task attempt leaves only hidden files, which readers skip, and its retry
replaces the same names.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.contract import TABLE_COLUMNS, TABLES
from features.partitions import PartitionAssigner
from features.raw import RawTables
from features.spark.raw import Format, locate_table
from features.spark.scratch import (
    Scratch,
    make_private,
    read_parquet_dir,
    scratch_at,
    write_parquet,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PART = "_part"
ROW = "_row"
# The engine never reads events.source (as features.partitions): it is not laid out.
DROPPED = {("events", "source")}
# Rows per unit of work when Parquet row groups are grouped: large enough that a task's
# fixed costs (a Python worker's turn, the assigner look-ups' set-up, one file per
# partition) stay small, small enough that the 2 cores of a laptop share the events.
ROWS_PER_UNIT = 1_000_000
# A CSV unit is a whole file, its row count unknown until it is read: its rows are
# numbered from file_index << CSV_ROW_BITS, which keeps the stored order across files.
CSV_ROW_BITS = 40
# Blank text is null, as the Spark validator and features.spark.raw.BLANK_PATTERN say:
# Java's \s (ASCII, with \x0B) and Unicode separators. RE2 syntax.
BLANK_PATTERN = r"^[\t\n\x0B\f\r \p{Z}]*$"
# The tables whose rows the assigner needs whole (see the module docstring).
ASSIGNER_TABLES = ("families", "persons", "memberships")


@dataclass(frozen=True)
class RawUnit:
    """One task's share of a raw table: a Parquet file's row groups, or a CSV file."""

    table: str
    path: str
    fmt: Format
    row_groups: tuple[int, ...] | None  # None: the whole file
    first_row: int  # the stored-order number of the unit's first row
    partition_values: tuple[tuple[str, str], ...] = ()  # Hive-style key=value directories
    rows: int | None = None  # known for Parquet (metadata), not for CSV


def laid_out_columns(table: str) -> list[str]:
    """The contract columns of ``table`` that the layout keeps, in contract order."""
    return [c.name for c in TABLE_COLUMNS[table] if (table, c.name) not in DROPPED]


def _arrow_kind(kind: str) -> pa.DataType:
    return {
        "id": pa.string(),
        "string": pa.string(),
        "date": pa.date32(),
        "float": pa.float64(),
    }[kind]


def layout_schema(table: str) -> pa.Schema:
    """The Arrow schema of a laid-out table's files: the kept contract columns, ``_row``."""
    kind = {c.name: c.kind for c in TABLE_COLUMNS[table]}
    return pa.schema(
        [(name, _arrow_kind(kind[name])) for name in laid_out_columns(table)] + [(ROW, pa.int64())]
    )


# -- planning (driver: file listings and Parquet footers only) ---------------------------


def _hidden(relative: Path) -> bool:
    """Spark's rule: files and directories whose name starts with ``_`` or ``.`` are not data."""
    return any(part.startswith(("_", ".")) for part in relative.parts)


def stored_files(location_path: Path, fmt: Format) -> list[Path]:
    """The data files of a table, in the stored order (sorted paths)."""
    if not location_path.is_dir():
        return [location_path]
    return sorted(
        path
        for path in location_path.rglob(f"*.{fmt}")
        if path.is_file() and not _hidden(path.relative_to(location_path))
    )


def partition_values(location_path: Path, path: Path) -> tuple[tuple[str, str], ...]:
    """The ``key=value`` directories between the table's directory and a part file."""
    if not location_path.is_dir():
        return ()
    pairs = []
    for part in path.relative_to(location_path).parts[:-1]:
        key, sep, value = part.partition("=")
        if sep:
            pairs.append((key, urllib.parse.unquote(value)))
    return tuple(pairs)


def plan_units(
    raw_dir: Path | str, table: str, *, rows_per_unit: int = ROWS_PER_UNIT
) -> list[RawUnit]:
    """The units of ``table`` (see the module docstring), in stored order."""
    if rows_per_unit < 1:
        raise ValueError(f"rows_per_unit must be >= 1, got {rows_per_unit}")
    location = locate_table(raw_dir, table)
    units: list[RawUnit] = []
    next_row = 0
    for index, path in enumerate(stored_files(location.path, location.fmt)):
        keys = partition_values(location.path, path)
        if location.fmt == "csv":
            units.append(RawUnit(table, str(path), "csv", None, index << CSV_ROW_BITS, keys))
            continue
        metadata = pq.ParquetFile(path).metadata
        group: list[int] = []
        group_rows = 0
        for rg in range(metadata.num_row_groups):
            group.append(rg)
            group_rows += metadata.row_group(rg).num_rows
            if group_rows >= rows_per_unit or rg == metadata.num_row_groups - 1:
                units.append(
                    RawUnit(table, str(path), "parquet", tuple(group), next_row, keys, group_rows)
                )
                next_row += group_rows
                group, group_rows = [], 0
    return units


def plan_registry_units(
    raw_dir: Path | str, *, rows_per_unit: int = ROWS_PER_UNIT
) -> list[RawUnit]:
    """Every table's units, largest first (so the events' long tasks start first and the
    small tables fill the gaps at the end)."""
    units = [u for table in TABLES for u in plan_units(raw_dir, table, rows_per_unit=rows_per_unit)]
    return sorted(units, key=lambda u: -(u.rows if u.rows is not None else rows_per_unit))


# -- reading one unit (tasks) ---------------------------------------------------------------


def typed_column(kind: str, values: pa.ChunkedArray) -> pa.ChunkedArray:
    """One stored column in its in-memory type (valid data: a bad cell becomes null, as
    :func:`features.spark.raw.typed_table` does; validation refused those beforehand)."""
    kind_type = values.type
    if kind == "date":
        if pa.types.is_string(kind_type) or pa.types.is_large_string(kind_type):
            trimmed = pc.utf8_trim_whitespace(values)
            parsed = pc.strptime(trimmed, format="%Y-%m-%d", unit="s", error_is_null=True)
            return pc.cast(parsed, pa.date32())
        if pa.types.is_timestamp(kind_type):
            return pc.cast(pc.floor_temporal(values, unit="day"), pa.date32())
        return pc.cast(values, pa.date32())
    if kind == "float":
        return pc.cast(values, pa.float64())
    if pa.types.is_dictionary(kind_type):
        values = pc.cast(values, kind_type.value_type)
    text = pc.cast(values, pa.string())
    blank = pc.match_substring_regex(text, BLANK_PATTERN)
    return pc.if_else(blank, pa.scalar(None, pa.string()), text)


def read_stored_columns(unit: RawUnit, wanted: Sequence[str]) -> pa.Table:
    """The ``wanted`` columns the unit's file stores, as stored (no typing, no Hive keys)."""
    if unit.fmt == "parquet":
        file = pq.ParquetFile(unit.path)
        present = [name for name in wanted if name in file.schema_arrow.names]
        groups = list(unit.row_groups) if unit.row_groups is not None else None
        if groups is None:
            return file.read(columns=present)
        return file.read_row_groups(groups, columns=present)
    header = pacsv.open_csv(unit.path).schema.names  # reads the first block only
    present = [name for name in wanted if name in header]
    return pacsv.read_csv(
        unit.path,
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in present},
            include_columns=present,
            strings_can_be_null=False,
        ),
    )


def read_unit(unit: RawUnit) -> pa.Table:
    """The unit's rows: the kept contract columns in layout types (:func:`layout_schema`),
    and ``_row``. A column neither stored nor given by a ``key=value`` directory raises
    KeyError naming it (validation refuses such data first)."""
    wanted = laid_out_columns(unit.table)
    stored = read_stored_columns(unit, wanted)
    keys = dict(unit.partition_values)
    kinds = {c.name: c.kind for c in TABLE_COLUMNS[unit.table]}
    columns = {}
    for name in wanted:
        if name in stored.column_names:
            values = stored.column(name)
        elif name in keys:
            values = pa.chunked_array([pa.array([keys[name]] * stored.num_rows, pa.string())])
        else:
            raise KeyError(f"{unit.path}: table {unit.table!r} lacks column {name!r}")
        columns[name] = typed_column(kinds[name], values)
    columns[ROW] = pa.chunked_array(
        [pa.array(np.arange(unit.first_row, unit.first_row + stored.num_rows, dtype=np.int64))]
    )
    return pa.table(columns, schema=layout_schema(unit.table))


# -- the assigner each Python worker keeps for one layout ----------------------------------

_ASSIGNER_LOCK = threading.Lock()
_ASSIGNER: tuple[str, PartitionAssigner] | None = None


def read_whole_table(raw_dir: Path | str, table: str) -> pd.DataFrame:
    """A whole raw table, typed as the layout types it, as the engine's pandas frame."""
    parts = [read_unit(unit) for unit in plan_units(raw_dir, table)]
    merged = pa.concat_tables(parts) if parts else layout_schema(table).empty_table()
    return in_memory_types(table, merged)


def registry_assigner(raw_dir: Path | str, n_partitions: int) -> PartitionAssigner:
    """The pandas engine's assigner for ``raw_dir`` (families, persons, memberships read)."""
    frames = {name: read_whole_table(raw_dir, name) for name in ASSIGNER_TABLES}
    empty = {
        name: in_memory_types(name, layout_schema(name).empty_table())
        for name in TABLES
        if name not in ASSIGNER_TABLES
    }
    return PartitionAssigner(RawTables(**frames, **empty), n_partitions)


def assigner_for(layout_key: str, raw_dir: str, n_partitions: int) -> PartitionAssigner:
    """The assigner of the layout ``layout_key``, built once per Python worker process
    (Spark reuses a worker for the tasks that follow; a new layout replaces it)."""
    global _ASSIGNER
    with _ASSIGNER_LOCK:
        if _ASSIGNER is None or _ASSIGNER[0] != layout_key:
            _ASSIGNER = None  # free the previous layout's before building the next
            _ASSIGNER = (layout_key, registry_assigner(raw_dir, n_partitions))
        return _ASSIGNER[1]


def forget_assigner() -> None:
    """Drop the worker's assigner (the feature tasks need the memory, not the look-ups)."""
    global _ASSIGNER
    with _ASSIGNER_LOCK:
        _ASSIGNER = None


# -- placing and writing one unit (tasks) --------------------------------------------------


def place_rows(
    table_name: str, rows: pa.Table, assigner: PartitionAssigner
) -> tuple[np.ndarray, np.ndarray]:
    """(row, partition) pairs of a unit of ``table_name``, as the pandas engine's
    :func:`features.partitions.partition_plan` places them (a row may go to several
    partitions, or to none: a person never a member, an id no family has)."""
    if table_name == "events":
        ids = rows.select(["family_id", "person_id"]).to_pandas()
        return assigner.event_parts(ids)
    if table_name == "persons":
        return assigner.person_rows(rows.column("person_id").to_pandas())
    parts = assigner.part_of(rows.column("family_id").to_pandas())
    known = np.flatnonzero(parts >= 0)
    return known, parts[known]


def write_unit(
    unit: RawUnit,
    unit_id: int,
    scratch: Scratch | Path | str,
    assigner: PartitionAssigner,
    attempt: int = 0,
) -> dict[int, int]:
    """Lay out one unit: ``scratch/<table>/_part=<p>/unit-<unit_id>.parquet`` for every
    partition ``p`` it has rows of; returns the rows written per partition.

    Each file is written under a hidden name and renamed when complete, so a failed attempt
    leaves nothing a reader sees and a retry replaces the same names.
    """
    rows = read_unit(unit)
    row_ids, parts = place_rows(unit.table, rows, assigner)
    order = np.lexsort((row_ids, parts))
    row_ids, parts = row_ids[order], parts[order]
    written: dict[int, int] = {}
    if not len(parts):  # no row of the unit belongs to any partition
        return written
    starts = np.flatnonzero(np.r_[True, parts[1:] != parts[:-1]])
    stops = np.r_[starts[1:], len(parts)]
    scratch = scratch_at(scratch)
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        p = int(parts[start])
        write_parquet(
            scratch,
            (unit.table, f"{PART}={p}"),
            f"unit-{unit_id:06d}.parquet",
            rows.take(pa.array(row_ids[start:stop])),
            attempt=attempt,
        )
        written[p] = int(stop - start)
    return written


def layout_task(
    units: Sequence[RawUnit], raw_dir: str, n_partitions: int, scratch: str
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function that lays out the units whose ids it receives and
    returns ``(unit, rows)`` (rows written, all partitions) per unit."""
    summary = pa.schema([("unit", pa.int32()), ("rows", pa.int64())])

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        attempt = context.attemptNumber() if context is not None else 0
        assigner = assigner_for(scratch, raw_dir, n_partitions)
        for batch in batches:
            for unit_id in batch.column("id").to_pylist():
                written = write_unit(units[unit_id], unit_id, scratch, assigner, attempt)
                yield pa.RecordBatch.from_pydict(
                    {"unit": [unit_id], "rows": [sum(written.values())]}, schema=summary
                )

    return run


def write_layout(
    spark: SparkSession,
    raw_dir: Path | str,
    n_partitions: int,
    scratch: Scratch | Path | str,
    *,
    rows_per_unit: int = ROWS_PER_UNIT,
) -> Scratch:
    """Lay the registry ``raw_dir`` out by family partition under ``scratch`` (a path or a
    URI every executor reaches, :mod:`features.spark.scratch`): one Spark job, one task per
    unit (see the module docstring). Returns the scratch location, as the tasks saw it."""
    from pyspark.sql import functions as F

    if n_partitions < 1:
        raise ValueError(f"n_partitions must be >= 1, got {n_partitions}")
    scratch = scratch_at(scratch)
    make_private(scratch)
    raw = str(Path(raw_dir).resolve())
    units = plan_registry_units(raw, rows_per_unit=rows_per_unit)
    if not units:
        return scratch
    task = layout_task(units, raw, n_partitions, scratch.uri)
    ids = spark.range(0, len(units), 1, numPartitions=len(units))
    ids.mapInArrow(task, "unit int, rows long").agg(F.sum("rows")).collect()
    return scratch


# -- reading a partition back (feature tasks) ---------------------------------------------


def read_partition(scratch: Scratch | Path | str, p: int) -> RawTables:
    """Partition ``p`` of a layout written by :func:`write_layout`, as RawTables in stored
    row order (a table with no row in ``p`` comes back empty)."""
    scratch = scratch_at(scratch)
    frames = {}
    for name in TABLES:
        table = read_parquet_dir(scratch, (name, f"{PART}={p}"), layout_schema(name))
        frames[name] = in_memory_types(name, table.sort_by(ROW))
    return RawTables(**frames)


def in_memory_types(table_name: str, table: pa.Table) -> pd.DataFrame:
    """Laid-out rows as :func:`features.raw.coerce_table` gives them (contract columns in
    order, dates ``datetime64[ns]``), converted in Arrow: the rows are typed already, so
    the string-by-string pandas conversion is not needed."""
    columns = {}
    for column in TABLE_COLUMNS[table_name]:
        if (table_name, column.name) in DROPPED:
            values: pa.ChunkedArray | pa.Array = pa.nulls(table.num_rows, pa.string())
        else:
            values = table.column(column.name)
        if column.kind == "date":
            values = values.cast(pa.timestamp("ns"))
        columns[column.name] = values
    return pa.table(columns).to_pandas()
