"""The ``earlyrisk audit`` verb: audit any score file (ours or a legacy tool's) for fairness.

A thin job over :mod:`training.audit`: read the file, pick the decision rule, run the audit
with a progress bar, write the JSON and HTML reports, print a summary table, and (with
``--gates``) exit non-zero when a gate does not pass. Exit codes: 0 success, 1 a gate check
failed, was not evaluable or lacked evidence (and was not waived in the gates file), 2 bad
options or bad input (the message names the column, rule and values).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import pandas as pd

    from training.audit.gates import GateOutcome
    from training.audit.result import AuditResult

EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2


def _fail(message: str) -> typer.Exit:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {message}")
    return typer.Exit(EXIT_BAD_INPUT)


#: Largest score magnitude audited: far beyond any probability or risk scale, and small
#: enough that sums, ranges and variances of a table's scores stay finite.
MAX_SCORE_MAGNITUDE = 1e100


def _check_out(out: Path, *, overwrite: bool) -> None:
    """--out is a directory for the two reports; refuse a file, or reports not to replace."""
    from features.private_files import parent_problem
    from training.audit.io import HTML_NAME, JSON_NAME

    if out.exists() and not out.is_dir():
        raise _fail(f"--out {str(out)!r} is a file; name a directory for the reports")
    if problem := parent_problem(out / JSON_NAME):
        raise _fail(f"--out {str(out)!r} cannot hold the reports: {problem}")
    existing = [name for name in (JSON_NAME, HTML_NAME) if (out / name).exists()]
    if existing and not overwrite:
        raise _fail(
            f"--out {str(out)!r} already holds {', '.join(existing)}; pass --overwrite to "
            "replace them, or choose another directory"
        )


def _check_magnitude(values: Any, score: str) -> None:
    """Refuse scores so large that the audit's statistics would overflow to infinity."""
    import numpy as np

    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    if finite.size and float(np.abs(finite).max()) > MAX_SCORE_MAGNITUDE:
        raise _fail(
            f"score column {score!r} holds values up to {float(np.abs(finite).max()):.3g}; "
            f"scores beyond ±{MAX_SCORE_MAGNITUDE:g} cannot be audited (their sums and "
            "ranges overflow). Rescale the score (a rank, a probability or a risk scale)"
        )


def _parse_references(values: list[str], groups: list[str]) -> str | dict[str, str] | None:
    """``GROUP`` (any attribute holding it) or ``ATTRIBUTE=GROUP``; several allowed."""
    if not values:
        return None
    mapping: dict[str, str] = {}
    plain: list[str] = []
    for value in values:
        attribute, sep, group = value.partition("=")
        if sep and attribute in groups:
            mapping[attribute] = group
        else:
            plain.append(value)
    if plain and (mapping or len(plain) > 1):
        raise _fail(
            "with several --reference values use ATTRIBUTE=GROUP for each "
            f"(got {', '.join(map(repr, values))}; group columns: {', '.join(groups)})"
        )
    return plain[0] if plain else mapping


