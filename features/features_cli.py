"""The ``earlyrisk features`` verb: validate the raw data, build the feature table, write it.

A thin job: the work is in :func:`features.engine.build_feature_table`; this module parses
options, refuses broken data with the validator's report, writes Parquet with the
fingerprints and prints a summary. Exit codes: 0 written, 1 the raw data breaks the
contract, 2 a usage problem (missing directory, bad date, bad config).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from features.config import FeatureConfig
    from features.spark.scratch import Scratch
from features.engine_options import (
    DEFAULT_MASTER,
    Engine,
    EngineOption,
    SparkMasterOption,
    ValidatedOption,
    refuse_validated_on_pandas,
)

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
    "parallel; the result does not depend on --partitions or --jobs. The events table is "
    "never held whole: it is validated in slices and written by partition to a scratch "
    "directory (under TMPDIR, about the size of the events file, removed at the end), "
    "and each worker reads one partition at a time.\n\n"
    "An existing --out is only replaced with --overwrite. An --as-of date on which no "
    "family has a member (before or after the registry's period) is refused, and nothing "
    "is written.\n\n"
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
        typer.Option(
            "--out",
            metavar="PATH",
            help=(
                "Where to write the feature table: a Parquet file (pandas engine); with "
                "--engine spark, a directory of Parquet part files."
            ),
            show_default=False,
        ),
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
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace --out if it exists.")
    ] = False,
    engine: EngineOption = Engine.pandas,
    spark_master: SparkMasterOption = DEFAULT_MASTER,
    validated: ValidatedOption = None,
    spark_scratch: Annotated[
        str | None,
        typer.Option(
            "--spark-scratch",
            metavar="URI",
            envvar="EARLYRISK_SPARK_SCRATCH",
            help="--engine spark: where the registry laid out by family partition goes "
            "while the job runs, a path or URI every executor reaches (file://, s3a://, "
            "hdfs://, gs://, abfss://); removed after. Default: a hidden folder beside --out.",
        ),
    ] = None,
) -> None:
    """Validate DIR, build the feature table for every --as-of date, write it to FILE."""
    from pydantic import ValidationError

    from features.catalogue import model_input_columns
    from features.cli_signals import install_scratch_cleanup
    from features.config import FeatureConfig
    from features.engine import (
        META_RAW,
        build_feature_table,
        default_jobs,
        normalise_as_of,
        write_feature_table,
    )
    from features.labels import AsOfAfterExtractionError
    from features.partitioned_raw import open_registry
    from features.private_files import parent_problem
    from features.validation import InvalidRawDataError

    err = Console(stderr=True)
    if not raw.is_dir():
        raise _usage(err, f"raw data directory {raw} does not exist or is not a directory")
    if out.is_dir():
        raise _usage(err, f"--out {out} is a directory; name the Parquet file to write")
    if out.exists() and not overwrite:
        raise _usage(err, f"--out {out} exists; pass --overwrite to replace it")
    if problem := parent_problem(out):
        raise _usage(err, f"--out {out} cannot be written: {problem}")
    try:
        dates = normalise_as_of(_as_of_date(d) for d in as_of)
    except ValueError as error:
        raise _usage(err, f"--as-of: {error} (expected YYYY-MM-DD)") from None
    try:
        feature_config = FeatureConfig.from_yaml(config) if config else FeatureConfig()
    except (OSError, ValidationError, ValueError) as error:
        raise _usage(err, f"--config {config}: {error}") from None
    show_progress = err.is_terminal if progress is None else progress
    refuse_validated_on_pandas(validated, engine, err)
    if engine is Engine.spark:
        from features.spark.scratch import ScratchLocationError, scratch_at

        try:
            scratch = None if spark_scratch is None else scratch_at(spark_scratch)
        except ScratchLocationError as error:
            raise _usage(err, f"--spark-scratch: {error}") from None
        raise typer.Exit(
            _run_on_spark(
                raw, dates, out, feature_config, partitions, spark_master, err, validated, scratch
            )
        )

    install_scratch_cleanup()  # a stopped run removes its partition files
    started = time.perf_counter()
    n_jobs = jobs or default_jobs()
    try:
        # validated while events are laid out by partition on scratch disk: memory holds
        # the small tables and one partition per job, never the whole events table
        registry = open_registry(raw, n_partitions=partitions, jobs=n_jobs, progress=show_progress)
    except InvalidRawDataError as error:
        err.print(f"[red]refused:[/red] {raw} breaks the data contract; nothing was written.")
        err.print(error.report)
        raise typer.Exit(EXIT_INVALID) from None

    with registry:
        try:
            table = build_feature_table(
                registry, dates, config=feature_config, n_jobs=n_jobs, progress=show_progress
            )
        except AsOfAfterExtractionError as error:
            raise _usage(err, f"--as-of: {error}; nothing was written") from None
    empty = [d.date().isoformat() for d in dates if not (table["as_of"] == d).any()]
    if empty:
        raise _usage(
            err,
            f"--as-of {', '.join(empty)}: no family has a member on that date (the registry "
            f"in {raw} does not cover it); nothing was written",
        )
    try:
        path = write_feature_table(table, out)
    except OSError as error:
        err.print(f"[red]error:[/red] cannot write --out {out}: {error}; nothing was written")
        raise typer.Exit(EXIT_INVALID) from None
    elapsed = time.perf_counter() - started

    console = Console()
    console.print(_summary(table, dates))
    audit = [c for c in table.columns if c.startswith("audit_")]
    console.print(
        f"wrote [bold]{path}[/bold]: {len(table):,} rows, {len(model_input_columns())} model "
        f"inputs, {len(audit)} audit columns ({', '.join(audit)}), in {elapsed:.1f} s"
    )
    console.print(f"raw data sha256 {table.attrs[META_RAW][:16]}…")


def _as_of_date(text: str) -> object:
    """A calendar date pandas can hold at nanosecond precision, else ValueError naming it."""
    import pandas as pd

    try:
        return pd.Timestamp(text).as_unit("ns")
    except (ValueError, OverflowError) as error:
        raise ValueError(
            f"{text!r} is not a usable date ({error}); dates from "
            f"{pd.Timestamp.min.date() + pd.Timedelta(days=1)} to {pd.Timestamp.max.date()} "
            "are accepted"
        ) from None


def _summary(table: pd.DataFrame, dates: list[pd.Timestamp]) -> Table:
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


def _run_on_spark(
    raw: Path,
    dates: list[pd.Timestamp],
    out: Path,
    config: FeatureConfig,
    partitions: int | None,
    master: str,
    err: Console,
    validated: Path | None = None,
    scratch: Scratch | None = None,
) -> int:
    """``earlyrisk features --engine spark``: validate on Spark (or trust the record
    ``validated``), refuse broken data, write the partitioned feature directory ``out``;
    returns the exit code (0; 1 broken data or a record that does not hold; 2 an as-of
    date after the extraction date)."""
    from features.engine_options import start_spark
    from features.labels import AsOfAfterExtractionError
    from features.spark.features import write_spark_features
    from features.spark.record import ValidationRecordError, trusted_record
    from features.spark.validation import validate_raw_dir_spark

    started = time.perf_counter()
    if validated is not None:
        try:
            trusted_record(validated, raw)
        except ValidationRecordError as error:
            err.print(f"[red]refused:[/red] --validated: {error}; nothing was written.")
            return 1
        err.print(f"validation: {validated} holds for these raw files; not validated again")
    spark = start_spark(master, err)
    if validated is None:
        report = validate_raw_dir_spark(spark, raw)
        if not report.ok:
            err.print(f"[red]refused:[/red] {raw} breaks the data contract; nothing was written.")
            err.print(report)
            return 1
    try:
        path = write_spark_features(
            spark, raw, dates, out, config=config, n_partitions=partitions, scratch_root=scratch
        )
    except AsOfAfterExtractionError as error:
        err.print(f"[red]error:[/red] --as-of: {error}; nothing was written")
        return 2
    rows = spark.read.parquet(str(path)).groupBy("as_of").count().orderBy("as_of").collect()
    per_date = ", ".join(f"{row['as_of']}: {row['count']:,}" for row in rows) or "no rows"
    Console().print(
        f"wrote [bold]{path}[/bold] (Parquet partitioned by as_of; {per_date} families) on "
        f"Spark {master} in {time.perf_counter() - started:.1f} s"
    )
    return 0
