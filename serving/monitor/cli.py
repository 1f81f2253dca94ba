"""The ``earlyrisk monitor`` verb: a thin job over :func:`serving.monitor.run.run_monitor`.

Exit codes (documented in docs/monitoring.md): 0 no alert fired; 1 the input or model
cannot be used; 2 usage error; 3 at least one alert fired; 4 (only with ``--strict``) no
alert fired but a check could not be evaluated.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from serving.cli_options import EXIT_REFUSED, EXIT_USAGE, ModelUriOption, TrackingUriOption

EXIT_ALERT = 3
EXIT_NOT_EVALUABLE = 4

MONITOR_HELP = (
    "Compare the families as of a date with the model's reference: input, score and "
    "whole-input drift, label-free performance estimate, realized performance for dates "
    "whose labels are in, fairness over time and caseworkers' decisions.\n\n"
    "Writes monitor_report.json and monitor_report.html to --out and, unless --no-mlflow, "
    "logs a monitoring run linked to the model version.\n\n"
    "Exit code: 0 no alert, 1 unusable input or model, 2 usage error, 3 an alert fired, "
    "4 (--strict) a check could not be evaluated."
)


def _date(value: str, option: str, err: Console) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        err.print(f"[red]error:[/red] {option} {value!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(EXIT_USAGE) from None


def monitor_command(
    raw: Annotated[
        Path, typer.Option("--raw", metavar="DIR", help="Raw data directory.", show_default=False)
    ],
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of", metavar="DATE", help="Date to monitor, YYYY-MM-DD.", show_default=False
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="Directory for the reports.", show_default=False),
    ],
    reference_as_of: Annotated[
        str | None,
        typer.Option(
            "--reference-as-of",
            metavar="DATE",
            help="Compute the reference from the raw data at this date instead of the "
            "statistics stored with the model (its test slice).",
            show_default=False,
        ),
    ] = None,
    model: ModelUriOption = None,
    tracking_uri: TrackingUriOption = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="YAML of thresholds (docs/monitoring.md).",
            show_default=False,
        ),
    ] = None,
    audit_log: Annotated[
        Path | None,
        typer.Option(
            "--audit-log",
            metavar="FILE",
            help="Audit log to read decisions from (default: EARLYRISK_AUDIT_LOG_PATH).",
            show_default=False,
        ),
    ] = None,
    mlflow_run: Annotated[
        bool, typer.Option("--mlflow/--no-mlflow", help="Log a monitoring run to MLflow.")
    ] = True,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 4 when a check could not be evaluated.")
    ] = False,
) -> None:
    """Monitor drift, estimated and realized performance, fairness and decisions."""
    from mlflow.exceptions import MlflowException
    from pydantic import ValidationError

    from features.validation import InvalidRawDataError
    from serving.monitor.config import MonitorConfig
    from serving.monitor.decisions import AuditLogReadError
    from serving.monitor.run import MonitorError, run_monitor
    from serving.settings import ServingSettings
    from training.registry import ModelChecksumError, ModelNotFoundError

    err = Console(stderr=True)
    if not raw.is_dir():
        err.print(f"[red]error:[/red] --raw {raw} is not a directory")
        raise typer.Exit(EXIT_USAGE)
    day = _date(as_of, "--as-of", err)
    reference_day = _date(reference_as_of, "--reference-as-of", err) if reference_as_of else None
    try:
        config = MonitorConfig.from_yaml(config_file) if config_file else MonitorConfig()
    except (OSError, ValidationError, ValueError) as exc:
        err.print(f"[red]error:[/red] --config {config_file}: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    settings = ServingSettings()
    try:
        outcome = run_monitor(
            raw,
            as_of=day,
            out_dir=out,
            model_uri=model or settings.resolved_model_uri,
            tracking_uri=tracking_uri or settings.tracking_uri,
            reference_as_of=reference_day,
            audit_log_path=audit_log or settings.audit_log_path,
            config=config,
            log_to_mlflow=mlflow_run,
        )
    except InvalidRawDataError as exc:
        err.print(f"[red]the raw data breaks the contract:[/red]\n{exc}")
        raise typer.Exit(EXIT_REFUSED) from None
    except (
        MonitorError,
        ModelNotFoundError,
        ModelChecksumError,
        AuditLogReadError,
        ValueError,
    ) as exc:
        err.print(f"[red]cannot monitor:[/red] {exc}")
        raise typer.Exit(EXIT_REFUSED) from None
    except OSError as exc:
        err.print(f"[red]cannot write the reports:[/red] {exc}")
        raise typer.Exit(EXIT_REFUSED) from None
    except MlflowException as exc:
        err.print(f"[red]the reports are written but MLflow refused the run:[/red] {exc.message}")
        raise typer.Exit(EXIT_REFUSED) from None
    console = Console()
    console.print(f"report: {outcome.json_path} and {outcome.html_path}", highlight=False)
    if outcome.mlflow_run_id:
        console.print(f"MLflow monitoring run: {outcome.mlflow_run_id}", highlight=False)
    for check in outcome.not_evaluable:
        console.print(f"not evaluable: {check['subject']}: {check['evidence']}", highlight=False)
    for alert in outcome.alerts:
        console.print(f"[red]ALERT[/red] {alert['subject']}: {alert['evidence']}", highlight=False)
    if outcome.alerts:
        raise typer.Exit(EXIT_ALERT)
    console.print("no alert fired")
    if strict and outcome.not_evaluable:
        raise typer.Exit(EXIT_NOT_EVALUABLE)
