"""Which region each family belongs to, for tokens scoped to regions.

A token created with ``--region`` sees only families whose ``audit_region`` (the snapshot's
audit column, never a model input) is one of its regions. The lookup store deliberately
holds model inputs only, so the regions live in their own small SQLite file
``<lookup db>.regions.sqlite`` (``family_region(as_of, family_id, region)``), built from the
snapshot's three columns at start-up and rebuilt, like the lookup store, only when the
snapshot changes. A snapshot without ``audit_region`` gives an empty index: a scoped token
then sees no family at all (fail closed), and the service logs a warning.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from serving.lookup import SnapshotInfo

REGION_COLUMN = "audit_region"
_IN_CHUNK = 500


def regions_path(lookup_db_path: Path) -> Path:
    """Where the region index of a lookup store lives."""
    return lookup_db_path.with_name(f"{lookup_db_path.stem}.regions.sqlite")


class RegionIndex:
    """(as_of, family_id) -> region, read-only after the build; thread-safe reads."""

    def __init__(self, path: Path | str, *, has_regions: bool) -> None:
        self.path = Path(path)
        self.has_regions = has_regions
        self._local = threading.local()

    @classmethod
    def from_snapshot(cls, snapshot: SnapshotInfo, path: Path | str) -> RegionIndex:
        """Open the index of snapshot at path, building it when stale."""
        path = Path(path)
        has_regions = REGION_COLUMN in snapshot.columns
        wanted = json.dumps({"snapshot": snapshot.fingerprint, "regions": has_regions})
        index = cls(path, has_regions=has_regions)
        if index._stored_meta() != wanted:
            index._build(snapshot, wanted)
        return index

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
        """Write a fresh index (owner-only file) and swap it in atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.building")
        tmp.unlink(missing_ok=True)
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute(
                "CREATE TABLE family_region (as_of TEXT NOT NULL, family_id TEXT NOT NULL, "
                "region TEXT, PRIMARY KEY (as_of, family_id)) WITHOUT ROWID"
            )
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            if self.has_regions:
                parquet = pq.ParquetFile(snapshot.path)
                for batch in parquet.iter_batches(
                    columns=["as_of", "family_id", REGION_COLUMN], batch_size=100_000
                ):
                    frame = batch.to_pandas()
                    as_of = pd.to_datetime(frame["as_of"]).dt.strftime("%Y-%m-%d")
                    region = frame[REGION_COLUMN].astype("string")
                    conn.executemany(
                        "INSERT OR REPLACE INTO family_region VALUES (?, ?, ?)",
                        zip(
                            as_of,
                            frame["family_id"].astype(str),
                            [None if pd.isna(r) else str(r) for r in region],
                            strict=True,
                        ),
                    )
            conn.execute("INSERT INTO meta VALUES ('built_from', ?)", (meta,))
            conn.commit()
        finally:
            conn.close()
        os.replace(tmp, self.path)

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.conn = conn
        return conn

    def within(self, family_ids: Sequence[str], *, as_of: str, regions: Iterable[str]) -> set[str]:
        """The ids among family_ids whose region at as_of is one of regions."""
        allowed = sorted(set(regions))
        if not allowed or not family_ids:
            return set()
        conn = self._connect()
        found: set[str] = set()
        unique = list(dict.fromkeys(family_ids))
        region_marks = ", ".join("?" for _ in allowed)
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            rows = conn.execute(
                f"SELECT family_id FROM family_region WHERE as_of = ? "
                f"AND family_id IN ({marks}) AND region IN ({region_marks})",
                (as_of, *chunk, *allowed),
            )
            found.update(row[0] for row in rows)
        return found
