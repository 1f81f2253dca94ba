"""Every metric against a hand-computed confusion table, and the vectorized forms."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from training.audit import Threshold, audit
from training.audit.metrics import (
    expected_calibration_error,
    grouped_auc,
    grouped_reliability,
    rates_from_counts,
    reliability_table,
    roc_auc,
)


def _table() -> pd.DataFrame:
    """Group A: TP=3, FP=1, FN=2, TN=4 (n=10). Group B: TP=0, FP=2, FN=0, TN=10 (n=12)."""
    rows = (
        [("A", 1, 1)] * 3
        + [("A", 0, 1)] * 1
        + [("A", 1, 0)] * 2
        + [("A", 0, 0)] * 4
        + [("B", 0, 1)] * 2
        + [("B", 0, 0)] * 10
    )
    frame = pd.DataFrame(rows, columns=["group", "label", "flag"])
    return frame


def _table_by_group() -> pd.DataFrame:
    """The audit of :func:`_table` flagged at 0.5, one row per group (none suppressed)."""
    result = audit(
        _table(),
        score="flag",
        label="label",
        groups=["group"],
        rule=Threshold(0.5),
        n_boot=0,
        min_group_size=1,
    )
    return result.by_group.set_index("group")


def test_rates_match_hand_computed_confusion_table() -> None:
    a = _table_by_group().loc["A"]
    assert (a["tp"], a["fp"], a["fn"], a["tn"]) == (3, 1, 2, 4)
    expected = {
        "base_rate": 5 / 10,
        "selection_rate": 4 / 10,
        "tpr": 3 / 5,
        "fpr": 1 / 5,
        "fnr": 2 / 5,
        "tnr": 4 / 5,
        "precision": 3 / 4,
        "npv": 4 / 6,
        "false_omission_rate": 2 / 6,
        "false_discovery_rate": 1 / 4,
    }
    for metric, value in expected.items():
        assert a[metric] == pytest.approx(value), metric


def test_undefined_rates_are_nan_not_zero() -> None:
    b = _table_by_group().loc["B"]
    # Group B has no positives: TPR, FNR and precision's numerator... TPR/FNR undefined.
    assert math.isnan(b["tpr"]) and math.isnan(b["fnr"])
    assert math.isnan(b["roc_auc"])  # one class only
    assert b["fpr"] == pytest.approx(2 / 12)
    assert b["precision"] == 0.0  # selected rows exist, none positive: defined and 0
    assert b["false_omission_rate"] == 0.0


def test_rates_from_counts_nan_on_empty_denominators() -> None:
    rates = rates_from_counts(np.array([0]), np.array([0]), np.array([0]), np.array([5]))
    assert math.isnan(rates["tpr"][0]) and math.isnan(rates["precision"][0])
    assert rates["fpr"][0] == 0.0 and rates["npv"][0] == 1.0


def test_auc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.uniform(size=500) + 0.3 * y, 1)  # many ties
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    codes = rng.integers(0, 3, 500)
    grouped = grouped_auc(y, s, codes, 3)
    for g in range(3):
        mask = codes == g
        assert grouped[g] == pytest.approx(roc_auc_score(y[mask], s[mask]))


def test_ece_and_reliability_by_hand() -> None:
    y = np.array([0, 1, 1, 1, 0])
    s = np.array([0.05, 0.15, 0.95, 1.0, 0.9])
    table = reliability_table(y, s, n_bins=10)
    assert table.loc[0, "n"] == 1 and table.loc[1, "n"] == 1 and table.loc[9, "n"] == 3
    assert table.loc[9, "mean_predicted"] == pytest.approx((0.95 + 1.0 + 0.9) / 3)
    assert table.loc[9, "observed_rate"] == pytest.approx(2 / 3)
    gaps = 1 * 0.05 + 1 * abs(0.15 - 1) + 3 * abs((0.95 + 1.0 + 0.9) / 3 - 2 / 3)
    assert expected_calibration_error(y, s, n_bins=10) == pytest.approx(gaps / 5)
    counts, mean_pred, observed = grouped_reliability(y, s, np.zeros(5, int), 1, n_bins=10)
    assert counts[0].tolist() == table["n"].tolist()
    np.testing.assert_allclose(observed[0], table["observed_rate"].to_numpy())
    np.testing.assert_allclose(mean_pred[0], table["mean_predicted"].to_numpy())


def test_score_metrics_per_group_match_sklearn(scores: pd.DataFrame) -> None:
    result = audit(
        scores, score="prob", label="label", groups=["settlement"], rule=Threshold(0.5), n_boot=0
    )
    for group in ("urban", "rural"):
        mask = scores["settlement"] == group
        y, s = scores.loc[mask, "label"], scores.loc[mask, "prob"]
        row = result.by_group.set_index("group").loc[group]
        assert row["roc_auc"] == pytest.approx(roc_auc_score(y, s))
        assert row["brier"] == pytest.approx(brier_score_loss(y, s))
        assert row["ece"] == pytest.approx(expected_calibration_error(y.to_numpy(), s.to_numpy()))
        assert row["mean_predicted"] == pytest.approx(s.mean())


def test_calibration_metrics_skipped_for_non_probability_scores(scores: pd.DataFrame) -> None:
    frame = scores.assign(decile=np.ceil(scores["prob"] * 10).clip(1, 10))
    result = audit(
        frame, score="decile", label="label", groups=["sex"], rule=Threshold(5), n_boot=0
    )
    assert not result.scores_are_probabilities
    assert result.by_group["ece"].isna().all() and result.by_group["brier"].isna().all()
    assert result.reliability.empty
    assert result.by_group["roc_auc"].notna().all()


def test_observed_to_expected_is_base_rate_over_mean_prediction(scores: pd.DataFrame) -> None:
    result = audit(
        scores, score="prob", label="label", groups=["sex"], rule=Threshold(0.5), n_boot=0
    )
    for sex in ("F", "M"):
        mask = scores["sex"] == sex
        expected = scores.loc[mask, "label"].mean() / scores.loc[mask, "prob"].mean()
        assert result.group_metric("sex", sex, "observed_to_expected") == pytest.approx(expected)
