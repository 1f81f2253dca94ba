"""Which training rows support may have changed, and how training accounts for it.

Once the service is used, caseworkers offer support to the flagged families and support
lowers their chance of a crisis: a snapshot whose label window overlaps support has a label
the model's own use changed. Trained on such rows as they are (``naive``), the next model
learns that its own high-risk profile is low risk (the selective-labels problem:
Lakkaraju et al. 2017; Coston et al. 2020). The config's ``interventions.method`` says what
a run does instead; every method targets the outcome *without support*:

``naive``
    every row, as recorded (what training did before interventions were recorded).
``exclude_treated``
    drops the rows whose window overlaps accepted support. Simple, but biased: the dropped
    rows are the high-risk ones the model flagged, so the kept rows under-represent them.
``ipw`` (default)
    drops the treated rows and weights each kept row by ``1 / (1 - propensity)``, the
    propensity being a model of support from the row's own indicators and the number of
    decisions taken on the family in the window (cross-fitted,
    :mod:`training.counterfactual`): a kept row stands for itself and for the similar rows
    that were supported. Needs positivity (no family is supported for sure), checked by
    :mod:`training.positivity`.

``holdout_and_pre_deployment``
    keeps the rows whose window ends before the first decision (pre-deployment) and, in the
    deployment, the rows with no decision taken with the score shown; a kept row with ``n``
    decisions in its window (each hidden at random with the hold-out share ``h``) is
    weighted by ``h ** -n``, so that the hold-out stands for every flagged family. They
    show the outcome on the caseworker's usual path, which may include support the
    caseworker gives without a score.

The number of decisions matters because flags are taken every month: a family flagged a
few months after the as-of date was flagged on records the snapshot does not hold yet, so
given the snapshot alone, the families left unsupported are those whose situation
improved. Given how often the family was flagged, whether a flag led to support depends
on the display hold-out, the caseworker drawn and the family's answer, not on its risk.

Exposure is a fact about the label window (the future of the as-of date), like the label
itself: it never enters the model's inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from features.raw import optional_tables_present, read_table

SupportMethod = Literal["naive", "exclude_treated", "ipw", "holdout_and_pre_deployment"]
SUPPORT_METHODS: tuple[SupportMethod, ...] = (
    "naive",
    "exclude_treated",
    "ipw",
    "holdout_and_pre_deployment",
)

METHOD_TEXT: dict[SupportMethod, str] = {
    "naive": "every training row as recorded, support or not (no adjustment)",
    "exclude_treated": "training rows whose label window overlaps accepted support excluded",
    "ipw": "rows with accepted support in the label window excluded, the others weighted by "
    "1 / (1 - propensity of support) from a cross-fitted propensity model (indicators and "
    "decisions in the window), in fitting and in calibration",
    "holdout_and_pre_deployment": "pre-deployment rows and, during the deployment, rows "
    "without a decision taken with the score shown (the display hold-out weighted by "
    "1 / hidden share per decision, in fitting and in calibration)",
}


def read_interventions(raw_dir: Path | str | None) -> pd.DataFrame | None:
    """The registry's interventions table (typed), or None when it has none."""
    if raw_dir is None or "interventions" not in optional_tables_present(raw_dir):
        return None
    return read_table(raw_dir, "interventions")


@dataclass(frozen=True)
class Exposure:
    """Per snapshot row: whether support, a shown decision and a hidden one fell in the
    window in which support could change its label, and whether the deployment had begun."""

    treated: np.ndarray  # accepted support overlapping the label window
    shown: np.ndarray  # a decision with the score shown in that window
    hidden: np.ndarray  # a decision with the score hidden (the display hold-out)
    deployed: np.ndarray  # the label window reaches past the first recorded decision
    decisions: np.ndarray  # how many decisions on the family fell in that window
    hidden_share: float  # share of all recorded decisions taken with the score hidden


