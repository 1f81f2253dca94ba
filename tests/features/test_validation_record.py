"""`validate --record` and `--validated`: a record stands for a validation only while the
raw files and the validator are the ones it names, and only when the registry passed.

The record is written by the pandas validator here (fast; both engines give the same
report, test_spark_engine.py), and checked without Spark; one slow test runs
`features --engine spark --validated` end to end.
"""

from __future__ import annotations

import json
import shutil
import types
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from raw_factory import set_cell, valid_tables
from typer.testing import CliRunner

import features.spark.record as records
import features.validation
from earlyrisk.cli import app
from features.raw import write_raw
from features.spark.record import (
    ValidationRecordError,
    trusted_record,
    validator_fingerprint,
    write_record,
)
from features.validation import validate_raw_dir


@pytest.fixture
def registry(small_registry_dir: Path, tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(small_registry_dir, raw)
    return raw


def _recorded(raw: Path, tmp_path: Path) -> Path:
    result = CliRunner().invoke(
        app, ["validate", str(raw), "--json", "--record", str(tmp_path / "record.json")]
    )
    assert result.exit_code == 0, result.output
    return tmp_path / "record.json"


def test_a_record_of_a_passed_validation_holds_for_the_same_files(
    registry: Path, tmp_path: Path
) -> None:
    record = _recorded(registry, tmp_path)
    held = trusted_record(record, registry)
    assert held.ok and held.rules_broken == []
    assert held.validator_sha256 == validator_fingerprint()
    # the same bytes elsewhere are the same registry
    moved = tmp_path / "moved"
    shutil.copytree(registry, moved)
    assert trusted_record(record, moved).raw_files_sha256 == held.raw_files_sha256


def test_a_changed_raw_file_refuses_the_record(registry: Path, tmp_path: Path) -> None:
    record = _recorded(registry, tmp_path)
    events = pq.read_table(registry / "events.parquet")
    pq.write_table(events.slice(1), registry / "events.parquet")  # one event fewer
    with pytest.raises(ValidationRecordError, match=r"are not the ones .* validate again"):
        trusted_record(record, registry)


def test_a_record_of_a_failed_validation_is_refused(tmp_path: Path) -> None:
    broken = set_cell(valid_tables(), "events", {"event_id": "E2"}, "family_id", "F999")
    raw = tmp_path / "broken"
    write_raw(broken, raw)
    result = CliRunner().invoke(
        app, ["validate", str(raw), "--record", str(tmp_path / "record.json")]
    )
    assert result.exit_code == 1
    written = json.loads((tmp_path / "record.json").read_text())
    assert written["ok"] is False and "foreign_key" in written["rules_broken"]
    with pytest.raises(ValidationRecordError, match="failed validation \\(foreign_key"):
        trusted_record(tmp_path / "record.json", raw)


def test_another_validator_refuses_the_record(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = _recorded(registry, tmp_path)
    rules = tmp_path / "rules.py"
    rules.write_text("RULES = ['unique']\n")
    edited = types.SimpleNamespace(__name__="features.validation.rules", __file__=str(rules))
    monkeypatch.setattr(records, "_VALIDATOR_MODULES", (*records._VALIDATOR_MODULES, edited))
    before = validator_fingerprint()
    with pytest.raises(ValidationRecordError, match="another version of the validator"):
        trusted_record(record, registry)
    rules.write_text("RULES = ['unique', 'foreign_key']\n")  # a rule changed
    assert validator_fingerprint() != before


def test_every_module_of_the_validation_package_is_in_the_validator_fingerprint() -> None:
    """A rule, message or parser moved into a new module of features/validation/ must still
    refuse an older record when it changes: the list is read from the package, not typed."""
    package = Path(features.validation.__file__).parent
    modules = {f"features.validation.{path.stem}" for path in package.glob("*.py")}
    modules.discard("features.validation.__init__")
    fingerprinted = {module.__name__ for module in records._VALIDATOR_MODULES}
    assert modules <= fingerprinted, sorted(modules - fingerprinted)
    assert {"features.contract", "features.spark.validation", "features.spark.raw"} <= fingerprinted


def test_what_is_not_a_record_is_named(registry: Path, tmp_path: Path) -> None:
    with pytest.raises(ValidationRecordError, match="does not exist"):
        trusted_record(tmp_path / "none.json", registry)
    (tmp_path / "other.json").write_text(json.dumps({"ok": True}))
    with pytest.raises(ValidationRecordError, match="is not a validation record"):
        trusted_record(tmp_path / "other.json", registry)
    report = validate_raw_dir(registry)
    record = write_record(report, registry, tmp_path / "r.json")
    data = json.loads(record.read_text())
    (tmp_path / "r.json").write_text(json.dumps({**data, "kind": "something.else"}))
    with pytest.raises(ValidationRecordError, match=r"kind 'something\.else'"):
        trusted_record(tmp_path / "r.json", registry)


def test_validated_is_refused_on_the_pandas_engine(registry: Path, tmp_path: Path) -> None:
    record = _recorded(registry, tmp_path)
    out = tmp_path / "features.parquet"
    argv = ["features", "--raw", str(registry), "--as-of", "2023-12-31", "--out", str(out)]
    result = CliRunner().invoke(app, [*argv, "--validated", str(record)])
    assert result.exit_code == 2
    assert "--validated is for --engine spark" in " ".join(result.output.split())
    assert not out.exists()
    scored = CliRunner().invoke(
        app,
        [
            *("score", "--raw", str(registry), "--as-of", "2023-12-31", "--out", str(out)),
            *("--validated", str(record)),
        ],
    )
    assert scored.exit_code == 2 and not out.exists()


@pytest.mark.slow
def test_spark_features_use_a_record_and_refuse_a_stale_one(
    spark, registry: Path, tmp_path: Path
) -> None:
    record = _recorded(registry, tmp_path)
    out = tmp_path / "features"
    argv = ["features", "--raw", str(registry), "--as-of", "2023-12-31", "--out", str(out)]
    argv += ["--engine", "spark", "--spark-master", "local[2]", "--validated", str(record)]
    ok = CliRunner().invoke(app, argv)
    assert ok.exit_code == 0, ok.output
    assert "not validated again" in ok.output
    assert len(pd.read_parquet(out)) > 0
    # the registry changes after the record: refused, nothing written
    persons = pq.read_table(registry / "persons.parquet")
    pq.write_table(persons.slice(0, persons.num_rows - 1), registry / "persons.parquet")
    stale = tmp_path / "stale"
    refused = CliRunner().invoke(app, [*argv[:6], str(stale), *argv[7:]])
    assert refused.exit_code == 1, refused.output
    assert "are not the ones" in " ".join(refused.output.split())
    assert not stale.exists()
