"""A registry laid out by family partition, written by Spark and read back per task.

:func:`features.compute.compute_partition` needs the six tables of one family partition
in one Python call. Grouping the stacked tables with ``groupBy(partition).applyInArrow``
made Spark shuffle every event as a wide row, sort the shuffled rows and convert them row
by row to Arrow in the JVM; that JVM work cost far more than the features themselves (18x
the pandas engine at 100k families; docs/scale.md). Here Spark instead writes each table
once as Parquet partitioned by the family partition,
``<scratch>/<table>/_part=<p>/part-*.parquet`` (a native scan and write: no Python, no
shuffle except the small joins that place persons), and each task of the feature stage
reads its partition's files with pyarrow, columnar, straight into the pandas frames.

What a partition holds is :func:`features.partitions.partition_plan`'s rule: its families
(``pmod(xxhash64(family_id), n)``) with their memberships, outcomes and protected rows;
every person who was ever a member of one of them; family events by family_id and
person-only events once for every partition their person was ever a member in (the
partition function then attributes such an event to one family by its date). A ``_row``
number (the table's stored order) travels with every row, so a partition sees its rows in
the same order as the pandas engine does.

The scratch directory must be readable by every executor (a shared mount or the same
local disk in ``local`` mode); the caller removes it after the job.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from features.contract import TABLE_COLUMNS, TABLES
from features.raw import RawTables
from features.spark_session import session_conf

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

PART = "_part"
ROW = "_row"
# The engine never reads events.source (as features.partitions): it is not laid out.
DROPPED = {("events", "source")}
# Rows a task buffers per partition before writing them as one Parquet row group.
FLUSH_ROWS = 65_536


def family_partition(column: Column, n_partitions: int) -> Column:
    """Spark expression: the partition (0..n-1) of a family_id column."""
    from pyspark.sql import functions as F

    return F.pmod(F.xxhash64(column), F.lit(n_partitions)).cast("int")


def laid_out_columns(table: str) -> list[str]:
    """The contract columns of ``table`` that the layout keeps, in contract order."""
    return [c.name for c in TABLE_COLUMNS[table] if (table, c.name) not in DROPPED]


def _arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of a laid-out table's files (dates as Spark's ``timestamp_ntz``)."""
    kinds = {
        "id": pa.string(),
        "string": pa.string(),
        "date": pa.timestamp("us"),
        "float": pa.float64(),
    }
    kind = {c.name: c.kind for c in TABLE_COLUMNS[table]}
    return pa.schema(
        [(name, kinds[kind[name]]) for name in laid_out_columns(table)] + [(ROW, pa.int64())]
    )


def partitioned_tables(tables: dict[str, DataFrame], n_partitions: int) -> dict[str, DataFrame]:
    """Each typed table (lazy) with its rows' ``_part`` and ``_row`` (see the module doc).

    Dates are cast to ``timestamp_ntz`` so that they cross to pandas as datetimes.
    """
    from pyspark.sql import functions as F

    def numbered(name: str) -> DataFrame:
        frame = tables[name].withColumn(ROW, F.monotonically_increasing_id())
        dates = {c.name for c in TABLE_COLUMNS[name] if c.kind == "date"}
        return frame.select(
            *[
                F.col(c).cast("timestamp_ntz").alias(c) if c in dates else F.col(c)
                for c in laid_out_columns(name)
            ],
            ROW,
        )

    def by_family(name: str) -> DataFrame:
        return numbered(name).withColumn(PART, family_partition(F.col("family_id"), n_partitions))

    memberships = by_family("memberships")
    person_parts = (
        tables["memberships"]
        .select("person_id", family_partition(F.col("family_id"), n_partitions).alias(PART))
        .distinct()
    )
    events = numbered("events")
    family_events = events.where(F.col("family_id").isNotNull()).withColumn(
        PART, family_partition(F.col("family_id"), n_partitions)
    )
    person_events = events.where(F.col("family_id").isNull()).join(
        person_parts, on="person_id", how="inner"
    )
    parts = {
        "families": by_family("families"),
        "persons": numbered("persons").join(person_parts, on="person_id", how="inner"),
        "memberships": memberships,
        "events": family_events.unionByName(person_events),
        "outcomes": by_family("outcomes"),
        "protected": by_family("protected"),
    }
    return {name: frame.select(*laid_out_columns(name), ROW, PART) for name, frame in parts.items()}


