"""Score distributions per group: what can be audited before any outcome is known.

Live scores have no labels for months (the outcome horizon is a year), yet an auditor can
already see whether one group is selected more often (selection rates come from the count
metrics) and whether its whole score distribution is shifted. These helpers compute the
distribution summaries on a common grid so groups can be compared bin for bin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.audit.groups import Grouping

QUANTILES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)


def histogram_edges(scores: np.ndarray, *, probabilities: bool, n_bins: int = 20) -> np.ndarray:
    """Common histogram edges: for probabilities from 0 to the highest score rounded up to a
    multiple of 0.05 (scores all below 0.3 get 20 bins on 0-0.3, not 6 of a 0-1 axis), else
    the observed score range."""
    s = np.asarray(scores, dtype=float)
    if probabilities:
        top = float(np.nanmax(s)) if s.size else 1.0
        top = min(1.0, max(0.05, np.ceil(top / 0.05 - 1e-9) * 0.05))
        return np.linspace(0.0, top, n_bins + 1)
    low, high = float(s.min()), float(s.max())
    if low == high:
        high = low + 1.0
    return np.linspace(low, high, n_bins + 1)


def score_distribution(
    scores: np.ndarray, grouping: Grouping, *, keep: np.ndarray, edges: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per group of ``grouping`` (only where ``keep``): quantiles and a histogram of shares.

    Returns ``(summary, histogram)``: summary has one row per kept group with mean, standard
    deviation and the :data:`QUANTILES`; histogram has one row per (group, bin) with the share
    of the group's rows in that bin (shares, not counts, so no small count is disclosed).
    """
    s = np.asarray(scores, dtype=float)
    n_bins = edges.size - 1
    index = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, n_bins - 1)
    summary_rows: list[dict[str, object]] = []
    histogram_rows: list[dict[str, object]] = []
    for code, label in enumerate(grouping.categories):
        if not keep[code]:
            continue
        mask = grouping.codes == code
        values = s[mask]
        q = np.quantile(values, QUANTILES)
        row: dict[str, object] = {
            "attribute": grouping.name,
            "group": label,
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if values.size > 1 else float("nan"),
        }
        row.update({f"q{round(p * 100):02d}": float(v) for p, v in zip(QUANTILES, q, strict=True)})
        summary_rows.append(row)
        shares = np.bincount(index[mask], minlength=n_bins) / values.size
        histogram_rows.extend(
            {
                "attribute": grouping.name,
                "group": label,
                "bin": b,
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "share": float(shares[b]),
            }
            for b in range(n_bins)
        )
    return pd.DataFrame(summary_rows), pd.DataFrame(histogram_rows)
