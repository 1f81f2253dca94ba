"""The peer's generic counts under design rule 3 (issue 25, item 1).

``benchmarks.quality_origins`` compares the plain peer with the same peer whose "all
history" counts are bounded at 3 years, to measure what the unbounded history (up to 7
years on the 8-year registry) alone is worth to it. That comparison only means something
if the bound holds: a record dated 3 years and a day before the as-of date, or recorded
after it, must not count; with no bound, the old record counts (the issue's peer)."""

from __future__ import annotations

import pandas as pd

from benchmarks.peer import generic_counts

AS_OF = pd.Timestamp("2024-12-31")


def _events() -> pd.DataFrame:
    day = pd.Timestamp
    return pd.DataFrame(
        {
            "family_id": ["a", "a", "a", "a", "b"],
            "event_type": ["utility_debt"] * 5,
            "event_date": [
                AS_OF - pd.Timedelta(days=1096),  # beyond 3 years
                AS_OF - pd.Timedelta(days=1094),  # inside
                AS_OF - pd.Timedelta(days=10),  # inside, and in the last 365 days
                AS_OF - pd.Timedelta(days=5),  # recorded after the as-of date
                day("2016-01-01"),  # 9 years back
            ],
            "recorded_date": [
                AS_OF - pd.Timedelta(days=1090),
                AS_OF - pd.Timedelta(days=1090),
                AS_OF - pd.Timedelta(days=1),
                AS_OF + pd.Timedelta(days=1),
                day("2016-01-05"),
            ],
        }
    )


def _memberships() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "family_id": ["a", "a", "b"],
            "person_id": ["a1", "a2", "b1"],
            "start_date": pd.to_datetime(["2010-01-01"] * 3),
            "end_date": pd.Series([pd.NaT] * 3, dtype="datetime64[ns]"),
        }
    )


def test_the_bounded_history_counts_only_the_last_3_years_recorded_by_the_date() -> None:
    counts = generic_counts(_events(), _memberships(), AS_OF, history_days=1095)
    assert counts.loc["a", "all_utility_debt"] == 2.0
    assert counts.loc["b", "all_utility_debt"] == 0.0
    assert counts.loc["a", "365d_utility_debt"] == 1.0
    assert counts.loc["a", "members"] == 2.0


def test_the_issue_peer_reads_all_history_recorded_by_the_date() -> None:
    counts = generic_counts(_events(), _memberships(), AS_OF)
    assert counts.loc["a", "all_utility_debt"] == 3.0
    assert counts.loc["b", "all_utility_debt"] == 1.0
