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

    from training.gates import GateResult
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
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="end with every metric interval and every gate (default: the gates that "
            "did not pass, at most 60 lines in all)",
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
    print_summary(result, console, verbose=verbose)
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


# The default summary: a short metric label, the gates that did not pass (at most this many,
# each detail cut at a word) and a count of the rest, so that it fits a screen (60 lines at
# 80 columns); `--verbose` and the report have everything.
SHORT_LABELS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "brier": "Brier score",
    "log_loss": "log-loss",
    "ece": "ECE",
    "precision_at_k": "precision@cap",
    "recall_at_k": "recall@cap",
    "lift_at_k": "lift@cap",
}
MAX_GATES_LISTED = 6
MAX_DETAIL_CHARS = 100


def print_summary(result: TrainResult, console: Console, *, verbose: bool = False) -> None:
    """The closing summary: metrics, gates, version, alias, report location.

    By default short enough to read in a terminal (a real run has over a hundred gates, and
    the full tables ran to a thousand lines at 80 columns): the main model's intervals, the
    gates that did not pass first and at most :data:`MAX_GATES_LISTED` of them.
    ``verbose`` prints every interval and every gate.
    """
    if verbose:
        _print_metrics_full(result, console)
        _print_gates_full(result, console)
    else:
        _print_metrics_short(result, console)
        _print_gates_short(result, console)
    alias_style = "bold green" if result.decision.promoted else "bold yellow"
    console.print(
        f"Model [bold]{result.model_name}[/] version [bold]{result.model_version}[/] -> "
        f"alias [{alias_style}]{result.alias}[/] (run {result.run_id}, {result.tracking_uri})"
    )
    if verbose or result.decision.promoted:
        console.print(result.decision.explain(max_listed=3), markup=False, highlight=False)
    if result.report is not None:
        console.print(f"Report: {result.report.html}  (Markdown: {result.report.markdown})")
    if verbose:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
        console.print(f"[dim]Stages: {stages}[/]")


def _test_title(result: TrainResult, *, intervals: str) -> str:
    ev = result.evaluation
    return (
        f"Test slice: {ev.n_rows} families, {ev.n_positive} outcomes ({ev.prevalence:.1%}); "
        f"capacity {ev.capacity_k} ({result.config.capacity.describe()}); "
        f"{ev.confidence_level:.0%} bootstrap intervals {intervals}"
    )


def _print_metrics_short(result: TrainResult, console: Console) -> None:
    """One line per metric: the main model with its interval, the others' estimates."""
    from rich import box
    from rich.table import Table

    from training.evaluation import METRICS

    ev = result.evaluation
    names = list(ev.models)
    table = Table(title=_test_title(result, intervals=f"for {names[0]}"), box=box.SIMPLE_HEAD)
    table.add_column("metric", no_wrap=True)
    table.add_column(names[0], justify="right", no_wrap=True)
    for name in names[1:]:
        table.add_column(name, justify="right", overflow="fold")
    if ev.oracle:
        table.add_column("oracle", justify="right", style="dim")
    for m in METRICS:
        row = [SHORT_LABELS.get(m, m), str(ev.models[names[0]].metrics[m])]
        row += [f"{ev.models[n].metrics[m].estimate:.3f}" for n in names[1:]]
        if ev.oracle:
            row.append(f"{ev.oracle[m].estimate:.3f}")
        table.add_row(*row)
    if ev.models[names[0]].truth:  # a synthetic registry: the error against the truth
        row = ["mae_vs_truth", *(f"{ev.models[n].truth['mae_vs_truth']:.4f}" for n in names)]
        table.add_row(*row, *([""] if ev.oracle else []))
    console.print(table)


def _print_metrics_full(result: TrainResult, console: Console) -> None:
    from rich.table import Table

    from training.evaluation import METRICS
    from training.report import METRIC_LABELS

    ev = result.evaluation
    table = Table(title=_test_title(result, intervals="for every model"))
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


def _blocking_first(result: TrainResult) -> list[GateResult]:
    """Failed, then inconclusive, then passed gates, each in report order."""
    from training.outcome import sort_checks

    return sort_checks(result.decision.gates)


def _mark(gate: GateResult) -> str:
    """The gate's outcome (pass, fail, inconclusive), with its finer status when it says
    more (waived, not evaluable, no champion)."""
    from rich.markup import escape

    from training.outcome import Outcome

    styles = {Outcome.FAIL: "bold red", Outcome.INCONCLUSIVE: "bold yellow", Outcome.PASS: "green"}
    mark = f"[{styles[gate.outcome]}]{gate.outcome.value.upper()}[/]"
    if gate.status not in ("pass", "fail", "inconclusive"):
        mark += f" ({escape(gate.status.replace('_', ' '))})"
    return mark


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " [...]"


def _print_gates_short(result: TrainResult, console: Console) -> None:
    """The counts per outcome, then the gates that did not pass, at most a few."""
    from rich.markup import escape

    from training.outcome import outcome_summary

    gates = _blocking_first(result)
    console.print(f"[bold]Promotion gates[/] ({len(gates)}): {outcome_summary(gates)}")
    blocking = [g for g in gates if g.blocks]
    for gate in blocking[:MAX_GATES_LISTED]:
        # gate names hold "[attribute/group]", which rich would read as markup
        detail = escape(_clip(gate.detail, MAX_DETAIL_CHARS))
        console.print(f"  {_mark(gate)} {escape(gate.name)}: {detail}", highlight=False)
    rest = len(blocking) - MAX_GATES_LISTED
    if rest > 0:
        console.print(f"  and {rest} more that did not pass", highlight=False)
    if blocking:
        console.print(
            f"{len(blocking)} gate(s) did not pass: kept as `{result.alias}`. Every gate: "
            "--verbose, or the report's gate table.",
            highlight=False,
        )


def _print_gates_full(result: TrainResult, console: Console) -> None:
    from rich.markup import escape
    from rich.table import Table

    from training.outcome import outcome_summary

    gates = Table(title=f"Promotion gates: {outcome_summary(result.decision.gates)}")
    gates.add_column("gate")
    gates.add_column("outcome")
    gates.add_column("detail")
    for g in _blocking_first(result):
        # gate names hold "[attribute/group]", which rich would read as markup
        gates.add_row(escape(g.name), _mark(g), escape(g.detail))
    console.print(gates)
