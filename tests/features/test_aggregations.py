"""Each aggregation against a small example computed by hand.

As of T = 2024-03-31 with a 90-day window the visible event dates are
2024-01-02 .. 2024-03-31 (T - 90 days = 2024-01-01 is excluded), and only rows recorded by T.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.aggregations import (
    AGGREGATIONS,
    MAX_LOOKBACK_DAYS,
    aggregate,
    count_persons,
    last_value,
    window_mask,
)

T = pd.Timestamp("2024-03-31")
FAMILIES = pd.Index(["A", "B", "C"])  # C has no events at all


def frame(rows: list[tuple]) -> pd.DataFrame:
    out = pd.DataFrame(
        rows, columns=["event_id", "family_id", "person_id", "event_date", "recorded_date", "value"]
    )
    out["event_date"] = pd.to_datetime(out["event_date"])
    out["recorded_date"] = pd.to_datetime(out["recorded_date"])
    out["value"] = out["value"].astype("float64")
    return out


EVENTS = frame(
    [
        # family A
        ("e01", "A", "a1", "2024-01-01", "2024-01-01", 100.0),  # just outside 90 days
        ("e02", "A", "a1", "2024-01-02", "2024-01-05", 10.0),  # first day inside
        ("e03", "A", "a2", "2024-02-15", "2024-02-15", 30.0),
        ("e04", "A", "a1", "2024-03-31", "2024-03-31", 20.0),  # on T: inside
        ("e05", "A", "a2", "2024-03-20", "2024-04-01", 999.0),  # recorded after T
        ("e06", "A", "a1", "2024-04-01", "2024-04-01", 999.0),  # after T
        ("e07", "A", "a1", "2023-12-01", "2023-12-01", 7.0),  # earlier window
        ("e08", "A", "a2", "2023-10-05", "2023-10-06", 5.0),  # earlier window
        # family B
        ("e11", "B", None, "2024-03-01", "2024-03-01", np.nan),  # family-level, no value
        ("e12", "B", "b1", "2024-03-01", "2024-03-02", 4.0),  # same day as e13
        ("e13", "B", "b1", "2024-03-01", "2024-03-10", 6.0),  # recorded later: wins "last"
        ("e14", "B", "b2", "2023-12-20", "2023-12-20", 50.0),  # earlier window
    ]
)


def agg(how: str, window: int = 90) -> pd.Series:
    return aggregate(EVENTS, how=how, as_of=T, window_days=window, families=FAMILIES)


def test_window_mask_bounds() -> None:
    visible = EVENTS.loc[window_mask(EVENTS, as_of=T, days=90), "event_id"].tolist()
    assert visible == ["e02", "e03", "e04", "e11", "e12", "e13"]


def test_count() -> None:
    assert agg("count").tolist() == [3.0, 3.0, 0.0]


def test_sum_skips_null_values_and_is_zero_without_events() -> None:
    assert agg("sum").tolist() == [60.0, 10.0, 0.0]


def test_sum_per_month_is_sum_over_window_months_and_nan_without_records() -> None:
    months = 90 / (365.25 / 12)
    result = agg("sum_per_month")
    assert result["A"] == pytest.approx(60.0 / months)
    assert result["B"] == pytest.approx(10.0 / months)
    assert np.isnan(result["C"])


def test_mean_of_non_null_values() -> None:
    result = agg("mean")
    assert result["A"] == pytest.approx(20.0)
    assert result["B"] == pytest.approx(5.0)
    assert np.isnan(result["C"])


def test_max() -> None:
    result = agg("max")
    assert result[["A", "B"]].tolist() == [30.0, 6.0]
    assert np.isnan(result["C"])


def test_last_value_breaks_same_day_ties_by_recorded_date() -> None:
    result = agg("last")
    assert result["A"] == 20.0  # e04 on T
    assert result["B"] == 6.0  # e13: same event day as e12 and e11, recorded last, has a value
    assert np.isnan(result["C"])


def test_last_value_does_not_depend_on_row_order() -> None:
    shuffled = EVENTS.sample(frac=1.0, random_state=3)
    assert last_value(shuffled, families=FAMILIES).equals(last_value(EVENTS, families=FAMILIES))


def test_days_since_last() -> None:
    result = agg("days_since_last")
    assert result["A"] == 0.0  # e04 on T
    assert result["B"] == 30.0  # 2024-03-01 -> 2024-03-31
    assert np.isnan(result["C"])


def test_count_change_recent_minus_earlier_window() -> None:
    # earlier window: (2023-10-03, 2024-01-01]: A has e01, e07, e08; B has e14
    assert agg("count_change").tolist() == [3.0 - 3.0, 3.0 - 1.0, 0.0]


def test_sum_change() -> None:
    assert agg("sum_change").tolist() == [60.0 - 112.0, 10.0 - 50.0, 0.0]


def test_count_persons_counts_each_person_once() -> None:
    assert agg("count_persons").tolist() == [2.0, 1.0, 0.0]  # a1, a2 | b1 (e11 has no person)
    visible = EVENTS.loc[window_mask(EVENTS, as_of=T, days=365)]
    assert count_persons(visible, families=FAMILIES).tolist() == [2.0, 2.0, 0.0]


def test_result_is_float_and_indexed_by_families_in_order() -> None:
    for how in AGGREGATIONS:
        result = aggregate(EVENTS, how=how, as_of=T, window_days=90, families=FAMILIES[::-1])
        assert result.dtype == np.float64, how
        assert result.index.tolist() == ["C", "B", "A"], how


def test_window_beyond_three_years_is_refused() -> None:
    with pytest.raises(ValueError, match="1096 days back; the bound is 1095"):
        window_mask(EVENTS, as_of=T, days=MAX_LOOKBACK_DAYS + 1)
    with pytest.raises(ValueError, match="1200 days back"):
        aggregate(EVENTS, how="count_change", as_of=T, window_days=600, families=FAMILIES)


def test_unknown_aggregation_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown aggregation 'median'"):
        aggregate(EVENTS, how="median", as_of=T, window_days=90, families=FAMILIES)
