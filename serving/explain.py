"""Reasons for a score, in probability points, sorted into needs and context.

How a contribution in probability points is computed (docs/serving.md, "Reasons"):

1. LightGBM's exact TreeSHAP gives, for every indicator ``j``, a contribution ``phi_j`` to
   the model's raw score (log-odds) and a ``bias`` ``phi_0``, the expected raw score over
   the training data; ``m = phi_0 + sum_j phi_j``.
2. The calibrator ``g`` (non-decreasing) turns a raw score into a probability. The family's
   probability is ``p = g(m)``; the **population baseline** is ``p0 = g(phi_0)``, the
   calibrated probability of a family whose every indicator sits at the population's
   expectation. It is the same for every family of a model and is in every response.
3. The change ``p - p0`` is shared among the indicators in proportion to their raw-score
   contributions: ``c_j = phi_j * (p - p0) / (m - phi_0)`` (when ``m = phi_0`` the slope of
   ``g`` at ``m`` is used). The ``c_j`` sum exactly to ``p - p0``; because ``g`` never falls,
   the secant slope is never negative, so each ``c_j`` has the sign of ``phi_j``: an
   indicator shown as raising the probability did raise the model's score.

Then each indicator's catalogue ``kind`` decides where it is shown (design rule 11): only a
**need** can be a reason that raises (or lowers) the risk; **context** (household
composition) and **support** received (benefits, centre visits) are listed as context,
with their contribution, never among the raising reasons. Contributions smaller than the
configured threshold are left out everywhere; what is left out is still in the per-kind
totals, so nothing the model used is hidden.

The service and the batch scorer both call :func:`explain_arrays`, so a family gets the same
reasons whichever path scored it; :func:`reason_json` turns a reason into the words of one
language (values rounded, with units, a missing value said in words).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from serving.i18n import (
    Language,
    describe_indicator,
    format_contribution,
    format_value,
    kind_name,
    rounded_value,
)

KINDS: tuple[str, ...] = ("need", "context", "support")
# Rounding of contributions in responses and files: 0.0001 = 0.01 percentage points.
CONTRIBUTION_DECIMALS = 4
# Rounding of every probability served (the score, its baseline, a family's history) and
# logged: 0.0001 = 0.01 percentage points; the level and percentile are set on the rounded
# value, so what is shown, logged and audited is one number.
PROBABILITY_DECIMALS = 4
# Below this raw-score distance from the bias the secant slope is replaced by the slope.
_SLOPE_EPS = 1e-9


@dataclass(frozen=True)
class IndicatorInfo:
    """What the explanation needs of a catalogue entry."""

    name: str
    kind: str
    domain: str
    unit: str


@dataclass(frozen=True)
class Reason:
    """One indicator's part in a score (language-free; :func:`reason_json` words it)."""

    indicator: str
    kind: str
    domain: str
    unit: str
    value: float | None
    contribution: float

    def as_dict(self) -> dict[str, object]:
        """Language-free JSON form (indicator, kind, rounded value, contribution)."""
        return {
            "indicator": self.indicator,
            "kind": self.kind,
            "value": rounded_value(self.value, self.unit),
            "unit": self.unit,
            "contribution": round(self.contribution, CONTRIBUTION_DECIMALS),
        }


@dataclass(frozen=True)
class Explanation:
    """One score's baseline, reasons and context.

    ``raising``: needs that raised the probability (largest first); ``lowering``: needs
    that lowered it (most first); ``context``: context and support indicators (largest
    absolute contribution first). ``by_kind``: the sum of all contributions of each kind
    (shown or not), so that ``baseline + sum(by_kind.values()) == probability``.
    """

    baseline: float
    raising: list[Reason]
    lowering: list[Reason]
    context: list[Reason]
    by_kind: dict[str, float]
    needs_raising: list[Reason] = field(default_factory=list)

    def shown(self) -> list[Reason]:
        """Every reason and context item shown, in display order."""
        return [*self.raising, *self.lowering, *self.context]


