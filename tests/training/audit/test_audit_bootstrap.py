"""The vectorized bootstrap: exact in distribution, quantiles, coverage of the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.audit import Threshold, audit
from training.audit.bootstrap import (
    bootstrap_cell_counts,
    cell_codes,
    nan_quantiles,
    nan_std,
    observed_cell_counts,
    row_types,
)


def test_row_types_preserve_counts() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 3, 1000), rng.integers(0, 4, 1000)
    cells = cell_codes(rng.integers(0, 2, 1000), rng.integers(0, 2, 1000).astype(bool))
    types = row_types({"a": a, "b": b}, cells)
    assert types.n_rows == 1000
    rebuilt = np.zeros((3, 4), dtype=int)
    np.add.at(rebuilt, (types.group_codes["a"], types.cells), types.counts)
    np.testing.assert_array_equal(rebuilt, observed_cell_counts(a, cells, 3))


def test_multinomial_bootstrap_matches_row_resampling_in_distribution() -> None:
    """Mean and spread of resampled group counts equal those of naive index resampling."""
    rng = np.random.default_rng(1)
    n = 400
    groups = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    cells = cell_codes(rng.integers(0, 2, n), rng.uniform(size=n) < 0.3)
    types = row_types({"g": groups}, cells)
    fast = bootstrap_cell_counts(types, {"g": 3}, n_boot=4000, seed=2)["g"]
    naive = np.stack(
        [
            observed_cell_counts(groups[idx], cells[idx], 3)
            for idx in rng.integers(0, n, size=(4000, n))
        ]
    )
    assert fast.shape == (4000, 3, 4)
    assert (fast.sum(axis=(1, 2)) == n).all()
    np.testing.assert_allclose(fast.mean(axis=0), naive.mean(axis=0), rtol=0.05, atol=0.3)
    np.testing.assert_allclose(fast.std(axis=0), naive.std(axis=0), rtol=0.08, atol=0.15)


def test_bootstrap_is_reproducible_and_reports_progress() -> None:
    types = row_types({"g": np.array([0, 0, 1, 1, 1])}, np.array([0, 1, 2, 3, 3]))
    seen: list[int] = []
    first = bootstrap_cell_counts(
        types, {"g": 2}, n_boot=30, seed=5, chunk_size=7, progress=seen.append
    )["g"]
    second = bootstrap_cell_counts(types, {"g": 2}, n_boot=30, seed=5)["g"]
    np.testing.assert_array_equal(first, second)  # chunking does not change the draws' law
    assert seen == [7, 14, 21, 28, 30]


def test_nan_quantiles_match_numpy_and_blank_mostly_undefined_columns() -> None:
    rng = np.random.default_rng(4)
    samples = rng.normal(size=(200, 3))
    samples[:20, 0] = np.nan  # 10% undefined: still an interval
    samples[:150, 2] = np.nan  # 75% undefined: no interval
    q = nan_quantiles(samples, (0.025, 0.975))
    np.testing.assert_allclose(q[:, 0], np.nanquantile(samples[:, 0], [0.025, 0.975]))
    np.testing.assert_allclose(q[:, 1], np.quantile(samples[:, 1], [0.025, 0.975]))
    assert np.isnan(q[:, 2]).all()
    np.testing.assert_allclose(nan_std(samples)[:2], np.nanstd(samples[:, :2], axis=0, ddof=1))


@pytest.mark.slow
def test_intervals_cover_the_truth_at_about_the_nominal_rate() -> None:
    """Simulation: 95% intervals of a group's FPR and of the FPR difference cover the truth."""
    rng = np.random.default_rng(11)
    n, replications = 600, 120
    true_fpr = {"A": 0.15, "B": 0.30}
    hits_rate, hits_difference = 0, 0
    for rep in range(replications):
        group = rng.choice(["A", "B"], size=n, p=[0.6, 0.4])
        label = (rng.uniform(size=n) < 0.4).astype(int)
        fpr = np.where(group == "A", true_fpr["A"], true_fpr["B"])
        flag = np.where(label == 1, rng.uniform(size=n) < 0.7, rng.uniform(size=n) < fpr)
        frame = pd.DataFrame({"group": group, "label": label, "flag": flag.astype(int)})
        result = audit(
            frame,
            score="flag",
            label="label",
            groups=["group"],
            rule=Threshold(0.5),
            n_boot=300,
            seed=rep,
            intersections=False,
        )
        interval = result.intervals.set_index(["group", "metric"]).loc[("B", "fpr")]
        hits_rate += interval["lower"] <= true_fpr["B"] <= interval["upper"]
        row = result.disparities.set_index("metric").loc["fpr"]
        truth = true_fpr["B"] - true_fpr["A"]
        if row["group"] == "A":
            truth = -truth
        hits_difference += row["difference_lower"] <= truth <= row["difference_upper"]
    assert 0.88 <= hits_rate / replications <= 0.995
    assert 0.88 <= hits_difference / replications <= 0.995


def test_invalid_bootstrap_size_is_refused() -> None:
    types = row_types({"g": np.array([0, 1])}, np.array([0, 1]))
    with pytest.raises(ValueError, match="at least 1"):
        bootstrap_cell_counts(types, {"g": 2}, n_boot=0, seed=0)


def test_derived_groupings_read_from_the_key_rows() -> None:
    """Intersections left out of the key get exactly their observed confusion counts."""
    rng = np.random.default_rng(6)
    a, b = rng.integers(0, 3, 500), rng.integers(0, 5, 500)
    both = a * 5 + b
    cells = rng.integers(0, 4, 500)
    derived = row_types({"a": a, "b": b, "ab": both}, cells, key=["a", "b"])
    keyed = row_types({"a": a, "b": b, "ab": both}, cells)
    assert derived.counts.size == keyed.counts.size  # no extra types from the intersection
    rebuilt = np.zeros((15, 4), dtype=int)
    np.add.at(rebuilt, (derived.group_codes["ab"], derived.cells), derived.counts)
    np.testing.assert_array_equal(rebuilt, observed_cell_counts(both, cells, 15))
