"""One error root: the command line turns any EarlyriskError into its message and exit 1."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from earlyrisk.cli import EXIT_ERROR, EarlyriskGroup, app
from features.errors import EarlyriskError
from features.validation import InvalidRawDataError
from serving.batch import BatchScoringError
from training.audit.validation import AuditInputError
from training.pipeline import TrainingError


def _app_raising(error: Exception) -> typer.Typer:
    demo = typer.Typer(cls=EarlyriskGroup)

    @demo.command()
    def boom() -> None:
        raise error

    @demo.command()
    def fine() -> None:
        typer.echo("ok")

    return demo


def test_a_project_error_becomes_its_message_and_exit_1() -> None:
    result = CliRunner().invoke(
        _app_raising(BatchScoringError("family F7 has no members")), ["boom"]
    )
    assert result.exit_code == EXIT_ERROR
    assert "error: family F7 has no members" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_other_errors_are_not_swallowed() -> None:
    result = CliRunner().invoke(_app_raising(KeyError("bug")), ["boom"])
    assert isinstance(result.exception, KeyError)
    assert result.exit_code != 0


def test_a_verb_that_succeeds_is_untouched() -> None:
    result = CliRunner().invoke(_app_raising(EarlyriskError("x")), ["fine"])
    assert result.exit_code == 0
    assert result.output == "ok\n"


def test_the_earlyrisk_command_uses_the_group() -> None:
    assert app.info.cls is EarlyriskGroup


def test_project_errors_share_the_root_and_keep_their_standard_base() -> None:
    for cls, base in (
        (InvalidRawDataError, ValueError),
        (TrainingError, ValueError),
        (AuditInputError, ValueError),
        (BatchScoringError, RuntimeError),
    ):
        assert issubclass(cls, EarlyriskError)
        assert issubclass(cls, base)
