"""Fairness gates: tolerances that decide whether a model may be promoted (or a CLI run passes).

Training evaluates :class:`FairnessGates` on the audit of a candidate model and only gives it
the ``champion`` alias when no gate fails; ``earlyrisk audit --gates FILE`` applies the same
gates to any score file and exits non-zero on failure. Each check yields one
:class:`GateOutcome` so the report can say exactly which group broke which bound.

Gate kinds:

* ``<metric>_ratio``: for every reported group, the ratio of its metric to the reference
  group's must lie within ``[lower, upper]`` (default FPR and FNR within 0.8-1.25, the
  "four-fifths" band used in both directions).
* ``group_ece``: every reported group's expected calibration error must stay below a bound
  (needs labels and probability scores).
* ``proxy_auc``: no model feature may predict a protected attribute with a folded AUC above
  a bound (needs the proxy check).

``basis`` chooses the evidence: ``"point"`` fails on the point estimate (strict, the default
for promotion), ``"interval"`` fails only when the whole bootstrap interval of the ratio lies
outside the band *and* its Holm-adjusted two-proportion test is below ``significance`` (a
zero cell gives a degenerate interval, so the interval alone is no evidence), i.e. when the
disparity is clear despite sampling noise; for ``group_ece``
it fails only when the group's ECE is above the bound *and* above ``ece_chance_q95``, the
ECE that perfectly calibrated scores reach by chance in that group (95th percentile).
Suppressed groups are never checked (their numbers are withheld). When the reference rate
is 0 the ratio is undefined: equal rates (both 0) pass, any other rate fails (it is
infinitely far from parity).
A check whose number is undefined (say a group has no negatives, so no FPR, or the audit has
no labels) is ``not_evaluable``; it fails only when ``fail_on_not_evaluable`` is set.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from training.audit.metrics import CountMetric

if TYPE_CHECKING:
    from training.audit.result import AuditResult

# A ratio gate bounds a count-based rate: the audit's disparity table holds exactly those.
GateMetric = CountMetric
GateStatus = Literal["pass", "fail", "not_evaluable"]


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


def _default_ratio_bounds() -> dict[GateMetric, RatioBound]:
    return {"fpr": RatioBound(), "fnr": RatioBound()}


class FairnessGates(BaseModel):
    """Tolerances for promotion; ``None`` switches a gate off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ratio_bounds: dict[GateMetric, RatioBound] = Field(
        default_factory=lambda: _default_ratio_bounds(),
        description="metric -> allowed band of group/reference ratios",
    )
    max_group_ece: float | None = Field(
        0.05, ge=0, description="upper bound of each group's expected calibration error"
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

    @property
    def passed(self) -> bool:
        """False only for a failed check."""
        return self.status != "fail"


def gates_passed(outcomes: list[GateOutcome]) -> bool:
    """True when no outcome failed (what training needs to promote)."""
    return all(outcome.passed for outcome in outcomes)


def failed_gates(outcomes: list[GateOutcome]) -> list[GateOutcome]:
    """Only the failed outcomes, in evaluation order."""
    return [outcome for outcome in outcomes if not outcome.passed]


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


def _ratio_outcomes(
    result: AuditResult, gates: FairnessGates, attributes: set[str]
) -> list[GateOutcome]:
    outcomes: list[GateOutcome] = []
    table = result.disparities
    for metric, bound in gates.ratio_bounds.items():
        gate = f"{metric}_ratio"
        if metric not in result.metrics:
            outcomes.append(
                GateOutcome(
                    gate=gate,
                    status=_not_evaluable(gates),
                    metric=metric,
                    lower=bound.lower,
                    upper=bound.upper,
                    message=f"{metric} is not available in this audit "
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
            if ratio is None and value is not None and reference_value == 0.0:
                # The reference rate is 0: equal rates are parity, any other rate is
                # infinitely far from it (the band cannot contain it), unless, judged on the
                # evidence, the difference is not statistically clear.
                unclear = (
                    gates.basis == "interval"
                    and p_holm is not None
                    and p_holm >= gates.significance
                )
                status = "pass" if value == 0.0 or unclear else "fail"
                verdict = "equal to" if value == 0.0 else "unbounded against"
                message = (
                    f"{gate} for {where}: {metric} {value:.4f} vs 0 for the reference, "
                    f"{verdict} the band [{bound.lower:g}, {bound.upper:g}]"
                )
                if unclear and value != 0.0:
                    message += f": not statistically clear (Holm-adjusted p = {p_holm:.3g})"
            elif ratio is None:
                status = _not_evaluable(gates)
                message = f"{gate} undefined for {where} ({metric} undefined in a group)"
            else:
                if gates.basis == "interval":
                    if low is None or high is None:
                        status = _not_evaluable(gates)
                    else:
                        # The percentile interval of a zero cell (0 of 3 positives missed)
                        # is degenerate, so it cannot carry the evidence alone: a ratio
                        # also needs its Holm-adjusted two-proportion test to fail.
                        outside = high < bound.lower or low > bound.upper
                        clear = p_holm is None or p_holm < gates.significance
                        status = "fail" if outside and clear else "pass"
                else:
                    outside = not bound.lower <= ratio <= bound.upper
                    status = "fail" if outside else "pass"
                interval = (
                    f" (interval {low:.3f}-{high:.3f})"
                    if low is not None and high is not None
                    else ""
                )
                verdict = {"fail": "outside", "pass": "within"}.get(status, "unclear vs")
                message = (
                    f"{gate} for {where} is {ratio:.3f}{interval}, {verdict} "
                    f"[{bound.lower:g}, {bound.upper:g}]"
                )
                if (
                    gates.basis == "interval"
                    and status == "pass"
                    and p_holm is not None
                    and not bound.lower <= ratio <= bound.upper
                ):
                    message += (
                        f": not statistically clear (Holm-adjusted p = {p_holm:.3g}, "
                        f"needs < {gates.significance:g})"
                    )
            outcomes.append(
                GateOutcome(
                    gate=gate,
                    status=status,
                    attribute=row.attribute,
                    group=row.group,
                    reference=row.reference,
                    metric=metric,
                    value=ratio,
                    interval=(low, high) if low is not None and high is not None else None,
                    lower=bound.lower,
                    upper=bound.upper,
                    message=message,
                )
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
        reason = "no label given" if result.label_free else "scores are not probabilities"
        return [
            GateOutcome(
                gate="group_ece",
                status=_not_evaluable(gates),
                metric="ece",
                upper=bound,
                message=f"calibration cannot be checked: {reason}",
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
                    "status": "pass",
                    "message": (
                        f"{outcome.message}, but calibrated scores reach {chance:.4f} by "
                        f"chance in a group this size (95th percentile): not clear evidence"
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


def evaluate_fairness_gates(result: AuditResult, gates: FairnessGates) -> list[GateOutcome]:
    """Check every gate on the audit; one outcome per (gate, group) in a stable order."""
    attributes = _selected_attributes(result, gates)
    return [
        *_ratio_outcomes(result, gates, attributes),
        *_ece_outcomes(result, gates, attributes),
        *_proxy_outcomes(result, gates, attributes),
    ]
