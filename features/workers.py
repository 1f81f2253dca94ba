"""How the features package starts worker processes: from a fork server, never by forking
the caller.

A forked child starts as a copy of its parent at the instant of the fork, including every
lock another thread of the parent held then (a rich progress bar's refresh thread, the
hashing thread of :func:`features.partitions.build_feature_table`, Arrow's and BLAS's
thread pools); such a lock stays held forever in the child, which hangs at its first use
of it. Library code cannot know which threads its caller runs, so it never forks the
caller: every pool and child process of this package comes from :func:`worker_context`.

The start method is ``forkserver``: a single-threaded server process, started fresh (fork
and exec) the first time a worker is needed, forks the workers. Like a spawned worker, a
worker holds its imports and what it is sent as explicit, picklable arguments, nothing of
the caller (no module global hands work over, no signal handler, no thread, no lock). Unlike
a spawned one, it does not import pandas and the engine again: the server has
:data:`PRELOADED` imported once, so a pool's workers start in milliseconds instead of
seconds (measured on the loaded 2-core test machine, 4,000 families, 2 jobs: 22 s spawned,
13 s from the fork server, 8 s forked). Preloading is the fork server's one setting for the
process; it takes effect when the server starts and changes nothing else.

Like spawn, the fork server imports a script's ``__main__`` module in the server, so a
script that starts workers (``build_feature_table(..., n_jobs=2)``, ``synthesize(...,
workers=2)``) needs the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import ForkServerContext
from typing import Final, Literal

WORKER_START_METHOD: Final[Literal["forkserver"]] = "forkserver"
# What the fork server imports before it forks workers: the feature engine (and with it
# pandas, pyarrow, numpy and the validator), which every worker of this package needs.
PRELOADED: Final = ("features.partitions",)


def worker_context() -> ForkServerContext:
    """The multiprocessing context every worker pool and child process of features uses."""
    context = multiprocessing.get_context(WORKER_START_METHOD)
    context.set_forkserver_preload(list(PRELOADED))
    return context
