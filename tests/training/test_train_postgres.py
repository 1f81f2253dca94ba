"""`earlyrisk train` end to end on a synthetic registry, with MLflow tracking and registry on
PostgreSQL (issue 14, item 3): what the command prints, the report it writes, and the
version it registers.

A bare ``postgresql://`` URI is given, as an operator would write it: the config names
the psycopg 3 driver for MLflow's SQLAlchemy (psycopg2 is not installed).

One run proves both the command's summary and where it registers (they were two runs of
the same training, 25 and 23 s). The design is the small one without backtest or refit:
the packaged design's backtest and refit are proved by
``test_train_cli.py::test_train_with_no_config_on_a_foreign_export_uses_its_own_dates``
(which also registers through the command into a SQLite store).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mlflow
import psycopg
import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_train_summarises_reports_and_registers_the_model_in_postgres(
    training_registry_dir: Path,
    write_config: Callable[..., Path],
    postgres_url: str,
    tmp_path: Path,
) -> None:
    config = write_config(
        mlflow={"tracking_uri": postgres_url}, backtest={"origins": 1}, final_refit=False
    )
    result = CliRunner().invoke(
        app,
        ["train", "--raw", str(training_registry_dir), "--config", str(config), "--jobs", "1"],
        env={"COLUMNS": "80"},
    )
    assert result.exit_code == 0, result.output
    out = result.output
    # a real run has over a hundred gates: the default summary still fits 60 lines
    assert len(out.splitlines()) <= 60, out
    for text in ("ROC AUC", "ECE", "lift@cap", "oracle"):
        assert text in out
    assert "Promotion gates (" in out
    assert "mae_vs_truth" in out  # ground_truth.parquet was used
    assert "version 1" in out
    report = tmp_path / "report" / "training_report.html"
    assert report.exists() and str(report) in out.replace("\n", "")
    md = (tmp_path / "report" / "training_report.md").read_text(encoding="utf-8")
    assert "Against the true probabilities" in md

    uri = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = client.search_model_versions("name = 'earlyrisk-test'")
    assert [str(v.version) for v in versions] == ["1"]
    assert versions[0].tags["raw_sha256"] != "unknown"
    alias = "champion" if "alias champion" in out else "challenger"
    assert f"alias {alias}" in out
    assert str(client.get_model_version_by_alias("earlyrisk-test", alias).version) == "1"
    with psycopg.connect(postgres_url) as conn:  # the registry's rows are in this database
        names = conn.execute("SELECT name FROM registered_models").fetchall()
    assert names == [("earlyrisk-test",)]
