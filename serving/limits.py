"""Sliding-window counters: failed-authentication throttling and per-token quotas.

Counts live in the memory of one worker process (a restart forgets them), so with
``EARLYRISK_WORKERS=N`` a caller can reach up to N times a limit; the defaults assume one
worker, and docs/serving.md says how to size them. Time comes from ``time.monotonic``
unless a clock is given (tests pass their own, so nothing here depends on wall time).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Window:
    events: deque[tuple[float, int]] = field(default_factory=deque)
    total: int = 0


class SlidingWindow:
    """At most ``limit`` units per key within any ``window_s`` seconds.

    :meth:`admit` adds units when they fit and answers how many seconds to wait when they
    do not (the Retry-After of a 429). Keys with nothing in the window are dropped, so the
    memory held is bounded by the keys active in one window.
    """

    def __init__(
        self,
        *,
        limit: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"limit must be >= 1 and window_s > 0, got {limit}, {window_s}")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._keys: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def _window(self, key: str, now: float) -> _Window:
        window = self._keys.setdefault(key, _Window())
        while window.events and window.events[0][0] <= now - self.window_s:
            window.total -= window.events.popleft()[1]
        return window

    def _wait(self, window: _Window, units: int, now: float) -> float:
        """Seconds until ``units`` more fit in window (inf when they never can)."""
        if units > self.limit:
            return math.inf
        excess = window.total + units - self.limit
        for at, amount in window.events:
            excess -= amount
            if excess <= 0:
                return max(at + self.window_s - now, 0.0)
        return 0.0

    def admit(self, key: str, units: int = 1) -> float:
        """Count units for key and return 0.0, or count nothing and return the wait (s)."""
        with self._lock:
            now = self._clock()
            window = self._window(key, now)
            if window.total + units <= self.limit:
                window.events.append((now, units))
                window.total += units
                return 0.0
            return self._wait(window, units, now)

    def add(self, key: str, units: int = 1) -> int:
        """Count units for key unconditionally; return the total now in the window."""
        with self._lock:
            now = self._clock()
            window = self._window(key, now)
            window.events.append((now, units))
            window.total += units
            return window.total

    def blocked_for(self, key: str) -> float:
        """Seconds key stays blocked (it reached the limit), 0.0 when it is not blocked."""
        with self._lock:
            now = self._clock()
            window = self._window(key, now)
            if window.total < self.limit:
                if not window.events:
                    del self._keys[key]
                return 0.0
            return self._wait(window, 1, now)


def retry_after(seconds: float) -> str:
    """A Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
