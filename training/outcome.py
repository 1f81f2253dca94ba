"""The three outcomes of every check: pass, fail, inconclusive (design rule 8).

Every check of the project (promotion gates, calibration gates, fairness gates of the audit,
the champion comparison, proxy gates) ends in one :class:`Outcome`:

* ``pass``: the estimate *and* its whole interval lie inside the allowed band;
* ``fail``: the estimate lies outside the band and the evidence is clear (its interval lies
  wholly outside, and, where several checks share a test, the multiplicity-corrected (Holm)
  p-value is below the significance level);
* ``inconclusive``: neither. An estimate of 2.63 with interval 1.27-5.46 against a band up to
  1.25 whose Holm-adjusted test is not significant could not be told apart from chance: it
  is not a pass. A check whose number is undefined, or that rests on too few outcomes, is
  inconclusive too; its *status* says why (``not_evaluable``, ``insufficient_evidence``).

A status is the finer reason a check module records (:data:`STATUSES`); :func:`outcome_of`
maps every status to its outcome, so reports, the model card, MLflow and the CLI all say
the same thing. A failed or inconclusive check blocks promotion unless it is waived; a
waiver records the status it accepted, so a waived check keeps its outcome and is shown
as waived beside it, never as a pass.

Only the standard library is imported here: every layer of the project can use it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import StrEnum
from typing import Protocol, TypeVar


class Outcome(StrEnum):
    """What a check found. The value is the word reports print."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"

    @property
    def rank(self) -> int:
        """Sort key: failed first, then inconclusive, then passed (what a reader acts on)."""
        return _RANK[self]


_RANK = {Outcome.FAIL: 0, Outcome.INCONCLUSIVE: 1, Outcome.PASS: 2}

#: Every status a check records, and the outcome it means. ``no_champion`` is the first
#: model of a registry: there is nothing to be compared with, so the comparison does not
#: apply and does not block (counted with the passes, its status says why).
STATUS_OUTCOME: dict[str, Outcome] = {
    "pass": Outcome.PASS,
    "no_champion": Outcome.PASS,
    "fail": Outcome.FAIL,
    "inconclusive": Outcome.INCONCLUSIVE,
    "not_evaluable": Outcome.INCONCLUSIVE,
    "insufficient_evidence": Outcome.INCONCLUSIVE,
}
STATUSES: frozenset[str] = frozenset(STATUS_OUTCOME) | {"waived"}
#: Statuses a configured waiver may accept (a failure is never waived by configuration).
WAIVABLE: frozenset[str] = frozenset(
    status for status, outcome in STATUS_OUTCOME.items() if outcome is Outcome.INCONCLUSIVE
)


def outcome_of(status: str, waived_from: str | None = None) -> Outcome:
    """The outcome of a status; a ``waived`` check has the outcome of the status it waived.

    Raises ``ValueError`` naming the status when it is not one of :data:`STATUSES`, or when a
    waived status does not say what it waived.
    """
    if status == "waived":
        if waived_from is None or waived_from == "waived":
            raise ValueError(f"a waived check must name the status it waived, got {waived_from!r}")
        return outcome_of(waived_from)
    try:
        return STATUS_OUTCOME[status]
    except KeyError:
        raise ValueError(
            f"unknown check status {status!r}; expected one of {sorted(STATUSES)}"
        ) from None


def judge_band(
    estimate: float,
    low: float | None,
    high: float | None,
    *,
    lower: float,
    upper: float,
    clear: bool,
) -> Outcome:
    """Judge an estimate and its interval against the band ``[lower, upper]``.

    ``pass`` when the estimate and both ends of the interval are inside; ``fail`` when the
    estimate is outside and ``clear`` (the caller's evidence that the departure is not
    chance: interval wholly outside and/or a Holm-adjusted test below its level); otherwise
    ``inconclusive``. Without an interval (``low``/``high`` None or NaN) an estimate inside
    the band is inconclusive: the band was not shown to hold. A check that has only a point
    figure (a proxy AUC) passes the estimate as both ends. Use ``math.inf`` for an
    open side (a lower-bound-only gate).
    """
    if math.isnan(estimate):
        return Outcome.INCONCLUSIVE
    inside = lower <= estimate <= upper
    if not inside:
        return Outcome.FAIL if clear else Outcome.INCONCLUSIVE
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return Outcome.INCONCLUSIVE
    if lower <= low and high <= upper:
        return Outcome.PASS
    return Outcome.INCONCLUSIVE


def outside(low: float | None, high: float | None, *, lower: float, upper: float) -> bool:
    """True when the interval ``[low, high]`` lies wholly outside ``[lower, upper]``."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return False
    return high < lower or low > upper


class _Checked(Protocol):
    @property
    def outcome(self) -> Outcome: ...

    @property
    def blocks(self) -> bool: ...


C = TypeVar("C", bound=_Checked)


def sort_checks(checks: Iterable[C]) -> list[C]:
    """Failed checks first, then inconclusive, then passed; stable within each outcome."""
    return sorted(checks, key=lambda c: c.outcome.rank)


def count_outcomes(checks: Iterable[_Checked]) -> dict[Outcome, int]:
    """How many checks ended in each outcome (every outcome present, zero included)."""
    counts = dict.fromkeys(Outcome, 0)
    for check in checks:
        counts[check.outcome] += 1
    return counts


def outcome_summary(checks: Iterable[_Checked]) -> str:
    """ "2 failed, 5 inconclusive, 61 passed": the three apart, failed and inconclusive first."""
    counts = count_outcomes(checks)
    return (
        f"{counts[Outcome.FAIL]} failed, {counts[Outcome.INCONCLUSIVE]} inconclusive, "
        f"{counts[Outcome.PASS]} passed"
    )
