"""The audit log's two refusals, apart from the log so that the migrations, which declare
its tables, and the log, which runs on them, can both raise them without importing each
other."""

from __future__ import annotations

from features.errors import EarlyriskError


class AuditLogUnavailable(EarlyriskError, RuntimeError):
    """The audit log could not be written; whatever it was to record must not be served."""


class AuditLogRefused(AuditLogUnavailable):
    """The log must not be used at all (missing where one existed, replaced, broken chain,
    cut at its end, no anchor without ``--new-log``)."""
