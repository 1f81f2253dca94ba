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
value)``. With ``EARLYRISK_DATABASE_URL`` the same table lives in PostgreSQL:
:class:`serving.pg_stores.PostgresLookupStore` overrides the connection, the metadata and
the bulk load; the reads here are plain ANSI SQL and run unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features.errors import EarlyriskError
from features.snapshot_store import META_FEATURE_LIST, META_RAW
from serving.private_files import create_private
from serving.store.sql import SqlConnection

FEATURE_LIST_KEY = META_FEATURE_LIST.encode()
RAW_SHA_KEY = META_RAW.encode()
_IN_CHUNK = 500  # ids per IN (...) query: well under SQLite's variable limit


class SnapshotError(EarlyriskError, ValueError):
    """The feature snapshot cannot serve this model (missing file, columns, fingerprint)."""


@dataclass(frozen=True)
class SnapshotInfo:
    """What the service needs to know about a snapshot file before trusting it."""

    path: Path
    feature_list_sha256: str | None
    raw_sha256: str | None
    num_rows: int
    columns: list[str]

    @property
    def fingerprint(self) -> str:
        """Changes whenever the file, its data or the features it holds change."""
        stat = self.path.stat()
        parts = [
            str(self.path.resolve()),
            str(stat.st_size),
            str(stat.st_mtime_ns),
            str(self.feature_list_sha256),
            str(self.raw_sha256),
            str(self.num_rows),
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


def read_snapshot_info(path: Path | str) -> SnapshotInfo:
    """Read a snapshot's Parquet footer only (no data): metadata, row count, columns."""
    path = Path(path)
    if not path.is_file():
        raise SnapshotError(
            f"feature snapshot {path} does not exist; build it with "
            "`earlyrisk features --raw DIR --as-of DATE --out FILE` and set "
            "EARLYRISK_SNAPSHOT_PATH (or `earlyrisk serve --snapshot FILE`)"
        )
    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise SnapshotError(
            f"feature snapshot {path} is not a readable Parquet file: {exc}"
        ) from exc
    kv = meta.metadata or {}
    return SnapshotInfo(
        path=path,
        feature_list_sha256=kv[FEATURE_LIST_KEY].decode() if FEATURE_LIST_KEY in kv else None,
        raw_sha256=kv[RAW_SHA_KEY].decode() if RAW_SHA_KEY in kv else None,
        num_rows=meta.num_rows,
        columns=list(meta.schema.to_arrow_schema().names),
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _date_text(value: object) -> str:
    return pd.Timestamp(value).date().isoformat()


class LookupStore:
    """Model inputs of every (as_of, family_id) of one snapshot; thread-safe reads."""

    def __init__(self, path: Path | str, *, feature_names: Sequence[str]) -> None:
        self.path = Path(path)
        #: What messages name: the SQLite file, or (PostgreSQL) the URL without its password.
        self.where = str(path)
        self.feature_names = list(feature_names)
        self._local = threading.local()
        self._select_cols = ", ".join(_quote(c) for c in self.feature_names)

    # ---- build
    @classmethod
    def from_snapshot(
        cls,
        snapshot: SnapshotInfo,
        path: Path | str,
        *,
        feature_names: Sequence[str],
    ) -> LookupStore:
        """Open the store for snapshot at path, (re)building it when it is stale."""
        missing = [c for c in ("family_id", "as_of", *feature_names) if c not in snapshot.columns]
        if missing:
            raise SnapshotError(
                f"feature snapshot {snapshot.path} lacks column(s) the model needs: {missing}"
            )
        store = cls(path, feature_names=feature_names)
        wanted = {"snapshot": snapshot.fingerprint, "features": json.dumps(list(feature_names))}
        if store._meta() != wanted:
            store._build(snapshot, wanted)
        return store

    def _meta(self) -> dict[str, str] | None:
        if not self.path.is_file():
            return None
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                return dict(conn.execute("SELECT key, value FROM meta").fetchall())
            finally:
                conn.close()
        except sqlite3.Error:
            return None

    def _build(self, snapshot: SnapshotInfo, meta: dict[str, str]) -> None:
        """Load the snapshot by row group into a fresh file, then swap it in atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.building")
        tmp.unlink(missing_ok=True)
        create_private(tmp)  # 0600: family indicators are personal data
        cols = ", ".join(f"{_quote(c)} REAL" for c in self.feature_names)
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute(
                f"CREATE TABLE family_features (as_of TEXT NOT NULL, family_id TEXT NOT NULL, "
                f"{cols}, PRIMARY KEY (as_of, family_id)) WITHOUT ROWID"
            )
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            placeholders = ", ".join("?" for _ in range(len(self.feature_names) + 2))
            insert = f"INSERT INTO family_features VALUES ({placeholders})"
            parquet = pq.ParquetFile(snapshot.path)
            columns = ["as_of", "family_id", *self.feature_names]
            for batch in parquet.iter_batches(columns=columns, batch_size=50_000):
                frame = batch.to_pandas()
                as_of = pd.to_datetime(frame["as_of"]).dt.strftime("%Y-%m-%d")
                values = frame[self.feature_names].to_numpy(dtype=np.float64, na_value=np.nan)
                rows = (
                    (a, f, *[None if v != v else float(v) for v in vals])
                    for a, f, vals in zip(
                        as_of, frame["family_id"].astype(str), values, strict=True
                    )
                )
                try:
                    conn.executemany(insert, rows)
                except sqlite3.IntegrityError as exc:
                    raise SnapshotError(
                        f"feature snapshot {snapshot.path} repeats a (family_id, as_of) key: {exc}"
                    ) from exc
            conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
            conn.commit()
        finally:
            conn.close()
        os.replace(tmp, self.path)

    # ---- reads
    def _connect(self) -> SqlConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close the calling thread's connection (others close with their threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def as_of_dates(self) -> list[str]:
        """The snapshot dates held, oldest first (ISO strings)."""
        rows = self._connect().execute("SELECT DISTINCT as_of FROM family_features ORDER BY as_of")
        return [r[0] for r in rows]

    def latest_as_of(self) -> str:
        """The newest snapshot date: the default for requests that do not name one."""
        row = self._connect().execute("SELECT MAX(as_of) FROM family_features").fetchone()
        if row is None or row[0] is None:
            raise SnapshotError(f"the lookup store {self.where} holds no families")
        return str(row[0])

    def get(self, family_ids: Sequence[str], *, as_of: str) -> pd.DataFrame:
        """Model inputs of the requested families at as_of, indexed by family_id.

        Unknown ids are simply absent from the result (the caller reports them per item).
        """
        return self._frame(self._records(family_ids, as_of=as_of))

    def get_matrix(self, family_ids: Sequence[str], *, as_of: str) -> tuple[list[str], np.ndarray]:
        """(found ids, float64 matrix in feature order): :meth:`get` without pandas.

        The service's hot path; NULL becomes NaN, unknown ids are absent.
        """
        records = self._records(family_ids, as_of=as_of)
        matrix = np.array([r[1:] for r in records], dtype=np.float64)
        return [str(r[0]) for r in records], matrix.reshape(len(records), len(self.feature_names))

    def _records(self, family_ids: Sequence[str], *, as_of: str) -> list[tuple[object, ...]]:
        conn = self._connect()
        records: list[tuple[object, ...]] = []
        unique = list(dict.fromkeys(family_ids))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ", ".join("?" for _ in chunk)
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
        """Every family at as_of, in chunks (for the reference population's scores)."""
        cursor = self._connect().execute(
            f"SELECT family_id, {self._select_cols} FROM family_features WHERE as_of = ? "
            "ORDER BY family_id",
            (as_of,),
        )
        while rows := cursor.fetchmany(chunk_size):
            yield self._frame(rows)


def as_of_text(value: object) -> str:
    """An as-of date in the store's ISO form (accepts date, datetime, string)."""
    return _date_text(value)
