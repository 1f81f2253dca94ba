"""The as-of feature engine: raw registry -> one row per (family, as-of date).

Two layers:

- :func:`compute_partition` is pure: RawTables in, DataFrame out, no I/O, no global state.
  It handles any subset of families that is closed under membership (the families of a
  partition, their memberships, the persons in them, their events and outcomes), so the
  same function can run on one core, on all cores here, or inside a Spark
  ``mapInPandas`` later.
- :func:`build_feature_table` is the driver: it splits the registry into partitions by a
  stable hash of ``family_id``, runs them in ``n_jobs`` forked worker processes (POSIX)
  that share the loaded tables copy-on-write and each cut out one partition at a time
  (so a worker holds only its families' rows), shows a progress bar, and concatenates the
  results in a deterministic order. The output does not depend on the number of
  partitions or jobs (a test proves it for 1, 3 and 16).

Point in time: every event indicator is computed by :func:`features.aggregations.aggregate`,
which only sees rows with ``recorded_date <= T`` and ``event_date`` in the bounded window
before T. Person-level events count for the family the person belonged to on the event
date. Composition comes from memberships valid on T. Only the label looks forward.

Storage adapters (:func:`write_feature_table`, :func:`read_feature_table`) keep the
feature-list and raw-data fingerprints in the Parquet key-value metadata.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.aggregations import MAX_LOOKBACK_DAYS, aggregate
from features.audit_groups import AUDIT_PREFIX, audit_columns, audit_groups
from features.catalogue import (
    FeatureSpec,
    event_features,
    feature_list_fingerprint,
    household_columns,
    model_input_columns,
)
from features.composition import head_of_household, household_composition, members_on
from features.config import FeatureConfig
from features.contract import DOMAINS, TABLE_COLUMNS
from features.labels import extraction_date_of, label_outcomes
from features.raw import RawTables
from features.wellbeing import wellbeing_index

META_FEATURE_LIST = "earlyrisk.feature_list_sha256"
META_RAW = "earlyrisk.raw_sha256"
META_CONFIG = "earlyrisk.feature_config"
# Families per partition when the caller does not choose: small enough to keep a worker's
# memory modest, large enough that vectorized group-bys dominate per-partition overhead.
DEFAULT_FAMILIES_PER_PARTITION = 25_000

KEY_COLUMNS = ("family_id", "as_of")
LABEL_COLUMNS = ("label", "label_observed")
WELLBEING_COLUMNS = ("wellbeing_score", "wellbeing_level", *(f"deprived_{d}" for d in DOMAINS))


# ----------------------------------------------------------------------------- helpers


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


def lookup_codes(values: pd.Series, vocabulary: pd.Index) -> np.ndarray:
    """Position of each value in ``vocabulary`` (-1 for a null or an unknown value).

    Arrow's C++ hash lookup: far faster on millions of string ids than a pandas
    ``get_indexer`` on Arrow-backed strings, which materialises Python objects.
    """
    import pyarrow.compute as pc

    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    array, value_set = _arrow_strings(values), _arrow_strings(vocabulary)
    found = pc.fill_null(pc.index_in(array, value_set=value_set), -1)
    return found.to_numpy(zero_copy_only=False).astype(np.int64)


def _arrow_strings(values: pd.Series | pd.Index):
    """One contiguous Arrow ``large_string`` array (zero-copy for Arrow-backed strings)."""
    import pyarrow as pa

    column = pd.Series(values).array
    if hasattr(column, "__arrow_array__"):
        array = pa.array(column)
    else:
        array = pa.array(np.asarray(column, dtype=object), type=pa.large_string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())


def _nullable_codes(values: pd.Series, vocabulary: pd.Index) -> np.ndarray:
    """Codes as float64 with NaN for null, so that ``isna``/``notna`` keep their meaning."""
    codes = lookup_codes(values, vocabulary).astype("float64")
    codes[values.isna().to_numpy()] = np.nan
    return codes


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
            family_id=_nullable_codes(raw.events["family_id"], family_names),
            person_id=_nullable_codes(raw.events["person_id"], person_names),
        ),
        outcomes=raw.outcomes.assign(
            family_id=lookup_codes(raw.outcomes["family_id"], family_names),
            person_id=_nullable_codes(raw.outcomes["person_id"], person_names),
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
        person_code = _nullable_codes(person, names)
        m_code = lookup_codes(m_person, names)
        family = _nullable_codes(events["family_id"], pd.Index(memberships["family_id"].unique()))
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
    membership (a data error the validator reports) is left out. ``role`` is the person's
    role in that family on the event date, null for family-level rows without a person.
    """
    events = events.reset_index(drop=True)
    found = _membership_on_event_date(events, memberships)
    matched = found >= 0
    family = events["family_id"].copy()
    fill = matched & events["family_id"].isna().to_numpy()
    family[fill] = memberships["family_id"].to_numpy()[found[fill]]
    role = pd.Series(memberships["role"].to_numpy()[np.maximum(found, 0)], dtype="str")
    out = events.assign(family_id=family, role=role.where(matched))
    return out.loc[out["family_id"].notna()].reset_index(drop=True)


