"""`earlyrisk features` output safety (issue 10, items 20-21).

An existing --out is kept unless --overwrite; a directory is not a file; an --as-of date
pandas cannot hold, or on which no family has a member, is a message and exit 2, with
nothing written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app

AS_OF = "2022-01-01"


def _features(raw_dir: Path, out: Path, *extra: str):
    args = ["features", "--raw", str(raw_dir), "--out", str(out), "--jobs", "1"]
    return CliRunner().invoke(app, [*args, *extra])


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_an_existing_output_is_kept_without_overwrite(
    tmp_path: Path, small_registry_dir: Path
) -> None:
    out = tmp_path / "f.parquet"
    out.write_bytes(b"someone's earlier table")
    refused = _features(small_registry_dir, out, "--as-of", AS_OF)
    assert refused.exit_code == 2 and "--overwrite" in _flat(refused.output)
    assert out.read_bytes() == b"someone's earlier table"
    replaced = _features(small_registry_dir, out, "--as-of", AS_OF, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert out.read_bytes()[:4] == b"PAR1"


def test_a_directory_is_not_an_output_file(tmp_path: Path, small_registry_dir: Path) -> None:
    result = _features(small_registry_dir, tmp_path, "--as-of", AS_OF)
    assert result.exit_code == 2 and "is a directory" in _flat(result.output)


@pytest.mark.parametrize("day", ["1677-09-21", "2999-12-31"])
def test_a_date_pandas_cannot_hold_is_a_message(
    tmp_path: Path, small_registry_dir: Path, day: str
) -> None:
    out = tmp_path / "f.parquet"
    result = _features(small_registry_dir, out, "--as-of", day)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert f"'{day}' is not a usable date" in _flat(result.output)
    assert not out.exists()


@pytest.mark.parametrize("day", ["1900-01-01", "1800-01-01"])
def test_a_date_with_no_family_is_refused(
    tmp_path: Path, small_registry_dir: Path, day: str
) -> None:
    out = tmp_path / "f.parquet"
    result = _features(small_registry_dir, out, "--as-of", AS_OF, "--as-of", day)
    assert result.exit_code == 2, result.output
    assert f"--as-of {day}: no family has a member" in _flat(result.output)
    assert not out.exists()