def catalogue_entries(feature_names: Iterable[str]) -> dict[str, IndicatorInfo]:
    """Kind, domain and unit of each model input, from ``features.catalogue``.

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
    return {
        name: IndicatorInfo(
            name=name,
            kind=FEATURES[name].kind,
            domain=FEATURES[name].domain,
            unit=FEATURES[name].unit,
        )
        for name in names
    }


def catalogue_descriptions(feature_names: Iterable[str]) -> dict[str, str]:
    """English description of each model input (KeyError as :func:`catalogue_entries`)."""
    from features.catalogue import FEATURES

    return {name: FEATURES[name].description for name in catalogue_entries(feature_names)}


def probability_contributions(
    raw_contributions: np.ndarray,
    bias: np.ndarray,
    probability: np.ndarray,
    transform: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Raw-score contributions (rows x indicators) mapped to probability points.

    Returns ``(contributions, baseline)``: rows x indicators summing, per row, to
    ``probability - baseline``, and the baseline ``transform(bias)`` of each row. See the
    module docstring for the method.
    """
    phi = np.asarray(raw_contributions, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64)
    p = np.asarray(probability, dtype=np.float64)
    baseline = np.asarray(transform(bias), dtype=np.float64)
    delta_raw = phi.sum(axis=1)
    near = np.abs(delta_raw) < _SLOPE_EPS
    slope = np.empty_like(p)
    far = ~near
    slope[far] = (p[far] - baseline[far]) / delta_raw[far]
    if near.any():
        h = 1e-4
        margin = bias[near] + delta_raw[near]
        slope[near] = (transform(margin + h) - transform(margin - h)) / (2 * h)
    # g never falls, so the slope is >= 0 up to rounding; clip the rounding away
    slope = np.maximum(slope, 0.0)
    return phi * slope[:, None], baseline


def explain(
    contributions: pd.DataFrame,
    values: pd.DataFrame,
    *,
    indicators: Mapping[str, IndicatorInfo],
    baseline: float | np.ndarray = 0.0,
    min_contribution: float = 0.0,
    n_raising: int = 5,
    n_lowering: int = 3,
    n_context: int = 5,
) -> list[Explanation]:
    """:func:`explain_arrays` on frames: ``contributions`` in probability points (one column
    per indicator; a ``bias`` column is ignored), ``values`` the family's indicators."""
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
        baseline=np.broadcast_to(np.asarray(baseline, dtype=np.float64), (len(values),)),
        feature_names=features,
        indicators=indicators,
        min_contribution=min_contribution,
        n_raising=n_raising,
        n_lowering=n_lowering,
        n_context=n_context,
    )


