"""Build an expensive read-only fixture once per test run, not once per xdist worker.

``make test`` runs several xdist workers, and a session- or module-scoped fixture is built in
each worker that needs it: a synthetic registry or a trained model was built twice, each
time on the only two cores there are. :func:`shared_build` builds it once under a file lock
in the run's shared temporary directory (the parent of every worker's base directory,
unique per run, so nothing leaks between runs) and hands the other workers the same files
and a pickled summary. Without xdist the directory is the session's own.

Only for what the tests read and never change (a registry, a trained model's files and
its run's figures); what a test writes goes under its own ``tmp_path``.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

_DONE = "summary.pickle"


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory every worker of this run sees: the parent of the workers' base
    directories under xdist, the session's base directory otherwise."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_build(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Any]
) -> Any:
    """``build(root)`` once per run for ``name``: the first worker to ask builds it in
    ``<shared>/shared-<name>`` and pickles what it returned; a later asker waits for the
    lock and unpickles that. A build that raised leaves no summary, so the next asker
    builds again (and meets the same error, reported in its own test)."""
    root = shared_root(tmp_path_factory) / f"shared-{name}"
    with FileLock(str(root) + ".lock"):
        done = root / _DONE
        if done.is_file():
            return pickle.loads(done.read_bytes())
        if root.exists():  # a build that failed half-way: start again from nothing
            import shutil

            shutil.rmtree(root)
        root.mkdir(parents=True)
        summary = build(root)
        done.write_bytes(pickle.dumps(summary))
        return summary
