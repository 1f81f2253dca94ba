"""The background refresh of the audit log's anchor while the service runs.

The anchor bounds what can be cut from the end of the log unseen: only entries written
since its last refresh. A refresh on writes alone leaves a quiet service's last entries
unanchored for as long as it stays quiet, so the service also refreshes at a fixed
interval (``EARLYRISK_AUDIT_ANCHOR_INTERVAL_S``) in one daemon thread, and once more at
shutdown (:meth:`AnchorRefresher.stop`, called by the service's shutdown hook before the
log closes). A refresh that finds the anchored entry gone or changed leaves the anchor as
it was and makes the log refuse every write (:meth:`AuditLogBase.refresh_anchor`); the
thread then has nothing left to do and ends.
"""

from __future__ import annotations

import logging
import threading

from serving.store.audit_errors import AuditLogRefused
from serving.store.audit_log import ANCHOR_REFRESH_ERRORS, AuditLogBase

logger = logging.getLogger(__name__)


class AnchorRefresher:
    """Refresh ``log``'s anchor every ``interval_s`` seconds until :meth:`stop`."""

    def __init__(self, log: AuditLogBase, *, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError(f"the anchor interval must be positive seconds, got {interval_s}")
        self.log = log
        self.interval_s = float(interval_s)
        self.refreshes = 0  # completed refreshes (what a test or a probe can read)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="audit-anchor-refresher", daemon=True
        )

    def start(self) -> AnchorRefresher:
        """Start the thread (in the serving process only: nothing may fork after it)."""
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.log.refresh_anchor(reason="interval")
                self.refreshes += 1
            except AuditLogRefused:
                return  # the log refuses every write now; the error is logged already
            except ANCHOR_REFRESH_ERRORS as exc:
                # the log is away or not writable for now: the next interval tries again
                logger.warning("audit-log anchor not refreshed: %s", exc)

    def stop(self, *, timeout_s: float = 30.0) -> None:
        """Stop the thread and wait for it (a refresh under way finishes first)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
