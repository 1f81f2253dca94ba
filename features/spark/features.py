"""The as-of feature engine on Spark: the pandas engine's per-partition function, distributed.

Why not native Spark SQL windows: every indicator, the household composition, the label,
the well-being index and the audit groups are defined once, in
:func:`features.engine.compute_partition`; running that same function inside Spark makes
the two engines identical by construction (a test compares every column), and a second
implementation in SQL could drift.

How a registry becomes partitions (the events never reach the driver):

1. the registry-wide values a partition cannot know (the extraction date, which decides
   ``label_observed``, and the protected attributes, one ``audit_`` column each) and the
   number of families, as the pandas driver computes them (:mod:`features.spark.facts`:
   the families and protected tables on the driver, the latest date by Python tasks);
2. Python tasks on Spark read the raw files (a group of Parquet row groups or a CSV file
   each) with pyarrow and write every row into a scratch directory by family partition,
   placed by the pandas engine's own assigner (:mod:`features.spark.buckets`);
3. one task per partition (``spark.range(n).mapInArrow``) reads its partition's files with
   pyarrow, runs ``compute_partition`` and hands the rows back to Spark's Parquet writer.

Step 2 replaced two layouts that let the JVM carry the rows: a
``groupBy(partition).applyInArrow`` over the six tables stacked into one wide frame (18x
the pandas engine at 100k families), then Spark scanning, typing, joining and converting
every row for a ``mapInArrow`` writer (3.6x). docs/scale.md has the measurements.

The output is a directory of Parquet files partitioned by ``as_of`` (``as_of=YYYY-MM-DD``),
with the fingerprints in ``_earlyrisk.json`` beside them (:func:`read_spark_feature_table`
reads it back as the pandas engine's frame).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from features.catalogue import feature_list_fingerprint
from features.compute import (
    KEY_COLUMNS,
    compute_partition,
    normalise_as_of,
    output_columns,
    output_dtypes,
)
from features.config import FeatureConfig
from features.labels import refuse_as_of_after_extraction
from features.partitions import DEFAULT_FAMILIES_PER_PARTITION
from features.private_files import private_staging, publish_tree
from features.snapshot_store import META_CONFIG, META_FEATURE_LIST, META_PREFIX
from features.spark.buckets import forget_assigner, read_partition, write_layout
from features.spark.corrections import corrections_for_spark
from features.spark.event_checks import forget_checks
from features.spark.facts import registry_facts
from features.spark.raw import raw_files_fingerprint
from features.spark.scratch import Scratch, fresh_scratch
from features.spark.scratch import remove as remove_scratch

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SIDECAR = "_earlyrisk.json"
META_RAW_FILES = f"{META_PREFIX}raw_files_sha256"


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


def default_partitions(spark: SparkSession, n_families: int) -> int:
    """Partitions for ``n_families``: one per 25,000 families, at least one per core."""
    cores = max(1, spark.sparkContext.defaultParallelism)
    return max(cores, math.ceil(n_families / DEFAULT_FAMILIES_PER_PARTITION))


def spark_feature_frame(
    spark: SparkSession,
    raw_dir: Path | str,
    as_of_dates: Iterable[object],
    *,
    scratch: Scratch | Path | str,
    config: FeatureConfig | None = None,
    n_partitions: int | None = None,
) -> tuple[DataFrame, list[str], int]:
    """(Spark frame of feature rows, its audit attributes, the number of partitions).

    Runs steps 1 and 2 of the module docstring now (the registry laid out by partition in
    the directory ``scratch``, a path or URI every executor must be able to read and
    write: :mod:`features.spark.scratch`); the frame is
    lazy and reads ``scratch`` when its job runs, so remove ``scratch`` only after that
    (:func:`write_spark_features` does). The raw data must already have passed validation
    (:mod:`features.spark.validation`).
    """
    config = config or FeatureConfig()
    dates = normalise_as_of(as_of_dates)
    extraction, attributes, n_families = registry_facts(spark, raw_dir, config)
    refuse_as_of_after_extraction(dates, extraction, configured=config.extraction_date is not None)
    if n_partitions is None:
        n_partitions = default_partitions(spark, n_families)
    if n_partitions < 1:
        raise ValueError(f"n_partitions must be >= 1, got {n_partitions}")
    layout = write_layout(spark, raw_dir, n_partitions, scratch).uri
    config_json = config.model_dump_json()
    corrections = corrections_for_spark(raw_dir)  # small: sent whole with every task
    columns = output_columns(attributes)
    arrow_schema = output_arrow_schema(attributes)

    def compute(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        forget_assigner()  # the layout's look-ups, if this worker ran layout tasks
        forget_checks()  # and a validation's, if it ran validation tasks
        part_config = FeatureConfig.model_validate_json(config_json)
        for batch in batches:
            for p in batch.column("id").to_pylist():
                part = read_partition(layout, p)
                if part.memberships.empty:  # no family of the registry hashed here
                    continue
                out = compute_partition(
                    part,
                    dates,
                    config=part_config,
                    extraction_date=extraction,
                    audit_attributes=attributes,
                    corrections=corrections,
                )
                table = pa.Table.from_pandas(
                    out[columns], schema=arrow_schema, preserve_index=False
                )
                yield from table.to_batches()

    # one task per partition: each reads its own files, nothing is shuffled
    ids = spark.range(0, n_partitions, 1, numPartitions=n_partitions)
    features = ids.mapInArrow(compute, schema=output_schema(attributes))
    return features, attributes, n_partitions


def scratch_beside(out: Path | str) -> Scratch:
    """A fresh scratch for the partitioned registry of the job writing ``out``: below
    ``$EARLYRISK_SPARK_SCRATCH`` (any URI of :mod:`features.spark.scratch`) when set, else
    a hidden directory beside the output (on the storage the executors share when they
    share the output); the caller removes it (:func:`features.spark.scratch.remove`) once
    the feature job has run."""
    return fresh_scratch(out)


def write_spark_features(
    spark: SparkSession,
    raw_dir: Path | str,
    as_of_dates: Iterable[object],
    out: Path | str,
    *,
    config: FeatureConfig | None = None,
    n_partitions: int | None = None,
    scratch_root: Scratch | Path | str | None = None,
) -> Path:
    """Compute the feature table on Spark and write it to the directory ``out`` as Parquet
    partitioned by ``as_of``, with the fingerprints in ``out/_earlyrisk.json``; folders
    0700, files 0600 (an existing ``out`` is replaced).

    ``scratch_root``: where the registry laid out by partition goes (a path or URI every
    executor reaches, e.g. ``s3a://bucket/tmp``; :func:`features.spark.scratch.fresh_scratch`
    says the default); it is removed after the job."""
    from pyspark.sql import functions as F

    config = config or FeatureConfig()
    out = Path(out)
    scratch = fresh_scratch(out, scratch_root)
    # Spark writes into a private (0700) folder; the tree is made 0600/0700 there and then
    # renamed over ``out`` (a snapshot names every family and its audit groups)
    with private_staging(out) as staging:
        staged = staging / out.name
        try:
            features, attributes, n_partitions = spark_feature_frame(
                spark,
                raw_dir,
                as_of_dates,
                scratch=scratch,
                config=config,
                n_partitions=n_partitions,
            )
            (
                features.withColumn("as_of", F.col("as_of").cast("date"))
                .write.mode("error")
                .partitionBy("as_of")
                .parquet(str(staged))
            )
        finally:
            remove_scratch(scratch)
        sidecar = {
            META_FEATURE_LIST: feature_list_fingerprint(),
            META_RAW_FILES: raw_files_fingerprint(raw_dir),
            META_CONFIG: config.model_dump_json(),
            "earlyrisk.columns": output_columns(attributes),
            "earlyrisk.engine": "spark",
        }
        (staged / SIDECAR).write_text(json.dumps(sidecar, indent=2), encoding="utf-8")
        publish_tree(staged, out)
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
