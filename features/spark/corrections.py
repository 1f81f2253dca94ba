"""The corrections table on Spark: the same findings as the pandas engine, events joined.

The corrections' rules are pure functions of three small things
(:mod:`features.validation.corrections`): the corrections table (people's decisions,
thousands of rows at most), the families they name and the records they contest. What
differs on Spark is how the contested records are found: the events table may be a data
lake of billions of rows, so Spark filters it by the corrections' ids (a broadcast
``isin``) and only the matching rows reach the driver. The report is therefore the pandas
engine's word for word (a test compares the two).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from features.corrections import read_corrections
from features.spark.raw import RawTableNotFoundError, read_typed_table
from features.validation.corrections import (
    RECORD_COLUMNS,
    correction_violations,
    corrections_to_check,
    records_frame,
    with_findings,
)
from features.validation.report import ValidationReport

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _found(
    spark: SparkSession, raw_dir: Path, table: str, key: str, ids: list[str]
) -> pd.DataFrame | None:
    """The rows of ``table`` whose ``key`` is one of ``ids`` (None: the table cannot be read,
    which is its own finding)."""
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    try:
        frame = read_typed_table(spark, raw_dir, table)
        columns = list(RECORD_COLUMNS) if table == "events" else [key]
        if not set(columns) <= set(frame.columns):
            return None
        return frame.where(F.col(key).isin(ids)).select(*columns).toPandas()
    except (RawTableNotFoundError, OSError, ValueError, PySparkException):
        return None


def add_correction_findings_spark(
    spark: SparkSession, report: ValidationReport, raw_dir: Path | str, *, max_examples: int = 5
) -> ValidationReport:
    """The corrections table's findings added to a Spark validation report (unchanged when
    ``raw_dir`` has no corrections table)."""
    raw_dir = Path(raw_dir)
    read = corrections_to_check(report, raw_dir, max_examples=max_examples)
    if isinstance(read, ValidationReport):
        return read
    frame, info = read
    record_ids = sorted({str(v) for v in frame.get("record_id", pd.Series()).dropna()})
    family_ids = sorted({str(v) for v in frame.get("family_id", pd.Series()).dropna()})
    events = _found(spark, raw_dir, "events", "event_id", record_ids)
    families = _found(spark, raw_dir, "families", "family_id", family_ids)
    violations = correction_violations(
        frame,
        families=set() if families is None else set(families["family_id"].astype(str)),
        records=None if events is None else records_frame(events),
        max_examples=max_examples,
    )
    return with_findings(report, violations, info)


def corrections_for_spark(raw_dir: Path | str) -> pd.DataFrame | None:
    """The raw directory's corrections for the Spark feature job (None when it has none;
    they passed validation with the rest of the registry), sent whole to every task."""
    frame = read_corrections(raw_dir)
    return None if frame.empty else frame