def audit_command(
    scores: Annotated[
        Path,
        typer.Option(
            "--scores",
            help="Score table (.csv, .csv.gz, .parquet or .pq), or a directory of Parquet "
            "part files (as `earlyrisk score --engine spark` writes).",
        ),
    ],
    score: Annotated[
        str,
        typer.Option("--score", help="Score column: probability, any risk scale, or a 0/1 flag."),
    ],
    group: Annotated[
        list[str],
        typer.Option(
            "--group",
            help="Group column to audit (repeat for several). Missing values form the "
            "group '(missing)'; no row is dropped.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for the JSON and HTML reports.")],
    label: Annotated[
        str | None,
        typer.Option(
            "--label",
            help="0/1 outcome column. Omit for label-free mode (selection rates and score "
            "distributions only, e.g. for live scores without outcomes yet).",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Select score >= X. Default 0.5 when the score is a 0/1 flag.",
        ),
    ] = None,
    top_k: Annotated[
        int | None,
        typer.Option("--top-k", help="Select the K highest scores (capacity as a count)."),
    ] = None,
    top_fraction: Annotated[
        float | None,
        typer.Option(
            "--top-fraction", help="Select the floor(F * n) highest scores (capacity as a share)."
        ),
    ] = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(
            "--reference",
            help="Reference group for disparities: GROUP, or ATTRIBUTE=GROUP (repeatable). "
            "Default: the largest group of each attribute.",
        ),
    ] = None,
    min_group_size: Annotated[
        int,
        typer.Option("--min-group-size", min=1, help="Suppress groups with fewer rows."),
    ] = 11,
    bootstrap: Annotated[
        int,
        typer.Option("--bootstrap", min=0, help="Bootstrap resamples for intervals (0 = none)."),
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    gates: Annotated[
        Path | None,
        typer.Option(
            "--gates",
            help="YAML of FairnessGates; the command exits with code 1 when a gate check "
            "fails, is not evaluable or lacks evidence (unless waived in the file).",
        ),
    ] = None,
    proxy_feature: Annotated[
        list[str] | None,
        typer.Option(
            "--proxy-feature",
            help="Feature column to test as a proxy of each group column (repeatable).",
        ),
    ] = None,
    intersections: Annotated[
        bool,
        typer.Option(
            "--intersections/--no-intersections", help="Also audit pairs of group columns."
        ),
    ] = True,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace reports already in --out."),
    ] = False,
) -> None:
    """Audit a score file: error rates, calibration and selection by group, with intervals.

    Applies one decision rule (exactly one of --threshold, --top-k, --top-fraction) to all
    rows, then compares every group with a reference group. Writes audit_report.json and a
    self-contained audit_report.html to --out. Exit codes: 0 ok, 1 a gate failed, 2 bad
    input.
    """
    from training.audit import (
        AuditInputError,
        DecisionRule,
        FairnessGates,
        Threshold,
        TopFraction,
        TopK,
        evaluate_fairness_gates,
        failed_gates,
    )
    from training.audit.io import read_scores, write_reports
    from training.audit.validation import is_binary_score, score_values

    chosen = [
        name
        for name, value in (
            ("--threshold", threshold),
            ("--top-k", top_k),
            ("--top-fraction", top_fraction),
        )
        if value is not None
    ]
    if len(chosen) > 1:
        raise _fail(f"choose exactly one decision rule; got {', '.join(chosen)}")
    _check_out(out, overwrite=overwrite)
    gate_config = None
    if gates is not None:
        import yaml

        try:
            gate_config = FairnessGates.from_yaml(gates)
        except FileNotFoundError:
            raise _fail(f"gates file {str(gates)!r} does not exist") from None
        except IsADirectoryError:
            raise _fail(f"gates file {str(gates)!r} is a directory") from None
        except yaml.YAMLError as error:
            raise _fail(f"gates file {str(gates)!r} is not valid YAML: {error}") from None
        except (ValueError, TypeError) as error:  # pydantic ValidationError
            raise _fail(f"gates file {str(gates)!r} is invalid: {error}") from None
    try:
        frame = read_scores(scores)
        if score not in frame.columns:
            raise AuditInputError(
                f"unknown column {score!r} (--score); the table has: {', '.join(frame.columns)}"
            )
        _check_magnitude(score_values(frame, score), score)
        rule: DecisionRule
        if top_k is not None:
            rule = TopK(top_k)
        elif top_fraction is not None:
            rule = TopFraction(top_fraction)
        elif threshold is not None:
            rule = Threshold(threshold)
        elif is_binary_score(score_values(frame, score)):
            rule = Threshold(0.5)
        else:
            raise AuditInputError(
                f"score column {score!r} is not a 0/1 flag, so choose exactly one decision "
                "rule: --threshold X, --top-k K or --top-fraction F"
            )
        result = _run_with_progress(
            frame,
            n_boot=bootstrap,
            score=score,
            label=label,
            groups=list(group),
            rule=rule,
            reference=_parse_references(list(reference or []), list(group)),
            min_group_size=min_group_size,
            intersections=intersections,
            seed=seed,
            proxy_features=list(proxy_feature or []) or None,
        )
    except (AuditInputError, ValueError) as error:
        raise _fail(str(error)) from None

    outcomes = evaluate_fairness_gates(result, gate_config) if gate_config else None
    try:
        json_path, html_path = write_reports(
            result, out, gate_outcomes=outcomes, source=str(scores)
        )
    except OSError as error:
        raise _fail(f"cannot write the reports to --out {str(out)!r}: {error}") from None
    _print_summary(result, outcomes, json_path, html_path)
    ties = result.settings.get("ties_at_cutoff")
    if ties:
        from rich.console import Console

        Console(stderr=True, highlight=False).print(f"[bold yellow]warning:[/] {ties['note']}")
    if outcomes is not None and failed_gates(outcomes):
        raise typer.Exit(EXIT_GATE_FAILED)


