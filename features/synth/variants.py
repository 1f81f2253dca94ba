"""Named variants of the generating process: registries the features were not written beside.

The feature catalogue was developed on the standard registry, so a model that beats a plain
peer there may only have learned that generator. A variant changes the *structure* of the
data while the contract stays the same: how late records arrive and how heavy the tail of
late ones is, whether records follow the seasons, which kinds of records carry the signal,
how rare the outcome is, and how long the registry runs. ``earlyrisk synth --variant NAME``
writes one; ``python -m benchmarks quality`` compares the model with its peer over several
variants and seeds.

Every variant is a pure function of :data:`features.synth.process.DEFAULT_PARAMS`; the
standard variant *is* it, so the standard registry of a seed is unchanged byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from features.synth.process import (
    DEFAULT_PARAMS,
    VARIANT_NAMES,
    EventSpec,
    ProcessParams,
    SeasonalParams,
)

# event types whose records come from social and police agencies, and from health care
_SOCIAL = ("social_service_contact", "family_support_center_visit", "police_contact",
           "domestic_violence_report", "juvenile_offense")  # fmt: skip
_HEALTH = ("missed_vaccination", "injury_emergency_visit", "mental_health_treatment",
           "substance_use_treatment")  # fmt: skip


@dataclass(frozen=True)
class Variant:
    """A named generating process and the registry length it is meant to run for."""

    name: str
    description: str
    params: ProcessParams
    years: int = 5


def _mix(spec: EventSpec) -> EventSpec:
    """Social records twice as frequent and half as telling; health records rarer and
    sharper; debts more common: the signal sits in other record types than usual."""
    if spec.kind != "bernoulli":
        return spec
    if spec.event_type in _SOCIAL:
        return replace(spec, base=spec.base * 2.0, slope=spec.slope * 0.6)
    if spec.event_type in _HEALTH:
        return replace(spec, base=spec.base * 0.5, slope=spec.slope * 1.5)
    if spec.event_type in ("loan_overdue", "utility_debt"):
        return replace(spec, base=spec.base * 1.5, slope=spec.slope * 1.3)
    return spec


SEASONAL = SeasonalParams(
    heating_utility_debt=0.6,
    winter_absence=0.5,
    heating_housing_assistance=0.6,
    december_topup=1.0,
)
SLOW = {"lag_scale": 3.0, "lag_sigma_extra": 0.5, "backdated_share": 0.01}
MIXED_EVENTS = tuple(_mix(spec) for spec in DEFAULT_PARAMS.events)

VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("standard", "the documented process (docs/synthetic_registry.md)", DEFAULT_PARAMS),
        Variant(
            "seasonal",
            "utility debts and housing assistance in the heating season, winter school "
            "absences, a December top-up of targeted social assistance",
            replace(DEFAULT_PARAMS, seasonal=SEASONAL),
        ),
        Variant(
            "slow_recording",
            "every agency records three times later, with a heavier tail (sigma +0.5) and "
            "1 % of records back-dated by more than a year",
            replace(DEFAULT_PARAMS, **SLOW),  # type: ignore[arg-type]
        ),
        Variant(
            "event_mix",
            "social records twice as frequent and less telling, health records rarer and "
            "sharper, debts more common and more telling",
            replace(DEFAULT_PARAMS, events=MIXED_EVENTS),
        ),
        Variant(
            "rare_outcomes",
            "child protection cases about 40 % rarer (case intercept -0.5)",
            replace(
                DEFAULT_PARAMS,
                outcomes=replace(
                    DEFAULT_PARAMS.outcomes,
                    case_intercept=DEFAULT_PARAMS.outcomes.case_intercept - 0.5,
                ),
            ),
        ),
        Variant(
            "long_foreign",
            "eight years; seasonal, slow recording and the other event mix at once",
            replace(DEFAULT_PARAMS, seasonal=SEASONAL, events=MIXED_EVENTS, **SLOW),  # type: ignore[arg-type]
            years=8,
        ),
    )
}


if tuple(VARIANTS) != VARIANT_NAMES:  # the config's validator lists the names
    raise ImportError(f"variants {tuple(VARIANTS)} differ from VARIANT_NAMES {VARIANT_NAMES}")


def variant_params(name: str) -> ProcessParams:
    """The generating process of variant ``name``; an unknown name lists the known ones."""
    try:
        return VARIANTS[name].params
    except KeyError:
        raise ValueError(f"variant {name!r} is not one of {', '.join(VARIANTS)}") from None
