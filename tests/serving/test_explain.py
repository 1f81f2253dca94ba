"""Reasons: probability points from a baseline, needs apart from context, a threshold;
risk bands from capacity; rounded percentiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.catalogue import FEATURES, model_input_columns
from serving.explain import (
    IndicatorInfo,
    catalogue_descriptions,
    catalogue_entries,
    explain,
    probability_contributions,
    reason_json,
)
from serving.scoring import (
    ReferencePopulation,
    Scorer,
    derive_bands,
    describe_bands,
    fixed_bands,
)
from serving.settings import RiskBand
from training.risk_model import MarginCalibrator


def _info(name: str, kind: str, unit: str = "count") -> IndicatorInfo:
    return IndicatorInfo(name=name, kind=kind, domain="social", unit=unit)


# ---------------------------------------------------------------- probability points


@pytest.mark.parametrize(
    "calibrator",
    [
        MarginCalibrator(method="sigmoid", a=-1.3, b=2.0),
        MarginCalibrator(
            method="isotonic",
            x_thresholds=(-4.0, -2.0, -1.0, 0.0, 1.0, 3.0),
            y_thresholds=(0.0, 0.01, 0.01, 0.08, 0.3, 0.7),
        ),
        MarginCalibrator(method="none"),
    ],
)
def test_points_sum_to_probability_minus_baseline_with_the_raw_signs(calibrator):
    rng = np.random.default_rng(3)
    phi = rng.normal(scale=0.6, size=(400, 7))
    phi[::9] = 0.0  # rows exactly at the bias: the slope is used
    bias = np.full(400, -1.5)
    p = calibrator.transform(bias + phi.sum(axis=1))
    points, baseline = probability_contributions(phi, bias, p, calibrator.transform)
    np.testing.assert_allclose(baseline, calibrator.transform(bias))
    np.testing.assert_allclose(points.sum(axis=1), p - baseline, atol=1e-12)
    # never the opposite sign of the raw contribution (the calibrator never falls)
    assert np.all(points * phi >= 0)
    assert np.all(np.isfinite(points))


def test_points_of_a_flat_calibrator_region_are_zero_not_made_up():
    flat = MarginCalibrator(method="isotonic", x_thresholds=(-5.0, 5.0), y_thresholds=(0.2, 0.2))
    phi = np.array([[1.0, -0.5], [2.0, 0.0]])
    bias = np.zeros(2)
    p = flat.transform(phi.sum(axis=1))
    points, baseline = probability_contributions(phi, bias, p, flat.transform)
    assert np.all(points == 0.0) and np.all(baseline == 0.2)


# ---------------------------------------------------------------- needs, context, threshold


def test_only_needs_are_reasons_context_and_support_are_context():
    names = ["n_up", "n_down", "c_up", "s_up", "s_down", "n_tiny"]
    infos = {
        "n_up": _info("n_up", "need"),
        "n_down": _info("n_down", "need"),
        "c_up": _info("c_up", "context"),
        "s_up": _info("s_up", "support"),
        "s_down": _info("s_down", "support"),
        "n_tiny": _info("n_tiny", "need"),
    }
    contrib = pd.DataFrame([[0.05, -0.02, 0.30, 0.20, -0.04, 0.0009]], columns=names)
    values = pd.DataFrame([[3.0, 1.0, 2.0, np.nan, 4.0, 1.0]], columns=names)
    (exp,) = explain(contrib, values, indicators=infos, baseline=0.03, min_contribution=0.001)
    # the largest contributions are context and support, yet never among the reasons
    assert [r.indicator for r in exp.raising] == ["n_up"]
    assert [r.indicator for r in exp.lowering] == ["n_down"]
    assert [r.indicator for r in exp.context] == ["c_up", "s_up", "s_down"]
    # under the threshold: shown nowhere, but still counted in its kind's total
    assert "n_tiny" not in {r.indicator for r in exp.shown()}
    assert exp.by_kind["need"] == pytest.approx(0.05 - 0.02 + 0.0009)
    assert exp.by_kind["support"] == pytest.approx(0.16)
    assert exp.baseline + sum(exp.by_kind.values()) == pytest.approx(0.03 + 0.4909)
    # a missing support value is context with its value in words
    s_up = next(r for r in exp.context if r.indicator == "s_up")
    assert s_up.value is None


def test_without_a_threshold_a_zero_is_still_not_a_reason_and_ties_go_by_name():
    infos = {n: _info(n, "need") for n in ("a", "b", "z")}
    contrib = pd.DataFrame([[0.0, 0.2, 0.2]], columns=["b", "z", "a"])
    values = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["b", "z", "a"])
    (exp,) = explain(contrib, values, indicators=infos)
    assert [r.indicator for r in exp.raising] == ["a", "z"]
    assert exp.lowering == [] and exp.context == []


def test_unknown_kind_and_negative_threshold_are_refused():
    contrib = pd.DataFrame([[0.1]], columns=["a"])
    values = pd.DataFrame([[1.0]], columns=["a"])
    with pytest.raises(ValueError, match="unknown indicator kind"):
        explain(contrib, values, indicators={"a": _info("a", "risk")})
    with pytest.raises(ValueError, match="min_contribution"):
        explain(contrib, values, indicators={"a": _info("a", "need")}, min_contribution=-1)
    with pytest.raises(KeyError, match="no catalogue entry"):
        explain(contrib, values, indicators={})


def test_every_model_input_has_a_catalogue_entry():
    entries = catalogue_entries(model_input_columns())
    assert all(entries[n].kind == FEATURES[n].kind for n in entries)
    descriptions = catalogue_descriptions(model_input_columns())
    assert all(descriptions[name] == FEATURES[name].description for name in descriptions)
    with pytest.raises(KeyError, match="not_an_indicator"):
        catalogue_entries(["not_an_indicator"])


# ---------------------------------------------------------------- the real model


def test_scorer_matches_the_registered_model(serving_world):
    model = serving_world.model
    X = serving_world.frame[model.feature_names].head(300)
    scored = Scorer(model).score(X)
    # served probabilities are the model's, rounded to 4 decimals (and no more than that)
    np.testing.assert_array_equal(scored.probability, np.round(model.predict_proba(X), 4))
    assert not np.array_equal(np.round(model.predict_proba(X), 6), scored.probability)
    np.testing.assert_allclose(scored.raw_score, model.raw_score(X), rtol=0, atol=1e-9)
    fast = Scorer(model).contributions(X.to_numpy())
    np.testing.assert_allclose(fast, model.contributions(X).to_numpy(), rtol=0, atol=1e-12)
    # every family's contributions add up to its distance from the baseline
    for i, exp in enumerate(scored.explanations):
        assert exp.baseline + sum(exp.by_kind.values()) == pytest.approx(
            model.predict_proba(X.iloc[[i]])[0], abs=1e-9
        )
        assert abs(scored.probability[i] - exp.baseline - sum(exp.by_kind.values())) <= 5e-5


def test_reasons_point_the_way_the_probability_moves(serving_world):
    """Removing a raising reason's raw contribution never raises the probability (and v.v.)."""
    model = serving_world.model
    X = serving_world.frame[model.feature_names].head(80)
    scorer = Scorer(model)
    scored = scorer.score(X)
    raw_contrib = pd.DataFrame(
        scorer.contributions(X.to_numpy())[:, :-1], columns=scorer.feature_names
    )
    checked = 0
    for i, exp in enumerate(scored.explanations):
        raw = scored.raw_score[i]
        exact = model.calibrator.transform(np.array([raw]))[0]  # the served one is rounded
        for reason in exp.raising:
            without = model.calibrator.transform(
                np.array([raw - raw_contrib.at[i, reason.indicator]])
            )
            assert without[0] <= exact + 1e-12
            checked += 1
        for reason in exp.lowering:
            without = model.calibrator.transform(
                np.array([raw - raw_contrib.at[i, reason.indicator]])
            )
            assert without[0] >= exact - 1e-12
            checked += 1
        assert len(exp.raising) <= 5 and len(exp.lowering) <= 3 and len(exp.context) <= 5
    assert checked > 50


