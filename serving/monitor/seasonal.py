"""A seasonal reference: compare an as-of date with the same quarter of the training period.

School absences, heating-season debts and benefit payment cycles move with the calendar, so
June's 90-day absence count against December's is not drift, it is summer. The stored
reference statistics describe one date (the model's held-out test slice, a quarter end);
for an as-of date in another quarter of the year, the monitor (snapshot mode, which has the
raw data) builds the snapshot of the **same date a whole number of years earlier, no later
than the stored reference date** (so from the training period's data, not from the period
being monitored) and compares the inputs and the score with *it*, on the stored reference's
bins. The performance estimate keeps the stored reference's calibration check (labels of
the seasonal date may be ones the model was fitted on).

The report's ``reference.seasonal`` says which reference each comparison used:
``same_quarter`` (with its date), or ``stored`` with the reason (the same quarter already,
seasonal references switched off, served statistics without raw data, or no family then).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from training.performance_estimate import top_k_mask
from training.reference_stats import (
    FeatureBins,
    ReferenceStats,
    ScoreBins,
    bin_counts,
    pca_reconstruction_error,
)
from training.risk_model import RiskModel

METHOD_SAME_QUARTER = "same_quarter"
METHOD_STORED = "stored"


def _years_back(day: dt.date, years: int) -> dt.date:
    stamp = pd.Timestamp(day)
    moved = stamp - pd.DateOffset(years=years)
    if stamp.is_month_end:
        moved = moved + pd.offsets.MonthEnd(0)
    return moved.date()


def seasonal_reference_date(as_of: dt.date, reference_dates: list[str]) -> dt.date | None:
    """The same date a whole number of years before ``as_of``, on or before the stored
    reference's latest date; None when that is a stored reference date already (or none)."""
    if not reference_dates:
        return None
    latest = max(dt.date.fromisoformat(d) for d in reference_dates)
    years = 0
    candidate = as_of
    while candidate > latest:
        years += 1
        candidate = _years_back(as_of, years)
    if candidate.isoformat() in reference_dates:
        return None
    return candidate


def seasonal_stats(
    stats: ReferenceStats, model: RiskModel, frame: pd.DataFrame, *, as_of: dt.date
) -> ReferenceStats:
    """``stats`` with the inputs' counts, the score bins' counts and the PCA error of the
    snapshot ``frame`` (taken at ``as_of``), on the stored bins; the rest kept."""
    matrix = model.feature_matrix(frame)
    features = [
        FeatureBins(
            name=bins.name, edges=bins.edges, counts=bin_counts(matrix[:, j], bins.edges).tolist()
        )
        for j, bins in enumerate(stats.features)
    ]
    probability = model.predict_proba(frame)
    k = stats.capacity.k(len(frame))
    score = ScoreBins(
        edges=stats.score.edges,
        counts=bin_counts(probability, stats.score.edges).tolist(),
        k=k,
        threshold_at_capacity=float(probability[top_k_mask(probability, k)].min()),
        mean=float(probability.mean()),
    )
    error = pca_reconstruction_error(matrix, stats.multivariate)
    multivariate = stats.multivariate.model_copy(
        update={"error_mean": float(error.mean()), "error_sd": float(error.std(ddof=1))}
    )
    return stats.model_copy(
        update={
            "features": features,
            "score": score,
            "multivariate": multivariate,
            "n_rows": len(frame),
            "source": f"{stats.source}; inputs and score as of {as_of.isoformat()} "
            "(the same quarter of the training period)",
        }
    )


def describe(method: str, *, as_of: dt.date | None = None, reason: str) -> dict[str, Any]:
    """The report's ``reference.seasonal`` entry."""
    return {
        "method": method,
        "as_of": None if as_of is None else as_of.isoformat(),
        "reason": reason,
    }
