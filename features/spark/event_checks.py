"""The pandas validator's checks on the events, one unit of rows per Spark task.

Events are about 95 % of a registry. The streamed pandas validator
(:mod:`features.validation.stream`) checks them slice by slice against what a first pass
over the five small tables prepared (the parents' ids for the foreign keys, the
memberships for attribution: :class:`features.validation.stream.SliceChecks`); a slice
needs nothing from another slice but the uniqueness of ``event_id``. So on Spark each
task checks one *unit* (a group of Parquet row groups of about
:data:`features.spark.buckets.ROWS_PER_UNIT` rows, or, for CSV, the table's files, whose
row counts are unknown until read) with that same code, and hands back

- its findings (keyed as the streamed validator keys them, so the driver merges the units
  in row order into the very report the pandas engine writes), rows read, latest
  ``recorded_date`` and unknown event types: one pickled row per unit;
- the 64-bit hashes of its event ids, bucketed by hash, sorted, one binary row per bucket:
  Spark shuffles these by bucket (:func:`repeated_id_hashes`) and each bucket's task finds
  the hashes that occur more than once across the whole registry. Only the rows with such
  a hash (none in valid data) are read again, to compare the ids themselves
  (:func:`ids_at`).

The first pass's results reach the tasks as one broadcast (:class:`SliceChecks` pickled);
each Python worker unpickles it once per validation and keeps it while it runs that
validation's tasks. Rows never pass through the JVM, only findings and hashes.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from features.contract import TABLE_COLUMNS
from features.spark.buckets import RawUnit
from features.spark.stored import READ_ERRORS, read_units
from features.validation.parse import parse_column
from features.validation.report import RuleViolation
from features.validation.stream import Key, Merger, SliceChecks

if TYPE_CHECKING:
    from pyspark import Broadcast

FINDINGS = -1  # the bucket of the rows that carry a unit's findings
OUT_SCHEMA = "unit int, bucket int, blob binary"


@dataclass(frozen=True)
class EventUnit:
    """One task's rows of events: part files (or row groups), and the row number of the
    first (the examples of keyless rows name rows in stored order)."""

    parts: tuple[RawUnit, ...]
    first_row: int


@dataclass
class UnitResult:
    """What one unit's checks found (``error``: the unit could not be read, and why)."""

    unit: int
    rows: int
    keyed: list[tuple[Key, RuleViolation]]
    latest: pd.Timestamp | None
    unknown_types: pd.Series | None
    error: str | None = None


def event_units(parquet_units: Sequence[RawUnit]) -> list[EventUnit]:
    """Tasks' units from :func:`features.spark.buckets.plan_units`'s: a Parquet unit alone
    (its first row is known from the footers), CSV files together in one unit."""
    csv = tuple(u for u in parquet_units if u.fmt == "csv")
    units = [EventUnit((u,), u.first_row) for u in parquet_units if u.fmt == "parquet"]
    if csv:
        units.append(EventUnit(csv, 0))
    return units


# -- the worker's copy of the first pass -------------------------------------------------

_LOCK = threading.Lock()
_CACHED: tuple[str, SliceChecks] | None = None


def _checks_for(run_id: str, state: Broadcast[bytes]) -> SliceChecks:
    """The first pass's :class:`SliceChecks` of validation ``run_id``, unpickled once per
    Python worker (a later validation replaces it)."""
    global _CACHED
    with _LOCK:
        if _CACHED is None or _CACHED[0] != run_id:
            _CACHED = None
            _CACHED = (run_id, pickle.loads(state.value))
        return _CACHED[1]


def forget_checks() -> None:
    """Drop the worker's copy of a validation's first pass (a feature task needs the
    memory: at a million families the look-ups are a few hundred MB)."""
    global _CACHED
    with _LOCK:
        _CACHED = None


# -- one unit -------------------------------------------------------------------------


