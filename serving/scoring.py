"""Explained scores for a frame of model inputs: the core shared by the service and batch.

Pure computation, no I/O: a :class:`Scorer` turns rows of indicators into calibrated
probabilities, risk levels and ranked reasons; a :class:`ReferencePopulation` places a
probability among the population's scores (its percentile). The scorer also applies the
model's eligibility rule (:mod:`features.eligibility`, recorded with the model at training):
an ineligible family gets a status and a reason instead of a score, and is left out of the
reference population, so it inflates no percentile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.eligibility import EligibilityRule
from serving.explain import Explanation, explain_arrays
from serving.settings import RiskBand

# Up to this many rows, LightGBM runs single-threaded (thread start-up dominates).
SINGLE_THREAD_ROWS = 256


@dataclass(frozen=True)
class ScoredRows:
    """Scores of a frame's rows, aligned with its index."""

    index: pd.Index
    probability: np.ndarray
    raw_score: np.ndarray
    risk_level: list[str]
    explanations: list[Explanation]


class Scorer:
    """A risk model with its explanation settings; thread-safe (no mutable state)."""

    def __init__(
        self,
        model: object,
        *,
        descriptions: Mapping[str, str],
        bands: tuple[RiskBand, ...],
        n_raising: int = 5,
        n_lowering: int = 3,
        eligibility: EligibilityRule | None = None,
    ) -> None:
        self.model = model
        self.feature_names: list[str] = list(model.feature_names)  # type: ignore[attr-defined]
        self.eligibility = eligibility or EligibilityRule(kind="everyone")
        absent = [c for c in self.eligibility.columns if c not in self.feature_names]
        if absent:
            raise ValueError(
                f"the eligibility rule ({self.eligibility.describe()}) reads {absent}, which "
                "are not inputs of this model; it cannot be applied"
            )
        self.descriptions = dict(descriptions)
        self.bands = bands
        self.n_raising = n_raising
        self.n_lowering = n_lowering
        self._bounds = np.asarray([b.min_probability for b in bands], dtype=np.float64)
        self._levels = [b.level for b in bands]

    def levels(self, probability: np.ndarray) -> list[str]:
        """Risk level of each probability from the configured bands."""
        idx = np.searchsorted(self._bounds, probability, side="right") - 1
        return [self._levels[i] for i in np.clip(idx, 0, len(self._levels) - 1)]

    def inputs(self, X: pd.DataFrame) -> np.ndarray:
        """X's model inputs as a float64 matrix in the model's order."""
        if list(X.columns) == self.feature_names:
            return X.to_numpy(dtype=np.float64)
        return self.model.feature_matrix(X)  # type: ignore[attr-defined]

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Per-feature contributions plus bias (last column) for the rows of matrix.

        For a LightGBM model this calls the booster directly with one thread for small
        requests: OpenMP start-up costs milliseconds on a one-row request, the TreeSHAP
        itself microseconds. The numbers are those of ``RiskModel.contributions``.
        """
        booster = getattr(self.model, "booster", None)
        if booster is not None:
            threads = 1 if matrix.shape[0] <= SINGLE_THREAD_ROWS else 0
            out = booster.predict(matrix, pred_contrib=True, num_threads=threads)
            return np.asarray(out, dtype=np.float64)
        frame = pd.DataFrame(matrix, columns=self.feature_names)
        return self.model.contributions(frame).to_numpy(dtype=np.float64)  # type: ignore[attr-defined]

    def score(self, X: pd.DataFrame) -> ScoredRows:
        """Probability, level and reasons of every row of X (model inputs by name)."""
        return self.score_matrix(self.inputs(X), index=X.index)

    def score_matrix(self, matrix: np.ndarray, *, index: pd.Index | None = None) -> ScoredRows:
        """:meth:`score` on a matrix whose columns are ``feature_names`` (the hot path)."""
        if index is None:
            index = pd.RangeIndex(matrix.shape[0])
        contributions = self.contributions(matrix)
        raw = contributions.sum(axis=1)
        probability = np.asarray(self.model.calibrator.transform(raw), dtype=np.float64)  # type: ignore[attr-defined]
        explanations = explain_arrays(
            contributions[:, :-1],
            matrix,
            feature_names=self.feature_names,
            descriptions=self.descriptions,
            n_raising=self.n_raising,
            n_lowering=self.n_lowering,
        )
        return ScoredRows(
            index=index,
            probability=probability,
            raw_score=raw,
            risk_level=self.levels(probability),
            explanations=explanations,
        )

    def probabilities(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities only (no explanations), every row."""
        return np.asarray(self.model.predict_proba(X), dtype=np.float64)  # type: ignore[attr-defined]

    def eligible_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """True for each row of ``matrix`` (columns ``feature_names``) the rule lets be scored."""
        frame = pd.DataFrame(
            {c: matrix[:, self.feature_names.index(c)] for c in self.eligibility.columns},
            index=pd.RangeIndex(matrix.shape[0]),
        )
        return self.eligibility.mask(frame)

    def eligible(self, X: pd.DataFrame) -> np.ndarray:
        """True for each row of ``X`` the rule lets be scored."""
        return self.eligibility.mask(X)

    def reference_probabilities(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities of the eligible rows only: the population percentiles rank against."""
        return self.probabilities(X.loc[self.eligible(X)])


class ReferencePopulation:
    """The sorted scores of a population, for percentiles ("at or below" share, in %)."""

    def __init__(self, probabilities: Iterable[float] | np.ndarray) -> None:
        values = np.sort(
            np.asarray(
                list(probabilities) if not isinstance(probabilities, np.ndarray) else probabilities,
                dtype=np.float64,
            )
        )
        if values.size == 0:
            raise ValueError("a reference population needs at least one score")
        self.sorted_ = values

    @property
    def size(self) -> int:
        return int(self.sorted_.size)

    def percentile(self, probability: np.ndarray | float) -> np.ndarray:
        """100 x share of the population with a score <= probability."""
        at_or_below = np.searchsorted(self.sorted_, probability, side="right")
        return 100.0 * at_or_below / self.sorted_.size
