"""Explained scores for a frame of model inputs: the core shared by the service and batch.

Pure computation, no I/O: a :class:`Scorer` turns rows of indicators into calibrated
probabilities and explanations (:mod:`serving.explain`); :func:`derive_bands` sets the
risk levels' cut-offs from the calibrated probabilities of the eligible population and the
caseworkers' capacity (:class:`RiskBands`; both live in :mod:`training.risk_bands`, the
rule training audits on the model card), :func:`describe_bands` words them; a
:class:`ReferencePopulation` places a probability among the eligible population's scores
(its percentile, rounded). The scorer also applies the model's eligibility rule
(:mod:`features.eligibility`, recorded with the model at training): an ineligible family
gets a status and a reason instead of a score, and is left out of the reference population,
so it moves no band cut-off and no percentile. Every booster call goes through
:mod:`training.lightgbm_adapter`, under the lock training takes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.eligibility import EligibilityRule
from serving.explain import (
    PROBABILITY_DECIMALS,
    Explanation,
    IndicatorInfo,
    catalogue_entries,
    explain_arrays,
    probability_contributions,
)
from serving.i18n import Language, band_meaning, level_name
from serving.settings import RiskBand
from training import lightgbm_adapter as lgbx
from training.risk_bands import Band, RiskBands, band_counts, capacity_families, derive_bands

__all__ = [
    "Band",
    "ReferencePopulation",
    "RiskBands",
    "ScoredRows",
    "Scorer",
    "capacity_families",
    "derive_bands",
    "describe_bands",
    "fixed_bands",
]

# Up to this many rows, LightGBM runs single-threaded (thread start-up dominates).
SINGLE_THREAD_ROWS = 256
LEVELS: tuple[str, ...] = ("low", "elevated", "high")
# Percentiles are shown to one decimal: finer is noise to a person.
PERCENTILE_DECIMALS = 1


@dataclass(frozen=True)
class ScoredRows:
    """Scores of a frame's rows, aligned with its index (``risk_level`` only with bands)."""

    index: pd.Index
    probability: np.ndarray
    raw_score: np.ndarray
    baseline: np.ndarray
    explanations: list[Explanation]
    risk_level: list[str] | None = None


class Scorer:
    """A risk model with its explanation settings; thread-safe (no mutable state)."""

    def __init__(
        self,
        model: object,
        *,
        indicators: Mapping[str, IndicatorInfo] | None = None,
        min_contribution: float = 0.0,
        n_raising: int = 5,
        n_lowering: int = 3,
        n_context: int = 5,
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
        self.indicators = (
            dict(indicators) if indicators is not None else catalogue_entries(self.feature_names)
        )
        self.min_contribution = min_contribution
        self.n_raising = n_raising
        self.n_lowering = n_lowering
        self.n_context = n_context

    def inputs(self, X: pd.DataFrame) -> np.ndarray:
        """X's model inputs as a float64 matrix in the model's order."""
        if list(X.columns) == self.feature_names:
            return X.to_numpy(dtype=np.float64)
        return self.model.feature_matrix(X)  # type: ignore[attr-defined]

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Per-feature raw-score contributions plus bias (last column) for the rows of matrix.

        For a LightGBM model this goes to the booster through :mod:`training.lightgbm_adapter`
        (under the process-wide lock training takes too) with one thread for small requests:
        OpenMP start-up costs milliseconds on a one-row request, the TreeSHAP itself
        microseconds. The numbers are those of ``RiskModel.contributions``.
        """
        booster = getattr(self.model, "booster", None)
        if booster is not None:
            threads = 1 if matrix.shape[0] <= SINGLE_THREAD_ROWS else 0
            return lgbx.predict_contributions(booster, matrix, num_threads=threads)
        frame = pd.DataFrame(matrix, columns=self.feature_names)
        return self.model.contributions(frame).to_numpy(dtype=np.float64)  # type: ignore[attr-defined]

    def score(self, X: pd.DataFrame, *, bands: RiskBands | None = None) -> ScoredRows:
        """Probability, reasons (and level, given bands) of every row of X."""
        return self.score_matrix(self.inputs(X), index=X.index, bands=bands)

    def score_matrix(
        self,
        matrix: np.ndarray,
        *,
        index: pd.Index | None = None,
        bands: RiskBands | None = None,
    ) -> ScoredRows:
        """:meth:`score` on a matrix whose columns are ``feature_names`` (the hot path)."""
        if index is None:
            index = pd.RangeIndex(matrix.shape[0])
        if matrix.shape[0] == 0:
            # LightGBM cannot predict zero rows (a batch partition with no eligible family)
            empty = np.empty(0, dtype=np.float64)
            return ScoredRows(
                index=index,
                probability=empty,
                raw_score=empty,
                baseline=empty,
                explanations=[],
                risk_level=None if bands is None else [],
            )
        contributions = self.contributions(matrix)
        raw = contributions.sum(axis=1)
        transform = self.model.calibrator.transform  # type: ignore[attr-defined]
        probability = np.asarray(transform(raw), dtype=np.float64)
        points, baseline = probability_contributions(
            contributions[:, :-1], contributions[:, -1], probability, transform
        )
        explanations = explain_arrays(
            points,
            matrix,
            baseline=baseline,
            feature_names=self.feature_names,
            indicators=self.indicators,
            min_contribution=self.min_contribution,
            n_raising=self.n_raising,
            n_lowering=self.n_lowering,
            n_context=self.n_context,
        )
        # served, logged and banded as one rounded number (the reasons use the exact one)
        shown = np.round(probability, PROBABILITY_DECIMALS)
        return ScoredRows(
            index=index,
            probability=shown,
            raw_score=raw,
            baseline=np.round(baseline, PROBABILITY_DECIMALS),
            explanations=explanations,
            risk_level=None if bands is None else bands.levels(shown),
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


def describe_bands(bands: RiskBands, lang: Language) -> list[dict[str, object]]:
    """Every band with its name and meaning in lang (the ``risk_bands`` field)."""
    return [
        {
            "level": b.level,
            "name": level_name(b.level, lang),
            "min_probability": round(b.min_probability, 6),
            "max_probability": (None if b.max_probability is None else round(b.max_probability, 6)),
            "families": b.families,
            "meaning": band_meaning(
                b.level,
                lang=lang,
                lower=b.min_probability,
                upper=b.max_probability,
                derived=bands.derived,
                count=b.families,
                share=bands.capacity / bands.population if bands.population else 0.0,
                ratio=bands.elevated_ratio,
                base=bands.base_rate,
            ),
        }
        for b in bands.bands
    ]


def fixed_bands(bands: tuple[RiskBand, ...], probabilities: np.ndarray) -> RiskBands:
    """Bands whose cut-offs the operator set (EARLYRISK_RISK_BANDS), counted on a population."""
    p = np.sort(np.asarray(probabilities, dtype=np.float64))
    bounds = [(b.level, b.min_probability) for b in bands]
    return RiskBands(
        bands=band_counts(bounds, p),
        derived=False,
        population=int(p.size),
        capacity=0,
        base_rate=float(p.mean()) if p.size else 0.0,
        elevated_ratio=0.0,
    )


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
        """100 x share of the population with a score <= probability, to one decimal."""
        at_or_below = np.searchsorted(self.sorted_, probability, side="right")
        return np.round(100.0 * at_or_below / self.sorted_.size, PERCENTILE_DECIMALS)
