"""The ``earlyrisk validate DIR`` verb, a thin job over ``validate_raw_dir``.

Exit codes: 0 the data satisfies the contract (suspicious findings allowed), 1 it breaks
at least one rule, 2 a usage problem (the directory does not exist, a bad option).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from features.engine_options import DEFAULT_MASTER, Engine, EngineOption, SparkMasterOption

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

# The --help text: paragraphs are single strings because rich keeps single newlines.
VALIDATE_HELP = (
    "Check a raw registry against every rule of the data contract (docs/data_contract.md).\n\n"
    "Reports each broken rule with its table, column, rule id, the number of offending rows "
    "and example keys. Checked: table files and columns, types (ISO YYYY-MM-DD dates, "
    "numbers), required values, unique keys, foreign keys, date order, birth dates after the "
    "extraction date, vocabularies, overlapping memberships, and events attributed to a "
    "family the person did not belong to that day.\n\n"
    "Suspicious rows (unknown event types, records back-dated by more than a year, families "
    "or persons without membership, negative amounts, extra columns) are counted, never "
    "dropped, and do not make the data invalid.\n\n"
    "Coverage per table: the first and latest recorded date of events, outcomes, families "
    "and memberships; a warning when events or outcomes end more than a month before the "
    "extraction date (a stalled feed or a table extracted earlier).\n\n"
    "Exit code: 0 valid, 1 a rule is broken, 2 usage error (e.g. DIR does not exist)."
)


def validate_command(
    raw_dir: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="Raw data directory holding the six contract tables as "
            "<table>.parquet or <table>.csv.",
            show_default=False,
        ),
    ],
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the report as JSON on stdout (shape documented in "
            "features/validation/report.py) instead of tables.",
        ),
    ] = False,
    examples: Annotated[
        int,
        typer.Option(
            "--examples",
            min=0,
            max=100,
            help="How many example keys to show per broken rule.",
        ),
    ] = 5,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Show a progress bar on stderr (default: only on a terminal).",
        ),
    ] = None,
    engine: EngineOption = Engine.pandas,
    spark_master: SparkMasterOption = DEFAULT_MASTER,
    record: Annotated[
        Path | None,
        typer.Option(
            "--record",
            metavar="FILE",
            help="Also write a validation record to FILE (JSON: passed or not, the sha256 of "
            "the raw files and of the validator), which `features` and `score --engine spark "
            "--validated FILE` accept instead of validating the same files again.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Validate DIR and print the report; the exit code says valid (0) or not (1).

    Registered with ``help=VALIDATE_HELP``; the checks live in :mod:`features.validation`.
    """
    from features.validation import validate_raw_dir

    err = Console(stderr=True)
    if not raw_dir.exists():
        err.print(f"[red]error:[/red] raw data directory {raw_dir} does not exist", soft_wrap=True)
        raise typer.Exit(EXIT_USAGE)
    if not raw_dir.is_dir():
        err.print(
            f"[red]error:[/red] {raw_dir} is a file; give the directory holding the tables",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_USAGE)
    show_progress = err.is_terminal if progress is None else progress
    if engine is Engine.spark:
        from features.engine_options import start_spark
        from features.spark.validation import validate_raw_dir_spark

        spark = start_spark(spark_master, err)
        report = validate_raw_dir_spark(spark, raw_dir, max_examples=examples)
    else:
        report = validate_raw_dir(
            raw_dir, progress=show_progress and not json_output, max_examples=examples
        )
    from features.coverage import coverage_of_dir

    report.attach_coverage(coverage_of_dir(raw_dir))
    if json_output:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        Console().print(report)
    if record is not None:
        from features.spark.record import write_record

        try:
            write_record(report, raw_dir, record)
        except OSError as error:
            err.print(f"[red]error:[/red] --record {record}: {error}", soft_wrap=True)
            raise typer.Exit(EXIT_USAGE) from None
        err.print(f"validation record written to {record}", soft_wrap=True)
    raise typer.Exit(EXIT_VALID if report.ok else EXIT_INVALID)
