"""The ``earlyrisk audit-log verify`` verb: is the audit log as it was written?

For auditors. Reads the log read-only, walks its hash chain (:mod:`serving.audit_chain`),
compares it with its anchor, and says whether the append-only triggers are in place.
Exit codes: 0 intact, 1 broken (the first broken link is named), 2 usage error (no log).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from serving.cli_options import EXIT_REFUSED, EXIT_USAGE

AUDIT_LOG_HELP = "Check the integrity of the service's audit log (for auditors)."

VERIFY_HELP = (
    "Verify the audit log's hash chain and its anchor; name the first broken link.\n\n"
    "Every entry's hash covers its content and the previous entry's hash, so a changed "
    "field, a deleted or an inserted entry breaks the chain at that entry. The anchor file "
    "(next to the log, or EARLYRISK_AUDIT_ANCHOR_PATH) catches entries removed from the "
    "end and an older copy put back. Prints the head hash: record it outside the operator's "
    "reach to detect a chain rewritten from scratch.\n\n"
    "Exit code: 0 intact, 1 broken, 2 no such log."
)

audit_log_app = typer.Typer(help=AUDIT_LOG_HELP, no_args_is_help=True, add_completion=False)

_TRIGGERS = ("audit_no_update", "audit_no_delete")
_PG_TRIGGERS = ("audit_no_change", "audit_no_truncate")


@audit_log_app.command("verify", help=VERIFY_HELP)
def verify_command(
    log: Annotated[
        Path | None,
        typer.Option(
            "--log",
            metavar="PATH",
            help="The audit log (default: EARLYRISK_AUDIT_LOG_PATH).",
            show_default=False,
        ),
    ] = None,
    anchor: Annotated[
        Path | None,
        typer.Option(
            "--anchor",
            metavar="PATH",
            help="Its anchor (default: EARLYRISK_AUDIT_ANCHOR_PATH or .<log>.anchor.json "
            "next to the log); checked when it exists.",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="Verify the audit log in this PostgreSQL database instead of a file "
            "(default: EARLYRISK_DATABASE_URL when set and --log is not given).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Verify the audit log."""
    from serving.audit_anchor import AnchorError, default_anchor_path, read_anchor
    from serving.audit_chain import hash_at, verify_chain
    from serving.settings import ServingSettings

    out, err = Console(), Console(stderr=True)
    settings = ServingSettings()
    if url is None and log is None:
        url = settings.database_url
    if url is not None:
        _verify_postgres(url, out, err)
        return
    path = log or settings.audit_log_path
    if not path.is_file():
        err.print(f"[red]error:[/red] no audit log at {escape(str(path))}")
        raise typer.Exit(EXIT_USAGE)
    anchor_path = anchor or settings.audit_anchor_path or default_anchor_path(path)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            report = verify_chain(conn)
            triggers = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            }
            log_id_row = conn.execute(
                "SELECT value FROM audit_meta WHERE key = 'log_id'"
            ).fetchone()
            runs = _unfinished_runs(conn)
            chained = dict(
                conn.execute(
                    "SELECT key, value FROM audit_meta "
                    "WHERE key IN ('chained_at', 'chained_through_seq')"
                ).fetchall()
            )
            recorded = None
            the_anchor = read_anchor(anchor_path)
            if the_anchor is not None and the_anchor.head_seq > 0:
                recorded = hash_at(conn, the_anchor.head_seq)
        finally:
            conn.close()
    except (sqlite3.Error, AnchorError) as exc:
        err.print(f"[red]BROKEN:[/red] cannot read {escape(str(path))} as an audit log: {exc}")
        raise typer.Exit(EXIT_REFUSED) from None
    problems: list[str] = []
    if not report.intact:
        problems.append(str(report.problem))
    if the_anchor is not None:
        log_id = None if log_id_row is None else str(log_id_row[0])
        if log_id != the_anchor.log_id:
            problems.append(
                f"the log is {log_id}, the anchor {anchor_path} records {the_anchor.log_id}"
            )
        elif the_anchor.head_seq > 0 and recorded != the_anchor.head_hash:
            problems.append(
                f"anchored entry seq {the_anchor.head_seq} "
                f"{'is missing' if recorded is None else 'has another hash'}: entries were "
                "removed from the end or an older copy was restored"
            )
    for problem in problems:
        out.print(f"[red]BROKEN:[/red] {escape(problem)}")
    missing = [name for name in _TRIGGERS if name not in triggers]
    if missing:
        out.print(
            f"[yellow]warning:[/yellow] append-only trigger(s) {', '.join(missing)} are missing "
            "(dropped by someone with write access; the service re-creates them at start)"
        )
    if "chained_at" in chained:
        out.print(_chained_note(chained))
    for run in runs:
        out.print(
            f"[yellow]note:[/yellow] batch run {run} started and recorded no outcome "
            "(killed, or still running)"
        )
    anchored = "no anchor" if the_anchor is None else f"anchor {anchor_path}"
    out.print(
        f"{'broken' if problems else 'intact'}: {report.entries} entries checked; "
        f"head seq {report.head_seq} hash {report.head_hash}; {escape(anchored)}"
    )
    if problems:
        raise typer.Exit(EXIT_REFUSED)


