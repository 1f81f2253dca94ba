"""`earlyrisk features` output safety (issue 10, items 20-21).

An existing --out is kept unless --overwrite; a directory is not a file; an --as-of date
pandas cannot hold, on which no family has a member, or after the data's extraction date
is a message and exit 2, with nothing written.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from features.raw import read_table

AS_OF = "2022-01-01"


# a wide terminal: a long temporary path is never folded inside a word by rich
WIDE = {"COLUMNS": "400"}


def _features(raw_dir: Path, out: Path, *extra: str):
    args = ["features", "--raw", str(raw_dir), "--out", str(out), "--jobs", "1"]
    return CliRunner().invoke(app, [*args, *extra], env=WIDE)


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


def test_an_out_under_a_file_is_refused_before_any_work(
    tmp_path: Path, small_registry_dir: Path
) -> None:
    (tmp_path / "a_file").write_text("", encoding="utf-8")
    out = tmp_path / "a_file" / "f.parquet"
    result = _features(small_registry_dir, out, "--as-of", AS_OF)
    assert result.exit_code == 2, result.output
    said = _flat(result.output)
    assert f"--out {out} cannot be written: {tmp_path / 'a_file'} is a file, not a folder" in said


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


def extraction_date(raw_dir: Path) -> pd.Timestamp:
    """The registry's latest recorded_date of events and outcomes, read here directly."""
    return max(
        read_table(raw_dir, table)["recorded_date"].max() for table in ("events", "outcomes")
    )


def test_an_as_of_after_the_extraction_date_is_refused(
    tmp_path: Path, small_registry_dir: Path
) -> None:
    """Far beyond the data, memberships with no end date would still select families as if
    nothing had happened since the extraction: the registry cannot describe that date."""
    extraction = extraction_date(small_registry_dir)
    out = tmp_path / "f.parquet"
    far = _features(small_registry_dir, out, "--as-of", AS_OF, "--as-of", "2200-01-01")
    assert far.exit_code == 2, far.output
    assert isinstance(far.exception, SystemExit)  # a message, not a traceback
    said = _flat(far.output)
    assert (
        f"as-of date 2200-01-01 is after the data's extraction date {extraction:%Y-%m-%d} "
        "(the latest recorded_date of events and outcomes)" in said
    ), said
    assert not out.exists()
    next_day = _features(
        small_registry_dir, out, "--as-of", f"{extraction + pd.Timedelta(days=1):%Y-%m-%d}"
    )
    assert next_day.exit_code == 2 and "extraction date" in _flat(next_day.output)
    assert not out.exists()
    on_the_day = _features(small_registry_dir, out, "--as-of", f"{extraction:%Y-%m-%d}")
    assert on_the_day.exit_code == 0, on_the_day.output
    assert out.exists()