def write_layout(tables: dict[str, DataFrame], n_partitions: int, scratch: Path | str) -> Path:
    """Write the six tables by family partition under ``scratch`` (one Spark job each).

    Spark reads, types and places the rows (the ``_part`` column, the joins); the writing
    is pyarrow's, inside the tasks (:func:`bucket_writer`): Spark's own partitioned
    Parquet writer sorts every task's rows by partition and encodes them row by row, which
    cost more than the features themselves at 100k families.
    """
    from pyspark.sql import functions as F

    scratch = Path(scratch).resolve()
    summary = f"{PART} int, rows long"
    frames = partitioned_tables(tables, n_partitions)
    # Arrow batches of FLUSH_ROWS rows (Spark's default is 10,000): fewer, larger writes
    batch_rows = {"spark.sql.execution.arrow.maxRecordsPerBatch": str(FLUSH_ROWS)}
    with session_conf(spark_of(frames), batch_rows):
        for name, frame in frames.items():
            directory = scratch / name
            directory.mkdir(parents=True, exist_ok=True)
            frame.mapInArrow(bucket_writer(str(directory), _arrow_schema(name)), summary).agg(
                F.sum("rows")
            ).collect()
    return scratch


def spark_of(frames: dict[str, DataFrame]) -> SparkSession:
    """The session the frames belong to."""
    return next(iter(frames.values())).sparkSession


def bucket_writer(
    directory: str, schema: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The task function that appends each row to ``directory/_part=<p>/part-<task>.parquet``
    (p its ``_part``) and returns the rows written per partition.

    A task writes hidden files first and renames them when it has written all its rows, so
    a failed attempt leaves nothing a reader sees, and a retry (same input split, same
    rows) replaces the same file names.
    """
    names = schema.names

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        task = f"{context.partitionId():05d}" if context is not None else uuid.uuid4().hex
        attempt = context.attemptNumber() if context is not None else 0
        pending: dict[int, list[pa.RecordBatch]] = {}
        sizes: dict[int, int] = {}
        counts: dict[int, int] = {}
        writers: dict[int, pq.ParquetWriter] = {}
        temp: dict[int, Path] = {}

        def flush(p: int) -> None:
            if p not in writers:
                folder = Path(directory) / f"{PART}={p}"
                folder.mkdir(parents=True, exist_ok=True)
                temp[p] = folder / f".part-{task}-{attempt}.parquet.tmp"
                writers[p] = pq.ParquetWriter(temp[p], schema)
            writers[p].write_table(pa.Table.from_batches(pending.pop(p)).cast(schema))
            sizes[p] = 0

        try:
            for batch in batches:
                parts = batch.column(PART).to_numpy(zero_copy_only=False)
                order = np.argsort(parts, kind="stable")
                ordered = parts[order]
                rows = batch.select(names).take(pa.array(order))
                cuts = np.flatnonzero(np.diff(ordered)) + 1
                for start, stop in zip(
                    [0, *cuts.tolist()], [*cuts.tolist(), len(ordered)], strict=True
                ):
                    p = int(ordered[start])
                    pending.setdefault(p, []).append(rows.slice(start, stop - start))
                    sizes[p] = sizes.get(p, 0) + stop - start
                    counts[p] = counts.get(p, 0) + stop - start
                    if sizes[p] >= FLUSH_ROWS:
                        flush(p)
            for p in list(pending):
                flush(p)
        finally:
            for writer in writers.values():
                writer.close()
        for path in temp.values():
            path.replace(path.with_name(f"part-{task}.parquet"))
        yield pa.RecordBatch.from_pydict(
            {PART: list(counts), "rows": list(counts.values())},
            schema=pa.schema([(PART, pa.int32()), ("rows", pa.int64())]),
        )

    return write


def read_partition(scratch: Path | str, p: int) -> RawTables:
    """Partition ``p`` of a layout written by :func:`write_layout`, as RawTables in stored
    row order (a table with no row in ``p`` comes back empty)."""
    scratch = Path(scratch)
    frames = {}
    for name in TABLES:
        schema = _arrow_schema(name)
        directory = scratch / name / f"{PART}={p}"
        if directory.is_dir():
            table = ds.dataset(str(directory), format="parquet", schema=schema).to_table()
        else:
            table = schema.empty_table()
        frames[name] = in_memory_types(name, table.sort_by(ROW))
    return RawTables(**frames)


def in_memory_types(table_name: str, table: pa.Table) -> pd.DataFrame:
    """A laid-out table as :func:`features.raw.coerce_table` gives it (contract columns in
    order, dates ``datetime64[ns]``, empty text null), converted in Arrow: the partition's
    rows are already typed, so the string-by-string pandas conversion is not needed."""
    columns = {}
    for column in TABLE_COLUMNS[table_name]:
        if (table_name, column.name) in DROPPED:
            values: pa.ChunkedArray | pa.Array = pa.nulls(table.num_rows, pa.string())
        else:
            values = table.column(column.name)
        if column.kind == "date":
            values = values.cast(pa.timestamp("ns"))
        elif column.kind in ("id", "string"):
            values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
        columns[column.name] = values
    return pa.table(columns).to_pandas()
