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
from features.contract import TABLE_COLUMNS, UNIQUE_KEYS
from features.raw import RawTables

META_PREFIX = "earlyrisk."
META_FEATURE_LIST = f"{META_PREFIX}feature_list_sha256"
META_RAW = f"{META_PREFIX}raw_sha256"
META_CONFIG = f"{META_PREFIX}feature_config"


def raw_fingerprint(raw: RawTables) -> str:
    """sha256 over the six tables' contents (row order included), in contract order.

    Canonical per column, so equal data gives the same digest however it was read (CSV or
    Parquet, one Arrow chunk or many): dates as int64 nanoseconds, floats as float64 with
    one NaN pattern, strings dictionary-encoded (indices in first-appearance order, -1 for
    null, then the distinct values' zero-based offsets and UTF-8 bytes).
    """
    digest = hashlib.sha256()
    for name, frame in raw.items():
        columns = [c.name for c in TABLE_COLUMNS[name]]
        digest.update(f"{name}:{','.join(columns)}:{len(frame)};".encode())
        for column in columns:
            # a unique key: dictionary encoding would not shrink it, only cost a hash table
            plain = UNIQUE_KEYS.get(name) == (column,)
            for chunk in _canonical_bytes(frame[column], dictionary=not plain):
                digest.update(chunk)
    return digest.hexdigest()


# Unique-key columns: dictionary encoding would not shrink them, only cost a hash table.
def _canonical_bytes(series: pd.Series, *, dictionary: bool) -> Iterator[bytes | memoryview]:
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
    if not dictionary:
        yield array.is_null().to_numpy(zero_copy_only=False).tobytes()
        yield from _string_bytes(pc.fill_null(array, ""))
        return
    # Dictionary encoding (first-appearance order, so canonical) shrinks repeated ids and
    # vocabularies to 4-byte indices: far fewer bytes to hash than the raw strings.
    encoded = array.dictionary_encode()
    indices = encoded.indices.cast(pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)
    yield indices.tobytes()
    yield from _string_bytes(encoded.dictionary)


def _string_bytes(array: pa.Array) -> Iterator[bytes | memoryview]:
    """Zero-based offsets and UTF-8 bytes of a null-free large_string array."""
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)
    offsets = offsets[array.offset : array.offset + len(array) + 1]
    yield (offsets - offsets[0]).tobytes()
    data = array.buffers()[2]
    if data is not None and len(array):
        yield memoryview(data)[offsets[0] : offsets[-1]]


def write_feature_table(
    table: pd.DataFrame,
    path: Path | str,
    *,
    raw_sha256: str | None = None,
    feature_list_sha256: str | None = None,
) -> Path:
    """Write the feature table to Parquet with the fingerprints in key-value metadata.

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
    tmp = path.with_name(path.name + ".tmp")
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
