"""The validation report: what broke (errors) and what looks odd (suspicious), row counts.

A :class:`ValidationReport` is a plain value: the validator builds it, the CLI prints it
(rich tables for people, :meth:`ValidationReport.to_dict` JSON for machines) and
:class:`InvalidRawDataError` carries it, so a pipeline that refuses data can say why.

JSON shape of :meth:`ValidationReport.to_dict` (stable; ``contract_version`` tells which
contract the rules come from)::

    {
      "contract_version": 1,
      "source": "/path/to/raw" | null,        # directory validated, null for in-memory tables
      "ok": true | false,                      # no errors (suspicious rows do not count)
      "extraction_date": "YYYY-MM-DD" | null,  # max recorded_date of events and outcomes
      "tables": {"families": {"file": "families.parquet" | null, "rows": 123 | null}, ...},
      "coverage": {"events": {"column": "recorded_date", "first": "YYYY-MM-DD" | null,
                              "latest": "YYYY-MM-DD" | null}, ...},   # {} unless attached
      "warnings": ["table outcomes ends on ...", ...],   # feeds ending > 1 month early
      "errors":     [ <violation>, ... ],
      "suspicious": [ <violation>, ... ]
    }
    <violation> = {"table": "events", "column": "recorded_date" | null, "rule": "date_order",
                   "description": "...", "count": 17, "examples": ["E000042: ...", ...]}

``count`` is the number of offending rows (for a missing file or column: 1). ``examples``
holds at most a handful of keys (``max_examples``, default 5) of offending rows; for a
table without a key of its own the example names the 1-based data row and its ids.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from features.contract import CONTRACT_VERSION, TABLES
from features.coverage import TableCoverage, coverage_warnings
from features.errors import EarlyriskError

Severity = Literal["error", "suspicious"]


@dataclass(frozen=True)
class RuleViolation:
    """One broken (or suspicious) rule of one table column, with its size and examples."""

    table: str
    column: str | None
    rule: str
    description: str
    count: int
    examples: tuple[str, ...] = ()
    severity: Severity = "error"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see the module docstring); the severity is implied by the list."""
        out = asdict(self)
        out.pop("severity")
        out["examples"] = list(self.examples)
        return out

    def summary(self) -> str:
        """One line: ``events.recorded_date [date_order] 17 rows (e.g. E1, E2): ...``."""
        where = f"{self.table}.{self.column}" if self.column else self.table
        rows = "row" if self.count == 1 else "rows"
        examples = f" (e.g. {', '.join(self.examples)})" if self.examples else ""
        return f"{where} [{self.rule}] {self.count} {rows}{examples}: {self.description}"


@dataclass(frozen=True)
class TableInfo:
    """Where a table was read from and how many rows it has (None when it could not be read)."""

    file: str | None
    rows: int | None


