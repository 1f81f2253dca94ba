"""The signal handler the command line installs so a stopped run leaves no scratch files.

Installing a handler changes the whole process, so only the command-line edge does it
(the ``features`` and ``score`` verbs, before they open a streamed registry); library
code registers its scratch directories (:mod:`features.scratch_signals`) and nothing more.

The handler (SIGTERM, SIGINT, SIGHUP) removes the directories this process registered,
then lets the signal do what it did before: the previous Python handler (e.g.
``KeyboardInterrupt`` for SIGINT), or the default action (the process still ends with the
signal's status). A signal the process ignores (SIGHUP under ``nohup``) is left alone:
the run goes on, so its files must stay. Handlers can only be set from the main thread;
elsewhere nothing is installed.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

from features.scratch_signals import remove_own

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

_previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}


def install_scratch_cleanup() -> None:
    """Install the handler for SIGTERM, SIGINT and SIGHUP (idempotent; main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in HANDLED:
        current = signal.getsignal(signum)
        if current is _on_signal or current == signal.SIG_IGN:
            continue
        _previous[signum] = current
        signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    remove_own()
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):  # e.g. Python's default SIGINT handler: KeyboardInterrupt
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    # the default action (end the process with the signal's status): put it back, re-send
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
