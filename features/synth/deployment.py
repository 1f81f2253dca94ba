"""A model in service inside the synthetic registry: flags, caseworkers, support, hold-out.

``earlyrisk synth --deploy-from YYYY-MM`` plants a deployment so that the selective-labels
problem (support given to the flagged families lowers the outcomes the next model learns
from) can be measured against a known truth. From the deployment month on, at the end of
every month:

1. **The model** is *a simple risk rule* over the records the registry holds on the
   decision day (:func:`rule_scores`): the family's records of the last 12 months that were
   recorded by that day, each weighted by how strongly its event type rises with
   vulnerability (the generator's ``EventSpec.slope``), ties broken at random. It ranks the
   families with a minor who have no open case and flags ``capacity`` (a share of the
   families with a minor) from the top. A rule over recorded data, not the truth's hidden
   state, so that support depends on what the registry shows: the assumption the
   adjustments of training and evaluation rest on (no confounding beyond the records).
2. **The display hold-out**: a randomized ``holdout_share`` of the flagged families has the
   score hidden; the caseworker sees them on the usual path (no service is withheld).
3. **Caseworkers**: each flagged family goes to a caseworker drawn at random among the
   ``caseworkers_per_region`` of its region. A caseworker offers support with their own
   leniency (drawn once per caseworker, uniform on ``leniency``) when the score is shown,
   with ``usual_offer`` when it is hidden. A family accepts with ``acceptance``.
4. **Support** lowers the monthly case hazard by ``effect`` (relative) for the
   ``support_months`` months after the offer (the label window of a snapshot at the month's
   end); placements follow cases, so they fall with them. Family crises are not changed.
   It is applied by thinning (:func:`thin_outcomes`): each case of a supported
   family-month is kept with probability ``1 - effect``, which is a Bernoulli draw with
   the lowered hazard, and leaves every other draw of the chunk as it was.

A family decided on is not flagged again while its case is open (``support_months``). The
deployment draws from its own random stream (child ``DEPLOYMENT_STREAM`` of the chunk's
seed), so the registry's records before the deployment are those of the same seed without
it, and only outcomes in supported months differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from features.synth.calendar import Calendar, day_number
from features.synth.ids import make_ids
from features.synth.population import Population
from features.synth.process import ProcessParams
from features.synth.records import EVENT_NAMES, RecordColumns
from features.synth.schemas import SCHEMAS

DEPLOYMENT_STREAM = 7  # spawn key of the deployment's random stream (chunk, 7)
LENIENCY_STREAM = 1_000_003  # spawn key of the caseworkers' leniencies (not per chunk)
PROGRAMMES = (
    "targeted_social_assistance",
    "family_support_centre",
    "psychological_help",
    "debt_counselling",
    "housing_assistance",
)
RECORDING_LAG_DAYS = 10  # a decision is recorded 0..10 days after it is made


@dataclass(frozen=True)
class DeploymentParams:
    """The deployment's knobs (``effect`` and ``holdout_share`` come from the CLI)."""

    effect: float = 0.5
    holdout_share: float = 0.2
    capacity: float = 0.01
    caseworkers_per_region: int = 4
    leniency: tuple[float, float] = (0.45, 0.95)
    usual_offer: float = 0.15
    acceptance: float = 0.8
    support_months: int = 12

    def __post_init__(self) -> None:
        for name in ("effect", "holdout_share", "capacity", "usual_offer", "acceptance"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"deployment {name} must lie in [0, 1], got {value}")
        low, high = self.leniency
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"leniency must be 0 <= low <= high <= 1, got {self.leniency}")
        if self.caseworkers_per_region < 1 or self.support_months < 1:
            raise ValueError(
                "caseworkers_per_region and support_months must be >= 1, got "
                f"{self.caseworkers_per_region} and {self.support_months}"
            )


@dataclass
class Deployment:
    """What the deployment did in one chunk.

    ``hazard_factor`` (families, n_ext) multiplies the monthly case hazard (1 - effect in
    supported months, else 1); ``interventions`` is the contract's table of decisions.
    """

    hazard_factor: np.ndarray
    interventions: pa.Table


