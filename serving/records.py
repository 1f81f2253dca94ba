"""The administrative records behind a family's indicators, for ``/family`` and ``/review``.

A caseworker who reads "3 school absences in the last 90 days" needs to see which records
those are. The feature snapshot holds only the indicators, so the service keeps the records
themselves in memory, built once at start from the raw directory the snapshot was computed
from (``EARLYRISK_RAW_DIR``; its fingerprint must equal the snapshot's ``raw_sha256``, so
the records shown are the ones the indicators were computed from).

What is kept is bounded by the indicators' windows (DESIGN rule 3: no record marks a family
forever): an event is kept only when some served as-of date can see it (recorded by it, and
dated within the longest window before it), and only of the event types some model input
reads. Columns kept: event type, detail, event date, recorded date, source and value, and
for a child's record the child's age in whole years on the event date (a caseworker must
know which child, and the page names a child by age, never by name); never a person id,
birth date, sex or any other protected attribute (the birth date is read once, to compute
the age, and dropped).
Person-level events count for the family the person belonged to on the event date, as in
the feature engine (:func:`features.engine.attribute_events`).

Lookups are a dictionary hit and a slice of sorted arrays: no scan per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.aggregations import lookback_days
from features.catalogue import FeatureSpec, event_features

RECORD_COLUMNS = ("event_type", "detail", "event_date", "recorded_date", "source", "value")
_DAY_NS = 86_400 * 10**9


class RecordsError(ValueError):
    """The raw directory cannot back this snapshot (missing, invalid, other data)."""


@dataclass(frozen=True)
class _Window:
    spec: FeatureSpec
    days: int


class FamilyRecords:
    """A family's records per indicator, as of a snapshot date."""

    def __init__(self, events: pd.DataFrame, *, feature_names: list[str]) -> None:
        """``events``: attributed events (family_id, role and :data:`RECORD_COLUMNS`)."""
        wanted = set(feature_names)
        self.windows: dict[str, _Window] = {}
        for spec in event_features():
            if spec.name in wanted and spec.aggregation != "household":
                days = lookback_days(spec.aggregation, spec.window_days or 1)
                self.windows[spec.name] = _Window(spec, days)
        self._names = list(self.windows)
        # a window in nanoseconds: an event counts when it is less old than this at as_of
        self._window_ns = [w.days * _DAY_NS for w in self.windows.values()]
        ordered = events.sort_values(["family_id", "event_date"], kind="stable")
        self._family = ordered["family_id"].astype(str).to_numpy()
        self._type = ordered["event_type"].astype(str).to_numpy()
        self._detail = ordered["detail"].astype(object).to_numpy()
        self._event = ordered["event_date"].to_numpy(dtype="datetime64[ns]")
        self._recorded = ordered["recorded_date"].to_numpy(dtype="datetime64[ns]")
        self._source = ordered["source"].astype(str).to_numpy()
        self._value = ordered["value"].to_numpy(dtype=np.float64, na_value=np.nan)
        self._age = (
            ordered["child_age"].to_numpy(dtype=np.float64, na_value=np.nan)
            if "child_age" in ordered.columns
            else np.full(len(ordered), np.nan)
        )
        self._combo, self._matches = self._match_indicators(ordered)
        starts = np.flatnonzero(np.r_[True, self._family[1:] != self._family[:-1]])
        ends = np.r_[starts[1:], len(self._family)]
        self._slices = {
            str(self._family[s]): (int(s), int(e))
            for s, e in zip(starts, ends, strict=True)
            if len(self._family)
        }

    def _match_indicators(self, ordered: pd.DataFrame) -> tuple[list[int], list[list[int]]]:
        """Which indicators each record can count for, its dates aside.

        Records share a handful of (event type, detail, person's role) combinations: each
        row keeps the number of its combination, and each combination the indicators whose
        type, detail and role filters it passes. A request then walks the family's records
        once, instead of filtering them once per indicator.
        """
        keys = ordered.loc[:, ["event_type", "detail", "role"]].astype(object)
        combo = keys.groupby(list(keys.columns), dropna=False, sort=False).ngroup().to_numpy()
        _, first_rows = np.unique(combo, return_index=True)
        matches: list[list[int]] = []
        for row in first_rows.tolist():
            event_type, detail, role = (_known(v) for v in keys.iloc[row])
            matches.append(
                [
                    k
                    for k, window in enumerate(self.windows.values())
                    if _passes(window.spec, event_type=event_type, detail=detail, role=role)
                ]
            )
        return combo.tolist(), matches

    @property
    def size(self) -> int:
        """Records held (all families)."""
        return len(self._family)

    def for_family(self, family_id: str, as_of: str) -> dict[str, list[dict[str, Any]]]:
        """Each event indicator's records for the family as of ``as_of`` (newest first).

        A record counts for an indicator when its type (and detail, and the person's role,
        where the catalogue entry filters on them) is the entry's, it was recorded by
        as_of, and its event date falls within the entry's window before as_of. A record
        behind several indicators is the same dict in each of their lists.
        """
        out: dict[str, list[dict[str, Any]]] = {name: [] for name in self._names}
        span = self._slices.get(family_id)
        if span is None:
            return out
        lo, hi = span
        day = np.datetime64(as_of, "ns")
        event = self._event[lo:hi]
        visible = np.flatnonzero((self._recorded[lo:hi] <= day) & (event <= day))
        ages = (day - event[visible]).astype(np.int64)
        lists = [out[name] for name in self._names]
        for i, age in zip(visible[::-1].tolist(), ages[::-1].tolist(), strict=True):
            record: dict[str, Any] | None = None
            for k in self._matches[self._combo[lo + i]]:
                if age < self._window_ns[k]:
                    record = record if record is not None else self._record(lo + i)
                    lists[k].append(record)
        return out

    def _record(self, i: int) -> dict[str, Any]:
        value = float(self._value[i])
        detail = self._detail[i]
        return {
            "event_type": str(self._type[i]),
            "detail": _known(detail),
            "event_date": str(self._event[i])[:10],
            "recorded_date": str(self._recorded[i])[:10],
            "source": str(self._source[i]),
            "value": None if np.isnan(value) else round(value, 2),
            "child_age": None if np.isnan(self._age[i]) else int(self._age[i]),
        }


