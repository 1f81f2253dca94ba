"""The latent vulnerability chain, the outcome hazards, and the exact label probability.

``z`` moves on a fixed grid as a Markov chain whose transition depends on the family's
class in that month and on whether a shock (job loss, illness) hit. Because the chain is
finite, the probability that a family gets at least one *recorded* qualifying outcome in
the 12 months after a quarter end, given its state at that quarter end and its (exogenous)
composition, is a backward matrix recursion:

    S_k(i) = sum_j P_{class(k)}(i, j) * (1 - q_k(j)) * S_{k+1}(j),   S_{T+12} = 1,

with ``q_k(j)`` the monthly probability of a recorded case in state ``j``; the label
probability is ``1 - S_{T+1}(z_T)``. Nothing is estimated from simulated outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.synth.calendar import Calendar
from features.synth.process import OutcomeParams, ProcessParams


@dataclass
class LatentPath:
    """Simulated chain of a chunk: state index per family-month and the shock months."""

    state: np.ndarray  # (families, n_months) int, index into the grid
    shock: np.ndarray  # (families, n_months) bool
    grid: np.ndarray  # (K,) vulnerability value of each state

    @property
    def z(self) -> np.ndarray:
        """(families, n_months) latent vulnerability values."""
        return self.grid[self.state]


def simulate_latent(
    rng: np.random.Generator, class_path: np.ndarray, n_months: int, params: ProcessParams
) -> LatentPath:
    """Draw the chain for every family over the period months, all families at once."""
    lat = params.latent
    cum = np.cumsum(lat.transitions(), axis=-1)  # (classes, 2, K, K)
    stationary_cum = np.cumsum(lat.stationary(), axis=-1)  # (classes, K)
    n = len(class_path)
    k = len(lat.grid)
    state = np.empty((n, n_months), dtype=np.int64)
    shock = np.zeros((n, n_months), dtype=bool)
    u0 = rng.random(n)
    state[:, 0] = np.minimum((u0[:, None] > stationary_cum[class_path[:, 0]]).sum(axis=1), k - 1)
    for month in range(1, n_months):
        hit = rng.random(n) < lat.shock_probability
        rows = cum[class_path[:, month], hit.astype(np.int64), state[:, month - 1]]
        u = rng.random(n)
        state[:, month] = np.minimum((u[:, None] > rows).sum(axis=1), k - 1)
        shock[:, month] = hit
    return LatentPath(state=state, shock=shock, grid=lat.grid)


def case_hazard(z: np.ndarray, minors: np.ndarray, outcomes: OutcomeParams) -> np.ndarray:
    """Monthly probability that a qualifying incident (child protection case) happens."""
    extra = np.maximum(minors - 1, 0)
    hazard = np.exp(outcomes.case_intercept + outcomes.case_slope * z) * (
        1.0 + outcomes.case_per_extra_minor * extra
    )
    return np.where(minors > 0, np.minimum(hazard, outcomes.case_max_monthly), 0.0)


def detection_probability(surveilled: np.ndarray, outcomes: OutcomeParams) -> np.ndarray:
    """Probability that an incident that happened is recorded, per family."""
    return np.where(surveilled, outcomes.detection_surveilled, outcomes.detection)


def label_probabilities(
    latent: LatentPath,
    class_path: np.ndarray,
    minors: np.ndarray,
    detection: np.ndarray,
    calendar: Calendar,
    params: ProcessParams,
) -> np.ndarray:
    """(families, quarter ends) exact probability of >= 1 case in the 12 months after each.

    ``detection`` (families,) scales the hazard: pass the recording probability for the
    default label as the data records it, or ones for the probability that a case happens.

    The survival vector over the window depends on a family only through its monthly
    classes, minor counts and detection in that window (its *signature*); most families
    share a signature (all families without minors do), so the recursion runs once per
    distinct signature and is looked up for each family.
    """
    transition = params.latent.mixed_transitions()  # (classes, K, K)
    grid = latent.grid
    k = len(grid)
    quarter_months = calendar.quarter_end_months
    horizon = calendar.n_ext - calendar.n_months  # 12
    max_minors = int(minors.max()) if minors.size else 0
    hazard_table = case_hazard(
        grid[None, :], np.arange(max_minors + 1)[:, None], params.outcomes
    )  # (minors, K)
    det_values, det_code = np.unique(detection, return_inverse=True)
    result = np.empty((len(class_path), len(quarter_months)))
    for q, month in enumerate(quarter_months):
        window = slice(month + 1, month + 1 + horizon)
        signature = np.ascontiguousarray(
            np.concatenate([class_path[:, window], minors[:, window], det_code[:, None]], axis=1),
            dtype=np.int16,
        )
        # one opaque byte string per row: np.unique on it is far faster than axis=0
        rows = signature.view(np.dtype((np.void, signature.itemsize * signature.shape[1])))
        _, first, inverse = np.unique(rows.ravel(), return_index=True, return_inverse=True)
        unique = signature[first]
        classes, kids, det = unique[:, :horizon], unique[:, horizon:-1], unique[:, -1]
        survival = np.ones((len(unique), k))
        for step in range(horizon - 1, -1, -1):
            keep = 1.0 - hazard_table[kids[:, step]] * det_values[det][:, None]
            survival = np.einsum("uij,uj->ui", transition[classes[:, step]], keep * survival)
        state = latent.state[:, month]
        # clip: rounding leaves -1e-16 where no case can happen (no minor in the window)
        result[:, q] = np.clip(1.0 - survival[inverse.ravel(), state], 0.0, 1.0)
    return result
