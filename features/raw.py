"""Reading and writing raw registry tables in the contract's in-memory shape.

In memory, every raw table has exactly the contract's columns in order; ids and strings
are pandas strings, dates are ``datetime64[ns]`` (NaT for null), ``value`` of events is
float64. Parquet is preferred on disk, CSV (UTF-8, ISO dates) is accepted.

This module converts types and nothing else; it does not check the contract's rules.
Use :func:`features.validation.load_validated` in pipelines: it refuses broken data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import pandas as pd

from features.contract import OPTIONAL_TABLES, TABLE_COLUMNS, TABLES

DATE_DTYPE = "datetime64[ns]"


@dataclass
class RawTables:
    """The six contract tables of one registry, in memory."""

    families: pd.DataFrame
    persons: pd.DataFrame
    memberships: pd.DataFrame
    events: pd.DataFrame
    outcomes: pd.DataFrame
    protected: pd.DataFrame

    def items(self) -> Iterable[tuple[str, pd.DataFrame]]:
        """(table name, frame) pairs in contract order."""
        return ((f.name, getattr(self, f.name)) for f in fields(self))


def table_path(raw_dir: Path | str, table: str) -> Path:
    """The file holding ``table`` in ``raw_dir``: Parquet preferred, else CSV.

    Raises FileNotFoundError naming both candidates when neither exists.
    """
    raw_dir = Path(raw_dir)
    for suffix in (".parquet", ".csv"):
        candidate = raw_dir / f"{table}{suffix}"
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"raw table {table!r} not found: expected {raw_dir / (table + '.parquet')} "
        f"or {raw_dir / (table + '.csv')}"
    )


def optional_tables_present(raw_dir: Path | str) -> tuple[str, ...]:
    """The optional tables (``contract.OPTIONAL_TABLES``) that ``raw_dir`` holds a file of:
    the validators check these beside the six every registry has."""
    present = []
    for table in OPTIONAL_TABLES:
        try:
            table_path(raw_dir, table)
        except FileNotFoundError:
            continue
        present.append(table)
    return tuple(present)


def coerce_table(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with the contract's columns of ``table`` in order and in-memory types.

    Extra columns are dropped; a missing column raises KeyError naming it. Values that do
    not convert (a date that is not ISO, a value that is not a number) raise ValueError
    naming the table and column; the validator reports those row by row beforehand.
    """
    columns = TABLE_COLUMNS[table]
    missing = [c.name for c in columns if c.name not in frame.columns]
    if missing:
        raise KeyError(f"table {table!r} lacks column(s) {missing}")
    out = {}
    for column in columns:
        series = frame[column.name]
        try:
            if column.kind == "date":
                converted = pd.to_datetime(series, format="ISO8601", errors="raise")
                out[column.name] = converted.astype(DATE_DTYPE)
            elif column.kind == "float":
                out[column.name] = pd.to_numeric(series, errors="raise").astype("float64")
            else:
                text = series.astype("string")
                out[column.name] = text.where(text.str.len() > 0, pd.NA).astype("str")
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"{table}.{column.name}: cannot convert to {column.kind}: {error}"
            ) from error
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def read_table_file(path: Path) -> pd.DataFrame:
    """Read one raw table file as it is on disk (CSV cells as strings, nothing converted)."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")


def read_table(raw_dir: Path | str, table: str) -> pd.DataFrame:
    """Read and type-convert one raw table (see :func:`coerce_table`)."""
    return coerce_table(table, read_table_file(table_path(raw_dir, table)))


def read_raw(raw_dir: Path | str) -> RawTables:
    """Read all six raw tables of ``raw_dir`` without checking the contract's rules."""
    return RawTables(**{table: read_table(raw_dir, table) for table in TABLES})


def write_raw(
    tables: RawTables, out_dir: Path | str, *, fmt: Literal["parquet", "csv"] = "parquet"
) -> Path:
    """Write all six tables to ``out_dir`` as ``<table>.parquet`` or ``<table>.csv``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for table, frame in tables.items():
        if fmt == "parquet":
            frame.to_parquet(out_dir / f"{table}.parquet", index=False)
        else:
            text = frame.copy()
            for column in TABLE_COLUMNS[table]:
                if column.kind == "date":
                    text[column.name] = text[column.name].dt.strftime("%Y-%m-%d")
            text.to_csv(out_dir / f"{table}.csv", index=False, encoding="utf-8")
    return out_dir
