"""Decision rules: turn scores into the boolean "selected for a support offer" column.

A rule is applied to the *whole* population at once, never group by group, because that is
how caseworker capacity works: the top 500 families of the region are offered support,
whatever group they belong to. The audit then asks how that single selection falls on groups.

Tie-breaking is deterministic and documented, so the same file always gives the same audit:

* :class:`Threshold` selects ``score >= threshold`` (ties at the threshold are selected; this
  is the convention of published audits, e.g. "medium or high" risk means ``decile >= 5``).
* :class:`TopK` and :class:`TopFraction` rank by score, highest first; among equal scores the
  row that comes *first in the input order* wins (a stable sort). Row order is therefore part
  of the input; sort the file beforehand if another tie-break is wanted.
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


def _top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the k highest scores; ties broken by input order (stable sort)."""
    array = _as_scores(scores)
    selected = np.zeros(array.shape[0], dtype=bool)
    if k <= 0:
        return selected
    # Stable sort of the negated scores keeps the input order among equal scores.
    order = np.argsort(-array, kind="stable")
    selected[order[: min(k, array.shape[0])]] = True
    return selected


@dataclass(frozen=True)
class TopK(DecisionRule):
    """Select the ``k`` highest-scoring rows (capacity as a count); ties by input order."""

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
    """Select the ``floor(fraction * n)`` highest-scoring rows; ties by input order.

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
