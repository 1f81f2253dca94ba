"""Read a raw registry now and check its contract rules in a child process meanwhile.

:func:`features.validation.load_validated` reads, parses and then checks every contract
rule before it returns, on one core. The training job's next step, the feature engine, does
not need the checks' answer to start, only before anything is learned from its output. So
:func:`load_checking_in_background` returns the parsed tables as soon as they are read,
with a :class:`PendingValidation` whose checks run in a child process on the other core.
The caller must call :meth:`PendingValidation.result` before it uses anything computed
from the tables: broken data is still refused, only later and at no extra cost on success.

The child comes from the fork server (:mod:`features.workers`); the caller is not forked: it
goes on to start
threads and pools while the child runs, and a fork would copy whatever locks they hold.
Such a child shares no pages with the parent, so it is sent only the directory (an
explicit argument; no table is pickled) and validates it with the streamed validator
(:func:`features.validation.validate_raw_dir`: the small tables and one slice of events
in memory, the same findings as the whole-table validator). The tables' shape schemas
(pandera) are checked by the parent when the answer is asked for, on the tables it holds.

Data whose files, columns or cells already fail while being parsed is refused at once
(there is nothing worth computing on it).
"""

from __future__ import annotations

import multiprocessing.process
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from features.contract import TABLES
from features.errors import EarlyriskError
from features.raw import RawTables
from features.validation.parse import parse_dir
from features.validation.report import ValidationReport
from features.validation.rules import Findings
from features.validation.validate import InvalidRawDataError, run_checks, validate_raw_dir
from features.workers import worker_context

MAX_EXAMPLES = 5


class RawShapeError(EarlyriskError, ValueError):
    """The tables passed every contract rule but not their shape schema (pandera)."""


class ValidationProcessError(EarlyriskError, RuntimeError):
    """The process checking the registry died or failed without a report."""


class PendingValidation:
    """The contract checks of one registry, running in a child process."""

    def __init__(
        self, process: multiprocessing.process.BaseProcess, answer: Connection, tables: RawTables
    ) -> None:
        self._process = process
        self._answer = answer
        self._tables = tables
        self._outcome: tuple[str, Any] | None = None

    @property
    def pid(self) -> int | None:
        """The checking process's id (to watch it, or to see that it is not this one)."""
        return self._process.pid

    def result(self) -> ValidationReport:
        """Wait for the checks; the report when every rule holds.

        Raises :class:`InvalidRawDataError` (with the report) when a rule is broken,
        :class:`RawShapeError` when a shape schema fails, :class:`ValidationProcessError`
        when the checking process died (for example killed for memory).
        """
        if self._outcome is None:
            try:
                self._outcome = self._answer.recv()
            except EOFError:
                self._process.join()
                self._outcome = (
                    "died",
                    f"the process checking the raw data exited with code "
                    f"{self._process.exitcode} before it reported",
                )
            finally:
                self._answer.close()
            self._process.join()
            kind, report = self._outcome
            if kind == "ok":
                assert isinstance(report, ValidationReport)
                self._outcome = _shape_checked(self._tables, report)
        kind, value = self._outcome
        if kind == "ok":
            assert isinstance(value, ValidationReport)
            return value
        if kind == "invalid":
            assert isinstance(value, ValidationReport)
            raise InvalidRawDataError(value)
        if kind == "shape":
            raise RawShapeError(value)
        raise ValidationProcessError(value)

    def cancel(self) -> None:
        """Stop the checks (the caller gave up on the data for another reason)."""
        if self._outcome is None and self._process.is_alive():
            self._process.terminate()
            self._process.join()
            self._answer.close()
            self._outcome = ("died", "the raw data checks were cancelled")


def load_checking_in_background(raw_dir: Path | str) -> tuple[RawTables, PendingValidation]:
    """The registry's parsed tables now, and its contract checks running beside the caller.

    Raises :class:`InvalidRawDataError` at once when a file, column or cell is already
    broken while parsing (the rules are then checked here too, for a complete report), and
    NotADirectoryError when ``raw_dir`` is not a directory.
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise NotADirectoryError(
            f"raw data directory {raw_dir} does not exist or is not a directory"
        )
    findings = Findings(max_examples=MAX_EXAMPLES)
    parsed, infos = parse_dir(raw_dir, findings)
    if findings.errors or not set(TABLES) <= set(parsed):
        report = run_checks(parsed, findings, infos, source=str(raw_dir))
        raise InvalidRawDataError(report)
    context = worker_context()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=check_in_child,
        args=(str(raw_dir), send),
        name="earlyrisk-validate",
        daemon=True,
    )
    process.start()
    send.close()  # the child holds the sending end; EOF here means it died
    tables = RawTables(**{name: parsed[name].frame for name in TABLES})
    return tables, PendingValidation(process, receive, tables)


def check_in_child(raw_dir: str, send: Connection) -> None:
    """Child process entry point: every rule on ``raw_dir``; send what came of it."""
    try:
        report = validate_raw_dir(raw_dir, max_examples=MAX_EXAMPLES)
        send.send(("ok" if report.ok else "invalid", report))
    except Exception:  # the parent must get an answer, never wait on a silent child
        send.send(("died", traceback.format_exc()))
    finally:
        send.close()


def _shape_checked(tables: RawTables, report: ValidationReport) -> tuple[str, Any]:
    """("ok", report) when the tables pass their shape schemas, else ("shape", why)."""
    # pandera is imported here, once the answer is asked for, for the reason
    # load_validated gives; through features.schemas first, which keeps pyspark out of a
    # pandas-engine process
    from features.schemas import validate_schemas

    # isort: split
    from pandera.errors import SchemaError, SchemaErrors

    try:
        validate_schemas(tables, values=False)
    except (SchemaError, SchemaErrors) as error:
        return ("shape", str(error))
    return ("ok", report)
