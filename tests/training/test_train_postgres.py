"""`earlyrisk train` with MLflow tracking and registry on PostgreSQL (issue 14, item 3).

A bare ``postgresql://`` URI is given, as an operator would write it: the config names
the psycopg 3 driver for MLflow's SQLAlchemy (psycopg2 is not installed).
"""

from __future__ import annotations

import mlflow
import psycopg
import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_train_registers_the_model_in_postgres(
    training_registry_dir, write_config, postgres_url: str
) -> None:
    # what is proved is where the run is registered: one design, no backtest, no refit
    config = write_config(
        mlflow={"tracking_uri": postgres_url}, backtest={"origins": 1}, final_refit=False
    )
    result = CliRunner().invoke(
        app,
        ["train", "--raw", str(training_registry_dir), "--config", str(config), "--jobs", "1"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "version 1" in result.output
    uri = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = client.search_model_versions("name = 'earlyrisk-test'")
    assert [str(v.version) for v in versions] == ["1"]
    assert versions[0].tags["raw_sha256"] != "unknown"
    with psycopg.connect(postgres_url) as conn:  # the registry's rows are in this database
        names = conn.execute("SELECT name FROM registered_models").fetchall()
    assert names == [("earlyrisk-test",)]
