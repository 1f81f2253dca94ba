"""The ``earlyrisk serve`` and ``earlyrisk token`` verbs.

``serve`` checks everything the service checks at start-up (champion, checksum, feature
list, snapshot, audit log) in this process first, so a refusal is one clear line instead
of a worker traceback; it also builds the lookup store once, so the worker finds it
fresh. Then it replaces itself with ``bentoml serve serving.service:EarlyRiskScoring``
with the chosen settings in the environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from serving.cli_options import EXIT_REFUSED, EXIT_USAGE, ModelUriOption, TrackingUriOption

SERVE_HELP = (
    "Start the caseworker scoring service (BentoML) on the champion model and the latest "
    "feature snapshot.\n\n"
    "Every option can also be set as an EARLYRISK_* environment variable (EARLYRISK_PORT "
    "excepted); see docs/serving.md. The service refuses to start, with the reason, when "
    "there is no champion, the model artifact does not match its registered checksum, the "
    "snapshot was built with another feature list, or the audit log cannot be opened.\n\n"
    "Endpoints: POST /score, /score_indicators, /feedback (caseworker), /model_card, "
    "/audit_log (auditor); GET /livez, /readyz; OpenAPI at /docs.json. Create tokens with "
    "`earlyrisk token create --role ROLE`."
)

TOKEN_HELP = "Create, list and revoke the service's bearer tokens (stored hashed)."


def serve_command(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 3000,
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind (0.0.0.0 for all).")
    ] = "127.0.0.1",
    snapshot: Annotated[
        Path | None,
        typer.Option(
            "--snapshot",
            metavar="FILE",
            help="Feature snapshot Parquet (`earlyrisk features` output) "
            "(default: EARLYRISK_SNAPSHOT_PATH or var/features.parquet).",
            show_default=False,
        ),
    ] = None,
    model: ModelUriOption = None,
    tracking_uri: TrackingUriOption = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, max=64, help="Worker processes.")
    ] = None,
    check_only: Annotated[
        bool,
        typer.Option("--check", help="Only run the start-up checks and print what would serve."),
    ] = False,
) -> None:
    """Start the scoring service."""
    console = Console(stderr=True)
    # Options win over EARLYRISK_* variables; they reach the server through its environment.
    options = {
        "snapshot_path": str(snapshot) if snapshot is not None else None,
        "model_uri": model,
        "tracking_uri": tracking_uri,
        "workers": str(workers) if workers is not None else None,
    }
    chosen: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
    server_env = {**os.environ, **{f"EARLYRISK_{k.upper()}": v for k, v in chosen.items()}}

    from pydantic import ValidationError

    from serving.engine import StartupError, load_engine
    from serving.local_server import bentoml_serve_argv
    from serving.settings import ServingSettings

    try:
        settings = ServingSettings(**chosen)
    except ValidationError as exc:
        console.print(f"[red]error:[/red] invalid EARLYRISK_* setting:\n{exc}")
        raise typer.Exit(EXIT_USAGE) from None
    try:
        engine = load_engine(settings)
    except StartupError as exc:
        console.print(f"[red]refusing to start:[/red] {exc}")
        raise typer.Exit(EXIT_REFUSED) from None
    console.print(
        f"model [bold]{engine.identity.name}[/bold] version {engine.identity.version} "
        f"({engine.identity.uri}); snapshot {engine.snapshot_date} "
        f"({engine.reference(engine.snapshot_date).size} families); "
        f"audit log {settings.audit_log_path}"
    )
    engine.audit_log.close()
    if check_only:
        return
    console.print(f"starting on http://{host}:{port} (Ctrl-C stops)")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, bentoml_serve_argv(host=host, port=port), server_env)


token_app = typer.Typer(help=TOKEN_HELP, no_args_is_help=True, add_completion=False)


def _store():
    from serving.auth import TokenStore
    from serving.settings import ServingSettings

    return TokenStore(ServingSettings().token_db_path)


@token_app.command("create")
def token_create(
    role: Annotated[
        Literal["caseworker", "auditor", "admin"],
        typer.Option(
            "--role",
            help="caseworker: score, feedback; auditor: model card, audit log; admin: all.",
        ),
    ],
    note: Annotated[
        str | None, typer.Option("--note", help="Who or what the token is for.")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the token (for scripts).")
    ] = False,
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    issued = _store().create(role, note=note)
    if quiet:
        typer.echo(issued.token)
        return
    console = Console()
    console.print(f"token id  {issued.token_id}  role {issued.role}")
    console.print("token (shown once; keep it secret):")
    typer.echo(issued.token)


@token_app.command("list")
def token_list() -> None:
    """List tokens: id, role, created, revoked, note (never the secret)."""
    from rich.table import Table

    table = Table("token id", "role", "created", "revoked", "note")
    for row in _store().list():
        table.add_row(
            *(str(row[k] or "") for k in ("token_id", "role", "created_at", "revoked_at", "note"))
        )
    Console().print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token id (from `token list`).")],
) -> None:
    """Revoke a token: every later call with it is refused (401)."""
    if not _store().revoke(token_id):
        Console(stderr=True).print(f"[red]error:[/red] no live token with id {token_id!r}")
        raise typer.Exit(EXIT_REFUSED)
    Console().print(f"revoked {token_id}")
