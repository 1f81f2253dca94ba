"""The snapshot store: feature tables in Parquet, with the fingerprints that trace them.

A feature table carries, in its Parquet key-value metadata, the sha256 of the feature list
it was computed with (:func:`features.catalogue.feature_list_fingerprint`), the sha256 of
the raw data (:func:`raw_fingerprint`) and the feature configuration. The ``earlyrisk.*``
metadata keys are defined here, once; training and serving read them from here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.codes import arrow_strings
from features.contract import TABLE_COLUMNS, TABLES
from features.private_files import new_private_file
from features.raw import RawTables

META_PREFIX = "earlyrisk."
META_FEATURE_LIST = f"{META_PREFIX}feature_list_sha256"
META_RAW = f"{META_PREFIX}raw_sha256"
META_CONFIG = f"{META_PREFIX}feature_config"


# Rows per hashed block: the digest is defined over fixed blocks, so it does not depend on
# how the rows arrive (one frame, Arrow chunks, or slices of a streamed table).
HASH_BLOCK_ROWS = 1 << 16


def raw_fingerprint(raw: RawTables) -> str:
    """sha256 of the six tables' contents (row order included), in contract order.

    The same digest as a :class:`RawHasher` fed the tables in slices of any size (the
    streamed reader, :mod:`features.partitioned_raw`), and the same however the data was
    read (CSV or Parquet, one Arrow chunk or many): see :class:`RawHasher`.
    """
    hasher = RawHasher()
    for name, frame in raw.items():
        hasher.update(name, frame)
    return hasher.hexdigest()


class RawHasher:
    """The raw fingerprint, fed table by table in slices (rows in table order).

    Canonical per column and per block of :data:`HASH_BLOCK_ROWS` rows: dates as int64
    nanoseconds, floats as float64 with one NaN pattern, strings as int64 UTF-8 byte
    lengths (-1 for null) followed by their bytes. Each column's blocks go into its own
    sha256; a table's digest covers its name, columns, row count and column digests; the
    registry's covers the six tables' digests in contract order.
    """

    def __init__(self) -> None:
        self._tables: dict[str, _TableHasher] = {}

    def update(self, table: str, frame: pd.DataFrame) -> None:
        """Add the next rows of ``table`` (the contract's columns, in-memory types)."""
        if table not in self._tables:
            self._tables[table] = _TableHasher(table)
        self._tables[table].update(frame)

    def hexdigest(self) -> str:
        digest = hashlib.sha256()
        for name in TABLES:
            digest.update(self._tables.get(name, _TableHasher(name)).digest())
        return digest.hexdigest()


class _TableHasher:
    def __init__(self, name: str) -> None:
        self.name = name
        self.columns = [c.name for c in TABLE_COLUMNS[name]]
        self.rows = 0
        self._columns = {column: _ColumnHasher() for column in self.columns}

    def update(self, frame: pd.DataFrame) -> None:
        for column in self.columns:
            self._columns[column].update(frame[column])
        self.rows += len(frame)

    def digest(self) -> bytes:
        digest = hashlib.sha256(f"{self.name}:{','.join(self.columns)}:{self.rows};".encode())
        for column in self.columns:
            digest.update(self._columns[column].digest())
        return digest.digest()


class _ColumnHasher:
    """One column's sha256 over fixed blocks of rows (a partial block waits for more)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._pending: list[pd.Series] = []
        self._pending_rows = 0
        self._done: bytes | None = None

    def update(self, series: pd.Series) -> None:
        start = 0
        while start < len(series):
            take = min(HASH_BLOCK_ROWS - self._pending_rows, len(series) - start)
            self._pending.append(series.iloc[start : start + take])
            self._pending_rows += take
            start += take
            if self._pending_rows == HASH_BLOCK_ROWS:
                self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        block = self._pending[0] if len(self._pending) == 1 else pd.concat(self._pending)
        for chunk in _canonical_bytes(block):
            self._digest.update(chunk)
        self._pending, self._pending_rows = [], 0

    def digest(self) -> bytes:
        if self._done is None:
            self._flush()
            self._done = self._digest.digest()
        return self._done


def _canonical_bytes(series: pd.Series) -> Iterator[bytes | memoryview]:
    if len(series) == 0:
        return
    kind = series.dtype.kind
    if kind == "M":
        yield series.to_numpy(dtype="datetime64[ns]").view(np.int64).tobytes()
        return
    if kind in "fiu":
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        yield np.where(np.isnan(values), np.nan, values).tobytes()
        return
    array = arrow_strings(series)
    nulls = array.is_null().to_numpy(zero_copy_only=False)
    if nulls.any():  # a null slot may hold bytes in Arrow: make it empty
        array = pc.fill_null(array, "")
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)
    offsets = offsets[array.offset : array.offset + len(array) + 1]
    lengths = np.diff(offsets)
    yield np.where(nulls, -1, lengths).astype(np.int64).tobytes()
    data = array.buffers()[2]
    if data is not None and offsets[-1] > offsets[0]:
        yield memoryview(data)[offsets[0] : offsets[-1]]


def write_feature_table(
    table: pd.DataFrame,
    path: Path | str,
    *,
    raw_sha256: str | None = None,
    feature_list_sha256: str | None = None,
) -> Path:
    """Write the feature table to Parquet with the fingerprints in key-value metadata; the
    file is owner-only (0600, :mod:`features.private_files`).

    The fingerprints default to ``table.attrs`` (set by :func:`build_feature_table`); a
    table without them is refused, because an unfingerprinted table cannot be traced.
    """
    raw_sha256 = raw_sha256 or table.attrs.get(META_RAW)
    feature_list_sha256 = feature_list_sha256 or table.attrs.get(META_FEATURE_LIST)
    if not raw_sha256 or not feature_list_sha256:
        raise ValueError(
            "write_feature_table needs raw_sha256 and feature_list_sha256 (from "
            "build_feature_table's attrs or given explicitly)"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    metadata = dict(arrow.schema.metadata or {})
    metadata[META_FEATURE_LIST.encode()] = feature_list_sha256.encode()
    metadata[META_RAW.encode()] = raw_sha256.encode()
    if META_CONFIG in table.attrs:
        metadata[META_CONFIG.encode()] = str(table.attrs[META_CONFIG]).encode()
    # created 0600 before pyarrow writes a row (it truncates the file and keeps the mode):
    # a snapshot names every family and its audit groups
    tmp = new_private_file(path.with_name(path.name + ".tmp"))
    pq.write_table(arrow.replace_schema_metadata(metadata), tmp)
    tmp.replace(path)
    return path


def read_feature_table_metadata(path: Path | str) -> dict[str, str]:
    """The ``earlyrisk.*`` key-value metadata of a feature table file."""
    raw = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items() if k.decode().startswith(META_PREFIX)}


def read_feature_table(path: Path | str) -> pd.DataFrame:
    """Read a feature table; its ``earlyrisk.*`` metadata lands in ``df.attrs``.

    ``as_of`` comes back as ``datetime64[ns]`` whatever unit Parquet stored.
    """
    table = pd.read_parquet(path)
    table["as_of"] = table["as_of"].astype("datetime64[ns]")
    table.attrs.update(read_feature_table_metadata(path))
    return table
