"""The pure feature computation: raw tables of some families -> one row per (family, as-of).

:func:`compute_partition` reads only its arguments (no I/O, no global state). It handles
any subset of families that is closed under membership (the families of a partition, their
memberships, the persons in them, their events and outcomes), so the same function runs on
one core, in the worker processes of :mod:`features.partitions`, or inside a Spark
``mapInPandas``.

Point in time: every event indicator is computed by :func:`features.aggregations.aggregate`,
which only sees rows with ``recorded_date <= T`` and ``event_date`` in the bounded window
before T. Person-level events count for the family the person belonged to on the event
date (:func:`attribute_events`). Composition comes from memberships valid on T. Only the
label looks forward.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from features.aggregations import MAX_LOOKBACK_DAYS, VALUE_AGGREGATIONS, aggregate
from features.audit_groups import AUDIT_PREFIX, audit_columns, audit_groups
from features.catalogue import (
    FeatureSpec,
    event_features,
    household_columns,
    model_input_columns,
)
from features.codes import lookup_codes, nullable_codes
from features.composition import head_of_household, household_composition, members_on
from features.config import FeatureConfig
from features.contract import DOMAINS
from features.corrections import RETRACTED, CorrectionMode, apply_corrections
from features.labels import extraction_date_of, label_outcomes
from features.raw import RawTables
from features.wellbeing import wellbeing_index

KEY_COLUMNS = ("family_id", "as_of")
LABEL_COLUMNS = ("label", "label_observed")
WELLBEING_COLUMNS = ("wellbeing_score", "wellbeing_level", *(f"deprived_{d}" for d in DOMAINS))


def normalise_as_of(as_of_dates: Iterable[object]) -> list[pd.Timestamp]:
    """Sorted distinct midnight timestamps; a clear error for an empty list or a bad date."""
    dates = []
    for value in as_of_dates:
        stamp = pd.Timestamp(value)
        if pd.isna(stamp):
            raise ValueError(f"as-of date {value!r} is not a date")
        dates.append(stamp.normalize())
    if not dates:
        raise ValueError("give at least one as-of date")
    return sorted(set(dates))


def output_columns(audit_attributes: Sequence[str]) -> list[str]:
    """The feature table's columns, in order (docs/architecture.md)."""
    return [
        *KEY_COLUMNS,
        *model_input_columns(),
        *LABEL_COLUMNS,
        *WELLBEING_COLUMNS,
        *audit_columns(audit_attributes),
    ]


def _encode(raw: RawTables) -> tuple[RawTables, pd.Index]:
    """The same tables with family/person ids replaced by integer codes, and the family
    names to decode with. Integer keys make every merge, look-up and group-by fast."""
    family_names = pd.Index(
        pd.concat([raw.families["family_id"], raw.memberships["family_id"]]).dropna().unique()
    )
    person_names = pd.Index(
        pd.concat([raw.persons["person_id"], raw.memberships["person_id"]]).dropna().unique()
    )
    encoded = RawTables(
        families=raw.families.assign(
            family_id=lookup_codes(raw.families["family_id"], family_names)
        ),
        persons=raw.persons.assign(person_id=lookup_codes(raw.persons["person_id"], person_names)),
        memberships=raw.memberships.assign(
            family_id=lookup_codes(raw.memberships["family_id"], family_names),
            person_id=lookup_codes(raw.memberships["person_id"], person_names),
        ),
        events=raw.events.drop(columns="source", errors="ignore").assign(
            family_id=nullable_codes(raw.events["family_id"], family_names),
            person_id=nullable_codes(raw.events["person_id"], person_names),
        ),
        outcomes=raw.outcomes.assign(
            family_id=lookup_codes(raw.outcomes["family_id"], family_names),
            person_id=nullable_codes(raw.outcomes["person_id"], person_names),
        ),
        protected=raw.protected.assign(
            family_id=lookup_codes(raw.protected["family_id"], family_names)
        ),
    )
    return encoded, family_names


