"""Which region each family belongs to, for tokens scoped to regions.

A token created with ``--region`` sees only families whose ``audit_region`` (the snapshot's
audit column, never a model input) is one of its regions. The lookup store deliberately
holds model inputs only, so the regions live in their own table ``family_region(as_of,
family_id, region)`` (a small SQLite file ``<lookup db>.regions.sqlite``, or the shared
PostgreSQL database), built from the snapshot's three columns at start-up and rebuilt,
like the lookup store, only when the snapshot changes (a
:class:`~serving.store.side_index.SideIndex`). A snapshot without
``audit_region`` gives an empty index: a scoped token then sees no family at all (fail
closed), and the service logs a warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from serving.store.connection import Database
from serving.store.side_index import Rows, SideIndex, id_chunks
from serving.store.snapshot import SnapshotInfo

REGION_COLUMN = "audit_region"


def regions_path(lookup_db_path: Path) -> Path:
    """Where the region index of a lookup store lives."""
    return lookup_db_path.with_name(f"{lookup_db_path.stem}.regions.sqlite")


class RegionIndex(SideIndex):
    """(as_of, family_id) -> region, read-only after the build; thread-safe reads."""

    table = "family_region"

    def __init__(self, db: Database | Path | str, *, has_regions: bool) -> None:
        super().__init__(db)
        self.has_regions = has_regions

    @classmethod
    def from_snapshot(cls, snapshot: SnapshotInfo, db: Database | Path | str) -> RegionIndex:
        """Open the index of snapshot in db, building it when stale."""
        has_regions = REGION_COLUMN in snapshot.columns
        index = cls(db, has_regions=has_regions)
        index._ensure_built(
            snapshot, json.dumps({"snapshot": snapshot.fingerprint, "regions": has_regions})
        )
        return index

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [("region", "text")]

    @property
    def snapshot_columns(self) -> list[str]:
        return [REGION_COLUMN] if self.has_regions else []

    def _rows(self, frame: pd.DataFrame, as_of: pd.Series, family_id: pd.Series) -> Rows:
        region = frame[REGION_COLUMN].astype("string")
        return zip(as_of, family_id, [None if pd.isna(r) else str(r) for r in region], strict=True)

    def within(self, family_ids: Sequence[str], *, as_of: str, regions: Iterable[str]) -> set[str]:
        """The ids among family_ids whose region at as_of is one of regions."""
        allowed = sorted(set(regions))
        if not allowed or not family_ids:
            return set()
        conn = self.db.read()
        found: set[str] = set()
        region_marks = ", ".join("?" for _ in allowed)
        for chunk, marks in id_chunks(family_ids):
            rows = conn.execute(
                f"SELECT family_id FROM family_region WHERE as_of = ? "
                f"AND family_id IN ({marks}) AND region IN ({region_marks})",
                (as_of, *chunk, *allowed),
            )
            found.update(row[0] for row in rows)
        return found

    def regions_of(self, family_ids: Sequence[str], *, as_of: str) -> dict[str, str]:
        """The region of each of family_ids at as_of (a family without one is absent; a
        staged rollout serves a region by its stage, the worklist filters by it)."""
        if not family_ids:
            return {}
        conn = self.db.read()
        found: dict[str, str] = {}
        for chunk, marks in id_chunks(family_ids):
            rows = conn.execute(
                f"SELECT family_id, region FROM family_region WHERE as_of = ? "
                f"AND family_id IN ({marks}) AND region IS NOT NULL",
                (as_of, *chunk),
            )
            found.update({str(fid): str(region) for fid, region in rows})
        return found

    def regions_at(self, as_of: str) -> list[str]:
        """Every region of the snapshot at as_of, sorted (what an unscoped token may filter by)."""
        rows = self.db.read().execute(
            "SELECT DISTINCT region FROM family_region WHERE as_of = ? AND region IS NOT NULL "
            "ORDER BY region",
            (as_of,),
        )
        return [str(row[0]) for row in rows]
