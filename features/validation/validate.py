"""Validate a raw registry against the data contract, and load only data that passes.

Pipelines read raw data through :func:`load_validated`: it validates first and raises
:class:`InvalidRawDataError` (carrying the :class:`ValidationReport`) when any rule is
broken, so no feature is ever computed from data that breaks the contract. Suspicious rows
(unknown event types, back-dated records, ...) are counted in the report and kept.

Reading is lenient on purpose: CSV cells are read as text and each column is parsed on
its own, so a malformed date or number becomes one ``date_type``/``float_type`` finding
naming the rows, not a crash on the first bad cell. Every check is vectorized (``isin``,
``duplicated``, sort + shift, ``merge_asof``); there is no Python loop over rows, so a
registry of 100k families and millions of events validates in seconds.

The rules, their ids and the decisions where the contract is silent are listed in
:mod:`features.validation.rules`; the report's JSON shape in
:mod:`features.validation.report`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from features.contract import DATE_RANGE, TABLE_COLUMNS, TABLES, Column
from features.errors import EarlyriskError
from features.raw import DATE_DTYPE, RawTables, table_path
from features.validation.report import RuleViolation, TableInfo, ValidationReport
from features.validation.rules import CHECKS, RULES, Findings, ParsedTable, RuleContext

__all__ = [
    "RULES",
    "InvalidRawDataError",
    "RuleViolation",
    "ValidationReport",
    "load_validated",
    "validate_raw_dir",
    "validate_tables",
]

MIN_DATE = pd.Timestamp(DATE_RANGE[0])
MAX_DATE = pd.Timestamp(DATE_RANGE[1])
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"


class InvalidRawDataError(EarlyriskError, ValueError):
    """Raw data breaks the contract; ``report`` says which rules, where, and how often."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(report.summary())


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def validate_raw_dir(
    raw_dir: Path | str, *, progress: bool = False, max_examples: int = 5
) -> ValidationReport:
    """Validate the six tables of ``raw_dir`` (Parquet or CSV) against every contract rule.

    Raises NotADirectoryError when ``raw_dir`` is not a directory; a missing or unreadable
    table file is a finding of the report, not an exception. The events table is read in
    slices (:mod:`features.validation.stream`), so memory holds the five small tables and
    one slice, whatever the registry's size; the findings are those of the whole-table
    validator (:func:`validate_tables` on the same data).
    """
    # imported here: features.validation.stream builds on this module's readers and parsers
    from features.validation.stream import validate_streamed

    return validate_streamed(raw_dir, progress=progress, max_examples=max_examples)


def validate_tables(
    tables: RawTables,
    *,
    progress: bool = False,
    max_examples: int = 5,
    source: str | None = None,
) -> ValidationReport:
    """Validate in-memory tables (typed as :class:`RawTables`, or text columns to parse).

    Columns may hold the in-memory types or raw text (as read from CSV); both are parsed
    leniently, exactly as :func:`validate_raw_dir` does.
    """
    findings = Findings(max_examples=max_examples)
    infos = {name: TableInfo(file=None, rows=len(frame)) for name, frame in tables.items()}
    with _progress_bar(progress, total=len(TABLES) + len(CHECKS)) as advance:
        parsed = {}
        for name, frame in tables.items():
            _report_extra_columns(name, [str(c) for c in frame.columns], name, findings)
            parsed[name] = _parse_table(name, frame, findings)
            advance(f"parsed {name}")
        report = _run_checks(parsed, findings, infos, source=source, advance=advance)
    return report


def load_validated(raw_dir: Path | str, *, progress: bool = False) -> RawTables:
    """Validate ``raw_dir`` and return its tables in memory; refuse data that breaks a rule.

    Raises :class:`InvalidRawDataError` (with the report) when any contract rule is
    broken, NotADirectoryError when ``raw_dir`` is not a directory. Suspicious rows are
    kept. The returned tables passed the shape schemas (pandera) of :mod:`features.schemas`.
    """
    # Imported here on purpose: pandera (with what it loads) adds 1.5 s or more to the import
    # of this module (measured: `import features.validation`, then time
    # `import features.schemas`), which every importer of the validator (the feature
    # engine, batch scoring) would pay even when it never loads a directory.
    from features.schemas import validate_schemas

    report, parsed = _validate_dir(Path(raw_dir), progress=progress, max_examples=5)
    if not report.ok:
        raise InvalidRawDataError(report)
    tables = RawTables(**{name: parsed[name].frame for name in TABLES})
    return validate_schemas(tables, values=False)


# --------------------------------------------------------------------------------------
# Reading (the file adapter)
# --------------------------------------------------------------------------------------


def _validate_dir(
    raw_dir: Path, *, progress: bool, max_examples: int
) -> tuple[ValidationReport, dict[str, ParsedTable]]:
    if not raw_dir.is_dir():
        raise NotADirectoryError(
            f"raw data directory {raw_dir} does not exist or is not a directory"
        )
    findings = Findings(max_examples=max_examples)
    with _progress_bar(progress, total=len(TABLES) + len(CHECKS)) as advance:
        parsed, infos = parse_dir(raw_dir, findings, advance=advance)
        report = _run_checks(parsed, findings, infos, source=str(raw_dir), advance=advance)
    return report, parsed


