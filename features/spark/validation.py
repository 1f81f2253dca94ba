"""The contract's rules on Spark: the pandas validator's own checks, the events spread.

The report is the pandas engine's :class:`~features.validation.report.ValidationReport`
(same rule ids, order, counts, descriptions and examples), because the checks *are* the
pandas engine's: this module runs the streamed validator (:mod:`features.validation.stream`)
with its events pass distributed.

1. The driver reads the five small tables (families, persons, memberships, outcomes,
   protected, about 5 % of a registry; plus an optional table present) and runs every
   check on them, with the events as a zero-row stand-in: the streamed validator's first
   pass, which also prepares the parents' ids and the memberships for the events' look-ups.
2. One Spark job checks the events: a Python task per unit of rows
   (:mod:`features.spark.event_checks`) runs the streamed validator's slice checks with the
   first pass broadcast; the findings come back keyed, and the driver merges them in row
   order. The one registry-wide rule the slices cannot decide, unique ``event_id``, is a
   shuffle of the ids' 64-bit hashes by bucket in the same job; the rows of a repeated
   hash (none in valid data) are read again to compare the ids themselves.
3. The rules that need every slice (the birth-date rule against the extraction date, the
   empty tables) run last, as in the pandas engine.

Why not Spark SQL: an earlier version restated every rule as Spark columns, joins and
windows; the report was the same, but the JVM read, typed, numbered, shuffled and cached
every row several times: 29x the pandas validator's CPU at a million families
(docs/scale.md). Here each event row is read once, by Python, and only findings and
8-byte hashes cross into the JVM. The driver holds the small tables, as every Python
worker of the feature layout (:mod:`features.spark.buckets`) already does.

A table may lie as one file or as a directory of part files (:mod:`features.spark.stored`);
for a directory, "row N" counts rows in sorted file order.
"""

from __future__ import annotations