@dataclass
class ValidationReport:
    """Outcome of validating one raw registry against the data contract.

    ``errors`` break the contract: pipelines refuse the data. ``suspicious`` rows are valid
    but worth a look (unknown event types, records back-dated by more than a year, ...);
    they are counted, never dropped.
    """

    errors: list[RuleViolation] = field(default_factory=list)
    suspicious: list[RuleViolation] = field(default_factory=list)
    tables: dict[str, TableInfo] = field(default_factory=dict)
    source: str | None = None
    extraction_date: str | None = None
    contract_version: int = CONTRACT_VERSION
    coverage: dict[str, TableCoverage] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def attach_coverage(self, coverage: dict[str, TableCoverage]) -> ValidationReport:
        """Record each table's first and latest date, and warn about feeds that end early.

        Kept apart from the rule checks (both engines' reports stay comparable); the
        ``validate`` command attaches it for either engine from the files' date columns.
        """
        import datetime as dt

        self.coverage = dict(coverage)
        extraction = (
            None if self.extraction_date is None else dt.date.fromisoformat(self.extraction_date)
        )
        self.warnings = coverage_warnings(self.coverage, extraction)
        return self

    @property
    def ok(self) -> bool:
        """True when no contract rule is broken (suspicious rows do not make data invalid)."""
        return not self.errors

    def rules_broken(self) -> list[tuple[str, str | None, str]]:
        """(table, column, rule) of every error, in report order; handy in tests and logs."""
        return [(v.table, v.column, v.rule) for v in self.errors]

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (module docstring)."""
        return {
            "contract_version": self.contract_version,
            "source": self.source,
            "ok": self.ok,
            "extraction_date": self.extraction_date,
            "tables": {name: asdict(info) for name, info in self.tables.items()},
            "coverage": {name: cov.to_dict() for name, cov in self.coverage.items()},
            "warnings": list(self.warnings),
            "errors": [v.to_dict() for v in self.errors],
            "suspicious": [v.to_dict() for v in self.suspicious],
        }

    def summary(self, *, limit: int = 10) -> str:
        """Plain-text summary of the errors (at most ``limit`` lines), for exception messages."""
        if self.ok:
            return f"raw data {self.source or '(in memory)'} satisfies the data contract"
        lines = [
            f"raw data {self.source or '(in memory)'} breaks {len(self.errors)} "
            f"rule(s) of data contract v{self.contract_version}:"
        ]
        lines += [f"  - {v.summary()}" for v in self.errors[:limit]]
        if len(self.errors) > limit:
            lines.append(f"  ... and {len(self.errors) - limit} more (run `earlyrisk validate`)")
        return "\n".join(lines)

    def __rich__(self) -> RenderableType:
        """Rich rendering: a verdict line, the row counts, then one table per severity."""
        parts: list[RenderableType] = []
        if self.ok:
            verdict = Text("VALID", style="bold green")
        else:
            verdict = Text("INVALID", style="bold red")
        verdict.append(
            f"  {self.source or '(in memory)'}: {len(self.errors)} broken rule(s), "
            f"{len(self.suspicious)} suspicious finding(s); contract v{self.contract_version}",
            style="default",
        )
        if self.extraction_date:
            verdict.append(f"; extraction date {self.extraction_date}", style="default")
        parts.append(verdict)
        counts = Table(title="Tables", title_justify="left", show_edge=False)
        counts.add_column("table")
        counts.add_column("file")
        counts.add_column("rows", justify="right")
        for name in TABLES:
            info = self.tables.get(name)
            if info is None:
                continue
            rows = "-" if info.rows is None else f"{info.rows:,}"
            if info.file is not None:
                where = info.file
            else:
                where = "(in memory)" if info.rows is not None else "[red]missing[/red]"
            counts.add_row(name, where, rows)
        parts.append(counts)
        if self.coverage:
            parts.append(_coverage_table(self.coverage))
        for line in self.warnings:
            parts.append(Text(f"warning: {line}", style="yellow"))
        for title, violations, style in (
            ("Errors (the contract is broken)", self.errors, "red"),
            ("Suspicious (counted, kept)", self.suspicious, "yellow"),
        ):
            if violations:
                parts.append(_violation_table(title, violations, style))
        return Group(*parts)

    def print(self, console: Console | None = None) -> None:
        """Print the rich rendering (to stdout unless a console is given)."""
        (console or Console()).print(self)


def _coverage_table(coverage: dict[str, TableCoverage]) -> Table:
    """Each dated table's first and latest date (see :mod:`features.coverage`)."""
    table = Table(title="Coverage per table", title_justify="left", show_edge=False)
    table.add_column("table")
    table.add_column("dated by")
    table.add_column("first")
    table.add_column("latest")
    for name, cov in coverage.items():
        table.add_row(
            name,
            cov.column,
            "-" if cov.first is None else cov.first.isoformat(),
            "-" if cov.latest is None else cov.latest.isoformat(),
        )
    return table


def _violation_table(title: str, violations: list[RuleViolation], style: str) -> Table:
    """One row per violation; the last cell holds the description, then the examples."""
    table = Table(title=title, title_justify="left", title_style=f"bold {style}", show_lines=True)
    table.add_column("table / column", no_wrap=True)
    table.add_column("rule", style=style, no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("description and example keys", overflow="fold", ratio=1)
    for v in violations:
        details = Text(v.description)
        for example in v.examples:
            details.append(f"\n  {example}", style="dim")
        where = v.table if v.column is None else f"{v.table}\n{v.column}"
        table.add_row(where, v.rule, f"{v.count:,}", details)
    return table


class InvalidRawDataError(EarlyriskError, ValueError):
    """Raw data breaks the contract; ``report`` says which rules, where, and how often.

    (Declared beside the report, re-exported by :mod:`features.validation.validate`: the
    corrections' rules raise it too, and they sit below the validator.)"""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(report.summary())