def _membership_on_event_date(events: pd.DataFrame, memberships: pd.DataFrame) -> np.ndarray:
    """For each event row, the row of ``memberships`` holding its person on its event date
    (and in its family, when the event names one); -1 when there is none.

    Memberships are sorted by person and each event scans its person's few memberships:
    the loop runs over "k-th membership of a person" (a handful), never over events.
    """
    person = pd.Series(events["person_id"])
    m_person = memberships["person_id"]
    if person.dtype.kind not in "iuf":  # string ids: code both sides the same way
        names = pd.Index(pd.concat([m_person, person]).dropna().unique())
        person_code = nullable_codes(person, names)
        m_code = lookup_codes(m_person, names)
        family = nullable_codes(events["family_id"], pd.Index(memberships["family_id"].unique()))
        m_family = lookup_codes(
            memberships["family_id"], pd.Index(memberships["family_id"].unique())
        )
    else:
        person_code = person.to_numpy(dtype="float64")
        m_code = m_person.to_numpy(dtype=np.int64)
        family = events["family_id"].to_numpy(dtype="float64")
        m_family = memberships["family_id"].to_numpy(dtype=np.int64)
    order = np.argsort(m_code, kind="stable")
    m_code, m_family = m_code[order], m_family[order]
    start = memberships["start_date"].to_numpy()[order]
    end = memberships["end_date"].to_numpy()[order]
    end = np.where(np.isnat(end), np.datetime64("2262-01-01", "ns"), end)

    found = np.full(len(events), -1, dtype=np.int64)
    rows = np.flatnonzero(~np.isnan(person_code))
    codes = person_code[rows].astype(np.int64)
    low = np.searchsorted(m_code, codes, side="left")
    high = np.searchsorted(m_code, codes, side="right")
    day = events["event_date"].to_numpy()[rows]
    given = family[rows]
    hit = np.full(len(rows), -1, dtype=np.int64)
    for k in range(int((high - low).max(initial=0))):
        candidate = np.minimum(low + k, len(m_code) - 1)
        ok = (hit < 0) & (low + k < high)
        ok &= (start[candidate] <= day) & (end[candidate] >= day)
        ok &= np.isnan(given) | (given == m_family[candidate])
        hit[ok] = candidate[ok]
    found[rows] = np.where(hit >= 0, order[np.maximum(hit, 0)], -1)
    return found


def attribute_events(events: pd.DataFrame, memberships: pd.DataFrame) -> pd.DataFrame:
    """Events with the family they count for and the person's role in it on the event date.

    Family-level rows keep their ``family_id``. A person-only row counts for the family
    whose membership holds the person on ``event_date``; a person-level row with no such
    membership (a data error the validator reports) is left out. ``role`` (categorical) is
    the person's role in that family on the event date, null for family-level rows without
    a person. Works on string ids and on the integer codes of :func:`_encode` alike.
    """
    events = events.reset_index(drop=True)
    found = _membership_on_event_date(events, memberships)
    matched = found >= 0
    family = events["family_id"].copy()
    fill = matched & events["family_id"].isna().to_numpy()
    family[fill] = memberships["family_id"].to_numpy()[found[fill]]
    role_codes, role_names = pd.factorize(memberships["role"])
    role = pd.Categorical.from_codes(
        np.where(matched, role_codes[np.maximum(found, 0)], -1), categories=role_names
    )
    out = events.assign(family_id=family, role=role)
    return out.loc[out["family_id"].notna()].reset_index(drop=True)


@dataclass(frozen=True)
class _Prepared:
    """A catalogue entry's rows, filtered once per partition (independent of T)."""

    spec: FeatureSpec
    rows: pd.DataFrame


