"""The as-of feature engine on Spark: the pandas engine's per-partition function, distributed.

Why not native Spark SQL windows: every indicator, the household composition, the label,
the well-being index and the audit groups are defined once, in
:func:`features.engine.compute_partition`; running that same function inside Spark
(``applyInArrow`` on a family-hash key) makes the two engines identical by construction
(a test compares every column), and a second implementation in SQL could drift.

How a registry becomes partitions, all in Spark (nothing is collected to the driver but
three numbers and the distinct protected attributes):

- every family gets ``_part = pmod(xxhash64(family_id), n)``; families, memberships,
  outcomes and protected rows go to their family's partition;
- a person goes to every partition they were ever a member in (a join on the distinct
  (person, partition) pairs of the memberships), and so does a person-only event; the
  per-partition function then attributes it by event date to exactly one family, exactly
  as the pandas engine's partition plan does;
- the six tables are stacked into one wide frame with a ``_table`` tag (``applyInArrow``
  takes one frame per group) and a ``_row`` number that keeps each table's stored row
  order, so a partition sees its rows in the same order as in the pandas engine.

The registry-wide values a partition cannot know (the extraction date, which decides
``label_observed``, and the protected attributes, one ``audit_`` column each) are computed
first as Spark aggregates and passed to every partition, as the pandas driver does.

The output is a directory of Parquet files partitioned by ``as_of`` (``as_of=YYYY-MM-DD``),
with the fingerprints in ``_earlyrisk.json`` beside them (:func:`read_spark_feature_table`
reads it back as the pandas engine's frame).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.catalogue import feature_list_fingerprint
from features.compute import (
    KEY_COLUMNS,
    compute_partition,
    normalise_as_of,
    output_columns,
    output_dtypes,
)
from features.config import FeatureConfig
from features.contract import TABLE_COLUMNS, TABLES
from features.labels import AsOfAfterExtractionError, refuse_as_of_after_extraction
from features.partitions import DEFAULT_FAMILIES_PER_PARTITION
from features.raw import RawTables, coerce_table
from features.snapshot_store import META_CONFIG, META_FEATURE_LIST, META_PREFIX
from features.spark_raw import locate_table, read_typed_table
from features.spark_session import session_conf

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from rich.console import Console

SIDECAR = "_earlyrisk.json"
META_RAW_FILES = f"{META_PREFIX}raw_files_sha256"
PART = "_part"
TAG = "_table"
ROW = "_row"
# protected.value is text, events.value a number: one column each in the stacked frame.
PROTECTED_VALUE = "protected_value"


def _stacked_name(table: str, column: str) -> str:
    return PROTECTED_VALUE if (table, column) == ("protected", "value") else column


def _stacked_columns() -> dict[str, str]:
    """Column -> Spark type of the stacked frame (dates as timestamps, for pandas)."""
    kinds = {"id": "string", "string": "string", "date": "timestamp_ntz", "float": "double"}
    columns = {PART: "int", TAG: "int", ROW: "long"}
    for table, table_columns in TABLE_COLUMNS.items():
        for column in table_columns:
            if (table, column.name) == ("events", "source"):
                continue  # the engine never reads it: do not ship it to the workers
            columns[_stacked_name(table, column.name)] = kinds[column.kind]
    return columns


def family_partition(column: Column, n_partitions: int) -> Column:
    """Spark expression: the partition (0..n-1) of a family_id column."""
    from pyspark.sql import functions as F

    return F.pmod(F.xxhash64(column), F.lit(n_partitions)).cast("int")


def stacked_registry(tables: dict[str, DataFrame], n_partitions: int) -> DataFrame:
    """The six typed tables as one frame tagged with table, stored row and partition."""
    from pyspark.sql import functions as F

    def numbered(name: str) -> DataFrame:
        return tables[name].withColumn(ROW, F.monotonically_increasing_id())

    memberships = numbered("memberships").withColumn(
        PART, family_partition(F.col("family_id"), n_partitions)
    )
    person_parts = memberships.select("person_id", PART).distinct()
    events = numbered("events").drop("source")
    family_events = events.where(F.col("family_id").isNotNull()).withColumn(
        PART, family_partition(F.col("family_id"), n_partitions)
    )
    person_events = events.where(F.col("family_id").isNull()).join(
        person_parts, on="person_id", how="inner"
    )
    parts = {
        "families": numbered("families").withColumn(
            PART, family_partition(F.col("family_id"), n_partitions)
        ),
        "persons": numbered("persons").join(person_parts, on="person_id", how="inner"),
        "memberships": memberships,
        "events": family_events.unionByName(person_events),
        "outcomes": numbered("outcomes").withColumn(
            PART, family_partition(F.col("family_id"), n_partitions)
        ),
        "protected": numbered("protected")
        .withColumnRenamed("value", PROTECTED_VALUE)
        .withColumn(PART, family_partition(F.col("family_id"), n_partitions)),
    }
    types = _stacked_columns()
    frames = []
    for index, table in enumerate(TABLES):
        frame = parts[table].withColumn(TAG, F.lit(index))
        present = set(frame.columns)
        frames.append(
            frame.select(
                *[
                    (F.col(name) if name in present else F.lit(None)).cast(kind).alias(name)
                    for name, kind in types.items()
                ]
            )
        )
    stacked = frames[0]
    for frame in frames[1:]:
        stacked = stacked.unionByName(frame)
    return stacked


def unstack_partition(table: pa.Table) -> RawTables:
    """One partition's stacked rows (an Arrow table) back as RawTables, each table in stored
    row order. Each table's rows and own columns are picked in Arrow before the conversion
    to pandas, so the other tables' (null) columns are never converted."""
    tags = table.column(TAG)
    tables = {}
    for index, name in enumerate(TABLES):
        columns = [c.name for c in TABLE_COLUMNS[name]]
        shipped = [c for c in columns if (name, c) != ("events", "source")]
        rows = table.filter(pc.equal(tags, index)).sort_by(ROW)
        picked = rows.select([_stacked_name(name, c) for c in shipped]).rename_columns(shipped)
        frame = picked.to_pandas()
        if name == "events":
            frame = frame.assign(source="")
        tables[name] = coerce_table(name, frame[columns])
    return RawTables(**tables)