import pickle
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.contract import OPTIONAL_TABLES, TABLES
from features.spark.buckets import ROWS_PER_UNIT, plan_units
from features.spark.event_checks import (
    FINDINGS,
    OUT_SCHEMA,
    EventUnit,
    UnitResult,
    check_task,
    event_units,
    id_task,
    repeat_task,
    unpickled,
)
from features.spark.raw import RawTableNotFoundError, locate_table
from features.spark.stored import READ_ERRORS, StoredTable, empty_frame, open_stored, read_whole
from features.validation.parse import parse_table, report_extra_columns
from features.validation.report import RuleViolation, TableInfo, ValidationReport
from features.validation.rules import (
    CHECKS,
    RuleContext,
    check_unique_keys,
)
from features.validation.stream import (
    AFTER_EVENTS,
    CHECK_STAGE,
    STREAMED,
    KeyedFindings,
    Merger,
    SliceChecks,
    duplicate_id_finding,
    finish_report,
    latest_date,
    stage_of,
    stand_in,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Hashes per bucket of the uniqueness shuffle: a bucket's task holds its hashes (8 bytes
# each) at once, 400 MB at this size.
HASHES_PER_BUCKET = 50_000_000


def _optional_present(raw_dir: Path) -> tuple[str, ...]:
    """The optional tables (``contract.OPTIONAL_TABLES``) stored in ``raw_dir``, as a file
    or a directory: checked by the same rules as the others when present."""
    present = []
    for name in OPTIONAL_TABLES:
        try:
            locate_table(raw_dir, name)
        except RawTableNotFoundError:
            continue
        present.append(name)
    return tuple(present)


class _EventsPass:
    """The events' Spark job and what it found (see the module docstring, step 2)."""

    def __init__(
        self,
        spark: SparkSession,
        stored: StoredTable,
        slices: SliceChecks,
        max_examples: int,
        rows_per_unit: int,
    ) -> None:
        self.spark = spark
        self.rows_per_unit = rows_per_unit
        self.stored = stored
        self.slices = slices
        self.max_examples = max_examples
        self.units: list[EventUnit] = []
        self.results: list[UnitResult] = []
        self.repeated = np.zeros(0, dtype=np.uint64)
        self.error: str | None = None

    def run(self, raw_dir: Path) -> None:
        from pyspark.sql import functions as F

        try:
            self.units = event_units(
                plan_units(raw_dir, STREAMED, rows_per_unit=self.rows_per_unit)
            )
        except READ_ERRORS as error:  # a Parquet footer that cannot be read
            self.error = str(error) or repr(error)
            return
        if not self.units:
            return
        sc = self.spark.sparkContext
        state = sc.broadcast(pickle.dumps(self.slices, protocol=pickle.HIGHEST_PROTOCOL))
        try:
            rows = sum(u.rows or 0 for unit in self.units for u in unit.parts)
            buckets = max(1, -(-rows // HASHES_PER_BUCKET), sc.defaultParallelism)
            task = check_task(self.units, self.stored.wanted, uuid.uuid4().hex, state, buckets)
            ids = self.spark.range(0, len(self.units), 1, numPartitions=len(self.units))
            checked = ids.mapInArrow(task, OUT_SCHEMA)
            out = (
                checked.repartition(buckets + 1, F.col("bucket"))
                .mapInArrow(repeat_task, OUT_SCHEMA)
                .collect()
            )
        finally:
            state.unpersist()
        repeated = []
        for row in out:
            if row["bucket"] == FINDINGS:
                self.results.append(unpickled(row["blob"]))
            else:
                repeated.append(np.frombuffer(row["blob"], dtype=np.uint64))
        self.results.sort(key=lambda r: r.unit)
        failed = [r for r in self.results if r.error is not None]
        if failed:
            self.error = failed[0].error
        if repeated:
            self.repeated = np.unique(np.concatenate(repeated))

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.results)

    def latest(self) -> pd.Timestamp | None:
        latest = None
        for result in self.results:
            latest = latest_date(latest, result.latest)
        return latest

    def unknown_types(self) -> pd.Series | None:
        """Unknown event types with their counts, added up in row order as the streamed
        validator adds them slice by slice."""
        total: pd.Series | None = None
        for result in self.results:
            if result.unknown_types is None:
                continue
            counts = result.unknown_types
            if total is not None:
                counts = total.add(counts, fill_value=0).astype("int64")
            total = counts.sort_values(ascending=False, kind="stable")
        return total

    def duplicate_ids(self) -> RuleViolation | None:
        """The ``unique`` finding on event_id, from the rows whose id hash repeats."""
        if len(self.repeated) == 0:
            return None
        ids = self.spark.range(0, len(self.units), 1, numPartitions=len(self.units))
        found = ids.mapInArrow(
            id_task(self.units, self.repeated), "row long, event_id string"
        ).collect()
        found.sort(key=lambda row: row["row"])
        values = pd.Series([row["event_id"] for row in found], dtype="str")
        return duplicate_id_finding(values, self.max_examples)


def validate_raw_dir_spark(
    spark: SparkSession,
    raw_dir: Path | str,
    *,
    max_examples: int = 5,
    rows_per_unit: int = ROWS_PER_UNIT,
) -> ValidationReport:
    """Validate the tables of ``raw_dir`` on Spark; the pandas engine's report.

    ``rows_per_unit``: events per task, about (Parquet row groups are not split).

    Raises NotADirectoryError when ``raw_dir`` is not a directory; a missing or unreadable
    table is a finding of the report, as in :func:`features.validation.validate_raw_dir`.
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise NotADirectoryError(
            f"raw data directory {raw_dir} does not exist or is not a directory"
        )
    findings = KeyedFindings(max_examples=max_examples)
    infos: dict[str, TableInfo] = {}
    parsed = {}
    events: StoredTable | None = None
    read_calls = 0
    for index, name in enumerate((*TABLES, *_optional_present(raw_dir))):
        findings.begin(index)
        if name == STREAMED:
            events, infos[name] = open_stored(raw_dir, name, findings)
            if events is not None:
                report_extra_columns(name, list(events.columns), events.location.name, findings)
                read_calls = findings.calls
                parsed[name] = parse_table(name, empty_frame(events), findings)
            continue
        frame, infos[name] = read_whole(raw_dir, name, findings)
        if frame is not None:
            parsed[name] = parse_table(name, frame, findings)

    # step 1: every check on the small tables, the events a zero-row stand-in
    ctx = RuleContext(parsed, findings)
    for i, (_, check) in enumerate(CHECKS):
        if check not in AFTER_EVENTS:
            findings.begin(CHECK_STAGE + i)
            check(ctx)
    merger = Merger(max_examples)
    merger.take(findings.keyed)
    extraction = ctx.extraction_date
    unknown_types: pd.Series | None = None

    # step 2: the events on Spark
    if events is not None:
        # the tasks need the parents' look-ups, not their rows: zero-row stand-ins
        parents = {n: stand_in(t) for n, t in parsed.items() if n != STREAMED}
        slices = SliceChecks(parents, ctx.membership_intervals(), ctx, read_calls, max_examples)
        events_pass = _EventsPass(spark, events, slices, max_examples, rows_per_unit)
        events_pass.run(raw_dir)
        if events_pass.error is not None:
            merger.drop_table(STREAMED)
            parsed.pop(STREAMED)
            findings.begin(TABLES.index(STREAMED), 0)
            findings.keyed = []
            findings.add_table_level(
                "file_unreadable",
                STREAMED,
                None,
                {"file": events.location.name, "error": events_pass.error},
            )
            merger.take(findings.keyed)
            infos[STREAMED] = TableInfo(file=events.location.name, rows=None)
        else:
            for result in events_pass.results:
                merger.take(result.keyed)
            infos[STREAMED] = TableInfo(file=events.location.name, rows=events_pass.rows)
            duplicates = events_pass.duplicate_ids()
            if duplicates is not None:
                key = findings.key_of(CHECK_STAGE + stage_of(check_unique_keys), STREAMED, "unique")
                if key is not None:
                    merger.take([(key, duplicates)])
            extraction = latest_date(extraction, events_pass.latest())
            unknown_types = events_pass.unknown_types()

    # step 3: what needs every row, then the report (as the pandas engine)
    report = finish_report(ctx, findings, merger, infos, extraction, unknown_types, raw_dir=raw_dir)
    # the optional corrections table (issue 23), as the pandas engine adds it
    from features.spark.corrections import add_correction_findings_spark

    return add_correction_findings_spark(spark, report, raw_dir, max_examples=max_examples)