def leniencies(seed: int, n_regions: int, params: DeploymentParams) -> np.ndarray:
    """(regions, caseworkers) offer probability of each caseworker when the score is shown.

    Drawn from the master seed alone, so a caseworker id means the same person (the same
    leniency) in every chunk."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(LENIENCY_STREAM,)))
    low, high = params.leniency
    return rng.uniform(low, high, size=(n_regions, params.caseworkers_per_region))


RULE_WINDOW_MONTHS = 12


def rule_scores(
    events: RecordColumns, pop: Population, calendar: Calendar, process: ProcessParams
) -> np.ndarray:
    """(families, months) the risk rule's score at each month's end (see the module).

    A person-level record without a family counts for the family the person belonged to
    that month, as the feature engine attributes it."""
    weight_of = {spec.event_type: spec.slope for spec in process.events}
    weights = np.array([weight_of.get(name, 0.0) for name in EVENT_NAMES])[events.kind]
    month = calendar.month_of_day(events.day)
    known = calendar.month_of_day(events.recorded)
    family = events.family.copy()
    lookup = (family < 0) & (events.person >= 0)
    family[lookup] = pop.fam_pm[events.person[lookup], month[lookup]]
    use = (family >= 0) & (weights > 0)
    family, month, known, weights = family[use], month[use], known[use], weights[use]
    n_fam = pop.n_families
    # a record counts from the month it is known (>= its event month) for 12 event-months
    start = np.maximum(month, known)
    stop = month + RULE_WINDOW_MONTHS  # exclusive
    delta = np.zeros((n_fam, calendar.n_months + RULE_WINDOW_MONTHS + 1))
    inside = start < stop
    np.add.at(delta, (family[inside], start[inside]), weights[inside])
    np.add.at(delta, (family[inside], stop[inside]), -weights[inside])
    return np.cumsum(delta, axis=1)[:, : calendar.n_months]


def simulate_deployment(
    *,
    seed: int,
    chunk: int,
    deploy_from: date,
    pop: Population,
    events: RecordColumns,
    calendar: Calendar,
    process: ProcessParams,
    params: DeploymentParams,
) -> Deployment:
    """Run the monthly flag -> caseworker -> support cycles of one chunk (see the module)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(chunk, DEPLOYMENT_STREAM)))
    minors = pop.minors()
    members = pop.members()
    n_fam = minors.shape[0]
    score = rule_scores(events, pop, calendar, process)
    factor = np.ones((n_fam, calendar.n_ext))
    open_until = np.full(n_fam, -1, dtype=np.int64)  # last month of the open case
    lenient = leniencies(seed, len(process.regions), params)
    first = int(calendar.month_of_day(np.array([day_number(deploy_from)]))[0])
    rows: dict[str, list[np.ndarray]] = {k: [] for k in _ROW_KEYS}
    for month in range(max(first, 0), calendar.n_months):
        with_minor = (minors[:, month] > 0) & (members[:, month] > 0)
        k = round(params.capacity * int(with_minor.sum()))
        candidates = np.flatnonzero(with_minor & (open_until < month))
        if k == 0 or candidates.size == 0:
            continue
        risk = score[candidates, month]
        order = np.lexsort((rng.random(candidates.size), -risk))
        flagged = candidates[order[:k]]
        n = flagged.size
        hidden = rng.random(n) < params.holdout_share
        worker = rng.integers(0, params.caseworkers_per_region, size=n)
        region = pop.region[flagged]
        offer_p = np.where(hidden, params.usual_offer, lenient[region, worker])
        offered = rng.random(n) < offer_p
        accepted = offered & (rng.random(n) < params.acceptance)
        programme = rng.integers(0, len(PROGRAMMES), size=n)
        lag = rng.integers(0, RECORDING_LAG_DAYS + 1, size=n)
        open_until[flagged] = month + params.support_months
        support = flagged[accepted]
        end = min(month + 1 + params.support_months, calendar.n_ext)
        factor[support, month + 1 : end] = 1.0 - params.effect
        day = int(calendar.month_start[month + 1] - 1)  # decided at the month's end
        for key, value in zip(
            _ROW_KEYS,
            (flagged, np.full(n, day), offered, accepted, hidden, region, worker, programme, lag),
            strict=True,
        ):
            rows[key].append(value)
    table = _table(rows, chunk, calendar, process)
    return Deployment(hazard_factor=factor, interventions=table)


