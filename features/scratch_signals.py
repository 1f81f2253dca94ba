"""Scratch directories removed when the process is stopped by a signal, not only on exit.

A streamed run lays the registry's events out under a scratch directory (about the events
file's size again: 700 MB at a million families). ``weakref.finalize`` and ``finally``
remove it when the run ends or fails, but SIGTERM (a scheduler stopping the job, ``kill``)
ends a Python process without running either, and SIGHUP (the terminal went away) too;
SIGINT usually unwinds through ``finally``, but not while a pool of workers is being
waited for. So the process that made a directory registers it here, and a handler for
SIGTERM, SIGINT and SIGHUP removes the registered directories first, then lets the
signal do what it did before (the previous Python handler, e.g. ``KeyboardInterrupt``
for SIGINT, or the default action: the process still ends with the signal's status). A
signal the process ignores (SIGHUP under ``nohup``) is left alone: the run goes on, so its
files must stay.

Only the process that registered a directory removes it: forked workers inherit the
handler, and a worker stopped by its pool must not delete the parent's files. Handlers
can only be set from the main thread; elsewhere registration still holds for
:func:`forget` and the caller's own clean-up, but no handler is installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

# No lock: the handler runs in the main thread between bytecodes, so a lock held there
# would deadlock; single dict operations are atomic.
_live: dict[Path, int] = {}  # directory -> pid of the process that made it
_previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}


def remove_on_signal(path: Path) -> None:
    """Remove ``path`` (a directory this process made) if a handled signal stops it."""
    _live[Path(path)] = os.getpid()
    _install()


def forget(path: Path) -> None:
    """``path`` is removed or no longer needs removing (idempotent)."""
    _live.pop(Path(path), None)


def _install() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in HANDLED:
        current = signal.getsignal(signum)
        if current is _on_signal or current == signal.SIG_IGN:
            continue
        _previous[signum] = current
        signal.signal(signum, _on_signal)


def _remove_own() -> None:
    pid = os.getpid()
    own = [path for path, owner in list(_live.items()) if owner == pid]
    for path in own:
        _live.pop(path, None)
        shutil.rmtree(path, ignore_errors=True)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _remove_own()
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):  # e.g. Python's default SIGINT handler: KeyboardInterrupt
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    # the default action (end the process with the signal's status): put it back, re-send
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
