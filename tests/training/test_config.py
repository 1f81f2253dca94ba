"""TrainConfig: strict YAML, sensible defaults, model specs found and validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import (
    CapacityConfig,
    ConfigError,
    LightGBMSpec,
    LogisticSpec,
    load_config,
    load_model_spec,
)


def test_default_config_loads_with_both_model_specs():
    cfg = load_config()
    assert isinstance(cfg.load_model_spec("model"), LightGBMSpec)
    assert isinstance(cfg.load_model_spec("baseline"), LogisticSpec)
    assert cfg.mlflow.tracking_uri == "sqlite:///mlflow.db"
    assert cfg.mlflow.model_name == "earlyrisk-family-risk"
    assert cfg.gates.fairness is not None  # the audit's gates are on by default


def test_unknown_key_is_an_error_naming_it(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 1\ncapacty:\n  fraction: 0.1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="capacty"):
        load_config(path)


def test_nested_unknown_key_is_an_error_naming_its_path(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("label:\n  horizon: 6\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"label\.horizon"):
        load_config(path)


def test_capacity_needs_exactly_one_of_count_or_fraction():
    with pytest.raises(ValueError, match=r"exactly one.*got count=10, fraction=0\.1"):
        CapacityConfig(count=10, fraction=0.1)
    with pytest.raises(ValueError, match=r"exactly one.*got count=None, fraction=None"):
        CapacityConfig()
    assert CapacityConfig(count=50).k(20) == 20
    assert CapacityConfig(fraction=0.05).k(1000) == 50


def test_trainer_owned_lightgbm_params_are_refused(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text("kind: lightgbm\nparams:\n  seed: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="seed"):
        load_model_spec(path)


def test_missing_model_spec_names_where_it_looked(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("model_spec: models/nope.yaml\n", encoding="utf-8")
    cfg = load_config(path)
    with pytest.raises(ConfigError, match=r"models/nope\.yaml"):
        cfg.load_model_spec("model")


def test_fairness_gates_can_be_switched_off(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("gates:\n  fairness: null\n", encoding="utf-8")
    assert load_config(path).gates.fairness is None


def test_lightgbm_threads_are_fixed_by_the_config_not_the_machine(tmp_path: Path):
    # OpenMP's default (0) follows the machine's cores, and with it the model: refused.
    assert load_config().lightgbm_threads == 2
    path = tmp_path / "c.yaml"
    path.write_text("lightgbm_threads: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="lightgbm_threads"):
        load_config(path)