_ROW_KEYS = (
    "family",
    "day",
    "offered",
    "accepted",
    "hidden",
    "region",
    "worker",
    "programme",
    "lag",
)


def _table(
    rows: dict[str, list[np.ndarray]], chunk: int, calendar: Calendar, process: ProcessParams
) -> pa.Table:
    """The contract's interventions rows; decisions recorded after the extract are not in it."""
    if not rows["family"]:
        return SCHEMAS["interventions"].empty_table()
    col = {key: np.concatenate(parts) for key, parts in rows.items()}
    recorded = col["day"] + col["lag"]
    keep = recorded <= calendar.end_day
    col = {key: value[keep] for key, value in col.items()}
    recorded = recorded[keep]
    n = len(recorded)
    offered, accepted = col["offered"], col["accepted"]
    region_codes = np.array([r.code for r in process.regions], dtype=object)
    caseworker = [
        f"CW-{code}-{w + 1:02d}"
        for code, w in zip(region_codes[col["region"]], col["worker"], strict=True)
    ]
    number = np.arange(n)
    yes_no = np.where(accepted, "yes", "no").astype(object)
    return pa.table(
        {
            "intervention_id": make_ids("I", chunk, number),
            "family_id": make_ids("F", chunk, col["family"]),
            "offered_date": pa.array(col["day"].astype(np.int32), pa.date32(), mask=~offered),
            "programme": pa.array(
                np.array(PROGRAMMES, dtype=object)[col["programme"]], pa.string(), mask=~offered
            ),
            "accepted": pa.array(yes_no, pa.string(), mask=~offered),
            "caseworker_id": pa.array(caseworker, pa.string()),
            "score_id": make_ids("S", chunk, number),
            "score_shown": pa.array(
                np.where(col["hidden"], "no", "yes").astype(object), pa.string()
            ),
            "recorded_date": pa.array(recorded.astype(np.int32), pa.date32()),
        },
        schema=SCHEMAS["interventions"],
    )


def thin_outcomes(
    outcomes: RecordColumns,
    factor: np.ndarray,
    calendar: Calendar,
    *,
    seed: int,
    chunk: int,
) -> RecordColumns:
    """The outcomes with support applied: a case (and the placement of the same family and
    month) in a family-month with hazard factor f survives with probability f.

    One uniform per family-month decides, so a case and its placement go together; it comes
    from the deployment's own stream, so no other draw of the chunk changes."""
    rng = np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(chunk, DEPLOYMENT_STREAM, 1))
    )
    keep_draw = rng.random(factor.shape)
    month = calendar.month_of_day(outcomes.day)
    qualifying = outcomes.kind <= 1  # child_protection_case, child_placed_in_care
    valid = (month >= 0) & (month < factor.shape[1])
    rows = np.flatnonzero(qualifying & valid)
    dropped = np.zeros(len(outcomes), dtype=bool)
    f, m = outcomes.family[rows], month[rows]
    dropped[rows] = keep_draw[f, m] >= factor[f, m]
    keep = ~dropped
    return RecordColumns(
        **{name: getattr(outcomes, name)[keep] for name in RecordColumns.__dataclass_fields__}
    )


def support_in_window(factor: np.ndarray, months: np.ndarray, horizon: int) -> np.ndarray:
    """(families, len(months)) whether any month of the label window after each month's
    end (months m+1 .. m+horizon) was supported."""
    supported = factor < 1.0
    cumulative = np.concatenate(
        [np.zeros((supported.shape[0], 1), dtype=np.int64), np.cumsum(supported, axis=1)], axis=1
    )
    hi = np.minimum(months + 1 + horizon, supported.shape[1])
    return (cumulative[:, hi] - cumulative[:, months + 1]) > 0
