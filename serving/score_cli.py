"""The ``earlyrisk score`` verb: batch scores with reasons for every family, to Parquet.

A thin job over :func:`serving.batch.score_registry`. Exit codes: 0 written, 1 the raw
data breaks the contract or the model cannot be used, 2 usage error.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from features.engine_options import (
    DEFAULT_MASTER,
    Engine,
    EngineOption,
    SparkMasterOption,
    ValidatedOption,
    refuse_validated_on_pandas,
)
from serving.cli_options import (
    EXIT_REFUSED,
    EXIT_USAGE,
    ModelUriOption,
    TrackingUriOption,
    raw_data_refusals,
)

SCORE_HELP = (
    "Score every family of a raw registry as of a date, with the reasons, and write a "
    "Parquet file (with --engine spark: a directory of Parquet part files and _run.json).\n\n"
    "Uses the champion model (or --model) and the same explanations as the HTTP service. "
    "Families are processed partition by partition (a stable hash of family_id), so memory "
    "is bounded by a partition, not the registry. Every score is appended to the audit log "
    "(EARLYRISK_AUDIT_LOG_PATH, as the service does) before the file is published; if the "
    "log cannot be written, no file is. The file holds score_id, family_id, as_of, "
    "probability, baseline_probability, risk_level, percentile, reasons_raising, "
    "reasons_lowering, context (texts in --lang), model_name, model_version, label, "
    "label_observed, the well-being index and the audit_* groups, ready for "
    "`earlyrisk audit`; each band's lower bound is in the file's metadata "
    "(earlyrisk.band.<level>).\n\n"
    "With a rollout (--rollout), a family is scored by its region's version (model_version "
    "says which) and a family in the display hold-out has status `withheld`: its score_id "
    "(to record the decision on) but no probability, level or reasons. With --shadow, a "
    "second version scores every family on record only (audit log shadow entries); the "
    "file never holds its scores.\n\n"
    "Each run is one entry group in the audit log: a `batch_run` entry when it starts, its "
    "scores under the run id, and `completed` or `aborted` at the end; a run that was killed "
    "is marked aborted by the next run on the same file, which also removes its temporary "
    "file. An existing --out is only replaced with --overwrite.\n\n"
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
        typer.Option(
            "--out",
            metavar="PATH",
            help=(
                "Where to write the scores: a Parquet file (pandas engine); with "
                "--engine spark, a directory of Parquet part files."
            ),
            show_default=False,
        ),
    ],
    model: ModelUriOption = None,
    tracking_uri: TrackingUriOption = None,
    families_per_partition: Annotated[
        int,
        typer.Option("--families-per-partition", min=1, help="Bounds memory per step."),
    ] = 25_000,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace --out if it exists.")
    ] = False,
    engine: EngineOption = Engine.pandas,
    spark_master: SparkMasterOption = DEFAULT_MASTER,
    lang: Annotated[
        str,
        typer.Option("--lang", help="Language of the reason texts: en, ru or kk."),
    ] = "en",
    validated: ValidatedOption = None,
    rollout: Annotated[
        Path | None,
        typer.Option(
            "--rollout",
            metavar="FILE",
            help="Rollout config (YAML, as `earlyrisk serve --rollout`; default "
            "EARLYRISK_ROLLOUT_CONFIG_PATH): each family is scored by its region's version, "
            "and a hold-out family's row says `withheld`, without probability, level or "
            "reasons. Sealed in the audit log before the first score.",
            show_default=False,
        ),
    ] = None,
    shadow: Annotated[
        str | None,
        typer.Option(
            "--shadow",
            metavar="URI",
            help="A second registered version (models:/NAME/VERSION; default "
            "EARLYRISK_SHADOW_MODEL_URI) that scores every family too: its scores go to the "
            "audit log as shadow entries, never into the file (`earlyrisk shadow-report`).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Batch-score every family."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from features.cli_signals import install_scratch_cleanup
    from features.errors import EarlyriskError
    from features.private_files import parent_problem
    from serving.batch import batch_operator, score_registry
    from serving.batch_summary import print_batch_summary
    from serving.i18n import LANGUAGE_CODES
    from serving.settings import ServingSettings
    from serving.store.audit_log import AuditLogUnavailable
    from serving.store.stores import open_audit_log_for

    err = Console(stderr=True)
    if not raw.is_dir():
        err.print(f"[red]error:[/red] --raw {raw} is not a directory")
        raise typer.Exit(EXIT_USAGE)
    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        err.print(f"[red]error:[/red] --as-of {as_of!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(EXIT_USAGE) from None
    if engine is Engine.pandas and out.is_dir():
        err.print(f"[red]error:[/red] --out {out} is a directory; name the Parquet file to write")
        raise typer.Exit(EXIT_USAGE)
    if out.exists() and not overwrite:
        err.print(f"[red]error:[/red] --out {out} exists; pass --overwrite to replace it")
        raise typer.Exit(EXIT_USAGE)
    if problem := parent_problem(out):
        err.print(f"[red]error:[/red] --out {out} cannot be written: {problem}")
        raise typer.Exit(EXIT_USAGE)
    if lang not in LANGUAGE_CODES:
        err.print(f"[red]error:[/red] --lang {lang!r} is not one of {', '.join(LANGUAGE_CODES)}")
        raise typer.Exit(EXIT_USAGE)
    refuse_validated_on_pandas(validated, engine, err)
    settings = ServingSettings()
    model_uri = model or settings.resolved_model_uri
    rollout = rollout or settings.rollout_config_path
    shadow = shadow or settings.shadow_model_uri
    if engine is Engine.spark and (rollout is not None or shadow is not None):
        given = " and ".join(
            f"{name} {value}" for name, value in (("--rollout", rollout), ("--shadow", shadow))
            if value is not None
        )  # fmt: skip
        err.print(
            f"[red]error:[/red] {given} (or EARLYRISK_ROLLOUT_CONFIG_PATH / "
            "EARLYRISK_SHADOW_MODEL_URI) is applied by the pandas engine only; score with "
            "--engine pandas, or without them"
        )
        raise typer.Exit(EXIT_USAGE)
    if engine is Engine.spark:  # --out is a directory; the steps run on Spark
        from serving.spark_batch import run_score_command

        raise typer.Exit(
            run_score_command(
                raw,
                day.isoformat(),
                out,
                model_uri=model_uri,
                tracking_uri=tracking_uri or settings.tracking_uri,
                master=spark_master,
                settings=settings,
                lang=lang,
                err=err,
                validated=validated,
            )
        )
    install_scratch_cleanup()  # a stopped run removes its partition files
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
        audit_log = open_audit_log_for(settings)
    except AuditLogUnavailable as exc:
        err.print(f"[red]cannot score:[/red] {exc}; no score is produced that cannot be logged")
        raise typer.Exit(EXIT_REFUSED) from None
    try:
        with progress, raw_data_refusals(err, nothing="nothing was scored"):
            summary = score_registry(
                raw,
                as_of=day.isoformat(),
                out=out,
                model_uri=model_uri,
                tracking_uri=tracking_uri or settings.tracking_uri,
                audit_log=audit_log,
                operator=batch_operator(),
                settings=settings,
                lang=lang,
                families_per_partition=families_per_partition,
                on_partition=advance,
                rollout_path=rollout,
                shadow_uri=shadow,
            )
    except (EarlyriskError, ValueError, OSError) as exc:  # ValueError: a malformed model URI
        err.print(f"[red]cannot score:[/red] {exc}")
        raise typer.Exit(EXIT_REFUSED) from None
    finally:
        audit_log.close()
    print_batch_summary(summary, written="file")
    from features.coverage import dir_coverage_warnings

    for line in dir_coverage_warnings(raw):  # a table that ends early: say it beside the scores
        err.print(f"[yellow]coverage warning:[/yellow] {line}", soft_wrap=True, highlight=False)
    note = f"run {summary.run_id} completed and recorded in the audit log"
    if summary.cleaned:
        note += f"; removed stale temporary file(s) of a killed run: {', '.join(summary.cleaned)}"
    err.print(note)
