"""The ``earlyrisk monitor`` verb: a thin job over :func:`serving.monitor.run.run_monitor`.

Exit codes (documented in docs/monitoring.md): 0 no alert fired; 1 the input or model
cannot be used; 2 usage error (also an --as-of after the data's extraction date); 3 at least
one alert fired; 4 (only with ``--strict``) no alert fired but a check could not be
evaluated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from serving.cli_options import (
    EXIT_REFUSED,
    EXIT_USAGE,
    AuditLogOption,
    ModelUriOption,
    TrackingUriOption,
    raw_data_refusals,
)

if TYPE_CHECKING:
    from serving.monitor.config import MonitorConfig
    from serving.settings import ServingSettings

EXIT_ALERT = 3
EXIT_NOT_EVALUABLE = 4

MONITOR_HELP = (
    "Compare the families as of a date with the model's reference: input, score and "
    "whole-input drift, label-free performance estimate, realized performance for dates "
    "whose labels are in, fairness over time and caseworkers' decisions.\n\n"
    "Writes monitor_report.json and monitor_report.html to --out (owner-only; reports "
    "already there are replaced only with --overwrite) and, unless --no-mlflow, "
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


def _config(config_file: Path | None, err: Console) -> MonitorConfig:
    """The monitoring config of --config (defaults without one); a bad one exits 2."""
    from pydantic import ValidationError

    from serving.monitor.config import MonitorConfig

    try:
        return MonitorConfig.from_yaml(config_file) if config_file else MonitorConfig()
    except (OSError, ValidationError, ValueError) as exc:
        err.print(f"[red]error:[/red] --config {config_file}: {exc}")
        raise typer.Exit(EXIT_USAGE) from None


def _check_out(out: Path, *, overwrite: bool, err: Console) -> None:
    """--out is a folder for the two reports: refuse a file, and reports there without
    --overwrite (an earlier report is evidence someone may still need); exit 2."""
    from serving.monitor.run import REPORT_HTML, REPORT_JSON

    if out.exists() and not out.is_dir():
        err.print(f"[red]error:[/red] --out {out} is a file; name a directory for the reports")
        raise typer.Exit(EXIT_USAGE)
    existing = [name for name in (REPORT_JSON, REPORT_HTML) if (out / name).exists()]
    if existing and not overwrite:
        err.print(
            f"[red]error:[/red] --out {out} already holds {' and '.join(existing)}; pass "
            "--overwrite to replace them, or choose another directory"
        )
        raise typer.Exit(EXIT_USAGE)


@contextmanager
def _refusing(
    err: Console,
    refused: tuple[type[Exception], ...],
    *,
    hints: tuple[tuple[type[Exception], str], ...] = (),
) -> Iterator[None]:
    """Turn what a monitoring run may meet into a message and exit 1, never a traceback.

    ``refused`` are the errors of the input or the model ("cannot monitor"), each followed
    by the ``hints`` whose error type it is (the next step the user can take); a report that
    cannot be written and an MLflow refusal (the reports are written then) are named apart.
    """
    from mlflow.exceptions import MlflowException

    try:
        yield
    except refused as exc:
        err.print(f"[red]cannot monitor:[/red] {exc}", soft_wrap=True)
        for kind, hint in hints:
            if isinstance(exc, kind):
                err.print(hint, soft_wrap=True, markup=False)
        raise typer.Exit(EXIT_REFUSED) from None
    except OSError as exc:
        err.print(f"[red]cannot write the reports:[/red] {exc}")
        raise typer.Exit(EXIT_REFUSED) from None
    except MlflowException as exc:
        err.print(f"[red]the reports are written but MLflow refused the run:[/red] {exc.message}")
        raise typer.Exit(EXIT_REFUSED) from None


def _no_model_hint(settings: ServingSettings) -> str:
    """What to do when the default model (the alias, usually ``champion``) is not there.

    A version becomes champion only when its gates pass, so after a first training that
    failed a gate there is none; the user has to name the version to monitor.
    """
    name = settings.model_name
    return (
        f"hint: no version of {name!r} is `{settings.model_alias}` (a version becomes "
        "champion only when its gates pass). Name the version to monitor with --model, "
        f"e.g. --model models:/{name}@challenger or --model models:/{name}/VERSION."
    )


def monitor_command(
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="Directory for the reports.", show_default=False),
    ],
    raw: Annotated[
        Path | None,
        typer.Option(
            "--raw", metavar="DIR", help="Raw data directory (snapshot mode).", show_default=False
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="DATE",
            help="Date to monitor, YYYY-MM-DD (with --served-stats: only rows scored from "
            "the snapshot of this date).",
            show_default=False,
        ),
    ] = None,
    served_stats: Annotated[
        str | None,
        typer.Option(
            "--served-stats",
            metavar="URL_OR_FILE",
            help="Monitor what a service scored instead of a snapshot: its base URL (read "
            "with an auditor token) or a saved /served_stats answer. Drift, score and "
            "fairness only; performance is not applicable (no probabilities, no labels).",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATE",
            help="With --served-stats: first scoring day (default: 30 days before --until).",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="DATE",
            help="With --served-stats: last scoring day (default: today, UTC).",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="EARLYRISK_TOKEN",
            metavar="TOKEN",
            help="Auditor token for --served-stats URL (prefer the EARLYRISK_TOKEN variable: "
            "a command line is visible to other users).",
            show_default=False,
        ),
    ] = None,
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
    audit_log: AuditLogOption = None,
    mlflow_run: Annotated[
        bool, typer.Option("--mlflow/--no-mlflow", help="Log a monitoring run to MLflow.")
    ] = True,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 4 when a check could not be evaluated.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace reports already in --out.")
    ] = False,
) -> None:
    """Monitor drift, estimated and realized performance, fairness and decisions."""
    from serving.monitor.audit_source import source_option
    from serving.monitor.decisions import AuditLogReadError
    from serving.monitor.run import MonitorError, run_monitor
    from serving.settings import ServingSettings
    from training.registry import ModelChecksumError, ModelNotFoundError

    err = Console(stderr=True)
    if served_stats is not None:
        _served_command(
            served_stats,
            raw=raw,
            as_of=as_of,
            since=since,
            until=until,
            token=token,
            out=out,
            model=model,
            tracking_uri=tracking_uri,
            config_file=config_file,
            reference_as_of=reference_as_of,
            mlflow_run=mlflow_run,
            strict=strict,
            overwrite=overwrite,
        )
        return
    if raw is None or as_of is None:
        err.print(
            "[red]error:[/red] give --raw DIR and --as-of DATE, or --served-stats URL_OR_FILE"
        )
        raise typer.Exit(EXIT_USAGE)
    if not raw.is_dir():
        err.print(f"[red]error:[/red] --raw {raw} is not a directory")
        raise typer.Exit(EXIT_USAGE)
    day = _date(as_of, "--as-of", err)
    reference_day = _date(reference_as_of, "--reference-as-of", err) if reference_as_of else None
    config = _config(config_file, err)
    _check_out(out, overwrite=overwrite, err=err)
    settings = ServingSettings()
    refused = (MonitorError, ModelNotFoundError, ModelChecksumError, AuditLogReadError, ValueError)
    hints = () if model or settings.model_uri else ((ModelNotFoundError, _no_model_hint(settings)),)
    with (
        _refusing(err, refused, hints=hints),
        raw_data_refusals(err, nothing="no report was written"),
    ):
        outcome = run_monitor(
            raw,
            as_of=day,
            out_dir=out,
            model_uri=model or settings.resolved_model_uri,
            tracking_uri=tracking_uri or settings.tracking_uri,
            reference_as_of=reference_day,
            audit_log_path=source_option(audit_log, settings),
            config=config,
            log_to_mlflow=mlflow_run,
        )
    _finish(outcome, strict=strict)


def _finish(outcome: Any, *, strict: bool) -> None:
    """Print where the report went and what fired; exit with the documented code."""
    console = Console()
    console.print(f"report: {outcome.json_path} and {outcome.html_path}", highlight=False)
    if outcome.mlflow_run_id:
        console.print(f"MLflow monitoring run: {outcome.mlflow_run_id}", highlight=False)
    for line in outcome.report.get("coverage_warnings", []):
        console.print(f"[yellow]coverage warning[/yellow] {line}", highlight=False)
    for check in outcome.not_evaluable:
        console.print(f"not evaluable: {check['subject']}: {check['evidence']}", highlight=False)
    for alert in outcome.alerts:
        console.print(f"[red]ALERT[/red] {alert['subject']}: {alert['evidence']}", highlight=False)
    if outcome.alerts:
        raise typer.Exit(EXIT_ALERT)
    console.print("no alert fired")
    if strict and outcome.not_evaluable:
        raise typer.Exit(EXIT_NOT_EVALUABLE)


def _served_command(
    source: str,
    *,
    raw: Path | None,
    as_of: str | None,
    since: str | None,
    until: str | None,
    token: str | None,
    out: Path,
    model: str | None,
    tracking_uri: str | None,
    config_file: Path | None,
    reference_as_of: str | None,
    mlflow_run: bool,
    strict: bool,
    overwrite: bool,
) -> None:
    """``monitor --served-stats``: the drift, score and fairness parts on what was served."""
    from serving.monitor.run import MonitorError, run_served_monitor
    from serving.settings import ServingSettings

    err = Console(stderr=True)
    if raw is not None or reference_as_of is not None:
        err.print(
            "[red]error:[/red] --served-stats monitors served statistics against the model's "
            "stored reference; --raw and --reference-as-of belong to the snapshot mode"
        )
        raise typer.Exit(EXIT_USAGE)
    last = _date(until, "--until", err) if until else dt.datetime.now(dt.UTC).date()
    first = _date(since, "--since", err) if since else last - dt.timedelta(days=30)
    day = _date(as_of, "--as-of", err) if as_of else None
    config = _config(config_file, err)
    _check_out(out, overwrite=overwrite, err=err)
    settings = ServingSettings()
    with _refusing(err, (MonitorError, ValueError)):
        outcome = run_served_monitor(
            source,
            since=first,
            until=last,
            as_of=day,
            token=token,
            out_dir=out,
            model_uri=model,
            tracking_uri=tracking_uri or settings.tracking_uri,
            config=config,
            log_to_mlflow=mlflow_run,
        )
    _finish(outcome, strict=strict)
