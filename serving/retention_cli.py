"""``earlyrisk retention apply``: remove the snapshots and score files past their age.

Dry run by default: it prints every Parquet file it looked at and what it would do. With
``--yes`` it first records the act as a ``retention`` entry of the audit log (which files,
their kind, data date and age, and the ages in force), then deletes them: a removal the log
cannot record is not made. The rules are :mod:`serving.retention`'s; docs/retention.md
says what is kept how long and why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from serving.cli_options import EXIT_REFUSED, EXIT_USAGE

RETENTION_HELP = "Keep family data no longer than needed (docs/retention.md)."

APPLY_HELP = (
    "Remove feature snapshots and batch score files older than their retention age.\n\n"
    "Looks at every *.parquet under each --dir (default: EARLYRISK_RETENTION_DIRS, else the "
    "folder of the served snapshot). A file's age counts from the newest as_of in it; "
    "snapshots past EARLYRISK_SNAPSHOT_RETENTION_DAYS (default 400) and score files past "
    "EARLYRISK_SCORE_FILE_RETENTION_DAYS (default 180) are removed, never the snapshot the "
    "service serves nor the newest snapshot; other files are never touched.\n\n"
    "Without --yes nothing is removed: it prints what it would remove. With --yes the act is "
    "first written to the audit log (a `retention` entry listing every file), then the "
    "files are deleted.\n\n"
    "Exit code: 0 done (or dry run), 1 the audit log refused (nothing removed), 2 usage error."
)

retention_app = typer.Typer(help=RETENTION_HELP, no_args_is_help=True, add_completion=False)


@retention_app.command("apply", help=APPLY_HELP)
def apply_command(
    dirs: Annotated[
        list[Path] | None,
        typer.Option("--dir", metavar="DIR", help="A folder to look in (repeatable)."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Remove the files (default: only print what would go).")
    ] = False,
) -> None:
    """Apply the retention of snapshots and score files."""
    from serving.batch import batch_operator
    from serving.expiry import expiry_today
    from serving.retention import parquet_files, plan, remove
    from serving.settings import ServingSettings
    from serving.store.audit_errors import AuditLogRefused, AuditLogUnavailable
    from serving.store.stores import open_audit_log_for

    settings = ServingSettings()
    folders = list(dirs or settings.retention_dirs or [settings.snapshot_path.parent])
    missing = [folder for folder in folders if not folder.is_dir()]
    if missing:
        typer.echo(f"error: --dir {missing[0]} is not a folder", err=True)
        raise typer.Exit(EXIT_USAGE)
    today = expiry_today(settings)
    found = plan(
        parquet_files(folders),
        today=today,
        snapshot_days=settings.snapshot_retention_days,
        score_file_days=settings.score_file_retention_days,
        keep=[settings.snapshot_path],
    )
    for item in found:
        typer.echo(item.line())
    chosen = [item for item in found if item.remove]
    if not chosen:
        typer.echo(f"nothing past retention on {today} ({len(found)} files looked at)")
        return
    if not yes:
        typer.echo(f"dry run: {len(chosen)} file(s) would be removed; pass --yes to remove them")
        return
    detail = {
        "action": "apply",
        "today": today.isoformat(),
        "snapshot_retention_days": settings.snapshot_retention_days,
        "score_file_retention_days": settings.score_file_retention_days,
        "removed": [
            {
                "path": str(item.path),
                "kind": item.kind,
                "as_of": str(item.as_of),
                "age_days": item.age_days,
            }
            for item in chosen
        ],
    }
    try:
        log = open_audit_log_for(settings)
        try:
            log.record_retention(
                action="apply",
                operator=batch_operator(),
                reason=f"{len(chosen)} file(s) past retention on {today}",
                detail=detail,
            )
        finally:
            log.close()
    except (AuditLogRefused, AuditLogUnavailable) as exc:
        typer.echo(f"error: nothing removed: the audit log refused the record: {exc}", err=True)
        raise typer.Exit(EXIT_REFUSED) from None
    removed = remove(chosen)
    typer.echo(f"removed {len(removed)} file(s); recorded in the audit log (retention entry)")