def _columns_for(spec: FeatureSpec, *, retracted: bool = False) -> list[str]:
    """The columns an entry's aggregation reads: the per-entry copies stay small."""
    columns = ["family_id", "event_date", "recorded_date"]
    if retracted:
        columns.append(RETRACTED)
    if spec.aggregation == "count_persons":
        columns.append("person_id")
    if spec.aggregation in VALUE_AGGREGATIONS:
        columns.append("value")
    return columns


def _reachable(events: pd.DataFrame, dates: list[pd.Timestamp]) -> np.ndarray:
    """Mask of the rows some as-of date can see: recorded by the last date and dated within
    the longest window before the first one. Cuts work; changes no result."""
    lower = (dates[0] - pd.Timedelta(days=MAX_LOOKBACK_DAYS)).to_datetime64()
    last = dates[-1].to_datetime64()
    event_date = events["event_date"].to_numpy()
    return (
        (events["recorded_date"].to_numpy() <= last) & (event_date <= last) & (event_date > lower)
    )


def _prepare(
    events: pd.DataFrame, memberships: pd.DataFrame, dates: list[pd.Timestamp]
) -> list[_Prepared]:
    """Per event indicator, its attributed rows as numeric columns (ids are integer codes,
    see :func:`_encode`; strings are compared as codes; event_id is ranked only for
    ``last``, which breaks ties with it)."""
    # Numeric columns and string codes are cut to the reachable rows; the strings
    # themselves are never copied (event_id only for the few ``last`` entries).
    keep = np.flatnonzero(_reachable(events, dates))
    type_codes, type_names = pd.factorize(events["event_type"])
    detail_codes, detail_names = pd.factorize(events["detail"])
    columns = {
        "family_id": events["family_id"].to_numpy(dtype="float64")[keep],
        "person_id": events["person_id"].to_numpy(dtype="float64")[keep],
        "event_date": events["event_date"].to_numpy()[keep],
        "recorded_date": events["recorded_date"].to_numpy()[keep],
        "value": events["value"].to_numpy(dtype="float64")[keep],
        "row": keep,
        "type": type_codes[keep],
        "detail": detail_codes[keep],
    }
    retracted = RETRACTED in events.columns  # corrected records' versions (point in time)
    if retracted:
        columns[RETRACTED] = events[RETRACTED].to_numpy()[keep]
    attributed = attribute_events(pd.DataFrame(columns), memberships)
    base = attributed.assign(family_id=attributed["family_id"].astype(np.int64))
    role = attributed["role"].cat

    def among(codes: np.ndarray, names: pd.Index, wanted: tuple[str, ...]) -> np.ndarray:
        # A look-up table indexed by code; the extra last slot (False) serves code -1 (null).
        table = np.append(pd.Index(names).isin(wanted), False)
        return table[codes]

    prepared = []
    types, details = base["type"].to_numpy(), base["detail"].to_numpy()
    for spec in event_features():
        mask = among(types, type_names, spec.event_types)
        if spec.detail is not None:
            mask &= among(details, detail_names, spec.detail)
        if spec.person_roles is not None:
            mask &= among(role.codes.to_numpy(), role.categories, spec.person_roles)
        rows = base.loc[mask, _columns_for(spec, retracted=retracted)]
        if spec.aggregation == "last":
            ids = events["event_id"].take(base["row"].to_numpy()[mask])
            rows = rows.assign(event_id=pd.factorize(ids, sort=True)[0])
        else:
            rows = rows.assign(event_id=0)
        prepared.append(_Prepared(spec, rows))
    return prepared


def output_dtypes(audit_attributes: Sequence[str]) -> dict[str, str]:
    """Column -> pandas dtype of the engine's output (the Spark engine's schema too)."""
    dtypes = {}
    for name in output_columns(audit_attributes):
        if name in ("family_id", "wellbeing_level") or name.startswith(AUDIT_PREFIX):
            dtypes[name] = "str"
        elif name == "as_of":
            dtypes[name] = "datetime64[ns]"
        elif name == "label":
            dtypes[name] = "int8"
        elif name == "label_observed" or name.startswith("deprived_"):
            dtypes[name] = "bool"
        else:
            dtypes[name] = "float64"
    return dtypes