def check_unit(
    checks: SliceChecks, unit: EventUnit, index: int, wanted: Sequence[str]
) -> tuple[UnitResult, np.ndarray]:
    """(findings of ``unit``, the hashes of its present event ids) by the streamed
    validator's slice checks."""
    try:
        frame = read_units(unit.parts, wanted)
    except READ_ERRORS as error:
        message = str(error) or repr(error)
        return UnitResult(index, 0, [], None, None, message), np.zeros(0, dtype=np.uint64)
    merger = Merger(checks.max_examples)
    checks.start_at(unit.first_row)
    checks.check(frame, merger)
    hashes, present = checks.id_hashes()
    keyed = [
        (key, _violation(merged.first, merged.count, merged.examples))
        for key, merged in merger.items.items()
    ]
    result = UnitResult(index, len(frame), keyed, checks.latest_recorded, checks.unknown_types)
    return result, hashes[present]


def _violation(first: RuleViolation, count: int, examples: list[str]) -> RuleViolation:
    return RuleViolation(
        first.table,
        first.column,
        first.rule,
        first.description,
        count,
        tuple(examples),
        first.severity,
    )


def _hash_rows(unit: int, hashes: np.ndarray, buckets: int) -> pa.RecordBatch:
    """One row per bucket: the unit's hashes of that bucket, sorted, as bytes."""
    of = (hashes % np.uint64(buckets)).astype(np.int32)
    order = np.lexsort((hashes, of))
    hashes, of = hashes[order], of[order]
    starts = np.searchsorted(of, np.arange(buckets + 1))
    blobs = [hashes[starts[b] : starts[b + 1]].tobytes() for b in range(buckets)]
    return pa.RecordBatch.from_pydict(
        {"unit": [unit] * buckets, "bucket": list(range(buckets)), "blob": blobs},
        schema=_SCHEMA,
    )


_SCHEMA = pa.schema([("unit", pa.int32()), ("bucket", pa.int32()), ("blob", pa.binary())])


def check_task(
    units: Sequence[EventUnit],
    wanted: Sequence[str],
    run_id: str,
    state: Broadcast[bytes],
    buckets: int,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function that checks the units whose ids it receives (see the
    module docstring for its rows)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        checks = _checks_for(run_id, state)
        for batch in batches:
            for index in batch.column("id").to_pylist():
                result, hashes = check_unit(checks, units[index], index, wanted)
                yield pa.RecordBatch.from_pydict(
                    {"unit": [index], "bucket": [FINDINGS], "blob": [pickle.dumps(result)]},
                    schema=_SCHEMA,
                )
                if len(hashes):
                    yield _hash_rows(index, hashes, buckets)

    return run


def repeat_task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """After the shuffle by bucket: findings rows pass through; a bucket's hashes from every
    unit are compared, and the hashes seen more than once leave as one row."""
    parts: list[np.ndarray] = []
    for batch in batches:
        buckets = batch.column("bucket").to_numpy()
        keep = np.flatnonzero(buckets == FINDINGS)
        if len(keep):
            yield batch.take(pa.array(keep))
        blobs = batch.column("blob")
        for i in np.flatnonzero(buckets != FINDINGS).tolist():
            parts.append(np.frombuffer(blobs[i].as_py(), dtype=np.uint64))
    if not parts:
        return
    ordered = np.sort(np.concatenate(parts))
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    if len(repeated):
        yield pa.RecordBatch.from_pydict(
            {"unit": [-1], "bucket": [-2], "blob": [repeated.tobytes()]}, schema=_SCHEMA
        )


def id_task(
    units: Sequence[EventUnit], repeated: np.ndarray
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function returning ``(row, event_id)`` of every row whose
    event_id hashes to one of ``repeated`` (rows numbered as in :class:`EventUnit`)."""
    from features.validation.kernels import text_hashes

    column = next(c for c in TABLE_COLUMNS["events"] if c.name == "event_id")

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for index in batch.column("id").to_pylist():
                unit = units[index]
                frame = read_units(unit.parts, ["event_id"])
                values, _, _ = parse_column(column, frame["event_id"])
                hashes, present = text_hashes(values)
                rows = np.flatnonzero(present & np.isin(hashes, repeated))
                yield pa.RecordBatch.from_pydict(
                    {
                        "row": (rows + unit.first_row).astype(np.int64),
                        "event_id": values.iloc[rows].astype(str).tolist(),
                    }
                )

    return run


def unpickled(blob: bytes) -> Any:
    """A findings row's :class:`UnitResult` (the driver's side of :func:`check_task`)."""
    return pickle.loads(blob)
