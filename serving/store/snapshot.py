"""The feature snapshot as the service sees it: its footer, its fingerprint, its errors.

Every table derived from the snapshot (the lookup store, the region and audit-group
indexes) is rebuilt when the snapshot's :attr:`SnapshotInfo.fingerprint` changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.errors import EarlyriskError
from features.snapshot_store import META_FEATURE_LIST, META_RAW

FEATURE_LIST_KEY = META_FEATURE_LIST.encode()
RAW_SHA_KEY = META_RAW.encode()


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


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def as_of_text(value: object) -> str:
    """An as-of date in the store's ISO form (accepts date, datetime, string)."""
    return pd.Timestamp(value).date().isoformat()
