"""The ``earlyrisk features`` verb: validate the raw data, build the feature table, write it.

A thin job: the work is in :func:`features.engine.build_feature_table`; this module parses
options, refuses broken data with the validator's report, writes Parquet with the
fingerprints and prints a summary. Exit codes: 0 written, 1 the raw data breaks the
contract, 2 a usage problem (missing directory, bad date, bad config).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.engine_options import DEFAULT_MASTER, Engine, EngineOption, SparkMasterOption

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

FEATURES_HELP = (
    "Build point-in-time family indicators for one or more as-of dates and write them to "
    "a Parquet feature table.\n\n"
    "The raw data is validated first; data that breaks a contract rule is refused with the "
    "validator's report. For each as-of date T there is one row per family with at least "
    "one member on T: the catalogue's indicators (only rows recorded by T, windows of at "
    "most 3 years), household composition on T, the label (a configured outcome within "
    "the horizon after T) with label_observed, the well-being index, and audit_* columns "
    "(never model inputs).\n\n"
    "Families are split into partitions by a hash of family_id and the partitions run in "
    "parallel; the result does not depend on --partitions or --jobs.\n\n"
    "Exit code: 0 written, 1 the raw data breaks the contract, 2 usage error."
)


def _usage(console: Console, message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(EXIT_USAGE)


def features_command(
    raw: Annotated[
        Path,
        typer.Option(
            "--raw",
            metavar="DIR",
            help="Raw data directory holding the six contract tables.",
            show_default=False,
        ),
    ],
    as_of: Annotated[
        list[str],
        typer.Option(
            "--as-of",
            metavar="DATE",
            help="As-of date YYYY-MM-DD; repeat the option for several dates.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="Parquet file to write.", show_default=False),
    ],
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions",
            min=1,
            help="Number of family partitions (default: one per 25,000 families, at least "
            "one per job).",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", min=1, help="Worker processes (default: the cores available)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="YAML FeatureConfig: label_outcome_types, horizon_months, "
            "extraction_date, wellbeing thresholds (features/config.py).",
        ),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Show progress bars on stderr (default: only on a terminal).",
        ),
    ] = None,
    engine: EngineOption = Engine.pandas,
    spark_master: SparkMasterOption = DEFAULT_MASTER,
) -> None:
    """Validate DIR, build the feature table for every --as-of date, write it to FILE."""
    import pandas as pd
    from pydantic import ValidationError

    from features.catalogue import model_input_columns
    from features.config import FeatureConfig
    from features.engine import (
        META_RAW,
        build_feature_table,
        normalise_as_of,
        write_feature_table,
    )
    from features.validation import InvalidRawDataError, load_validated

    err = Console(stderr=True)
    if not raw.is_dir():
        raise _usage(err, f"raw data directory {raw} does not exist or is not a directory")
    try:
        dates = normalise_as_of(pd.Timestamp(d) for d in as_of)
    except ValueError as error:
        raise _usage(err, f"--as-of: {error} (expected YYYY-MM-DD)") from None
    try:
        feature_config = FeatureConfig.from_yaml(config) if config else FeatureConfig()
    except (OSError, ValidationError, ValueError) as error:
        raise _usage(err, f"--config {config}: {error}") from None
    show_progress = err.is_terminal if progress is None else progress
    if engine is Engine.spark:
        from features.spark_features import run_features_command

        raise typer.Exit(
            run_features_command(raw, dates, out, feature_config, partitions, spark_master, err)
        )

    started = time.perf_counter()
    try:
        tables = load_validated(raw, progress=show_progress)
    except InvalidRawDataError as error:
        err.print(f"[red]refused:[/red] {raw} breaks the data contract; nothing was written.")
        err.print(error.report)
        raise typer.Exit(EXIT_INVALID) from None

    table = build_feature_table(
        tables,
        dates,
        config=feature_config,
        n_partitions=partitions,
        n_jobs=jobs,
        progress=show_progress,
    )
    path = write_feature_table(table, out)
    elapsed = time.perf_counter() - started

    console = Console()
    console.print(_summary(table, dates))
    audit = [c for c in table.columns if c.startswith("audit_")]
    console.print(
        f"wrote [bold]{path}[/bold]: {len(table):,} rows, {len(model_input_columns())} model "
        f"inputs, {len(audit)} audit columns ({', '.join(audit)}), in {elapsed:.1f} s"
    )
    console.print(f"raw data sha256 {table.attrs[META_RAW][:16]}…")


def _summary(table, dates) -> Table:
    """Per as-of date: families, label rate, whether labels are observed, levels."""
    summary = Table(title="feature snapshots")
    for column in ("as-of", "families", "label = 1", "label observed", "levels A/B/C/D/E"):
        summary.add_column(column, justify="right")
    for as_of in dates:
        rows = table.loc[table["as_of"] == as_of]
        if rows.empty:
            summary.add_row(str(as_of.date()), "0", "-", "-", "no family had a member")
            continue
        levels = rows["wellbeing_level"].value_counts()
        summary.add_row(
            str(as_of.date()),
            f"{len(rows):,}",
            f"{rows['label'].mean():.1%}",
            "yes" if rows["label_observed"].all() else "no (horizon after extraction)",
            "/".join(str(int(levels.get(level, 0))) for level in "ABCDE"),
        )
    return summary
