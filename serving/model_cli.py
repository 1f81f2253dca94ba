"""``earlyrisk model``: who made which version champion, on whose approval, and when.

The rules are :mod:`training.governance`'s (two approvals by people other than the
trainer; a named waiver, with a reason, of every failed or inconclusive check); the facts
live in MLflow (:mod:`training.governance_store`). This module adds what only the serving
side has: who is acting (their token: its id, role and the name it was issued to, its
``--note``) and the hash-chained audit log. Every act is written to the audit log first
and only then to MLflow: an act the log cannot record is not taken (DESIGN rule 12).

Reading verbs (``list``, ``show``, ``history``) need no token; acting verbs take
``--token`` or ``EARLYRISK_TOKEN``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from serving.cli_options import EXIT_REFUSED, EXIT_USAGE, token_option

if TYPE_CHECKING:
    from serving.settings import ServingSettings
    from training.governance_store import GovernanceStore

MODEL_HELP = (
    "Govern model versions: list, show, approve, promote, roll back, retire, history.\n\n"
    "A version with a failed or inconclusive check becomes champion only with a named "
    "waiver of each such check (--waive CHECK --reason TEXT) and the approvals of two "
    "people other than its trainer (`model approve` with their own tokens). Every act is "
    "written to the audit log, to MLflow and to the version's model card."
)

model_app = typer.Typer(help=MODEL_HELP, no_args_is_help=True, add_completion=False)

TokenOption = Annotated[str, token_option("approver, auditor or admin")]
VersionArgument = Annotated[str, typer.Argument(help="the model version")]
WaiveOption = Annotated[
    list[str] | None,
    typer.Option("--waive", metavar="CHECK", help="A failed or inconclusive check to accept."),
]
ReasonOption = Annotated[
    list[str] | None,
    typer.Option("--reason", metavar="TEXT", help="Why, one per --waive, in the same order."),
]


@dataclass(frozen=True)
class Actor:
    """Who acts: the token's id and role, and the person it was issued to (its note)."""

    token_id: str
    role: str
    person: str


def _fail(message: str, code: int = EXIT_REFUSED) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _settings() -> ServingSettings:
    from serving.settings import ServingSettings

    return ServingSettings()


def _governance(settings: ServingSettings) -> GovernanceStore:
    from training.governance_store import GovernanceStore
    from training.tracking import TrackingStore

    return GovernanceStore(TrackingStore(settings.tracking_uri), settings.model_name)


def actor_of(settings: ServingSettings, token: str) -> Actor:
    """The person behind a live token, or GovernanceRefusal that says what is wrong."""
    from serving.store.stores import open_stores
    from training.governance import GovernanceRefusal

    tokens = open_stores(settings, security_log=False).tokens
    try:
        principal = tokens.verify(token.strip())
        if principal is None:
            raise GovernanceRefusal("the token is missing, unknown, revoked or expired")
        rows = [r for r in tokens.list() if r["token_id"] == principal.token_id]
    finally:
        tokens.close()
    note = (rows[0]["note"] or "") if rows else ""
    return Actor(principal.token_id, principal.role, note.strip())


def record_refusal(
    settings: ServingSettings,
    *,
    verb: str,
    version: str | None,
    token_id: str | None,
    authenticated: bool,
    why: str,
) -> None:
    """Put a refused governance attempt in the security log (``forbidden`` for a token
    outside its role or a rule's refusal, ``unauthenticated`` for a token that is not
    live), so an auditor sees who tried to approve or promote what and why it was refused.

    The refusal stands when the security log cannot be written; that is said on stderr.
    """
    import uuid

    from serving.store.security_log import SecurityLogUnavailable, SecurityRecord
    from serving.store.stores import open_stores

    detail = f"{settings.model_name} version {version}: {why}" if version else why
    try:
        log = open_stores(settings, tokens=False).security_log
        try:
            log.record(
                SecurityRecord(
                    event="forbidden" if authenticated else "unauthenticated",
                    request_id=uuid.uuid4().hex,
                    endpoint=f"model {verb}",
                    token_id=token_id,
                    client="cli",
                    detail=detail,
                )
            )
        finally:
            log.close()
    except SecurityLogUnavailable as exc:
        typer.echo(f"warning: the refusal was not recorded in the security log: {exc}", err=True)


@dataclass
class Act:
    """One governance act under way: who acts, on which registry, the open audit log and
    the waivers given with it (``--waive CHECK --reason TEXT``)."""

    settings: ServingSettings
    actor: Actor
    gov: GovernanceStore
    log: Any
    waivers: list[tuple[str, str]]

    def record_waivers(self, version: str) -> None:
        """Check every waiver, then log and record each (none if one is refused)."""
        _record_waivers(self.gov, self.log, version, self.actor, self.waivers)


