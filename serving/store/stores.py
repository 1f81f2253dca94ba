"""One place that opens the service's stores: :func:`open_stores`.

With ``EARLYRISK_DATABASE_URL`` unset every store is the SQLite file its setting names;
set, every store (tokens, security log, served statistics, lookup, region and audit-group
indexes, review sessions, audit log) is in that database. The service, the review page and
the CLIs all open their stores here, so none of them can end up on another backend than the
rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from serving.settings import ServingSettings
from serving.store.audit_errors import AuditLogUnavailable
from serving.store.audit_log import AuditLogBase, open_audit_log
from serving.store.cases import CaseStore, SqlCaseStore
from serving.store.connection import Database
from serving.store.corrections import CorrectionStore, SqlCorrectionStore
from serving.store.lookup import LookupStore, SqlLookupStore
from serving.store.regions import RegionIndex, regions_path
from serving.store.review_sessions import ReviewSessionStore, open_review_sessions
from serving.store.security_log import SecurityLog, SqlSecurityLog
from serving.store.served_stats import (
    AuditGroupIndex,
    ServedStatsStore,
    SqlServedStatsStore,
    groups_path,
)
from serving.store.snapshot import SnapshotInfo
from serving.store.tokens import SqlTokenStore, TokenStore


@dataclass
class Stores:
    """The stores one process opened; :meth:`close` closes every one of them.

    A store not asked of :func:`open_stores` is None; :attr:`tokens` and
    :attr:`security_log` (what every caller but the batch jobs needs) say so by raising.
    """

    opened_tokens: TokenStore | None = None
    opened_security_log: SecurityLog | None = None
    served_stats: ServedStatsStore | None = None
    lookup: LookupStore | None = None
    regions: RegionIndex | None = None
    audit_groups: AuditGroupIndex | None = None
    audit_log: AuditLogBase | None = None
    review_sessions: ReviewSessionStore | None = None
    cases: CaseStore | None = None  # the worklist's cases (open_stores(..., cases=True))
    corrections: CorrectionStore | None = None

    @property
    def tokens(self) -> TokenStore:
        """The token store (open_stores(..., tokens=True), the default)."""
        if self.opened_tokens is None:
            raise LookupError("the token store was not opened: open_stores(..., tokens=True)")
        return self.opened_tokens

    @property
    def security_log(self) -> SecurityLog:
        """The security log (open_stores(..., security_log=True), the default)."""
        if self.opened_security_log is None:
            raise LookupError(
                "the security log was not opened: open_stores(..., security_log=True)"
            )
        return self.opened_security_log

    def close(self) -> None:
        """Close every open store (each closes its own connections)."""
        for field in fields(self):
            store = getattr(self, field.name)
            if store is not None:
                store.close()


def corrections_path(settings: ServingSettings) -> Path:
    """The SQLite corrections: the setting, else beside the audit log."""
    return settings.corrections_path or settings.audit_log_path.with_name("corrections.sqlite")


def database(settings: ServingSettings, path: Path, *, read_only: bool = False) -> Database:
    """The database of one store: the shared PostgreSQL database when the settings name
    one, else the store's SQLite file at path."""
    if settings.database_url is not None:
        return Database(settings.database_url)
    return Database(path, busy_timeout_ms=settings.audit_busy_timeout_ms, read_only=read_only)


def open_stores(
    settings: ServingSettings,
    *,
    tokens: bool = True,
    security_log: bool = True,
    snapshot: SnapshotInfo | None = None,
    feature_names: Sequence[str] = (),
    served_stats: bool = False,
    audit_log: bool = False,
    new_audit_log: bool = False,
    review_sessions: bool = False,
    cases: bool = False,
    corrections: bool = False,
) -> Stores:
    """The stores the settings name, each checked at open (schema current, database up).

    ``tokens`` and ``security_log`` are opened unless told not to; ``snapshot`` (with the
    model's ``feature_names``) opens the lookup store and the region index, rebuilding each
    when the snapshot changed; ``served_stats`` the served-statistics totals (and, with a
    snapshot, the audit-group index they count by); ``cases`` the worklist's cases;
    ``audit_log`` the audit log (chain walk at open; ``new_audit_log`` as
    ``serve --new-audit-log``); ``review_sessions`` the review page's server-side sessions
    (the shared database, else ``resolved_review_sessions_path``). Whatever fails to open
    closes what was opened before it and raises as the store raised it.
    """
    opened: list[object] = []
    stores = Stores()
    try:
        if tokens:
            stores.opened_tokens = SqlTokenStore(database(settings, settings.token_db_path))
            opened.append(stores.opened_tokens)
        if security_log:
            stores.opened_security_log = SqlSecurityLog(
                database(settings, settings.security_log_path)
            )
            opened.append(stores.opened_security_log)
        if served_stats:
            stores.served_stats = SqlServedStatsStore(
                database(settings, settings.served_stats_path)
            )
            opened.append(stores.served_stats)
        if snapshot is not None:
            lookup_path = settings.lookup_db_path
            stores.lookup = SqlLookupStore.from_snapshot(
                snapshot,
                database(settings, lookup_path, read_only=True),
                feature_names=feature_names,
            )
            opened.append(stores.lookup)
            stores.regions = RegionIndex.from_snapshot(
                snapshot, database(settings, regions_path(lookup_path), read_only=True)
            )
            opened.append(stores.regions)
            if served_stats:  # the audit groups are counted in the served statistics only
                stores.audit_groups = AuditGroupIndex.from_snapshot(
                    snapshot, database(settings, groups_path(lookup_path), read_only=True)
                )
                opened.append(stores.audit_groups)
        if review_sessions:
            stores.review_sessions = open_review_sessions(
                settings.database_url, settings.resolved_review_sessions_path
            )
            opened.append(stores.review_sessions)
        if audit_log:
            stores.audit_log = open_audit_log_for(settings, new_log=new_audit_log)
            opened.append(stores.audit_log)
        if cases:  # the worklist's cases, beside the audit log their scores are in
            try:
                where = database(settings, settings.resolved_cases_path)
            except OSError as exc:
                raise AuditLogUnavailable(
                    f"cannot open the cases {settings.resolved_cases_path}: {exc}"
                ) from exc
            stores.cases = SqlCaseStore(where)
            opened.append(stores.cases)
        if corrections:  # issue 23: corrections filed through the service (after the log,
            # so a log that cannot open is what a start refuses on)
            try:
                where = database(settings, corrections_path(settings))
            except OSError as exc:
                raise AuditLogUnavailable(
                    f"cannot open the corrections {corrections_path(settings)}: {exc}"
                ) from exc
            stores.corrections = SqlCorrectionStore(where)
            opened.append(stores.corrections)
    except BaseException:
        for store in reversed(opened):
            store.close()  # type: ignore[attr-defined]
        raise
    return stores


def open_audit_log_for(settings: ServingSettings, *, new_log: bool = False) -> AuditLogBase:
    """The audit log the settings name, checked at open (chain walk and anchor; file
    checks on SQLite); what batch scoring opens, without the other stores. ``new_log``
    begins one where there is no anchor (``earlyrisk serve --new-log``)."""
    if settings.database_url is not None:
        from serving.store.audit_log_pg import open_postgres_audit_log

        return open_postgres_audit_log(settings.database_url, new_log=new_log)
    return open_audit_log(
        settings.audit_log_path,
        anchor_path=settings.audit_anchor_path,
        new_log=new_log,
        verify=settings.audit_verify_on_start,
        synchronous=settings.audit_synchronous,
        busy_timeout_ms=settings.audit_busy_timeout_ms,
    )
