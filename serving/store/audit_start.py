"""What a start of the service puts in the security log about its audit log.

Two kinds of fact, both recorded by ``earlyrisk serve`` before it serves, so that an
auditor reading the security log sees them next to the refusals and reads they watch:

* an explicit ``--new-log``: a new, empty log begun (or an anchor begun for a log found
  without one), with the id and head of what the old anchor recorded, if anything;
* each finding about the append-only triggers (missing, disabled, dropped and recreated),
  which the start reports instead of restoring them.
"""

from __future__ import annotations

import uuid

from serving.store.audit_log import AuditLogBase
from serving.store.security_log import SecurityRecord


def audit_start_records(log: AuditLogBase) -> list[SecurityRecord]:
    """The security records of this start: what ``--new-log`` began, then each trigger
    finding (empty when there is nothing to record)."""
    facts = [] if log.begun is None else [f"--new-log: {log.begun}"]
    facts += [f"tamper evidence: {finding}" for finding in log.trigger_findings()]
    request_id = uuid.uuid4().hex
    return [SecurityRecord("audit_log", request_id, "serve", None, None, fact) for fact in facts]
