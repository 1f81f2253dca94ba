"""The ``earlyrisk audit-log`` verbs: is the audit log as it was written?

For auditors. ``verify`` reads the log read-only, walks its hash chain
(:mod:`serving.store.audit_chain`), proves the log still holds its anchor and any checkpoint
given with ``--anchor FILE`` (:mod:`serving.store.audit_checkpoint`), and reports missing,
disabled or recreated append-only triggers (:mod:`serving.store.audit_triggers`). ``anchor
--out FILE`` exports a checkpoint of the log's head for the auditor to keep where the
operator cannot write: the one piece of tail evidence that does not live beside the log.
``prune --before DATE`` removes the entries past retention through the deliberate path of
:mod:`serving.store.audit_prune`, which keeps a chained checkpoint that ``verify`` honours.
Exit codes: 0 intact (or written), 1 broken (each problem named), 2 usage error.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape

from serving.cli_options import EXIT_REFUSED, EXIT_USAGE

AUDIT_LOG_HELP = (
    "Check the integrity of the service's audit log (for auditors); prune the entries past "
    "retention (for operators, docs/retention.md)."
)

VERIFY_HELP = (
    "Verify the audit log's hash chain, its anchor and a checkpoint; name every problem.\n\n"
    "Every entry's hash covers its content and the previous entry's hash, so a changed "
    "field, a deleted or an inserted entry breaks the chain at that entry. The anchor (a "
    "file next to the log, or EARLYRISK_AUDIT_ANCHOR_PATH; in PostgreSQL the audit_anchor "
    "table) and a checkpoint exported by `audit-log anchor --out` catch entries cut from "
    "the end, even when others were written in their place, and an older copy put back: "
    "the log must still hold the recorded hash at the recorded seq. Missing, disabled or "
    "recreated append-only triggers are reported.\n\n"
    "Exit code: 0 intact, 1 broken, 2 no such log or checkpoint."
)

ANCHOR_HELP = (
    "Export a checkpoint of the audit log (log id, head seq, its hash, time) to FILE, "
    "after walking the whole chain.\n\n"
    "Keep the file where the operator cannot write (the auditor's own storage): "
    "`earlyrisk audit-log verify --anchor FILE` later proves the log still holds that "
    "entry with that hash, which no rewrite of the log and its anchor can fake. Written "
    "0600; an existing FILE is only replaced with --overwrite.\n\n"
    "Exit code: 0 written, 1 the log is broken (nothing written), 2 usage error."
)

audit_log_app = typer.Typer(help=AUDIT_LOG_HELP, no_args_is_help=True, add_completion=False)

LogOption = Annotated[
    Path | None,
    typer.Option(
        "--log",
        metavar="PATH",
        help="The audit log (default: EARLYRISK_AUDIT_LOG_PATH).",
        show_default=False,
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        metavar="URL",
        help="The audit log in this PostgreSQL database instead of a file "
        "(default: EARLYRISK_DATABASE_URL when set and --log is not given).",
        show_default=False,
    ),
]


@dataclass
class _Examined:
    """What one read-only look at a log found."""

    where: str
    entries: int
    head: tuple[int, str]
    log_id: str | None
    problems: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # trigger findings
    notes: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # checkpoints proved held


@audit_log_app.command("verify", help=VERIFY_HELP)
def verify_command(
    log: LogOption = None,
    anchor: Annotated[
        Path | None,
        typer.Option(
            "--anchor",
            metavar="FILE",
            help="A checkpoint the log must still hold: one exported by `audit-log anchor "
            "--out`, or an anchor file. The service's own anchor is checked in any case "
            "(when it exists).",
            show_default=False,
        ),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Verify the audit log."""
    from serving.store.audit_checkpoint import CheckpointError, read_checkpoint

    out, err = Console(), Console(stderr=True)
    external = None
    if anchor is not None:
        try:
            external = read_checkpoint(anchor)
        except CheckpointError as exc:
            err.print(f"[red]error:[/red] --anchor: {escape(str(exc))}")
            raise typer.Exit(EXIT_USAGE) from None
    examined = _examine_configured(log, url, err, external=external, external_name=anchor)
    for problem in examined.problems + examined.findings:
        out.print(f"[red]BROKEN:[/red] {escape(problem)}")
    for note in examined.notes:
        out.print(f"[yellow]note:[/yellow] {escape(note)}")
    for held in examined.held:
        out.print(f"held: {escape(held)}")
    broken = bool(examined.problems or examined.findings)
    out.print(
        f"{'broken' if broken else 'intact'}: {examined.entries} entries checked; head seq "
        f"{examined.head[0]} hash {examined.head[1]}; {escape(examined.where)}"
    )
    if broken:
        raise typer.Exit(EXIT_REFUSED)


