"""Administrative records (events) and outcomes of one chunk, drawn from the latent path.

Every record is a Bernoulli or Poisson draw per eligible person-month or family-month,
vectorised over all of them at once; the probability rises with the family's latent
vulnerability ``z`` in that month. Records then get a reporting lag drawn per source
system; a small share is back-dated by more than a year; records that would be recorded
after the period's end are not in the extract (as in a real export taken on that day).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.contract import EVENT_TYPES
from features.synth.calendar import Calendar
from features.synth.latent import LatentPath, case_hazard, detection_probability
from features.synth.population import ROLE_HEAD, Population
from features.synth.process import (
    BACKDATED_DAYS,
    OUTCOME_SOURCE,
    SOURCE_LAGS,
    EventSpec,
    ProcessParams,
)

EVENT_NAMES: tuple[str, ...] = tuple(EVENT_TYPES)
SOURCES: tuple[str, ...] = tuple(SOURCE_LAGS)
OUTCOME_NAMES = ("child_protection_case", "child_placed_in_care", "family_crisis")


def detail_vocabulary(params: ProcessParams) -> tuple[str, ...]:
    names: list[str] = []
    for spec in params.events:
        names.extend(spec.details)
    names.extend(EVENT_TYPES["benefit_payment"].details or ())
    return tuple(dict.fromkeys(names))


@dataclass
class RecordColumns:
    """Columnar records of a chunk, with codes into the vocabularies above (-1 = null)."""

    family: np.ndarray
    person: np.ndarray
    kind: np.ndarray  # event or outcome type code
    detail: np.ndarray
    day: np.ndarray
    recorded: np.ndarray
    value: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.day)


class _Collector:
    """Accumulates blocks of records, then assigns lags and drops late-recorded ones."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, np.ndarray]] = []

    def add(
        self,
        *,
        family: np.ndarray,
        person: np.ndarray | None,
        kind: int,
        day: np.ndarray,
        source: int,
        detail: np.ndarray | None = None,
        value: np.ndarray | None = None,
    ) -> None:
        n = len(day)
        if n == 0:
            return
        self.blocks.append(
            {
                "family": family.astype(np.int64),
                "person": (np.full(n, -1) if person is None else person).astype(np.int64),
                "kind": np.full(n, kind, dtype=np.int16),
                "detail": (np.full(n, -1) if detail is None else detail).astype(np.int16),
                "day": day.astype(np.int64),
                "value": (np.full(n, np.nan) if value is None else value).astype(np.float64),
                "source": np.full(n, source, dtype=np.int16),
            }
        )

    def finish(
        self, rng: np.random.Generator, calendar: Calendar, params: ProcessParams
    ) -> RecordColumns:
        names = ("family", "person", "kind", "detail", "day", "value", "source")
        if self.blocks:
            cols = {k: np.concatenate([b[k] for b in self.blocks]) for k in names}
        else:
            cols = {k: np.empty(0, dtype=np.int64) for k in names}
        recorded = cols["day"] + _lags(rng, cols["source"], params)
        keep = recorded <= calendar.end_day
        return RecordColumns(**{k: v[keep] for k, v in cols.items()}, recorded=recorded[keep])


def _lags(rng: np.random.Generator, source: np.ndarray, params: ProcessParams) -> np.ndarray:
    """Reporting lag in days: log-normal per source; a few back-dated by more than a year."""
    median = np.array([lag.median_days for lag in SOURCE_LAGS.values()])[source]
    sigma = np.array([lag.sigma for lag in SOURCE_LAGS.values()])[source]
    if params.lag_scale != 1.0 or params.lag_sigma_extra != 0.0:  # a variant's delays
        median = median * params.lag_scale
        sigma = sigma + params.lag_sigma_extra
    lag = np.rint(median * np.exp(sigma * rng.standard_normal(len(source)))).astype(np.int64)
    backdated = rng.random(len(source)) < params.backdated_share
    late = rng.integers(BACKDATED_DAYS[0], BACKDATED_DAYS[1] + 1, len(source))
    return np.where(backdated, late, lag)


@dataclass
class _PersonMonths:
    """Every (person, month) of the period in which the person is a family member."""

    person: np.ndarray
    month: np.ndarray
    family: np.ndarray
    age: np.ndarray
    z: np.ndarray
    role: np.ndarray


@dataclass
class _FamilyMonths:
    """Every (family, month) of the period in which the family has a member."""

    family: np.ndarray
    month: np.ndarray
    z: np.ndarray
    members: np.ndarray
    minors: np.ndarray
    infants: np.ndarray


