"""Checks in a forked process refuse exactly what the in-process validator refuses.

:func:`features.validation.background.load_checking_in_background` hands the parsed tables
back before the contract rules are checked; these tests hold it to the same findings as
:func:`features.validation.load_validated` on every corruption case of the validator's own
tests, and show that a checker that dies is an error, never a pass.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import pytest
from raw_factory import valid_tables
from test_validation import ERROR_CASES, _write

from features.validation import InvalidRawDataError, load_validated, validate_raw_dir
from features.validation.background import (
    ValidationProcessError,
    load_checking_in_background,
)


def test_valid_registry_gives_the_same_tables_and_an_ok_report(tmp_path: Path) -> None:
    raw = _write(valid_tables(), tmp_path / "raw", "parquet")
    tables, checks = load_checking_in_background(raw)
    report = checks.result()
    assert report.ok
    assert report == validate_raw_dir(raw)
    expected = load_validated(raw)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(getattr(tables, name), frame, obj=name)
    assert checks.result() == report  # asking again gives the same answer, no new wait


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_every_broken_rule_is_refused_with_the_same_report(case: str, tmp_path: Path) -> None:
    corrupt, _ = ERROR_CASES[case]
    raw = _write(corrupt(valid_tables()), tmp_path / "raw", "parquet")
    expected = validate_raw_dir(raw)
    assert not expected.ok
    with pytest.raises(InvalidRawDataError) as caught:
        # a cell that does not parse is refused at once; a broken rule when asked
        _, checks = load_checking_in_background(raw)
        checks.result()
    assert caught.value.report.rules_broken() == expected.rules_broken()
    assert caught.value.report.errors == expected.errors


def test_a_checker_that_dies_is_an_error_not_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = _write(valid_tables(), tmp_path / "raw", "parquet")

    def killed_mid_check(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would

    # the checker is forked, so it runs this in place of the rules
    monkeypatch.setattr("features.validation.background.run_checks", killed_mid_check)
    _, checks = load_checking_in_background(raw)
    with pytest.raises(ValidationProcessError, match="exited with code -9"):
        checks.result()
    with pytest.raises(ValidationProcessError):  # and it stays an error
        checks.result()


def test_missing_directory_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="does not exist"):
        load_checking_in_background(tmp_path / "nowhere")
