"""Who may make a model version champion, and when: pure decisions over recorded facts.

DESIGN rule 12: a model becomes champion only by named people (two, other than its
trainer) who accept each failed or inconclusive check in writing. The facts (a version's
checks, its waivers and approvals, the registry's past decisions) are read from MLflow by
:mod:`training.governance_store`; this module only decides, so every rule is a plain
function with a test on a constructed case.

- A check that is not ``pass`` blocks promotion until a waiver names it, with a reason.
  Waivers belong to one version: they are stored on it, so a new version starts with none.
- An approval is one person's (the name their token was issued to), counted once however
  often they approve; the version's trainer cannot approve it.
- An approval covers the waivers on record when it was given: a waiver added later needs
  the approvers to approve again, so nobody approves a limitation they never saw.
- Which version was champion on a date is answered from the timeline of decisions (a
  training run's own promotion when every gate passed, then each promote and rollback).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Outcome = Literal["pass", "fail", "inconclusive"]
Action = Literal["trained", "waive", "approve", "promote", "rollback", "retire"]

#: Roles whose tokens may approve, waive, promote, roll back and retire (serving.auth).
GOVERNANCE_ROLES: frozenset[str] = frozenset({"approver", "auditor", "admin"})
#: How many people other than the trainer must approve a version before it is promoted.
REQUIRED_APPROVALS = 2


class GovernanceRefusal(ValueError):
    """A governance act the rules refuse; the message names the version, check or person."""


@dataclass(frozen=True)
class Check:
    """One gate or fairness check recorded on a version's training run."""

    name: str
    outcome: Outcome
    value: float | None = None


@dataclass(frozen=True)
class Waiver:
    """A named acceptance of one non-passing check of one version, with its reason."""

    check: str
    reason: str
    person: str
    token_id: str
    at: datetime


@dataclass(frozen=True)
class Approval:
    """One person's approval of one version, and the waivers on record when they gave it."""

    person: str
    token_id: str
    role: str
    at: datetime
    waived: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    """A change of the champion (or a retirement), as the registry records it."""

    action: Action
    version: str
    at: datetime
    person: str
    previous: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class VersionFacts:
    """What the rules need to know about one registered version."""

    version: str
    trained_by: str
    created_at: datetime
    checks: tuple[Check, ...] = ()
    waivers: Mapping[str, Waiver] = field(default_factory=dict)
    approvals: Mapping[str, Approval] = field(default_factory=dict)
    retired: bool = False
    gates_passed: bool = False


def same_person(a: str, b: str) -> bool:
    """Whether two recorded names are one person (case and surrounding blanks ignored)."""
    return a.strip().casefold() == b.strip().casefold()


def outcome_of_gate(passed: float | None) -> Outcome:
    """A check's outcome from the ``passed`` figure training records (1 pass, 0 fail).

    The one place the recorded representation is read: anything not a clear pass (a
    missing or unreadable figure) is ``inconclusive``, so it blocks like a failure.
    """
    if passed is None:
        return "inconclusive"
    if passed == 1.0:
        return "pass"
    if passed == 0.0:
        return "fail"
    return "inconclusive"


def blocking_checks(checks: Iterable[Check]) -> list[Check]:
    """The checks that block promotion until waived: every one that is not ``pass``."""
    return [c for c in checks if c.outcome != "pass"]


def unwaived(facts: VersionFacts) -> list[Check]:
    """The version's blocking checks with no waiver recorded on this version."""
    return [c for c in blocking_checks(facts.checks) if c.name not in facts.waivers]


def check_waiver(facts: VersionFacts, check: str, reason: str) -> None:
    """Refuse a waiver of a check the version does not have, or that passed, or one
    without a reason."""
    names = {c.name: c for c in facts.checks}
    if check not in names:
        raise GovernanceRefusal(
            f"version {facts.version} has no check {check!r}; its checks that block are: "
            f"{', '.join(c.name for c in blocking_checks(facts.checks)) or 'none'}"
        )
    if names[check].outcome == "pass":
        raise GovernanceRefusal(f"check {check!r} of version {facts.version} passed: no waiver")
    if len(reason.strip()) < 10:
        raise GovernanceRefusal(
            f"the waiver of {check!r} needs a reason in words (got {reason!r}): say why the "
            "known limitation is accepted"
        )


