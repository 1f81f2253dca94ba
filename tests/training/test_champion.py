"""Champion comparison against a real MLflow registry (SQLite in tmp_path).

A weak challenger fails beside the served champion and the gate says by how much; an equal
candidate is non-inferior; an empty registry has no champion (said, not a failure); a
champion whose inputs the test rows lack is not evaluable (blocks).
"""

from __future__ import annotations

import numpy as np
import pytest
from training_frames import small_booster_model, synthetic_frame

from training.calibration import choose_calibration
from training.champion import champion_gates, compare_with_champion
from training.config import ChampionGatesConfig
from training.evaluation import ScoredModel
from training.gates import decide
from training.registry import CHAMPION, log_risk_model
from training.tracking import TrackingStore

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
    store = TrackingStore(uri)
    exp = store.experiment("champion-test", artifact_location=(tmp / "art").as_uri())
    with store.run(exp) as run:
        logged = log_risk_model(
            strong,
            run=run,
            input_example=X.head(5),
            feature_list_sha256="f" * 64,
            registered_model_name=NAME,
        )
    store.set_alias(NAME, logged.version, CHAMPION)
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


def _refitted_champion(tmp, *, name: str, strong, frame, keep_held_out: bool) -> str:
    """A champion refitted on the test rows themselves (its ``data_through`` is after their
    date), with or without the held-out model of its run; returns the tracking URI."""
    import hashlib

    from training.registry import HELD_OUT_ARTIFACT, TAG_DATA_THROUGH, TAG_HELD_OUT_DATA_THROUGH

    uri = f"sqlite:///{tmp / 'refit.db'}"
    inputs = frame.drop(columns=["label", "as_of"])
    y = frame["label"].to_numpy()
    # in-sample: trained and calibrated on exactly the rows it will be compared on
    refit = small_booster_model(inputs, y, rounds=200)
    refit = refit.with_calibrator(choose_calibration(refit, inputs, y, seed=0).calibrator)
    tags = {TAG_DATA_THROUGH: "2024-12-31"}
    store = TrackingStore(uri)
    exp = store.experiment("refit", artifact_location=(tmp / "art").as_uri())
    with store.run(exp) as run:
        if keep_held_out:
            payload = strong.to_bytes()
            folder, file = HELD_OUT_ARTIFACT.split("/")
            (tmp / file).write_bytes(payload)
            run.log_artifact(tmp / file, artifact_path=folder)
            tags["held_out_sha256"] = hashlib.sha256(payload).hexdigest()
            tags[TAG_HELD_OUT_DATA_THROUGH] = "2023-12-31"
        logged = log_risk_model(
            refit,
            run=run,
            input_example=inputs.head(5),
            feature_list_sha256="f" * 64,
            registered_model_name=name,
            extra_tags=tags,
        )
    store.set_alias(name, logged.version, CHAMPION)
    return uri


def test_a_refitted_champion_that_saw_the_test_rows_is_compared_through_its_held_out_model(
    registry, tmp_path
):
    # the served champion was refitted on the candidate's test rows: scored on them it is
    # in-sample and beats an equal candidate; its run's held-out model (the design that
    # produced it, held out as the candidate is) is the fair stand-in
    _, strong, frame, _ = registry
    frame = frame.assign(as_of="2023-12-31")
    candidate = _scored(strong, frame)
    uri = _refitted_champion(
        tmp_path, name="refit-held", strong=strong, frame=frame, keep_held_out=True
    )
    comparison = _compare(uri, candidate, frame, name="refit-held")
    gates = champion_gates(comparison, config=ChampionGatesConfig())
    assert [g.status for g in gates] == ["pass", "pass"]
    assert "held-out model" in comparison.note and "2024-12-31" in comparison.note
    # scored directly, the in-sample refit makes the same candidate lose: the bad case
    from training.champion import compare_scores
    from training.registry import load_risk_model

    served = load_risk_model("models:/refit-held@champion", tracking_uri=uri).risk_model
    direct = compare_scores(
        frame["label"].to_numpy(dtype=int),
        candidate,
        _scored(served, frame),
        k=300,
        n_bootstrap=100,
        confidence_level=0.95,
        n_bins=10,
        seed=0,
    )
    assert direct.auc_difference, direct
    [diff] = direct.auc_difference.values()
    assert diff.high < 0  # the candidate "loses" to a champion that has seen the rows


def test_a_refitted_champion_without_a_held_out_model_is_not_evaluable(registry, tmp_path):
    _, strong, frame, _ = registry
    frame = frame.assign(as_of="2023-12-31")
    uri = _refitted_champion(
        tmp_path, name="refit-bare", strong=strong, frame=frame, keep_held_out=False
    )
    comparison = _compare(uri, _scored(strong, frame), frame, name="refit-bare")
    [gate] = champion_gates(comparison, config=ChampionGatesConfig())
    assert gate.status == "not_evaluable" and not gate.passed
    assert "in-sample" in gate.detail and "2024-12-31" in gate.detail
    assert decide([gate]).alias == "challenger"


def test_without_a_champion_the_latest_version_is_compared_and_does_not_block(registry, tmp_path):
    """A registry whose versions all stayed challenger: the new version is told how it
    compares with the latest one (v2 here, not v1), and nothing served means nothing blocks."""
    _, strong, frame, _ = registry
    uri = f"sqlite:///{tmp_path / 'no_champion.db'}"
    store = TrackingStore(uri)
    exp = store.experiment("no-champion", artifact_location=(tmp_path / "art").as_uri())
    X, y = synthetic_frame(3000, seed=5)
    weak = small_booster_model(X[["debt"]].assign(**{c: 0.0 for c in X if c != "debt"}), y)
    for model in (weak, strong):  # v1 weak, v2 strong: both challengers
        with store.run(exp) as run:
            logged = log_risk_model(
                model,
                run=run,
                input_example=X.head(5),
                feature_list_sha256="f" * 64,
                registered_model_name="no-champion",
            )
        store.set_alias("no-champion", logged.version, "challenger")
    rng = np.random.default_rng(1)
    weak_score = frame["debt"].to_numpy() + rng.normal(0, 2.0, len(frame))
    candidate = ScoredModel(probability=1 / (1 + np.exp(-weak_score - 2)), rank_score=weak_score)
    comparison = _compare(uri, candidate, frame, name="no-champion")
    assert comparison.against == "latest version"
    assert comparison.champion_version == "2" and comparison.evaluation is not None
    [gate] = champion_gates(comparison, config=ChampionGatesConfig())
    assert gate.status == "no_champion" and gate.passed
    assert "latest version v2" in gate.detail and "ROC AUC" in gate.detail
    diff = comparison.evaluation.differences["roc_auc"]["candidate - champion"]
    assert diff.high < 0  # the weak candidate is worse than v2, and the detail shows it
    assert f"{diff.estimate:+.4f}" in gate.detail