def support_exposure(
    rows: pd.DataFrame,
    interventions: pd.DataFrame,
    *,
    horizon_months: int,
    support_months: int,
) -> Exposure:
    """The exposure of each ``(family_id, as_of)`` row of ``rows``.

    Support offered on day d is taken to act on (d, d + support_months]; it overlaps the
    label window (T, T + horizon] when T - support_months < d < T + horizon. A decision
    without an offer counts for ``shown``/``hidden`` on its recorded day in that window.
    """
    n = len(rows)
    lo = (pd.to_datetime(rows["as_of"]) - pd.DateOffset(months=support_months)).to_numpy()
    hi = (pd.to_datetime(rows["as_of"]) + pd.DateOffset(months=horizon_months)).to_numpy()
    if interventions.empty:
        false = np.zeros(n, dtype=bool)
        return Exposure(
            false, false.copy(), false.copy(), false.copy(), np.zeros(n, dtype=np.int64), 0.0
        )
    day = interventions["offered_date"].fillna(interventions["recorded_date"])
    decisions = pd.DataFrame(
        {
            "family_id": interventions["family_id"].astype(str).to_numpy(),
            "day": pd.to_datetime(day).to_numpy(),
            "supported": (interventions["accepted"] == "yes").to_numpy(),
            "shown": (interventions["score_shown"] == "yes").to_numpy(),
        }
    )
    first_decision = decisions["day"].min()
    index = pd.DataFrame(
        {"row": np.arange(n), "family_id": rows["family_id"].astype(str).to_numpy()}
    )
    pairs = index.merge(decisions, on="family_id", how="inner")
    inside = (pairs["day"].to_numpy() > lo[pairs["row"]]) & (
        pairs["day"].to_numpy() < hi[pairs["row"]]
    )
    pairs = pairs.loc[inside]

    def any_of(mask: pd.Series) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        out[pairs.loc[mask, "row"].to_numpy()] = True
        return out

    return Exposure(
        treated=any_of(pairs["supported"]),
        shown=any_of(pairs["shown"]),
        hidden=any_of(~pairs["shown"]),
        deployed=hi > np.datetime64(first_decision) if n else np.zeros(0, dtype=bool),
        decisions=np.bincount(pairs["row"].to_numpy(), minlength=n).astype(np.int64),
        hidden_share=float((~decisions["shown"]).mean()),
    )


@dataclass(frozen=True)
class TrainingRows:
    """The rows a method keeps (a boolean mask over the input) and their weights."""

    keep: np.ndarray
    weight: np.ndarray  # one per kept row, mean 1
    method: SupportMethod
    n_treated: int

    def describe(self) -> str:
        """One line for the report and the model card."""
        kept = int(self.keep.sum())
        return (
            f"{self.method}: {METHOD_TEXT[self.method]}; {kept:,} of {len(self.keep):,} rows "
            f"kept, {self.n_treated:,} with support in the window"
        )


def training_rows(
    exposure: Exposure,
    method: SupportMethod,
    *,
    propensity: np.ndarray | None = None,
    max_weight: float = 20.0,
) -> TrainingRows:
    """Apply ``method`` (see the module docstring) to rows of the given exposure.

    ``propensity`` (P(treated | indicators), one per row) is required by ``ipw``; the
    weights are capped at ``max_weight`` (a few near-certain supports would otherwise carry
    the fit) and scaled to mean 1.
    """
    n = len(exposure.treated)
    treated = exposure.treated
    if method == "naive":
        keep, weight = np.ones(n, dtype=bool), np.ones(n)
    elif method == "exclude_treated":
        keep = ~treated
        weight = np.ones(int(keep.sum()))
    elif method == "ipw":
        if propensity is None or len(propensity) != n:
            raise ValueError(
                f"method ipw needs one propensity per row ({n}), got "
                f"{None if propensity is None else len(propensity)}"
            )
        keep = ~treated
        weight = np.minimum(1.0 / np.clip(1.0 - propensity[keep], 1e-9, None), max_weight)
    elif method == "holdout_and_pre_deployment":
        keep = ~exposure.deployed | ~exposure.shown
        # a kept row had each of its n decisions hidden, which happens with h ** n
        share = exposure.hidden_share
        n_hidden = exposure.decisions[keep]
        weight = (
            np.minimum(share ** (-n_hidden.astype(float)), max_weight)
            if share > 0
            else np.ones(int(keep.sum()))
        )
    else:
        raise ValueError(f"unknown support method {method!r}; choose one of {SUPPORT_METHODS}")
    if weight.size:
        weight = weight / weight.mean()
    return TrainingRows(keep=keep, weight=weight, method=method, n_treated=int(treated.sum()))
