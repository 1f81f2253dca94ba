"""Read a raw registry's tables leniently: file adapter and per-column parsing.

Reading is lenient on purpose: CSV cells are read as text and each column is parsed on
its own, so a malformed date or number becomes one ``date_type``/``float_type`` finding
naming the rows, not a crash on the first bad cell. Both the whole-table validator
(:mod:`features.validation.validate`) and the streamed one
(:mod:`features.validation.stream`) read and parse through this module, so the two give
the same findings; it knows no contract rule beyond a column's type and nullability
(those are :mod:`features.validation.rules`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from features.contract import DATE_RANGE, TABLE_COLUMNS, TABLES, Column
from features.raw import DATE_DTYPE, optional_tables_present, table_path
from features.validation.report import TableInfo
from features.validation.rulebook import column_kind
from features.validation.rules import Findings, ParsedTable

MIN_DATE = pd.Timestamp(DATE_RANGE[0])
MAX_DATE = pd.Timestamp(DATE_RANGE[1])
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"


# --------------------------------------------------------------------------------------
# Reading (the file adapter)
# --------------------------------------------------------------------------------------


def parse_dir(
    raw_dir: Path, findings: Findings, *, advance: Callable[[str], None] = lambda label: None
) -> tuple[dict[str, ParsedTable], dict[str, TableInfo]]:
    """Read and parse every table of ``raw_dir`` (file, column and cell findings only; the
    contract's rules are :func:`run_checks`'s job)."""
    infos: dict[str, TableInfo] = {}
    parsed: dict[str, ParsedTable] = {}
    for name in (*TABLES, *optional_tables_present(raw_dir)):
        frame, info = read_table(raw_dir, name, findings)
        infos[name] = info
        if frame is not None:
            parsed[name] = parse_table(name, frame, findings)
        advance(f"read {name}")
    return parsed, infos


def table_file(raw_dir: Path, name: str, findings: Findings) -> Path | None:
    """The table's file in raw_dir, or None with a ``file_missing`` finding; shared by the
    whole-table reader here and the streamed one (features.validation.stream), so a
    missing table is reported alike whichever reads it."""
    try:
        return table_path(raw_dir, name)
    except FileNotFoundError:
        findings.add_table_level("file_missing", name, None, {"raw_dir": raw_dir})
        return None


def stored_columns(path: Path) -> list[str]:
    """The columns the table's file stores, read from its schema or CSV header only."""
    if path.suffix == ".parquet":
        return list(pq.read_schema(path).names)
    return list(pd.read_csv(path, nrows=0, encoding="utf-8").columns)


def read_table(
    raw_dir: Path, name: str, findings: Findings
) -> tuple[pd.DataFrame | None, TableInfo]:
    """Read the contract's columns of one table as stored; record file/column findings."""
    path = table_file(raw_dir, name, findings)
    if path is None:
        return None, TableInfo(file=None, rows=None)
    try:
        columns = stored_columns(path)
        wanted = [c.name for c in TABLE_COLUMNS[name] if c.name in columns]
        if path.suffix == ".parquet":
            frame = _read_parquet(path, wanted)
        else:
            frame = _read_csv(path, wanted)
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        findings.add_table_level("file_unreadable", name, None, {"file": path.name, "error": error})
        return None, TableInfo(file=path.name, rows=None)
    report_extra_columns(name, columns, path.name, findings)
    return frame.reset_index(drop=True), TableInfo(file=path.name, rows=len(frame))


def report_extra_columns(name: str, columns: list[str], where: str, findings: Findings) -> None:
    """Columns the contract does not define are suspicious (ignored, never an error)."""
    known = {column.name for column in TABLE_COLUMNS[name]}
    for column in columns:
        if column not in known:
            findings.add_table_level(
                "extra_column",
                name,
                column,
                {"where": where},
            )


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    """Read CSV columns as text, every cell (empty cell = null); types are parsed later.

    Arrow's multi-threaded reader; a row with the wrong number of fields or invalid
    UTF-8 raises (reported as ``file_unreadable`` with Arrow's message naming the row).
    """
    return pcsv.read_csv(path, convert_options=csv_options(columns)).to_pandas()


def csv_options(columns: list[str]) -> pcsv.ConvertOptions:
    """Every wanted column as text, empty cells null."""
    return pcsv.ConvertOptions(
        include_columns=columns,
        column_types={column: pyarrow.string() for column in columns},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )


def _read_parquet(path: Path, columns: list[str]) -> pd.DataFrame:
    """Read Parquet columns; Arrow date columns become datetime64 in Arrow (fast, no objects).

    The cast goes to second resolution so that an absurd date (year 219) survives the
    read and is reported by the date rule instead of overflowing nanoseconds here.
    """
    return arrow_frame(pq.read_table(path, columns=columns))


def arrow_frame(table: pyarrow.Table) -> pd.DataFrame:
    """An Arrow table read from Parquet as pandas, dates at second resolution (see above)."""
    for index, arrow_field in enumerate(table.schema):
        if pyarrow.types.is_date(arrow_field.type):
            cast = table.column(index).cast(pyarrow.timestamp("s"))
            table = table.set_column(index, arrow_field.name, cast)
    return table.to_pandas()


# --------------------------------------------------------------------------------------
# Lenient parsing: one column at a time, malformed cells reported, never raised
# --------------------------------------------------------------------------------------