def _arrow_type(dtype: str) -> pa.DataType:
    kinds = {
        "str": pa.string(),
        "datetime64[ns]": pa.timestamp("us"),
        "int8": pa.int8(),
        "bool": pa.bool_(),
        "float64": pa.float64(),
    }
    return kinds[dtype]


def output_arrow_schema(audit_attributes: Sequence[str]) -> pa.Schema:
    """The Arrow schema of a partition's output, as Spark expects it (:func:`output_schema`;
    Spark's ``timestamp_ntz`` is a microsecond timestamp without zone)."""
    dtypes = output_dtypes(audit_attributes)
    return pa.schema([(name, _arrow_type(dtype)) for name, dtype in dtypes.items()])


def output_schema(audit_attributes: Sequence[str]) -> str:
    """The Spark DDL schema of the engine's output (the pandas engine's dtypes)."""
    spark_types = {
        "str": "string",
        "datetime64[ns]": "timestamp_ntz",
        "int8": "tinyint",
        "bool": "boolean",
        "float64": "double",
    }
    dtypes = output_dtypes(audit_attributes)
    return ", ".join(f"`{name}` {spark_types[dtypes[name]]}" for name in dtypes)


def registry_facts(
    tables: dict[str, DataFrame], config: FeatureConfig
) -> tuple[pd.Timestamp, list[str], int]:
    """(extraction date, protected attributes, number of families), as Spark aggregates."""
    from pyspark.sql import functions as F

    if config.extraction_date is not None:
        extraction = pd.Timestamp(config.extraction_date)
    else:
        rows = [tables[name].agg(F.max("recorded_date")).first() for name in ("events", "outcomes")]
        present = [row[0] for row in rows if row is not None and row[0] is not None]
        if not present:
            raise ValueError(
                "cannot infer the extraction date: events and outcomes hold no "
                "recorded_date; set FeatureConfig.extraction_date"
            )
        extraction = pd.Timestamp(max(present))
    attributes = sorted(
        row[0]
        for row in tables["protected"].select("attribute").distinct().collect()
        if row[0] is not None
    )
    n_families = tables["families"].select("family_id").distinct().count()
    return extraction, attributes, n_families


def default_partitions(spark: SparkSession, n_families: int) -> int:
    """Partitions for ``n_families``: one per 25,000 families, at least four per core (so
    an uneven hash spread still keeps every core busy)."""
    cores = max(1, spark.sparkContext.defaultParallelism)
    return max(4 * cores, math.ceil(n_families / DEFAULT_FAMILIES_PER_PARTITION))


def read_registry(spark: SparkSession, raw_dir: Path | str) -> dict[str, DataFrame]:
    """The six typed tables of ``raw_dir`` as Spark frames (lazy)."""
    return {table: read_typed_table(spark, raw_dir, table) for table in TABLES}


def spark_feature_frame(
    spark: SparkSession,
    raw_dir: Path | str,
    as_of_dates: Iterable[object],
    *,
    config: FeatureConfig | None = None,
    n_partitions: int | None = None,
) -> tuple[DataFrame, list[str], int]:
    """(Spark frame of feature rows, its audit attributes, the number of partitions), lazy.

    The raw data must already have passed validation (:mod:`features.spark_validation`).
    """
    config = config or FeatureConfig()
    dates = normalise_as_of(as_of_dates)
    tables = read_registry(spark, raw_dir)
    extraction, attributes, n_families = registry_facts(tables, config)
    refuse_as_of_after_extraction(dates, extraction, configured=config.extraction_date is not None)
    if n_partitions is None:
        n_partitions = default_partitions(spark, n_families)
    if n_partitions < 1:
        raise ValueError(f"n_partitions must be >= 1, got {n_partitions}")
    config_json = config.model_dump_json()

    arrow_schema = output_arrow_schema(attributes)

    def compute(table: pa.Table) -> pa.Table:
        part_config = FeatureConfig.model_validate_json(config_json)
        out = compute_partition(
            unstack_partition(table),
            dates,
            config=part_config,
            extraction_date=extraction,
            audit_attributes=attributes,
        )
        return pa.Table.from_pandas(
            out[output_columns(attributes)], schema=arrow_schema, preserve_index=False
        )

    stacked = stacked_registry(tables, n_partitions)
    # applyInArrow, not applyInPandas: the partition crosses as Arrow and only each table's
    # own columns are converted to pandas (pyspark's generic pandas conversion of the whole
    # stacked frame cost more than the features themselves)
    features = stacked.groupBy(PART).applyInArrow(compute, schema=output_schema(attributes))
    return features, attributes, n_partitions


