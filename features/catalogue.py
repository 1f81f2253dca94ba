"""The feature catalogue: every model input, declared once, with the words a caseworker reads.

An indicator is data, not code: a :class:`FeatureSpec` names the event types it reads, an
optional filter on ``detail`` and on the person's role in the family, a bounded window and
one aggregation from :mod:`features.aggregations`. The engine turns every entry into a
column; adding an indicator means adding one entry to ``_EVENT_FEATURES`` (see
``docs/features.md``). Household composition columns (domain ``household``) are declared
here too, so their descriptions can be shown as reasons; :mod:`features.composition`
computes them.

The ``description`` is part of the product: the scoring service shows it as the reason
behind a score, so it must be plain language ("school days missed by the children, last
90 days"), never a column name.

Nothing here may read sex, the ``protected`` table or any audit group: those are audit
columns (``audit_*``), never model inputs. ``tests/features/test_catalogue.py`` proves it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.aggregations import (
    MAX_LOOKBACK_DAYS,
    VALUE_AGGREGATIONS,
    AggregationName,
    lookback_days,
)
from features.contract import EVENT_TYPES, ROLES, VALUED_EVENT_TYPES, Domain, Role

FeatureDomain = Literal[Domain, "household"]
FeatureKind = Literal["need", "context", "support"]
"""What an indicator says about a family (design rule 11): a ``need`` the family has (debts,
absences, lost income: shown as a reason), ``context`` (household composition) or
``support`` received (benefits, centre visits). Context and support are shown as context,
never as reasons that raise the risk."""

# Bump when the meaning of an aggregation or of the composition columns changes without a
# change to any entry, so the fingerprint still tells old and new feature tables apart.
CATALOGUE_SEMANTICS_VERSION = 1


class FeatureSpec(BaseModel):
    """One indicator: what it reads, over which window, and how it is summarised.

    ``aggregation="household"`` marks a household composition column (computed from the
    memberships valid on the as-of date); it reads no events. Every other entry reads the
    events of ``event_types`` (optionally only those whose ``detail`` is in ``detail``, and
    only those of persons whose role in the family on the event date is in
    ``person_roles``) recorded by the as-of date and dated within ``window_days`` before it.
    ``per_member`` divides the result by the household's members on the as-of date.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)
    domain: FeatureDomain
    description: str = Field(min_length=10, max_length=120)
    kind: FeatureKind
    aggregation: AggregationName | Literal["household"]
    event_types: tuple[str, ...] = ()
    detail: tuple[str, ...] | None = None
    person_roles: tuple[Role, ...] | None = None
    window_days: int | None = Field(default=None, ge=1)
    per_member: bool = False
    unit: str = "count"

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        if self.aggregation == "household":
            if self.event_types or self.detail or self.person_roles or self.per_member:
                raise ValueError(
                    f"feature {self.name!r}: a household column reads no events "
                    "(event_types, detail, person_roles and per_member must be unset)"
                )
            if self.domain != "household":
                raise ValueError(f"feature {self.name!r}: household columns have domain household")
            if self.kind != "context":
                raise ValueError(
                    f"feature {self.name!r}: household composition is context, not "
                    f"{self.kind!r} (design rule 11)"
                )
            if self.window_days is not None and self.window_days > MAX_LOOKBACK_DAYS:
                raise ValueError(
                    f"feature {self.name!r}: window of {self.window_days} days exceeds the "
                    f"bound of {MAX_LOOKBACK_DAYS} days (no record marks a family forever)"
                )
            return self
        if not self.event_types:
            raise ValueError(f"feature {self.name!r}: name at least one event type")
        unknown = [t for t in self.event_types if t not in EVENT_TYPES]
        if unknown:
            raise ValueError(
                f"feature {self.name!r}: unknown event type(s) {unknown}; the contract's "
                f"vocabulary is {sorted(EVENT_TYPES)}"
            )
        if self.window_days is None:
            raise ValueError(f"feature {self.name!r}: event indicators need window_days")
        reach = lookback_days(self.aggregation, self.window_days)
        if reach > MAX_LOOKBACK_DAYS:
            raise ValueError(
                f"feature {self.name!r}: aggregation {self.aggregation!r} over "
                f"{self.window_days} days reads {reach} days back, beyond the bound of "
                f"{MAX_LOOKBACK_DAYS} days (no record marks a family forever)"
            )
        if self.detail is not None:
            for event_type in self.event_types:
                allowed = EVENT_TYPES[event_type].details
                bad = [d for d in self.detail if allowed is not None and d not in allowed]
                if bad:
                    raise ValueError(
                        f"feature {self.name!r}: detail {bad} is not a detail of "
                        f"{event_type!r}; allowed: {list(allowed or ())}"
                    )
        if self.aggregation in VALUE_AGGREGATIONS:
            valueless = [t for t in self.event_types if t not in VALUED_EVENT_TYPES]
            if valueless:
                raise ValueError(
                    f"feature {self.name!r}: aggregation {self.aggregation!r} reads values, "
                    f"but event type(s) {valueless} carry none in the contract"
                )
        if self.domain == "household":
            raise ValueError(f"feature {self.name!r}: domain household is for composition only")
        return self

    @property
    def is_household(self) -> bool:
        """True for a household composition column (no events read)."""
        return self.aggregation == "household"