@dataclass(frozen=True)
class _Prepared:
    """A catalogue entry's rows, filtered once per partition (independent of T)."""

    spec: FeatureSpec
    rows: pd.DataFrame


_VALUE_READERS = ("sum", "sum_per_month", "mean", "max", "last", "sum_change")


def _columns_for(spec: FeatureSpec) -> list[str]:
    """The columns an entry's aggregation reads: the per-entry copies stay small."""
    columns = ["family_id", "event_date", "recorded_date"]
    if spec.aggregation == "count_persons":
        columns.append("person_id")
    if spec.aggregation in _VALUE_READERS:
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
    sub = pd.DataFrame(
        {
            "family_id": events["family_id"].to_numpy(dtype="float64")[keep],
            "person_id": events["person_id"].to_numpy(dtype="float64")[keep],
            "event_date": events["event_date"].to_numpy()[keep],
        }
    )
    found = _membership_on_event_date(sub, memberships)
    family = sub["family_id"].to_numpy().copy()
    fill = (found >= 0) & np.isnan(family)
    family[fill] = memberships["family_id"].to_numpy()[found[fill]]
    role_codes, role_names = pd.factorize(memberships["role"])
    role = np.where(found >= 0, role_codes[np.maximum(found, 0)], -1)
    attributed = ~np.isnan(family)
    base = pd.DataFrame(
        {
            "family_id": np.where(attributed, family, -1).astype(np.int64),
            "person_id": sub["person_id"].to_numpy(),
            "event_date": sub["event_date"].to_numpy(),
            "recorded_date": events["recorded_date"].to_numpy()[keep],
            "value": events["value"].to_numpy(dtype="float64")[keep],
        }
    )
    type_codes, type_names = pd.factorize(events["event_type"])
    detail_codes, detail_names = pd.factorize(events["detail"])
    type_codes, detail_codes = type_codes[keep], detail_codes[keep]

    def among(codes: np.ndarray, names: pd.Index, wanted: tuple[str, ...]) -> np.ndarray:
        # A look-up table indexed by code; the extra last slot (False) serves code -1 (null).
        table = np.append(pd.Index(names).isin(wanted), False)
        return table[codes]

    prepared = []
    for spec in event_features():
        mask = attributed & among(type_codes, type_names, spec.event_types)
        if spec.detail is not None:
            mask &= among(detail_codes, detail_names, spec.detail)
        if spec.person_roles is not None:
            mask &= among(role, role_names, spec.person_roles)
        rows = base.loc[mask, _columns_for(spec)]
        if spec.aggregation == "last":
            ids = events["event_id"].take(keep[mask])
            rows = rows.assign(event_id=pd.factorize(ids, sort=True)[0])
        else:
            rows = rows.assign(event_id=0)
        prepared.append(_Prepared(spec, rows))
    return prepared


