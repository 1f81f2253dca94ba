"""The ``earlyrisk synth`` verb: a thin job over :func:`features.synth.pipeline.synthesize`.

Heavy imports (numpy, pyarrow, scipy) happen inside the command, so ``earlyrisk --help``
stays fast.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from features.synth.pipeline import SynthSummary

DEFAULT_START = date(2020, 1, 1)  # mirrors features.synth.process (kept import-free here)
DEFAULT_END = date(2024, 12, 31)


class OutputFormat(StrEnum):
    """File format of the six contract tables (the ground truth is always Parquet)."""

    parquet = "parquet"
    csv = "csv"


def synth(
    families: Annotated[
        int, typer.Option("--families", "-n", min=1, help="Families present at the start.")
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Directory to write the tables into (created)."),
    ],
    seed: Annotated[
        int, typer.Option("--seed", "-s", min=0, help="Master seed; same seed, same files.")
    ] = 0,
    start: Annotated[
        datetime,
        typer.Option(
            formats=["%Y-%m-%d"], help="First day of the period.", show_default="2020-01-01"
        ),
    ] = datetime.combine(DEFAULT_START, datetime.min.time()),
    end: Annotated[
        datetime,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Last day of the period (the extraction date).",
            show_default="2024-12-31",
        ),
    ] = datetime.combine(DEFAULT_END, datetime.min.time()),
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="File format of the contract tables.")
    ] = OutputFormat.parquet,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Worker processes generating chunks (the output does not depend on it)."
        ),
    ] = min(2, os.cpu_count() or 1),
    shift_month: Annotated[
        str | None,
        typer.Option(
            "--shift-month",
            metavar="YYYY-MM",
            help="Plant the documented change (benefit amounts, school-absence reporting, "
            "fewer outcomes recorded) from this month on; see docs/synthetic_registry.md.",
            show_default=False,
        ),
    ] = None,
    deploy_from: Annotated[
        str | None,
        typer.Option(
            "--deploy-from",
            metavar="YYYY-MM",
            help="Plant a model in service from this month on: each month it flags the "
            "capacity (a risk rule over the recorded events, not the hidden truth), "
            "caseworkers of differing leniency "
            "offer support, support lowers the case hazard by --support-effect, a random "
            "--holdout-share of flagged families has the score hidden. Writes "
            "interventions and adds the with/without-support probabilities to the truth "
            "(docs/interventions.md).",
            show_default=False,
        ),
    ] = None,
    support_effect: Annotated[
        float,
        typer.Option(
            "--support-effect",
            min=0.0,
            max=1.0,
            help="With --deploy-from: relative reduction of the monthly case hazard while "
            "a family is supported (0.5 halves it).",
        ),
    ] = 0.5,
    holdout_share: Annotated[
        float,
        typer.Option(
            "--holdout-share",
            min=0.0,
            max=1.0,
            help="With --deploy-from: share of flagged families whose score is hidden "
            "from the caseworker (the display hold-out).",
        ),
    ] = 0.2,
    deploy_capacity: Annotated[
        float,
        typer.Option(
            "--deploy-capacity",
            min=0.0,
            max=1.0,
            help="With --deploy-from: share of the families with a minor the model flags "
            "each month (the caseworkers' capacity).",
        ),
    ] = 0.01,
    support_months: Annotated[
        int,
        typer.Option(
            "--support-months",
            min=1,
            max=36,
            help="With --deploy-from: months support lasts after an offer; a flagged "
            "family is not flagged again meanwhile. Train with the same "
            "interventions.support_months.",
        ),
    ] = 12,
    acceptance: Annotated[
        float,
        typer.Option(
            "--acceptance",
            min=0.0,
            max=1.0,
            help="With --deploy-from: share of offered families who accept support (the take-up).",
        ),
    ] = 0.8,
    leniency: Annotated[
        str,
        typer.Option(
            "--leniency",
            metavar="LOW:HIGH",
            help="With --deploy-from: each caseworker offers support to a family whose score "
            "is shown with a chance drawn once, uniformly between LOW and HIGH.",
        ),
    ] = "0.45:0.95",
    variant: Annotated[
        str,
        typer.Option(
            "--variant",
            help="Structure of the generating process: standard, seasonal, slow_recording, "
            "event_mix, rare_outcomes, long_foreign (features/synth/variants.py).",
        ),
    ] = "standard",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace tables already in --out.")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> None:
    """Write a synthetic family registry that follows the raw-data contract.

    Six tables (families, persons, memberships, events, outcomes, protected) plus ground_truth.parquet: each family's true probability of the default label (a child protection case or placement within 12 months) at every quarter end.

    The generating process, its planted surveillance bias and what the data can and cannot show are documented in docs/synthetic_registry.md.
    """  # noqa: E501 - one line per paragraph, so --help wraps it to the terminal
    from pydantic import ValidationError
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from features.synth.pipeline import synthesize
    from features.synth.process import SynthConfig

    if end.date() <= start.date():
        raise typer.BadParameter(
            f"--end {end.date().isoformat()} must be after --start {start.date().isoformat()}",
            param_hint="--end",
        )
    shift_day = None
    if shift_month is not None:
        try:
            shift_day = datetime.strptime(shift_month, "%Y-%m").date()
        except ValueError:
            raise typer.BadParameter(
                f"{shift_month!r} is not a month (YYYY-MM)", param_hint="--shift-month"
            ) from None
        if not start.date() < shift_day <= end.date():
            raise typer.BadParameter(
                f"{shift_month} must lie after --start {start.date().isoformat()} and by "
                f"--end {end.date().isoformat()}",
                param_hint="--shift-month",
            )
    deploy_day = None
    if deploy_from is not None:
        try:
            deploy_day = datetime.strptime(deploy_from, "%Y-%m").date()
        except ValueError:
            raise typer.BadParameter(
                f"{deploy_from!r} is not a month (YYYY-MM)", param_hint="--deploy-from"
            ) from None
        if not start.date() < deploy_day <= end.date():
            raise typer.BadParameter(
                f"{deploy_from} must lie after --start {start.date().isoformat()} and by "
                f"--end {end.date().isoformat()}",
                param_hint="--deploy-from",
            )
    lenient = _leniency(leniency)
    try:
        config = SynthConfig(
            families=families,
            seed=seed,
            start=start.date(),
            end=end.date(),
            shift_month=shift_day,
            deploy_from=deploy_day,
            support_effect=support_effect,
            holdout_share=holdout_share,
            deploy_capacity=deploy_capacity,
            deploy_support_months=support_months,
            deploy_acceptance=acceptance,
            deploy_leniency=lenient,
            variant=variant,
        )
    except ValidationError as error:  # an unknown --variant names the known ones
        raise typer.BadParameter(str(error), param_hint="--variant") from None

    console = Console(stderr=True)
    bar = Progress(
        TextColumn("[bold]synth[/] chunks"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not progress,
        transient=False,
    )
    with bar:
        task = bar.add_task("chunks", total=config.n_chunks)
        try:
            summary = synthesize(
                config,
                out,
                fmt=fmt.value,
                workers=workers,
                overwrite=overwrite,
                on_chunk=lambda _: bar.advance(task),
            )
        except (FileExistsError, PermissionError) as error:
            raise typer.BadParameter(str(error), param_hint="--out") from None
    print_summary(summary, Console())
    if shift_day is not None:
        from features.synth.shift import describe_shift

        for line in describe_shift(shift_day):
            Console().print(line, soft_wrap=True, highlight=False, markup=False)


def print_summary(summary: SynthSummary, console: Console) -> None:
    """Rows per table, the label base rates and where the files are."""
    import math

    from rich.table import Table

    table = Table(title="Synthetic registry")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("file")
    for name, rows in summary.rows.items():
        table.add_row(name, f"{rows:,}", summary.files[name].name)
    console.print(table)
    observed = (
        "n/a (no 12-month window ends inside the period)"
        if math.isnan(summary.observed_base_rate)
        else f"{summary.observed_base_rate:.2%} over the complete 12-month windows"
    )
    expected = (
        "n/a (no quarter end inside the period)"
        if math.isnan(summary.expected_base_rate)
        else f"{summary.expected_base_rate:.2%} a year (mean true_probability)"
    )
    lines = [
        f"written to: {summary.out_dir}",
        "default label (case or placement within 12 months): expected base rate "
        f"{expected}; observed {observed}",
        f"{summary.rows.get('events', 0):,} events in {summary.seconds:.1f} s "
        f"({summary.events_per_second:,.0f} events/s)",
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)


def _leniency(text: str) -> tuple[float, float]:
    """``LOW:HIGH`` as two probabilities, low first; anything else is refused, naming it."""
    low, sep, high = text.partition(":")
    try:
        bounds = (float(low), float(high)) if sep else None
    except ValueError:
        bounds = None
    if bounds is None or not 0.0 <= bounds[0] <= bounds[1] <= 1.0:
        raise typer.BadParameter(
            f"{text!r} is not LOW:HIGH with 0 <= LOW <= HIGH <= 1 (e.g. 0.45:0.95)",
            param_hint="--leniency",
        )
    return bounds