def empty_output(audit_attributes: Sequence[str]) -> pd.DataFrame:
    dtypes = output_dtypes(audit_attributes)
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


# ------------------------------------------------------------------- the pure function


def compute_partition(
    raw: RawTables,
    as_of_dates: Iterable[object],
    *,
    config: FeatureConfig | None = None,
    extraction_date: pd.Timestamp | None = None,
    audit_attributes: Sequence[str] | None = None,
    corrections: pd.DataFrame | None = None,
    correction_mode: CorrectionMode = "from_decided_date",
) -> pd.DataFrame:
    """Feature rows for every family of ``raw`` with at least one member on each as-of date.

    ``corrections`` (the registry's corrections table, or None) are applied to the events
    first (:func:`features.corrections.apply_corrections`): by default each is known from
    its decided date; ``rewrite_history`` applies every accepted one at every date.

    Pure: reads only its arguments. ``extraction_date`` (decides ``label_observed``) and
    ``audit_attributes`` (the protected attributes, one ``audit_`` column each) must be the
    registry-wide values when ``raw`` is one partition of a larger registry, so that all
    partitions agree; left as None they are taken from ``raw`` itself (the config's
    ``extraction_date`` wins over both).
    """
    config = config or FeatureConfig()
    dates = normalise_as_of(as_of_dates)
    if config.extraction_date is not None:
        extraction_date = pd.Timestamp(config.extraction_date)
    elif extraction_date is None:
        extraction_date = extraction_date_of(raw.events, raw.outcomes)
    if audit_attributes is None:
        audit_attributes = sorted(raw.protected["attribute"].dropna().unique())

    if corrections is not None:
        raw = replace(raw, events=apply_corrections(raw.events, corrections, mode=correction_mode))
    raw, family_names = _encode(raw)
    family_codes = pd.RangeIndex(len(family_names))
    prepared = _prepare(raw.events, raw.memberships, dates)

    all_families = family_codes
    frames = []
    for as_of in dates:
        members = members_on(raw.memberships, raw.persons, as_of=as_of)
        composition = household_composition(
            raw.memberships, raw.persons, as_of=as_of, members=members
        )
        if composition.empty:
            continue
        families = composition.index
        codes = family_codes.get_indexer(families)
        indicators = {}
        for item in prepared:
            spec = item.spec
            # event_features() holds only event entries: an aggregation and a window each
            assert spec.aggregation != "household" and spec.window_days is not None
            values = aggregate(
                item.rows,
                how=spec.aggregation,
                as_of=as_of,
                window_days=spec.window_days,
                families=all_families,
            ).to_numpy()[codes]
            if spec.per_member:
                values = values / composition["hh_members"].to_numpy()
            indicators[spec.name] = values
        inputs = pd.DataFrame(indicators, index=families)
        for name in household_columns():
            inputs[name] = composition[name]
        inputs = inputs[model_input_columns()].astype("float64")

        labels = label_outcomes(
            raw.outcomes,
            families=families,
            as_of=as_of,
            outcome_types=config.label_outcome_types,
            horizon_months=config.horizon_months,
            extraction_date=extraction_date,
        )
        wellbeing = wellbeing_index(inputs, config=config.wellbeing)
        audit = audit_groups(
            families=raw.families,
            persons=raw.persons,
            protected=raw.protected,
            composition=composition,
            heads=head_of_household(members),
            attributes=audit_attributes,
        )
        names = family_names.take(families.to_numpy()).astype("str")
        keys = pd.DataFrame({"family_id": names, "as_of": as_of}, index=families)
        frame = pd.concat([keys, inputs, labels, wellbeing, audit], axis=1)
        frames.append(frame.reset_index(drop=True))

    if not frames:
        return empty_output(audit_attributes)
    out = pd.concat(frames, ignore_index=True).astype(output_dtypes(audit_attributes))
    return out.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)
