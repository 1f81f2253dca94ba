"""Validate a raw directory without holding its largest table: events are read in slices.

At national scale the events table is about 95% of the registry (69 million rows at one
million families over three years), while the other five tables fit in memory easily. The
streamed validator therefore reads families, persons, memberships, outcomes and protected
whole, and events one slice of ``slice_rows`` rows at a time; every rule gives the same
findings (rule, table, column, count, example keys, order) as the whole-table validator:

- the checks run once on the small tables (events a zero-row stand-in), then once per
  slice of events (the small tables zero-row stand-ins for the rows reported on, their full
  versions the parents that foreign keys and membership intervals look up);
- every finding is keyed by (check, call within the check): the checks call the findings
  collector in the same order whatever the rows, so sorting by the key restores the
  whole-table report's order; counts add up over slices and the first examples win (slices
  come in row order, and row examples carry the slice's offset);
- the two facts no slice can know alone are computed across slices: the extraction date
  (the latest ``recorded_date``, needed by the birth-date rule, which runs last) and the
  uniqueness of ``event_id`` (64-bit hashes of every id are kept, about 9 bytes per event;
  the rare colliding ones are compared by value in a second read of that column).

Cost: linear in the events. What the slices share is prepared once, in the first pass: the
parents' ids hashed and sorted for the foreign-key look-ups
(:class:`features.validation.kernels.KeyIndex`) and the memberships sorted for the
attribution look-ups (:class:`features.validation.kernels.CoverIndex`); before that, each
slice rebuilt them from the millions of parent rows, so the cost grew with slices x
parents, i.e. with the square of the registry's size. Event ids are hashed a machine word
at a time (:func:`features.validation.kernels.text_hashes`), not through pandas' per-row
object hashing.

Memory: the small tables plus one slice (and the id hashes), not the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from features.contract import ALL_TABLES, TABLE_COLUMNS, TABLES
from features.raw import optional_tables_present
from features.validation.kernels import text_hashes
from features.validation.parse import (
    arrow_frame,
    csv_options,
    parse_column,
    parse_table,
    read_table,
    report_extra_columns,
    stored_columns,
    table_file,
)
from features.validation.progress import progress_bar
from features.validation.report import RuleViolation, TableInfo, ValidationReport
from features.validation.rules import (
    CHECKS,
    RULES,
    Findings,
    Intervals,
    ParsedTable,
    RuleContext,
    check_birth_not_future,
    check_not_empty,
    check_unique_keys,
    report_empty_tables,
    unknown_types_listing,
)

STREAMED = "events"
DEFAULT_SLICE_ROWS = 1_000_000
# Findings about a file or a column, not rows: every slice repeats them, they count once.
_TABLE_LEVEL = frozenset({"file_missing", "file_unreadable", "column_missing", "extra_column"})
CHECK_STAGE = 100  # stage numbers: tables 0..5 while read and parsed, checks from here
# Checks run once every slice of events is read: the birth rule needs the extraction date,
# the empty-table rule the tables' row counts (events is a zero-row stand-in before that).
AFTER_EVENTS = (check_birth_not_future, check_not_empty)

Key = tuple[int, int]


class KeyedFindings(Findings):
    """Findings that remember which call made them: (stage, call number within the stage)."""

    def __init__(self, *, max_examples: int) -> None:
        super().__init__(max_examples=max_examples)
        self.stage = 0
        self.calls = 0
        self.keyed: list[tuple[Key, RuleViolation]] = []
        self.call_log: list[tuple[Key, str, str | None, str]] = []

    def begin(self, stage: int, calls: int = 0) -> None:
        """Start numbering the calls of ``stage`` after ``calls`` earlier ones."""
        self.stage, self.calls = stage, calls

    def _log(self, table: str, column: str | None, rule: str) -> None:
        self.calls += 1
        self.call_log.append(((self.stage, self.calls), table, column, rule))

    def add_table_level(
        self, rule: str, table: str, column: str | None, fields: Mapping[str, object]
    ) -> None:
        self._log(table, column, rule)
        super().add_table_level(rule, table, column, fields)

    def add(
        self,
        rule: str,
        table: ParsedTable,
        column: str | None,
        mask: np.ndarray | pd.Series,
        **options: Any,
    ) -> int:
        self._log(table.name, column, rule)
        return super().add(rule, table, column, mask, **options)

    def _append(self, violation: RuleViolation) -> None:
        super()._append(violation)
        self.keyed.append(((self.stage, self.calls), violation))

    def key_of(self, stage: int, table: str, rule: str) -> Key | None:
        """The key of the call of ``stage`` that checked ``rule`` on ``table`` (None: none)."""
        for key, name, _, logged_rule in self.call_log:
            if key[0] == stage and name == table and logged_rule == rule:
                return key
        return None


@dataclass
class _Merged:
    first: RuleViolation
    count: int
    examples: list[str]


class Merger:
    """Adds up the findings of slices by key; the first ``max_examples`` examples win."""

    def __init__(self, max_examples: int) -> None:
        self.max_examples = max_examples
        self.items: dict[Key, _Merged] = {}

    def take(self, keyed: list[tuple[Key, RuleViolation]]) -> None:
        for key, violation in keyed:
            merged = self.items.get(key)
            if merged is None:
                self.items[key] = _Merged(violation, violation.count, list(violation.examples))
            elif violation.rule not in _TABLE_LEVEL:
                merged.count += violation.count
                room = self.max_examples - len(merged.examples)
                merged.examples.extend(violation.examples[: max(room, 0)])

    def drop_table(self, table: str) -> None:
        self.items = {k: m for k, m in self.items.items() if m.first.table != table}

    def violations(self, unknown_types: pd.Series | None) -> list[RuleViolation]:
        out = []
        for key in sorted(self.items):
            merged = self.items[key]
            description = merged.first.description
            if merged.first.rule == "unknown_event_type" and unknown_types is not None:
                description = RULES["unknown_event_type"].describe(
                    listing=unknown_types_listing(unknown_types)
                )
            out.append(
                RuleViolation(
                    merged.first.table,
                    merged.first.column,
                    merged.first.rule,
                    description,
                    merged.count,
                    tuple(merged.examples[: self.max_examples]),
                    merged.first.severity,
                )
            )
        return out


@dataclass(frozen=True)
class _Source:
    """The streamed table's file and the contract columns it has."""

    path: Path
    columns: list[str]