@contextmanager
def acting(
    verb: str,
    token: str,
    version: str | None = None,
    waive: list[str] | None = None,
    reason: list[str] | None = None,
) -> Iterator[Act]:
    """The frame of every acting verb: the actor checked (a live token of a governance
    role naming a person), the registry and the audit log opened; any refusal on the way
    or inside (role, two-person rule, trainer approving, a check without waiver) is recorded
    in the security log and becomes its message and exit 1."""
    from serving.auth import claimed_token_id
    from serving.store.stores import open_audit_log_for
    from training.governance import GOVERNANCE_ROLES, GovernanceRefusal

    waivers = _waivers(waive, reason)  # a usage error, not a refused act
    settings = _settings()
    actor: Actor | None = None
    try:
        actor = actor_of(settings, token)
        if actor.role not in GOVERNANCE_ROLES:
            raise GovernanceRefusal(
                f"a {actor.role} token cannot act on model versions; use an approver, "
                "auditor or admin token"
            )
        if not actor.person:
            raise GovernanceRefusal(
                f"token {actor.token_id} names nobody (no --note): model acts are by named "
                "people; create one with `earlyrisk token create --role approver --note NAME`"
            )
        log = open_audit_log_for(settings)
        try:
            yield Act(settings, actor, _governance(settings), log, waivers)
        finally:
            log.close()
    except GovernanceRefusal as exc:
        record_refusal(
            settings,
            verb=verb,
            version=version,
            token_id=actor.token_id if actor else claimed_token_id(f"Bearer {token.strip()}"),
            authenticated=actor is not None,
            why=str(exc),
        )
        raise _fail(str(exc)) from None


def _waivers(waive: list[str] | None, reason: list[str] | None) -> list[tuple[str, str]]:
    checks, reasons = waive or [], reason or []
    if len(checks) != len(reasons):
        raise _fail(
            f"{len(checks)} --waive but {len(reasons)} --reason: give one reason per waiver",
            EXIT_USAGE,
        )
    return list(zip(checks, reasons, strict=True))


def _record_waivers(
    gov: GovernanceStore, log: Any, version: str, actor: Actor, waivers: list[tuple[str, str]]
) -> None:
    """Check every waiver, then log and record each (none is recorded if one is refused)."""
    from training.governance import Waiver, check_waiver

    facts = gov.facts(version)
    for check, why in waivers:
        check_waiver(facts, check, why)
    for check, why in waivers:
        log.record_governance(
            action="waive",
            model=gov.name,
            version=version,
            token_id=actor.token_id,
            role=actor.role,
            reason=why,
            detail={"check": check, "person": actor.person},
        )
        gov.add_waiver(version, Waiver(check, why, actor.person, actor.token_id, gov.clock()))


@contextmanager
def _refusals() -> Iterator[None]:
    """A rule's refusal while reading (an unknown version) becomes its message and exit 1."""
    from training.governance import GovernanceRefusal

    try:
        yield
    except GovernanceRefusal as exc:
        raise _fail(str(exc)) from None


# --------------------------------------------------------------------------- reading


@model_app.command("list")
def list_command() -> None:
    """Every version: its alias, who trained it, when, and its checks that block."""
    from training.governance import blocking_checks, unwaived

    gov = _governance(_settings())
    champion = gov.champion()
    typer.echo(f"{'version':>7}  {'alias':<10}  {'trained by':<16}  {'created':<16}  checks")
    for version in gov.versions():
        facts = gov.facts(version)
        alias = "champion" if version == champion else ("retired" if facts.retired else "")
        blocking = blocking_checks(facts.checks)
        summary = (
            f"{len(facts.checks)} pass"
            if not blocking
            else f"{len(blocking)} of {len(facts.checks)} not pass, "
            f"{len(unwaived(facts))} unwaived, {len(facts.approvals)} approval(s)"
        )
        created = facts.created_at.strftime("%Y-%m-%d %H:%M")
        typer.echo(f"{version:>7}  {alias:<10}  {facts.trained_by:<16}  {created:<16}  {summary}")


@model_app.command("show")
def show_command(version: Annotated[str, typer.Argument(help="the model version")]) -> None:
    """A version's checks (not-pass first), waivers, approvals and decisions."""
    from training.governance import counted_approvals, promotion_refusals

    gov = _governance(_settings())
    with _refusals():
        facts = gov.facts(version)
    record = gov.record(version)
    typer.echo(f"{gov.name} version {facts.version}, trained by {facts.trained_by}")
    typer.echo("checks (failed and inconclusive first):")
    order = {"fail": 0, "inconclusive": 1, "pass": 2}
    for check in sorted(facts.checks, key=lambda c: (order[c.outcome], c.name)):
        waiver = facts.waivers.get(check.name)
        note = f"  waived by {waiver.person}: {waiver.reason}" if waiver else ""
        typer.echo(f"  {check.outcome:<12} {check.name}{note}")
    counted = {a.token_id for a in counted_approvals(facts)}
    typer.echo("approvals:" if facts.approvals else "approvals: none")
    for a in sorted(facts.approvals.values(), key=lambda a: a.at):
        counts = "" if a.token_id in counted else " (does not count: predates a waiver)"
        typer.echo(f"  {a.person} ({a.role}, token {a.token_id}) {a.at.isoformat()}{counts}")
    typer.echo("decisions:" if record["decisions"] else "decisions: none")
    for d in record["decisions"]:
        typer.echo(f"  {d['at']} {d['action']} {d['version']} by {d['by']} {d['detail']}")
    refusals = promotion_refusals(facts, champion=gov.champion())
    typer.echo("may be promoted" if not refusals else "not yet: " + "; ".join(refusals))


