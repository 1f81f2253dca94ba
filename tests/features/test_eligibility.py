"""The eligibility rule: who is scored (design rule 10)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.eligibility import EligibilityRule, eligibility_status, eligible_rows


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"family_id": ["A", "B", "C", "D"], "hh_children": [0.0, 1.0, 3.0, np.nan]})


def test_default_rule_needs_a_child_under_18():
    rule = EligibilityRule()
    assert rule.mask(_frame()).tolist() == [False, True, True, False]
    assert list(eligible_rows(_frame(), rule)["family_id"]) == ["B", "C"]
    status = eligibility_status(_frame(), rule)
    assert status["eligibility"].tolist() == ["ineligible", "eligible", "eligible", "ineligible"]
    assert (
        status["ineligible_reason"].iloc[0]
        == "no child under 18 in the household on the as-of date"
    )
    assert pd.isna(status["ineligible_reason"].iloc[1])


def test_rule_is_configurable_and_can_be_switched_off():
    assert EligibilityRule(min_children=2).mask(_frame()).tolist() == [False, False, True, False]
    assert EligibilityRule(kind="everyone").mask(_frame()).all()
    with pytest.raises(ValueError, match="min_children"):
        EligibilityRule(min_children=0)


def test_rule_round_trips_through_a_model_tag():
    rule = EligibilityRule(min_children=2)
    assert EligibilityRule.from_tag(rule.to_tag()) == rule
    assert EligibilityRule.from_tag(None) == EligibilityRule()


def test_a_frame_without_the_column_is_refused_naming_it():
    with pytest.raises(KeyError, match="hh_children"):
        EligibilityRule().mask(pd.DataFrame({"family_id": ["A"]}))