def _spec(
    name: str, domain: FeatureDomain, description: str, aggregation: str, **kw: Any
) -> FeatureSpec:
    return FeatureSpec(
        name=name, domain=domain, description=description, aggregation=aggregation, **kw
    )


_CHILD = ("child",)
_ADULTS = ("head", "spouse", "other_adult")
_NON_DISABILITY_BENEFITS = (
    "targeted_social_assistance",
    "child_benefit",
    "large_family_benefit",
    "housing_assistance",
)

# The event indicators. Add an indicator by adding one entry here.
_EVENT_FEATURES: tuple[FeatureSpec, ...] = (
    # economic
    _spec("econ_income_per_member_monthly", "economic",
          "household income per member per month, last 90 days", "sum_per_month",
          event_types=("income",), window_days=90, per_member=True, unit="KZT", kind="need"),
    _spec("econ_income_change_90d", "economic",
          "change in household income: last 90 days compared with the 90 days before",
          "sum_change", event_types=("income",), window_days=90, unit="KZT", kind="need"),
    _spec("econ_tsa_payments_365d", "economic",
          "targeted social assistance payments received, last 12 months", "count",
          event_types=("benefit_payment",), detail=("targeted_social_assistance",),
          window_days=365, kind="support"),
    # Disability benefits are left out of every indicator: on their own they reveal the
    # protected attribute disability_in_family (proxy AUC 1.00), and totals that include
    # them still do (0.975-0.993). See docs/features.md, "Proxies of protected attributes".
    _spec("econ_benefits_total_365d", "economic",
          "total of benefit payments received (other than disability benefit), last 12 months",
          "sum", event_types=("benefit_payment",), detail=_NON_DISABILITY_BENEFITS,
          window_days=365, unit="KZT", kind="support"),
    _spec("econ_benefit_payment_mean_365d", "economic",
          "average benefit payment (other than disability benefit), last 12 months", "mean",
          event_types=("benefit_payment",), detail=_NON_DISABILITY_BENEFITS, window_days=365,
          unit="KZT", kind="support"),
    _spec("econ_unemployed_adults_180d", "economic",
          "adults registered as unemployed, last 6 months", "count_persons",
          event_types=("unemployment_registered",), person_roles=_ADULTS, window_days=180,
          kind="need"),
    _spec("econ_loan_overdue_max_365d", "economic",
          "largest overdue loan of a household member, last 12 months", "max",
          event_types=("loan_overdue",), window_days=365, unit="KZT", kind="need"),
    _spec("econ_utility_debt_last", "economic",
          "utility debt at the latest record, last 12 months", "last",
          event_types=("utility_debt",), window_days=365, unit="KZT", kind="need"),
    # Three-year record counts: how often the registry saw the family's pattern, not one
    # recent month (issue 25: on a long registry with other record mixes these five carried
    # the gain over a plain peer; docs/synthetic_registry.md, round 11).
    _spec("econ_income_records_3y", "economic",
          "monthly income records of household members, last 3 years", "count",
          event_types=("income",), window_days=1095, kind="need"),
    _spec("econ_benefit_payments_3y", "economic",
          "benefit payments received (other than disability benefit), last 3 years", "count",
          event_types=("benefit_payment",), detail=_NON_DISABILITY_BENEFITS, window_days=1095,
          kind="support"),
    _spec("econ_utility_debt_records_3y", "economic",
          "records of a utility debt, last 3 years", "count",
          event_types=("utility_debt",), window_days=1095, kind="need"),
    # social
    _spec("soc_service_contacts_365d", "social",
          "contacts with social services, last 12 months", "count",
          event_types=("social_service_contact",), window_days=365, kind="support"),
    _spec("soc_service_contacts_change_180d", "social",
          "change in social service contacts: last 6 months compared with the 6 months before",
          "count_change", event_types=("social_service_contact",), window_days=180, kind="support"),
    _spec("soc_support_center_visits_365d", "social",
          "visits to a family support centre, last 12 months", "count",
          event_types=("family_support_center_visit",), window_days=365, kind="support"),
    _spec("soc_dv_reports_3y", "social",
          "domestic violence reports, last 3 years", "count",
          event_types=("domestic_violence_report",), window_days=1095, kind="need"),
    _spec("soc_days_since_dv_report", "social",
          "days since the latest domestic violence report (within 3 years)", "days_since_last",
          event_types=("domestic_violence_report",), window_days=1095, unit="days", kind="need"),
    _spec("soc_police_offenses_365d", "social",
          "police contacts for an offence by a household member, last 12 months", "count",
          event_types=("police_contact",), detail=("offense",), window_days=365, kind="need"),
    _spec("soc_juvenile_offenders_365d", "social",
          "children with a juvenile offence, last 12 months", "count_persons",
          event_types=("juvenile_offense",), person_roles=_CHILD, window_days=365, kind="need"),
    # housing
    _spec("hou_persons_per_room_last", "housing",
          "persons per room at the latest housing inspection (within 3 years)", "last",
          event_types=("housing_inspection",), window_days=1095, unit="persons per room",
          kind="need"),
    _spec("hou_inspections_failed_3y", "housing",
          "housing inspections finding the home overcrowded or unsafe, last 3 years", "count",
          event_types=("housing_inspection",), detail=("overcrowded", "unsafe"),
          window_days=1095, kind="need"),
    _spec("hou_eviction_notices_365d", "housing",
          "eviction notices, last 12 months", "count",
          event_types=("eviction_notice",), window_days=365, kind="need"),
    _spec("hou_homelessness_episodes_3y", "housing",
          "episodes of homelessness, last 3 years", "count",
          event_types=("homelessness_episode",), window_days=1095, kind="need"),
    _spec("hou_days_since_homelessness", "housing",
          "days since the latest episode of homelessness (within 3 years)", "days_since_last",
          event_types=("homelessness_episode",), window_days=1095, unit="days", kind="need"),
    _spec("hou_housing_assistance_365d", "housing",
          "housing assistance payments received, last 12 months", "count",
          event_types=("benefit_payment",), detail=("housing_assistance",), window_days=365,
          kind="support"),
    # health
    _spec("hea_children_missed_vaccination_365d", "health",
          "children with a missed vaccination, last 12 months", "count_persons",
          event_types=("missed_vaccination",), person_roles=_CHILD, window_days=365, kind="need"),
    _spec("hea_missed_vaccinations_365d", "health",
          "missed vaccinations in the household, last 12 months", "count",
          event_types=("missed_vaccination",), window_days=365, kind="need"),
    _spec("hea_missed_vaccinations_3y", "health",
          "missed vaccinations in the household, last 3 years", "count",
          event_types=("missed_vaccination",), window_days=1095, kind="need"),
    _spec("hea_children_injury_visits_365d", "health",
          "emergency visits for injuries of the children, last 12 months", "count",
          event_types=("injury_emergency_visit",), person_roles=_CHILD, window_days=365,
          kind="need"),
    _spec("hea_days_since_child_injury", "health",
          "days since a child's latest emergency visit for an injury (within 3 years)",
          "days_since_last", event_types=("injury_emergency_visit",), person_roles=_CHILD,
          window_days=1095, unit="days", kind="need"),
    _spec("hea_prenatal_visits_missed_365d", "health",
          "missed prenatal check-ups, last 12 months", "count",
          event_types=("prenatal_visit_missed",), window_days=365, kind="need"),
    _spec("hea_substance_treatment_members_365d", "health",
          "household members treated for substance use, last 12 months", "count_persons",
          event_types=("substance_use_treatment",), window_days=365, kind="need"),
    _spec("hea_mental_health_members_365d", "health",
          "household members in mental health treatment, last 12 months", "count_persons",
          event_types=("mental_health_treatment",), window_days=365, kind="need"),
    # education
    _spec("edu_school_absence_days_90d", "education",
          "school days missed by the children, last 90 days", "sum",
          event_types=("school_absence",), person_roles=_CHILD, window_days=90, unit="days",
          kind="need"),
    _spec("edu_school_absence_change_90d", "education",
          "change in school days missed: last 90 days compared with the 90 days before",
          "sum_change", event_types=("school_absence",), person_roles=_CHILD,
          window_days=90, unit="days", kind="need"),
    _spec("edu_children_absent_90d", "education",
          "children with recorded school absences, last 90 days", "count_persons",
          event_types=("school_absence",), person_roles=_CHILD, window_days=90, kind="need"),
    _spec("edu_max_monthly_absence_365d", "education",
          "most school days a child missed in one month, last 12 months", "max",
          event_types=("school_absence",), person_roles=_CHILD, window_days=365, unit="days",
          kind="need"),
    _spec("edu_school_absence_days_3y", "education",
          "school days missed by the children, last 3 years", "sum",
          event_types=("school_absence",), person_roles=_CHILD, window_days=1095, unit="days",
          kind="need"),
    _spec("edu_school_dropouts_3y", "education",
          "children who dropped out of school, last 3 years", "count_persons",
          event_types=("school_dropout",), person_roles=_CHILD, window_days=1095, kind="need"),
    _spec("edu_preschool_not_enrolled_365d", "education",
          "pre-school children not enrolled in pre-school, last 12 months", "count_persons",
          event_types=("preschool_not_enrolled",), person_roles=_CHILD, window_days=365,
          kind="need"),
    _spec("edu_special_needs_children_3y", "education",
          "children with recorded special educational needs, last 3 years", "count_persons",
          event_types=("special_education_needs",), person_roles=_CHILD, window_days=1095,
          kind="context"),
)  # fmt: skip