def validate_streamed(
    raw_dir: Path | str,
    *,
    progress: bool = False,
    max_examples: int = 5,
    slice_rows: int = DEFAULT_SLICE_ROWS,
) -> ValidationReport:
    """Validate ``raw_dir`` like :func:`features.validation.validate_raw_dir`, reading events
    ``slice_rows`` rows at a time (see the module docstring)."""
    report, _ = validate_streamed_tables(
        raw_dir, progress=progress, max_examples=max_examples, slice_rows=slice_rows
    )
    return report


# Called with each parsed slice of events and the parsed small tables (by name).
SliceHook = Callable[[pd.DataFrame, dict[str, ParsedTable]], None]


def validate_streamed_tables(
    raw_dir: Path | str,
    *,
    progress: bool = False,
    max_examples: int = 5,
    slice_rows: int = DEFAULT_SLICE_ROWS,
    on_slice: SliceHook | None = None,
) -> tuple[ValidationReport, dict[str, ParsedTable]]:
    """The report and the parsed small tables (everything but events), for callers that go
    on to use them (:mod:`features.partitioned_raw`); ``on_slice`` sees every parsed slice
    of events once it is checked (the same pass writes them out by partition)."""
    if slice_rows < 1:
        raise ValueError(f"slice_rows must be >= 1, got {slice_rows}")
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise NotADirectoryError(
            f"raw data directory {raw_dir} does not exist or is not a directory"
        )
    findings = KeyedFindings(max_examples=max_examples)
    infos: dict[str, TableInfo] = {}
    parsed: dict[str, ParsedTable] = {}
    streamed_index = TABLES.index(STREAMED)
    source: _Source | None = None
    read_calls = 0
    with progress_bar(progress, total=len(TABLES) + len(CHECKS)) as advance:
        for index, name in enumerate((*TABLES, *optional_tables_present(raw_dir))):
            findings.begin(index)
            if name == STREAMED:
                source, infos[name] = _open_source(raw_dir, findings)
                read_calls = findings.calls
                if source is not None:  # a zero-row stand-in (reports missing columns once)
                    parsed[name] = parse_table(name, _empty_frame(source), findings)
            else:
                frame, infos[name] = read_table(raw_dir, name, findings)
                if frame is not None:
                    parsed[name] = parse_table(name, frame, findings)
            advance(f"read {name}")

        # pass 1: the small tables' rows (events a stand-in); the birth rule runs last
        ctx = RuleContext(parsed, findings)
        for i, (label, check) in enumerate(CHECKS):
            if check not in AFTER_EVENTS:
                findings.begin(CHECK_STAGE + i)
                check(ctx)
            advance(f"checked {label}")
        merger = Merger(max_examples)
        merger.take(findings.keyed)
        extraction = ctx.extraction_date
        unknown_types: pd.Series | None = None

        # pass 2: events, slice by slice
        if source is not None:
            slices = SliceChecks(
                parsed, ctx.membership_intervals(), ctx, read_calls, max_examples, on_slice
            )
            try:
                for frame in _slices(source, slice_rows):
                    slices.check(frame, merger)
                    advance(f"checked {slices.rows:,} events")
                duplicates = slices.duplicate_ids(source, slice_rows, findings, max_examples)
            except (OSError, ValueError, pyarrow.ArrowException) as error:
                merger.drop_table(STREAMED)
                parsed.pop(STREAMED)
                findings.begin(streamed_index, 0)
                findings.keyed = []
                findings.add_table_level(
                    "file_unreadable", STREAMED, None, {"file": source.path.name, "error": error}
                )
                merger.take(findings.keyed)
                infos[STREAMED] = TableInfo(file=source.path.name, rows=None)
            else:
                infos[STREAMED] = TableInfo(file=source.path.name, rows=slices.rows)
                if duplicates is not None:
                    merger.take([duplicates])
                extraction = latest_date(extraction, slices.latest_recorded)
                unknown_types = slices.unknown_types

        report = finish_report(
            ctx, findings, merger, infos, extraction, unknown_types, raw_dir=raw_dir
        )
    parsed.pop(STREAMED, None)
    return report, parsed


