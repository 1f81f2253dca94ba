"""What would change the level: the smallest set of mutable changes that brings a family's
probability below its level's cut-off, found by re-scoring the model, never guessed.

For a family at level ``high`` (or ``elevated``) the cut-off is that level's lower bound.
Every subset of the catalogue's changes that would alter one of the family's values
(:mod:`serving.dossier.mutable`; at most 12, so at most 4096 rows) is applied to the
family's row and the rows are scored in one call, exactly as the service scores a family
(:func:`rescored_probabilities`: TreeSHAP's sum through the calibrator, rounded to the
served precision, the number the level is set on). The answer is the smallest subset whose
probability falls below the cut-off; among equally small ones, the lowest probability, then
the catalogue's order. When no subset does, the dossier says so (with the probability all
of them together would give): the level then rests on records no family can change.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from serving.dossier.mutable import MUTABLE_CHANGES, Change
from serving.explain import PROBABILITY_DECIMALS
from serving.scoring import RiskBands, Scorer

LEVEL_ORDER: tuple[str, ...] = ("low", "elevated", "high")


@dataclass(frozen=True)
class IndicatorChange:
    """One indicator's value before and after a change."""

    indicator: str
    before: float
    after: float


@dataclass(frozen=True)
class AppliedChange:
    """A catalogue change as it applies to one family."""

    code: str
    indicators: tuple[IndicatorChange, ...]


@dataclass(frozen=True)
class Counterfactual:
    """The result of the search for one family's score.

    ``found``: some subset brings the probability below ``cutoff`` (then ``changes`` is the
    smallest, ``probability`` and ``level`` what the model gives with them); otherwise
    ``changes`` holds every applicable change and ``probability`` what all of them give.
    ``cutoff`` is None for a family at the lowest level (nothing to search).
    """

    level: str
    cutoff: float | None
    found: bool
    changes: tuple[AppliedChange, ...]
    probability: float | None
    new_level: str | None
    rescored_rows: int

    def as_dict(self) -> dict[str, object]:
        """Language-free JSON form (the numbers a test re-derives)."""
        return {
            "level": self.level,
            "cutoff": self.cutoff,
            "found": self.found,
            "probability": self.probability,
            "new_level": self.new_level,
            "rescored_rows": self.rescored_rows,
            "changes": [
                {
                    "code": c.code,
                    "indicators": [
                        {"indicator": i.indicator, "before": _num(i.before), "after": i.after}
                        for i in c.indicators
                    ],
                }
                for c in self.changes
            ],
        }


def _num(value: float) -> float | None:
    return None if math.isnan(value) else value


def rescored_probabilities(scorer: Scorer, matrix: np.ndarray) -> np.ndarray:
    """The served probability of each row: the same arithmetic as
    :meth:`serving.scoring.Scorer.score_matrix` (contributions summed, calibrated, rounded),
    without the explanations, so a re-scored row and a served score are one number."""
    if matrix.shape[0] == 0:
        return np.empty(0, dtype=np.float64)
    raw = scorer.contributions(matrix).sum(axis=1)
    transform = scorer.model.calibrator.transform  # type: ignore[attr-defined]
    probability = np.asarray(transform(raw), dtype=np.float64)
    return np.round(probability, PROBABILITY_DECIMALS)


def applicable(
    row: np.ndarray, feature_names: Sequence[str], changes: Sequence[Change]
) -> list[AppliedChange]:
    """The changes that would alter at least one of the family's model inputs."""
    position = {name: i for i, name in enumerate(feature_names)}
    out = []
    for change in changes:
        moved = []
        for name in change.indicators:
            if name not in position:
                continue
            before = float(row[position[name]])
            after = change.resolve(name, before)
            if not math.isnan(before) and after != before:
                moved.append(IndicatorChange(name, before, after))
        if moved:
            out.append(AppliedChange(change.code, tuple(moved)))
    return out


def smallest_changes(
    scorer: Scorer,
    row: np.ndarray,
    *,
    level: str,
    bands: RiskBands,
    changes: Sequence[Change] = MUTABLE_CHANGES,
) -> Counterfactual:
    """The smallest set of ``changes`` that brings ``row`` (the family's model inputs in
    ``scorer.feature_names`` order) below the cut-off of ``level`` in ``bands``."""
    if level not in LEVEL_ORDER:
        raise ValueError(f"level {level!r} is not one of {LEVEL_ORDER}")
    cutoffs = bands.cutoffs()
    if level == bands.bands[0].level or level not in cutoffs:
        return Counterfactual(level, None, False, (), None, None, 0)
    cutoff = float(cutoffs[level])
    options = applicable(row, scorer.feature_names, changes)
    if not options:
        return Counterfactual(level, cutoff, False, (), None, None, 0)
    position = {name: i for i, name in enumerate(scorer.feature_names)}
    subsets = [
        combo
        for size in range(1, len(options) + 1)
        for combo in itertools.combinations(range(len(options)), size)
    ]
    matrix = np.repeat(np.asarray(row, dtype=np.float64)[None, :], len(subsets), axis=0)
    for r, combo in enumerate(subsets):
        for k in combo:
            for moved in options[k].indicators:
                matrix[r, position[moved.indicator]] = moved.after
    probability = rescored_probabilities(scorer, matrix)
    below = probability < cutoff
    if below.any():
        # smallest size first, then the lowest probability, then the catalogue's order
        best = int(min(np.flatnonzero(below), key=lambda r: (len(subsets[r]), probability[r], r)))
        found = True
    else:
        best = len(subsets) - 1  # every applicable change together
        found = False
    p = float(probability[best])
    return Counterfactual(
        level=level,
        cutoff=cutoff,
        found=found,
        changes=tuple(options[k] for k in subsets[best]),
        probability=p,
        new_level=bands.levels(np.asarray([p]))[0],
        rescored_rows=len(subsets),
    )