# Household composition as of the date (computed by features.composition).
_HOUSEHOLD_FEATURES: tuple[FeatureSpec, ...] = (
    _spec("hh_members", "household", "people living in the household", "household",
          kind="context"),
    _spec("hh_adults", "household", "adults (18 or older) in the household", "household",
          kind="context"),
    _spec("hh_children", "household", "children under 18 in the household", "household",
          kind="context"),
    _spec("hh_children_under_3", "household", "children under 3 in the household", "household",
          kind="context"),
    _spec("hh_children_under_6", "household", "children under 6 in the household", "household",
          kind="context"),
    _spec("hh_children_school_age", "household",
          "school-age children (6 to 17) in the household", "household", kind="context"),
    _spec("hh_members_65_plus", "household", "household members aged 65 or older", "household",
          kind="context"),
    _spec("hh_spouse_present", "household",
          "a spouse or partner of the head lives in the household (1 yes, 0 no)", "household",
          unit="yes/no", kind="context"),
    _spec("hh_other_adults", "household",
          "other adults living with the family (not head or spouse)", "household",
          kind="context"),
    _spec("hh_single_parent", "household",
          "single-parent family: a head without spouse, with children (1 yes, 0 no)",
          "household", unit="yes/no", kind="context"),
    _spec("hh_large_family", "household",
          "large family with 4 or more children (1 yes, 0 no)", "household", unit="yes/no",
          kind="context"),
    _spec("hh_head_age", "household", "age of the head of the household", "household",
          unit="years", kind="context"),
    _spec("hh_births_last_year", "household", "children born into the household, last 12 months",
          "household", window_days=365, kind="context"),
    _spec("hh_separation_last_year", "household",
          "the head or the spouse left the household, last 12 months (1 yes, 0 no)",
          "household", window_days=365, unit="yes/no", kind="context"),
)  # fmt: skip