def _unfinished_runs(conn: sqlite3.Connection) -> list[str]:
    """Ids of batch runs with a ``started`` entry and no outcome entry."""
    open_runs: dict[str, None] = {}
    for run_id, outcome in conn.execute(
        "SELECT request_id, decision FROM audit_entries WHERE kind = 'batch_run' ORDER BY seq"
    ):
        if outcome == "started":
            open_runs[str(run_id)] = None
        else:
            open_runs.pop(str(run_id), None)
    return list(open_runs)


def _verify_postgres(url: str, out: Console, err: Console) -> None:
    """The same walk on the shared PostgreSQL log (no anchor file there: the database's
    backups and access control keep it; record the printed head hash elsewhere)."""
    from serving.audit_chain import verify_chain
    from serving.store.connection import DatabaseUnavailable, QmarkConnection, StreamingReader
    from serving.store.database_url import check_url, redact

    try:
        check_url(url)
    except ValueError as exc:
        err.print(f"[red]error:[/red] --url: {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from None
    conn = QmarkConnection(url)
    try:
        have = conn.execute("SELECT to_regclass('audit_entries')").fetchone()
        if have is None or have[0] is None:
            err.print(f"[red]error:[/red] no audit log in {escape(redact(url))}")
            raise typer.Exit(EXIT_USAGE)
        with StreamingReader(url) as reader:
            report = verify_chain(reader)
        triggers = {
            str(row[0])
            for row in conn.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_entries'::regclass"
            )
        }
        meta = dict(conn.execute("SELECT key, value FROM audit_meta").fetchall())
        rows = conn.execute(
            "SELECT request_id, decision FROM audit_entries WHERE kind = 'batch_run' ORDER BY seq"
        ).fetchall()
    except DatabaseUnavailable as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_REFUSED) from None
    finally:
        conn.close()
    if not report.intact:
        out.print(f"[red]BROKEN:[/red] {escape(str(report.problem))}")
    missing = [name for name in _PG_TRIGGERS if name not in triggers]
    if missing:
        out.print(
            f"[yellow]warning:[/yellow] append-only trigger(s) {', '.join(missing)} are missing "
            "(dropped by the database owner or a superuser)"
        )
    if "chained_at" in meta:
        out.print(_chained_note(meta))
    open_runs: dict[str, None] = {}
    for run_id, outcome in rows:
        if outcome == "started":
            open_runs[str(run_id)] = None
        else:
            open_runs.pop(str(run_id), None)
    for run in open_runs:
        out.print(
            f"[yellow]note:[/yellow] batch run {run} started and recorded no outcome "
            "(killed, or still running)"
        )
    out.print(
        f"{'broken' if not report.intact else 'intact'}: {report.entries} entries checked; "
        f"head seq {report.head_seq} hash {report.head_hash}; database {escape(redact(url))}"
    )
    if not report.intact:
        raise typer.Exit(EXIT_REFUSED)


def _chained_note(meta: dict[str, str]) -> str:
    """What an auditor must know about entries chained by `earlyrisk db upgrade`."""
    return (
        f"[yellow]note:[/yellow] entries 1..{meta.get('chained_through_seq')} were written "
        f"before the hash chain and chained by a migration at {meta['chained_at']}: the "
        "chain shows them unchanged since then, not before"
    )