@audit_log_app.command("anchor", help=ANCHOR_HELP)
def anchor_command(
    out_file: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="Where to write the checkpoint (JSON)."),
    ],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace FILE if it exists.")
    ] = False,
    log: LogOption = None,
    url: UrlOption = None,
) -> None:
    """Export a checkpoint of the audit log's head."""
    from serving.store.audit_checkpoint import Checkpoint, write_checkpoint
    from serving.store.audit_log import utc_now

    out, err = Console(), Console(stderr=True)
    if out_file.exists() and not overwrite:
        err.print(f"[red]error:[/red] --out {out_file} exists; pass --overwrite to replace it")
        raise typer.Exit(EXIT_USAGE)
    if out_file.is_dir():
        err.print(f"[red]error:[/red] --out {out_file} is a directory; name the file to write")
        raise typer.Exit(EXIT_USAGE)
    examined = _examine_configured(log, url, err, external=None, external_name=None)
    for finding in examined.findings:
        err.print(f"[yellow]warning:[/yellow] {escape(finding)}")
    if examined.problems or examined.log_id is None:
        for problem in examined.problems:
            out.print(f"[red]BROKEN:[/red] {escape(problem)}")
        err.print("[red]error:[/red] the log is broken; no checkpoint of it was written")
        raise typer.Exit(EXIT_REFUSED)
    checkpoint = Checkpoint(
        log_id=examined.log_id,
        seq=examined.head[0],
        hash=examined.head[1],
        time=utc_now(),
        log=examined.where,
    )
    try:
        write_checkpoint(out_file, checkpoint, overwrite=overwrite)
    except FileExistsError:
        err.print(f"[red]error:[/red] --out {out_file} exists; pass --overwrite to replace it")
        raise typer.Exit(EXIT_USAGE) from None
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot write --out {out_file}: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    out.print(
        f"checkpoint of log {checkpoint.log_id}: {escape(checkpoint.describe())} written to "
        f"{escape(str(out_file))}. Keep it where the operator cannot write; `earlyrisk "
        f"audit-log verify --anchor {escape(str(out_file))}` proves the log still holds it."
    )


# --------------------------------------------------------------------------- examining


def _examine_configured(
    log: Path | None, url: str | None, err: Console, *, external: Any, external_name: Any
) -> _Examined:
    """Examine the log the options (or the settings) name; exit 2 when there is none."""
    from serving.settings import ServingSettings
    from serving.store.audit_anchor import default_anchor_path

    settings = ServingSettings()
    if url is None and log is None:
        url = settings.database_url
    source = f"the checkpoint {external_name}"
    if url is not None:
        return _examine_postgres(url, err, external=external, source=source)
    path = log or settings.audit_log_path
    if not path.is_file():
        err.print(f"[red]error:[/red] no audit log at {escape(str(path))}")
        raise typer.Exit(EXIT_USAGE)
    anchor_path = settings.audit_anchor_path or default_anchor_path(path)
    return _examine_sqlite(path, anchor_path, err, external=external, source=source)


def _examine_sqlite(
    path: Path, anchor_path: Path, err: Console, *, external: Any, source: str
) -> _Examined:
    from serving.store.audit_anchor import AnchorError, read_anchor
    from serving.store.audit_prune import verify_from_start

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            report = verify_from_start(conn)
            the_anchor = read_anchor(anchor_path)
            internal = None
            if the_anchor is not None:
                internal = (the_anchor.checkpoint(), f"the anchor {anchor_path}")
            examined = _examine(
                conn,
                "sqlite",
                report,
                where=str(path),
                checkpoints=[internal, None if external is None else (external, source)],
            )
            if the_anchor is None:
                examined.notes.append(f"no anchor at {anchor_path}")
        finally:
            conn.close()
    except (sqlite3.Error, AnchorError) as exc:
        err.print(f"[red]BROKEN:[/red] cannot read {escape(str(path))} as an audit log: {exc}")
        raise typer.Exit(EXIT_REFUSED) from None
    return examined