def parse_dir(
    raw_dir: Path, findings: Findings, *, advance: Callable[[str], None] = lambda label: None
) -> tuple[dict[str, ParsedTable], dict[str, TableInfo]]:
    """Read and parse every table of ``raw_dir`` (file, column and cell findings only; the
    contract's rules are :func:`run_checks`'s job)."""
    infos: dict[str, TableInfo] = {}
    parsed: dict[str, ParsedTable] = {}
    for name in TABLES:
        frame, info = _read_table(raw_dir, name, findings)
        infos[name] = info
        if frame is not None:
            parsed[name] = _parse_table(name, frame, findings)
        advance(f"read {name}")
    return parsed, infos


def _read_table(
    raw_dir: Path, name: str, findings: Findings
) -> tuple[pd.DataFrame | None, TableInfo]:
    """Read the contract's columns of one table as stored; record file/column findings."""
    try:
        path = table_path(raw_dir, name)
    except FileNotFoundError:
        findings.add_table_level(
            "file_missing",
            name,
            None,
            f"neither {name}.parquet nor {name}.csv exists in {raw_dir}",
        )
        return None, TableInfo(file=None, rows=None)
    try:
        if path.suffix == ".parquet":
            columns = list(pq.read_schema(path).names)
        else:
            columns = list(pd.read_csv(path, nrows=0, encoding="utf-8").columns)
        wanted = [c.name for c in TABLE_COLUMNS[name] if c.name in columns]
        if path.suffix == ".parquet":
            frame = _read_parquet(path, wanted)
        else:
            frame = _read_csv(path, wanted)
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        findings.add_table_level("file_unreadable", name, None, f"cannot read {path.name}: {error}")
        return None, TableInfo(file=path.name, rows=None)
    _report_extra_columns(name, columns, path.name, findings)
    return frame.reset_index(drop=True), TableInfo(file=path.name, rows=len(frame))


def _report_extra_columns(name: str, columns: list[str], where: str, findings: Findings) -> None:
    """Columns the contract does not define are suspicious (ignored, never an error)."""
    known = {column.name for column in TABLE_COLUMNS[name]}
    for column in columns:
        if column not in known:
            findings.add_table_level(
                "extra_column",
                name,
                column,
                f"{where} has column {column!r}, which the contract does not define; it is ignored",
            )


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    """Read CSV columns as text, every cell (empty cell = null); types are parsed later.

    Arrow's multi-threaded reader; a row with the wrong number of fields or invalid
    UTF-8 raises (reported as ``file_unreadable`` with Arrow's message naming the row).
    """
    return pcsv.read_csv(path, convert_options=_csv_options(columns)).to_pandas()


def _csv_options(columns: list[str]) -> pcsv.ConvertOptions:
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
    return _arrow_frame(pq.read_table(path, columns=columns))


def _arrow_frame(table: pyarrow.Table) -> pd.DataFrame:
    """An Arrow table read from Parquet as pandas, dates at second resolution (see above)."""
    for index, arrow_field in enumerate(table.schema):
        if pyarrow.types.is_date(arrow_field.type):
            cast = table.column(index).cast(pyarrow.timestamp("s"))
            table = table.set_column(index, arrow_field.name, cast)
    return table.to_pandas()


# --------------------------------------------------------------------------------------
# Lenient parsing: one column at a time, malformed cells reported, never raised
# --------------------------------------------------------------------------------------


def _parse_table(
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
                f"{name} lacks column {column.name!r} ({column.kind}"
                f"{', nullable' if column.nullable else ''})",
            )
            continue
        raw = frame[column.name]
        typed[column.name], empty[column.name], malformed[column.name] = _parse_column(column, raw)
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
                RULES[rule].text,
                values=raw_columns[column.name],
            )
        if not column.nullable:
            findings.add(
                "not_null",
                parsed,
                column.name,
                empty[column.name],
                f"{name}.{column.name} must not be empty",
            )
    return parsed


def _parse_column(column: Column, raw: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
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


# --------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------


def run_checks(
    parsed: dict[str, ParsedTable],
    findings: Findings,
    infos: dict[str, TableInfo],
    *,
    source: str | None,
) -> ValidationReport:
    """Every contract rule on tables :func:`parse_dir` parsed; the report of both."""
    return _run_checks(parsed, findings, infos, source=source, advance=lambda label: None)


def _run_checks(
    parsed: dict[str, ParsedTable],
    findings: Findings,
    infos: dict[str, TableInfo],
    *,
    source: str | None,
    advance: Callable[[str], None],
) -> ValidationReport:
    ctx = RuleContext(parsed, findings)
    for label, check in CHECKS:
        check(ctx)
        advance(f"checked {label}")
    extraction = ctx.extraction_date
    return ValidationReport(
        errors=findings.errors,
        suspicious=findings.suspicious,
        tables=infos,
        source=source,
        extraction_date=None if extraction is None else f"{extraction:%Y-%m-%d}",
    )


@contextlib.contextmanager
def _progress_bar(enabled: bool, *, total: int) -> Iterator:
    """Yield ``advance(label)``; draws a transient rich bar on stderr when enabled."""
    if not enabled:
        yield lambda label: None
        return
    bar = Progress(
        TextColumn("validating"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with bar:
        task = bar.add_task("reading", total=total)
        yield lambda label: bar.update(task, advance=1, description=label)
