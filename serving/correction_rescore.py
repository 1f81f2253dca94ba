"""One family's model inputs recomputed from the raw registry with corrections applied.

After a registry officer decides a correction the family is re-scored (issue 23). The
served snapshot holds indicators, not records, so the indicators are recomputed from the
raw directory the snapshot was built from (``EARLYRISK_RAW_DIR``) by the feature engine's
own pure function (:func:`features.engine.compute_partition`) on the family's rows alone.

What "as of" means here: the snapshot's date for the records (what happened and was
recorded by then), and the day of the decision for the corrections (every correction
accepted by now applies, ``rewrite_history``: a voided record is gone, an amended one
reads its corrected value). A snapshot or batch file *before* the decision keeps the
original record (the engines apply each correction from its decided date); this re-score
is the service's answer on the day of the decision, recorded as such in the audit log.

The raw directory is read once (validated), on the first re-score, and kept.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.engine import attribute_events, compute_partition
from features.labels import extraction_date_of
from features.raw import RawTables


class RescoreUnavailable(RuntimeError):
    """The service has no raw registry to recompute a family from (EARLYRISK_RAW_DIR)."""


@dataclass(frozen=True)
class RecordFacts:
    """A contested record as the checks need it: whose it is, its type and dates."""

    event_id: str
    family_id: str | None
    event_type: str
    event_date: pd.Timestamp
    recorded_date: pd.Timestamp


class FamilyRecompute:
    """The validated raw registry of a service, for re-scoring one family at a time."""

    def __init__(self, raw_dir: Path | str | None) -> None:
        self.raw_dir = None if raw_dir is None else Path(raw_dir)
        self._raw: RawTables | None = None
        self._corrections: pd.DataFrame | None = None
        self._lock = threading.Lock()

    def _load(self) -> RawTables:
        if self.raw_dir is None:
            raise RescoreUnavailable(
                "the service has no raw registry (EARLYRISK_RAW_DIR unset): a correction "
                "cannot be checked against its record or the family re-scored"
            )
        with self._lock:
            if self._raw is None:
                from features.validation import load_validated
                from features.validation.corrections import load_corrections

                self._raw = load_validated(self.raw_dir)
                self._corrections = load_corrections(self.raw_dir)
        return self._raw

    @property
    def raw_corrections(self) -> pd.DataFrame | None:
        """The raw directory's own corrections table (None when it has none)."""
        self._load()
        frame = self._corrections
        return None if frame is None or frame.empty else frame

    def record(self, table: str, record_id: str) -> RecordFacts | None:
        """The record, or None when the registry has no such record."""
        raw = self._load()
        if table != "events":
            return None
        rows = raw.events.loc[raw.events["event_id"] == record_id]
        if rows.empty:
            return None
        row = rows.iloc[0]
        family = row["family_id"]
        if pd.isna(family):  # a person's record counts for their family on its date
            attributed = attribute_events(rows, raw.memberships)
            family = attributed["family_id"].iat[0] if len(attributed) else None
        return RecordFacts(
            event_id=str(row["event_id"]),
            family_id=None if family is None or pd.isna(family) else str(family),
            event_type=str(row["event_type"]),
            event_date=pd.Timestamp(row["event_date"]),
            recorded_date=pd.Timestamp(row["recorded_date"]),
        )

    def family_part(self, family_id: str) -> RawTables:
        """The family's rows of every table: closed under membership, as a partition is."""
        raw = self._load()
        members = raw.memberships.loc[raw.memberships["family_id"] == family_id]
        persons = set(members["person_id"])
        events = raw.events.loc[
            (raw.events["family_id"] == family_id)
            | (raw.events["family_id"].isna() & raw.events["person_id"].isin(persons))
        ]
        return RawTables(
            families=raw.families.loc[raw.families["family_id"] == family_id],
            persons=raw.persons.loc[raw.persons["person_id"].isin(persons)],
            memberships=members,
            events=events,
            outcomes=raw.outcomes.loc[raw.outcomes["family_id"] == family_id],
            protected=raw.protected.loc[raw.protected["family_id"] == family_id],
        )

    def inputs(
        self,
        family_id: str,
        *,
        as_of: str,
        feature_names: list[str],
        corrections: pd.DataFrame | None,
    ) -> np.ndarray | None:
        """The family's model inputs as of ``as_of`` with ``corrections`` (every accepted
        one) applied; None when the family has no member on that date."""
        raw = self._load()
        part = self.family_part(family_id)
        frame = compute_partition(
            part,
            [as_of],
            extraction_date=extraction_date_of(raw.events, raw.outcomes),
            audit_attributes=sorted(raw.protected["attribute"].dropna().unique()),
            corrections=corrections,
            correction_mode="rewrite_history",
        )
        row = frame.loc[frame["family_id"] == family_id]
        if row.empty:
            return None
        return row[feature_names].to_numpy(dtype=np.float64)
