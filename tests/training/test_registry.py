"""The registered model round-trips through MLflow (SQLite in tmp_path), checksum-verified."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from training_frames import small_booster_model, synthetic_frame

from training.calibration import choose_calibration
from training.registry import (
    CHAMPION,
    ModelChecksumError,
    ModelNotFoundError,
    load_risk_model,
    log_risk_model,
)
from training.tracking import TrackingStore

# every test here needs a trained model or a generated registry (tens of seconds)
pytestmark = pytest.mark.slow

NAME = "earlyrisk-test-model"


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    X, y = synthetic_frame(800, seed=3)
    model = small_booster_model(X, y, rounds=10)
    model = model.with_calibrator(choose_calibration(model, X, y).calibrator)
    store = TrackingStore(uri)
    exp = store.experiment("registry-test", artifact_location=(tmp / "art").as_uri())
    with store.run(exp) as run:
        logged = log_risk_model(
            model,
            run=run,
            input_example=X,
            feature_list_sha256="f" * 64,
            registered_model_name=NAME,
        )
    store.set_alias(NAME, logged.version, CHAMPION)
    return uri, X, model, logged, tmp


def test_round_trip_gives_same_predictions_and_contributions(registered):
    uri, X, model, logged, _ = registered
    loaded = load_risk_model(f"models:/{NAME}@{CHAMPION}", tracking_uri=uri)
    assert loaded.version == logged.version
    assert CHAMPION in loaded.aliases
    assert loaded.run_id == logged.run_id
    assert loaded.model_sha256 == model.sha256()
    assert loaded.feature_list_sha256 == "f" * 64
    np.testing.assert_array_equal(loaded.risk_model.predict_proba(X), model.predict_proba(X))
    pd.testing.assert_frame_equal(loaded.risk_model.contributions(X), model.contributions(X))


def test_generic_pyfunc_client_gets_calibrated_probability(registered, monkeypatch):
    uri, X, model, logged, _ = registered
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # how a generic client finds the store
    pyfunc = mlflow.pyfunc.load_model(logged.model_uri)
    assert pyfunc.metadata.signature is not None
    np.testing.assert_array_equal(np.asarray(pyfunc.predict(X)), model.predict_proba(X))


def test_altered_artifact_is_refused(registered):
    uri, _, _, logged, tmp = registered
    artifacts = sorted(Path(tmp / "art").rglob("risk_model.json"))
    assert artifacts, "the model artifact should be stored under the experiment location"
    original = artifacts[0].read_bytes()
    try:
        artifacts[0].write_bytes(original.replace(b'"a":', b'"a": ', 1))
        with pytest.raises(ModelChecksumError, match="sha256"):
            load_risk_model(f"models:/{NAME}/{logged.version}", tracking_uri=uri)
    finally:
        artifacts[0].write_bytes(original)


def test_unknown_alias_is_a_clear_error(registered):
    uri = registered[0]
    with pytest.raises(ModelNotFoundError, match="nobody"):
        load_risk_model(f"models:/{NAME}@nobody", tracking_uri=uri)


def test_malformed_uri_is_a_clear_error(registered):
    with pytest.raises(ValueError, match="models:/<name>@<alias>"):
        load_risk_model("runs:/abc/model", tracking_uri=registered[0])


def test_logging_goes_only_to_the_named_store(tmp_path, monkeypatch):
    """A process whose MLflow environment points elsewhere (a notebook's own store) keeps
    it: the model is logged and registered through the named store's client only, and the
    other store is never opened (MLflow's registry resolves a ``models:/`` source through
    the process-wide URI, so the version is created from the artifact location)."""
    other = tmp_path / "the-programs-own.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{other}")
    uri = f"sqlite:///{tmp_path / 'named.db'}"
    X, y = synthetic_frame(300, seed=5)
    model = small_booster_model(X, y, rounds=5)
    store = TrackingStore(uri)
    exp = store.experiment("named", artifact_location=(tmp_path / "art").as_uri())
    with store.run(exp) as run:
        logged = log_risk_model(
            model,
            run=run,
            input_example=X,
            feature_list_sha256="f" * 64,
            registered_model_name=NAME,
        )
    store.set_alias(NAME, logged.version, CHAMPION)
    loaded = load_risk_model(f"models:/{NAME}@{CHAMPION}", tracking_uri=uri)
    assert loaded.run_id == run.run_id and loaded.model_sha256 == model.sha256()
    assert store.client.get_run(run.run_id).info.status == "FINISHED"
    assert mlflow.get_tracking_uri() == f"sqlite:///{other}"
    assert not other.exists()
