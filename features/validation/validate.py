"""Validate a raw registry against the data contract, and load only data that passes.

Pipelines read raw data through :func:`load_validated`: it validates first and raises
:class:`InvalidRawDataError` (carrying the :class:`ValidationReport`) when any rule is
broken, so no feature is ever computed from data that breaks the contract. Suspicious rows
(unknown event types, back-dated records, ...) are counted in the report and kept.

Reading is lenient on purpose (:mod:`features.validation.parse`): a malformed date or
number becomes one finding naming the rows, not a crash on the first bad cell. Every
check is vectorized (``isin``,
``duplicated``, sort + shift, ``merge_asof``); there is no Python loop over rows, so a
registry of 100k families and millions of events validates in seconds.

The rules, their ids and the decisions where the contract is silent are listed in
:mod:`features.validation.rules`; the report's JSON shape in
:mod:`features.validation.report`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from features.contract import TABLES
from features.raw import RawTables
from features.validation.corrections import add_correction_findings
from features.validation.parse import parse_dir, parse_table, report_extra_columns
from features.validation.progress import progress_bar
from features.validation.report import (
    InvalidRawDataError,
    RuleViolation,
    TableInfo,
    ValidationReport,
)
from features.validation.rules import CHECKS, RULES, Findings, ParsedTable, RuleContext
from features.validation.stream import validate_streamed

__all__ = [
    "RULES",
    "InvalidRawDataError",
    "RuleViolation",
    "ValidationReport",
    "load_validated",
    "validate_raw_dir",
    "validate_tables",
]


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
    report = validate_streamed(raw_dir, progress=progress, max_examples=max_examples)
    # the optional corrections table (issue 23): its findings after the six tables'
    return add_correction_findings(report, raw_dir, max_examples=max_examples)


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
    with progress_bar(progress, total=len(TABLES) + len(CHECKS)) as advance:
        parsed = {}
        for name, frame in tables.items():
            report_extra_columns(name, [str(c) for c in frame.columns], name, findings)
            parsed[name] = parse_table(name, frame, findings)
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
    report = add_correction_findings(report, raw_dir)
    if not report.ok:
        raise InvalidRawDataError(report)
    tables = RawTables(**{name: parsed[name].frame for name in TABLES})
    return validate_schemas(tables, values=False)


def _validate_dir(
    raw_dir: Path, *, progress: bool, max_examples: int
) -> tuple[ValidationReport, dict[str, ParsedTable]]:
    if not raw_dir.is_dir():
        raise NotADirectoryError(
            f"raw data directory {raw_dir} does not exist or is not a directory"
        )
    findings = Findings(max_examples=max_examples)
    with progress_bar(progress, total=len(TABLES) + len(CHECKS)) as advance:
        parsed, infos = parse_dir(raw_dir, findings, advance=advance)
        report = _run_checks(parsed, findings, infos, source=str(raw_dir), advance=advance)
    return report, parsed


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