def raw_files_fingerprint(raw_dir: Path | str) -> str:
    """sha256 over the raw tables' stored files (names and bytes, streamed, in contract
    order). A cheaper stand-in for the pandas engine's content fingerprint, which needs
    every table in one process; equal files give equal digests."""
    digest = hashlib.sha256()
    for table in TABLES:
        location = locate_table(raw_dir, table)
        files = (
            sorted(p for p in location.path.rglob("*") if p.is_file() and not _hidden(p))
            if location.path.is_dir()
            else [location.path]
        )
        for path in files:
            digest.update(f"{table}:{path.relative_to(location.path.parent)};".encode())
            with path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
    return digest.hexdigest()


def _hidden(path: Path) -> bool:
    return path.name.startswith(("_", "."))


def write_spark_features(
    spark: SparkSession,
    raw_dir: Path | str,
    as_of_dates: Iterable[object],
    out: Path | str,
    *,
    config: FeatureConfig | None = None,
    n_partitions: int | None = None,
) -> Path:
    """Compute the feature table on Spark and write it to the directory ``out`` as Parquet
    partitioned by ``as_of``, with the fingerprints in ``out/_earlyrisk.json``."""
    from pyspark.sql import functions as F

    config = config or FeatureConfig()
    features, attributes, n_partitions = spark_feature_frame(
        spark, raw_dir, as_of_dates, config=config, n_partitions=n_partitions
    )
    out = Path(out)
    # One shuffle partition per family partition, not coalesced: a task per partition.
    tuning = {
        "spark.sql.shuffle.partitions": str(n_partitions),
        "spark.sql.adaptive.coalescePartitions.enabled": "false",
    }
    with session_conf(spark, tuning):
        (
            features.withColumn("as_of", F.col("as_of").cast("date"))
            .write.mode("overwrite")
            .partitionBy("as_of")
            .parquet(str(out))
        )
    sidecar = {
        META_FEATURE_LIST: feature_list_fingerprint(),
        META_RAW_FILES: raw_files_fingerprint(raw_dir),
        META_CONFIG: config.model_dump_json(),
        "earlyrisk.columns": output_columns(attributes),
        "earlyrisk.engine": "spark",
    }
    (out / SIDECAR).write_text(json.dumps(sidecar, indent=2), encoding="utf-8")
    return out


def read_spark_feature_table(path: Path | str) -> pd.DataFrame:
    """A feature directory written by :func:`write_spark_features`, as the pandas engine's
    frame: same columns, order, dtypes and row order; the sidecar lands in ``df.attrs``."""
    import pyarrow.dataset as ds

    path = Path(path)
    sidecar = json.loads((path / SIDECAR).read_text(encoding="utf-8"))
    dataset = ds.dataset(
        str(path), format="parquet", partitioning="hive", exclude_invalid_files=True
    )
    table = dataset.to_table().to_pandas()
    table["as_of"] = pd.to_datetime(table["as_of"].astype("str")).astype("datetime64[ns]")
    columns = sidecar["earlyrisk.columns"]
    table = table[columns].sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)
    table.attrs.update(sidecar)
    return table


def run_features_command(
    raw: Path,
    dates: list[pd.Timestamp],
    out: Path,
    config: FeatureConfig,
    partitions: int | None,
    master: str,
    err: Console,
) -> int:
    """``earlyrisk features --engine spark``: validate on Spark, refuse broken data, write
    the partitioned feature directory ``out``; returns the exit code (0; 1 broken data; 2 an
    as-of date after the extraction date)."""
    import time

    from rich.console import Console

    from features.engine_options import start_spark
    from features.spark_validation import validate_raw_dir_spark

    started = time.perf_counter()
    spark = start_spark(master, err)
    report = validate_raw_dir_spark(spark, raw)
    if not report.ok:
        err.print(f"[red]refused:[/red] {raw} breaks the data contract; nothing was written.")
        err.print(report)
        return 1
    try:
        path = write_spark_features(spark, raw, dates, out, config=config, n_partitions=partitions)
    except AsOfAfterExtractionError as error:
        err.print(f"[red]error:[/red] --as-of: {error}; nothing was written")
        return 2
    rows = spark.read.parquet(str(path)).groupBy("as_of").count().orderBy("as_of").collect()
    per_date = ", ".join(f"{row['as_of']}: {row['count']:,}" for row in rows) or "no rows"
    Console().print(
        f"wrote [bold]{path}[/bold] (Parquet partitioned by as_of; {per_date} families) on "
        f"Spark {master} in {time.perf_counter() - started:.1f} s"
    )
    return 0
