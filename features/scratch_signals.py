"""Scratch directories to remove when the process is stopped by a signal, not only on exit.

A streamed run lays the registry's events out under a scratch directory (about the events
file's size again: 700 MB at a million families). ``weakref.finalize`` and ``finally``
remove it when the run ends or fails, but SIGTERM (a scheduler stopping the job, ``kill``)
ends a Python process without running either, and SIGHUP (the terminal went away) too;
SIGINT usually unwinds through ``finally``, but not while a pool of workers is being
waited for. So the process that made a directory registers it here, and the signal
handler a command line installs (:func:`features.cli_signals.install_scratch_cleanup`)
removes the registered directories (:func:`remove_own`) before the signal takes effect.

This module only keeps the list: library code installs no process-wide signal handler (a
notebook, a test runner or a service embedding the library owns its signals), so a
library caller that wants the clean-up on signals installs the handler itself, as the
``features`` and ``score`` verbs do.

Only the process that registered a directory removes it: a worker that received the list
(or a forked child of the caller) must not delete its parent's files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

_live: dict[Path, int] = {}  # directory -> pid of the process that made it


def remove_on_signal(path: Path) -> None:
    """Register ``path`` (a directory this process made) for removal if a handled signal
    stops the process."""
    _live[Path(path)] = os.getpid()


def forget(path: Path) -> None:
    """``path`` is removed or no longer needs removing (idempotent)."""
    _live.pop(Path(path), None)


def remove_own() -> None:
    """Remove every registered directory this process made (a signal handler's job).

    No lock: a handler runs in the main thread between bytecodes, so a lock held there
    would deadlock; single dict operations are atomic."""
    pid = os.getpid()
    own = [path for path, owner in list(_live.items()) if owner == pid]
    for path in own:
        _live.pop(path, None)
        shutil.rmtree(path, ignore_errors=True)
