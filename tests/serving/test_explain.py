"""Reasons come from exact contributions, are ranked, bounded, and agree with the probability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.catalogue import FEATURES, model_input_columns
from serving.explain import catalogue_descriptions, explain
from serving.scoring import ReferencePopulation, Scorer
from serving.settings import DEFAULT_RISK_BANDS


def _scorer(model) -> Scorer:
    return Scorer(
        model,
        descriptions=catalogue_descriptions(model.feature_names),
        bands=DEFAULT_RISK_BANDS,
    )


def test_ranked_bounded_and_signed():
    contrib = pd.DataFrame(
        [[0.5, -0.2, 0.0, 0.9, -0.7, 0.1, 0.3, 0.2, -0.1, 1.0]],
        columns=[f"f{i}" for i in range(9)] + ["bias"],
    )
    values = pd.DataFrame([np.arange(9, dtype=float)], columns=[f"f{i}" for i in range(9)])
    values.loc[0, "f3"] = np.nan
    (exp,) = explain(
        contrib, values, descriptions={f"f{i}": f"d{i}" for i in range(9)}, n_raising=5
    )
    assert [r.indicator for r in exp.raising] == ["f3", "f0", "f6", "f7", "f5"]
    assert [r.indicator for r in exp.lowering] == ["f4", "f1", "f8"]
    assert all(r.contribution > 0 for r in exp.raising)
    assert all(r.contribution < 0 for r in exp.lowering)
    assert exp.raising[0].value is None  # NaN = not recorded
    assert exp.raising[1].value == 0.0 and exp.raising[1].description == "d0"
    assert "bias" not in {r.indicator for r in exp.raising + exp.lowering}


def test_zero_contributions_are_not_reasons_and_ties_are_by_name():
    contrib = pd.DataFrame([[0.0, 0.2, 0.2, 0.0]], columns=["b", "z", "a", "bias"])
    values = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["b", "z", "a"])
    (exp,) = explain(contrib, values, descriptions={"a": "A", "b": "B", "z": "Z"})
    assert [r.indicator for r in exp.raising] == ["a", "z"]
    assert exp.lowering == []


def test_every_model_input_has_a_catalogue_description():
    descriptions = catalogue_descriptions(model_input_columns())
    assert all(descriptions[name] == FEATURES[name].description for name in descriptions)
    with pytest.raises(KeyError, match="not_an_indicator"):
        catalogue_descriptions(["not_an_indicator"])


def test_scorer_matches_the_registered_model(serving_world):
    model = serving_world.model
    X = serving_world.frame[model.feature_names].head(300)
    scored = _scorer(model).score(X)
    np.testing.assert_allclose(scored.probability, model.predict_proba(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(scored.raw_score, model.raw_score(X), rtol=0, atol=1e-9)
    fast = _scorer(model).contributions(X.to_numpy())
    np.testing.assert_allclose(fast, model.contributions(X).to_numpy(), rtol=0, atol=1e-12)


def test_reasons_point_the_way_the_probability_moves(serving_world):
    """Removing a raising reason's contribution never raises the probability (and v.v.)."""
    model = serving_world.model
    X = serving_world.frame[model.feature_names].head(80)
    scorer = _scorer(model)
    scored = scorer.score(X)
    checked = 0
    for i, exp in enumerate(scored.explanations):
        raw = scored.raw_score[i]
        for reason in exp.raising:
            without = model.calibrator.transform(np.array([raw - reason.contribution]))
            assert without[0] <= scored.probability[i] + 1e-12
            checked += 1
        for reason in exp.lowering:
            without = model.calibrator.transform(np.array([raw - reason.contribution]))
            assert without[0] >= scored.probability[i] - 1e-12
            checked += 1
        assert len(exp.raising) <= 5 and len(exp.lowering) <= 3
    assert checked > 100


def test_risk_levels_follow_the_bands(serving_world):
    scorer = _scorer(serving_world.model)
    assert scorer.levels(np.array([0.0, 0.0999, 0.1, 0.2499, 0.25, 1.0])) == [
        "low",
        "low",
        "elevated",
        "elevated",
        "high",
        "high",
    ]


def test_percentile_is_share_at_or_below():
    ref = ReferencePopulation(np.array([0.1, 0.2, 0.2, 0.4]))
    np.testing.assert_allclose(ref.percentile(np.array([0.05, 0.2, 0.3, 0.9])), [0, 75, 75, 100])
    with pytest.raises(ValueError, match="at least one"):
        ReferencePopulation(np.array([]))
