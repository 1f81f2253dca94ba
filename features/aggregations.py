"""Aggregations of a long events frame into one number per family, vectorized.

Every function takes a long frame of already-attributed events (one row per event, the
family it counts for in ``family_id``) and returns a float64 Series indexed exactly by
``families``. None loops over families or events: they are numpy bincounts,
``ufunc.at`` reductions and sorts over whole columns.

Expected columns: ``family_id``, ``person_id`` (null for family-level events),
``event_id``, ``event_date``, ``recorded_date``, ``value``. ``family_id`` may be any
hashable key (the engine passes integer codes for speed).

The point-in-time rule lives in :func:`window_mask`: a row is visible as of T only when
``recorded_date <= T`` and its ``event_date`` falls in the window ``(T - days, T]``, and (a
corrected record's version, :mod:`features.corrections`) it was not retracted by T.
:func:`aggregate` applies it before aggregating, so a feature can never see the future.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import pandas as pd

# the column of a corrected record's version (features.corrections.RETRACTED; named here so
# this leaf module imports nothing of the package)
RETRACTED = "retracted_date"

AggregationName = Literal[
    "count",
    "sum",
    "sum_per_month",
    "mean",
    "max",
    "last",
    "days_since_last",
    "count_change",
    "sum_change",
    "count_persons",
]
AGGREGATIONS: tuple[str, ...] = get_args(AggregationName)
# The aggregations that read ``events.value`` (the others count rows, persons or days).
VALUE_AGGREGATIONS: tuple[str, ...] = ("sum", "sum_per_month", "mean", "max", "last", "sum_change")

# The longest history any indicator may read: no record marks a family forever.
MAX_LOOKBACK_DAYS = 3 * 365

DAYS_PER_MONTH = 365.25 / 12


def lookback_days(how: AggregationName, window_days: int) -> int:
    """How far back an aggregation reads: the window, or two windows for a change."""
    return 2 * window_days if how in ("count_change", "sum_change") else window_days


def window_mask(
    events: pd.DataFrame, *, as_of: pd.Timestamp, days: int, lag_days: int = 0
) -> np.ndarray:
    """Rows visible as of ``as_of`` whose event falls in ``(as_of-lag-days, as_of-lag]``.

    ``recorded_date <= as_of`` is always required (late records are invisible until they
    are recorded), and ``event_date <= as_of`` follows from the window's upper end.
    """
    if days <= 0:
        raise ValueError(f"window must be at least 1 day, got {days}")
    if lag_days + days > MAX_LOOKBACK_DAYS:
        raise ValueError(
            f"window reaches {lag_days + days} days back; the bound is {MAX_LOOKBACK_DAYS}"
        )
    as_of = pd.Timestamp(as_of)
    end = as_of - pd.Timedelta(days=lag_days)
    start = end - pd.Timedelta(days=days)
    event_date = events["event_date"].to_numpy()
    recorded = events["recorded_date"].to_numpy()
    visible = (
        (recorded <= as_of.to_datetime64())
        & (event_date <= end.to_datetime64())
        & (event_date > start.to_datetime64())
    )
    if RETRACTED in events.columns:  # a corrected record's version, known until retracted
        visible &= ~(events[RETRACTED].to_numpy() <= as_of.to_datetime64())
    return visible


def _positions(events: pd.DataFrame, families: pd.Index) -> np.ndarray:
    """Position of each row's family in ``families`` (-1: not a family asked for)."""
    return families.get_indexer(events["family_id"])


