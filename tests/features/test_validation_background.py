"""Checks in a child process (from the fork server) refuse exactly what the in-process
validator refuses.

:func:`features.validation.background.load_checking_in_background` hands the parsed tables
back before the contract rules are checked; these tests hold it to the same findings as
:func:`features.validation.load_validated` on every corruption case of the validator's own
tests, and show that a checker that dies is an error, never a pass.
"""

from __future__ import annotations

import os
import signal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from raw_factory import valid_tables
from test_validation import ERROR_CASES, _write

from features.validation import InvalidRawDataError, load_validated, validate_raw_dir
from features.validation.background import (
    RawShapeError,
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


def test_a_checker_that_dies_is_an_error_not_a_pass(small_registry_dir: Path) -> None:
    _, checks = load_checking_in_background(small_registry_dir)
    assert checks.pid is not None and checks.pid != os.getpid()
    # killed as the kernel's OOM killer would, the moment it exists: validating the
    # ~400 families takes it a second or more, so it cannot have answered yet
    os.kill(checks.pid, signal.SIGKILL)
    with pytest.raises(ValidationProcessError, match="exited with code -9"):
        checks.result()
    with pytest.raises(ValidationProcessError):  # and it stays an error
        checks.result()


class _RecordingContext:
    """The real worker context, noting the start method and each child's arguments."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.started: list[tuple[str, tuple[object, ...]]] = []

    def Pipe(self, duplex: bool = True) -> Any:
        return self.real.Pipe(duplex=duplex)

    def Process(self, *, args: tuple[object, ...], **options: Any) -> Any:
        self.started.append((self.real.get_start_method(), args))
        return self.real.Process(args=args, **options)


def test_the_checker_is_not_forked_and_is_sent_the_directory_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not forked (the caller's threads keep running); sent the path, not the tables."""
    import features.validation.background as background

    recording = _RecordingContext(background.worker_context())
    monkeypatch.setattr(background, "worker_context", lambda: recording)
    raw = _write(valid_tables(), tmp_path / "raw", "parquet")
    _, checks = load_checking_in_background(raw)
    [(method, args)] = recording.started
    assert method == "forkserver"
    assert args[0] == str(raw)
    assert all(isinstance(arg, str | Connection) for arg in args)
    assert checks.result() == validate_raw_dir(raw)


def test_a_shape_the_schemas_refuse_is_an_error_after_the_rules_pass(tmp_path: Path) -> None:
    """The shape schemas run in the parent, on the tables it handed out."""
    raw = _write(valid_tables(), tmp_path / "raw", "parquet")
    tables, checks = load_checking_in_background(raw)
    tables.families["family_id"] = range(len(tables.families))  # ids became integers
    with pytest.raises(RawShapeError):
        checks.result()


def test_missing_directory_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="does not exist"):
        load_checking_in_background(tmp_path / "nowhere")
