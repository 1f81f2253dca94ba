"""Decision rules: threshold inclusive, top-k/top-fraction with stable tie-breaking."""

from __future__ import annotations

import numpy as np
import pytest

from training.audit import Threshold, TopFraction, TopK, rule_from_dict


def test_threshold_selects_scores_at_or_above() -> None:
    scores = np.array([0.1, 0.5, 0.49, 0.9, 0.5])
    assert Threshold(0.5).select(scores).tolist() == [False, True, False, True, True]


def test_top_k_breaks_ties_by_input_order() -> None:
    scores = np.array([0.3, 0.7, 0.7, 0.7, 0.1])
    # Three rows tie at 0.7 for two places: the first two in input order win.
    assert TopK(2).select(scores).tolist() == [False, True, True, False, False]


def test_top_fraction_rounds_down_to_capacity() -> None:
    scores = np.linspace(0, 1, 29)
    selected = TopFraction(0.1).select(scores)
    assert selected.sum() == 2  # floor(2.9)
    assert selected[-2:].all()
    assert TopFraction(0.1).count(30) == 3  # no float error: 0.1 * 30 = 3


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: TopK(0), "positive whole number"),
        (lambda: TopFraction(1.5), "in \\(0, 1\\]"),
        (lambda: Threshold(float("nan")), "finite"),
    ],
)
def test_invalid_rules_are_refused(factory, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()


def test_top_k_larger_than_table_is_an_error() -> None:
    with pytest.raises(ValueError, match="asks for 5 rows but there are only 3"):
        TopK(5).select(np.array([0.1, 0.2, 0.3]))


def test_missing_score_is_an_error() -> None:
    with pytest.raises(ValueError, match="1 missing"):
        Threshold(0.5).select(np.array([0.1, np.nan]))


@pytest.mark.parametrize("rule", [Threshold(0.25), TopK(3), TopFraction(0.2)])
def test_rules_round_trip_through_dict(rule) -> None:
    assert rule_from_dict(rule.to_dict()) == rule
