"""The registry-wide facts a feature partition cannot know, without a JVM scan.

Before the layout, the Spark feature job needs three facts about the whole registry: the
extraction date (the latest ``recorded_date`` of events and outcomes, which decides
``label_observed`` and refuses an as-of date after it), the protected attributes (one
``audit_`` column each) and the number of families (which sizes the partitions). They
were Spark aggregates over the typed tables: a JVM scan that typed every event's date,
7 CPU-seconds at 100k families once the JVM was warm, 23 in a fresh session. Now:

- the families and protected tables (about 2 % of a registry) are read on the driver,
  typed as the layout types them (:func:`features.spark.buckets.read_whole_table`);
- the latest ``recorded_date`` of events and outcomes is one Python task per unit of rows
  (:func:`features.spark.buckets.plan_units`), each reading that one column; only one date
  per unit reaches the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.config import FeatureConfig
from features.spark.buckets import (
    RawUnit,
    plan_units,
    read_stored_columns,
    read_whole_table,
    typed_column,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DATED = ("events", "outcomes")  # the tables whose latest record sets the extraction date


def latest_recorded(unit: RawUnit) -> pa.Scalar:
    """The latest ``recorded_date`` of one unit (a null date32 scalar when it has none)."""
    keys = dict(unit.partition_values)
    if "recorded_date" in keys:  # a Hive key: one value for every row of the file
        values = pa.chunked_array([pa.array([keys["recorded_date"]], pa.string())])
    else:
        values = read_stored_columns(unit, ["recorded_date"]).column("recorded_date")
    return pc.max(typed_column("date", values))


def _latest_task(
    units: Sequence[RawUnit],
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    schema = pa.schema([("latest", pa.date32())])

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for index in batch.column("id").to_pylist():
                latest = latest_recorded(units[index])
                yield pa.RecordBatch.from_pydict({"latest": [latest.as_py()]}, schema=schema)

    return run


def _latest_over_units(spark: SparkSession, raw_dir: str) -> pd.Timestamp | None:
    units = [u for table in DATED for u in plan_units(raw_dir, table)]
    if not units:
        return None
    ids = spark.range(0, len(units), 1, numPartitions=len(units))
    rows = ids.mapInArrow(_latest_task(units), "latest date").collect()
    dates = [row["latest"] for row in rows if row["latest"] is not None]
    return pd.Timestamp(max(dates)) if dates else None


def registry_facts(
    spark: SparkSession, raw_dir: Path | str, config: FeatureConfig
) -> tuple[pd.Timestamp, list[str], int]:
    """(extraction date, protected attributes, number of families) of ``raw_dir``.

    The extraction date is ``config.extraction_date`` when set; else the latest
    ``recorded_date`` of events and outcomes (ValueError naming the remedy when neither
    table has one)."""
    raw = str(Path(raw_dir).resolve())
    families = read_whole_table(raw, "families")["family_id"]
    protected = read_whole_table(raw, "protected")["attribute"]
    attributes = sorted(str(v) for v in protected.dropna().unique())
    if config.extraction_date is not None:
        extraction = pd.Timestamp(config.extraction_date)
    else:
        latest = _latest_over_units(spark, raw)
        if latest is None:
            raise ValueError(
                "cannot infer the extraction date: events and outcomes hold no "
                "recorded_date; set FeatureConfig.extraction_date"
            )
        extraction = latest
    return extraction, attributes, int(families.nunique())
