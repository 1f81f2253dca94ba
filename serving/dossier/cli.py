"""The ``earlyrisk dossier`` and ``earlyrisk notices`` verbs: thin jobs over
:mod:`serving.dossier.produce` and :mod:`serving.dossier.notices`, on the service's own
configuration (``EARLYRISK_*``: the champion, the snapshot, the audit log, the raw
directory for the records), so a record made here is the one ``POST /dossier`` makes.
Both write to the audit log first (as ``cli:<user>``), then the file.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from serving.cli_options import EXIT_USAGE, ModelUriOption, TrackingUriOption
from serving.i18n import LANGUAGE_CODES, Language

if TYPE_CHECKING:
    from serving.settings import ServingSettings

DOSSIER_HELP = (
    "Write the explanation record of a family's assessment, for the family, in plain words "
    "(kk, ru or en): that an automated assessment took part and a person decides; the date, "
    "model version and level in words; the needs that raised the estimate with the records "
    "behind them (what, when it happened, when it was recorded, which agency); the smallest "
    "change to the needs a family can change that would bring the level down, found by "
    "re-scoring the model; the caseworker's decision and who made it; how to contest and "
    "correct a record.\n\n"
    "It explains one logged score: --score-id, else the family's latest score on --as-of "
    "(default: the latest snapshot) by the serving model, else a new one (logged). The "
    "score is re-derived from its model version and the snapshot, bit for bit, or refused. "
    "--out ending in .pdf writes a PDF (WeasyPrint), else HTML. The record is on the audit "
    "log (a dossier entry) before the file is written.\n\n"
    "Configuration: the EARLYRISK_* variables of `earlyrisk serve` (EARLYRISK_RAW_DIR for "
    "the records). Exit code: 0 written, 1 refused (unknown family or score, not "
    "reproducible, log unavailable), 2 usage error."
)

NOTICES_HELP = (
    "List the families to notify on a snapshot date: those assessed for the first time "
    "(eligible now, not on the previous snapshot) and those whose level rose since the "
    "previous snapshot, each with a notice in every --lang that says an automated "
    "assessment is used to offer support and how to ask for the explanation record (never "
    "the level, never a risk).\n\n"
    "Opt-out is a configuration (--config YAML: legal_basis, opt_out_allowed, opted_out): "
    "only where the legal basis allows it are opted-out families left out. The run and its "
    "configuration are on the audit log. --out is CSV (or Parquet when it ends .parquet).\n\n"
    "Exit code: 0 written, 1 refused, 2 usage error."
)


def _lang(value: str) -> Language:
    if value not in LANGUAGE_CODES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(LANGUAGE_CODES)}")
    return value


def _settings(model: str | None, tracking_uri: str | None) -> ServingSettings:
    """The service's settings, with --model and --tracking-uri over the environment."""
    from serving.settings import ServingSettings

    settings = ServingSettings()
    overrides = {
        k: v for k, v in (("model_uri", model), ("tracking_uri", tracking_uri)) if v is not None
    }
    return settings.model_copy(update=overrides) if overrides else settings


def dossier_command(
    family: Annotated[
        str, typer.Option("--family", metavar="ID", help="The family.", show_default=False)
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="FILE",
            help="HTML file, or PDF when it ends .pdf.",
            show_default=False,
        ),
    ],
    lang: Annotated[
        str,
        typer.Option(
            "--lang", metavar="kk|ru|en", help="The family's language.", show_default=False
        ),
    ],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", metavar="DATE", help="Snapshot date (default: the latest)."),
    ] = None,
    score_id: Annotated[
        str | None,
        typer.Option(
            "--score-id",
            metavar="ID",
            help="Explain this logged score of the family (not with --as-of).",
        ),
    ] = None,
    contact: Annotated[
        str | None,
        typer.Option("--contact", help="Where the family contests a record (printed as is)."),
    ] = None,
    model: ModelUriOption = None,
    tracking_uri: TrackingUriOption = None,
) -> None:
    """Write one family's explanation record."""
    from serving.auth import Principal
    from serving.batch import batch_operator
    from serving.dossier.produce import DossierDesk
    from serving.engine import load_engine

    language = _lang(lang)
    if as_of is not None and score_id is not None:
        typer.echo("error: give --as-of or --score-id, not both", err=True)
        raise typer.Exit(EXIT_USAGE)
    engine = load_engine(_settings(model, tracking_uri))
    try:
        desk = DossierDesk(
            engine,
            contact=contact,
            open_contests=engine.open_contests,
            corrections_of=engine.corrections_of,
        )
        made = desk.produce(
            family_id=family,
            as_of=as_of,
            score_id=score_id,
            lang=language,
            fmt="pdf" if out.suffix.lower() == ".pdf" else "html",
            principal=Principal(batch_operator(), "operator"),
            request_id=uuid.uuid4().hex,
        )
    finally:
        engine.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(made.content)
    cf = made.facts.counterfactual
    typer.echo(
        f"wrote {out} ({language}, explains score {made.score_id}, audit entry {made.audit_seq}; "
        f"what would change: {'found' if cf.found else 'none found'})"
    )


def notices_command(
    as_of: Annotated[
        str, typer.Option("--as-of", metavar="DATE", help="Snapshot date.", show_default=False)
    ],
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="CSV (or .parquet) of the notices."),
    ] = Path("notices.csv"),
    lang: Annotated[
        list[str] | None,
        typer.Option("--lang", metavar="kk|ru|en", help="Languages (repeat for several)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", metavar="FILE", help="Notices configuration (YAML)."),
    ] = None,
    model: ModelUriOption = None,
    tracking_uri: TrackingUriOption = None,
) -> None:
    """List the notices due on a date."""
    from serving.batch import batch_operator
    from serving.dossier.notices import load_notice_config, notices
    from serving.engine import load_engine

    langs = [_lang(v) for v in (lang or ["kk", "ru"])]
    settings = load_notice_config(config)
    engine = load_engine(_settings(model, tracking_uri))
    try:
        run = notices(engine, as_of=as_of, langs=langs, config=settings)
        if out.suffix.lower() == ".parquet":
            payload = run.notices.to_parquet(index=False)
        else:
            payload = run.notices.to_csv(index=False).encode("utf-8")
        request_id = uuid.uuid4().hex
        engine.audit_log.record_dossier(
            request_id=request_id,
            token_id=batch_operator(),
            role="operator",
            endpoint="notices",
            family_id=None,
            as_of=run.as_of,
            model_version=engine.identity.version,
            detail={
                "previous_as_of": run.previous,
                "languages": langs,
                "notices": len(run.notices),
                "first_assessment": int((run.notices["reason"] == "first_assessment").sum()),
                "level_rose": int((run.notices["reason"] == "level_rose").sum()),
                "opted_out_left_out": run.opted_out,
                "config": settings.model_dump(mode="json", exclude={"opted_out"}),
                "opted_out_listed": len(settings.opted_out),
                "file_sha256": hashlib.sha256(payload or b"").hexdigest(),
            },
        )
    finally:
        engine.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(payload or b"")
    typer.echo(
        f"wrote {out}: {len(run.notices)} notices on {run.as_of} (previous snapshot "
        f"{run.previous or 'none'}; {run.assessed} families assessed; {run.opted_out} opted "
        f"out and left out under: {settings.legal_basis})"
    )
