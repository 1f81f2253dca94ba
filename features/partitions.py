"""The partitioned driver: split a registry by family, compute each part, put it together.

:func:`build_feature_table` splits the registry into partitions by a stable hash of
``family_id``, runs :func:`features.compute.compute_partition` on them in ``n_jobs`` worker
processes, shows a progress bar, and
concatenates the results in a deterministic order. The output does not depend on the
number of partitions or jobs (a test proves it for 1, 3 and 16). :func:`feature_partitions`
is the same driver as a stream of partitions, for callers that write each part as it comes
(batch scoring) instead of holding the whole table.

Workers come from a fork server (:mod:`features.workers`), never a fork of the caller: it
may run threads (this module's own hashing thread, a progress bar) and a fork copies their
held locks.
Every partition reaches its worker as a picklable task, an explicit argument: tables held
in memory are cut by the parent and sent (:class:`InMemoryTask`); a streamed registry
(:mod:`features.partitioned_raw`) sends its rows of the small tables and the path of its
events file. No worker inherits (and counts in its RSS) the parent's tables, plan and
allocator pages.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

import numpy as np
import pandas as pd
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from features.catalogue import feature_list_fingerprint
from features.codes import arrow_strings
from features.compute import KEY_COLUMNS, compute_partition, empty_output, normalise_as_of
from features.config import FeatureConfig
from features.corrections import CorrectionMode, accepted
from features.labels import extraction_date_of, refuse_as_of_after_extraction
from features.raw import RawTables
from features.snapshot_store import META_CONFIG, META_FEATURE_LIST, META_RAW, raw_fingerprint
from features.validation import load_validated
from features.validation.corrections import (
    META_CORRECTIONS,
    correction_summary,
    load_corrections,
)
from features.validation.kernels import KeyIndex
from features.workers import worker_context

# Families per partition when the caller does not choose: small enough to keep a worker's
# memory modest, large enough that vectorized group-bys dominate per-partition overhead.
DEFAULT_FAMILIES_PER_PARTITION = 25_000


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


class PartitionAssigner:
    """Which partitions each family, person and event belongs to, for one registry.

    Built from the small tables (families, persons, memberships); events are assigned
    slice by slice (:meth:`event_parts`), so a streamed events table can be bucketed
    without being held (:mod:`features.partitioned_raw`). The family and person ids are
    prepared for look-ups once (:class:`features.validation.kernels.KeyIndex`): a look-up
    per slice then costs the slice's rows, not the millions of ids (an Arrow hash set
    rebuilt per slice made bucketing grow with slices x ids).
    """

    def __init__(self, raw: RawTables, n_partitions: int) -> None:
        self.n_partitions = n_partitions
        # Hash each distinct family once; every table finds its rows' partition by look-up.
        self.family_names = pd.Index(
            pd.concat([raw.families["family_id"], raw.memberships["family_id"]]).dropna().unique()
        )
        self.family_part = partition_of(self.family_names, n_partitions)
        self._families = KeyIndex(arrow_strings(self.family_names))
        memberships = raw.memberships
        self.member_part = self.part_of(memberships["family_id"])
        self.person_names = pd.Index(raw.persons["person_id"])
        self._persons = KeyIndex(arrow_strings(self.person_names))
        person_parts = pd.DataFrame(
            {
                "person": self._persons.codes(memberships["person_id"]).astype(np.int64),
                "part": self.member_part,
            }
        ).drop_duplicates()
        self.person_parts = person_parts.loc[person_parts["person"] >= 0]
        # The partitions of person k are _parts_of_person[_person_start[k]:_person_start[k+1]]:
        # a slice's person-only events find theirs by position, in the slice's rows (a merge
        # with every (person, partition) pair per slice cost slices x persons: 21% of the
        # streamed pass at 1M families).
        by_person = self.person_parts.sort_values(["person", "part"], kind="stable")
        self._parts_of_person = by_person["part"].to_numpy(dtype=np.int64)
        self._person_start = np.searchsorted(
            by_person["person"].to_numpy(), np.arange(len(self.person_names) + 1)
        )

    def part_of(self, ids: pd.Series) -> np.ndarray:
        """Partition of each family id (-1 for a null or unknown one)."""
        codes = self._families.codes(ids)
        return np.where(codes >= 0, self.family_part[np.maximum(codes, 0)], -1)

    def event_parts(self, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(row, partition) pairs of ``events``: family rows by family_id, person-only rows
        once for every partition their person was ever a member in."""
        family_level = events["family_id"].notna().to_numpy()
        event_rows = np.flatnonzero(family_level)
        event_part = self.part_of(events["family_id"].iloc[event_rows])
        person_only = np.flatnonzero(~family_level)
        person_rows, person_part = self.person_rows(events["person_id"].iloc[person_only])
        return (
            np.concatenate([event_rows, person_only[person_rows]]),
            np.concatenate([event_part, person_part]),
        )

    def person_rows(self, person_ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """(row, partition) pairs of rows keyed by ``person_ids``: each row once for every
        partition its person was ever a member in (none for a person never a member)."""
        person = self._persons.codes(person_ids).astype(np.int64)
        rows = np.flatnonzero(person >= 0)
        person = person[rows]
        start = self._person_start[person]
        count = self._person_start[person + 1] - start
        # one (row, partition) pair per partition of the row's person
        offset = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        return np.repeat(rows, count), self._parts_of_person[np.repeat(start, count) + offset]


def partition_plan(raw: RawTables, n_partitions: int) -> PartitionPlan:
    """Assign every raw row to the partitions that need it.

    A partition holds its families, their memberships and outcomes and protected rows, the
    persons who were ever members of them, and the events that can count for them: family
    rows by family_id, person-only rows of their persons (such a row goes to every
    partition its person was ever a member in; attribution by event date then keeps it in
    exactly one family).
    """
    assign = PartitionAssigner(raw, n_partitions)
    event_rows, event_part = assign.event_parts(raw.events)
    person_rows = assign.person_parts["person"].to_numpy()

    def by_family(frame: pd.DataFrame) -> list[np.ndarray]:
        return _row_groups(assign.part_of(frame["family_id"]), n_partitions)

    person_groups = _row_groups(assign.person_parts["part"].to_numpy(), n_partitions)
    groups = {
        "families": (None, by_family(raw.families)),
        "memberships": (None, _row_groups(assign.member_part, n_partitions)),
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


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _RunArgs:
    """The registry-wide values every partition of one run shares."""

    dates: list[pd.Timestamp]
    config: FeatureConfig
    extraction_date: pd.Timestamp
    audit_attributes: list[str]
    # the registry's corrections (small: people's decisions), sent whole to every partition
    corrections: pd.DataFrame | None = None
    correction_mode: CorrectionMode = "from_decided_date"

    def compute(self, part: RawTables) -> pd.DataFrame:
        return compute_partition(
            part,
            self.dates,
            config=self.config,
            extraction_date=self.extraction_date,
            audit_attributes=self.audit_attributes,
            corrections=self.corrections,
            correction_mode=self.correction_mode,
        )


def source_extraction_date(source: PartitionSource, config: FeatureConfig) -> pd.Timestamp:
    """The date up to which ``source`` is complete: the config's, else its latest record."""
    if config.extraction_date is not None:
        return pd.Timestamp(config.extraction_date)
    latest = source.latest_event_record
    events = pd.DataFrame({"recorded_date": pd.Series([latest], dtype="datetime64[ns]")})
    return extraction_date_of(events, source.small.outcomes)


def refuse_dates_after_extraction(
    source: PartitionSource, as_of_dates: Iterable[object], config: FeatureConfig
) -> pd.Timestamp:
    """The source's extraction date; an as-of date after it raises
    :class:`~features.labels.AsOfAfterExtractionError` (see the data contract)."""
    extraction_date = source_extraction_date(source, config)
    refuse_as_of_after_extraction(
        normalise_as_of(as_of_dates), extraction_date, configured=config.extraction_date is not None
    )
    return extraction_date


def _run_args(
    source: PartitionSource,
    as_of_dates: Iterable[object],
    config: FeatureConfig,
    corrections: pd.DataFrame | None = None,
    correction_mode: CorrectionMode = "from_decided_date",
) -> _RunArgs:
    extraction_date = refuse_dates_after_extraction(source, as_of_dates, config)
    dates = normalise_as_of(as_of_dates)
    if corrections is None:  # a streamed registry carries its own (open_registry)
        corrections = getattr(source, "corrections", None)
    return _RunArgs(
        dates=dates,
        config=config,
        extraction_date=extraction_date,
        audit_attributes=sorted(source.small.protected["attribute"].dropna().unique()),
        corrections=corrections,
        correction_mode=correction_mode,
    )


class PartitionSource(Protocol):
    """Raw data the driver can cut into family partitions.

    ``small`` holds the registry's tables other than events in full (its events may be
    empty: a streamed source keeps them on disk); ``latest_event_record`` is the latest
    events.recorded_date (for the extraction date).
    """

    n_partitions: int
    small: RawTables
    latest_event_record: pd.Timestamp | None

    def nonempty(self) -> list[int]: ...

    def take(self, p: int) -> RawTables: ...

    def task(self, p: int) -> PartitionTask: ...

    @property
    def raw_sha256(self) -> str: ...


class PartitionTask(Protocol):
    """Partition ``p`` of a source as a picklable value: calling it (in any process) gives
    the partition's RawTables. Workers are sent tasks and inherit nothing from the parent
    (see :func:`_stream_tasks`)."""

    def __call__(self) -> RawTables: ...


@dataclass(frozen=True)
class InMemoryTask:
    """A partition of tables held in memory, cut by the parent, sent to a worker as is."""

    tables: RawTables

    def __call__(self) -> RawTables:
        return self.tables


class InMemorySource:
    """Raw tables held in memory, cut by :func:`partition_plan`."""

    def __init__(self, raw: RawTables, n_partitions: int) -> None:
        self.raw = raw
        self.small = raw
        self.n_partitions = n_partitions
        self.plan = partition_plan(raw, n_partitions)
        latest = raw.events["recorded_date"].max()
        self.latest_event_record = None if pd.isna(latest) else pd.Timestamp(latest)
        self._sha: str | None = None

    def nonempty(self) -> list[int]:
        return self.plan.nonempty()

    def take(self, p: int) -> RawTables:
        return self.plan.take(self.raw, p)

    def task(self, p: int) -> InMemoryTask:
        return InMemoryTask(self.take(p))

    @property
    def raw_sha256(self) -> str:
        if self._sha is None:
            self._sha = raw_fingerprint(self.raw)
        return self._sha


def default_partitions(raw: RawTables, *, jobs: int = 1) -> int:
    """One partition per 25,000 families, at least one per job."""
    n_families = raw.families["family_id"].nunique()
    return max(jobs, math.ceil(n_families / DEFAULT_FAMILIES_PER_PARTITION), 1)


def feature_partitions(
    raw: RawTables | PartitionSource,
    as_of_dates: Iterable[object],
    *,
    config: FeatureConfig | None = None,
    n_partitions: int | None = None,
    n_jobs: int = 1,
    corrections: pd.DataFrame | None = None,
) -> Iterator[tuple[int, pd.DataFrame]]:
    """Yield ``(partition number, feature rows)`` for each non-empty partition of ``raw``.

    ``raw`` is a RawTables or a streamed source (:func:`features.partitioned_raw.open_registry`,
    whose partitioning is fixed when it is opened: ``n_partitions`` must then be None or
    equal to it). The extraction date (unless the config fixes it) and the audit attributes
    are the registry-wide values, so the partitions agree with one another and with
    :func:`build_feature_table`. With ``n_jobs == 1`` partitions come in order and only one
    is held at a time; with more jobs they come as the workers finish them. ``corrections``
    (validated, :func:`features.validation.corrections.load_corrections`) apply each from
    its decided date.
    """
    n_jobs, source = _source(raw, n_jobs, n_partitions)
    args = _run_args(source, as_of_dates, config or FeatureConfig(), corrections)
    yield from _stream(source, args, n_jobs)


def _source(
    raw: RawTables | PartitionSource, n_jobs: int, n_partitions: int | None
) -> tuple[int, PartitionSource]:
    """Checked jobs and the partitioned source; partitions default to :func:`default_partitions`."""
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be >= 1, got {n_jobs}")
    if n_partitions is not None and n_partitions < 1:
        raise ValueError(f"n_partitions must be >= 1, got {n_partitions}")
    if not isinstance(raw, RawTables):
        if n_partitions is not None and n_partitions != raw.n_partitions:
            raise ValueError(
                f"n_partitions {n_partitions} differs from the {raw.n_partitions} partitions "
                "the streamed registry was opened with"
            )
        return n_jobs, raw
    if n_partitions is None:
        n_partitions = default_partitions(raw, jobs=n_jobs)
    return n_jobs, InMemorySource(raw, n_partitions)


def _stream(
    source: PartitionSource, args: _RunArgs, n_jobs: int
) -> Iterator[tuple[int, pd.DataFrame]]:
    todo = source.nonempty()
    if n_jobs == 1 or len(todo) <= 1:
        for p in todo:
            yield p, args.compute(source.take(p))
        return
    yield from _stream_tasks(source.task, todo, args, n_jobs)


def build_feature_table(
    raw_or_dir: RawTables | PartitionSource | Path | str,
    as_of_dates: Iterable[object],
    *,
    config: FeatureConfig | None = None,
    n_partitions: int | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
    corrections: pd.DataFrame | None = None,
    correction_mode: CorrectionMode = "from_decided_date",
) -> pd.DataFrame:
    """The feature table for every family with a member on each as-of date.

    Corrections (:mod:`features.corrections`): a raw directory's own corrections table is
    read and validated when ``corrections`` is None; for tables already in memory pass
    them. ``correction_mode`` (a training option) says whether each applies from its
    decided date (the default; what scoring always does) or rewrites history.

    ``raw_or_dir`` is a RawTables, a streamed registry
    (:func:`features.partitioned_raw.open_registry`: events read one partition at a time)
    or a raw directory (loaded whole through the validator, which refuses broken data).
    ``n_partitions`` defaults to one per 25,000 families (at least one per job); ``n_jobs``
    to the cores available. Workers (:mod:`features.workers`) are sent one partition at a time (the
    parent cuts tables held in memory; a streamed registry's tasks name their files), so
    memory grows with the partition size, not with the number of partitions; the result
    is identical whatever
    the partitioning and whichever input. ``df.attrs`` carries the fingerprints that
    :func:`features.snapshot_store.write_feature_table` stores.
    """
    config = config or FeatureConfig()
    raw: RawTables | PartitionSource
    if isinstance(raw_or_dir, (Path, str)):
        raw = load_validated(raw_or_dir)
        if corrections is None:
            corrections = load_corrections(raw_or_dir)
    else:
        raw = raw_or_dir
    jobs, source = _source(raw, n_jobs if n_jobs is not None else default_jobs(), n_partitions)
    args = _run_args(source, as_of_dates, config, corrections, correction_mode)
    results: dict[int, pd.DataFrame] = {}
    fingerprint: dict[str, str] = {}
    # With workers, the parent hashes the raw data meanwhile (hashlib releases the GIL).
    hasher = threading.Thread(target=lambda: fingerprint.update(raw=source.raw_sha256))
    if jobs > 1:
        hasher.start()
    with _Progress(progress, len(source.nonempty())) as advance:
        for p, frame in _stream(source, args, jobs):
            results[p] = frame
            advance()
        advance(done=True)
    if jobs > 1:
        hasher.join()
    else:
        hasher.run()

    frames = [results[p] for p in sorted(results)] or [empty_output(args.audit_attributes)]
    table = pd.concat(frames, ignore_index=True)
    del results, frames
    table = table.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)
    table.attrs[META_FEATURE_LIST] = feature_list_fingerprint()
    table.attrs[META_RAW] = fingerprint["raw"]
    table.attrs[META_CONFIG] = config.model_dump_json()
    if corrections is not None and not accepted(corrections).empty:
        # which corrections shaped the table, and how (the model card states it)
        table.attrs[META_CORRECTIONS] = correction_summary(corrections, correction_mode)
    return table


def _stream_tasks(
    task_of: Callable[[int], PartitionTask], todo: list[int], args: _RunArgs, n_jobs: int
) -> Iterator[tuple[int, pd.DataFrame]]:
    """Compute the partitions ``todo`` in workers, each sent its partition's task.

    A worker from the fork server holds only its imports and the partition
    it is sent (a forked one would also start with every page of the parent and its
    threads' held locks: :mod:`features.workers`). At most two tasks per worker are queued,
    so the parent holds a few partitions' rows at a time, not a second copy of the tables.
    """
    context = worker_context()
    pending = iter(todo)
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=context) as pool:
        running: dict[Future[pd.DataFrame], int] = {}

        def submit_next() -> None:
            p = next(pending, None)
            if p is not None:
                running[pool.submit(_run_task, task_of(p), args)] = p

        for _ in range(2 * n_jobs):
            submit_next()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=running.__getitem__):
                p = running.pop(future)
                submit_next()
                yield p, future.result()


def _run_task(task: PartitionTask, args: _RunArgs) -> pd.DataFrame:
    """Worker entry point: load the partition the task holds or names and compute it."""
    return args.compute(task())


class _Progress:
    """A rich progress bar of partitions done (a no-op when disabled)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.total = total
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if enabled:
            self._bar = Progress(
                TextColumn("features"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("partitions"),
                TimeElapsedColumn(),
            )

    def __enter__(self) -> Callable[..., None]:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task("partitions", total=self.total)
        return self._advance

    def _advance(self, *, done: bool = False) -> None:
        if self._bar is None or self._task is None:
            return
        if done:
            self._bar.update(self._task, completed=self.total)
        else:
            self._bar.advance(self._task)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