def _examine_postgres(url: str, err: Console, *, external: Any, source: str) -> _Examined:
    from serving.database_url import check_url, redact
    from serving.store.audit_checkpoint import Checkpoint
    from serving.store.audit_prune import verify_from_start
    from serving.store.connection import DatabaseUnavailable, QmarkConnection, StreamingReader

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
            report = verify_from_start(reader)
        internal = None
        if conn.execute("SELECT to_regclass('audit_anchor')").fetchone()[0] is not None:
            row = conn.execute(
                "SELECT log_id, head_seq, head_hash, anchored_at FROM audit_anchor "
                "ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            if row is not None:
                anchored = Checkpoint(str(row[0]), int(row[1]), str(row[2]), str(row[3]))
                internal = (anchored, "the anchor (audit_anchor)")
        examined = _examine(
            conn,
            "postgresql",
            report,
            where=f"database {redact(url)}",
            checkpoints=[internal, None if external is None else (external, source)],
        )
        if internal is None:
            examined.notes.append("no anchor in the database (audit_anchor is empty or gone)")
    except DatabaseUnavailable as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_REFUSED) from None
    finally:
        conn.close()
    return examined


def _examine(
    conn: Any,
    dialect: Literal["sqlite", "postgresql"],
    report: Any,
    *,
    where: str,
    checkpoints: list[Any],
) -> _Examined:
    """The problems, trigger findings and notes of one log, read through ``conn``."""
    from serving.store.audit_chain import GENESIS, hash_at
    from serving.store.audit_checkpoint import tail_problem
    from serving.store.audit_log import HEAD_SQL
    from serving.store.audit_prune import latest_prune
    from serving.store.audit_triggers import trigger_findings

    row = conn.execute("SELECT value FROM audit_meta WHERE key = 'log_id'").fetchone()
    top = conn.execute(HEAD_SQL).fetchone()
    head = (int(top[0]), str(top[1])) if top is not None else (0, GENESIS)
    examined = _Examined(
        where=where,
        entries=report.entries,
        head=head if report.intact else (report.head_seq, report.head_hash),
        log_id=None if row is None else str(row[0]),
    )
    if not report.intact:
        examined.problems.append(str(report.problem))
    pruned = latest_prune(conn)
    if pruned is not None:
        examined.notes.append(
            f"pruned: {pruned.describe()}; the chain is proved from that checkpoint on"
        )
    for item in checkpoints:
        if item is None:
            continue
        checkpoint, source = item
        problem = tail_problem(
            checkpoint,
            log_id=examined.log_id,
            head=head,
            stored_hash=hash_at(conn, checkpoint.seq),
            source=source,
            pruned=None if pruned is None else (pruned.through_seq, pruned.through_hash),
        )
        if problem is None:
            examined.held.append(f"{source}: log {checkpoint.log_id} {checkpoint.describe()}")
        else:
            examined.problems.append(problem)
    examined.findings = trigger_findings(conn, dialect)
    meta = dict(
        conn.execute(
            "SELECT key, value FROM audit_meta WHERE key IN ('chained_at', 'chained_through_seq')"
        ).fetchall()
    )
    if "chained_at" in meta:
        examined.notes.append(_chained_note(meta))
    examined.notes += [
        f"batch run {run} started and recorded no outcome (killed, or still running)"
        for run in _unfinished_runs(conn.execute)
    ]
    return examined


def _unfinished_runs(execute: Callable[[str], Any]) -> Iterator[str]:
    """Ids of batch runs with a ``started`` entry and no outcome entry."""
    open_runs: dict[str, None] = {}
    for run_id, outcome in execute(
        "SELECT request_id, decision FROM audit_entries WHERE kind = 'batch_run' ORDER BY seq"
    ).fetchall():
        if outcome == "started":
            open_runs[str(run_id)] = None
        else:
            open_runs.pop(str(run_id), None)
    yield from open_runs