def test_whole_population_has_no_unreadable_or_misplaced_reason(serving_world):
    """The must-reach rule over every family of the world, in every language."""
    model = serving_world.model
    threshold = 0.002
    scorer = Scorer(model, min_contribution=threshold)
    scored = scorer.score(serving_world.frame[model.feature_names])
    n_reasons = n_context = 0
    for exp in scored.explanations:
        for reason in exp.raising:
            assert FEATURES[reason.indicator].kind == "need"
            assert reason.contribution >= threshold
            n_reasons += 1
        for reason in exp.lowering:
            assert FEATURES[reason.indicator].kind == "need"
            assert reason.contribution <= -threshold
        for reason in exp.context:
            assert FEATURES[reason.indicator].kind in ("context", "support")
            assert abs(reason.contribution) >= threshold
            n_context += 1
        for reason in exp.shown():
            for lang in ("en", "ru", "kk"):
                worded = reason_json(reason, lang)
                assert worded["value"] and worded["description"]
                assert abs(worded["contribution"]) >= threshold - 5e-5
    assert n_reasons > 0 and n_context > 0  # the check saw both kinds


# ---------------------------------------------------------------- bands and percentiles


def test_high_band_is_at_most_the_capacity_and_ties_are_not_split():
    p = np.array([0.01] * 80 + [0.05] * 10 + [0.2, 0.3, 0.3, 0.4, 0.5, 0.6, 0.6, 0.6, 0.7, 0.8])
    bands = derive_bands(p, capacity_count=5, elevated_ratio=2.0)
    levels = bands.levels(p)
    assert levels.count("high") == 5  # 0.6 (x3), 0.7, 0.8
    assert bands.cutoffs()["high"] == 0.6
    ties = derive_bands(p, capacity_count=6)  # 0.5 and above: exactly 6
    assert ties.levels(p).count("high") == 6
    few = derive_bands(p, capacity_count=4)  # 4 would split the three 0.6: only 2 fit
    assert few.levels(p).count("high") == 2
    # elevated: at least twice the average, below high
    base = p.mean()
    assert bands.cutoffs()["elevated"] == pytest.approx(2 * base)
    assert all(
        (lvl == "elevated") == (2 * base <= q < 0.6) for lvl, q in zip(levels, p, strict=True)
    )
    assert sum(b.families for b in bands.bands) == p.size


