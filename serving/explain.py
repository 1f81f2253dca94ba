"""Reasons for a score, from the model's exact per-feature contributions.

The contributions are LightGBM's TreeSHAP values on the raw (log-odds) score, one column
per indicator plus ``bias``, summing to the raw score. The calibrator is monotone in the
raw score, so an indicator with a positive contribution pushes the calibrated probability
up and one with a negative contribution pushes it down: ranking by contribution is a
ranking of what raised and lowered *this* family's risk. Zero contributions are not
reasons. Descriptions come from the feature catalogue, in the words a caseworker uses.

The HTTP service and the batch scorer both call :func:`explain`, so a family gets the same
reasons whichever path scored it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Reason:
    """One indicator's part in a score."""

    indicator: str
    description: str
    value: float | None
    contribution: float

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (the shape of the service's reason objects)."""
        return {
            "indicator": self.indicator,
            "description": self.description,
            "value": self.value,
            "contribution": self.contribution,
        }


@dataclass(frozen=True)
class Explanation:
    """The ranked reasons of one score: raising (largest first) and lowering (most first)."""

    raising: list[Reason]
    lowering: list[Reason]


def catalogue_descriptions(feature_names: Iterable[str]) -> dict[str, str]:
    """Plain-language description of each model input, from ``features.catalogue``.

    Raises KeyError naming the indicators the catalogue does not describe: a reason a
    caseworker cannot read is not a reason, so the service refuses to start without one.
    """
    from features.catalogue import FEATURES

    names = list(feature_names)
    missing = [name for name in names if name not in FEATURES]
    if missing:
        raise KeyError(
            f"the feature catalogue has no description for model input(s) {missing}; "
            "the model and the catalogue are out of step"
        )
    return {name: FEATURES[name].description for name in names}


def _value(raw: object) -> float | None:
    value = float(raw)  # type: ignore[arg-type]
    return None if math.isnan(value) else value


def explain(
    contributions: pd.DataFrame,
    values: pd.DataFrame,
    *,
    descriptions: Mapping[str, str],
    n_raising: int = 5,
    n_lowering: int = 3,
) -> list[Explanation]:
    """Ranked reasons for every row of contributions (rows aligned with values).

    ``contributions`` holds one column per indicator plus ``bias``; ``values`` holds the
    same indicators (the family's values). Ties are broken by indicator name, so the
    reasons are deterministic.
    """
    features = [c for c in contributions.columns if c != "bias"]
    missing = [f for f in features if f not in values.columns]
    if missing:
        raise KeyError(f"values lack the indicator column(s) {missing}")
    if len(contributions) != len(values):
        raise ValueError(
            f"contributions have {len(contributions)} rows but values have {len(values)}"
        )
    return explain_arrays(
        contributions[features].to_numpy(dtype=np.float64),
        values[features].to_numpy(dtype=np.float64),
        feature_names=features,
        descriptions=descriptions,
        n_raising=n_raising,
        n_lowering=n_lowering,
    )


def explain_arrays(
    contributions: np.ndarray,
    values: np.ndarray,
    *,
    feature_names: Sequence[str],
    descriptions: Mapping[str, str],
    n_raising: int = 5,
    n_lowering: int = 3,
) -> list[Explanation]:
    """:func:`explain` on matrices whose columns are feature_names (no bias column).

    The service's hot path: pandas column selection costs more than the ranking itself.
    """
    names = list(feature_names)
    if contributions.shape != values.shape or contributions.shape[1] != len(names):
        raise ValueError(
            f"contributions {contributions.shape} and values {values.shape} must both be "
            f"rows x {len(names)} indicators"
        )
    order = sorted(range(len(names)), key=names.__getitem__)
    names = [names[i] for i in order]
    contrib = contributions[:, order]
    vals = values[:, order]
    texts = [descriptions[n] for n in names]
    # Stable sorts over name-ordered columns: ties keep alphabetical order.
    up = np.argsort(-contrib, axis=1, kind="stable")[:, :n_raising]
    down = np.argsort(contrib, axis=1, kind="stable")[:, :n_lowering]
    explanations: list[Explanation] = []
    for row in range(contrib.shape[0]):
        c_row, v_row = contrib[row], vals[row]
        raising = [
            Reason(names[j], texts[j], _value(v_row[j]), float(c_row[j]))
            for j in up[row]
            if c_row[j] > 0
        ]
        lowering = [
            Reason(names[j], texts[j], _value(v_row[j]), float(c_row[j]))
            for j in down[row]
            if c_row[j] < 0
        ]
        explanations.append(Explanation(raising=raising, lowering=lowering))
    return explanations
