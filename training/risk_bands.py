"""Risk levels from calibrated probabilities and the caseworkers' capacity.

Pure arithmetic on a population's probabilities: :func:`derive_bands` sets the levels'
cut-offs (``high``: as many families as caseworkers can reach and never more; ``elevated``:
a multiple of the base rate; ``low``: the rest), :class:`RiskBands` holds them and assigns
a level to each probability. Training sets them on the test slice for the model card and
audits them per group (:mod:`training.caseworker_facts`); the service sets them on the
population it serves (:mod:`serving.scoring`, which words them in the caseworker's
language). It lives in training, the lower layer, so both use the same rule without
training importing the service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Band:
    """One risk level: probabilities >= ``min_probability`` (below the next band's bound)."""

    level: str
    min_probability: float
    max_probability: float | None
    families: int


@dataclass(frozen=True)
class RiskBands:
    """The risk levels of a population and how their cut-offs were set.

    ``derived``: set by :func:`derive_bands` from the calibrated probabilities and the
    caseworkers' capacity (else fixed by the operator). ``capacity`` is the number of
    families caseworkers can reach, ``population`` the eligible families the cut-offs were
    set on, ``base_rate`` their average probability, ``elevated_ratio`` the multiple of it
    that starts "elevated".
    """

    bands: tuple[Band, ...]
    derived: bool
    population: int
    capacity: int
    base_rate: float
    elevated_ratio: float

    @property
    def bounds(self) -> np.ndarray:
        return np.asarray([b.min_probability for b in self.bands], dtype=np.float64)

    def levels(self, probability: np.ndarray) -> list[str]:
        """Risk level of each probability (the highest band whose bound it reaches)."""
        idx = np.searchsorted(self.bounds, probability, side="right") - 1
        levels = [b.level for b in self.bands]
        return [levels[i] for i in np.clip(idx, 0, len(levels) - 1)]

    def cutoffs(self) -> dict[str, float]:
        """Lower bound of each level (the numbers an audit uses as thresholds)."""
        return {b.level: b.min_probability for b in self.bands}


def band_counts(
    bounds: Sequence[tuple[str, float]], sorted_probabilities: np.ndarray
) -> tuple[Band, ...]:
    """Bands from (level, lower bound) pairs in rising order, each with the number of
    ``sorted_probabilities`` in it (ties at a bound belong to the band it starts)."""
    out = []
    for i, (level, low) in enumerate(bounds):
        high = bounds[i + 1][1] if i + 1 < len(bounds) else None
        start = int(np.searchsorted(sorted_probabilities, low, side="left"))
        stop = (
            sorted_probabilities.size
            if high is None
            else int(np.searchsorted(sorted_probabilities, high, side="left"))
        )
        out.append(Band(level, float(low), high, max(0, stop - start)))
    return tuple(out)


def capacity_families(
    population: int, *, capacity_count: int | None, capacity_fraction: float | None
) -> int:
    """Families caseworkers can reach: the count, else ceil(fraction x population)."""
    if capacity_count is not None:
        if capacity_count < 1:
            raise ValueError(f"capacity_count must be >= 1, got {capacity_count}")
        return min(capacity_count, population)
    if capacity_fraction is None or not 0.0 < capacity_fraction <= 1.0:
        raise ValueError(f"capacity_fraction must be in (0, 1], got {capacity_fraction}")
    return min(population, int(np.ceil(capacity_fraction * population - 1e-9)))


def derive_bands(
    probabilities: np.ndarray,
    *,
    capacity_count: int | None = None,
    capacity_fraction: float | None = 0.05,
    elevated_ratio: float = 2.0,
) -> RiskBands:
    """Cut-offs from the calibrated probabilities of the eligible population and capacity.

    ``high``: the families with the highest probability, as many as caseworkers can reach
    and never more. Its cut-off is the smallest probability ``v`` such that at most
    ``capacity`` families score ``>= v`` (ties are never split: with many equal scores the
    band holds fewer families than the capacity rather than more).
    ``elevated``: probability at least ``elevated_ratio`` times the population's average
    (the base rate), below the high cut-off; empty when that bound is above it.
    ``low``: the rest.
    """
    p = np.sort(np.asarray(probabilities, dtype=np.float64))
    if p.size == 0:
        raise ValueError("risk bands need at least one eligible family's probability")
    if not np.all(np.isfinite(p)):
        raise ValueError("risk bands need finite probabilities")
    if elevated_ratio <= 1.0:
        raise ValueError(f"elevated_ratio must be > 1, got {elevated_ratio}")
    k = capacity_families(
        p.size, capacity_count=capacity_count, capacity_fraction=capacity_fraction
    )
    distinct = np.unique(p)
    # families scoring >= each distinct value
    at_or_above = p.size - np.searchsorted(p, distinct, side="left")
    fits = np.flatnonzero(at_or_above <= k)
    # a cut-off above every score when even the top value's ties exceed the capacity
    high_cut = float(distinct[fits[0]]) if fits.size else float(np.nextafter(p[-1], 2.0))
    high_cut = max(high_cut, float(np.nextafter(0.0, 1.0)))
    base = float(p.mean())
    elevated_cut = min(max(elevated_ratio * base, float(np.nextafter(0.0, 1.0))), high_cut)
    bounds = [("low", 0.0), ("elevated", elevated_cut), ("high", high_cut)]
    return RiskBands(
        bands=band_counts(bounds, p),
        derived=True,
        population=int(p.size),
        capacity=k,
        base_rate=base,
        elevated_ratio=elevated_ratio,
    )
