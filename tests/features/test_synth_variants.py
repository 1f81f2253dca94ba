"""Generator variants: each changes the structure it names, the standard one nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from earlyrisk.cli import app
from features.synth import SynthConfig, synthesize
from features.synth.variants import VARIANTS

FAMILIES = 300


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name in ("standard", "seasonal", "slow_recording", "rare_outcomes"):
        path = tmp_path_factory.mktemp(name)
        synthesize(SynthConfig(families=FAMILIES, seed=7, variant=name), path, workers=1)
        out[name] = path
    return out


def _events(path: Path) -> pd.DataFrame:
    events = pd.read_parquet(path / "events.parquet")
    events["month"] = pd.to_datetime(events["event_date"]).dt.month
    events["lag"] = (
        pd.to_datetime(events["recorded_date"]) - pd.to_datetime(events["event_date"])
    ).dt.days
    return events


def test_the_standard_variant_is_the_default_registry(
    registries: dict[str, Path], tmp_path: Path
) -> None:
    default = tmp_path / "default"
    synthesize(SynthConfig(families=FAMILIES, seed=7), default, workers=1)
    for table in ("events", "outcomes", "ground_truth"):
        a = (default / f"{table}.parquet").read_bytes()
        assert a == (registries["standard"] / f"{table}.parquet").read_bytes(), table


def test_the_seasonal_variant_follows_the_heating_season(registries: dict[str, Path]) -> None:
    heating = [10, 11, 12, 1, 2, 3]
    shares = {}
    for name in ("standard", "seasonal"):
        events = _events(registries[name])
        debts = events.loc[events["event_type"] == "utility_debt"]
        shares[name] = debts["month"].isin(heating).mean()
    assert 0.40 < shares["standard"] < 0.60  # no season
    assert shares["seasonal"] > 0.70  # 1.6x against 0.4x: 80 % expected


def test_slow_recording_delays_records_with_a_heavier_tail(registries: dict[str, Path]) -> None:
    standard = _events(registries["standard"])["lag"]
    slow = _events(registries["slow_recording"])["lag"]
    assert slow.median() > 2 * standard.median()
    assert slow.quantile(0.99) > 3 * standard.quantile(0.99)


def test_rare_outcomes_has_fewer_cases(registries: dict[str, Path]) -> None:
    def cases(name: str) -> int:
        outcomes = pd.read_parquet(registries[name] / "outcomes.parquet")
        return int((outcomes["outcome_type"] == "child_protection_case").sum())

    assert cases("rare_outcomes") < 0.85 * cases("standard")


def test_an_unknown_variant_is_refused_with_the_known_names(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="seasonal"):
        SynthConfig(families=1, seed=0, variant="tropical")
    result = CliRunner().invoke(
        app,
        ["synth", "-n", "5", "--out", str(tmp_path / "x"), "--variant", "tropical"],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "tropical" in said and all(name in said for name in VARIANTS)
