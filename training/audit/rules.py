"""Decision rules: turn scores into the boolean "selected for a support offer" column.

A rule is applied to the *whole* population at once, never group by group, because that is
how caseworker capacity works: the top 500 families of the region are offered support,
whatever group they belong to. The audit then asks how that single selection falls on groups.

Tie-breaking is deterministic and documented, so the same file always gives the same audit:

* :class:`Threshold` selects ``score >= threshold`` (ties at the threshold are selected; this
  is the convention of published audits, e.g. "medium or high" risk means ``decile >= 5``).
* :class:`TopK` and :class:`TopFraction` rank by score, highest first, and select every row
  whose score is at least the k-th highest. Rows tied at that cut-off cannot be told apart by
  the score, so they are *all* selected: the selection never depends on row order (on a
  coarse 1-5 scale, breaking ties by position gave opposite "clear" disparities from one
  shuffle of the same file to the next). When ties straddle the capacity the selection is
  larger than k; :func:`ties_at_cutoff` says by how much, and the audit reports and prints it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


class DecisionRule(ABC):
    """Base class: :meth:`select` maps a 1-D score array to a boolean selection array."""

    @abstractmethod
    def select(self, scores: np.ndarray) -> np.ndarray:
        """The boolean selection, one entry per score."""

    @abstractmethod
    def describe(self) -> str:
        """The rule in words, for reports."""

    @abstractmethod
    def to_dict(self) -> dict[str, object]:
        """The rule as plain data, for the JSON report."""


def _as_scores(scores: np.ndarray) -> np.ndarray:
    array = np.asarray(scores, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {array.shape}")
    n_missing = int(np.isnan(array).sum())
    if n_missing:
        raise ValueError(f"scores contain {n_missing} missing value(s); a rule needs every score")
    return array


@dataclass(frozen=True)
class Threshold(DecisionRule):
    """Select every row whose score is at least ``threshold`` (``score >= threshold``)."""

    threshold: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.threshold):
            raise ValueError(f"threshold must be a finite number, got {self.threshold!r}")

    def select(self, scores: np.ndarray) -> np.ndarray:
        return _as_scores(scores) >= self.threshold

    def describe(self) -> str:
        return f"score >= {self.threshold:g}"

    def to_dict(self) -> dict[str, object]:
        return {"kind": "threshold", "threshold": float(self.threshold)}


def _cutoff(array: np.ndarray, k: int) -> float | None:
    """The k-th highest score (None when k selects nothing)."""
    if k <= 0 or array.shape[0] == 0:
        return None
    k = min(k, array.shape[0])
    return float(np.partition(array, array.shape[0] - k)[array.shape[0] - k])


def _top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows scoring at least the k-th highest score: the k highest plus every row tied
    with the last of them (order-independent; may exceed k when ties straddle the cut)."""
    array = _as_scores(scores)
    cutoff = _cutoff(array, k)
    if cutoff is None:
        return np.zeros(array.shape[0], dtype=bool)
    return array >= cutoff


@dataclass(frozen=True)
class TieReport:
    """Rows tied at a capacity rule's cut-off, when the tie straddles the capacity."""

    capacity: int
    cutoff: float
    above: int
    tied: int

    @property
    def selected(self) -> int:
        return self.above + self.tied

    def message(self) -> str:
        return (
            f"{self.tied:,} rows share the cut-off score {self.cutoff:g}; the capacity of "
            f"{self.capacity:,} falls inside that tie, and the score cannot tell those rows "
            f"apart, so all are selected: {self.selected:,} rows instead of {self.capacity:,} "
            f"({self.above:,} score above the cut-off). Consider --threshold on this scale."
        )

    def to_dict(self) -> dict[str, float | int]:
        return {
            "capacity": self.capacity,
            "cutoff": self.cutoff,
            "above": self.above,
            "tied": self.tied,
            "selected": self.selected,
        }


def ties_at_cutoff(rule: DecisionRule, scores: np.ndarray) -> TieReport | None:
    """The tie a capacity rule (TopK, TopFraction) selects whole beyond its capacity, if any."""
    if isinstance(rule, TopK):
        capacity = int(rule.k)
    elif isinstance(rule, TopFraction):
        capacity = rule.count(np.asarray(scores).shape[0])
    else:
        return None
    array = _as_scores(scores)
    cutoff = _cutoff(array, capacity)
    if cutoff is None:
        return None
    above = int((array > cutoff).sum())
    tied = int((array == cutoff).sum())
    if above + tied <= capacity:
        return None
    return TieReport(capacity=capacity, cutoff=cutoff, above=above, tied=tied)


@dataclass(frozen=True)
class TopK(DecisionRule):
    """Select the ``k`` highest-scoring rows (capacity as a count), and every row tied with
    the k-th (see the module docstring)."""

    k: int

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or int(self.k) != self.k or self.k < 1:
            raise ValueError(f"top-k needs a positive whole number, got {self.k!r}")

    def select(self, scores: np.ndarray) -> np.ndarray:
        array = _as_scores(scores)
        if self.k > array.shape[0]:
            raise ValueError(f"top-k asks for {self.k} rows but there are only {array.shape[0]}")
        return _top_rows(array, int(self.k))

    def describe(self) -> str:
        return f"top {self.k} scores"

    def to_dict(self) -> dict[str, object]:
        return {"kind": "top_k", "k": int(self.k)}


@dataclass(frozen=True)
class TopFraction(DecisionRule):
    """Select the ``floor(fraction * n)`` highest-scoring rows, and every row tied with the
    last of them (see the module docstring).

    The count is rounded *down* so the selection never exceeds the stated capacity.
    """

    fraction: float

    def __post_init__(self) -> None:
        if not (0.0 < self.fraction <= 1.0):
            raise ValueError(f"top-fraction must be in (0, 1], got {self.fraction!r}")

    def count(self, n: int) -> int:
        """Number of rows selected out of n (a tiny epsilon absorbs float error: 0.1*30=3)."""
        return math.floor(self.fraction * n + 1e-9)

    def select(self, scores: np.ndarray) -> np.ndarray:
        array = _as_scores(scores)
        return _top_rows(array, self.count(array.shape[0]))

    def describe(self) -> str:
        return f"top {self.fraction:.4g} fraction of scores"

    def to_dict(self) -> dict[str, object]:
        return {"kind": "top_fraction", "fraction": float(self.fraction)}


def rule_from_dict(spec: dict[str, object]) -> DecisionRule:
    """Rebuild a rule from :meth:`DecisionRule.to_dict` output (used by reports and configs)."""
    kind = spec.get("kind")
    if kind == "threshold":
        return Threshold(float(spec["threshold"]))  # type: ignore[arg-type]
    if kind == "top_k":
        return TopK(int(spec["k"]))  # type: ignore[call-overload]
    if kind == "top_fraction":
        return TopFraction(float(spec["fraction"]))  # type: ignore[arg-type]
    raise ValueError(f"unknown decision rule kind {kind!r}; use threshold, top_k or top_fraction")