def _person_months(pop: Population, latent: LatentPath, n_months: int) -> _PersonMonths:
    fam = pop.fam_pm[:, :n_months]
    person, month = np.nonzero(fam >= 0)
    family = fam[person, month]
    return _PersonMonths(
        person=person.astype(np.int32),
        month=month.astype(np.int32),
        family=family,
        age=pop.age_pm[person, month],
        z=latent.grid[latent.state[family, month]].astype(np.float32),
        role=pop.role_pm[person, month],
    )


def _family_months(
    pop: Population, latent: LatentPath, n_months: int, infant_months: int
) -> _FamilyMonths:
    members = pop.members()[:, :n_months]
    family, month = np.nonzero(members > 0)
    return _FamilyMonths(
        family=family.astype(np.int32),
        month=month.astype(np.int32),
        z=latent.grid[latent.state[family, month]].astype(np.float32),
        members=members[family, month],
        minors=pop.minors()[family, month],
        infants=pop.infants(infant_months)[family, month],
    )


def _age_mask(pm: _PersonMonths, eligible: str) -> np.ndarray:
    age = pm.age
    windows = {
        "adult": (18, 200),
        "working_age": (18, 63),
        "teen_or_adult": (14, 200),
        "teen": (14, 18),
        "older_teen": (15, 18),
        "over_11": (12, 200),
        "child_0_6": (0, 7),
        "child_3_6": (3, 7),
        "child_3_17": (3, 18),
        "school_age": (7, 18),
        "anyone": (0, 200),
    }
    lo, hi = windows[eligible]
    return (age >= lo) & (age < hi)


def generate_records(
    rng: np.random.Generator,
    pop: Population,
    latent: LatentPath,
    surveilled: np.ndarray,
    calendar: Calendar,
    params: ProcessParams,
) -> tuple[RecordColumns, RecordColumns]:
    """Draw the events and the outcomes of a chunk; returns (events, outcomes)."""
    n_months = calendar.n_months
    econ = params.economic
    pm = _person_months(pop, latent, n_months)
    fm = _family_months(pop, latent, n_months, econ.child_benefit_months)
    rural_f = pop.rural
    details = detail_vocabulary(params)
    events = _Collector()
    bias = params.bias

    def factor(spec: EventSpec, families: np.ndarray) -> np.ndarray:
        out = np.where(rural_f[families], spec.rural_factor, 1.0)
        if spec.event_type in bias.event_types:
            out = out * np.where(surveilled[families], bias.record_multiplier, 1.0)
        return out

    def person_family(families: np.ndarray, share: float) -> np.ndarray:
        return np.where(rng.random(len(families)) < share, families, -1)

    def pick_detail(spec: EventSpec, n: int) -> np.ndarray | None:
        if not spec.details or not spec.detail_weights:
            return None
        weights = np.asarray(spec.detail_weights) / np.sum(spec.detail_weights)
        chosen = np.searchsorted(np.cumsum(weights), rng.random(n), side="right")
        codes = np.array([details.index(d) for d in spec.details])
        return codes[np.minimum(chosen, len(codes) - 1)]

    specs = {spec.event_type: spec for spec in params.events}
    for spec in params.events:
        if spec.kind != "bernoulli":
            continue
        kind = EVENT_NAMES.index(spec.event_type)
        source = SOURCES.index(spec.source)
        if spec.eligible in ("family", "family_with_minor"):
            rows = np.flatnonzero(fm.minors > 0) if spec.eligible == "family_with_minor" else None
            fam = fm.family if rows is None else fm.family[rows]
            month = fm.month if rows is None else fm.month[rows]
            z = fm.z if rows is None else fm.z[rows]
            p = np.minimum(spec.base * np.exp(spec.slope * z) * factor(spec, fam), 0.9)
            if spec.event_type == "utility_debt":  # the heating season (0: no cycle)
                season = params.seasonal
                p = np.minimum(
                    p
                    * season.factor(
                        season.heating_utility_debt,
                        season.heating_months,
                        calendar.month_of_year[month],
                    ),
                    0.9,
                )
            hit = np.flatnonzero(rng.random(len(p)) < p)
            value, detail = _family_value(rng, spec, fm, rows, hit, details)
            if detail is None:
                detail = pick_detail(spec, len(hit))
            events.add(
                family=fam[hit],
                person=None,
                kind=kind,
                day=calendar.random_day(rng, month[hit]),
                source=source,
                detail=detail,
                value=value,
            )
            continue
        if spec.eligible == "pregnant":
            person, month, fam, z = _pregnancy_months(pop, latent, n_months, params)
        else:
            rows = np.flatnonzero(_age_mask(pm, spec.eligible))
            person, month, fam, z = pm.person[rows], pm.month[rows], pm.family[rows], pm.z[rows]
        p = np.minimum(spec.base * np.exp(spec.slope * z) * factor(spec, fam), 0.9)
        hit = np.flatnonzero(rng.random(len(p)) < p)
        events.add(
            family=person_family(fam[hit], spec.family_id_known),
            person=person[hit],
            kind=kind,
            day=calendar.random_day(rng, month[hit]),
            source=source,
            detail=pick_detail(spec, len(hit)),
            value=_person_value(rng, spec.event_type, z[hit]),
        )

    _economic_records(rng, events, pop, latent, pm, fm, specs, calendar, params, details)
    _education_records(rng, events, pm, specs, calendar, params, rural_f)
    outcomes = _outcome_records(rng, pop, latent, pm, fm, surveilled, calendar, params)
    return events.finish(rng, calendar, params), outcomes


