"""`earlyrisk model history` on a registry where no version was ever champion says so.

Found on a fresh `make demo` (its model failed a gate and is served as `challenger`): the
auditor's first command printed nothing and exited 0, which reads as "not found" as much as
"never".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from training.tracking import TrackingStore

MODEL = "earlyrisk-history-empty"


def test_history_without_a_champion_says_there_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    TrackingStore(uri).client.create_registered_model(MODEL)
    monkeypatch.setenv("EARLYRISK_TRACKING_URI", uri)
    monkeypatch.setenv("EARLYRISK_MODEL_NAME", MODEL)
    result = CliRunner().invoke(app, ["model", "history"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert f"no champion yet: no version of {MODEL} was made champion" in result.output
    on = CliRunner().invoke(app, ["model", "history", "--on", "2024-12-31"])
    assert on.exit_code == 0 and on.output.strip() == "none"
