"""The generating process of the synthetic registry: every number that shapes the data.

The synthetic registry is a simulation, so an auditor must be able to read what drives what.
Everything the generator draws from is declared here as named, documented parameters; the
generator modules (``population``, ``latent``, ``records``) only apply them. The page
``docs/synthetic_registry.md`` explains the process in words and lists the rates the tests
hold the generator to.

The core is a latent monthly *vulnerability* ``z`` per family: a discretised AR(1) process
with upward shocks (job loss, illness), which is a finite Markov chain. Because it is a
Markov chain, the true probability of the default label over the next 12 months is an exact
matrix product (see :mod:`features.synth.latent`), not an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.special import ndtr

DEFAULT_START = date(2020, 1, 1)
DEFAULT_END = date(2024, 12, 31)
# Families per chunk: part of the process definition (a chunk's seed is derived from the
# master seed and the chunk index), so it is fixed rather than tuned to the machine.
CHUNK_FAMILIES = 10_000
# the named variants of features.synth.variants (which checks it defines exactly these)
VARIANT_NAMES = (
    "standard",
    "seasonal",
    "slow_recording",
    "event_mix",
    "rare_outcomes",
    "long_foreign",
)


class SynthConfig(BaseModel):
    """What to generate: how many families, over which period, from which seed.

    ``chunk_families`` is exposed for tests; the output of a seed is defined for the default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    families: int = Field(ge=1, description="number of families present at the start")
    seed: int = Field(ge=0, description="master seed; chunk seeds derive from it")
    start: date = DEFAULT_START
    end: date = DEFAULT_END
    chunk_families: int = Field(default=CHUNK_FAMILIES, ge=1)
    variant: str = Field(
        default="standard",
        description="named structure of the generating process (features.synth.variants): "
        "recording delays, seasonality, event mix, label rate",
    )
    shift_month: date | None = Field(
        default=None,
        description="first day of the month from which the documented change of "
        "features.synth.shift is planted (None: no change)",
    )

    deploy_from: date | None = Field(
        default=None,
        description="first day of the month from which a model in service flags families "
        "and support lowers their hazard (features.synth.deployment; None: no deployment)",
    )
    support_effect: float = Field(
        default=0.5, ge=0.0, le=1.0, description="relative reduction of the case hazard"
    )
    holdout_share: float = Field(
        default=0.2, ge=0.0, le=1.0, description="flagged families whose score is hidden"
    )
    deploy_capacity: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="share of the families with a minor the deployed model flags each month",
    )
    deploy_support_months: int = Field(
        default=12,
        ge=1,
        le=36,
        description="months support lasts after an offer (a supported family is not flagged "
        "again meanwhile); training's interventions.support_months should say the same",
    )
    deploy_acceptance: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="share of offered families who accept support (the take-up)",
    )
    deploy_leniency: tuple[float, float] = Field(
        default=(0.45, 0.95),
        description="(low, high): each caseworker's chance of offering support when the score "
        "is shown is drawn uniformly between them",
    )

    @model_validator(mode="after")
    def _variant_is_known(self) -> SynthConfig:
        if self.variant not in VARIANT_NAMES:
            raise ValueError(
                f"variant {self.variant!r} is not one of {', '.join(VARIANT_NAMES)} "
                "(features.synth.variants)"
            )
        return self

    @model_validator(mode="after")
    def _leniency_is_ordered(self) -> SynthConfig:
        low, high = self.deploy_leniency
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(
                f"deploy_leniency {self.deploy_leniency} must satisfy 0 <= low <= high <= 1 "
                "(e.g. (0.45, 0.95))"
            )
        return self

    @model_validator(mode="after")
    def _period_is_ordered(self) -> SynthConfig:
        if self.end <= self.start:
            raise ValueError(
                f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})"
            )
        if self.shift_month is not None:
            if self.shift_month.day != 1:
                raise ValueError(
                    f"shift_month {self.shift_month.isoformat()} must be the first of a month"
                )
            if not self.start < self.shift_month <= self.end:
                raise ValueError(
                    f"shift_month {self.shift_month.isoformat()} must lie after start "
                    f"{self.start.isoformat()} and by end {self.end.isoformat()}"
                )
        if self.deploy_from is not None and (
            self.deploy_from.day != 1 or not self.start < self.deploy_from <= self.end
        ):
            raise ValueError(
                f"deploy_from {self.deploy_from.isoformat()} must be the first of a month "
                f"after start {self.start.isoformat()} and by end {self.end.isoformat()}"
            )
        return self

    @property
    def n_chunks(self) -> int:
        """Number of chunks of ``chunk_families`` origin families."""
        return -(-self.families // self.chunk_families)

    def chunk_size(self, chunk: int) -> int:
        """Origin families in chunk ``chunk`` (the last chunk may be smaller)."""
        return min(self.chunk_families, self.families - chunk * self.chunk_families)


# ---------------------------------------------------------------------------------------
# Geography and protected attributes
# ---------------------------------------------------------------------------------------

ETHNICITIES = ("kazakh", "russian", "uzbek", "ukrainian", "uyghur", "german", "tatar", "other")
LANGUAGES = ("kazakh", "russian", "other")


@dataclass(frozen=True)
class Region:
    """A region: population share, urban share, a shift of the baseline vulnerability, and
    its ethnic mix (weights over :data:`ETHNICITIES`, normalised when drawn)."""

    code: str
    population_share: float
    urban_share: float
    vulnerability_shift: float
    ethnic_mix: tuple[float, ...]


# Shares are rounded from the 2021 census and 2023 population estimates; the northern
# regions are more Russian, the south more Uzbek, Almaty region has a Uyghur minority.
REGIONS: tuple[Region, ...] = (
    #       code       pop    urban  shift   kaz   rus   uzb   ukr  uyg   ger  tat  oth
    Region("KZ-ALA", 0.110, 1.00, -0.20, (60.0, 26.0, 1.0, 1.0, 6.0, 0.6, 1.4, 4.0)),
    Region("KZ-AST", 0.068, 1.00, -0.25, (80.0, 12.0, 1.0, 1.5, 0.5, 0.8, 1.2, 3.0)),
    Region("KZ-SHY", 0.060, 1.00, 0.10, (64.0, 9.0, 20.0, 0.3, 0.2, 0.1, 1.4, 5.0)),
    Region("KZ-ALM", 0.075, 0.25, 0.05, (72.0, 14.0, 0.5, 0.8, 8.0, 0.6, 0.6, 3.5)),
    Region("KZ-TUR", 0.105, 0.20, 0.30, (78.0, 1.0, 17.0, 0.1, 0.1, 0.1, 0.2, 3.5)),
    Region("KZ-ZHA", 0.060, 0.40, 0.20, (78.0, 8.0, 3.0, 0.3, 0.3, 0.3, 0.6, 9.5)),
    Region("KZ-KZY", 0.040, 0.45, 0.20, (95.0, 2.0, 0.5, 0.2, 0.1, 0.1, 0.2, 1.9)),
    Region("KZ-AKT", 0.046, 0.65, 0.00, (88.0, 6.0, 0.3, 1.8, 0.1, 0.6, 0.8, 2.4)),
    Region("KZ-ATY", 0.035, 0.55, -0.20, (94.0, 4.0, 0.2, 0.1, 0.1, 0.1, 0.4, 1.1)),
    Region("KZ-MAN", 0.038, 0.45, 0.10, (92.0, 4.0, 0.3, 0.2, 0.1, 0.1, 0.3, 3.0)),
    Region("KZ-ZAP", 0.034, 0.50, 0.05, (78.0, 17.0, 0.2, 1.5, 0.1, 0.3, 1.2, 1.7)),
    Region("KZ-KAR", 0.068, 0.80, 0.00, (58.0, 30.0, 0.4, 2.5, 0.1, 2.5, 2.0, 4.5)),
    Region("KZ-VOS", 0.068, 0.65, 0.05, (65.0, 30.0, 0.2, 0.7, 0.1, 1.2, 1.4, 1.4)),
    Region("KZ-PAV", 0.038, 0.70, 0.05, (54.0, 33.0, 0.2, 4.0, 0.1, 3.0, 1.8, 3.9)),
    Region("KZ-SEV", 0.027, 0.45, 0.15, (40.0, 47.0, 0.1, 3.0, 0.1, 3.0, 2.0, 4.8)),
    Region("KZ-KUS", 0.042, 0.55, 0.05, (45.0, 38.0, 0.2, 7.0, 0.1, 3.5, 2.0, 4.2)),
    Region("KZ-AKM", 0.036, 0.50, 0.10, (54.0, 31.0, 0.2, 3.5, 0.1, 4.0, 1.8, 5.4)),
)

DISABILITY_SHARE = 0.07  # families with a member with a registered disability


# ---------------------------------------------------------------------------------------
# Household composition
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompositionParams:
    """Household types at the start and the monthly hazards that change them.

    Composition is generated independently of the latent vulnerability path (only the
    family's vulnerability *class* raises the separation hazard), so the true label
    probability can condition on the realised composition exactly.
    """

    # shares of household types: couple with children, couple without, single parent, single
    type_shares_urban: tuple[float, float, float, float] = (0.50, 0.17, 0.14, 0.19)
    type_shares_rural: tuple[float, float, float, float] = (0.60, 0.16, 0.11, 0.13)
    extra_children_mean_urban: float = 0.9  # children = 1 + Poisson(mean), capped
    extra_children_mean_rural: float = 1.5
    max_children: int = 7
    other_adult_share_urban: float = 0.10  # a grandparent or other adult relative
    other_adult_share_rural: float = 0.18
    head_male_share_couple: float = 0.85
    head_female_share_single_parent: float = 0.87
    birth_hazard_urban: float = 0.0085  # per month, couples with a woman aged 18-44
    birth_hazard_rural: float = 0.0115
    birth_min_gap_months: int = 15
    pregnancy_months: int = 7  # months before a birth when prenatal visits can be missed
    separation_hazard: float = 0.0012  # per month for couples, times exp(0.35 * class mean)
    separation_class_slope: float = 0.35
    leave_home_hazard: float = 0.035  # per month for children aged 18+ (new family formed)
    leave_home_age: float = 18.0
    marriage_hazard: float = 0.006  # per month for single heads aged 20-40 (spouse joins)


# ---------------------------------------------------------------------------------------
# Latent vulnerability
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatentParams:
    """The latent monthly vulnerability ``z``: AR(1) towards the family's class mean, with
    upward shocks, discretised on a fixed grid (Tauchen's method) so it is a Markov chain."""

    grid_low: float = -2.5
    grid_high: float = 5.0
    grid_step: float = 0.5
    phi: float = 0.90  # monthly persistence; half-life about 6.6 months
    sigma: float = 0.30  # monthly innovation sd
    shock_probability: float = 0.010  # per month: job loss, illness, bereavement
    shock_size: float = 1.2  # upward jump of z at a shock
    class_means: tuple[float, ...] = (-0.8, -0.45, -0.1, 0.25, 0.6, 0.95, 1.3, 1.65)
    # family baseline: region shift + these + N(0, baseline_noise_sd), nearest class
    rural_shift: float = 0.25
    single_parent_shift: float = 0.35
    large_family_shift: float = 0.20
    disability_shift: float = 0.30
    baseline_noise_sd: float = 0.45
    separation_class_step: int = 1  # classes added to the family left after a separation

    @property
    def grid(self) -> np.ndarray:
        """The vulnerability value of each state of the chain."""
        n = round((self.grid_high - self.grid_low) / self.grid_step) + 1
        return self.grid_low + self.grid_step * np.arange(n)

    def transition(self, class_mean: float, shock: bool) -> np.ndarray:
        """Transition matrix (K x K) of the chain for one class, given a shock or not."""
        z = self.grid
        half = self.grid_step / 2
        mean = class_mean + self.phi * (z - class_mean) + (self.shock_size if shock else 0.0)
        upper = ndtr((z[None, :] + half - mean[:, None]) / self.sigma)
        lower = ndtr((z[None, :] - half - mean[:, None]) / self.sigma)
        upper[:, -1] = 1.0
        lower[:, 0] = 0.0
        matrix = upper - lower
        return matrix / matrix.sum(axis=1, keepdims=True)

    def transitions(self) -> np.ndarray:
        """Array (classes, 2, K, K): no-shock and shock transition matrices per class."""
        return np.stack(
            [
                np.stack([self.transition(m, False), self.transition(m, True)])
                for m in self.class_means
            ]
        )

    def mixed_transitions(self) -> np.ndarray:
        """Array (classes, K, K): the chain's transition with the shock integrated out."""
        both = self.transitions()
        p = self.shock_probability
        return (1 - p) * both[:, 0] + p * both[:, 1]

    def stationary(self) -> np.ndarray:
        """Array (classes, K): stationary distribution of each class's chain."""
        out = []
        for matrix in self.mixed_transitions():
            values, vectors = np.linalg.eig(matrix.T)
            vector = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
            vector = np.clip(vector / vector.sum(), 0.0, None)
            out.append(vector / vector.sum())
        return np.stack(out)


# ---------------------------------------------------------------------------------------
# Outcomes and the surveillance bias
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeParams:
    """Monthly hazards of outcomes, and how often an outcome that happens is recorded.

    Qualifying incident (a child protection case; some also a placement in care the same
    month): hazard ``exp(case_intercept + case_slope * z) * (1 + case_per_extra_minor *
    (minors - 1))`` when the family has a minor, else 0. The record is made with
    probability ``detection`` (``detection_surveilled`` for the surveilled group).
    """

    case_intercept: float = -5.75
    case_slope: float = 0.95
    case_per_extra_minor: float = 0.12
    case_max_monthly: float = 0.5
    placement_intercept: float = -2.3  # logit of P(placement | recorded case) at z = 0
    placement_slope: float = 0.6
    crisis_intercept: float = -6.2
    crisis_slope: float = 0.8
    detection: float = 0.62
    detection_surveilled: float = 0.95
    person_unknown_share: float = 0.08  # outcomes recorded without the child's person_id


@dataclass(frozen=True)
class SurveillanceBias:
    """The planted measurement bias: for the same latent state, families in the surveilled
    group get more of the listed records, and their outcomes are recorded more often."""

    attribute: Literal["ethnicity"] = "ethnicity"
    value: str = "uzbek"
    record_multiplier: float = 1.8
    event_types: tuple[str, ...] = (
        "police_contact",
        "social_service_contact",
        "domestic_violence_report",
        "juvenile_offense",
    )


# ---------------------------------------------------------------------------------------
# Records (events)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceLag:
    """Reporting lag of one agency system: log-normal days with this median and sigma."""

    median_days: float
    sigma: float


SOURCE_LAGS: dict[str, SourceLag] = {
    "state_revenue_committee": SourceLag(25, 0.35),
    "labour_social_protection": SourceLag(4, 0.6),
    "employment_center": SourceLag(2, 0.8),
    "credit_bureau": SourceLag(35, 0.5),
    "utility_billing": SourceLag(40, 0.4),
    "social_services": SourceLag(5, 1.0),
    "family_support_center": SourceLag(10, 0.9),
    "police": SourceLag(2, 1.0),
    "housing_inspectorate": SourceLag(14, 0.8),
    "court": SourceLag(30, 0.7),
    "polyclinic": SourceLag(20, 0.8),
    "emergency_care": SourceLag(1, 0.8),
    "health_dispensary": SourceLag(10, 0.9),
    "school_information_system": SourceLag(7, 0.7),
    "education_department": SourceLag(45, 0.6),
    "guardianship_authority": SourceLag(4, 0.8),
}
OUTCOME_SOURCE = "guardianship_authority"

# A small share of every source's records is entered much later (backlogs, corrections):
# recorded 366..1000 days after the event. The validator counts these as suspicious.
BACKDATED_SHARE = 0.003
BACKDATED_DAYS = (366, 1000)

Eligible = Literal[
    "adult",  # person aged 18+
    "working_age",  # 18..62
    "teen_or_adult",  # 14+
    "teen",  # 14..17
    "older_teen",  # 15..17
    "over_11",  # 12+
    "child_0_6",
    "child_3_6",
    "child_3_17",
    "school_age",  # 7..17
    "anyone",
    "family",
    "family_with_minor",
    "pregnant",  # a woman in the months before a birth in her family
]


@dataclass(frozen=True)
class EventSpec:
    """How one event type is generated.

    Per eligible unit (person or family) and month, P(record) = ``base * exp(slope * z) *
    (rural_factor if rural) * (surveillance multiplier if surveilled)``, capped at 0.9.
    Special generators (income, benefits, unemployment, school absence, preschool) are
    named in ``kind``; their rates are documented in the docs page.
    """

    event_type: str
    eligible: Eligible
    source: str
    base: float = 0.0
    slope: float = 0.0
    rural_factor: float = 1.0
    kind: Literal["bernoulli", "special"] = "bernoulli"
    details: tuple[str, ...] = ()
    detail_weights: tuple[float, ...] = ()
    family_id_known: float = 0.7  # person-level: share of records that also carry family_id


EVENT_SPECS: tuple[EventSpec, ...] = (
    # economic
    EventSpec("income", "working_age", "state_revenue_committee", kind="special"),
    EventSpec("benefit_payment", "family", "labour_social_protection", kind="special"),
    EventSpec("unemployment_registered", "working_age", "employment_center", kind="special"),
    EventSpec("loan_overdue", "adult", "credit_bureau", 0.008, 0.7),
    EventSpec("utility_debt", "family", "utility_billing", 0.018, 0.6, rural_factor=0.7),
    # social
    EventSpec(
        "social_service_contact",
        "family",
        "social_services",
        0.006,
        0.9,
        details=(
            "financial_hardship",
            "child_welfare_concern",
            "housing_problem",
            "disability_support",
            "family_conflict",
        ),
        detail_weights=(0.4, 0.2, 0.15, 0.1, 0.15),
    ),
    EventSpec("family_support_center_visit", "family", "family_support_center", 0.004, 0.7, 0.5),
    EventSpec("domestic_violence_report", "family", "police", 0.0012, 1.0),
    EventSpec(
        "police_contact",
        "teen_or_adult",
        "police",
        0.0015,
        0.8,
        details=("offense", "victim", "witness"),
        detail_weights=(0.45, 0.3, 0.25),
    ),
    EventSpec("juvenile_offense", "teen", "police", 0.001, 0.9),
    # housing
    EventSpec(
        "housing_inspection",
        "family",
        "housing_inspectorate",
        0.003,
        0.5,
        details=("adequate", "overcrowded", "unsafe"),
    ),
    EventSpec("eviction_notice", "family", "court", 0.0007, 1.0, rural_factor=0.5),
    EventSpec("homelessness_episode", "family", "social_services", 0.0002, 1.3),
    # health
    EventSpec("missed_vaccination", "child_0_6", "polyclinic", 0.012, 0.6, rural_factor=1.3),
    EventSpec("injury_emergency_visit", "anyone", "emergency_care", 0.0025, 0.6),
    EventSpec("prenatal_visit_missed", "pregnant", "polyclinic", 0.08, 0.7, rural_factor=1.4),
    EventSpec("substance_use_treatment", "adult", "health_dispensary", 0.0006, 1.1, 0.7),
    EventSpec("mental_health_treatment", "over_11", "health_dispensary", 0.0012, 0.8, 0.6),
    # education
    EventSpec("school_absence", "school_age", "school_information_system", kind="special"),
    EventSpec("school_dropout", "older_teen", "education_department", 0.0007, 1.0, 1.3),
    EventSpec("preschool_not_enrolled", "child_3_6", "education_department", kind="special"),
    EventSpec("special_education_needs", "child_3_17", "education_department", 0.0004, 0.4, 0.8),
)


@dataclass(frozen=True)
class EconomicParams:
    """Income, employment, unemployment and benefits (the ``special`` generators)."""

    income_median_urban: float = 260_000.0  # KZT per month
    income_median_rural: float = 160_000.0
    income_sd_log: float = 0.45
    income_z_slope: float = -0.10  # log income per unit z
    income_noise_sd: float = 0.08  # month-to-month noise of reported income
    attachment_male: float = 1.3  # labour attachment ~ N(mean, 1); employed if > 0.7*z
    attachment_female: float = 0.6
    employment_z_slope: float = 0.7
    shock_unemployment_months: float = 5.0  # mean spell of the head after a shock
    shock_registers: float = 0.55  # share of shocked heads who register as unemployed
    unemployment_background: float = 0.002
    unemployment_background_slope: float = 0.5
    child_benefit_months: int = 18  # childcare benefit paid monthly until the child is 1.5
    child_benefit_amount: float = 62_000.0
    large_family_min_minors: int = 4
    large_family_amount: float = 58_000.0
    disability_amount: float = 85_000.0
    tsa_base: float = 0.03  # targeted social assistance, monthly, times exp(slope*z)
    tsa_slope: float = 1.1
    tsa_amount_per_minor: float = 24_000.0
    housing_assistance_base: float = 0.004
    housing_assistance_slope: float = 0.8
    housing_assistance_amount: float = 15_000.0
    school_absence_mean: float = 0.55  # days absent per school month at z = 0
    school_absence_slope: float = 0.65
    preschool_not_enrolled_base: float = 0.18  # checked each September, children 3-6
    preschool_not_enrolled_slope: float = 0.4
    preschool_rural_factor: float = 1.8


@dataclass(frozen=True)
class SeasonalParams:
    """Seasonal cycles of some records (all 0: none, the standard registry's process).

    Each amplitude ``a`` multiplies a monthly rate by ``1 + a`` in its season and ``1 - a``
    outside it, so the yearly mean stays put; the months are calendar months (1-12).

    * ``heating_utility_debt``: utility debts in the heating season (October-March);
    * ``winter_absence``: school absence days in December-February (colds and flu);
    * ``heating_housing_assistance``: housing assistance paid in the heating season;
    * ``december_topup``: targeted social assistance paid at ``1 + a`` the amount in
      December (a year-end payment cycle; amounts, not rates).
    """

    heating_utility_debt: float = 0.0
    winter_absence: float = 0.0
    heating_housing_assistance: float = 0.0
    december_topup: float = 0.0
    heating_months: tuple[int, ...] = (10, 11, 12, 1, 2, 3)
    winter_months: tuple[int, ...] = (12, 1, 2)

    def factor(
        self, amplitude: float, months: tuple[int, ...], month_of_year: np.ndarray
    ) -> np.ndarray | float:
        """``1 + a`` in ``months``, ``1 - a`` otherwise (exactly 1.0 when ``a`` is 0)."""
        if amplitude == 0.0:
            return 1.0
        return np.where(np.isin(month_of_year, months), 1.0 + amplitude, 1.0 - amplitude)


@dataclass(frozen=True)
class ProcessParams:
    """All parameters of the generating process in one object."""

    composition: CompositionParams = field(default_factory=CompositionParams)
    latent: LatentParams = field(default_factory=LatentParams)
    outcomes: OutcomeParams = field(default_factory=OutcomeParams)
    bias: SurveillanceBias = field(default_factory=SurveillanceBias)
    economic: EconomicParams = field(default_factory=EconomicParams)
    regions: tuple[Region, ...] = REGIONS
    events: tuple[EventSpec, ...] = EVENT_SPECS
    disability_share: float = DISABILITY_SHARE
    backdated_share: float = BACKDATED_SHARE
    # recording delays: every source's median lag times ``lag_scale``, its log-normal sigma
    # plus ``lag_sigma_extra`` (a heavier tail); 1 and 0 are the documented lags
    lag_scale: float = 1.0
    lag_sigma_extra: float = 0.0
    seasonal: SeasonalParams = field(default_factory=SeasonalParams)


DEFAULT_PARAMS = ProcessParams()
