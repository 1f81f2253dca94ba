"""A model trained on another feature list is refused by every caller that scores or
monitors it, each with its own error class and the same words
(:func:`training.registry.refuse_other_feature_list`).

Batch scoring (``serving.batch.load_batch_model``, both engines), a batch run's rollout or
shadow versions (``serving.batch_stages.batch_model``) and ``earlyrisk monitor``
(``serving.monitor.run.run_monitor``) each had their own copy of this check; the shared
helper keeps the caller's class so each CLI still maps it to its own exit code.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from serving_world import MODEL_NAME, ServingWorld

from features.catalogue import feature_list_fingerprint
from features.config import FeatureConfig
from serving.batch import BatchScoringError, load_batch_model
from serving.batch_stages import BatchStageError, batch_model
from serving.monitor.run import MonitorError, run_monitor
from serving.settings import ServingSettings
from training.registry import (
    TAG_FEATURE_CONFIG,
    TAG_FEATURE_LIST_SHA,
    LoadedRiskModel,
    log_risk_model,
    refuse_other_feature_list,
)
from training.tracking import TrackingStore

OTHER = "0" * 64  # a feature list this code does not compute


class _CallersError(ValueError):
    """Stands for a caller's own error class."""


def _loaded(world: ServingWorld, tags: dict[str, str]) -> LoadedRiskModel:
    return LoadedRiskModel(world.model, MODEL_NAME, "7", "run", tags=tags)


@pytest.fixture(scope="module")
def other_list_uri(serving_world: ServingWorld) -> str:
    """A registered version of the world's model tagged with another feature list."""
    store = TrackingStore(serving_world.tracking_uri)
    with store.run(store.experiment("feature-list-refusal")) as run:
        logged = log_risk_model(
            serving_world.model,
            run=run,
            input_example=serving_world.frame,
            feature_list_sha256=OTHER,
            registered_model_name="earlyrisk-other-feature-list",
            extra_tags={TAG_FEATURE_CONFIG: FeatureConfig().model_dump_json()},
        )
    return f"models:/earlyrisk-other-feature-list/{logged.version}"


def test_the_helper_raises_the_callers_class_naming_both_lists(
    serving_world: ServingWorld,
) -> None:
    current = feature_list_fingerprint()
    with pytest.raises(_CallersError) as refused:
        refuse_other_feature_list(
            _loaded(serving_world, {TAG_FEATURE_LIST_SHA: OTHER}), _CallersError, remedy="retrain"
        )
    message = str(refused.value)
    assert f"{MODEL_NAME}/7" in message and OTHER in message and current in message
    assert message.endswith("; retrain")
    with pytest.raises(_CallersError, match=r"feature list \(not recorded\)"):
        refuse_other_feature_list(_loaded(serving_world, {}), _CallersError, remedy="retrain")
    # the same list passes, against the default and against an explicit expectation
    same = _loaded(serving_world, {TAG_FEATURE_LIST_SHA: current})
    refuse_other_feature_list(same, _CallersError, remedy="retrain")
    with pytest.raises(_CallersError, match=OTHER):
        refuse_other_feature_list(same, _CallersError, remedy="retrain", expected=OTHER)


def test_batch_scoring_refuses_a_model_of_another_feature_list(
    serving_world: ServingWorld, other_list_uri: str
) -> None:
    with pytest.raises(BatchScoringError, match=f"feature list {OTHER}.*score with a model"):
        load_batch_model(other_list_uri, tracking_uri=serving_world.tracking_uri)


def test_a_batch_runs_shadow_or_rollout_version_of_another_list_is_refused(
    serving_world: ServingWorld,
) -> None:
    loaded = _loaded(serving_world, {TAG_FEATURE_LIST_SHA: OTHER})
    with pytest.raises(BatchStageError, match="it cannot score these features"):
        batch_model(loaded, ServingSettings(), expected_features=feature_list_fingerprint())


def test_the_monitor_refuses_a_model_of_another_feature_list_before_reading_data(
    serving_world: ServingWorld, other_list_uri: str, tmp_path: Path
) -> None:
    with pytest.raises(MonitorError, match=f"feature list {OTHER}.*monitor a model trained"):
        run_monitor(
            tmp_path / "no-raw-data-read",  # refused before the registry is read
            as_of=dt.date(2024, 12, 31),
            out_dir=tmp_path / "out",
            model_uri=other_list_uri,
            tracking_uri=serving_world.tracking_uri,
            log_to_mlflow=False,
        )
