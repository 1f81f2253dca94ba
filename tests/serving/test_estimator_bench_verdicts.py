"""The estimator benchmark's verdicts (benchmarks.estimator): what "below CBPE's" needs and
how its paired interval counts registries, on constructed setups.

* a tie with CBPE is not "below CBPE's", however close;
* the paired interval is over registries (a registry's four dates are one draw): four dates
  of one registry that agree exactly still give no interval, and two registries give one
  from their two means;
* the seeds reported by default were never used for a choice.
"""

from __future__ import annotations

import math

import pandas as pd

from benchmarks.estimator import CHOSEN_ON_SEEDS, REPORTED_SEEDS, paired_interval, verdicts

DATES = ("2024-03-31", "2024-06-30", "2024-09-30", "2024-12-31")


def _setups(ours: list[float], cbpe: list[float], seeds: list[int]) -> pd.DataFrame:
    rows = []
    for i, (o, c) in enumerate(zip(ours, cbpe, strict=True)):
        rows.append(
            {"variant": "standard", "seed": seeds[i // len(DATES)], "as_of": DATES[i % 4],
             "realized": 0.65, "ours": 0.65 + o, "ours_low": 0.60 + o, "ours_high": 0.70 + o,
             "cbpe": 0.65 + c}
        )  # fmt: skip
    return pd.DataFrame(rows)


def test_a_tie_with_cbpe_is_not_below_it() -> None:
    errors = [0.01, -0.01, 0.02, -0.02, 0.01, 0.0, -0.01, 0.005]
    tie = verdicts(_setups(errors, [-e for e in errors], [6, 7]))
    assert "below CBPE's" in tie[1] and "NOT met" in tie[1], tie
    closer = verdicts(_setups([e * 0.9 for e in errors], errors, [6, 7]))
    assert "NOT met" not in closer[1], closer
    # the date both estimate exactly is not closer
    assert "over 2 registries" in closer[1] and "7 of 8 setups closer" in closer[1], closer


def test_the_paired_interval_counts_registries_not_dates() -> None:
    index = pd.MultiIndex.from_tuples(
        [("standard", seed, day) for seed in (6, 7) for day in DATES],
        names=["variant", "seed", "as_of"],
    )
    one = pd.Series([-0.002] * 4, index=index[:4])
    mean, low, high, n = paired_interval(one)
    assert n == 1 and mean == -0.002 and math.isnan(low) and math.isnan(high)
    two = pd.Series([-0.002] * 4 + [0.0, -0.002, -0.004, -0.002], index=index)
    mean, low, high, n = paired_interval(two)
    # both registries' means are -0.002: no spread between registries, whatever the dates do
    assert n == 2 and abs(mean + 0.002) < 1e-12 and abs(high - low) < 1e-12


def test_the_reported_seeds_were_never_chosen_on() -> None:
    reported = {int(s) for s in REPORTED_SEEDS.split(",")}
    assert reported and not reported & set(CHOSEN_ON_SEEDS)
