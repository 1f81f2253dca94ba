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
    "snapshot was built with another feature list, or the audit log cannot be opened for "
    "writing, fails verification (`earlyrisk audit-log verify`), was replaced, no longer "
    "holds its anchored entry, or has no anchor (a first start, or a log deleted with its "
    "anchor: then --new-log begins one, explicitly, and the security log records it). "
    "Missing or recreated append-only triggers are reported and recorded, not restored.\n\n"
    "Endpoints: POST /score, /score_indicators, /feedback (caseworker), /model_card, "
    "/audit_log, /security_log (auditor); GET /livez, /readyz; OpenAPI at /docs.json, its "
    "page at /docs. Create tokens with `earlyrisk token create --role ROLE [--ttl DAYS]`."
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
    new_log: Annotated[
        bool,
        typer.Option(
            "--new-log",
            "--new-audit-log",
            help="Begin the audit log explicitly: a new, empty log where there is none (a "
            "first start, or a log lost with or without its anchor, which stays recorded in "
            "the anchor), or an anchor for a log found without one. Recorded in the security "
            "log. Never replaces an anchored log.",
        ),
    ] = False,
    shadow: Annotated[
        str | None,
        typer.Option(
            "--shadow",
            metavar="URI",
            help="A second registered version (models:/NAME/VERSION) that scores every request "
            "too, with the champion's checks; its scores go to the audit log as shadow "
            "entries, never to a client (compare with `earlyrisk shadow-report`).",
            show_default=False,
        ),
    ] = None,
    rollout: Annotated[
        Path | None,
        typer.Option(
            "--rollout",
            metavar="FILE",
            help="Rollout config (YAML: cycle, seed, per region a version and a hold-out "
            "share); sealed in the audit log before the first score; a hold-out family's "
            "level is hidden from its caseworker (docs/shadow_and_rollout.md).",
            show_default=False,
        ),
    ] = None,
    ssl_certfile: Annotated[
        Path | None,
        typer.Option(
            "--ssl-certfile",
            metavar="PEM",
            help="Serve HTTPS with this certificate (chain); needs --ssl-keyfile. Without it, "
            "put the service behind a TLS-terminating reverse proxy (docs/serving.md).",
            show_default=False,
        ),
    ] = None,
    ssl_keyfile: Annotated[
        Path | None,
        typer.Option(
            "--ssl-keyfile",
            metavar="PEM",
            help="The certificate's private key.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the scoring service."""
    console = Console(stderr=True)
    from serving.local_server import TlsFiles

    tls: TlsFiles | None = None
    if (ssl_certfile is None) != (ssl_keyfile is None):
        console.print("[red]error:[/red] give both --ssl-certfile and --ssl-keyfile, or neither")
        raise typer.Exit(EXIT_USAGE)
    if ssl_certfile is not None and ssl_keyfile is not None:
        for flag, path in (("--ssl-certfile", ssl_certfile), ("--ssl-keyfile", ssl_keyfile)):
            if not path.is_file():
                console.print(f"[red]error:[/red] {flag} {path} is not a readable file")
                raise typer.Exit(EXIT_USAGE)
        tls = TlsFiles(certfile=ssl_certfile.resolve(), keyfile=ssl_keyfile.resolve())
    # Options win over EARLYRISK_* variables; they reach the server through its environment.
    options = {
        "snapshot_path": str(snapshot) if snapshot is not None else None,
        "model_uri": model,
        "tracking_uri": tracking_uri,
        "workers": str(workers) if workers is not None else None,
        "shadow_model_uri": shadow,
        "rollout_config_path": str(rollout) if rollout is not None else None,
    }
    chosen: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
    server_env = {**os.environ, **{f"EARLYRISK_{k.upper()}": v for k, v in chosen.items()}}

    from pydantic import ValidationError

    from serving.engine import StartupError
    from serving.local_server import bentoml_serve_argv
    from serving.settings import ServingSettings
    from serving.startup import start_engine

    try:
        settings = ServingSettings(**chosen)  # strings, parsed by pydantic
    except ValidationError as exc:
        console.print(f"[red]error:[/red] invalid EARLYRISK_* setting:\n{exc}")
        raise typer.Exit(EXIT_USAGE) from None
    from serving.store.audit_start import audit_start_records
    from serving.store.security_log import SecurityLogUnavailable
    from serving.store.stores import open_stores

    try:  # opened first: what the audit-log check begins or finds is recorded in it
        security = open_stores(settings, tokens=False).security_log
    except SecurityLogUnavailable as exc:
        console.print(f"[red]refusing to start:[/red] {exc}")
        raise typer.Exit(EXIT_REFUSED) from None
    try:
        try:
            engine = start_engine(settings, new_audit_log=new_log)
        except StartupError as exc:
            console.print(f"[red]refusing to start:[/red] {exc}")
            raise typer.Exit(EXIT_REFUSED) from None
        try:
            for record in audit_start_records(engine.audit_log):
                console.print(f"[yellow]audit log:[/yellow] {record.detail}")
                security.record(record)
        except SecurityLogUnavailable as exc:
            engine.close()
            console.print(f"[red]refusing to start:[/red] {exc}")
            raise typer.Exit(EXIT_REFUSED) from None
    finally:
        security.close()
    console.print(
        f"model [bold]{engine.identity.name}[/bold] version {engine.identity.version} "
        f"({engine.identity.uri}); snapshot {engine.snapshot_date} "
        f"({engine.reference(engine.snapshot_date).size} families); "
        f"audit log {engine.audit_log.path}"
    )
    if engine.shadow is not None:
        console.print(
            f"shadow [bold]{engine.shadow.identity.name}[/bold] version "
            f"{engine.shadow.identity.version}: scores every request, audit log only"
        )
    if engine.rollout is not None:
        console.print(
            f"rollout cycle {engine.rollout.cycle} sealed (config {engine.rollout.sha256()[:12]})"
        )
    engine.close()
    if check_only:
        return
    scheme = "https" if tls is not None else "http"
    console.print(f"starting on {scheme}://{host}:{port} (Ctrl-C stops)")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, bentoml_serve_argv(host=host, port=port, tls=tls), server_env)


token_app = typer.Typer(help=TOKEN_HELP, no_args_is_help=True, add_completion=False)


def _store():
    """The configured token store, or a message and exit 1 when its database is away."""
    from serving.settings import ServingSettings
    from serving.store.audit_log import AuditLogUnavailable
    from serving.store.stores import open_stores

    try:
        return open_stores(ServingSettings(), security_log=False).tokens
    except AuditLogUnavailable as exc:  # the database is away or its schema is behind
        Console(stderr=True).print(f"[red]error:[/red] token store unavailable: {exc}")
        raise typer.Exit(EXIT_REFUSED) from None


@token_app.command("create")
def token_create(
    role: Annotated[
        Literal["caseworker", "auditor", "admin", "approver", "registry_officer"],
        typer.Option(
            "--role",
            help="caseworker: score, feedback; auditor: model card, audit and security logs; "
            "admin: all; approver: model card, and approves model versions (`earlyrisk "
            "model approve`; give --note NAME); registry_officer: decides corrections of "
            "records (`earlyrisk correction decide`).",
        ),
    ],
    note: Annotated[
        str | None, typer.Option("--note", help="Who or what the token is for.")
    ] = None,
    ttl: Annotated[
        float | None,
        typer.Option(
            "--ttl",
            min=0.001,
            max=3650,
            metavar="DAYS",
            help="Days until the token expires (default: EARLYRISK_TOKEN_DEFAULT_TTL_DAYS, 90).",
            show_default=False,
        ),
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region",
            help="Scope the token to families of this audit_region (repeat for several); "
            "default: every region.",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the token (for scripts).")
    ] = False,
) -> None:
    """Create a token and print it once (only its hash is stored); it expires after --ttl."""
    from serving.settings import ServingSettings

    days = ttl if ttl is not None else ServingSettings().token_default_ttl_days
    try:
        issued = _store().create(role, note=note, ttl_days=days, regions=region)
    except ValueError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    if quiet:
        typer.echo(issued.token)
        return
    console = Console()
    scope = ", ".join(issued.regions) if issued.regions else "all regions"
    console.print(
        f"token id  {issued.token_id}  role {issued.role}  expires {issued.expires_at}  "
        f"scope {scope}"
    )
    console.print("token (shown once; keep it secret):")
    typer.echo(issued.token)


@token_app.command("list")
def token_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List tokens: id, role, created, expires, last used, revoked, regions, note (never the
    secret)."""
    rows = _store().list()
    if as_json:
        import json

        for row in rows:
            typer.echo(json.dumps(row))
        return
    from rich.table import Table

    from serving.store.tokens import LISTED

    table = Table(
        "token id", "role", "created", "expires", "last used", "revoked", "regions", "note"
    )
    for row in rows:
        table.add_row(*(str(row[k] or "") for k in LISTED))
    Console(width=200).print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token id (from `token list`).")],
) -> None:
    """Revoke a token: every later call with it is refused (401)."""
    if not _store().revoke(token_id):
        Console(stderr=True).print(f"[red]error:[/red] no live token with id {token_id!r}")
        raise typer.Exit(EXIT_REFUSED)
    Console().print(f"revoked {token_id}")