def _index(specs: tuple[FeatureSpec, ...]) -> dict[str, FeatureSpec]:
    out: dict[str, FeatureSpec] = {}
    for spec in specs:
        if spec.name in out:
            raise ValueError(f"feature name {spec.name!r} is defined twice in the catalogue")
        out[spec.name] = spec
    return out


FEATURES: dict[str, FeatureSpec] = _index(_EVENT_FEATURES + _HOUSEHOLD_FEATURES)


def event_features() -> list[FeatureSpec]:
    """The catalogue entries computed from events, in catalogue order."""
    return [spec for spec in FEATURES.values() if not spec.is_household]


def household_columns() -> list[str]:
    """The household composition columns, in catalogue order."""
    return [spec.name for spec in FEATURES.values() if spec.is_household]


def model_input_columns() -> list[str]:
    """The model's input columns, in a stable order: event indicators, then household.

    This is the ONLY list training and serving may take model inputs from; audit groups,
    the label and the well-being index are never in it.
    """
    return list(FEATURES)


def feature_list_fingerprint() -> str:
    """sha256 of the catalogue: every name with its full definition, in order.

    Any change of a window, filter, aggregation or description changes it, so a model
    trained on one catalogue refuses a feature table built with another.
    """
    payload = {
        "semantics_version": CATALOGUE_SEMANTICS_VERSION,
        "features": [spec.model_dump(mode="json") for spec in FEATURES.values()],
        "roles": list(ROLES),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def describe(name: str) -> str:
    """One line for people: the description, then how the indicator is computed."""
    try:
        spec = FEATURES[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(FEATURES), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no feature {name!r} in the catalogue{hint}") from None
    if spec.is_household:
        how = "household composition on the date"
        if spec.window_days:
            how += f", changes over the last {spec.window_days} days"
    else:
        reads = ", ".join(spec.event_types)
        if spec.detail:
            reads += f" ({' or '.join(spec.detail)})"
        if spec.person_roles:
            reads += f" of {'/'.join(spec.person_roles)}"
        how = f"{spec.aggregation} of {reads} over {spec.window_days} days"
        if spec.per_member:
            how += ", per household member"
    return f"{spec.description} [{spec.domain}, {spec.kind}; {how}; unit: {spec.unit}]"


def catalogue_markdown() -> str:
    """The catalogue as a Markdown table (the one in ``docs/features.md``)."""
    lines = [
        "| name | domain | kind | description | reads | window (days) | aggregation |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in FEATURES.values():
        reads = ", ".join(spec.event_types) or "memberships, persons"
        if spec.detail:
            reads += f" [{', '.join(spec.detail)}]"
        if spec.person_roles:
            reads += f" (roles: {', '.join(spec.person_roles)})"
        aggregation = spec.aggregation + (" per member" if spec.per_member else "")
        window = "" if spec.window_days is None else str(spec.window_days)
        lines.append(
            f"| `{spec.name}` | {spec.domain} | {spec.kind} | {spec.description} | {reads} "
            f"| {window} | {aggregation} |"
        )
    return "\n".join(lines) + "\n"
