"""The ``earlyrisk shadow-report`` verb: a thin job over :mod:`serving.monitor.shadow_report`.

Exit codes: 0 the report was written; 1 the audit log or snapshot cannot be used, or it
holds no shadow entries in the period; 2 usage error.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from serving.cli_options import EXIT_REFUSED, EXIT_USAGE, AuditLogOption

SHADOW_REPORT_HELP = (
    "Compare the shadow model with the champion on the traffic both scored (`earlyrisk "
    "serve --shadow`): rank correlation, band agreement, who would enter and who would "
    "leave the high band, overall and by audit group (the snapshot's audit_* columns).\n\n"
    "Reads the audit log (read-only; its SQLite file or the service's PostgreSQL database) "
    "and writes shadow_report.json and shadow_report.html (owner-only) to --out. The page "
    "is in English, Russian and Kazakh behind a language switch; --lang chooses the one it "
    "opens in."
)


def _day(value: str | None, option: str, err: Console) -> str | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        err.print(f"[red]error:[/red] {option} {value!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(EXIT_USAGE) from None


def shadow_report_command(
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Where the report goes.")],
    audit_log: AuditLogOption = None,
    snapshot: Annotated[
        Path | None,
        typer.Option(
            "--snapshot",
            metavar="FILE",
            help="The feature snapshot the service served (its audit_* columns give the "
            "groups; default: EARLYRISK_SNAPSHOT_PATH when it exists).",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="DATE", help="First day of traffic (recorded, UTC)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="DATE", help="Last day of traffic (recorded, UTC)."),
    ] = None,
    min_group_size: Annotated[
        int,
        typer.Option("--min-group-size", min=1, help="Smaller audit groups are suppressed."),
    ] = 11,
    lang: Annotated[
        str,
        typer.Option(
            "--lang",
            metavar="kk|ru|en",
            help="The language the page opens in (the other two are a click away).",
        ),
    ] = "en",
) -> None:
    """Write the shadow report."""
    from features.private_files import write_private_text
    from serving.i18n.words import LANGUAGE_CODES
    from serving.monitor.audit_source import source_option
    from serving.monitor.shadow_report import (
        REPORT_HTML,
        REPORT_JSON,
        ShadowReportError,
        audit_groups,
        read_pairs,
        shadow_report,
    )
    from serving.monitor.shadow_report_html import render_shadow_html
    from serving.settings import ServingSettings

    err = Console(stderr=True)
    if lang not in LANGUAGE_CODES:
        err.print(f"[red]error:[/red] --lang {lang!r} is not one of {', '.join(LANGUAGE_CODES)}")
        raise typer.Exit(EXIT_USAGE)
    language = next(code for code in LANGUAGE_CODES if code == lang)  # typed as a Language
    first, last = _day(since, "--since", err), _day(until, "--until", err)
    settings = ServingSettings()
    log_path = source_option(audit_log, settings)
    if snapshot is None and settings.snapshot_path.exists():
        snapshot = settings.snapshot_path
    try:
        pairs = read_pairs(log_path, since=first, until=last)
        report = shadow_report(pairs, audit_groups(snapshot), min_group_size=min_group_size)
    except ShadowReportError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_REFUSED) from None
    out.mkdir(parents=True, exist_ok=True)
    write_private_text(out / REPORT_HTML, render_shadow_html(report, lang=language))
    public: dict[str, Any] = {
        **report,
        "comparisons": [
            {k: v for k, v in c.items() if k != "_points"} for c in report["comparisons"]
        ],
    }
    write_private_text(out / REPORT_JSON, json.dumps(public, indent=2, allow_nan=False) + "\n")
    console = Console()
    for c in report["comparisons"]:
        rank = c["rank_correlation"]["spearman"]
        console.print(
            f"champion {c['champion_version']} vs shadow {c['shadow_version']}: "
            f"{c['n']} families, Spearman {rank if rank is None else f'{rank:.3f}'}, "
            f"band agreement {c['band_agreement']['value']:.3f}, "
            f"{c['entering_high']['count']} would enter and {c['leaving_high']['count']} "
            "would leave the high band"
        )
    console.print(f"report: {out / REPORT_HTML}")
