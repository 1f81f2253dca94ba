"""One chunk of the synthetic registry: population -> latent path -> records -> Arrow tables.

A chunk is a pure function of ``(config, chunk index)``: its random stream is seeded from
the master seed and the chunk index (``SeedSequence(seed, spawn_key=(chunk,))``), so the
registry does not depend on how many processes generate it or in which order, and chunk
``k`` of a larger registry is the same as chunk ``k`` of a smaller one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from threadpoolctl import threadpool_limits

from features.contract import SETTLEMENTS, SEXES
from features.synth.calendar import Calendar
from features.synth.deployment import (
    Deployment,
    DeploymentParams,
    simulate_deployment,
    support_in_window,
    thin_outcomes,
)
from features.synth.ids import make_ids, make_nullable_ids
from features.synth.latent import (
    LatentPath,
    detection_probability,
    label_probabilities,
    simulate_latent,
)
from features.synth.population import Population, simulate_population
from features.synth.process import (
    DEFAULT_PARAMS,
    ETHNICITIES,
    LANGUAGES,
    ProcessParams,
    SynthConfig,
)
from features.synth.records import (
    EVENT_NAMES,
    OUTCOME_NAMES,
    SOURCES,
    detail_vocabulary,
    generate_records,
)
from features.synth.schemas import GROUND_TRUTH_DEPLOYED, ROLE_NAMES, SCHEMAS


@dataclass
class ChunkResult:
    """The tables of one chunk, plus the latent path for diagnostics and tests."""

    chunk: int
    tables: dict[str, pa.Table]
    population: Population
    latent: LatentPath
    surveilled: np.ndarray


def chunk_rng(seed: int, chunk: int) -> np.random.Generator:
    """The random stream of chunk ``chunk``: the chunk-th child of the master seed."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(chunk,)))


