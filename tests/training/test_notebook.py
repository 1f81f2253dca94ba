"""The data scientist's walkthrough runs from top to bottom on a small synthetic registry."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

# every test here needs a trained model or a generated registry (tens of seconds)
pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "data_scientist_walkthrough.ipynb"


def test_walkthrough_executes(training_registry_dir, write_config, tmp_path, monkeypatch):
    config = write_config()
    monkeypatch.setenv("EARLYRISK_RAW_DIR", str(training_registry_dir))
    monkeypatch.setenv("EARLYRISK_TRAIN_CONFIG", str(config))
    monkeypatch.setenv("EARLYRISK_TRACKING_URI", f"sqlite:///{tmp_path / 'nb_mlflow.db'}")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = "\n".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "registered earlyrisk-test v1" in outputs
    assert "AUC lightgbm - logistic" in outputs
    assert "strongest reasons" in outputs
    assert (tmp_path / "nb_mlflow.db").exists()
    images = sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    )
    assert images >= 4  # timeline, reliability, capacity, baseline comparison