def check_approver(facts: VersionFacts, *, person: str, role: str) -> None:
    """Refuse an approval by the trainer, by a role that may not approve, or by nobody."""
    if role not in GOVERNANCE_ROLES:
        raise GovernanceRefusal(
            f"a {role!r} token cannot approve; use an approver, auditor or admin token"
        )
    if not person.strip():
        raise GovernanceRefusal(
            "this token names nobody (no --note): approvals are by named people; create "
            "the token with `earlyrisk token create --role approver --note NAME`"
        )
    if same_person(person, facts.trained_by):
        raise GovernanceRefusal(
            f"{facts.trained_by} trained version {facts.version} and cannot approve it: "
            "two other people must"
        )
    if facts.retired:
        raise GovernanceRefusal(f"version {facts.version} is retired")


def counted_approvals(facts: VersionFacts) -> list[Approval]:
    """The approvals that count: one per person, not the trainer, each covering every
    waiver now on record (an approval given before a waiver was added does not)."""
    waived = frozenset(facts.waivers)
    seen: dict[str, Approval] = {}
    for approval in sorted(facts.approvals.values(), key=lambda a: a.at):
        key = approval.person.strip().casefold()
        if same_person(approval.person, facts.trained_by) or not key:
            continue
        if waived <= approval.waived:
            seen[key] = approval
    return list(seen.values())


def promotion_refusals(facts: VersionFacts, *, champion: str | None) -> list[str]:
    """Why the version may not become champion now (empty: it may)."""
    reasons: list[str] = []
    if facts.retired:
        reasons.append(f"version {facts.version} is retired")
    if champion == facts.version:
        reasons.append(f"version {facts.version} is already the champion")
    missing = unwaived(facts)
    if missing:
        reasons.append(
            "no waiver for "
            + ", ".join(f"{c.name} ({c.outcome})" for c in missing)
            + ": give --waive CHECK --reason TEXT for each"
        )
    counted = counted_approvals(facts)
    if len(counted) < REQUIRED_APPROVALS:
        stale = len({a.person.casefold() for a in facts.approvals.values()}) - len(counted)
        names = ", ".join(sorted(a.person for a in counted)) or "nobody"
        reasons.append(
            f"{len(counted)} of {REQUIRED_APPROVALS} approvals by people other than the "
            f"trainer {facts.trained_by} (approved: {names})"
            + (f"; {stale} approval(s) predate a waiver and must be given again" if stale else "")
        )
    return reasons


def timeline(
    versions: Iterable[VersionFacts], decisions: Iterable[Decision]
) -> list[tuple[datetime, str | None]]:
    """Who was champion from when: each change as (time, version or None), in order.

    A version whose gates all passed became champion when training registered it (the
    training run moved the alias); promote and rollback move it later; retiring the
    champion is refused, so retirements change nothing here.
    """
    changes: list[tuple[datetime, str | None]] = [
        (v.created_at, v.version) for v in versions if v.gates_passed
    ]
    changes += [(d.at, d.version) for d in decisions if d.action in ("promote", "rollback")]
    return sorted(changes, key=lambda change: change[0])


def champion_on(changes: Sequence[tuple[datetime, str | None]], when: datetime) -> str | None:
    """The champion at ``when`` (None before the first one)."""
    current: str | None = None
    for at, version in changes:
        if at > when:
            break
        current = version
    return current


def rollback_target(
    changes: Sequence[tuple[datetime, str | None]],
    *,
    champion: str | None,
    retired: Iterable[str] = (),
) -> str:
    """The champion before the current one (skipping retired versions and repeats)."""
    gone = set(retired)
    order = [v for _, v in changes if v is not None]
    while order and order[-1] == champion:
        order.pop()
    for version in reversed(order):
        if version != champion and version not in gone:
            return version
    raise GovernanceRefusal(f"no earlier champion to roll back to (current: {champion or 'none'})")


def check_retire(facts: VersionFacts, *, champion: str | None) -> None:
    """Refuse to retire the champion (roll back first) or a version already retired."""
    if champion == facts.version:
        raise GovernanceRefusal(
            f"version {facts.version} is the champion: `earlyrisk model rollback` first"
        )
    if facts.retired:
        raise GovernanceRefusal(f"version {facts.version} is already retired")
