"""``earlyrisk correction add|list|decide``: contest and correct a family's record.

The same desk as ``POST /correction`` (:mod:`serving.corrections`), run where the service
runs (its settings: model, snapshot, raw registry, stores). A caseworker's token files a
correction on a family's behalf; a registry officer's token decides it, which re-scores
the family and prints the score before and after; ``list`` shows a family's corrections
with the diff of each decided one. Every step is on the audit log.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from serving.cli_options import EXIT_REFUSED, EXIT_USAGE, token_option

CORRECTION_HELP = (
    "Contest and correct a family's record: add (a caseworker files, on documents), list, "
    "decide (a registry officer accepts or rejects; the family is re-scored and the old and "
    "new score, level and reasons are kept in the audit log).\n\n"
    "An accepted correction applies in validate, features and score from its decided date: "
    "a snapshot before that date keeps the original record."
)

correction_app = typer.Typer(help=CORRECTION_HELP, no_args_is_help=True, add_completion=False)

TokenOption = Annotated[str, token_option("add, list: caseworker; decide: registry_officer")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _fail(message: str, code: int = EXIT_REFUSED) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _desk(token: str) -> Iterator[tuple[Any, Any]]:
    """(the desk, the caller's principal); everything closed afterwards."""
    from serving.correction_rescore import FamilyRecompute
    from serving.corrections import CorrectionDesk
    from serving.engine import StartupError, load_engine
    from serving.settings import ServingSettings
    from serving.store.stores import open_stores

    settings = ServingSettings()
    stores = open_stores(settings, security_log=False, corrections=True)
    try:
        principal = stores.tokens.verify(token.strip())
        if principal is None:
            raise _fail("the token is missing, unknown, revoked or expired")
        try:
            engine = load_engine(settings)
        except StartupError as exc:
            raise _fail(str(exc)) from None
        assert stores.corrections is not None
        try:
            yield (
                CorrectionDesk(
                    engine=engine,
                    store=stores.corrections,
                    recompute=FamilyRecompute(settings.raw_dir),
                ),
                principal,
            )
        finally:
            engine.close()
    finally:
        stores.close()


@contextmanager
def _refusals() -> Iterator[None]:
    """A refusal of the desk as its message and exit code (1; 2 for a bad argument)."""
    from serving.correction_rescore import RescoreUnavailable
    from serving.corrections import CorrectionForbidden
    from serving.store.corrections import CorrectionRefused, UnknownCorrectionError

    try:
        yield
    except CorrectionRefused as exc:
        raise _fail(f"refused: {exc}", EXIT_USAGE) from None
    except (CorrectionForbidden, UnknownCorrectionError, RescoreUnavailable) as exc:
        raise _fail(f"refused: {exc}") from None


def _show(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(answer, indent=2, sort_keys=True, default=str))
        return
    correction = answer.get("correction")
    if correction:
        typer.echo(
            f"{correction['correction_id']}: {correction['action']} "
            f"{correction['record_table']} {correction['record_id']} of family "
            f"{correction['family_id']}: {correction['status']}"
        )
    if "diff" in answer:
        _show_diff(answer)


def _show_diff(item: dict[str, Any]) -> None:
    before, after, diff = item.get("before") or {}, item.get("after") or {}, item.get("diff") or {}

    def score(side: dict[str, Any]) -> str:
        if side.get("probability") is None:
            return side.get("status", "not scored")
        return f"{side['probability']:.3f} (level {side['risk_level']})"

    typer.echo(f"  before: {score(before)}; after: {score(after)}")
    change = diff.get("probability_change")
    if change is not None:
        typer.echo(
            f"  change: {100 * change:+.1f} probability points; level "
            f"{'changed' if diff.get('level_changed') else 'unchanged'}"
        )
    if diff.get("reasons_removed"):
        typer.echo(f"  reasons gone: {', '.join(diff['reasons_removed'])}")
    if diff.get("reasons_added"):
        typer.echo(f"  reasons new: {', '.join(diff['reasons_added'])}")


@correction_app.command("add")
def add(
    family: Annotated[str, typer.Option("--family", help="The family, on whose behalf.")],
    record: Annotated[str, typer.Option("--record", help="The contested event_id.")],
    action: Annotated[str, typer.Option("--action", help="void (wrong record) or amend.")],
    document: Annotated[
        str, typer.Option("--document", help="Reference of the documents that prove it.")
    ],
    token: TokenOption,
    field: Annotated[
        str | None, typer.Option("--field", help="amend: value, detail or event_date.")
    ] = None,
    value: Annotated[str | None, typer.Option("--value", help="amend: the correct value.")] = None,
    as_json: JsonOption = False,
) -> None:
    """File a correction of one of a family's records (caseworker)."""
    request = {
        "family_id": family,
        "record_table": "events",
        "record_id": record,
        "action": action,
        "field": field,
        "new_value": value,
        "document_ref": document,
    }
    with _refusals(), _desk(token) as (desk, principal):
        answer = desk.file(request, principal=principal, request_id=uuid.uuid4().hex)
    _show(answer, as_json)


@correction_app.command("decide")
def decide(
    correction_id: Annotated[str, typer.Argument(help="The correction to decide.")],
    decision: Annotated[str, typer.Option("--decision", help="accepted or rejected.")],
    token: TokenOption,
    as_json: JsonOption = False,
) -> None:
    """Accept or reject a correction (registry officer); the family is re-scored and the
    score before and after is printed (both are in the audit log)."""
    with _refusals(), _desk(token) as (desk, principal):
        answer = desk.decide(
            correction_id, decision, principal=principal, request_id=uuid.uuid4().hex
        )
    _show(answer, as_json)


@correction_app.command("list")
def list_corrections(
    token: TokenOption,
    family: Annotated[str | None, typer.Option("--family", help="Only this family.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="requested, accepted or rejected.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The corrections of the families in your regions, each decided one with its diff."""
    with _refusals(), _desk(token) as (desk, principal):
        rows = desk.list(principal=principal, family_id=family, status=status)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, sort_keys=True, default=str))
        return
    if not rows:
        typer.echo("no corrections")
    for row in rows:
        _show({"correction": row}, False)
        if row["status"] != "requested":
            _show_diff(row)


@correction_app.command("export")
def export(
    out: Annotated[
        Path,
        typer.Option("--out", help="The raw directory to write corrections.parquet into."),
    ],
    token: TokenOption,
) -> None:
    """Write the corrections decided through the service into a raw directory
    (corrections.parquet, the data contract's columns), so the next `validate`, `features`
    and `score` apply them, each from its decided date (registry officer, admin)."""
    import pandas as pd

    from features.corrections import write_corrections
    from serving.corrections import DECIDE_ROLES
    from serving.settings import ServingSettings
    from serving.store.stores import open_stores

    stores = open_stores(ServingSettings(), security_log=False, corrections=True)
    try:
        principal = stores.tokens.verify(token.strip())
        if principal is None:
            raise _fail("the token is missing, unknown, revoked or expired")
        if principal.role not in DECIDE_ROLES:
            raise _fail(f"refused: role: a {principal.role} may not export corrections")
        if not out.is_dir():
            raise _fail(f"--out {out} is not a directory", EXIT_USAGE)
        assert stores.corrections is not None
        frame = stores.corrections.as_frame()
    finally:
        stores.close()
    from features.corrections import read_corrections

    # the directory's own corrections are kept; the service's replace any with the same id
    kept = read_corrections(out)
    kept = kept.loc[~kept["correction_id"].isin(frame["correction_id"])]
    merged = pd.concat([kept, frame], ignore_index=True) if len(kept) else frame
    path = write_corrections(merged, out)
    typer.echo(f"wrote {len(frame)} correction(s) of the service to {path} ({len(merged)} in all)")
