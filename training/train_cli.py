"""``earlyrisk train``: retrain, evaluate, audit, register and (if every gate passes) promote.

A thin job over :func:`training.pipeline.run_training`: reads the config, shows progress per
stage, and ends with one summary table. Heavy libraries are imported inside the command so
``earlyrisk --help`` stays fast.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

    from training.results import TrainResult

TRAIN_HELP = (
    "Train the family-risk model on a raw registry and register it in MLflow.\n\n"
    "Derives the temporal design from the data unless the config gives dates (test: the "
    "latest quarter end whose label window is fully observed; calibration one horizon "
    "earlier; training the quarter ends before that), builds point-in-time snapshots of the "
    "eligible families (default: a child under 18 in the household), fits LightGBM with "
    "early stopping and a logistic baseline, calibrates each on the calibration slice, "
    "evaluates them and the well-being index on the test slice with bootstrap intervals, "
    "audits fairness at capacity, repeats the design at earlier origins (backtest), refits "
    "the registered model on the most recent labelled data, writes a report, logs "
    "everything to MLflow and registers the model.\n\n"
    "The alias `champion` moves to the new version only when every promotion gate passes; "
    "otherwise it becomes `challenger` and the failed gates are named. Same data + config + "
    "seed give the same model and metrics."
)

EXIT_ERROR = 1
EXIT_NOT_PROMOTED = 3


def train_command(
    raw: Annotated[
        Path,
        typer.Option(
            "--raw",
            help="raw registry directory (the six contract tables; ground_truth.parquet "
            "is used for extra metrics when present)",
            exists=True,
            file_okay=False,
            dir_okay=True,
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="training config YAML (default: training/default_config.yaml)",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option("--report-dir", help="where to write the report (overrides the config)"),
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            help="MLflow tracking/registry URI, e.g. sqlite:///mlflow.db or postgresql://... "
            "(overrides the config)",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="override the config's seed")] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", min=1, help="feature-engine worker processes (default: cores)"),
    ] = None,
    require_promotion: Annotated[
        bool,
        typer.Option(
            "--require-promotion",
            help=f"exit with code {EXIT_NOT_PROMOTED} when a gate fails (for automation)",
        ),
    ] = False,
) -> None:
    """Train, evaluate, audit, register; promote to champion only if every gate passes."""
    from rich.console import Console

    console = Console()
    err = Console(stderr=True)
    from features.errors import EarlyriskError
    from features.validation import InvalidRawDataError
    from training.config import load_config
    from training.pipeline import run_training

    try:
        cfg = load_config(config)
        updates: dict[str, object] = {"raw_dir": raw}
        if report_dir is not None:
            updates["report_dir"] = report_dir
        if seed is not None:
            updates["seed"] = seed
        if tracking_uri is not None:
            updates["mlflow"] = cfg.mlflow.model_copy(update={"tracking_uri": tracking_uri})
        cfg = cfg.model_copy(update=updates)
        with _StageProgress(console) as progress:
            result = run_training(
                cfg, raw_dir=raw, on_stage=progress.on_stage, n_jobs=jobs, feature_progress=False
            )
    except InvalidRawDataError as exc:
        err.print(f"[bold red]error:[/] the raw data in {raw} breaks the contract:")
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(EXIT_ERROR) from None
    except EarlyriskError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        raise typer.Exit(EXIT_ERROR) from None
    print_summary(result, console)
    if require_promotion and not result.decision.promoted:
        raise typer.Exit(EXIT_NOT_PROMOTED)


class _StageProgress:
    """One spinner line per stage, ticked off with its wall time."""

    LABELS: ClassVar[dict[str, str]] = {
        "load": "read raw data (its rules are checked beside the snapshots)",
        "design": "temporal design (from the data unless the config gives dates)",
        "features": "build point-in-time snapshots; the raw data's rule checks",
        "split": "eligible families, temporal slices",
        "fit": "fit LightGBM and the logistic baseline",
        "calibrate": "calibrate on the calibration slice",
        "evaluate": "evaluate on the test slice (bootstrap)",
        "audit": "fairness audit at capacity",
        "backtest": "rolling-origin backtest",
        "refit": "final refit on the most recent labelled data",
        "report": "write the report",
        "log": "log to MLflow and register",
    }

    def __init__(self, console: Console) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.started: dict[str, float] = {}

    def __enter__(self) -> _StageProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_stage(self, stage: str, event: str) -> None:
        label = self.LABELS.get(stage, stage)
        if event == "start":
            self.tasks[stage] = self.progress.add_task(label, total=1)
            self.started[stage] = time.perf_counter()
        else:
            self.progress.update(self.tasks[stage], completed=1)


def print_summary(result: TrainResult, console: Console) -> None:
    """The closing table: metrics with intervals, gates, version, alias, report location."""
    from rich.markup import escape
    from rich.table import Table

    from training.evaluation import METRICS
    from training.outcome import Outcome, outcome_summary, sort_checks
    from training.report import METRIC_LABELS

    ev = result.evaluation
    table = Table(
        title=(
            f"Test slice: {ev.n_rows} families, {ev.n_positive} outcomes "
            f"({ev.prevalence:.1%}); capacity {ev.capacity_k}; "
            f"{ev.confidence_level:.0%} bootstrap intervals"
        )
    )
    table.add_column("metric")
    names = list(ev.models)
    for name in names:
        table.add_column(name, justify="right")
    if ev.oracle:
        table.add_column("oracle", justify="right", style="dim")
    for m in METRICS:
        row = [METRIC_LABELS[m], *(str(ev.models[n].metrics[m]) for n in names)]
        if ev.oracle:
            row.append(str(ev.oracle[m]))
        table.add_row(*row)
    truth_keys = ("mae_vs_truth",)
    if ev.models[names[0]].truth:
        for key in truth_keys:
            row = [f"{key} (synthetic)", *(f"{ev.models[n].truth[key]:.4f}" for n in names)]
            table.add_row(*row, *([""] if ev.oracle else []))
    console.print(table)

    gates = Table(title=f"Promotion gates: {outcome_summary(result.decision.gates)}")
    gates.add_column("gate")
    gates.add_column("outcome")
    gates.add_column("detail")
    styles = {Outcome.FAIL: "bold red", Outcome.INCONCLUSIVE: "bold yellow", Outcome.PASS: "green"}
    for g in sort_checks(result.decision.gates):
        mark = f"[{styles[g.outcome]}]{g.outcome.value.upper()}[/]"
        if g.status not in ("pass", "fail", "inconclusive"):
            mark += f" ({escape(g.status.replace('_', ' '))})"
        # gate names hold "[attribute/group]", which rich would read as markup
        gates.add_row(escape(g.name), mark, escape(g.detail))
    console.print(gates)

    alias_style = "bold green" if result.decision.promoted else "bold yellow"
    console.print(
        f"Model [bold]{result.model_name}[/] version [bold]{result.model_version}[/] -> "
        f"alias [{alias_style}]{result.alias}[/] (run {result.run_id}, {result.tracking_uri})"
    )
    console.print(result.decision.explain(max_listed=3), markup=False, highlight=False)
    if result.report is not None:
        console.print(f"Report: {result.report.html}  (Markdown: {result.report.markdown})")
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    console.print(f"[dim]Stages: {stages}[/]")
