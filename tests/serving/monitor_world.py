"""The trained worlds of the monitoring and report tests, written once.

``test_monitor_registry.py`` and ``test_report_pages.py`` read one world: a 3,000-family
registry (2020-2025) with the documented shift planted from January 2024, one quick model
trained on it before the shift (test slice 2022-12-31, whose label window closes before the
shift, so the model and its reports are those of an unchanged registry), its training,
fairness and model-card reports, and a monitoring report at 2023-12-31. It is built once
per run (:func:`shared_cache.shared_build`), whichever worker asks first.

``test_monitor_seasons.py`` trains on its own seasonal registry with
:func:`train_quick`, the one way these tests train.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from shared_cache import shared_build

MONITOR_MODEL = "earlyrisk-monitor-test"
#: the world's training slices: every label window closes before the planted shift
MONITOR_SLICES = {
    "train": ["2020-06-30", "2020-12-31"],
    "calibration": ["2021-12-31"],
    "test": ["2022-12-31"],
}
SHIFT_MONTH = dt.date(2024, 1, 1)


def train_quick(
    root: Path,
    raw: Path,
    *,
    model_name: str,
    slices: dict[str, list[str]],
    num_boost_round: int,
    n_bootstrap: int,
    fairness_gate: bool = True,
    write_reports: bool = False,
) -> Any:
    """Train a small LightGBM with early stopping on ``raw`` into an MLflow registry under
    ``root`` (``sqlite:///root/mlflow.db``); return the :class:`TrainResult`.

    ``fairness_gate=False`` switches the fairness gate off (registries this small leave it
    undecided, which the monitoring tests do not look at)."""
    from training.config import load_config
    from training.pipeline import run_training

    spec = root / "quick.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "kind": "lightgbm",
                "params": {"learning_rate": 0.1, "num_leaves": 7, "min_data_in_leaf": 20},
                "num_boost_round": num_boost_round,
                "early_stopping_rounds": 10,
                "validation_fraction": 0.2,
            }
        ),
        encoding="utf-8",
    )
    config: dict[str, Any] = {
        "model_spec": str(spec),
        "report_dir": str(root / "report"),
        "evaluation": {"n_bootstrap": n_bootstrap},
        # the held-out design alone: no monitoring or report test reads an earlier origin
        "backtest": {"origins": 1, "n_bootstrap": 20},
        "slices": slices,
        "mlflow": {
            "tracking_uri": tracking_uri(root),
            "artifact_location": str(root / "art"),
            "model_name": model_name,
        },
    }
    if not fairness_gate:
        config["gates"] = {"fairness": None}
    path = root / "train.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return run_training(load_config(path), raw_dir=raw, n_threads=1, write_reports=write_reports)


def tracking_uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


def _build_monitor_world(root: Path) -> dict[str, Any]:
    from features.synth import SynthConfig, synthesize
    from serving.monitor.config import MonitorConfig
    from serving.monitor.run import run_monitor

    raw = root / "raw"
    config = SynthConfig(families=3000, seed=11, end=dt.date(2025, 12, 31), shift_month=SHIFT_MONTH)
    synthesize(config, raw, workers=1)
    result = train_quick(
        root,
        raw,
        model_name=MONITOR_MODEL,
        slices=MONITOR_SLICES,
        num_boost_round=80,
        n_bootstrap=30,
        write_reports=True,
    )
    run_monitor(
        raw,
        as_of=dt.date(2023, 12, 31),
        out_dir=root / "monitor",
        model_uri=f"models:/{MONITOR_MODEL}/{result.model_version}",
        tracking_uri=tracking_uri(root),
        config=MonitorConfig(history_months=6, n_boot=30),
        log_to_mlflow=False,
        n_jobs=1,
    )
    return {
        "root": root,
        "raw": raw,
        "tracking": tracking_uri(root),
        "version": result.model_version,
        "final": result.final,
        "test": result.split.test,
        "decision": result.decision,
    }


def monitor_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The shared world (see the module's docstring); read-only but for new files under
    its root that a test names itself."""
    return shared_build(tmp_path_factory, "monitor_world", _build_monitor_world)