def stage_of(check: object) -> int:
    return next(i for i, (_, c) in enumerate(CHECKS) if c is check)


def latest_date(a: pd.Timestamp | None, b: pd.Timestamp | None) -> pd.Timestamp | None:
    present = [d for d in (a, b) if d is not None and not pd.isna(d)]
    return max(present) if present else None


class SliceChecks:
    """Runs the checks on one slice of events at a time and keeps what spans slices."""

    def __init__(
        self,
        parsed: dict[str, ParsedTable],
        intervals: Intervals | None,
        first_pass: RuleContext,
        read_calls: int,
        max_examples: int,
        on_slice: SliceHook | None = None,
    ) -> None:
        self.parents = {name: table for name, table in parsed.items() if name != STREAMED}
        self.stand_ins = {name: stand_in(table) for name, table in self.parents.items()}
        self.intervals = intervals
        self.parent_keys = first_pass.parent_keys
        self.read_calls = read_calls
        self.max_examples = max_examples
        self.on_slice = on_slice
        self.rows = 0
        self.latest_recorded: pd.Timestamp | None = None
        self.unknown_types: pd.Series | None = None
        self._hashes: list[np.ndarray] = []
        self._present: list[np.ndarray] = []

    def check(self, frame: pd.DataFrame, merger: Merger) -> None:
        findings = KeyedFindings(max_examples=self.max_examples)
        findings.begin(TABLES.index(STREAMED), self.read_calls)
        events = parse_table(STREAMED, frame, findings, offset=self.rows)
        ctx = RuleContext(
            {**self.stand_ins, STREAMED: events},
            findings,
            parents=self.parents,
            parent_keys=self.parent_keys,
            intervals=self.intervals,
            unique_elsewhere=frozenset({STREAMED}),
        )
        for i, (_, check) in enumerate(CHECKS):
            if check not in AFTER_EVENTS:
                findings.begin(CHECK_STAGE + i)
                check(ctx)
        merger.take(findings.keyed)
        self.latest_recorded = latest_date(self.latest_recorded, ctx.extraction_date)
        if ctx.unknown_event_types is not None:
            counts = ctx.unknown_event_types
            if self.unknown_types is not None:
                counts = self.unknown_types.add(counts, fill_value=0).astype("int64")
            self.unknown_types = counts.sort_values(ascending=False, kind="stable")
        if events.has("event_id"):
            hashes, present = text_hashes(events.frame["event_id"])
            self._present.append(present)
            self._hashes.append(hashes)
        if self.on_slice is not None:
            self.on_slice(events.frame, self.parents)
        self.rows += len(frame)

    def duplicate_ids(
        self, source: _Source, slice_rows: int, findings: KeyedFindings, max_examples: int
    ) -> tuple[Key, RuleViolation] | None:
        """The ``unique`` finding on event_id across all slices (None: every id is unique)."""
        key = findings.key_of(CHECK_STAGE + stage_of(check_unique_keys), STREAMED, "unique")
        if key is None or not self._hashes:
            return None
        hashes = np.concatenate(self._hashes)
        present = np.concatenate(self._present)
        self._hashes, self._present = [], []
        ordered = np.sort(hashes[present])
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        if len(repeated) == 0:
            return None
        candidates = np.flatnonzero(present & np.isin(hashes, repeated))
        del hashes, present
        values = _column_at(source, "event_id", candidates, slice_rows)
        violation = duplicate_id_finding(values, max_examples)
        return None if violation is None else (key, violation)

    def start_at(self, row: int) -> None:
        """Forget what earlier slices left and number the next slice's rows from ``row``
        (the Spark engine reuses one instance for the units of events a worker checks)."""
        self.rows = row
        self.latest_recorded = None
        self.unknown_types = None
        self._hashes, self._present = [], []

    def id_hashes(self) -> tuple[np.ndarray, np.ndarray]:
        """(64-bit hash of every event_id checked since :meth:`start_at`, whether the id
        was present), in row order: what the registry-wide uniqueness rule compares."""
        if not self._hashes:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=bool)
        return np.concatenate(self._hashes), np.concatenate(self._present)