def _bincount(pos: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    keep = pos >= 0
    w = None if weights is None else weights[keep]
    return np.bincount(pos[keep], weights=w, minlength=n).astype("float64")


def _extreme(pos: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per-family maximum of the non-NaN ``values`` (NaN where the family has none)."""
    keep = (pos >= 0) & ~np.isnan(values)
    out = np.full(n, -np.inf)
    np.maximum.at(out, pos[keep], values[keep])
    out[np.isneginf(out)] = np.nan
    return out


def _series(values: np.ndarray, families: pd.Index) -> pd.Series:
    return pd.Series(values, index=families, dtype="float64")


def count_events(events: pd.DataFrame, *, families: pd.Index) -> pd.Series:
    """Number of events per family (0 when none)."""
    return _series(_bincount(_positions(events, families), len(families)), families)


def sum_values(events: pd.DataFrame, *, families: pd.Index) -> pd.Series:
    """Sum of ``value`` per family (0 when none; null values are skipped)."""
    value = np.nan_to_num(events["value"].to_numpy(dtype="float64"), nan=0.0)
    pos = _positions(events, families)
    return _series(_bincount(pos, len(families), value), families)


def mean_value(events: pd.DataFrame, *, families: pd.Index) -> pd.Series:
    """Mean of the non-null ``value`` per family (NaN when none)."""
    value = events["value"].to_numpy(dtype="float64")
    pos = _positions(events, families)
    valued = ~np.isnan(value)
    total = _bincount(pos[valued], len(families), value[valued])
    count = _bincount(pos[valued], len(families))
    with np.errstate(invalid="ignore", divide="ignore"):
        return _series(np.where(count > 0, total / count, np.nan), families)


def max_value(events: pd.DataFrame, *, families: pd.Index) -> pd.Series:
    """Largest non-null ``value`` per family (NaN when none)."""
    value = events["value"].to_numpy(dtype="float64")
    return _series(_extreme(_positions(events, families), value, len(families)), families)


def last_value(events: pd.DataFrame, *, families: pd.Index) -> pd.Series:
    """``value`` of the family's latest event that has a value (NaN when none).

    Latest means greatest ``event_date``; ties are broken by ``recorded_date`` (the later
    correction wins) and then ``event_id``, so the answer never depends on row order.
    """
    value = events["value"].to_numpy(dtype="float64")
    pos = _positions(events, families)
    keep = (pos >= 0) & ~np.isnan(value)
    out = np.full(len(families), np.nan)
    if keep.any():
        event_id = events["event_id"].to_numpy()[keep]
        if event_id.dtype.kind not in "iuf":
            event_id = pd.factorize(event_id, sort=True)[0]
        order = np.lexsort(
            (
                event_id,
                events["recorded_date"].to_numpy()[keep],
                events["event_date"].to_numpy()[keep],
                pos[keep],
            )
        )
        ordered_pos = pos[keep][order]
        is_last = np.r_[ordered_pos[1:] != ordered_pos[:-1], True]
        out[ordered_pos[is_last]] = value[keep][order][is_last]
    return _series(out, families)


def days_since_last(events: pd.DataFrame, *, as_of: pd.Timestamp, families: pd.Index) -> pd.Series:
    """Whole days from the family's latest event to ``as_of`` (NaN when none in window)."""
    day = events["event_date"].to_numpy().astype("datetime64[D]").astype("float64")
    latest = _extreme(_positions(events, families), day, len(families))
    as_of_day = float(np.datetime64(pd.Timestamp(as_of).date(), "D").astype("int64"))
    return _series(as_of_day - latest, families)


def count_persons(events: pd.DataFrame, *, families: pd.Index) -> pd.Series:
    """Number of distinct persons with at least one event, per family (0 when none).

    The person-to-family roll-up: "children with a missed vaccination" counts each child
    once however many vaccinations they missed. Family-level rows (no person) are ignored.
    """
    person = events["person_id"]
    pos = _positions(events, families)
    keep = (pos >= 0) & person.notna().to_numpy()
    codes = pd.factorize(person.to_numpy()[keep])[0].astype("int64")
    pairs = np.unique(pos[keep].astype("int64") * (codes.max(initial=0) + 1) + codes)
    family_of_pair = pairs // (codes.max(initial=0) + 1)
    return _series(_bincount(family_of_pair, len(families)), families)


def aggregate(
    events: pd.DataFrame,
    *,
    how: AggregationName,
    as_of: pd.Timestamp,
    window_days: int,
    families: pd.Index,
) -> pd.Series:
    """Apply the point-in-time window and the aggregation ``how``; one float per family.

    - ``count``/``sum``/``mean``/``max``/``last``/``count_persons``: over ``(T-w, T]``.
    - ``sum_per_month``: the sum over the window divided by its length in months
      (e.g. a household's average monthly income over the last 90 days); NaN when the
      window holds no record, because no income record is not the same as no income.
    - ``days_since_last``: days since the latest event in the window (NaN: none).
    - ``count_change``/``sum_change``: the count (sum) over ``(T-w, T]`` minus the count
      (sum) over the ``w`` days before, ``(T-2w, T-w]``.
    """
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}; choose one of {list(AGGREGATIONS)}")
    recent = events.loc[window_mask(events, as_of=as_of, days=window_days)]
    if how == "count":
        return count_events(recent, families=families)
    if how == "sum":
        return sum_values(recent, families=families)
    if how == "sum_per_month":
        monthly = sum_values(recent, families=families) / (window_days / DAYS_PER_MONTH)
        return monthly.where(count_events(recent, families=families) > 0)
    if how == "mean":
        return mean_value(recent, families=families)
    if how == "max":
        return max_value(recent, families=families)
    if how == "last":
        return last_value(recent, families=families)
    if how == "days_since_last":
        return days_since_last(recent, as_of=as_of, families=families)
    if how == "count_persons":
        return count_persons(recent, families=families)
    earlier = events.loc[window_mask(events, as_of=as_of, days=window_days, lag_days=window_days)]
    base = count_events if how == "count_change" else sum_values
    return base(recent, families=families) - base(earlier, families=families)
