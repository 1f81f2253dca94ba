"""The training job refuses a model spec of the wrong kind before it reads any data."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import load_config
from training.pipeline import TrainingError, run_training

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.mark.parametrize(
    ("model", "baseline"),
    [("logistic.yaml", "logistic.yaml"), ("lightgbm.yaml", "lightgbm.yaml")],
)
def test_a_spec_of_the_wrong_kind_is_refused(model: str, baseline: str) -> None:
    config = load_config(None, model_spec=str(MODELS / model), baseline_spec=str(MODELS / baseline))
    with pytest.raises(TrainingError, match="must be a lightgbm spec"):
        run_training(config, log_to_mlflow=False, write_reports=False)


def test_the_default_specs_pass_the_check() -> None:
    config = load_config(None)
    # the next refusal is the missing raw data: the spec check let the job through
    with pytest.raises(TrainingError, match="no raw data"):
        run_training(config, log_to_mlflow=False, write_reports=False)