def duplicate_id_finding(values: pd.Series, max_examples: int) -> RuleViolation | None:
    """The ``unique`` finding on events.event_id from the parsed ids of every row whose
    id's hash repeats, in row order (None when equal hashes hid different ids)."""
    involved = values.duplicated(keep=False).to_numpy()
    first = involved & ~values.duplicated(keep="first").to_numpy()
    if not involved.any():  # hashes collided, values differ
        return None
    examples = tuple(str(v) for v in values[first].head(max_examples))
    return RuleViolation(
        STREAMED,
        "event_id",
        "unique",
        RULES["unique"].describe(table=STREAMED, column="event_id"),
        int(involved.sum()),
        examples,
        RULES["unique"].severity,
    )


def _column_at(source: _Source, column: str, positions: np.ndarray, slice_rows: int) -> pd.Series:
    """The parsed values of ``column`` at the (sorted) row ``positions``, read again."""
    contract = next(c for c in TABLE_COLUMNS[STREAMED] if c.name == column)
    parts = []
    start = 0
    for frame in _slices(_Source(source.path, [column]), slice_rows):
        stop = start + len(frame)
        inside = positions[(positions >= start) & (positions < stop)] - start
        values, _, _ = parse_column(contract, frame[column])
        parts.append(values.iloc[inside])
        start = stop
    return pd.concat(parts, ignore_index=True)