def parse_table(
    name: str, frame: pd.DataFrame, findings: Findings, *, offset: int = 0
) -> ParsedTable:
    """Parse each contract column of ``frame``; report missing columns, nulls, bad cells.

    ``offset``: rows of the table before ``frame`` (a streamed slice), for row examples.
    """
    frame = frame.reset_index(drop=True)
    typed: dict[str, pd.Series] = {}
    empty: dict[str, np.ndarray] = {}
    malformed: dict[str, np.ndarray] = {}
    raw_columns: dict[str, pd.Series] = {}
    for column in TABLE_COLUMNS[name]:
        if column.name not in frame.columns:
            findings.add_table_level(
                "column_missing",
                name,
                column.name,
                {"kind": column_kind(column)},
            )
            continue
        raw = frame[column.name]
        typed[column.name], empty[column.name], malformed[column.name] = parse_column(column, raw)
        raw_columns[column.name] = raw
    parsed = ParsedTable(
        name, pd.DataFrame(typed, index=frame.index), empty, malformed, offset=offset
    )
    for column in TABLE_COLUMNS[name]:
        if column.name not in typed:
            continue
        if malformed[column.name].any():
            rule = "date_type" if column.kind == "date" else "float_type"
            findings.add(
                rule,
                parsed,
                column.name,
                malformed[column.name],
                values=raw_columns[column.name],
            )
        if not column.nullable:
            findings.add(
                "not_null",
                parsed,
                column.name,
                empty[column.name],
            )
    return parsed


def parse_column(column: Column, raw: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """(typed values, empty-cell mask, malformed-cell mask) of one column."""
    if column.kind == "date":
        return _parse_dates(raw)
    if column.kind == "float":
        return _parse_floats(raw)
    text = _as_text(raw)
    empty = _blank(text)
    if (empty & text.notna().to_numpy()).any():  # blank text, not yet null
        text = text.where(~empty)
    return text, empty, np.zeros(len(raw), dtype=bool)


def _as_text(raw: pd.Series) -> pd.Series:
    """The column as pandas ``str`` (numbers become their text, nulls stay null)."""
    return raw if raw.dtype == "str" else raw.astype("str")


def _blank(text: pd.Series) -> np.ndarray:
    """Cells that are null, empty or whitespace only (Arrow kernels, no Python per row)."""
    arrow = pyarrow.chunked_array(text)
    blank = pc.or_kleene(pc.equal(pc.utf8_length(arrow), 0), pc.utf8_is_space(arrow))
    return pc.fill_null(blank, True).to_numpy(zero_copy_only=False)


def _nulled_text(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(the column as text with blank cells made null, the blank-cell mask)."""
    text = _as_text(raw)
    empty = _blank(text)
    if (empty & text.notna().to_numpy()).any():
        text = text.where(~empty)
    return text, empty


def _strict_arrow_cast(text: pd.Series, arrow_type: pyarrow.DataType) -> pd.Series | None:
    """The whole column cast by Arrow (strict ISO dates, plain numbers), or None if any
    cell fails; the caller then finds the failing cells with pandas."""
    try:
        cast = pyarrow.chunked_array(text).cast(arrow_type)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError):
        return None
    if pyarrow.types.is_date(arrow_type):
        cast = cast.cast(pyarrow.timestamp("s"))
    return cast.to_pandas().set_axis(text.index)


def _parse_dates(raw: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    empty = raw.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        values = raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) else raw
        malformed = (values.notna() & (values != values.dt.normalize())).to_numpy()
    elif pd.api.types.is_object_dtype(raw.dtype) and pd.api.types.infer_dtype(raw, skipna=True) in (
        "date",
        "datetime",
        "datetime64",
    ):
        # Parquet date32 columns arrive as datetime.date objects.
        values = pd.to_datetime(raw, errors="coerce")
        malformed = (values.notna() & (values != values.dt.normalize())).to_numpy()
    elif pd.api.types.is_numeric_dtype(raw.dtype) or pd.api.types.is_bool_dtype(raw.dtype):
        values = pd.Series(pd.NaT, index=raw.index, dtype=DATE_DTYPE)
        malformed = ~empty
    else:
        text, empty = _nulled_text(raw)
        fast = _strict_arrow_cast(text, pyarrow.date32())
        if fast is not None:  # every cell is a valid ISO date (Arrow's parser is strict)
            values, malformed = fast, np.zeros(len(raw), dtype=bool)
        else:  # some cell is not: find which, row by row (vectorized, slower)
            well_formed = text.str.fullmatch(_ISO_DATE).fillna(False).astype(bool)
            values = pd.to_datetime(text.where(well_formed), format="%Y-%m-%d", errors="coerce")
            malformed = ~empty & values.isna().to_numpy()
    out_of_range = (values.notna() & ((values < MIN_DATE) | (values > MAX_DATE))).to_numpy()
    malformed = malformed | out_of_range
    if malformed.any():
        values = values.where(~malformed)
    return values.astype(DATE_DTYPE), empty, malformed


def _parse_floats(raw: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.astype("float64")
        empty = values.isna().to_numpy()
    else:
        text, empty = _nulled_text(raw)
        fast = _strict_arrow_cast(text, pyarrow.float64())
        if fast is not None:
            values = fast.astype("float64")
        else:
            values = pd.to_numeric(text, errors="coerce").astype("float64")
    infinite = np.isinf(values.to_numpy())
    malformed = (~empty & values.isna().to_numpy()) | infinite
    return values.where(~infinite), empty, malformed