def _known(value: object) -> str | None:
    """A text column's value as text, None where it is missing (None or NaN)."""
    return None if value is None or pd.isna(value) else str(value)


def _passes(
    spec: FeatureSpec, *, event_type: str | None, detail: str | None, role: str | None
) -> bool:
    """Whether a record of this type, detail and role counts for the indicator, dates aside."""
    return (
        event_type in spec.event_types
        and (spec.detail is None or detail in spec.detail)
        and (spec.person_roles is None or role in spec.person_roles)
    )


def build_records(
    raw_dir: Path | str,
    *,
    as_of_dates: list[str],
    feature_names: list[str],
    expected_raw_sha256: str | None,
) -> FamilyRecords:
    """Load and validate the raw directory, check it is the snapshot's, keep what is needed.

    Raises RecordsError naming the problem (not a directory, invalid data, a fingerprint
    other than the snapshot's).
    """
    from features.aggregations import MAX_LOOKBACK_DAYS
    from features.engine import attribute_events, raw_fingerprint
    from features.validation import InvalidRawDataError, load_validated

    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise RecordsError(f"EARLYRISK_RAW_DIR {raw_dir} is not a directory")
    try:
        raw = load_validated(raw_dir)
    except InvalidRawDataError as exc:
        raise RecordsError(f"EARLYRISK_RAW_DIR {raw_dir} holds invalid data: {exc}") from exc
    found = raw_fingerprint(raw)
    if expected_raw_sha256 is None or found != expected_raw_sha256:
        raise RecordsError(
            f"EARLYRISK_RAW_DIR {raw_dir} has raw fingerprint {found}, but the snapshot was "
            f"computed from {expected_raw_sha256 or '(not recorded)'}; point it at the raw "
            "directory the snapshot was built from"
        )
    specs = [s for s in event_features() if s.name in set(feature_names)]
    types = sorted({t for s in specs for t in s.event_types})
    days = sorted(pd.Timestamp(d) for d in as_of_dates)
    events = raw.events.loc[raw.events["event_type"].isin(types)]
    last = days[-1] if days else pd.Timestamp.max
    first = days[0] if days else pd.Timestamp.min
    events = events.loc[
        (events["recorded_date"] <= last)
        & (events["event_date"] <= last)
        & (events["event_date"] > first - pd.Timedelta(days=MAX_LOOKBACK_DAYS))
    ]
    attributed = attribute_events(events, raw.memberships)
    attributed["child_age"] = child_ages(attributed, raw.persons)
    return FamilyRecords(
        attributed.loc[:, ["family_id", "role", *RECORD_COLUMNS, "child_age"]],
        feature_names=feature_names,
    )


def child_ages(events: pd.DataFrame, persons: pd.DataFrame) -> np.ndarray:
    """Each record's child's age in whole years on its event date (NaN for a record that
    is not a child's, or whose person's birth date is unknown)."""
    births = persons.drop_duplicates("person_id").set_index("person_id")["birth_date"]
    born = pd.to_datetime(events["person_id"].map(births))
    when = pd.to_datetime(events["event_date"])
    years = when.dt.year - born.dt.year
    before_birthday = (when.dt.month < born.dt.month) | (
        (when.dt.month == born.dt.month) & (when.dt.day < born.dt.day)
    )
    age = (years - before_birthday.astype(float)).to_numpy(dtype=np.float64, na_value=np.nan)
    is_child = (events["role"].astype(object) == "child").to_numpy()
    return np.where(is_child, age, np.nan)
