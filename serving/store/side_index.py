"""A small read-only SQLite file derived from the snapshot, kept beside the lookup store.

The lookup store holds model inputs only. What the service needs about a family that is not
a model input (its region for region-scoped tokens, :mod:`serving.store.regions`; its audit
groups for the served statistics, :mod:`serving.store.served_stats`) lives in a side index of its
own: one table keyed by ``(as_of, family_id)``, built from the snapshot at start-up and
rebuilt, like the lookup store, only when what it was built from changes (the ``meta``
table's ``built_from`` value). Each index says what its table holds and how a batch of the
snapshot fills it; this module owns the rest: the staleness check, the atomic owner-only
build, the per-thread read-only connections and the chunked id lookups.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from serving.store.lookup import SnapshotInfo

#: Ids per ``IN (...)`` lookup: well under SQLite's bound on host parameters.
IN_CHUNK = 500
_BATCH_ROWS = 100_000


def id_chunks(family_ids: Sequence[str]) -> Iterator[tuple[list[str], str]]:
    """The distinct ids in chunks of :data:`IN_CHUNK`, each with its ``?, ?, ...`` marks."""
    unique = list(dict.fromkeys(family_ids))
    for start in range(0, len(unique), IN_CHUNK):
        chunk = unique[start : start + IN_CHUNK]
        yield chunk, ", ".join("?" for _ in chunk)


class SideIndex(ABC):
    """A table keyed by (as_of, family_id) built from snapshot columns; thread-safe reads.

    A subclass gives :attr:`table_sql` (the ``CREATE TABLE``), the snapshot ``columns`` it
    reads besides the keys, and :meth:`_rows` (the rows one batch of the snapshot adds).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()

    @property
    @abstractmethod
    def table_sql(self) -> str:
        """The ``CREATE TABLE`` statement of the index's one table."""

    @property
    @abstractmethod
    def insert_sql(self) -> str:
        """The ``INSERT`` statement that :meth:`_rows` feeds."""

    @property
    @abstractmethod
    def snapshot_columns(self) -> list[str]:
        """The snapshot columns the index reads besides ``as_of`` and ``family_id``; none
        means an empty table (the snapshot has nothing to index)."""

    @abstractmethod
    def _rows(
        self, frame: pd.DataFrame, as_of: pd.Series, family_id: pd.Series
    ) -> Iterator[tuple[object, ...]]:
        """The rows one batch of the snapshot adds (``as_of`` as ISO dates, ids as text)."""

    def _ensure_built(self, snapshot: SnapshotInfo, built_from: str) -> None:
        """Build the index unless it was built from exactly ``built_from``."""
        if self._stored_meta() != built_from:
            self._build(snapshot, built_from)

    def _stored_meta(self) -> str | None:
        if not self.path.is_file():
            return None
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'built_from'").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return None
        return None if row is None else str(row[0])

    def _build(self, snapshot: SnapshotInfo, meta: str) -> None:
        """Write a fresh index (an owner-only file, mkstemp's 0600) and swap it in atomically,
        so a reader sees the old index or the new one, never half of one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".building"
        )
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            conn = sqlite3.connect(tmp)
            try:
                conn.execute("PRAGMA journal_mode = OFF")
                conn.execute(self.table_sql)
                conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                columns = self.snapshot_columns
                if columns:
                    parquet = pq.ParquetFile(snapshot.path)
                    for batch in parquet.iter_batches(
                        columns=["as_of", "family_id", *columns], batch_size=_BATCH_ROWS
                    ):
                        frame = batch.to_pandas()
                        as_of = pd.to_datetime(frame["as_of"]).dt.strftime("%Y-%m-%d")
                        family_id = frame["family_id"].astype(str)
                        conn.executemany(self.insert_sql, self._rows(frame, as_of, family_id))
                conn.execute("INSERT INTO meta VALUES ('built_from', ?)", (meta,))
                conn.commit()
            finally:
                conn.close()
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.conn = conn
        return conn
