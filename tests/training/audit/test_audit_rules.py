"""Decision rules: threshold inclusive, top-k/top-fraction select whole ties at the cut."""

from __future__ import annotations

import numpy as np
import pytest

from training.audit import Threshold, TopFraction, TopK, rule_from_dict
from training.audit.rules import ties_at_cutoff


def test_threshold_selects_scores_at_or_above() -> None:
    scores = np.array([0.1, 0.5, 0.49, 0.9, 0.5])
    assert Threshold(0.5).select(scores).tolist() == [False, True, False, True, True]


def test_top_k_selects_every_row_tied_at_the_cut_off() -> None:
    scores = np.array([0.3, 0.7, 0.7, 0.7, 0.1])
    # Three rows tie at 0.7 for two places: the score cannot tell them apart, all three go.
    assert TopK(2).select(scores).tolist() == [False, True, True, True, False]
    tie = ties_at_cutoff(TopK(2), scores)
    assert tie is not None and tie.to_dict() == {
        "capacity": 2,
        "cutoff": 0.7,
        "above": 0,
        "tied": 3,
        "selected": 3,
    }
    assert "3 rows share the cut-off score 0.7" in tie.message()
    # A tie that does not straddle the capacity is no warning.
    assert ties_at_cutoff(TopK(3), scores) is None
    assert ties_at_cutoff(TopK(1), np.array([0.9, 0.7, 0.7])) is None
    assert ties_at_cutoff(Threshold(0.7), scores) is None


@pytest.mark.parametrize("rule", [TopK(40), TopFraction(0.3)])
def test_capacity_rules_do_not_depend_on_row_order(rule) -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(1, 6, size=200).astype(float)  # a 1-5 scale: heavy ties
    selected = rule.select(scores)
    for _ in range(5):
        order = rng.permutation(len(scores))
        assert (rule.select(scores[order]) == selected[order]).all()
    assert ties_at_cutoff(rule, scores) is not None


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