def _chained_note(meta: dict[str, str]) -> str:
    """What an auditor must know about entries chained by `earlyrisk db upgrade`."""
    return (
        f"entries 1..{meta.get('chained_through_seq')} were written before the hash chain "
        f"and chained by a migration at {meta['chained_at']}: the chain shows them unchanged "
        "since then, not before"
    )


# --------------------------------------------------------------------------- prune

PRUNE_HELP = (
    "Remove the audit-log entries recorded before DATE (past retention), keeping a "
    "checkpoint of what was removed.\n\n"
    "DATE must be at least the retention period before today "
    "(EARLYRISK_AUDIT_RETENTION_DAYS, default 365, never under 183 days: about six months, "
    "EU AI Act Art. 26(6)); an earlier one is refused, naming the date and the minimum. "
    "The log is checked first (chain, anchor, append-only triggers); then, in one "
    "transaction, a `retention` entry records the checkpoint of the removed prefix (its "
    "last seq and hash, how many entries, their date range) and the prefix is deleted "
    "through the append-only guard deliberately. `audit-log verify` then proves the rest "
    "from that checkpoint; entries removed any other way are still named as missing.\n\n"
    "Exit code: 0 pruned (or nothing old enough), 1 refused (the log is broken or its guard "
    "damaged), 2 usage error (a DATE too recent, no such log)."
)


@audit_log_app.command("prune", help=PRUNE_HELP)
def prune_command(
    before: Annotated[
        str,
        typer.Option(
            "--before",
            metavar="DATE",
            help="Remove entries recorded before this date (YYYY-MM-DD, midnight UTC).",
        ),
    ],
    log: LogOption = None,
    url: UrlOption = None,
) -> None:
    """Prune the audit log's entries past retention."""
    from datetime import date

    from serving.batch import batch_operator
    from serving.settings import ServingSettings
    from serving.store.audit_errors import AuditLogRefused, AuditLogUnavailable
    from serving.store.audit_prune import cutoff_problem
    from serving.store.stores import open_audit_log_for

    out, err = Console(), Console(stderr=True)
    try:
        cutoff = date.fromisoformat(before)
    except ValueError:
        err.print(f"[red]error:[/red] --before {escape(before)} is not a date (YYYY-MM-DD)")
        raise typer.Exit(EXIT_USAGE) from None
    settings = ServingSettings()
    problem = cutoff_problem(
        cutoff, today=date.today(), retention_days=settings.audit_retention_days
    )
    if problem is not None:
        err.print(f"[red]error:[/red] {escape(problem)}")
        raise typer.Exit(EXIT_USAGE)
    if log is not None:
        settings = settings.model_copy(update={"audit_log_path": log, "database_url": None})
    elif url is not None:
        settings = settings.model_copy(update={"database_url": url})
    if settings.database_url is None and not settings.audit_log_path.is_file():
        err.print(f"[red]error:[/red] no audit log at {escape(str(settings.audit_log_path))}")
        raise typer.Exit(EXIT_USAGE)
    try:
        audit_log = open_audit_log_for(settings)
    except (AuditLogRefused, AuditLogUnavailable) as exc:
        err.print(f"[red]error:[/red] not pruned: {escape(str(exc))}")
        raise typer.Exit(EXIT_REFUSED) from None
    try:
        audit_log.refresh_anchor(reason="prune")  # the anchor on the head, past the prefix
        pruned = audit_log.prune(cutoff, operator=batch_operator())
        audit_log.refresh_anchor(reason="prune")
    except (AuditLogRefused, AuditLogUnavailable) as exc:
        err.print(f"[red]error:[/red] not pruned: {escape(str(exc))}")
        raise typer.Exit(EXIT_REFUSED) from None
    finally:
        audit_log.close()
    if pruned is None:
        out.print(f"nothing to prune: no entry was recorded before {cutoff.isoformat()}")
        return
    out.print(
        f"pruned {escape(pruned.describe())}. `earlyrisk audit-log verify` proves the rest "
        "from this checkpoint."
    )
