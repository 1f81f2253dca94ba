"""The ``earlyrisk db upgrade`` verb: bring the stores' schemas to the current version.

With a PostgreSQL URL (``--url`` or ``EARLYRISK_DATABASE_URL``) it applies the missing
migrations of :mod:`serving.store.migrations` to that database; without one, to the SQLite
files the settings name (audit log, token store, security log, served statistics) that
exist. Exit codes: 0 up to date, 1 a migration refused (the message says why, nothing was
changed), 2 usage error.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from serving.cli_options import EXIT_REFUSED, EXIT_USAGE

DB_HELP = "The service's database schema (SQLite files or PostgreSQL)."

UPGRADE_HELP = (
    "Apply the missing schema migrations, each in its own transaction.\n\n"
    "PostgreSQL: --url or EARLYRISK_DATABASE_URL. SQLite (the default): the audit log, "
    "token store, security log and served statistics files of the EARLYRISK_* settings. "
    "An audit log from the first release (no hash chain) is chained now, and the log "
    "records when; a log from before view entries (/family, /review) accepts them after, "
    "its entries unchanged (see docs/scale.md).\n\n"
    "Exit code: 0 up to date, 1 refused, 2 usage error."
)

db_app = typer.Typer(help=DB_HELP, no_args_is_help=True, add_completion=False)


@db_app.command("upgrade", help=UPGRADE_HELP)
def upgrade_command(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="postgresql://user@host:port/db (default: EARLYRISK_DATABASE_URL; unset: "
            "the SQLite files).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Upgrade the schema."""
    import sqlite3

    from serving.database_url import check_url, redact
    from serving.settings import ServingSettings
    from serving.store.connection import DatabaseUnavailable
    from serving.store.migrations import MigrationError, upgrade_postgres, upgrade_sqlite

    out, err = Console(), Console(stderr=True)
    settings = ServingSettings()
    url = url or settings.database_url
    applied: list[str] = []
    try:
        if url is not None:
            try:
                check_url(url)
            except ValueError as exc:
                err.print(f"[red]error:[/red] --url: {escape(str(exc))}")
                raise typer.Exit(EXIT_USAGE) from None
            applied = upgrade_postgres(url)
            where = redact(url)
        else:
            files = {
                "audit": settings.audit_log_path,
                "tokens": settings.token_db_path,
                "security": settings.security_log_path,
                "served_stats": settings.served_stats_path,
                "cases": settings.resolved_cases_path,
            }
            present = {store: path for store, path in files.items() if path.is_file()}
            if not present:
                err.print(
                    "[red]error:[/red] no SQLite store to upgrade at "
                    f"{escape(', '.join(str(p) for p in files.values()))}"
                )
                raise typer.Exit(EXIT_USAGE)
            for store, path in present.items():
                applied += upgrade_sqlite(str(path), store)
            where = ", ".join(str(p) for p in present.values())
    except (MigrationError, DatabaseUnavailable, sqlite3.Error) as exc:
        err.print(f"[red]refused:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_REFUSED) from None
    for step in applied:
        out.print(f"applied {escape(step)}")
    out.print(f"up to date: {escape(where)}")