def _person_value(rng: np.random.Generator, event_type: str, z: np.ndarray) -> np.ndarray | None:
    if event_type == "loan_overdue":
        return np.round(120_000 * np.exp(0.3 * z + 0.8 * rng.standard_normal(len(z))), -2)
    return None


def _family_value(
    rng: np.random.Generator,
    spec: EventSpec,
    fm: _FamilyMonths,
    rows: np.ndarray | None,
    hit: np.ndarray,
    details: tuple[str, ...],
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Value (and detail, when it follows from the value) of family-level records."""
    z = (fm.z if rows is None else fm.z[rows])[hit]
    if spec.event_type == "utility_debt":
        return np.round(45_000 * np.exp(0.3 * z + 0.7 * rng.standard_normal(len(z))), -2), None
    if spec.event_type == "housing_inspection":
        members = (fm.members if rows is None else fm.members[rows])[hit]
        rooms = np.maximum(1, np.rint(3.0 - 0.4 * z + 0.8 * rng.standard_normal(len(z))))
        per_room = np.round(members / rooms, 2)
        unsafe = rng.random(len(z)) < 0.08 * np.exp(0.5 * z)
        label = np.where(unsafe, "unsafe", np.where(per_room >= 2.0, "overcrowded", "adequate"))
        codes = np.array([details.index(x) for x in ("adequate", "overcrowded", "unsafe")])
        return per_room, codes[np.searchsorted(["adequate", "overcrowded", "unsafe"], label)]
    return None, None


def _pregnancy_months(
    pop: Population, latent: LatentPath, n_months: int, params: ProcessParams
) -> tuple[np.ndarray, ...]:
    """(mother, month, family, z) for the months before each birth, within the period."""
    span = params.composition.pregnancy_months
    offsets = np.arange(1, span + 1)
    mother = np.repeat(pop.birth_mother, span)
    month = (pop.birth_month[:, None] - offsets[None, :]).ravel()
    ok = (month >= 0) & (month < n_months)
    mother, month = mother[ok], month[ok]
    fam = pop.fam_pm[mother, month]
    ok = fam >= 0
    mother, month, fam = mother[ok], month[ok], fam[ok]
    return mother, month, fam, latent.grid[latent.state[fam, month]]


def _unemployment_spells(
    rng: np.random.Generator, shock: np.ndarray, mean_months: float
) -> np.ndarray:
    """(families, months) True while the head is out of work after a shock."""
    n, n_months = shock.shape
    out = np.zeros_like(shock)
    remaining = np.zeros(n, dtype=np.int64)
    lengths = rng.geometric(1.0 / mean_months, size=shock.shape)
    for month in range(n_months):
        remaining = np.where(shock[:, month], lengths[:, month], remaining - 1)
        out[:, month] = remaining > 0
    return out


def _economic_records(
    rng: np.random.Generator,
    events: _Collector,
    pop: Population,
    latent: LatentPath,
    pm: _PersonMonths,
    fm: _FamilyMonths,
    specs: dict[str, EventSpec],
    calendar: Calendar,
    params: ProcessParams,
    details: tuple[str, ...],
) -> None:
    """Income, unemployment registrations and benefit payments."""
    econ = params.economic
    n_persons = pop.n_persons
    # income: persons of working age who are employed in the month
    attachment = rng.standard_normal(n_persons) + np.where(
        pop.sex == 1, econ.attachment_male, econ.attachment_female
    )
    log_base = rng.normal(0.0, econ.income_sd_log, n_persons)
    spell = _unemployment_spells(rng, latent.shock, econ.shock_unemployment_months)
    working = np.flatnonzero(_age_mask(pm, "working_age"))
    p, m, f, z = pm.person[working], pm.month[working], pm.family[working], pm.z[working]
    out_of_work = (pm.role[working] == ROLE_HEAD) & spell[f, m]
    employed = (attachment[p] - econ.employment_z_slope * z > 0) & ~out_of_work
    p, m, f, z = p[employed], m[employed], f[employed], z[employed]
    median = np.where(pop.rural[f], econ.income_median_rural, econ.income_median_urban)
    income = median * np.exp(
        log_base[p] + econ.income_z_slope * z + econ.income_noise_sd * rng.standard_normal(len(p))
    )
    spec = specs["income"]
    events.add(
        family=np.where(rng.random(len(p)) < spec.family_id_known, f, -1),
        person=p,
        kind=EVENT_NAMES.index("income"),
        day=calendar.random_day(rng, m),
        source=SOURCES.index(spec.source),
        value=np.round(income, -2),
    )

    # unemployment registration: most heads hit by a shock, plus a background rate
    spec = specs["unemployment_registered"]
    kind, source = EVENT_NAMES.index(spec.event_type), SOURCES.index(spec.source)
    heads = np.flatnonzero((pm.role == ROLE_HEAD) & _age_mask(pm, "working_age"))
    hp, hm, hf = pm.person[heads], pm.month[heads], pm.family[heads]
    shocked = latent.shock[hf, hm] & (rng.random(len(heads)) < econ.shock_registers)
    background = np.flatnonzero(
        rng.random(len(working))
        < econ.unemployment_background * np.exp(econ.unemployment_background_slope * pm.z[working])
    )
    person = np.concatenate([hp[shocked], pm.person[working][background]])
    month = np.concatenate([hm[shocked], pm.month[working][background]])
    fam = np.concatenate([hf[shocked], pm.family[working][background]])
    events.add(
        family=np.where(rng.random(len(person)) < spec.family_id_known, fam, -1),
        person=person,
        kind=kind,
        day=calendar.random_day(rng, month),
        source=source,
    )

    # benefit payments (family level): entitlement-driven and need-driven kinds
    kind = EVENT_NAMES.index("benefit_payment")
    source = SOURCES.index(specs["benefit_payment"].source)
    disabled = pop.disability[fm.family]
    tsa_p = np.minimum(econ.tsa_base * np.exp(econ.tsa_slope * fm.z), 0.9)
    season = params.seasonal
    fm_month_of_year = calendar.month_of_year[fm.month]
    housing_p = np.minimum(
        econ.housing_assistance_base
        * np.exp(econ.housing_assistance_slope * fm.z)
        * season.factor(season.heating_housing_assistance, season.heating_months, fm_month_of_year),
        0.9,
    )
    tsa_amount = econ.tsa_amount_per_minor * np.maximum(fm.minors, 1)
    if season.december_topup != 0.0:  # a year-end payment cycle
        tsa_amount = tsa_amount * np.where(fm_month_of_year == 12, 1.0 + season.december_topup, 1.0)
    paid = {
        "child_benefit": (fm.infants > 0, econ.child_benefit_amount * np.maximum(fm.infants, 1)),
        "large_family_benefit": (
            fm.minors >= econ.large_family_min_minors,
            np.full(len(fm.family), econ.large_family_amount),
        ),
        "disability_benefit": (
            disabled & (rng.random(len(fm.family)) < 0.97),
            np.full(len(fm.family), econ.disability_amount),
        ),
        "targeted_social_assistance": (
            rng.random(len(fm.family)) < tsa_p,
            tsa_amount,
        ),
        "housing_assistance": (
            rng.random(len(fm.family)) < housing_p,
            np.full(len(fm.family), econ.housing_assistance_amount),
        ),
    }
    for detail, (mask, amount) in paid.items():
        rows = np.flatnonzero(mask)
        events.add(
            family=fm.family[rows],
            person=None,
            kind=kind,
            day=calendar.random_day(rng, fm.month[rows]),
            source=source,
            detail=np.full(len(rows), details.index(detail)),
            value=np.round(amount[rows], -2),
        )


def _education_records(
    rng: np.random.Generator,
    events: _Collector,
    pm: _PersonMonths,
    specs: dict[str, EventSpec],
    calendar: Calendar,
    params: ProcessParams,
    rural: np.ndarray,
) -> None:
    """School absence (monthly days absent) and the September preschool check."""
    econ = params.economic
    month_of_year = calendar.month_of_year[pm.month]
    school_month = (month_of_year >= 9) | (month_of_year <= 5)
    rows = np.flatnonzero(_age_mask(pm, "school_age") & school_month)
    season = params.seasonal
    days = rng.poisson(
        econ.school_absence_mean
        * np.exp(econ.school_absence_slope * pm.z[rows])
        * season.factor(season.winter_absence, season.winter_months, month_of_year[rows])
    )
    hit = np.flatnonzero(days > 0)
    rows = rows[hit]
    spec = specs["school_absence"]
    events.add(
        family=np.where(rng.random(len(rows)) < spec.family_id_known, pm.family[rows], -1),
        person=pm.person[rows],
        kind=EVENT_NAMES.index("school_absence"),
        day=calendar.last_day[pm.month[rows]],
        source=SOURCES.index(spec.source),
        value=np.minimum(days[hit], 20).astype(np.float64),
    )
    rows = np.flatnonzero(_age_mask(pm, "child_3_6") & (month_of_year == 9))
    p = (
        econ.preschool_not_enrolled_base
        * np.exp(econ.preschool_not_enrolled_slope * pm.z[rows])
        * np.where(rural[pm.family[rows]], econ.preschool_rural_factor, 1.0)
    )
    rows = rows[rng.random(len(rows)) < np.minimum(p, 0.9)]
    spec = specs["preschool_not_enrolled"]
    events.add(
        family=np.where(rng.random(len(rows)) < spec.family_id_known, pm.family[rows], -1),
        person=pm.person[rows],
        kind=EVENT_NAMES.index("preschool_not_enrolled"),
        day=calendar.random_day(rng, pm.month[rows]),
        source=SOURCES.index(spec.source),
    )


def _outcome_records(
    rng: np.random.Generator,
    pop: Population,
    latent: LatentPath,
    pm: _PersonMonths,
    fm: _FamilyMonths,
    surveilled: np.ndarray,
    calendar: Calendar,
    params: ProcessParams,
) -> RecordColumns:
    """Recorded cases, placements (same month as their case) and family crises."""
    out = params.outcomes
    detection = detection_probability(surveilled, out)[fm.family]
    p_case = case_hazard(fm.z, fm.minors, out) * detection
    case = np.flatnonzero(rng.random(len(p_case)) < p_case)
    fam, month, z = fm.family[case], fm.month[case], fm.z[case]
    child = _random_minor(rng, pm, fam, month, calendar.n_months)
    child = np.where(rng.random(len(child)) < out.person_unknown_share, -1, child)
    case_day = calendar.random_day(rng, month)
    placed = rng.random(len(case)) < 1.0 / (
        1.0 + np.exp(-(out.placement_intercept + out.placement_slope * z))
    )
    last = calendar.last_day[month[placed]]
    place_day = case_day[placed] + np.floor(
        rng.random(placed.sum()) * (last - case_day[placed] + 1)
    ).astype(np.int64)
    p_crisis = np.minimum(np.exp(out.crisis_intercept + out.crisis_slope * fm.z), 0.9) * (detection)
    crisis = np.flatnonzero(rng.random(len(p_crisis)) < p_crisis)
    collector = _Collector()
    source = SOURCES.index(OUTCOME_SOURCE)
    collector.add(family=fam, person=child, kind=0, day=case_day, source=source)
    collector.add(family=fam[placed], person=child[placed], kind=1, day=place_day, source=source)
    collector.add(
        family=fm.family[crisis],
        person=None,
        kind=2,
        day=calendar.random_day(rng, fm.month[crisis]),
        source=source,
    )
    return collector.finish(rng, calendar, params)


def _random_minor(
    rng: np.random.Generator,
    pm: _PersonMonths,
    family: np.ndarray,
    month: np.ndarray,
    n_months: int,
) -> np.ndarray:
    """A uniformly chosen member under 18 of each (family, month); -1 when there is none."""
    wanted = family.astype(np.int64) * n_months + month
    minor = np.flatnonzero(pm.age < 18.0)
    keys = pm.family[minor].astype(np.int64) * n_months + pm.month[minor]
    inside = np.isin(keys, wanted)
    keys, people = keys[inside], pm.person[minor][inside]
    order = np.lexsort((rng.random(len(keys)), keys))
    keys, people = keys[order], people[order]
    unique, first = np.unique(keys, return_index=True)
    where = np.searchsorted(unique, wanted)
    found = (where < len(unique)) & (unique[np.minimum(where, len(unique) - 1)] == wanted)
    return np.where(found, people[first[np.minimum(where, len(unique) - 1)]], -1)