def _output_dtypes(audit_attributes: Sequence[str]) -> dict[str, str]:
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


def _empty_output(audit_attributes: Sequence[str]) -> pd.DataFrame:
    dtypes = _output_dtypes(audit_attributes)
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


# ------------------------------------------------------------------- the pure function


def compute_partition(
    raw: RawTables,
    as_of_dates: Iterable[object],
    *,
    config: FeatureConfig | None = None,
    extraction_date: pd.Timestamp | None = None,
    audit_attributes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Feature rows for every family of ``raw`` with at least one member on each as-of date.

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
        return _empty_output(audit_attributes)
    out = pd.concat(frames, ignore_index=True).astype(_output_dtypes(audit_attributes))
    return out.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------- partitioning


def partition_of(family_id: pd.Series | pd.Index, n_partitions: int) -> np.ndarray:
    """Partition number (0..n-1) of each family_id: a stable hash, same in every process.

    pandas' object hash uses a fixed key (SipHash), so the assignment does not depend on
    ``PYTHONHASHSEED``, the order of rows or the machine.
    """
    if n_partitions < 1:
        raise ValueError(f"n_partitions must be >= 1, got {n_partitions}")
    hashed = pd.util.hash_pandas_object(pd.Series(np.asarray(family_id, dtype=object)), index=False)
    return (hashed.to_numpy() % np.uint64(n_partitions)).astype(np.int64)


def _row_groups(part: np.ndarray, n: int) -> list[np.ndarray]:
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(n + 1))
    return [order[bounds[p] : bounds[p + 1]] for p in range(n)]


def split_partitions(raw: RawTables, n_partitions: int) -> Iterator[tuple[int, RawTables]]:
    """Yield ``(partition number, RawTables)`` for each non-empty partition, lazily.

    See :func:`partition_plan` for what a partition holds.
    """
    plan = partition_plan(raw, n_partitions)
    for p in plan.nonempty():
        yield p, plan.take(raw, p)


@dataclass(frozen=True)
class PartitionPlan:
    """Which rows of each raw table belong to each partition (row numbers, sorted)."""

    rows: dict[str, list[np.ndarray]]

    def nonempty(self) -> list[int]:
        """Partitions holding at least one membership (others produce no rows)."""
        return [p for p, rows in enumerate(self.rows["memberships"]) if len(rows)]

    def take(self, raw: RawTables, p: int) -> RawTables:
        """Partition ``p`` of ``raw`` as its own RawTables (copies only its rows)."""
        tables = {}
        for name, rows in self.rows.items():
            frame = getattr(raw, name)
            if name == "events":  # the engine never reads the source system: do not copy it
                frame = frame.drop(columns="source", errors="ignore")
            if len(rows[p]) == len(frame):  # the whole table (sorted, distinct rows): no copy
                tables[name] = frame.reset_index(drop=True)
            else:
                tables[name] = frame.take(rows[p]).reset_index(drop=True)
        return RawTables(**tables)


