"""Disparities vs a reference, p-values, and Holm's correction on a textbook example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from training.audit import AuditInputError, Threshold, TopFraction, audit, holm_adjust
from training.audit.disparity import two_proportion_p_value


def test_holm_textbook_example() -> None:
    # Four tests; sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(1*0.04, 0.06)
    p = np.array([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(holm_adjust(p), [0.03, 0.06, 0.06, 0.02])
    # At alpha = 0.05 Holm rejects exactly the two smallest.
    assert (holm_adjust(p) <= 0.05).tolist() == [True, False, False, True]


def test_holm_caps_at_one_and_skips_nan() -> None:
    adjusted = holm_adjust(np.array([0.5, np.nan, 0.4, 0.01]))
    assert np.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[3, 2, 0]], [0.03, 0.8, 0.8])
    with pytest.raises(ValueError, match="lie in"):
        holm_adjust(np.array([1.2]))


def test_two_proportion_p_value_by_hand() -> None:
    # 30/100 vs 20/100: pooled 0.25, se = sqrt(0.25 * 0.75 * 0.02) = 0.0612, z = 1.633
    numerator, denominator = np.array([20.0, 30.0, 0.0, 5.0]), np.array([100.0, 100.0, 12.0, 0.0])
    p = two_proportion_p_value(numerator, denominator, reference=0)
    assert np.isnan(p[0]) and np.isnan(p[3])  # the reference itself; an undefined rate
    assert p[1] == pytest.approx(2 * norm.sf(0.1 / np.sqrt(0.25 * 0.75 * 0.02)))
    assert p[1] == pytest.approx(0.1025, abs=1e-3)
    # 0 of 12 against 20 of 100 is weak evidence, not a certainty
    assert 0.05 < p[2] < 0.2
    both_zero = two_proportion_p_value(np.array([0.0, 0.0]), np.array([50.0, 9.0]), reference=0)
    assert both_zero[1] == 1.0


def test_difference_and_ratio_against_largest_group(scores: pd.DataFrame) -> None:
    result = audit(
        scores,
        score="prob",
        label="label",
        groups=["settlement"],
        rule=TopFraction(0.2),
        n_boot=200,
    )
    assert result.references["settlement"] == "urban"  # the larger group
    row = result.disparities[result.disparities["metric"] == "fpr"].iloc[0]
    groups = result.by_group.set_index("group")
    assert row["group"] == "rural"
    assert row["difference"] == pytest.approx(
        groups.loc["rural", "fpr"] - groups.loc["urban", "fpr"]
    )
    assert row["ratio"] == pytest.approx(groups.loc["rural", "fpr"] / groups.loc["urban", "fpr"])
    assert row["difference_lower"] <= row["difference"] <= row["difference_upper"]
    assert row["ratio_lower"] <= row["ratio"] <= row["ratio_upper"]
    # Holm over the whole report: never below the raw p-value.
    table = result.disparities.dropna(subset=["p_value"])
    assert (table["p_value_holm"] >= table["p_value"] - 1e-12).all()


def test_named_reference_and_per_attribute_mapping(scores: pd.DataFrame) -> None:
    result = audit(
        scores,
        score="prob",
        label="label",
        groups=["settlement", "sex"],
        rule=TopFraction(0.2),
        n_boot=0,
        reference={"settlement": "rural"},
    )
    assert result.references["settlement"] == "rural"
    assert result.references["sex"] == "M"
    single = audit(
        scores,
        score="prob",
        label="label",
        groups=["sex"],
        rule=TopFraction(0.2),
        n_boot=0,
        reference="F",
    )
    assert set(single.disparities["group"]) == {"M"}


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("nowhere", "occurs in none"),
        ({"sex": "X"}, "not a group of 'sex'"),
        ({"region": "R9"}, "is suppressed"),
    ],
)
def test_bad_reference_is_a_clear_error(scores: pd.DataFrame, reference, message: str) -> None:
    with pytest.raises(AuditInputError, match=message):
        audit(
            scores,
            score="prob",
            label="label",
            groups=["sex", "region"],
            rule=TopFraction(0.2),
            n_boot=0,
            reference=reference,
        )


def test_a_real_disparity_is_significant_and_a_null_one_is_not() -> None:
    rng = np.random.default_rng(8)
    n = 6000
    group = rng.choice(["A", "B"], size=n)
    label = (rng.uniform(size=n) < 0.3).astype(int)
    p_select = np.where(group == "A", 0.10, 0.25)
    flag = (rng.uniform(size=n) < p_select).astype(int)
    noise = rng.choice(["x", "y"], size=n)  # unrelated to anything
    frame = pd.DataFrame({"group": group, "noise": noise, "label": label, "flag": flag})
    result = audit(
        frame,
        score="flag",
        label="label",
        groups=["group", "noise"],
        rule=Threshold(0.5),
        n_boot=500,
    )
    table = result.disparities.set_index(["attribute", "metric"])
    assert table.loc[("group", "selection_rate"), "p_value_holm"] < 0.001
    assert table.loc[("noise", "selection_rate"), "p_value_holm"] > 0.05
