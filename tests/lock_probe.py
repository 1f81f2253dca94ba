"""Prove that a call waits for LightGBM's process-wide lock, without timing anything.

The test holds :data:`training.lightgbm_adapter.LIGHTGBM_LOCK`, runs the call in another
thread and watches until either the call finished (it never touched the lock: the probe
fails) or the lock counts one waiting thread (the call reached a booster and waits). Only
then is the lock released, and the call must complete.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from training.lightgbm_adapter import LIGHTGBM_LOCK


def assert_waits_for_lightgbm_lock(call: Callable[[], Any]) -> Any:
    """Run ``call`` in a thread while the lock is held; return its result once released."""
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(call())
        except BaseException as exc:  # handed to the test thread, which raises it
            errors.append(exc)

    worker = threading.Thread(target=run, name="lock-probe")
    with LIGHTGBM_LOCK:
        worker.start()
        while worker.is_alive() and LIGHTGBM_LOCK.waiting == 0:
            time.sleep(0.001)  # polling a state change, not a deadline
        finished_first = not worker.is_alive()
        assert not finished_first, (
            "the call finished while the LightGBM lock was held "
            f"({'raised ' + repr(errors[0]) if errors else 'returned'}): it reached the "
            "booster without taking the lock"
        )
        assert LIGHTGBM_LOCK.waiting == 1 and not results and not errors
    worker.join()
    if errors:
        raise errors[0]
    assert len(results) == 1
    return results[0]
