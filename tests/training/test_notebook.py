"""The data scientist's walkthrough runs headless from the repository root and from
notebooks/, writes only under the repository's var/, and words reasons by the service's rules.

Each run uses a throwaway copy of the repository's layout (the code folders linked, the
notebook copied, ``var/demo/raw`` linked to a small synthetic registry), so the test reads
the registry through the notebook's own default path and leaves the checkout untouched.

The whole notebook (its training is most of a minute) runs once, headless from the
repository root with the kernel in notebooks/. The kernel started at the repository root
runs the set-up cell, where every path the notebook reads or writes is decided, and shows
that it decides the same ones; a second whole run would train the same model again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from features.catalogue import FEATURES

# every test here needs a trained model or a generated registry (tens of seconds)
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "data_scientist_walkthrough.ipynb"
LINKED = ("pyproject.toml", "features", "training", "serving", "models", "earlyrisk")
CELL_TIMEOUT = 1800  # seconds a cell may take on a loaded machine (training is one cell)


def _repository(tmp: Path, raw: Path) -> Path:
    """A repository layout at ``tmp/repo`` whose ``var/demo/raw`` is ``raw``."""
    repo = tmp / "repo"
    (repo / "notebooks").mkdir(parents=True)
    for name in LINKED:
        (repo / name).symlink_to(ROOT / name)
    shutil.copy(NOTEBOOK, repo / "notebooks" / NOTEBOOK.name)
    (repo / "var" / "demo").mkdir(parents=True)
    (repo / "var" / "demo" / "raw").symlink_to(raw)
    return repo


@pytest.fixture
def notebook_env(write_config, monkeypatch) -> None:
    """The quick training config; no raw directory and no MLflow store given: the defaults."""
    monkeypatch.setenv("EARLYRISK_TRAIN_CONFIG", str(write_config()))
    monkeypatch.delenv("EARLYRISK_RAW_DIR", raising=False)
    monkeypatch.delenv("EARLYRISK_TRACKING_URI", raising=False)


def _text(nb: nbformat.NotebookNode) -> str:
    return "\n".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )


def _check_outputs(nb: nbformat.NotebookNode, repo: Path) -> None:
    outputs = _text(nb)
    assert f"writes under: {repo / 'var' / 'notebook'}" in outputs
    assert "registered earlyrisk-test v1" in outputs
    assert "AUC lightgbm - logistic" in outputs
    images = sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    )
    assert images >= 4  # timeline, reliability, capacity, baseline comparison
    # the reasons: every line between the header and "context" is a need (design rule 11)
    reasons = outputs.split("strongest reasons:", 1)[1].split("context (", 1)[0]
    lines = [line.strip() for line in reasons.strip().splitlines()]
    assert lines, outputs
    not_needs = {f.description for f in FEATURES.values() if f.kind != "need"}
    for line in lines:
        assert line.startswith("+"), line  # raising, in probability points
        assert not any(description in line for description in not_needs), line
    # what it wrote is under the repository's var/, nowhere else
    store = repo / "var" / "notebook"
    assert (store / "mlflow.db").is_file() and (store / "report").is_dir()
    assert not (repo / "notebooks" / "var").exists()
    assert not (repo / "mlflow.db").exists() and not (repo / "mlartifacts").exists()


def test_jupyter_execute_from_the_repository_root(
    training_registry_dir, notebook_env, tmp_path
) -> None:
    """`jupyter execute` (nbclient) starts the kernel in notebooks/: the notebook still finds
    the repository's var/demo/raw and writes under the repository's var/."""
    repo = _repository(tmp_path, training_registry_dir)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("jupyter")),
            "execute",
            f"--timeout={CELL_TIMEOUT}",
            "--output=executed",
            "notebooks/data_scientist_walkthrough.ipynb",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=3 * CELL_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _check_outputs(nbformat.read(repo / "notebooks" / "executed.ipynb", as_version=4), repo)


#: run after the set-up cell: every path the rest of the notebook reads or writes
PATHS_PROBE = """
import json
print("PATHS " + json.dumps({
    "root": str(ROOT),
    "raw": str(RAW_DIR),
    "tracking": tracking_uri,
    "report": str(config.report_dir),
    "mlflow_tracking": config.mlflow.tracking_uri,
    "artifacts": str(config.mlflow.artifact_location),
    "code": sys.path[0],
}))
"""


def test_a_kernel_started_at_the_repository_root(
    training_registry_dir, notebook_env, tmp_path
) -> None:
    """A kernel whose working directory is the repository root (an editor's, a server's)
    finds the same repository, registry and store as one started in notebooks/."""
    import json

    repo = _repository(tmp_path, training_registry_dir)
    nb = nbformat.read(repo / "notebooks" / NOTEBOOK.name, as_version=4)
    setup = next(i for i, cell in enumerate(nb.cells) if "NOTEBOOK_STORE =" in cell.source)
    nb.cells = [*nb.cells[: setup + 1], nbformat.v4.new_code_cell(PATHS_PROBE)]
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(repo)}},
    )
    client.execute()
    line = next(x for x in _text(nb).splitlines() if x.startswith("PATHS "))
    paths = json.loads(line.removeprefix("PATHS "))
    store = repo / "var" / "notebook"
    assert Path(paths["root"]) == repo and Path(paths["code"]) == repo
    assert Path(paths["raw"]) == repo / "var" / "demo" / "raw"
    assert paths["tracking"] == paths["mlflow_tracking"] == f"sqlite:///{store / 'mlflow.db'}"
    for written in ("report", "artifacts"):
        assert Path(paths[written]).is_relative_to(store), (written, paths)
    assert store.is_dir() and not (repo / "notebooks" / "var").exists()
