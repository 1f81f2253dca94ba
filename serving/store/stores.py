"""One place that picks each store's backend: SQLite files, or the shared PostgreSQL database.

With ``EARLYRISK_DATABASE_URL`` unset every store is the SQLite file its setting names;
set, every store (lookup, audit log, tokens, security log) is in that database. The rest
of the service only sees the common interfaces.
"""

from __future__ import annotations

from collections.abc import Sequence

from serving.audit_log import AuditLogBase, open_audit_log
from serving.auth import TokenStore
from serving.settings import ServingSettings
from serving.store.database_url import is_postgres
from serving.store.lookup import LookupStore, SnapshotInfo
from serving.store.security_log import SecurityLog


def token_store(settings: ServingSettings) -> TokenStore:
    """The token store the settings name."""
    if is_postgres(settings.database_url):
        from serving.pg_stores import PostgresTokenStore

        return PostgresTokenStore(str(settings.database_url))
    return TokenStore(settings.token_db_path)


def security_log(settings: ServingSettings) -> SecurityLog:
    """The security log the settings name."""
    if is_postgres(settings.database_url):
        from serving.pg_stores import PostgresSecurityLog

        return PostgresSecurityLog(str(settings.database_url))
    return SecurityLog(settings.security_log_path, busy_timeout_ms=settings.audit_busy_timeout_ms)


def lookup_store(
    settings: ServingSettings, snapshot: SnapshotInfo, *, feature_names: Sequence[str]
) -> LookupStore:
    """The lookup store for snapshot, (re)built when stale."""
    if is_postgres(settings.database_url):
        from serving.pg_stores import PostgresLookupStore

        return PostgresLookupStore.from_snapshot(
            snapshot, str(settings.database_url), feature_names=feature_names
        )
    return LookupStore.from_snapshot(snapshot, settings.lookup_db_path, feature_names=feature_names)


def audit_log(settings: ServingSettings, *, new_log: bool = False) -> AuditLogBase:
    """The audit log, checked at open (chain walk; anchor and file checks on SQLite)."""
    if is_postgres(settings.database_url):
        from serving.audit_log_pg import open_postgres_audit_log

        return open_postgres_audit_log(str(settings.database_url))
    return open_audit_log(
        settings.audit_log_path,
        anchor_path=settings.audit_anchor_path,
        new_log=new_log,
        verify=settings.audit_verify_on_start,
        synchronous=settings.audit_synchronous,
        busy_timeout_ms=settings.audit_busy_timeout_ms,
    )
