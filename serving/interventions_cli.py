"""``earlyrisk interventions export``: the service's decisions as the interventions table."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated

import typer

EXIT_USAGE = 2

EXPORT_HELP = (
    "Write the caseworkers' current decisions (the audit log's feedback entries) as the "
    "data contract's interventions table: family, date offered, programme, accepted, "
    "caseworker, the score answered and whether it was shown.\n\n"
    "Put the file beside the registry's tables (interventions.parquet or .csv): `earlyrisk "
    "validate` checks it and `earlyrisk train` accounts for the support it records "
    "(docs/interventions.md). The log is only read."
)

interventions_app = typer.Typer(
    help="What caseworkers did with the scores (issue 24).",
    no_args_is_help=True,
    add_completion=False,
)


@interventions_app.command("export", help=EXPORT_HELP)
def export_command(
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="interventions.parquet or interventions.csv"),
    ],
    log: Annotated[
        Path | None,
        typer.Option(
            "--log",
            metavar="PATH",
            help="The audit log (default: EARLYRISK_AUDIT_LOG_PATH).",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="The audit log in this PostgreSQL database instead of a file (default: "
            "EARLYRISK_DATABASE_URL when set and --log is not given).",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace FILE.")] = False,
) -> None:
    """Export the interventions table."""
    from serving.interventions_export import interventions_from_feedback, read_feedback
    from serving.settings import ServingSettings

    if out.suffix not in (".parquet", ".csv"):
        raise typer.BadParameter(
            f"{out.name}: the table is written as .parquet or .csv, "
            f"not {out.suffix or 'no suffix'}",
            param_hint="--out",
        )
    if out.exists() and not overwrite:
        raise typer.BadParameter(
            f"{out} exists; pass --overwrite to replace it", param_hint="--out"
        )
    settings = ServingSettings()
    if url is None and log is None:
        url = settings.database_url
    if url is not None:
        from serving.store.connection import QmarkConnection

        conn = QmarkConnection(url)
        try:
            feedback = read_feedback(conn)
        finally:
            conn.close()
    else:
        path = log or settings.audit_log_path
        if not path.is_file():
            typer.echo(f"error: no audit log at {path}", err=True)
            raise typer.Exit(EXIT_USAGE)
        sqlite_conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            feedback = read_feedback(sqlite_conn)
        finally:
            sqlite_conn.close()
    table = interventions_from_feedback(feedback)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        table.to_parquet(out, index=False)
    else:
        text = table.copy()
        for column in ("offered_date", "recorded_date"):
            text[column] = text[column].dt.strftime("%Y-%m-%d")
        text.to_csv(out, index=False, encoding="utf-8")
    offered = int(table["offered_date"].notna().sum())
    typer.echo(f"wrote {len(table):,} decisions ({offered:,} with support offered) to {out}")
