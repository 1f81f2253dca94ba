"""Fixtures of the training tests: a quick model spec, a config writer, a synthetic registry.

The shared ``small_registry_dir`` (400 families) holds too few outcomes for three slices
(the label is rare), so the end-to-end training tests use their own registry of a few
thousand families, generated once per session.

``write_config`` gives a small explicit design (:data:`SMALL_DESIGN`): the default design
trains on 8 quarter ends and backtests 3 origins, so every end-to-end test fitted eight
dates' rows four times (held-out design, two earlier origins, the final refit). The
defaults themselves are proved once, by
``test_train_cli.py::test_train_with_no_config_on_a_foreign_export_uses_its_own_dates``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from training_frames import QUICK_SPEC

TRAINING_REGISTRY_FAMILIES = 3000
TRAINING_REGISTRY_SEED = 11
#: the design of ``write_config``: still derived from the data (the derivation is what the
#: tests run), two training dates instead of eight, the held-out design plus one earlier
#: origin (so the backtest and its figures are still produced) instead of three
SMALL_DESIGN = {
    "slices": {"train_dates": 2, "min_train_dates": 2},
    "backtest": {"origins": 2, "n_bootstrap": 20},
}


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a training config for tmp_path (quick model, MLflow in tmp_path) and return it."""

    def write(**overrides: Any) -> Path:
        spec = tmp_path / "quick.yaml"
        spec.write_text(yaml.safe_dump(QUICK_SPEC), encoding="utf-8")
        data: dict[str, Any] = {
            "model_spec": str(spec),
            "report_dir": str(tmp_path / "report"),
            "evaluation": {"n_bootstrap": 40},
            **copy.deepcopy(SMALL_DESIGN),
            "mlflow": {
                "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
                "artifact_location": str(tmp_path / "mlartifacts"),
                "model_name": "earlyrisk-test",
            },
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        path = tmp_path / "train.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def training_registry_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic registry large enough for train / calibration / test slices."""
    from features.synth import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("training_registry")
    synthesize(
        SynthConfig(families=TRAINING_REGISTRY_FAMILIES, seed=TRAINING_REGISTRY_SEED),
        out,
        workers=1,
    )
    return out
