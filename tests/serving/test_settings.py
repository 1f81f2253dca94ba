"""Settings come from EARLYRISK_* variables and refuse bands that cannot be right."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving.settings import ServingSettings


def test_environment_configures_the_service(monkeypatch, tmp_path):
    monkeypatch.setenv("EARLYRISK_MODEL_NAME", "m")
    monkeypatch.setenv("EARLYRISK_MAX_BATCH_SIZE", "7")
    monkeypatch.setenv(
        "EARLYRISK_RISK_BANDS",
        '[{"level": "low", "min_probability": 0}, {"level": "high", "min_probability": 0.5}]',
    )
    monkeypatch.setenv("EARLYRISK_CAPACITY_COUNT", "300")
    settings = ServingSettings()
    assert settings.resolved_model_uri == "models:/m@champion"
    assert settings.max_batch_size == 7
    assert [b.level for b in settings.risk_bands] == ["low", "high"]
    assert settings.capacity_count == 300
    monkeypatch.delenv("EARLYRISK_RISK_BANDS")
    assert ServingSettings().risk_bands is None  # default: derived from capacity
    assert ServingSettings(model_uri="models:/m/3").resolved_model_uri == "models:/m/3"


@pytest.mark.parametrize(
    "bands",
    [
        [{"level": "a", "min_probability": 0.1}],
        [{"level": "a", "min_probability": 0}, {"level": "b", "min_probability": 0}],
        [{"level": "low", "min_probability": 0}, {"level": "high", "min_probability": 1.5}],
        [{"level": "low", "min_probability": 0}, {"level": "urgent", "min_probability": 0.5}],
    ],
)
def test_bad_bands_are_refused(bands):
    with pytest.raises(ValidationError, match=r"risk_bands|min_probability|level"):
        ServingSettings(risk_bands=bands)


def test_unknown_setting_is_refused():
    with pytest.raises(ValidationError, match="port"):
        ServingSettings(port=1)
