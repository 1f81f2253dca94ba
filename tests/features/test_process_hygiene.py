"""Process hygiene in features: workers come from a fork server, never a fork of the caller;
work reaches them as
explicit arguments; library code installs no signal handler.

A fork copies the parent at one instant, including the locks its other threads hold
(a progress bar's refresh thread, the feature driver's hashing thread), so a forked worker
can hang forever; a signal handler changes the whole process that embeds the library
(a notebook, a test runner, the service). The source scans below are shown to catch a
constructed offender; the behaviour is checked on real worker processes.
"""

from __future__ import annotations

import ast
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

import features
import features.partitions as partitions
from features.partitioned_raw import open_registry
from features.validation import load_validated
from features.workers import WORKER_START_METHOD, worker_context

FEATURES = Path(features.__file__).parent
# The command-line edge: the only modules that may install a signal handler.
CLI_EDGE = {"cli_signals.py", "commands.py"}


def _library_modules() -> list[Path]:
    return sorted(
        path
        for path in FEATURES.rglob("*.py")
        if path.name not in CLI_EDGE and not path.name.endswith("_cli.py") and path.name != "cli.py"
    )


def _call_name(node: ast.Call) -> str:
    func = node.func
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def signal_installers(source: str) -> list[int]:
    """Lines of ``source`` that install a signal handler (``signal.signal`` however
    imported, ``signal.setitimer``/``siginterrupt`` aside: they install nothing)."""
    tree = ast.parse(source)
    aliases = {"signal.signal"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "signal":
            aliases |= {a.asname or a.name for a in node.names if a.name == "signal"}
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _call_name(node) in aliases
    ]


def fork_starts(source: str) -> list[int]:
    """Lines of ``source`` that fork or choose a start method themselves: ``os.fork``, any
    ``get_context``/``set_start_method`` call (the package's one choice is
    features.workers), a ``ProcessPoolExecutor`` without ``mp_context`` (the platform's
    default, fork on Linux before Python 3.14)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if (
            name in {"os.fork", "fork", "os.forkpty"}
            or name.endswith(("get_context", "set_start_method"))
            or (
                name.endswith("ProcessPoolExecutor")
                and not any(keyword.arg == "mp_context" for keyword in node.keywords)
            )
        ):
            lines.append(node.lineno)
    return lines


def test_no_library_module_installs_a_signal_handler() -> None:
    found = {
        str(path.relative_to(FEATURES)): lines
        for path in _library_modules()
        if (lines := signal_installers(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_the_signal_scan_catches_a_constructed_offender() -> None:
    offender = """
import signal
from signal import signal as on

def open_registry(path):
    signal.signal(signal.SIGTERM, lambda *a: None)
    on(signal.SIGINT, signal.SIG_IGN)
    signal.getsignal(signal.SIGTERM)  # reading is fine
"""
    assert signal_installers(offender) == [6, 7]


def test_no_library_module_forks_or_picks_its_own_start_method() -> None:
    found = {
        str(path.relative_to(FEATURES)): lines
        for path in _library_modules()
        if path.name != "workers.py" and (lines := fork_starts(path.read_text(encoding="utf-8")))
    }
    assert found == {}
    assert WORKER_START_METHOD in {"spawn", "forkserver"}


def test_the_fork_scan_catches_a_constructed_offender() -> None:
    offender = """
import multiprocessing, os
from concurrent.futures import ProcessPoolExecutor

context = multiprocessing.get_context("fork")
pool = ProcessPoolExecutor(max_workers=2)
ok = ProcessPoolExecutor(max_workers=2, mp_context=worker_context())
child = os.fork()
"""
    assert fork_starts(offender) == [5, 6, 8]


def _imported_here(name: str) -> bool:
    return name in sys.modules


def test_a_worker_inherits_nothing_from_its_parent() -> None:
    """A module the parent imported is not in a worker: the worker did not start as a copy
    of this process (a forked one would have it), so no global can hand it work."""
    import xml.dom.minidom  # noqa: F401  (imported here so a copy of this process has it)

    assert _imported_here("xml.dom.minidom")
    with ProcessPoolExecutor(max_workers=1, mp_context=worker_context()) as pool:
        assert pool.submit(_imported_here, "xml.dom.minidom").result() is False


class _RecordingPool(ProcessPoolExecutor):
    """The real executor, noting how its workers start and what else ran meanwhile."""

    starts: ClassVar[list[tuple[str, int]]] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        context = kwargs.get("mp_context")
        method = context.get_start_method() if context is not None else "platform default"
        _RecordingPool.starts.append((method, threading.active_count()))
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("source", ["in_memory", "streamed"])
def test_workers_started_while_a_thread_runs_are_not_forked(
    source: str, small_registry_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller's thread (a progress bar's, say) runs while the workers start: the pool's
    start method is the fork server, and the result is the one computed in this process."""
    _RecordingPool.starts = []
    monkeypatch.setattr(partitions, "ProcessPoolExecutor", _RecordingPool)
    raw = load_validated(small_registry_dir)
    dates = ["2023-06-30"]
    reference = partitions.build_feature_table(raw, dates, n_partitions=3, n_jobs=1)
    assert _RecordingPool.starts == []  # one job: no pool at all
    stop = threading.Event()
    caller_thread = threading.Thread(target=stop.wait, name="caller's progress bar")
    caller_thread.start()
    try:
        if source == "in_memory":
            got = partitions.build_feature_table(raw, dates, n_partitions=3, n_jobs=2)
        else:
            with open_registry(small_registry_dir, n_partitions=3) as registry:
                got = partitions.build_feature_table(registry, dates, n_jobs=2)
    finally:
        stop.set()
        caller_thread.join()
    assert len(_RecordingPool.starts) == 1
    method, threads = _RecordingPool.starts[0]
    assert method == WORKER_START_METHOD == "forkserver"
    assert threads >= 2  # the caller's thread was running when the workers started
    pd.testing.assert_frame_equal(got, reference)


def test_opening_a_registry_installs_no_signal_handler(small_registry_dir: Path) -> None:
    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    before = {signum: signal.getsignal(signum) for signum in handled}
    with open_registry(small_registry_dir, n_partitions=2):
        assert {signum: signal.getsignal(signum) for signum in handled} == before