def test_capacity_fraction_and_empty_elevated_band():
    p = np.linspace(0.0, 0.02, 1000)
    bands = derive_bands(p, capacity_fraction=0.05, elevated_ratio=50.0)
    assert bands.levels(p).count("high") == 50
    assert bands.levels(p).count("elevated") == 0  # 50 x average is above the high cut-off
    with pytest.raises(ValueError, match="at least one"):
        derive_bands(np.array([]))
    with pytest.raises(ValueError, match="elevated_ratio"):
        derive_bands(p, elevated_ratio=1.0)
    with pytest.raises(ValueError, match="capacity_fraction"):
        derive_bands(p, capacity_fraction=0.0)


def test_all_equal_scores_leave_high_empty_rather_than_flag_everyone():
    p = np.full(100, 0.04)
    bands = derive_bands(p, capacity_count=10)
    assert bands.levels(p).count("high") == 0


def test_bands_are_stated_in_every_language():
    p = np.linspace(0.0, 0.3, 200)
    for lang in ("en", "ru", "kk"):
        described = describe_bands(derive_bands(p, capacity_count=10), lang)
        assert [b["level"] for b in described] == ["low", "elevated", "high"]
        assert all(b["meaning"] and "{" not in b["meaning"] for b in described)
    fixed = describe_bands(fixed_bands((RiskBand(level="low", min_probability=0.0),), p), "ru")
    assert "администратор" in fixed[0]["meaning"]


def test_percentile_is_share_at_or_below_rounded():
    ref = ReferencePopulation(np.array([0.1, 0.2, 0.2, 0.4, 0.5, 0.6]))
    np.testing.assert_allclose(ref.percentile(np.array([0.05, 0.2, 0.3, 0.9])), [0, 50, 50, 100])
    assert ref.percentile(np.array([0.1]))[0] == 16.7
    with pytest.raises(ValueError, match="at least one"):
        ReferencePopulation(np.array([]))
