"""Keyed lookup of a family's model inputs in the latest feature snapshot.

The snapshot Parquet file (output of ``earlyrisk features``) is loaded once, row group by
row group, into an embedded SQLite table keyed by ``(as_of, family_id)`` (a ``WITHOUT
ROWID`` clustered primary key), so a score reads one B-tree path per family, never the
file. Only the model's inputs are copied: audit groups, labels and the well-being index
stay out of the serving store (they are not needed to score, and what is not stored cannot
leak). The store is rebuilt only when the snapshot or the feature list changes (recorded
in its ``meta`` table), so a restart on the same snapshot is instant.

Server database: the store is one table, ``family_features(as_of TEXT, family_id TEXT,
<one REAL column per model input>, PRIMARY KEY (as_of, family_id))``, plus ``meta(key,
value)`` (``lookup_meta`` in PostgreSQL), both declared in :mod:`serving.store.migrations`.
With ``EARLYRISK_DATABASE_URL`` the same table lives in PostgreSQL; one implementation
(:class:`SqlLookupStore`) serves both, only the bulk load differs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from serving.store.connection import Database
from serving.store.side_index import (
    IN_CHUNK,
    Rows,
    id_chunks,
    load_snapshot_table,
    side_database,
    snapshot_batches,
    stored_meta,
)
from serving.store.snapshot import (
    SnapshotError,
    SnapshotInfo,
    as_of_text,
    quote,
    read_snapshot_info,
)

__all__ = [
    "IN_CHUNK",
    "LookupStore",
    "SnapshotError",
    "SnapshotInfo",
    "SqlLookupStore",
    "as_of_text",
    "read_snapshot_info",
]

TABLE = "family_features"


class LookupStore(Protocol):
    """Model inputs of every (as_of, family_id) of one snapshot."""

    feature_names: list[str]
    where: str

    def as_of_dates(self) -> list[str]:
        """The snapshot dates held, oldest first (ISO strings)."""
        ...

    def latest_as_of(self) -> str:
        """The newest snapshot date: the default for requests that do not name one."""
        ...

    def get(self, family_ids: Sequence[str], *, as_of: str) -> pd.DataFrame:
        """Model inputs of the requested families at as_of, indexed by family_id (unknown
        ids are absent)."""
        ...

    def get_matrix(self, family_ids: Sequence[str], *, as_of: str) -> tuple[list[str], np.ndarray]:
        """(found ids, float64 matrix in feature order): :meth:`get` without pandas."""
        ...

    def iter_population(self, *, as_of: str, chunk_size: int = 100_000) -> Iterator[pd.DataFrame]:
        """Every family at as_of, in chunks (for the reference population's scores)."""
        ...

    def close(self) -> None:
        """Close the store's connections."""
        ...


class SqlLookupStore:
    """:class:`LookupStore` over one :class:`~serving.store.connection.Database`; reads are
    the same SQL in both dialects, thread-safe (one connection per thread).

    Only the bulk load differs, because each database has its own fast path: SQLite writes
    a fresh owner-only file and swaps it in with one rename (readers see the old store or
    the new one); PostgreSQL COPYs into a new table and swaps it in inside one
    transaction, under an advisory lock that makes other replicas wait and then find it
    loaded.
    """

    def __init__(self, db: Database | Path | str, *, feature_names: Sequence[str]) -> None:
        self.db = side_database(db)
        #: What messages name: the SQLite file, or (PostgreSQL) the URL without its password.
        self.where = self.db.where
        self.feature_names = list(feature_names)
        self._select_cols = ", ".join(quote(c) for c in self.feature_names)

    @classmethod
    def from_snapshot(
        cls,
        snapshot: SnapshotInfo,
        db: Database | Path | str,
        *,
        feature_names: Sequence[str],
    ) -> SqlLookupStore:
        """Open the store for snapshot in db, (re)building it when it is stale."""
        missing = [c for c in ("family_id", "as_of", *feature_names) if c not in snapshot.columns]
        if missing:
            raise SnapshotError(
                f"feature snapshot {snapshot.path} lacks column(s) the model needs: {missing}"
            )
        store = cls(db, feature_names=feature_names)
        wanted = {"snapshot": snapshot.fingerprint, "features": json.dumps(list(feature_names))}
        if stored_meta(store.db, TABLE) != wanted:
            load_snapshot_table(
                store.db,
                table=TABLE,
                columns=[(quote(c), "float") for c in store.feature_names],
                meta=wanted,
                batches=snapshot_batches(snapshot, store.feature_names, store._rows),
                source=snapshot.path,
            )
        return store

    def _rows(self, frame: pd.DataFrame, as_of: pd.Series, family_id: pd.Series) -> Rows:
        """One batch's rows: (as_of, family_id, inputs...), NaN stored as NULL."""
        values = frame[self.feature_names].to_numpy(dtype=np.float64, na_value=np.nan)
        return (
            (a, f, *[None if v != v else float(v) for v in vals])
            for a, f, vals in zip(as_of, family_id, values, strict=True)
        )

    # ---- reads
    def close(self) -> None:
        self.db.close()

    def as_of_dates(self) -> list[str]:
        rows = self.db.read().execute("SELECT DISTINCT as_of FROM family_features ORDER BY as_of")
        return [r[0] for r in rows]

    def latest_as_of(self) -> str:
        row = self.db.read().execute("SELECT MAX(as_of) FROM family_features").fetchone()
        if row is None or row[0] is None:
            raise SnapshotError(f"the lookup store {self.where} holds no families")
        return str(row[0])

    def get(self, family_ids: Sequence[str], *, as_of: str) -> pd.DataFrame:
        return self._frame(self._records(family_ids, as_of=as_of))

    def get_matrix(self, family_ids: Sequence[str], *, as_of: str) -> tuple[list[str], np.ndarray]:
        """The service's hot path; NULL becomes NaN, unknown ids are absent."""
        records = self._records(family_ids, as_of=as_of)
        matrix = np.array([r[1:] for r in records], dtype=np.float64)
        return [str(r[0]) for r in records], matrix.reshape(len(records), len(self.feature_names))

    def _records(self, family_ids: Sequence[str], *, as_of: str) -> list[tuple[object, ...]]:
        conn = self.db.read()
        records: list[tuple[object, ...]] = []
        for chunk, marks in id_chunks(family_ids):
            records.extend(
                conn.execute(
                    f"SELECT family_id, {self._select_cols} FROM family_features "
                    f"WHERE as_of = ? AND family_id IN ({marks})",
                    (as_of, *chunk),
                )
            )
        return records

    def _frame(self, records: Sequence[Sequence[object]]) -> pd.DataFrame:
        """Rows (family_id, values...) as a float64 frame indexed by family_id.

        Built from one numpy matrix (NULL becomes NaN): per-column conversions cost
        milliseconds per request in pandas, the matrix microseconds.
        """
        ids = pd.Index([r[0] for r in records], dtype="str", name="family_id")
        matrix = np.array([r[1:] for r in records], dtype=np.float64)
        matrix = matrix.reshape(len(records), len(self.feature_names))
        return pd.DataFrame(matrix, columns=self.feature_names, index=ids)

    def iter_population(self, *, as_of: str, chunk_size: int = 100_000) -> Iterator[pd.DataFrame]:
        cursor = self.db.read().execute(
            f"SELECT family_id, {self._select_cols} FROM family_features WHERE as_of = ? "
            "ORDER BY family_id",
            (as_of,),
        )
        while rows := cursor.fetchmany(chunk_size):
            yield self._frame(rows)