def _decode(names: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    """Strings for integer codes into ``names`` (-1 gives null)."""
    return pc.take(pa.array(list(names), pa.string()), pa.array(codes, mask=codes < 0))


def _dates(days: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(days.astype(np.int32), type=pa.date32(), mask=null)


def generate_chunk(
    config: SynthConfig, chunk: int, params: ProcessParams = DEFAULT_PARAMS
) -> ChunkResult:
    """Generate chunk ``chunk`` of the registry described by ``config``.

    BLAS runs single-threaded here: the matrices are tiny (states x states) and extra
    threads only contend with the other chunk workers for the same cores.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _generate_chunk(config, chunk, params)


def _generate_chunk(config: SynthConfig, chunk: int, params: ProcessParams) -> ChunkResult:
    if not 0 <= chunk < config.n_chunks:
        raise ValueError(f"chunk {chunk} out of range: the registry has {config.n_chunks}")
    rng = chunk_rng(config.seed, chunk)
    calendar = Calendar.build(config.start, config.end)
    pop = simulate_population(rng, config.chunk_size(chunk), calendar, params)
    latent = simulate_latent(rng, pop.class_path, calendar.n_months, params)
    surveilled = pop.ethnicity == ETHNICITIES.index(params.bias.value)
    events, outcomes = generate_records(rng, pop, latent, surveilled, calendar, params)
    deployment = None
    if config.deploy_from is not None:
        deployment = simulate_deployment(
            seed=config.seed,
            chunk=chunk,
            deploy_from=config.deploy_from,
            pop=pop,
            events=events,
            calendar=calendar,
            process=params,
            params=DeploymentParams(
                effect=config.support_effect,
                holdout_share=config.holdout_share,
                capacity=config.deploy_capacity,
                support_months=config.deploy_support_months,
                acceptance=config.deploy_acceptance,
                leniency=config.deploy_leniency,
            ),
        )
        outcomes = thin_outcomes(
            outcomes, deployment.hazard_factor, calendar, seed=config.seed, chunk=chunk
        )
    end = calendar.end_day

    # families: those formed by the end of the period
    fam_keep = np.flatnonzero(pop.registered_day <= end)
    families = pa.table(
        {
            "family_id": make_ids("F", chunk, fam_keep),
            "region": _decode(tuple(r.code for r in params.regions), pop.region[fam_keep]),
            # codes index the contract's order: rural 1 is SETTLEMENTS[1], sex 1 is SEXES[1]
            "settlement": _decode(SETTLEMENTS, pop.rural[fam_keep].astype(np.int64)),
            "registered_date": _dates(pop.registered_day[fam_keep]),
        },
        schema=SCHEMAS["families"],
    )

    # memberships that started by the end; later ends are still open in the extract
    keep = np.flatnonzero(pop.m_start <= end)
    m_end = pop.m_end[keep]
    open_ = (m_end < 0) | (m_end > end)
    memberships = pa.table(
        {
            "person_id": make_ids("P", chunk, pop.m_person[keep]),
            "family_id": make_ids("F", chunk, pop.m_family[keep]),
            "role": _decode(ROLE_NAMES, pop.m_role[keep].astype(np.int64)),
            "start_date": _dates(pop.m_start[keep]),
            "end_date": _dates(np.where(open_, 0, m_end), null=open_),
        },
        schema=SCHEMAS["memberships"],
    )
    person_keep = np.unique(pop.m_person[keep])
    persons = pa.table(
        {
            "person_id": make_ids("P", chunk, person_keep),
            "birth_date": _dates(pop.birth_day[person_keep]),
            "sex": _decode(SEXES, pop.sex[person_keep].astype(np.int64)),
        },
        schema=SCHEMAS["persons"],
    )

    details = detail_vocabulary(params)
    events_table = pa.table(
        {
            "event_id": make_ids("E", chunk, np.arange(len(events))),
            "family_id": make_nullable_ids("F", chunk, events.family),
            "person_id": make_nullable_ids("P", chunk, events.person),
            "event_type": _decode(EVENT_NAMES, events.kind.astype(np.int64)),
            "detail": _decode(details, events.detail.astype(np.int64)),
            "event_date": _dates(events.day),
            "recorded_date": _dates(events.recorded),
            "value": pa.array(events.value, mask=np.isnan(events.value)),
            "source": _decode(SOURCES, events.source.astype(np.int64)),
        },
        schema=SCHEMAS["events"],
    )
    outcomes_table = pa.table(
        {
            "family_id": make_ids("F", chunk, outcomes.family),
            "person_id": make_nullable_ids("P", chunk, outcomes.person),
            "outcome_type": _decode(OUTCOME_NAMES, outcomes.kind.astype(np.int64)),
            "outcome_date": _dates(outcomes.day),
            "recorded_date": _dates(outcomes.recorded),
        },
        schema=SCHEMAS["outcomes"],
    )

    disability_names = ("no", "yes")
    n_keep = len(fam_keep)
    protected = pa.table(
        {
            "family_id": pa.concat_arrays([make_ids("F", chunk, fam_keep)] * 3),
            "attribute": pa.array(
                np.repeat(["ethnicity", "primary_language", "disability_in_family"], n_keep)
            ),
            "value": pa.concat_arrays(
                [
                    _decode(ETHNICITIES, pop.ethnicity[fam_keep]),
                    _decode(LANGUAGES, pop.language[fam_keep]),
                    _decode(disability_names, pop.disability[fam_keep].astype(np.int64)),
                ]
            ),
        },
        schema=SCHEMAS["protected"],
    )

    ground_truth = _ground_truth(chunk, pop, latent, surveilled, calendar, params)
    tables = {
        "families": families,
        "persons": persons,
        "memberships": memberships,
        "events": events_table,
        "outcomes": outcomes_table,
        "protected": protected,
        "ground_truth": ground_truth,
    }
    if deployment is not None:
        tables["ground_truth"] = _with_support(
            ground_truth, pop, latent, surveilled, calendar, params, config, deployment
        )
        tables["interventions"] = deployment.interventions
    return ChunkResult(
        chunk=chunk,
        tables=tables,
        population=pop,
        latent=latent,
        surveilled=surveilled,
    )


def _with_support(
    truth: pa.Table,
    pop: Population,
    latent: LatentPath,
    surveilled: np.ndarray,
    calendar: Calendar,
    params: ProcessParams,
    config: SynthConfig,
    deployment: Deployment,
) -> pa.Table:
    """The truth's rows plus each family's label probability with and without support.

    "With support" is exact: support through the whole window scales the case hazard by
    ``1 - effect`` in every month, which is what the recursion's per-family hazard scale
    (``detection``) does; "without" is the ``true_probability``."""
    supported = label_probabilities(
        latent,
        pop.class_path,
        pop.minors(),
        detection_probability(surveilled, params.outcomes) * (1.0 - config.support_effect),
        calendar,
        params,
    )
    quarter_months = calendar.quarter_end_months
    exists = pop.members()[:, quarter_months] > 0
    fam, q = np.nonzero(exists)  # the same order as _ground_truth's rows
    in_window = support_in_window(
        deployment.hazard_factor, quarter_months, calendar.n_ext - calendar.n_months
    )
    return pa.table(
        {
            **{name: truth[name] for name in truth.column_names},
            "probability_without_support": truth["true_probability"],
            "probability_with_support": pa.array(supported[fam, q]),
            "support_in_window": pa.array(in_window[fam, q]),
        },
        schema=GROUND_TRUTH_DEPLOYED,
    )


def _ground_truth(
    chunk: int,
    pop: Population,
    latent: LatentPath,
    surveilled: np.ndarray,
    calendar: Calendar,
    params: ProcessParams,
) -> pa.Table:
    """True label probabilities at every quarter end for every family with a member."""
    minors = pop.minors()
    recorded = label_probabilities(
        latent,
        pop.class_path,
        minors,
        detection_probability(surveilled, params.outcomes),
        calendar,
        params,
    )
    occurring = label_probabilities(
        latent, pop.class_path, minors, np.ones(len(surveilled)), calendar, params
    )
    quarter_months = calendar.quarter_end_months
    exists = pop.members()[:, quarter_months] > 0  # (families, quarters)
    fam, q = np.nonzero(exists)
    return pa.table(
        {
            "family_id": make_ids("F", chunk, fam),
            "as_of": _dates(calendar.quarter_end_days[q]),
            "true_probability": pa.array(recorded[fam, q]),
            "occurrence_probability": pa.array(occurring[fam, q]),
            "latent_vulnerability": pa.array(latent.grid[latent.state[fam, quarter_months[q]]]),
        },
        schema=SCHEMAS["ground_truth"],
    )
