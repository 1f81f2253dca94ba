"""Fairness gates: tolerances that decide whether a model may be promoted (or a CLI run passes).

Training evaluates :class:`FairnessGates` on the audit of a candidate model and only gives it
the ``champion`` alias when no gate fails; ``earlyrisk audit --gates FILE`` applies the same
gates to any score file and exits non-zero on failure. Each check yields one
:class:`GateOutcome` so the report can say exactly which group broke which bound.

Gate kinds:

* ``<metric>_ratio``: for every reported group, the ratio of its metric to the reference
  group's must lie within ``[lower, upper]`` (none by default; e.g. ``fpr`` within 0.8-1.25,
  the "four-fifths" band used in both directions).
* ``recall_parity`` (default 0.8-1.25): recall parity after risk. For every reported group,
  its recall at the rule divided by the recall its calibrated probabilities promise
  (``recall O/E``), relative to the reference group's, must lie within the band: the model
  reaches each group's outcomes as often as its own scores say. The plain recall ratio is
  not gated by default because a score calibrated in every group cannot give equal recall
  at one cut-off when base rates differ (:mod:`training.audit.recall_parity`).
* ``group_oe``: calibration in the large of every reported group: the ratio of its observed
  outcome rate to its mean predicted probability (observed / expected, O/E) must lie within
  ``[lower, upper]``. A ratio, because rates near 3 % make any absolute error look small: a
  group observed at 6.5 % and predicted at 2.9 % (2.2 times) has an absolute gap of 0.036.
* ``group_ece``: every reported group's expected calibration error must stay below a bound
  (reported for comparison; off by default, see ``group_oe``).
* ``proxy_auc``: no model feature may predict a protected attribute with a folded AUC above
  a bound (needs the proxy check).

Every check ends in one of three outcomes (:class:`training.outcome.Outcome`): **pass**
when the estimate *and* its interval lie inside the band, **fail** when the estimate is
outside and the evidence is clear, **inconclusive** otherwise. ``basis`` chooses what is
clear: ``"point"`` fails on the point estimate (strict), ``"interval"`` fails only when the
whole bootstrap interval of the ratio lies outside the band *and* its Holm-adjusted
two-proportion test is below ``significance`` (a zero cell gives a degenerate interval, so
the interval alone is no evidence); a ratio of 2.63 with interval 1.27-5.46 against a band
up to 1.25 and a non-significant Holm test is inconclusive, not a pass. For ``group_ece``
a group's ECE above the bound fails only when it is also above ``ece_chance_q95``, the ECE
that perfectly calibrated scores reach by chance in that group (95th percentile);
otherwise it is inconclusive. Suppressed groups are never checked (their numbers are
withheld). When the reference rate is 0 the ratio is undefined: equal rates (both 0) pass,
any other rate fails (it is infinitely far from parity) unless not statistically clear.
A check whose number is undefined (say a group has no negatives, so no FPR, or the audit has
no labels) is inconclusive with status ``not_evaluable``; a check on a group with fewer than
``min_group_positives`` outcomes (or, for calibration, fewer expected outcomes) is
inconclusive with status ``insufficient_evidence``; an attribute with no two reported groups
to compare (one group only, or every group suppressed) is ``not_evaluable`` as a whole.
Failed and inconclusive checks block promotion and make ``earlyrisk audit --gates`` exit
non-zero; an inconclusive one is accepted only when ``waivers`` names the check (a pattern,
``*`` any text, on ``<gate>[<attribute>/<group>]``) with a written reason, which the reports
repeat. ``fail_on_not_evaluable`` turns not-evaluable checks into plain failures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.stats import norm

from training.audit.disparity import holm_adjust
from training.audit.metrics import CountMetric
from training.outcome import WAIVABLE, Outcome, judge_band, outcome_of, outside

if TYPE_CHECKING:
    from training.audit.result import AuditResult

# A ratio gate bounds a count-based rate: the audit's disparity table holds exactly those.
GateMetric = CountMetric
GateStatus = Literal[
    "pass", "fail", "inconclusive", "not_evaluable", "insufficient_evidence", "waived"
]
#: Statuses that let a model be promoted (or ``earlyrisk audit --gates`` exit 0).
PASSING_STATUSES: frozenset[str] = frozenset({"pass", "waived"})
#: The statuses a waiver may accept: every inconclusive one (:mod:`training.outcome`).
WaivableStatus = Literal["inconclusive", "not_evaluable", "insufficient_evidence"]
#: Ratio metrics whose denominator is the group's outcomes (the minimum-evidence rule).
_POSITIVE_DENOMINATOR = frozenset({"tpr", "fnr"})
_NEGATIVE_DENOMINATOR = frozenset({"fpr", "tnr"})


class Waiver(BaseModel):
    """Accept an inconclusive check (out of band but not clear, not evaluable, insufficient
    evidence).

    ``check`` is a pattern (``*`` matches any text) on the check's name
    (``tpr_ratio[audit_region/*]``); ``reason`` is written for the reader of the model card
    and the reports. A waiver never turns a failure into a pass.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str = Field(min_length=1)
    reason: str = Field(min_length=20, description="why promoting without this check is sound")
    status: WaivableStatus | None = Field(
        None, description="the one status waived (None: every inconclusive status)"
    )

    def matches(self, name: str) -> bool:
        """``*`` matches any text; every other character (``[``, ``/``) is literal."""
        pattern = "".join(".*" if c == "*" else re.escape(c) for c in self.check)
        return re.fullmatch(pattern, name) is not None


class RatioBound(BaseModel):
    """Allowed band for the ratio group metric / reference metric."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lower: float = Field(0.8, gt=0)
    upper: float = Field(1.25, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> RatioBound:
        if not self.lower <= 1.0 <= self.upper:
            raise ValueError(
                "a ratio band must contain 1 (lower <= 1 <= upper); "
                f"got [{self.lower}, {self.upper}]"
            )
        return self


class FairnessGates(BaseModel):
    """Tolerances for promotion; ``None`` switches a gate off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ratio_bounds: dict[GateMetric, RatioBound] = Field(
        default_factory=dict,
        description="metric -> allowed band of group/reference ratios of the plain rates "
        "(none by default: see recall_parity for why the plain recall ratio is not)",
    )
    recall_parity: RatioBound | None = Field(
        default_factory=RatioBound,
        description="allowed band of each group's recall O/E (recall at the rule over the "
        "recall its probabilities promise) relative to the reference group's",
    )
    oe_bounds: RatioBound | None = Field(
        default_factory=lambda: RatioBound(lower=0.8, upper=1.25),
        description="allowed band of each group's observed / expected outcome rate",
    )
    max_group_ece: float | None = Field(
        None, ge=0, description="upper bound of each group's expected calibration error"
    )
    min_group_positives: int = Field(
        10,
        ge=0,
        description="a group check needs at least this many outcomes in the group (and in "
        "the reference group); fewer is insufficient evidence",
    )
    max_proxy_auc: float | None = Field(
        None, gt=0.5, le=1.0, description="upper bound of a feature's folded proxy AUC"
    )
    attributes: list[str] | None = Field(
        None, description="attributes the gates apply to (None = every audited attribute)"
    )
    include_intersections: bool = Field(
        False, description="also gate the pairwise intersections (often small and noisy)"
    )
    basis: Literal["point", "interval"] = "point"
    significance: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="with basis 'interval', a ratio fails only when its Holm-adjusted "
        "two-proportion p-value is below this as well",
    )
    fail_on_not_evaluable: bool = False
    waivers: list[Waiver] = Field(
        default_factory=list,
        description="checks accepted although not evaluable or without sufficient evidence",
    )

    @classmethod
    def from_yaml(cls, path: str | Path) -> FairnessGates:
        """Read gates from a YAML mapping (an empty file means the defaults)."""
        text = Path(path).read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ValueError(
                f"{path}: the gates file must be a YAML mapping, got {type(data).__name__}"
            )
        return cls.model_validate(data)


class GateOutcome(BaseModel):
    """The result of one check of one group (or one feature) against one bound."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gate: str
    status: GateStatus
    attribute: str | None = None
    group: str | None = None
    reference: str | None = None
    metric: str | None = None
    value: float | None = None
    interval: tuple[float, float] | None = None
    lower: float | None = None
    upper: float | None = None
    message: str
    waiver: str | None = None
    waived_from: str | None = Field(
        None, description="the status a waiver accepted (set only when status is 'waived')"
    )

    @property
    def outcome(self) -> Outcome:
        """Pass, fail or inconclusive (a waived check keeps the outcome it had)."""
        return outcome_of(self.status, self.waived_from)

    @property
    def blocks(self) -> bool:
        """True when this check stops a promotion: failed or inconclusive, and not waived."""
        return self.outcome is not Outcome.PASS and self.status != "waived"

    @property
    def name(self) -> str:
        """``<gate>[<attribute>/<group>]``: what a waiver pattern matches."""
        where = "/".join(str(p) for p in (self.attribute, self.group) if p)
        return self.gate + (f"[{where}]" if where else "")

    @property
    def passed(self) -> bool:
        """True only for a pass or a waived check: not evaluable is never a pass."""
        return self.status in PASSING_STATUSES


def gates_passed(outcomes: list[GateOutcome]) -> bool:
    """True when every outcome passed or was waived, and there was at least one check."""
    return bool(outcomes) and all(outcome.passed for outcome in outcomes)


def failed_gates(outcomes: list[GateOutcome]) -> list[GateOutcome]:
    """The outcomes that block: failed or inconclusive and not waived (in order)."""
    return [outcome for outcome in outcomes if not outcome.passed]


def apply_waivers(outcomes: list[GateOutcome], waivers: list[Waiver]) -> list[GateOutcome]:
    """Mark not-evaluable / insufficient-evidence outcomes that a waiver names as waived."""
    out = []
    for outcome in outcomes:
        if outcome.status in WAIVABLE:
            waiver = next(
                (
                    w
                    for w in waivers
                    if w.matches(outcome.name) and w.status in (None, outcome.status)
                ),
                None,
            )
            if waiver is not None:
                outcome = outcome.model_copy(
                    update={
                        "status": "waived",
                        "waived_from": outcome.status,
                        "waiver": waiver.reason,
                        "message": f"{outcome.message} [{outcome.status} waived, see the waivers]",
                    }
                )
        out.append(outcome)
    return out


def _number(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if np.isnan(number) else number


def _not_evaluable(gates: FairnessGates) -> GateStatus:
    return "fail" if gates.fail_on_not_evaluable else "not_evaluable"


def _selected_attributes(result: AuditResult, gates: FairnessGates) -> set[str]:
    names = set(result.attributes)
    if gates.attributes is not None:
        unknown = sorted(set(gates.attributes) - names)
        if unknown:
            raise ValueError(
                f"gates name attribute(s) {unknown} that the audit did not cover; "
                f"audited: {sorted(names)}"
            )
        names = set(gates.attributes)
    if gates.include_intersections:
        kinds = result.groupings
        for name in kinds.loc[kinds["kind"] == "intersection", "attribute"]:
            parts = name.split(" & ")
            if all(part in names for part in parts):
                names.add(name)
    return names


def _outcome_counts(result: AuditResult) -> dict[tuple[str, str], tuple[int, int]]:
    """(outcomes, non-outcomes) of every reported group, by (attribute, group)."""
    table = result.by_group
    if result.label_free or "n_positive" not in table:
        return {}
    rows = table[~table["suppressed"]]
    return {
        (str(r.attribute), str(r.group)): (int(r.n_positive), int(r.n) - int(r.n_positive))
        for r in rows.itertuples(index=False)
    }


def _short_of_evidence(
    counts: dict[tuple[str, str], tuple[int, int]],
    metric: str,
    attribute: str,
    groups: tuple[str, str],
    gates: FairnessGates,
) -> str | None:
    """Why a ratio of ``metric`` between two groups rests on too few outcomes, or None."""
    if metric in _POSITIVE_DENOMINATOR:
        index, kind = 0, "outcomes"
    elif metric in _NEGATIVE_DENOMINATOR:
        index, kind = 1, "families without the outcome"
    else:
        return None
    need = gates.min_group_positives
    for group in groups:
        have = counts.get((attribute, str(group)))
        if have is not None and have[index] < need:
            return (
                f"{attribute}={group} has {have[index]} {kind}, the check needs at least "
                f"{need} (min_group_positives): insufficient evidence"
            )
    return None


@dataclass(frozen=True)
class _Band:
    """A band gate's fixed parts (its name, metric and band): every outcome it reports,
    checked or not, has the same fields, so a reader (and the MLflow metrics) sees one shape.
    """

    gate: str
    metric: str
    bound: RatioBound

    def outcome(
        self,
        status: GateStatus,
        message: str,
        row: Any = None,
        estimate: tuple[float | None, float | None, float | None] = (None, None, None),
        reference: str | None = None,
    ) -> GateOutcome:
        """The outcome for ``row`` (its attribute and group), ``estimate`` being the ratio
        and its interval (kept only when both ends are known)."""
        ratio, low, high = estimate
        return GateOutcome(
            gate=self.gate,
            status=status,
            attribute=None if row is None else row.attribute,
            group=None if row is None else row.group,
            reference=reference,
            metric=self.metric,
            value=ratio,
            interval=(low, high) if low is not None and high is not None else None,
            lower=self.bound.lower,
            upper=self.bound.upper,
            message=message,
        )


def _not_clear(p_holm: float | None, gates: FairnessGates) -> str:
    """The note on a ratio outside its band whose test is not below ``significance``."""
    if p_holm is None:
        return ": not statistically clear"
    return (
        f": not statistically clear (Holm-adjusted p = {p_holm:.3g}, "
        f"needs < {gates.significance:g})"
    )


def _judge(
    estimate: tuple[float, float | None, float | None],
    bound: RatioBound,
    gates: FairnessGates,
    p_holm: float | None,
    *,
    test_required: bool = True,
) -> GateStatus:
    """Pass, fail or inconclusive for a ratio and its interval against ``bound``.

    With ``basis: point`` an estimate outside the band fails; with ``basis: interval`` it
    fails only when the interval lies wholly outside and the Holm-adjusted test is below
    ``significance`` (a missing test counts as clear unless ``test_required``). Either way
    a pass needs the estimate *and* its interval inside the band (:func:`judge_band`).
    """
    ratio, low, high = estimate
    if gates.basis == "point":
        clear = True
    else:
        tested = p_holm < gates.significance if p_holm is not None else not test_required
        clear = outside(low, high, lower=bound.lower, upper=bound.upper) and tested
    judged = judge_band(ratio, low, high, lower=bound.lower, upper=bound.upper, clear=clear)
    return judged.value


def _verdict(
    status: GateStatus,
    ratio: float,
    bound: RatioBound,
    p_holm: float | None,
    gates: FairnessGates,
) -> str:
    """Why a band check ended as it did, in words ("within [0.8, 1.25]", "inconclusive...")."""
    band = f"[{bound.lower:g}, {bound.upper:g}]"
    if status == "pass":
        return f"within {band} (estimate and interval)"
    if status == "fail":
        return f"outside {band}"
    if bound.lower <= ratio <= bound.upper:
        return f"inconclusive: the estimate is within {band} but its interval reaches outside"
    return f"inconclusive: outside {band}" + _not_clear(p_holm, gates)


def _unchecked_reason(result: AuditResult) -> str:
    """Why a check on outcomes cannot be made on this audit."""
    return "no label given" if result.label_free else "scores are not probabilities"


def _ratio_outcomes(
    result: AuditResult, gates: FairnessGates, attributes: set[str]
) -> list[GateOutcome]:
    outcomes: list[GateOutcome] = []
    table = result.disparities
    counts = _outcome_counts(result)
    for metric, bound in gates.ratio_bounds.items():
        gate = f"{metric}_ratio"
        band_gate = _Band(gate, metric, bound)
        if metric not in result.metrics:
            outcomes.append(
                band_gate.outcome(
                    _not_evaluable(gates),
                    f"{metric} is not available in this audit "
                    f"({'no label given' if result.label_free else 'not computed'})",
                )
            )
            continue
        rows = table[(table["metric"] == metric) & table["attribute"].isin(attributes)]
        for row in rows.itertuples(index=False):
            ratio = _number(row.ratio)
            low, high = _number(row.ratio_lower), _number(row.ratio_upper)
            value, reference_value = _number(row.value), _number(row.reference_value)
            where = f"{row.attribute}={row.group} vs {row.reference}"
            p_holm = _number(row.p_value_holm)
            short = _short_of_evidence(
                counts, metric, row.attribute, (row.group, row.reference), gates
            )
            status: GateStatus
            if short is not None:
                status = "insufficient_evidence"
                message = f"{gate} for {where}: {short}"
            elif ratio is None and value is not None and reference_value == 0.0:
                # The reference rate is 0: equal rates are parity, any other rate is
                # infinitely far from it (the band cannot contain it); judged on the
                # evidence, a difference that is not statistically clear is inconclusive.
                unclear = (
                    gates.basis == "interval"
                    and p_holm is not None
                    and p_holm >= gates.significance
                )
                status = "pass" if value == 0.0 else "inconclusive" if unclear else "fail"
                verdict = "equal to" if value == 0.0 else "unbounded against"
                message = (
                    f"{gate} for {where}: {metric} {value:.4f} vs 0 for the reference, "
                    f"{verdict} the band [{bound.lower:g}, {bound.upper:g}]"
                )
                if unclear and value != 0.0:
                    message += (
                        f": inconclusive, not statistically clear (Holm-adjusted p = {p_holm:.3g})"
                    )
            elif ratio is None:
                status = _not_evaluable(gates)
                message = f"{gate} undefined for {where} ({metric} undefined in a group)"
            elif gates.basis == "interval" and (low is None or high is None):
                status = _not_evaluable(gates)
                message = f"{gate} for {where} is {ratio:.3f} but has no interval to judge it by"
            else:
                # The percentile interval of a zero cell (0 of 3 positives missed) is
                # degenerate, so it cannot carry the evidence alone: a ratio also needs its
                # Holm-adjusted two-proportion test to fail (a missing test counts as clear).
                status = _judge((ratio, low, high), bound, gates, p_holm, test_required=False)
                interval = (
                    f" (interval {low:.3f}-{high:.3f})"
                    if low is not None and high is not None
                    else ""
                )
                message = (
                    f"{gate} for {where} is {ratio:.3f}{interval}, "
                    f"{_verdict(status, ratio, bound, p_holm, gates)}"
                )
            outcomes.append(
                band_gate.outcome(status, message, row, (ratio, low, high), row.reference)
            )
    return outcomes


def _upper_bound_outcome(
    gates: FairnessGates,
    *,
    gate: str,
    value: float | None,
    bound: float,
    where: str,
    measured: str,
    digits: int,
    attribute: str,
    group: str,
    metric: str,
) -> GateOutcome:
    """One number checked against an upper bound (a group's ECE, a feature's proxy AUC).

    Above the bound fails, at or below passes, an undefined number is not evaluable; the
    message reads "<gate> <measured> is <value>, above|within <bound>".
    """
    if value is None:
        status: GateStatus = _not_evaluable(gates)
        message = f"{gate} undefined for {where}"
    else:
        status = "fail" if value > bound else "pass"
        verdict = "above" if value > bound else "within"
        message = f"{gate} {measured} is {value:.{digits}f}, {verdict} {bound:g}"
    return GateOutcome(
        gate=gate,
        status=status,
        attribute=attribute,
        group=group,
        metric=metric,
        value=value,
        upper=bound,
        message=message,
    )


def _ece_outcomes(
    result: AuditResult, gates: FairnessGates, attributes: set[str]
) -> list[GateOutcome]:
    bound = gates.max_group_ece
    if bound is None:
        return []
    if result.label_free or not result.scores_are_probabilities:
        return [
            GateOutcome(
                gate="group_ece",
                status=_not_evaluable(gates),
                metric="ece",
                upper=bound,
                message=f"calibration cannot be checked: {_unchecked_reason(result)}",
            )
        ]
    outcomes: list[GateOutcome] = []
    rows = result.by_group[
        result.by_group["attribute"].isin(attributes) & ~result.by_group["suppressed"]
    ]
    for row in rows.itertuples(index=False):
        where = f"{row.attribute}={row.group}"
        outcome = _upper_bound_outcome(
            gates,
            gate="group_ece",
            value=_number(row.ece),
            bound=bound,
            where=where,
            measured=f"for {where}",
            digits=4,
            attribute=row.attribute,
            group=row.group,
            metric="ece",
        )
        chance = _number(row.ece_chance_q95)
        if (
            gates.basis == "interval"
            and outcome.status == "fail"
            and chance is not None
            and outcome.value is not None
            and outcome.value <= chance
        ):
            # Small groups show a large ECE even when the score is right: pass unless the
            # miscalibration is beyond what chance gives calibrated scores for that group.
            outcome = outcome.model_copy(
                update={
                    "status": "inconclusive",
                    "message": (
                        f"{outcome.message}, but calibrated scores reach {chance:.4f} by "
                        f"chance in a group this size (95th percentile): inconclusive"
                    ),
                }
            )
        outcomes.append(outcome)
    return outcomes


def _proxy_outcomes(
    result: AuditResult, gates: FairnessGates, attributes: set[str]
) -> list[GateOutcome]:
    bound = gates.max_proxy_auc
    if bound is None:
        return []
    if result.proxies is None or result.proxies.empty:
        return [
            GateOutcome(
                gate="proxy_auc",
                status=_not_evaluable(gates),
                upper=bound,
                message="no proxy check in this audit (no model features were given)",
            )
        ]
    outcomes: list[GateOutcome] = []
    rows = result.proxies[result.proxies["attribute"].isin(attributes)]
    for row in rows.itertuples(index=False):
        where = f"feature {row.feature} for {row.attribute}"
        outcomes.append(
            _upper_bound_outcome(
                gates,
                gate="proxy_auc",
                value=_number(row.auc),
                bound=bound,
                where=where,
                measured=f"of {where} (group {row.auc_group})",
                digits=3,
                attribute=row.attribute,
                group=row.auc_group,
                metric=f"proxy_auc:{row.feature}",
            )
        )
    return outcomes


def _oe_outcomes(
    result: AuditResult, gates: FairnessGates, attributes: set[str]
) -> list[GateOutcome]:
    """Each group's observed / expected outcome rate against ``oe_bounds``.

    The test of "calibrated in this group" compares the observed count with the expected one
    (sum of probabilities); its variance is bounded by ``n * mean_p * (1 - mean_p)`` (the
    audit keeps the group's mean, not every probability, and the bound is conservative).
    Holm-adjusted over the groups checked.
    """
    bound = gates.oe_bounds
    if bound is None:
        return []
    band_gate = _Band("group_oe", "observed_to_expected", bound)
    if result.label_free or not result.scores_are_probabilities:
        reason = _unchecked_reason(result)
        return [
            band_gate.outcome(_not_evaluable(gates), f"calibration cannot be checked: {reason}")
        ]
    rows = result.by_group[
        result.by_group["attribute"].isin(attributes) & ~result.by_group["suppressed"]
    ].reset_index(drop=True)
    z = float(norm.ppf(0.5 + result.confidence_level / 2))
    stats: list[tuple[float | None, float | None, float | None, float]] = []
    for row in rows.itertuples(index=False):
        n, observed = float(row.n), float(row.n_positive)
        mean_p = _number(row.mean_predicted)
        if mean_p is None or mean_p <= 0 or n <= 0:
            stats.append((None, None, None, float("nan")))
            continue
        rate = observed / n
        centre = (rate + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(rate * (1 - rate) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
        sd = np.sqrt(n * mean_p * (1 - mean_p))
        p_value = float(2 * norm.sf(abs(observed - n * mean_p) / sd)) if sd > 0 else float("nan")
        stats.append(
            (rate / mean_p, max(centre - half, 0.0) / mean_p, (centre + half) / mean_p, p_value)
        )
    adjusted: np.ndarray = holm_adjust(np.array([s[3] for s in stats], dtype=float))
    outcomes: list[GateOutcome] = []
    for row, (ratio, low, high, _), p_holm in zip(
        rows.itertuples(index=False), stats, adjusted, strict=True
    ):
        where = f"{row.attribute}={row.group}"
        expected = float(row.n) * (_number(row.mean_predicted) or 0.0)
        observed = int(row.n_positive)
        if ratio is None:
            status: GateStatus = _not_evaluable(gates)
            message = f"group_oe undefined for {where} (no predicted risk)"
        elif max(observed, expected) < gates.min_group_positives:
            status = "insufficient_evidence"
            message = (
                f"group_oe for {where}: {observed} outcomes observed, {expected:.1f} expected; "
                f"the check needs at least {gates.min_group_positives} (min_group_positives): "
                "insufficient evidence"
            )
        else:
            p = None if np.isnan(p_holm) else float(p_holm)
            status = _judge((ratio, low, high), bound, gates, p)
            message = (
                f"group_oe (observed / expected) for {where} is {ratio:.2f} "
                f"(interval {low:.2f}-{high:.2f}; {observed} observed, {expected:.1f} expected), "
                f"{_verdict(status, ratio, bound, p, gates)}"
            )
        outcomes.append(band_gate.outcome(status, message, row, (ratio, low, high)))
    return outcomes


def _recall_parity_outcomes(
    result: AuditResult, gates: FairnessGates, attributes: set[str]
) -> list[GateOutcome]:
    """Each group's recall O/E against the reference group's, within ``recall_parity``.

    Fails when the ratio is outside the band and, with ``basis: interval``, its interval lies
    wholly outside and its Holm-adjusted test is below ``significance``; fewer than
    ``min_group_positives`` outcomes in the group or the reference is insufficient evidence;
    a group (or reference) with nobody selected has no recall to compare: not evaluable.
    """
    bound = gates.recall_parity
    if bound is None:
        return []
    gate = "recall_parity"
    band_gate = _Band(gate, "recall_oe_ratio", bound)
    table = result.recall_parity
    if table is None:
        reason = _unchecked_reason(result)
        return [
            band_gate.outcome(
                _not_evaluable(gates), f"recall parity after risk cannot be checked: {reason}"
            )
        ]
    counts = _outcome_counts(result)
    outcomes: list[GateOutcome] = []
    for row in table[table["attribute"].isin(attributes)].itertuples(index=False):
        where = f"{row.attribute}={row.group} vs {row.reference}"
        ratio, low, high = _number(row.ratio), _number(row.ratio_lower), _number(row.ratio_upper)
        p_holm = _number(row.p_value_holm)
        short = _short_of_evidence(counts, "tpr", row.attribute, (row.group, row.reference), gates)
        status: GateStatus
        if short is not None:
            status = "insufficient_evidence"
            message = f"{gate} for {where}: {short}"
        elif ratio is None:
            status = _not_evaluable(gates)
            message = (
                f"{gate} undefined for {where}: no family of one of the two groups is selected "
                f"(or it has no outcome), so there is no recall to compare; the group's "
                "calibration checks say whether its scores are right"
            )
        else:
            status = _judge((ratio, low, high), bound, gates, p_holm)
            interval = (
                f" (interval {low:.3f}-{high:.3f})" if low is not None and high is not None else ""
            )
            message = (
                f"{gate} for {where} is {ratio:.3f}{interval}: recall {row.recall:.3f} against "
                f"{row.expected_recall:.3f} promised by its probabilities "
                f"(reference's recall O/E {row.reference_recall_oe:.3f}), "
                f"{_verdict(status, ratio, bound, p_holm, gates)}"
            )
        outcomes.append(band_gate.outcome(status, message, row, (ratio, low, high), row.reference))
    return outcomes


def _coverage_outcomes(
    result: AuditResult, gates: FairnessGates, attributes: set[str]
) -> list[GateOutcome]:
    """An attribute with no two reported groups cannot be compared: not evaluable.

    One group only, or every group (or the reference) suppressed, leaves nothing to check;
    reporting "all 0 checks passed" there would be a pass without evidence.
    """
    if not (
        gates.ratio_bounds
        or gates.oe_bounds
        or gates.recall_parity
        or gates.max_group_ece is not None
    ):
        return []
    outcomes: list[GateOutcome] = []
    table = result.by_group
    for attribute in sorted(attributes):
        rows = table[table["attribute"] == attribute]
        reported = rows[~rows["suppressed"]]
        if len(reported) >= 2 and attribute in result.references:
            continue
        outcomes.append(
            GateOutcome(
                gate="group_coverage",
                status=_not_evaluable(gates),
                attribute=attribute,
                message=(
                    f"{attribute}: {len(rows)} group(s), {len(rows) - len(reported)} suppressed "
                    f"(fewer than {result.min_group_size} rows): no two reported groups to "
                    "compare, so no fairness check could be made for this attribute"
                ),
            )
        )
    return outcomes


def evaluate_fairness_gates(result: AuditResult, gates: FairnessGates) -> list[GateOutcome]:
    """Check every gate on the audit; one outcome per (gate, group) in a stable order.

    Waivers are applied; an audit that yields no check at all gives one ``not_evaluable``
    outcome (a gate run that checked nothing has not passed).
    """
    attributes = _selected_attributes(result, gates)
    outcomes = [
        *_coverage_outcomes(result, gates, attributes),
        *_ratio_outcomes(result, gates, attributes),
        *_recall_parity_outcomes(result, gates, attributes),
        *_oe_outcomes(result, gates, attributes),
        *_ece_outcomes(result, gates, attributes),
        *_proxy_outcomes(result, gates, attributes),
    ]
    if not outcomes:
        outcomes.append(
            GateOutcome(
                gate="no_checks",
                status=_not_evaluable(gates),
                message="no gate check could be made on this audit (nothing configured or "
                "nothing to compare)",
            )
        )
    return apply_waivers(outcomes, gates.waivers)
