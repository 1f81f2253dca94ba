"""The suite runs with and without xdist: ``pytest -p no:xdist`` (one process, for a
debugger or a profiler) must start, and under xdist the scheduler must still keep
tests/scheduling.py's order (xdist's ``--loadscope-reorder`` off)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# one quick test of the suite's own machinery: what is run does not matter, only that the
# run starts with the project's pytest configuration
QUICK_TEST = "tests/test_suite_tools.py::test_listed_units_exist_and_go_first"
# third-party plugins the quick test never uses: importing them (schemathesis, hypothesis,
# anyio's trio) cost 1.4 of a pytest process's 2.3 CPU-s here, in each of the three processes
UNUSED_PLUGINS = ("schemathesis", "hypothesispytest", "anyio", "typeguard")

# a plugin that records, after the conftest's hook built xdist's scheduler, whether xdist
# will reorder the units by test count
RECORDER = """
import os
import pytest


@pytest.hookimpl(hookwrapper=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    outcome = yield
    outcome.get_result()
    with open(os.environ["REORDER_RECORD"], "w") as f:
        f.write(repr(config.option.loadscopereorder))
"""


def _pytest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            *(f"-pno:{plugin}" for plugin in UNUSED_PLUGINS),
            "-q",
            *args,
        ],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_suite_starts_without_xdist() -> None:
    run = _pytest("-p", "no:xdist", QUICK_TEST)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_under_xdist_the_units_keep_the_suites_order(tmp_path: Path) -> None:
    (tmp_path / "reorder_recorder.py").write_text(RECORDER)
    record = tmp_path / "record.txt"
    pythonpath = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)
    run = _pytest(
        "-n",
        "1",
        "--dist",
        "loadfile",
        "-p",
        "reorder_recorder",
        QUICK_TEST,
        env={"REORDER_RECORD": str(record), "PYTHONPATH": pythonpath},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert record.read_text() == "False"
