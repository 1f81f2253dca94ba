"""Raw registry tables as Spark DataFrames, read where they lie (never collected).

A table may be stored as the project's file layout (``<raw>/<table>.parquet`` or
``<raw>/<table>.csv``, as :mod:`features.raw` reads them), or as a directory of part files
per table (``<raw>/<table>/``, ``<raw>/<table>.parquet/``, partitioned Hive-style or not),
which is what a data lake or a Spark job writes. Parquet is preferred, CSV accepted.

Two views of a table:

- :func:`read_text_table` - the contract's columns as stored (CSV cells as text), for
  the validator, which parses leniently and reports bad cells;
- :func:`typed_table` - the contract's in-memory types (``DateType`` dates, ``double``
  values, blank text null), for the feature engine, after validation passed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from features.contract import TABLE_COLUMNS, TABLES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

Format = Literal["parquet", "csv"]
# Whitespace-only text is empty (null), as in features.validation (Java regex, ASCII and
# Unicode spaces).
BLANK_PATTERN = r"^[\s\p{Z}]*$"


class RawTableNotFoundError(FileNotFoundError):
    """Neither layout holds the table; names every place looked at."""


@dataclass(frozen=True)
class TableLocation:
    """Where a table is stored and in which format."""

    path: Path
    fmt: Format

    @property
    def name(self) -> str:
        """The file or directory name, as reports show it."""
        return self.path.name


def _has_files(directory: Path, suffix: str) -> bool:
    return any(p.is_file() for p in directory.rglob(f"*{suffix}"))


def locate_table(raw_dir: Path | str, table: str) -> TableLocation:
    """The stored form of ``table``: ``<table>.parquet``, ``<table>.csv`` (file or directory),
    else a ``<table>/`` directory of ``.parquet`` (preferred) or ``.csv`` part files."""
    raw_dir = Path(raw_dir)
    formats: tuple[Format, ...] = ("parquet", "csv")
    for fmt in formats:
        candidate = raw_dir / f"{table}.{fmt}"
        if candidate.exists():
            return TableLocation(candidate, fmt)
    directory = raw_dir / table
    if directory.is_dir():
        for fmt in formats:
            if _has_files(directory, f".{fmt}"):
                return TableLocation(directory, fmt)
    raise RawTableNotFoundError(
        f"raw table {table!r} not found in {raw_dir}: expected {table}.parquet, {table}.csv "
        f"(a file or a directory of part files) or a directory {table}/ of .parquet or .csv "
        "files"
    )


def read_stored(spark: SparkSession, location: TableLocation) -> DataFrame:
    """The table as stored: Parquet with its own types, CSV with every cell as text."""
    reader = spark.read
    if location.path.is_dir():
        reader = reader.option("recursiveFileLookup", "false")
    if location.fmt == "parquet":
        return reader.parquet(str(location.path))
    return (
        reader.option("header", "true")
        .option("inferSchema", "false")
        .option("encoding", "UTF-8")
        .option("mode", "FAILFAST")
        .csv(str(location.path))
    )


def read_text_table(
    spark: SparkSession, raw_dir: Path | str, table: str
) -> tuple[DataFrame, TableLocation]:
    """(stored DataFrame, location) of ``table``; raises RawTableNotFoundError."""
    location = locate_table(raw_dir, table)
    return read_stored(spark, location), location


def typed_table(frame: DataFrame, table: str) -> DataFrame:
    """The contract's columns of a stored ``table`` frame in their in-memory types.

    Dates become ``DateType`` (text parsed as ISO ``yyyy-MM-dd``, timestamps truncated),
    floats ``double``, text keeps its value with blank cells null. Only for data that
    passed validation: a cell that does not parse becomes null here, silently.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import DateType, StringType

    types = dict(frame.dtypes)
    columns = []
    for column in TABLE_COLUMNS[table]:
        col = F.col(column.name)
        kind = types[column.name]
        if column.kind == "date":
            text = kind == "string"
            col = F.try_to_date(F.trim(col), "yyyy-MM-dd") if text else col.cast(DateType())
        elif column.kind == "float":
            col = col.cast("double")
        else:
            col = col.cast(StringType())
            col = F.when(~col.rlike(BLANK_PATTERN), col)
        columns.append(col.alias(column.name))
    return frame.select(*columns)


def read_typed_table(spark: SparkSession, raw_dir: Path | str, table: str) -> DataFrame:
    """Read and type ``table`` of ``raw_dir`` (see :func:`typed_table`)."""
    frame, _ = read_text_table(spark, raw_dir, table)
    return typed_table(frame, table)


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