def parse_when(text: str) -> datetime:
    """A date (its end: who was champion at the close of that day) or a date-time (UTC)."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.max, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"--on {text!r} is not a date (YYYY-MM-DD) or date-time", EXIT_USAGE) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@model_app.command("history")
def history_command(
    on: Annotated[
        str | None,
        typer.Option("--on", metavar="DATE", help="which version was champion at the end of DATE"),
    ] = None,
) -> None:
    """Every change of the champion; with --on, the champion on that date."""
    from training.governance import champion_on

    gov = _governance(_settings())
    changes = gov.changes()
    if on is not None:
        when = parse_when(on)
        version = champion_on(changes, when)
        typer.echo(version if version is not None else "none")
        return
    decisions = gov.decisions()
    if not changes and not decisions:
        # an auditor reading an empty answer cannot tell "never" from "not found"
        typer.echo(
            f"no champion yet: no version of {gov.name} was made champion and no promotion, "
            "rollback or retirement is recorded (its versions: `earlyrisk model list`)"
        )
        return
    for at, version in changes:
        typer.echo(f"{at.isoformat()}  champion {version}")
    for d in decisions:
        typer.echo(f"{d.at.isoformat()}  {d.action} {d.version} by {d.person} {d.detail}")


# --------------------------------------------------------------------------- acting


@model_app.command("approve")
def approve_command(
    version: VersionArgument,
    token: TokenOption,
    waive: WaiveOption = None,
    reason: ReasonOption = None,
) -> None:
    """Approve a version (once per person; never its trainer), with any waivers first."""
    from training.governance import Approval, check_approver

    with acting("approve", token, version, waive, reason) as act:
        gov, actor = act.gov, act.actor
        check_approver(gov.facts(version), person=actor.person, role=actor.role)
        act.record_waivers(version)
        waived = frozenset(gov.facts(version).waivers)
        _log_act(act, "approve", version, {"person": actor.person, "waived": sorted(waived)})
        gov.add_approval(
            version, Approval(actor.person, actor.token_id, actor.role, gov.clock(), waived)
        )
        gov.publish(version)
    typer.echo(f"{actor.person} approved {gov.name} version {version}")


@model_app.command("promote")
def promote_command(
    version: VersionArgument,
    token: TokenOption,
    waive: WaiveOption = None,
    reason: ReasonOption = None,
) -> None:
    """Make a version champion: every not-pass check waived, two others approved."""
    from training.governance import Decision, GovernanceRefusal, promotion_refusals

    with acting("promote", token, version, waive, reason) as act:
        gov, actor = act.gov, act.actor
        if act.waivers:
            act.record_waivers(version)
            gov.publish(version)
        champion = gov.champion()
        refusals = promotion_refusals(gov.facts(version), champion=champion)
        if refusals:
            raise GovernanceRefusal(f"version {version} cannot be promoted: " + "; ".join(refusals))
        _decide(act, Decision("promote", version, gov.clock(), actor.person, champion))
    typer.echo(f"{gov.name} version {version} is champion (was {champion or 'none'})")


@model_app.command("rollback")
def rollback_command(token: TokenOption) -> None:
    """Make the previous champion champion again."""
    from training.governance import Decision, rollback_target

    with acting("rollback", token) as act:
        gov = act.gov
        champion = gov.champion()
        retired = [v for v in gov.versions() if gov.facts(v).retired]
        target = rollback_target(gov.changes(), champion=champion, retired=retired)
        _decide(act, Decision("rollback", target, gov.clock(), act.actor.person, champion))
    typer.echo(f"{gov.name} version {target} is champion again (was {champion})")


@model_app.command("retire")
def retire_command(version: VersionArgument, token: TokenOption) -> None:
    """Retire a version: it can no longer be promoted or rolled back to."""
    from training.governance import Decision, check_retire

    with acting("retire", token, version) as act:
        gov = act.gov
        check_retire(gov.facts(version), champion=gov.champion())
        _decide(act, Decision("retire", version, gov.clock(), act.actor.person))
    typer.echo(f"{gov.name} version {version} is retired")


def _log_act(act: Act, action: str, version: str, detail: dict[str, Any]) -> None:
    """The act's governance entry in the audit log (before MLflow: an act the log cannot
    record is not taken)."""
    act.log.record_governance(
        action=action,
        model=act.gov.name,
        version=version,
        token_id=act.actor.token_id,
        role=act.actor.role,
        detail=detail,
    )


def _decide(act: Act, decision: Any) -> None:
    """Log the decision, then take it in MLflow and publish the record of each version."""
    gov = act.gov
    _log_act(
        act,
        decision.action,
        decision.version,
        {"person": act.actor.person, "previous": decision.previous},
    )
    if decision.action == "retire":
        gov.mark_retired(decision.version, decision)
    else:
        gov.move_champion(decision.version)
    gov.add_decision(decision)
    for version in {decision.version, decision.previous} - {None}:
        gov.publish(str(version))