def explain_arrays(
    contributions: np.ndarray,
    values: np.ndarray,
    *,
    baseline: np.ndarray,
    feature_names: Sequence[str],
    indicators: Mapping[str, IndicatorInfo],
    min_contribution: float = 0.0,
    n_raising: int = 5,
    n_lowering: int = 3,
    n_context: int = 5,
) -> list[Explanation]:
    """Reasons and context of every row (contributions in probability points).

    Ties are broken by indicator name, so the reasons are deterministic. Only needs are
    reasons; a contribution whose size is below ``min_contribution`` (or zero) is never
    shown.
    """
    names = list(feature_names)
    if contributions.shape != values.shape or contributions.shape[1] != len(names):
        raise ValueError(
            f"contributions {contributions.shape} and values {values.shape} must both be "
            f"rows x {len(names)} indicators"
        )
    if min_contribution < 0:
        raise ValueError(f"min_contribution must be >= 0, got {min_contribution}")
    unknown = [n for n in names if n not in indicators]
    if unknown:
        raise KeyError(f"no catalogue entry for indicator(s) {unknown}")
    order = sorted(range(len(names)), key=names.__getitem__)
    names = [names[i] for i in order]
    contrib = contributions[:, order]
    vals = values[:, order]
    infos = [indicators[n] for n in names]
    is_need = np.array([info.kind == "need" for info in infos])
    kind_masks = {k: np.array([info.kind == k for info in infos]) for k in KINDS}
    unknown_kinds = {info.kind for info in infos} - set(KINDS)
    if unknown_kinds:
        raise ValueError(f"unknown indicator kind(s) {sorted(unknown_kinds)}; use {KINDS}")
    shown = np.abs(contrib) >= max(min_contribution, np.finfo(np.float64).tiny)
    need_up = np.where(is_need & shown & (contrib > 0), contrib, 0.0)
    need_down = np.where(is_need & shown & (contrib < 0), contrib, 0.0)
    other = np.where(~is_need & shown, np.abs(contrib), 0.0)
    # Stable sorts over name-ordered columns: ties keep alphabetical order.
    up_all = np.argsort(-need_up, axis=1, kind="stable")
    up = up_all[:, :n_raising]
    n_up = (need_up > 0).sum(axis=1)
    down = np.argsort(need_down, axis=1, kind="stable")[:, :n_lowering]
    ctx = np.argsort(-other, axis=1, kind="stable")[:, :n_context]
    totals = {k: contrib[:, mask].sum(axis=1) for k, mask in kind_masks.items()}

    def reason(row: int, j: int) -> Reason:
        info = infos[j]
        raw = float(vals[row, j])
        return Reason(
            indicator=info.name,
            kind=info.kind,
            domain=info.domain,
            unit=info.unit,
            value=None if math.isnan(raw) else raw,
            contribution=float(contrib[row, j]),
        )

    explanations: list[Explanation] = []
    for row in range(contrib.shape[0]):
        explanations.append(
            Explanation(
                baseline=float(baseline[row]),
                raising=[reason(row, j) for j in up[row] if need_up[row, j] > 0],
                lowering=[reason(row, j) for j in down[row] if need_down[row, j] < 0],
                context=[reason(row, j) for j in ctx[row] if other[row, j] > 0],
                by_kind={k: float(totals[k][row]) for k in KINDS},
                needs_raising=[reason(row, j) for j in up_all[row, : n_up[row]]],
            )
        )
    return explanations


def reason_json(reason: Reason, lang: Language) -> dict[str, Any]:
    """A reason in the words of lang: the shape of the service's reason objects.

    ``value`` is the value as a person reads it, never empty ("12 days", "no income
    recorded in the last 90 days"); ``value_number`` is the rounded number (null when not
    recorded) for systems that compute with it.
    """
    return {
        "indicator": reason.indicator,
        "kind": reason.kind,
        "kind_name": kind_name(reason.kind, lang),
        "domain": reason.domain,
        "description": describe_indicator(reason.indicator, lang),
        "value": format_value(reason.indicator, reason.value, unit=reason.unit, lang=lang),
        "value_number": rounded_value(reason.value, reason.unit),
        "unit": reason.unit,
        "contribution": round(reason.contribution, CONTRIBUTION_DECIMALS),
        "contribution_text": format_contribution(reason.contribution, lang),
    }


def explanation_json(explanation: Explanation, lang: Language) -> dict[str, Any]:
    """The explanation fields of a scored family, in lang."""
    return {
        "baseline_probability": round(explanation.baseline, PROBABILITY_DECIMALS),
        "reasons_raising": [reason_json(r, lang) for r in explanation.raising],
        "reasons_lowering": [reason_json(r, lang) for r in explanation.lowering],
        "context": [reason_json(r, lang) for r in explanation.context],
        "needs_raising": [reason_json(r, lang) for r in explanation.needs_raising],
        "contribution_by_kind": {
            k: round(v, CONTRIBUTION_DECIMALS) for k, v in explanation.by_kind.items()
        },
    }
