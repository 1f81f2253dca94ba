"""The ``earlyrisk score`` verb: batch scores with reasons for every family, to Parquet.

A thin job over :func:`serving.batch.score_registry`. Exit codes: 0 written, 1 the raw
data breaks the contract or the model cannot be used, 2 usage error.
"""

from __future__ import annotations

import getpass
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from features.engine_options import DEFAULT_MASTER, Engine, EngineOption, SparkMasterOption
from serving.cli_options import EXIT_REFUSED, EXIT_USAGE, ModelUriOption, TrackingUriOption

SCORE_HELP = (
    "Score every family of a raw registry as of a date, with the reasons, and write a "
    "Parquet file.\n\n"
    "Uses the champion model (or --model) and the same explanations as the HTTP service. "
    "Families are processed partition by partition (a stable hash of family_id), so memory "
    "is bounded by a partition, not the registry. Every score is appended to the audit log "
    "(EARLYRISK_AUDIT_LOG_PATH, as the service does) before the file is published; if the "
    "log cannot be written, no file is. The file holds score_id, family_id, as_of, "
    "probability, risk_level, reasons_raising, reasons_lowering, model_name, model_version, "
    "label, label_observed, the well-being index and the audit_* groups, ready for "
    "`earlyrisk audit`.\n\n"
    "Exit code: 0 written, 1 invalid raw data or unusable model, 2 usage error."
)


def score_command(
    raw: Annotated[
        Path,
        typer.Option("--raw", metavar="DIR", help="Raw data directory.", show_default=False),
    ],
    as_of: Annotated[
        str,
        typer.Option("--as-of", metavar="DATE", help="As-of date YYYY-MM-DD.", show_default=False),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="Parquet file to write.", show_default=False),
    ],
    model: ModelUriOption = None,
    tracking_uri: TrackingUriOption = None,
    families_per_partition: Annotated[
        int,
        typer.Option("--families-per-partition", min=1, help="Bounds memory per step."),
    ] = 25_000,
    engine: EngineOption = Engine.pandas,
    spark_master: SparkMasterOption = DEFAULT_MASTER,
) -> None:
    """Batch-score every family."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from features.validation import InvalidRawDataError
    from serving.audit_log import AuditLog, AuditLogUnavailable
    from serving.batch import BatchScoringError, score_registry
    from serving.settings import ServingSettings
    from training.registry import ModelChecksumError, ModelNotFoundError

    err = Console(stderr=True)
    if not raw.is_dir():
        err.print(f"[red]error:[/red] --raw {raw} is not a directory")
        raise typer.Exit(EXIT_USAGE)
    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        err.print(f"[red]error:[/red] --as-of {as_of!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(EXIT_USAGE) from None
    settings = ServingSettings()
    model_uri = model or settings.resolved_model_uri
    if engine is Engine.spark:  # --out is a directory; the steps run on Spark
        from serving.spark_batch import run_score_command

        tracking = tracking_uri or settings.tracking_uri
        raise typer.Exit(
            run_score_command(raw, day.isoformat(), out, model_uri, tracking, spark_master, err)
        )
    progress = Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("partitions"),
        TimeElapsedColumn(),
        console=err,
    )
    task = progress.add_task("scoring", total=None)

    def advance(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    try:
        audit_log = AuditLog(settings.audit_log_path)
    except AuditLogUnavailable as exc:
        err.print(f"[red]cannot score:[/red] {exc}; no score is produced that cannot be logged")
        raise typer.Exit(EXIT_REFUSED) from None
    try:
        with progress:
            summary = score_registry(
                raw,
                as_of=day.isoformat(),
                out=out,
                model_uri=model_uri,
                tracking_uri=tracking_uri or settings.tracking_uri,
                audit_log=audit_log,
                operator=f"cli:{getpass.getuser()}",
                reasons_raising=settings.reasons_raising,
                reasons_lowering=settings.reasons_lowering,
                families_per_partition=families_per_partition,
                on_partition=advance,
            )
    except InvalidRawDataError as exc:
        err.print(f"[red]the raw data breaks the contract:[/red]\n{exc}")
        raise typer.Exit(EXIT_REFUSED) from None
    except (
        ModelNotFoundError,
        ModelChecksumError,
        BatchScoringError,
        AuditLogUnavailable,
        ValueError,
    ) as exc:
        err.print(f"[red]cannot score:[/red] {exc}")
        raise typer.Exit(EXIT_REFUSED) from None
    finally:
        audit_log.close()
    table = Table("families", "model", "risk levels", "file")
    levels = ", ".join(f"{k}: {v}" for k, v in summary.levels.items())
    table.add_row(
        str(summary.families),
        f"{summary.model_uri} (version {summary.model_version})",
        levels,
        str(summary.path),
    )
    Console().print(table)
