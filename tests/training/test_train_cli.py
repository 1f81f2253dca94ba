"""`earlyrisk train` with no config on a foreign export, and its clear errors.

The summary, report and registration of a configured run are proved on PostgreSQL
(test_train_postgres.py): one training run for both.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import mlflow
import pytest
import yaml
from typer.testing import CliRunner

from earlyrisk.cli import app

runner = CliRunner()


def test_overlapping_slices_exit_1_with_the_dates_and_no_traceback(
    training_registry_dir, write_config
):
    config = write_config(
        slices={"train": ["2022-06-30"], "calibration": ["2022-12-31"], "test": ["2023-12-31"]}
    )
    result = runner.invoke(
        app, ["train", "--raw", str(training_registry_dir), "--config", str(config)]
    )
    assert result.exit_code == 1
    assert "2022-06-30" in result.output and "2023-06-30" in result.output
    assert "Traceback" not in result.output


def test_unknown_config_key_exits_1_naming_it(training_registry_dir, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"sead": 3}), encoding="utf-8")
    result = runner.invoke(
        app, ["train", "--raw", str(training_registry_dir), "--config", str(config)]
    )
    assert result.exit_code == 1
    assert "sead" in result.output


@pytest.fixture(scope="module")
def foreign_registry_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with its own period (2021-2025): none of the synthetic defaults' years."""
    from features.synth import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("foreign_registry")
    synthesize(
        SynthConfig(families=2500, seed=23, start=dt.date(2021, 1, 1), end=dt.date(2025, 12, 31)),
        out,
        workers=1,
    )
    return out


def test_train_with_no_config_on_a_foreign_export_uses_its_own_dates(
    foreign_registry_dir, tmp_path
):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = runner.invoke(
        app,
        [
            "train",
            "--raw",
            str(foreign_registry_dir),
            "--tracking-uri",
            uri,
            "--report-dir",
            str(tmp_path / "report"),
            "--jobs",
            "1",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    md = (tmp_path / "report" / "training_report.md").read_text(encoding="utf-8")
    # the latest fully observed quarter end of this export, not the defaults' 2023-12-31
    assert "test as of 2024-12-31" in md
    assert "calibration as of 2023-12-31" in md
    assert "Rolling-origin backtest" in md and "2024-06-30" in md
    assert "final refit: fit" in md
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version("earlyrisk-family-risk", "1")
    run = client.get_run(version.run_id)
    assert run.data.params["slices.test"] == "2024-12-31"
    assert run.data.params["refit.calibration"] == "2024-12-31"
    assert run.data.params["design.source"] == "data"


def test_a_registry_breaking_a_rule_is_refused_before_anything_is_fitted(
    small_registry_dir, write_config, tmp_path
):
    """The rules are checked in a forked process while the features are built; a broken
    one still stops the job (exit 1, the rule named) and nothing reaches the registry."""
    import shutil

    import pandas as pd

    from features.validation import validate_raw_dir

    raw = tmp_path / "raw"
    shutil.copytree(small_registry_dir, raw)
    events = pd.read_parquet(raw / "events.parquet")
    events.loc[0, "family_id"] = "F-NOT-IN-THE-REGISTRY"  # parses; breaks a foreign key
    events.to_parquet(raw / "events.parquet", index=False)
    broken = validate_raw_dir(raw).rules_broken()
    assert broken, "the corruption must break a rule"
    config = write_config()
    result = runner.invoke(
        app,
        ["train", "--raw", str(raw), "--config", str(config), "--jobs", "2"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for _table, _column, rule in broken:
        assert rule in result.output
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    if (tmp_path / "mlflow.db").exists():
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        assert client.search_registered_models() == []
    assert not (tmp_path / "report").exists()