def _run_with_progress(frame: pd.DataFrame, *, n_boot: int, **options: Any) -> AuditResult:
    """Run the audit with a rich progress bar over the bootstrap resamples."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from training.audit.audit import audit

    with Progress(
        TextColumn("bootstrap"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} resamples"),
        TimeElapsedColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task("bootstrap", total=max(n_boot, 1))
        return audit(
            frame,
            n_boot=n_boot,
            progress=lambda done, _total: progress.update(task, completed=done),
            **options,
        )


def _rate(value: object) -> str:
    import pandas as pd

    if value is None or pd.isna(value):
        return "n/a"
    return f"{100 * float(value):.1f}%"  # type: ignore[arg-type]


def _print_summary(
    result: AuditResult,
    outcomes: list[GateOutcome] | None,
    json_path: Path,
    html_path: Path,
) -> None:
    """Rich table per attribute, the plain-language summary, failed gates, and file paths."""
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from training.audit.metrics import METRIC_LABELS
    from training.audit.summary import summarize

    console = Console(highlight=False)
    metrics = (
        ["selection_rate"] if result.label_free else ["selection_rate", "fpr", "fnr", "precision"]
    )
    table = Table(title=f"Fairness audit of {result.score} ({result.rule.describe()})")
    table.add_column("attribute")
    table.add_column("group")
    table.add_column("n", justify="right")
    for metric in metrics:
        table.add_column(METRIC_LABELS[metric], justify="right")
    if not result.label_free:
        table.add_column("ROC AUC", justify="right")
    rows = result.by_group[result.by_group["kind"] == "attribute"]
    for _, row in rows.iterrows():
        name = str(row["group"]) + (" (ref)" if row["is_reference"] else "")
        if row["suppressed"]:
            blanks = ["suppressed"] + [""] * (len(metrics) + (0 if result.label_free else 1))
            table.add_row(str(row["attribute"]), name, *blanks, style="dim")
            continue
        cells = [f"{int(row['n']):,}", *(_rate(row[m]) for m in metrics)]
        if not result.label_free:
            auc = row["roc_auc"]
            cells.append("n/a" if pd.isna(auc) else f"{auc:.3f}")
        table.add_row(str(row["attribute"]), name, *cells)
    console.print(table)
    for line in summarize(result):
        console.print(f"- {line}")
    if outcomes is not None:
        from rich.markup import escape

        from training.outcome import Outcome, outcome_summary, sort_checks

        blocking = sort_checks(o for o in outcomes if o.blocks)
        waived = [o for o in outcomes if o.status == "waived"]
        summary = outcome_summary(outcomes)
        if blocking:
            console.print(
                f"[bold red]{len(blocking)} gate check(s) block ({summary}; "
                f"failed first, then inconclusive):[/]"
            )
            for outcome in blocking:
                style = "red" if outcome.outcome is Outcome.FAIL else "yellow"
                mark = outcome.outcome.value.upper()
                if outcome.status not in ("fail", "inconclusive"):
                    mark += f" ({outcome.status.replace('_', ' ')})"
                console.print(
                    f"  [{style}]{mark}[/] {escape(outcome.name)}: {escape(outcome.message)}"
                )
        else:
            console.print(f"[bold green]no gate check blocks ({summary})[/]")
        for outcome in waived:
            console.print(
                f"  [yellow]WAIVED {outcome.outcome.value}[/] {escape(outcome.name)}: "
                f"{escape(outcome.message)}"
            )
        for reason in sorted({o.waiver for o in waived if o.waiver}):
            console.print(f"  waiver reason: {escape(reason)}")
    console.print(f"JSON report: {json_path}")
    console.print(f"HTML report: {html_path}")