def partition_plan(raw: RawTables, n_partitions: int) -> PartitionPlan:
    """Assign every raw row to the partitions that need it.

    A partition holds its families, their memberships and outcomes and protected rows, the
    persons who were ever members of them, and the events that can count for them: family
    rows by family_id, person-only rows of their persons (such a row goes to every
    partition its person was ever a member in; attribution by event date then keeps it in
    exactly one family).
    """
    # Hash each distinct family once; every table finds its rows' partition by look-up.
    family_names = pd.Index(
        pd.concat([raw.families["family_id"], raw.memberships["family_id"]]).dropna().unique()
    )
    family_part = partition_of(family_names, n_partitions)

    def part_of(ids: pd.Series) -> np.ndarray:
        codes = lookup_codes(ids, family_names)
        return np.where(codes >= 0, family_part[np.maximum(codes, 0)], -1)

    memberships = raw.memberships
    member_part = part_of(memberships["family_id"])
    person_names = pd.Index(raw.persons["person_id"])
    person_parts = pd.DataFrame(
        {"person": lookup_codes(memberships["person_id"], person_names), "part": member_part}
    ).drop_duplicates()
    person_parts = person_parts.loc[person_parts["person"] >= 0]

    events = raw.events
    family_level = events["family_id"].notna().to_numpy()
    event_rows = np.flatnonzero(family_level)
    event_part = part_of(events["family_id"].iloc[event_rows])
    person_only = pd.DataFrame(
        {
            "row": np.flatnonzero(~family_level),
            "person": lookup_codes(events["person_id"][~family_level], person_names),
        }
    ).merge(person_parts, on="person", how="inner")
    event_rows = np.concatenate([event_rows, person_only["row"].to_numpy()])
    event_part = np.concatenate([event_part, person_only["part"].to_numpy()])
    person_rows = person_parts["person"].to_numpy()

    def by_family(frame: pd.DataFrame) -> list[np.ndarray]:
        return _row_groups(part_of(frame["family_id"]), n_partitions)

    person_groups = _row_groups(person_parts["part"].to_numpy(), n_partitions)
    groups = {
        "families": (None, by_family(raw.families)),
        "memberships": (None, _row_groups(member_part, n_partitions)),
        "persons": (person_rows, person_groups),
        "events": (event_rows, _row_groups(event_part, n_partitions)),
        "outcomes": (None, by_family(raw.outcomes)),
        "protected": (None, by_family(raw.protected)),
    }
    rows = {
        name: [
            parts[p] if mapping is None else np.sort(mapping[parts[p]]) for p in range(n_partitions)
        ]
        for name, (mapping, parts) in groups.items()
    }
    return PartitionPlan(rows)


def _default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _run_partition(
    raw: RawTables,
    as_of_dates: list[pd.Timestamp],
    config: FeatureConfig,
    extraction_date: pd.Timestamp,
    audit_attributes: list[str],
) -> pd.DataFrame:
    return compute_partition(
        raw,
        as_of_dates,
        config=config,
        extraction_date=extraction_date,
        audit_attributes=audit_attributes,
    )


def build_feature_table(
    raw_or_dir: RawTables | Path | str,
    as_of_dates: Iterable[object],
    *,
    config: FeatureConfig | None = None,
    n_partitions: int | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """The feature table for every family with a member on each as-of date.

    ``raw_or_dir`` is a RawTables or a raw directory (loaded through the validator, which
    refuses broken data). ``n_partitions`` defaults to one per 25,000 families (at least
    one per job); ``n_jobs`` to the cores available. Workers are forked processes that
    share the loaded tables copy-on-write and each cut out only their partition's rows, so
    memory grows with the partition size, not with the number of partitions; the result
    is identical whatever the partitioning. ``df.attrs`` carries the fingerprints
    that :func:`write_feature_table` stores.
    """
    config = config or FeatureConfig()
    raw = _load(raw_or_dir)
    dates = normalise_as_of(as_of_dates)
    jobs = n_jobs if n_jobs is not None else _default_jobs()
    if jobs < 1:
        raise ValueError(f"n_jobs must be >= 1, got {jobs}")
    n_families = raw.families["family_id"].nunique()
    if n_partitions is None:
        n_partitions = max(jobs, math.ceil(n_families / DEFAULT_FAMILIES_PER_PARTITION), 1)
    if n_partitions < 1:
        raise ValueError(f"n_partitions must be >= 1, got {n_partitions}")
    extraction_date = (
        pd.Timestamp(config.extraction_date)
        if config.extraction_date is not None
        else extraction_date_of(raw.events, raw.outcomes)
    )
    attributes = sorted(raw.protected["attribute"].dropna().unique())
    args = (dates, config, extraction_date, attributes)

    plan = partition_plan(raw, n_partitions)
    todo = plan.nonempty()
    results: dict[int, pd.DataFrame] = {}
    fingerprint: dict[str, str] = {}
    with _progress(progress, len(todo)) as advance:
        if jobs == 1 or len(todo) <= 1:
            for p in todo:
                results[p] = _run_partition(plan.take(raw, p), *args)
                advance()
            fingerprint["raw"] = raw_fingerprint(raw)
        else:
            # Workers are forked: they share the parent's raw tables copy-on-write and cut
            # their own partition, so no table is pickled and each holds only its rows.
            _SHARED.update(raw=raw, plan=plan, args=args)
            try:
                context = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                    futures = {pool.submit(_run_shared, p): p for p in todo}
                    # The parent hashes the raw data meanwhile (hashlib releases the GIL).
                    hasher = threading.Thread(
                        target=lambda: fingerprint.update(raw=raw_fingerprint(raw))
                    )
                    hasher.start()
                    for future in as_completed(futures):
                        results[futures[future]] = future.result()
                        advance()
                    hasher.join()
            finally:
                _SHARED.clear()
        advance(done=True)

    parts = [results[p] for p in sorted(results)] or [_empty_output(attributes)]
    table = pd.concat(parts, ignore_index=True)
    table = table.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)
    table.attrs[META_FEATURE_LIST] = feature_list_fingerprint()
    table.attrs[META_RAW] = fingerprint["raw"]
    table.attrs[META_CONFIG] = config.model_dump_json()
    return table


