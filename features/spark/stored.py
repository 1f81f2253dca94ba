"""A raw table where Spark finds it, read as the pandas validator reads one file.

The Spark validator (:mod:`features.spark.validation`) runs the pandas validator's own
rules, so it must hand them the frames :mod:`features.validation.parse` would have read:
the contract's columns as stored (Parquet with its types, dates at second resolution;
CSV cells as text, empty cells null). What differs is *where* a table may lie: besides
``<raw>/<table>.parquet|csv`` (all the pandas engine reads), a directory of part files,
plain or Hive-partitioned (``key=value`` folders), as a data lake or a Spark job writes
(:func:`features.spark.raw.locate_table`). Part files are read in sorted path order (the
order the layout of :mod:`features.spark.buckets` numbers rows in), and a Hive key that is
a contract column is a text column of every row below it.

Only the first part file's header is consulted for the columns (part files of one table
share their schema; a part file without a wanted column cannot be read, and is reported
as the table being unreadable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from features.contract import TABLE_COLUMNS
from features.spark.buckets import RawUnit, partition_values, stored_files
from features.spark.raw import RawTableNotFoundError, TableLocation, locate_table
from features.validation.parse import arrow_frame, csv_options, report_extra_columns
from features.validation.report import TableInfo
from features.validation.rules import Findings

# What reading a stored file raises for a file that is not what its name says.
READ_ERRORS = (OSError, ValueError, KeyError, pyarrow.ArrowException)


@dataclass(frozen=True)
class StoredTable:
    """One table's files and the contract columns they hold (``wanted``, contract order)."""

    name: str
    location: TableLocation
    files: tuple[Path, ...]
    columns: tuple[str, ...]
    wanted: tuple[str, ...]


def _header(path: Path, fmt: str) -> list[str]:
    if fmt == "parquet":
        return list(pq.read_schema(path).names)
    # the pandas validator's header reading (features.validation.parse.read_table)
    return [str(c) for c in pd.read_csv(path, nrows=0, encoding="utf-8").columns]


def open_stored(
    raw_dir: Path | str, name: str, findings: Findings
) -> tuple[StoredTable | None, TableInfo]:
    """Locate ``name`` and read its columns (``file_missing``/``file_unreadable`` findings
    when it cannot be). The caller reports extra columns when the pandas validator would
    (:func:`features.validation.parse.report_extra_columns`)."""
    try:
        location = locate_table(raw_dir, name)
    except RawTableNotFoundError:
        findings.add_table_level("file_missing", name, None, {"raw_dir": raw_dir})
        return None, TableInfo(file=None, rows=None)
    files = tuple(stored_files(location.path, location.fmt))
    try:
        columns = _header(files[0], location.fmt)
    except READ_ERRORS as error:
        findings.add_table_level(
            "file_unreadable", name, None, {"file": location.name, "error": error}
        )
        return None, TableInfo(file=location.name, rows=None)
    keys = [key for key, _ in partition_values(location.path, files[0]) if key not in columns]
    columns += keys
    wanted = tuple(c.name for c in TABLE_COLUMNS[name] if c.name in columns)
    stored = StoredTable(name, location, files, tuple(columns), wanted)
    return stored, TableInfo(file=location.name, rows=None)


def read_part(unit: RawUnit, wanted: Sequence[str]) -> pd.DataFrame:
    """The ``wanted`` columns of one part file (or some of its row groups), as the pandas
    validator reads a whole file; a Hive key column as text. Raises one of
    :data:`READ_ERRORS` for a file that cannot be read."""
    keys = dict(unit.partition_values)
    stored = [c for c in wanted if c not in keys]
    path = Path(unit.path)
    if unit.fmt == "parquet":
        parquet = pq.ParquetFile(path)
        if unit.row_groups is None:
            table = parquet.read(columns=stored)
        else:
            table = parquet.read_row_groups(list(unit.row_groups), columns=stored)
        frame = arrow_frame(table)
    else:
        frame = pcsv.read_csv(path, convert_options=csv_options(stored)).to_pandas()
    for column in stored:
        if column not in frame.columns:
            raise KeyError(f"part file {path.name} has no column {column!r}")
    for key, value in keys.items():
        if key in wanted:
            frame[key] = pd.Series([value] * len(frame), dtype="str")
    return frame[list(wanted)]


def whole_units(stored: StoredTable) -> list[RawUnit]:
    """One unit per part file (every row group), in stored order."""
    return [
        RawUnit(
            stored.name,
            str(path),
            stored.location.fmt,
            None,
            0,
            partition_values(stored.location.path, path),
        )
        for path in stored.files
    ]


def read_units(units: Sequence[RawUnit], wanted: Sequence[str]) -> pd.DataFrame:
    """The rows of ``units`` one after the other (a fresh 0-based index)."""
    frames = [read_part(unit, wanted) for unit in units]
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    return pd.concat(frames, ignore_index=True)


def read_whole(
    raw_dir: Path | str, name: str, findings: Findings
) -> tuple[pd.DataFrame | None, TableInfo]:
    """A whole (small) table, with the findings :func:`features.validation.parse.read_table`
    makes for a file: missing, unreadable, extra columns (after a successful read)."""
    stored, info = open_stored(raw_dir, name, findings)
    if stored is None:
        return None, info
    try:
        frame = read_units(whole_units(stored), stored.wanted)
    except READ_ERRORS as error:
        findings.add_table_level(
            "file_unreadable", name, None, {"file": stored.location.name, "error": error}
        )
        return None, TableInfo(file=stored.location.name, rows=None)
    report_extra_columns(name, list(stored.columns), stored.location.name, findings)
    return frame, TableInfo(file=stored.location.name, rows=len(frame))


def empty_frame(stored: StoredTable) -> pd.DataFrame:
    """Zero rows with the columns and types a part of ``stored`` reads as (the stand-in
    the first pass of the checks sees for the events)."""
    first = stored.files[0]
    keys = dict(partition_values(stored.location.path, first))
    if stored.location.fmt == "parquet":
        schema = pq.read_schema(first)
        present = [c for c in stored.wanted if c not in keys]
        frame = arrow_frame(schema.empty_table().select(present))
    else:
        frame = pd.DataFrame({c: pd.Series([], dtype="str") for c in stored.wanted})
    for key in keys:
        if key in stored.wanted:
            frame[key] = pd.Series([], dtype="str")
    return frame[list(stored.wanted)]