def finish_report(
    ctx: RuleContext,
    findings: KeyedFindings,
    merger: Merger,
    infos: Mapping[str, TableInfo],
    extraction: pd.Timestamp | None,
    unknown_types: pd.Series | None,
    *,
    raw_dir: Path,
) -> ValidationReport:
    """The last step of both engines (this one and features.spark.validation), once every
    row was seen: the rules that need all of them (an empty table; a birth date after the
    extraction date, the latest recorded date of all tables), then the report. One function,
    so the pandas and the Spark validator cannot drift apart in what they report last."""
    findings.keyed = []
    findings.begin(CHECK_STAGE + stage_of(check_not_empty))
    report_empty_tables(findings, {name: info.rows for name, info in infos.items()})
    findings.begin(CHECK_STAGE + stage_of(check_birth_not_future))
    ctx.extraction_date = extraction
    check_birth_not_future(ctx)
    merger.take(findings.keyed)
    violations = merger.violations(unknown_types)
    return ValidationReport(
        errors=[v for v in violations if v.severity == "error"],
        suspicious=[v for v in violations if v.severity != "error"],
        tables={name: infos[name] for name in ALL_TABLES if name in infos},
        source=str(raw_dir),
        extraction_date=None if extraction is None else f"{extraction:%Y-%m-%d}",
    )


def _open_source(raw_dir: Path, findings: Findings) -> tuple[_Source | None, TableInfo]:
    """Find the streamed table's file and its columns, as the whole-table reader does."""
    path = table_file(raw_dir, STREAMED, findings)
    if path is None:
        return None, TableInfo(file=None, rows=None)
    try:
        columns = stored_columns(path)
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        findings.add_table_level(
            "file_unreadable", STREAMED, None, {"file": path.name, "error": error}
        )
        return None, TableInfo(file=path.name, rows=None)
    wanted = [c.name for c in TABLE_COLUMNS[STREAMED] if c.name in columns]
    report_extra_columns(STREAMED, columns, path.name, findings)
    return _Source(path, wanted), TableInfo(file=path.name, rows=None)


def _empty_frame(source: _Source) -> pd.DataFrame:
    """Zero rows with the columns and types a slice of ``source`` has."""
    if source.path.suffix == ".parquet":
        schema = pq.read_schema(source.path)
        return arrow_frame(schema.empty_table().select(source.columns))
    return pd.DataFrame({c: pd.Series([], dtype="str") for c in source.columns})


def _slices(source: _Source, rows: int) -> Iterator[pd.DataFrame]:
    """The table in slices of about ``rows`` rows, in file order, typed as the whole-table
    reader types them."""
    if source.path.suffix == ".parquet":
        parquet = pq.ParquetFile(source.path)
        for batch in parquet.iter_batches(batch_size=rows, columns=source.columns):
            yield arrow_frame(pyarrow.Table.from_batches([batch])).reset_index(drop=True)
        return
    reader = pcsv.open_csv(source.path, convert_options=csv_options(source.columns))
    pending: list[pyarrow.RecordBatch] = []
    held = 0
    for batch in reader:
        pending.append(batch)
        held += batch.num_rows
        if held >= rows:
            yield pyarrow.Table.from_batches(pending).to_pandas()
            pending, held = [], 0
    if pending:
        yield pyarrow.Table.from_batches(pending).to_pandas()


def stand_in(table: ParsedTable) -> ParsedTable:
    """``table`` with no rows (same columns and types): checks on it report nothing."""
    return ParsedTable(
        table.name,
        table.frame.iloc[:0],
        {c: m[:0] for c, m in table.empty.items()},
        {c: m[:0] for c, m in table.malformed.items()},
    )