# Set by build_feature_table just before forking its workers, cleared right after.
_SHARED: dict[str, object] = {}


def _run_shared(p: int) -> pd.DataFrame:
    """Worker entry point: cut partition ``p`` from the inherited tables and compute it."""
    raw, plan, args = _SHARED["raw"], _SHARED["plan"], _SHARED["args"]
    return _run_partition(plan.take(raw, p), *args)


class _progress:
    """A rich progress bar of partitions done (a no-op when disabled)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total
        self._bar = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("features"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("partitions"),
                TimeElapsedColumn(),
            )
            self._bar.start()
            self._task = self._bar.add_task("partitions", total=self.total)
        return self._advance

    def _advance(self, *, done: bool = False) -> None:
        if self._bar is None:
            return
        if done:
            self._bar.update(self._task, completed=self.total)
        else:
            self._bar.advance(self._task)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


def _load(raw_or_dir: RawTables | Path | str) -> RawTables:
    if isinstance(raw_or_dir, RawTables):
        return raw_or_dir
    try:
        from features.validation import load_validated
    except ImportError:  # the validator has not landed yet: read without checking
        from features.raw import read_raw as load_validated
    return load_validated(raw_or_dir)


# ------------------------------------------------------------------ storage adapters


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
            plain = (name, column) in _UNIQUE_KEYS
            for chunk in _canonical_bytes(frame[column], dictionary=not plain):
                digest.update(chunk)
    return digest.hexdigest()


# Unique-key columns: dictionary encoding would not shrink them, only cost a hash table.
_UNIQUE_KEYS = {("families", "family_id"), ("persons", "person_id"), ("events", "event_id")}


def _canonical_bytes(series: pd.Series, *, dictionary: bool) -> Iterator[bytes | memoryview]:
    import pyarrow as pa
    import pyarrow.compute as pc

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
    array = _arrow_strings(series)
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


def _string_bytes(array) -> Iterator[bytes | memoryview]:
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
    import pyarrow as pa
    import pyarrow.parquet as pq

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
    import pyarrow.parquet as pq

    raw = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items() if k.decode().startswith("earlyrisk.")}


def read_feature_table(path: Path | str) -> pd.DataFrame:
    """Read a feature table; its ``earlyrisk.*`` metadata lands in ``df.attrs``.

    ``as_of`` comes back as ``datetime64[ns]`` whatever unit Parquet stored.
    """
    table = pd.read_parquet(path)
    table["as_of"] = table["as_of"].astype("datetime64[ns]")
    table.attrs.update(read_feature_table_metadata(path))
    return table
