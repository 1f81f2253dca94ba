"""Batch scoring builds features with the training run's feature configuration.

The label of a batch file is the label the model was trained for (its outcome types and
horizon, recorded on the model version by `earlyrisk train`), and a model version that
records no configuration is refused rather than labelled with a guess.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from serving_world import ServingWorld

from features.catalogue import feature_list_fingerprint
from features.config import FeatureConfig
from features.engine import build_feature_table
from serving.batch import BatchScoringError, score_registry
from serving.store.audit_log import AuditLog
from training.registry import TAG_FEATURE_CONFIG, log_risk_model
from training.tracking import TrackingStore

# every test here needs a trained model or a generated registry (tens of seconds)
pytestmark = pytest.mark.slow

AS_OF = "2024-06-30"


def _register(world: ServingWorld, name: str, tags: dict[str, str]) -> str:
    store = TrackingStore(world.tracking_uri)
    with store.run(store.experiment("serving-test")) as run:
        logged = log_risk_model(
            world.model,
            run=run,
            input_example=world.frame,
            feature_list_sha256=feature_list_fingerprint(),
            registered_model_name=name,
            extra_tags=tags,
        )
    return f"models:/{name}/{logged.version}"


def _score(world: ServingWorld, raw: Path, uri: str, out: Path) -> pd.DataFrame:
    log = AuditLog(out.parent / "audit_log.sqlite")
    try:
        score_registry(
            raw,
            as_of=AS_OF,
            out=out,
            model_uri=uri,
            tracking_uri=world.tracking_uri,
            audit_log=log,
            operator="test:batch",
        )
    finally:
        log.close()
    return pd.read_parquet(out)


def test_batch_labels_follow_the_training_runs_configuration(
    serving_world: ServingWorld, small_registry_dir: Path, tmp_path: Path
) -> None:
    short = FeatureConfig(horizon_months=1, extraction_date="2030-01-01")
    uri = _register(
        serving_world, "batch-config-short", {TAG_FEATURE_CONFIG: short.model_dump_json()}
    )
    scores = _score(serving_world, small_registry_dir, uri, tmp_path / "s.parquet")
    # the run's horizon; the registry's own extraction date (the run's is not carried over)
    expected = build_feature_table(
        small_registry_dir, [AS_OF], config=FeatureConfig(horizon_months=1), n_jobs=1
    )
    default = build_feature_table(small_registry_dir, [AS_OF], n_jobs=1)
    got = scores.set_index("family_id")[["label", "label_observed"]].sort_index()
    want = expected.set_index("family_id")[["label", "label_observed"]].sort_index()
    assert got["label_observed"].tolist() == want["label_observed"].tolist()
    assert got["label"].astype("float64").tolist() == want["label"].astype("float64").tolist()
    # the case is not vacuous: a 12-month horizon labels more families
    assert default["label"].sum() > expected["label"].sum()


def test_batch_refuses_a_model_without_a_feature_configuration(
    serving_world: ServingWorld, small_registry_dir: Path, tmp_path: Path
) -> None:
    uri = _register(serving_world, "batch-config-none", {})
    out = tmp_path / "s.parquet"
    with pytest.raises(BatchScoringError, match=TAG_FEATURE_CONFIG):
        _score(serving_world, small_registry_dir, uri, out)
    assert not out.exists()
