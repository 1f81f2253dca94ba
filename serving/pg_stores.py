"""The token store, security log and lookup store in PostgreSQL (shared by replicas).

Each class keeps its SQLite sibling's interface and reuses its query code through
:class:`serving.store.connection.QmarkConnection` (``?`` marks, errors as DatabaseUnavailable);
only what SQLite does differently is overridden: schema creation (the versioned runner of
:mod:`serving.store.migrations`), the bulk load, and the file checks, which are SQLite-only (a
server database has no file at a path to be replaced; a revoked token is seen by every
replica at its next check because they all read the same table).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow.parquet as pq

from serving.auth import TokenStore
from serving.store.connection import (
    DatabaseUnavailable,
    QmarkConnection,
    ThreadConnections,
    connect,
    redact,
)
from serving.store.lookup import LookupStore, SnapshotError, SnapshotInfo, _quote
from serving.store.migrations import SCHEMA_LOCK_KEY, ensure_postgres
from serving.store.security_log import SecurityLog, SecurityLogUnavailable, SecurityRecord

#: Advisory-lock key under which one replica (re)loads the snapshot while others wait.
LOOKUP_LOCK_KEY = 0x45_52_4C_4B  # "ERLK"


class PostgresTokenStore(TokenStore):
    """Hashed tokens in PostgreSQL: a token revoked through one replica is refused by all."""

    def __init__(self, url: str) -> None:
        ensure_postgres(url)
        self.url = url
        self._conns = ThreadConnections(url)
        self._last_used: dict[str, datetime] = {}

    def _connect(self) -> QmarkConnection:
        return self._conns.get()

    def close(self) -> None:
        """Close this store's connections (one per thread that used it)."""
        self._conns.close()

    def _touch(self, token_id: str, now: datetime) -> None:
        """As the SQLite store: a failed last-use write never refuses a valid token."""
        try:
            super()._touch(token_id, now)
        except DatabaseUnavailable:
            self._last_used.pop(token_id, None)


class PostgresSecurityLog(SecurityLog):
    """Append-only security events in PostgreSQL (one log for every replica)."""

    def __init__(self, url: str) -> None:
        try:
            ensure_postgres(url)
        except (DatabaseUnavailable, psycopg.Error) as exc:
            raise SecurityLogUnavailable(f"cannot open the security log: {exc}") from exc
        self.where = redact(url)  # named in messages (no file path here)
        self._lock = threading.Lock()
        self._conn = QmarkConnection(url)

    def record(self, record: SecurityRecord) -> None:
        try:
            super().record(record)
        except DatabaseUnavailable as exc:
            raise SecurityLogUnavailable(f"security log {self.where} not writable: {exc}") from exc

    def page(self, **kwargs: Any) -> list[dict[str, Any]]:
        try:
            return super().page(**kwargs)
        except DatabaseUnavailable as exc:
            raise SecurityLogUnavailable(f"security log {self.where} not readable: {exc}") from exc


class PostgresLookupStore(LookupStore):
    """The snapshot's model inputs in PostgreSQL, loaded once for all replicas."""

    def __init__(self, url: str, *, feature_names: Sequence[str]) -> None:
        super().__init__(redact(url), feature_names=feature_names)
        self.url = url
        self._conns = ThreadConnections(url)

    def _connect(self) -> QmarkConnection:
        return self._conns.get()

    def close(self) -> None:
        """Close this store's connections (one per thread that used it)."""
        self._conns.close()

    def _meta(self) -> dict[str, str] | None:
        try:
            rows = self._connect().execute("SELECT key, value FROM lookup_meta").fetchall()
        except psycopg.errors.UndefinedTable:
            return None
        return {str(k): str(v) for k, v in rows}

    def _build(self, snapshot: SnapshotInfo, meta: dict[str, str]) -> None:
        """Load the snapshot with COPY into a new table and swap it in, under a lock that
        makes other replicas wait and then find it loaded."""
        conn = connect(self.url, autocommit=False)
        try:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOOKUP_LOCK_KEY,))
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            have = conn.execute("SELECT to_regclass('lookup_meta')").fetchone()
            if have is not None and have[0] is not None:
                current = dict(conn.execute("SELECT key, value FROM lookup_meta").fetchall())
                if current == meta:
                    conn.commit()
                    return
            cols = ", ".join(f"{_quote(c)} DOUBLE PRECISION" for c in self.feature_names)
            conn.execute("DROP TABLE IF EXISTS family_features_new")
            conn.execute(
                f"CREATE TABLE family_features_new (as_of TEXT NOT NULL, family_id TEXT NOT "
                f"NULL, {cols}, PRIMARY KEY (as_of, family_id))"
            )
            names = ", ".join(_quote(c) for c in ("as_of", "family_id", *self.feature_names))
            parquet = pq.ParquetFile(snapshot.path)
            columns = ["as_of", "family_id", *self.feature_names]
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY family_features_new ({names}) FROM STDIN") as copy,
            ):
                for batch in parquet.iter_batches(columns=columns, batch_size=50_000):
                    frame = batch.to_pandas()
                    as_of = pd.to_datetime(frame["as_of"]).dt.strftime("%Y-%m-%d")
                    values = frame[self.feature_names].to_numpy(dtype=np.float64, na_value=np.nan)
                    for a, f, vals in zip(
                        as_of, frame["family_id"].astype(str), values, strict=True
                    ):
                        copy.write_row((a, f, *[None if v != v else float(v) for v in vals]))
            conn.execute("DROP TABLE IF EXISTS family_features")
            conn.execute("ALTER TABLE family_features_new RENAME TO family_features")
            conn.execute("DROP TABLE IF EXISTS lookup_meta")
            conn.execute("CREATE TABLE lookup_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO lookup_meta VALUES (%s, %s)", sorted(meta.items()))
            conn.commit()
        except psycopg.errors.UniqueViolation as exc:
            conn.rollback()
            raise SnapshotError(
                f"feature snapshot {snapshot.path} repeats a (family_id, as_of) key: {exc}"
            ) from exc
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()
