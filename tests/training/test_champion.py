"""Champion comparison against a real MLflow registry (SQLite in tmp_path).

A weak challenger fails beside the served champion and the gate says by how much; an equal
candidate is non-inferior; an empty registry has no champion (said, not a failure); a
champion whose inputs the test rows lack is not evaluable (blocks).
"""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from training_frames import small_booster_model, synthetic_frame

from training.calibration import choose_calibration
from training.champion import champion_gates, compare_with_champion
from training.config import ChampionGatesConfig
from training.evaluation import ScoredModel
from training.gates import decide
from training.registry import CHAMPION, log_risk_model, set_alias, tracking_store

NAME = "earlyrisk-champion-test"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("champion")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    X, y = synthetic_frame(4000, seed=11)
    fit, cal = slice(0, 2000), slice(2000, 4000)
    strong = small_booster_model(X.iloc[fit], y[fit], rounds=60)
    strong = strong.with_calibrator(
        choose_calibration(strong, X.iloc[cal], y[cal], seed=0).calibrator
    )
    with tracking_store(uri):
        exp = mlflow.create_experiment("champion-test", artifact_location=(tmp / "art").as_uri())
        with mlflow.start_run(experiment_id=exp):
            logged = log_risk_model(
                strong,
                input_example=X.head(5),
                feature_list_sha256="f" * 64,
                registered_model_name=NAME,
            )
        set_alias(NAME, logged.version, CHAMPION)
    X_test, y_test = synthetic_frame(6000, seed=12)
    return uri, strong, X_test.assign(label=y_test), logged.version


def _scored(model, frame) -> ScoredModel:
    return ScoredModel(probability=model.predict_proba(frame), rank_score=model.raw_score(frame))


def _compare(uri, candidate: ScoredModel, frame, *, name: str = NAME):
    return compare_with_champion(
        frame,
        candidate,
        k=300,
        model_name=name,
        tracking_uri=uri,
        n_bootstrap=100,
        confidence_level=0.95,
        n_bins=10,
        seed=0,
    )


def test_weak_challenger_fails_beside_the_champion_and_says_by_how_much(registry):
    uri, _, frame, version = registry
    rng = np.random.default_rng(0)
    # a weak model: a noisy view of one indicator only
    weak_score = frame["debt"].to_numpy() + rng.normal(0, 2.0, len(frame))
    weak = ScoredModel(probability=1 / (1 + np.exp(-weak_score - 2)), rank_score=weak_score)
    comparison = _compare(uri, weak, frame)
    assert comparison.champion_version == version
    gates = {g.name: g for g in champion_gates(comparison, config=ChampionGatesConfig())}
    assert gates["champion_roc_auc"].status == "fail"
    assert gates["champion_precision_at_k"].status == "fail"
    assert "the candidate lost" in gates["champion_roc_auc"].detail
    assert f"champion v{version}" in gates["champion_roc_auc"].detail
    assert decide(gates.values()).alias == "challenger"


def test_candidate_as_good_as_the_champion_is_non_inferior(registry):
    uri, strong, frame, _ = registry
    gates = champion_gates(
        _compare(uri, _scored(strong, frame), frame), config=ChampionGatesConfig()
    )
    assert [g.status for g in gates] == ["pass", "pass"]
    assert all("non-inferior" in g.detail for g in gates)


def test_first_model_of_a_registry_has_no_champion_and_is_not_blocked(registry, tmp_path):
    _, strong, frame, _ = registry
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    comparison = _compare(empty, _scored(strong, frame), frame)
    [gate] = champion_gates(comparison, config=ChampionGatesConfig())
    assert gate.status == "no_champion" and gate.passed
    assert "first model" in gate.detail
    assert "no champion to compare with" in decide([gate]).explain()


def test_champion_that_cannot_score_the_rows_is_not_evaluable(registry):
    uri, strong, frame, _ = registry
    comparison = _compare(uri, _scored(strong, frame), frame.drop(columns=["debt"]))
    [gate] = champion_gates(comparison, config=ChampionGatesConfig())
    assert gate.status == "not_evaluable" and not gate.passed
    assert "debt" in gate.detail
