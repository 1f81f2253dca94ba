"""Statistics of what the service scored, in the reference's bins: no family id, no value.

``earlyrisk monitor`` compares a snapshot with the model's reference statistics; this
module gives it the same comparison on what was actually **served**. Each scored batch adds
to running totals kept per model version, per scoring day (UTC) and per snapshot date of
the rows scored (``as_of``; empty for ``/score_indicators``, which scores explicit values):

* per model input: the count of rows in each of the reference's stored bins (and the
  missing bin), so the drift test runs on the same bins as on a snapshot;
* the calibrated score: counts in the reference's score bins, the number of rows at or above
  the reference's capacity threshold ("selected"), the sum and sum of squares of the score;
* the sum and sum of squares of each row's PCA reconstruction error under the reference PCA
  (the whole-input drift check needs only their mean);
* per audit group of the family (from the snapshot's ``audit_*`` columns, kept in a side
  index like the regions; never a model input): rows, selected, score sum and sum of squares.

Only counts and sums are stored, so a row can neither be read back nor tied to a family.
Totals are added with one atomic upsert per key (``INSERT ... ON CONFLICT DO UPDATE SET
value = value + excluded.value``), in SQLite or, with ``EARLYRISK_DATABASE_URL``, in the
shared PostgreSQL database, so replicas add to one total. Keys are written in sorted order
so two replicas' transactions take their row locks in the same order (no deadlock).

The table is declared in :mod:`serving.store.migrations` (store ``served_stats``). A
failed write does not refuse the score (the audit log, not this table, is the
record of what was served): it is logged and counted (``unrecorded_batches``).

Reading (:func:`served_periods`) sums the days of each calendar month per model version and
snapshot date, and suppresses any audit group with fewer rows than the audit's minimum
group size in that month.
"""

from __future__ import annotations

import json
import logging
import queue
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from serving.store.connection import Database
from serving.store.migrations import ensure
from serving.store.side_index import Rows, SideIndex, id_chunks
from serving.store.snapshot import SnapshotInfo, quote
from training.audit.suppression import DEFAULT_MIN_GROUP_SIZE
from training.reference_stats import (
    ARTIFACT_PATH,
    MISSING_GROUP,
    ReferenceStats,
    bin_counts,
    pca_reconstruction_error,
)

logger = logging.getLogger("earlyrisk.serving")

FORMAT = "earlyrisk.served_stats"
FORMAT_VERSION = 1
_KEY = ("model_name", "model_version", "served_on", "as_of", "kind", "name", "bin")
_TOTALS = ("n", "selected", "score_sum", "score_sumsq", "pca_error_sum", "pca_error_sumsq")
_GROUP_MEASURES = ("n", "selected", "score_sum", "score_sumsq")

#: One increment: (kind, name, bin, value).
Increment = tuple[str, str, str, float]


class ServedStatsError(ValueError):
    """A served-statistics document or request that cannot be used (the message says why)."""


# --------------------------------------------------------------------------- accumulating


class ServedStatsAccumulator:
    """Turns a scored batch into increments of the running totals (pure, thread-safe)."""

    def __init__(self, reference: ReferenceStats) -> None:
        self.reference = reference
        self._edges = [np.asarray(f.edges, dtype=float) for f in reference.features]
        self._score_edges = np.asarray(reference.score.edges, dtype=float)
        self._threshold = reference.score.threshold_at_capacity

    def increments(
        self,
        matrix: np.ndarray,
        probability: np.ndarray,
        *,
        groups: Mapping[str, Sequence[str | None]] | None = None,
    ) -> list[Increment]:
        """The batch's additions; ``groups``: audit column -> each row's group (or None
        where the row has no family, e.g. explicit indicators: not counted in groups)."""
        x = np.asarray(matrix, dtype=float)
        p = np.asarray(probability, dtype=float)
        if x.shape[0] != p.size or x.shape[1] != len(self._edges):
            raise ValueError(
                f"batch of {x.shape} inputs and {p.size} scores for a reference of "
                f"{len(self._edges)} indicators"
            )
        out: list[Increment] = []
        for j, (bins, edges) in enumerate(zip(self.reference.features, self._edges, strict=True)):
            for i, c in enumerate(bin_counts(x[:, j], edges)):
                if c:
                    out.append(("feature", bins.name, str(i), float(c)))
        for i, c in enumerate(bin_counts(p, self._score_edges)):
            if c:
                out.append(("score", "", str(i), float(c)))
        selected = p >= self._threshold
        error = pca_reconstruction_error(x, self.reference.multivariate)
        totals = {
            "n": float(p.size),
            "selected": float(selected.sum()),
            "score_sum": float(p.sum()),
            "score_sumsq": float(np.sum(p * p)),
            "pca_error_sum": float(error.sum()),
            "pca_error_sumsq": float(np.sum(error * error)),
        }
        out += [("total", name, "", value) for name, value in totals.items()]
        for attribute, values in (groups or {}).items():
            cells: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
            for k, group in enumerate(values):
                if group is None:
                    continue
                cell = cells[group]
                cell[0] += 1.0
                cell[1] += float(selected[k])
                cell[2] += float(p[k])
                cell[3] += float(p[k] * p[k])
            for group, cell in cells.items():
                out += [
                    (f"group_{m}", attribute, group, v)
                    for m, v in zip(_GROUP_MEASURES, cell, strict=True)
                ]
        return out


# --------------------------------------------------------------------------- stores


def _keyed(
    model_name: str, model_version: str, served_on: str, as_of: str, rows: Iterable[Increment]
) -> list[tuple[str, str, str, str, str, str, str, float]]:
    """Rows in key order (two writers lock the same keys in the same order)."""
    return sorted(
        (model_name, model_version, served_on, as_of, kind, name, bin_, value)
        for kind, name, bin_, value in rows
    )


class ServedStatsStore(Protocol):
    """The running totals of what was served."""

    def add(
        self,
        *,
        model_name: str,
        model_version: str,
        served_on: str,
        as_of: str,
        rows: Iterable[Increment],
    ) -> None:
        """Add the increments in one transaction."""
        ...

    def rows(self, *, since: str, until: str, as_of: str | None = None) -> list[tuple[Any, ...]]:
        """Stored rows served from ``since`` to ``until`` (inclusive ISO days)."""
        ...

    def close(self) -> None:
        """Close the store's connections."""
        ...


class SqlServedStatsStore:
    """:class:`ServedStatsStore` over one :class:`~serving.store.connection.Database`
    (either dialect): one atomic upsert per key, keys in sorted order, one transaction."""

    def __init__(self, db: Database | Path | str) -> None:
        self.db = db if isinstance(db, Database) else Database(db)
        self.where = self.db.where
        ensure(self.db, "served_stats")
        self._upsert = self.db.dialect.upsert_add("served_stats", _KEY, "value")

    def close(self) -> None:
        self.db.close()

    def add(
        self,
        *,
        model_name: str,
        model_version: str,
        served_on: str,
        as_of: str,
        rows: Iterable[Increment],
    ) -> None:
        keyed = _keyed(model_name, model_version, served_on, as_of, rows)
        with self.db.write() as conn:
            conn.executemany(self._upsert, keyed)

    def rows(self, *, since: str, until: str, as_of: str | None = None) -> list[tuple[Any, ...]]:
        sql = (
            f"SELECT {', '.join(_KEY)}, value FROM served_stats "
            "WHERE served_on >= ? AND served_on <= ?"
        )
        params: list[Any] = [since, until]
        if as_of is not None:
            sql += " AND as_of = ?"
            params.append(as_of)
        return list(self.db.read().execute(sql, params).fetchall())


# --------------------------------------------------------------------------- audit groups


def groups_path(lookup_db_path: Path) -> Path:
    """Where the audit-group index of a lookup store lives."""
    return lookup_db_path.with_name(f"{lookup_db_path.stem}.groups.sqlite")


class AuditGroupIndex(SideIndex):
    """(as_of, family_id) -> each ``audit_*`` column of the snapshot; read-only after build.

    The lookup store holds model inputs only; the audit groups are kept apart here so the
    served statistics can count them (never to score).
    """

    table = "family_groups"

    def __init__(self, db: Database | Path | str, *, columns: Sequence[str]) -> None:
        super().__init__(db)
        self.group_columns = list(columns)

    @classmethod
    def from_snapshot(cls, snapshot: SnapshotInfo, db: Database | Path | str) -> AuditGroupIndex:
        """Open the index of snapshot in db, building it when stale."""
        columns = sorted(c for c in snapshot.columns if c.startswith("audit_"))
        index = cls(db, columns=columns)
        index._ensure_built(
            snapshot, json.dumps({"snapshot": snapshot.fingerprint, "columns": columns})
        )
        return index

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(quote(c), "text") for c in self.group_columns]

    @property
    def snapshot_columns(self) -> list[str]:
        return self.group_columns

    def _rows(self, frame: pd.DataFrame, as_of: pd.Series, family_id: pd.Series) -> Rows:
        groups = [
            frame[c].astype("string").fillna(MISSING_GROUP).astype(str) for c in self.group_columns
        ]
        return zip(as_of, family_id, *groups, strict=True)

    def groups(self, family_ids: Sequence[str], *, as_of: str) -> dict[str, list[str | None]]:
        """Audit column -> the group of each family (None when the index does not hold it)."""
        if not self.group_columns or not family_ids:
            return {}
        found: dict[str, tuple[str, ...]] = {}
        conn = self.db.read()
        names = ", ".join(quote(c) for c in self.group_columns)
        for chunk, marks in id_chunks(family_ids):
            for row in conn.execute(
                f"SELECT family_id, {names} FROM family_groups WHERE as_of = ? "
                f"AND family_id IN ({marks})",
                (as_of, *chunk),
            ):
                found[row[0]] = tuple(row[1:])
        return {
            c: [found[f][j] if f in found else None for f in family_ids]
            for j, c in enumerate(self.group_columns)
        }


# --------------------------------------------------------------------------- the recorder


@dataclass(frozen=True)
class _Batch:
    matrix: np.ndarray
    probability: np.ndarray
    family_ids: Sequence[str | None]
    as_of: str | None
    served_on: str


class ServedStatsRecorder:
    """What the engine calls after a batch is on the audit log: add it to the totals.

    By default the work is done off the request path: :meth:`record` queues the batch and a
    writer thread bins it and upserts, merging whatever batches queued meanwhile into one
    transaction (many one-family requests cost one write). A full queue or a failed write
    is logged and counted in ``unrecorded_batches``, never raised: the audit log, not this
    table, is the record of what was served. :meth:`flush` waits until every queued batch
    is written (``/served_stats`` calls it, so a read sees this worker's scores).
    """

    def __init__(
        self,
        store: ServedStatsStore,
        accumulator: ServedStatsAccumulator,
        *,
        model_name: str,
        model_version: str,
        groups: AuditGroupIndex | None = None,
        background: bool = True,
        max_pending: int = 10_000,
        max_merge: int = 256,
    ) -> None:
        self.store = store
        self.accumulator = accumulator
        self.model_name = model_name
        self.model_version = model_version
        self.group_index = groups
        self.background = background
        self.max_merge = max_merge
        self.unrecorded_batches = 0
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=max_pending)
        self._writer: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def record(
        self,
        matrix: np.ndarray,
        probability: np.ndarray,
        *,
        family_ids: Sequence[str | None],
        as_of: str | None,
    ) -> None:
        """Add one scored batch (queued, or written now when not in the background)."""
        batch = _Batch(
            matrix, probability, list(family_ids), as_of, datetime.now(UTC).date().isoformat()
        )
        if not self.background:
            self._write([batch])
            return
        self._ensure_writer()
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self._missed(1, "the queue of batches to add is full")

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued batch is written (False when ``timeout`` passed first)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def close(self) -> None:
        """Write what is queued, stop the writer and close the store."""
        if self._writer is not None:
            self.flush()
            self._queue.put(None)
            self._writer.join(timeout=30)
        self.store.close()

    def _ensure_writer(self) -> None:
        if self._writer is not None:
            return
        with self._start_lock:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._drain, name="served-stats-writer", daemon=True
                )
                self._writer.start()

    def _drain(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._queue.task_done()
                return
            batches = [first]
            stop = False
            while len(batches) < self.max_merge:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batches.append(more)
            try:
                self._write(batches)
            finally:
                for _ in range(len(batches) + stop):
                    self._queue.task_done()
            if stop:
                return

    def _write(self, batches: Sequence[_Batch]) -> None:
        """Bin the batches and add them, one transaction per (scoring day, snapshot date)."""
        try:
            merged: dict[tuple[str, str], dict[tuple[str, str, str], float]] = {}
            for b in batches:
                groups = None
                if (
                    self.group_index is not None
                    and b.as_of is not None
                    and any(f is not None for f in b.family_ids)
                ):
                    groups = self.group_index.groups([str(f) for f in b.family_ids], as_of=b.as_of)
                into = merged.setdefault((b.served_on, b.as_of or ""), defaultdict(float))
                for kind, name, bin_, value in self.accumulator.increments(
                    b.matrix, b.probability, groups=groups
                ):
                    into[(kind, name, bin_)] += value
            for (served_on, as_of), totals in merged.items():
                self.store.add(
                    model_name=self.model_name,
                    model_version=self.model_version,
                    served_on=served_on,
                    as_of=as_of,
                    rows=[(k, n, b, v) for (k, n, b), v in totals.items()],
                )
        except Exception as exc:  # the score is on the audit log; statistics may lag
            self._missed(len(batches), type(exc).__name__)

    def _missed(self, n: int, why: str) -> None:
        self.unrecorded_batches += n
        logger.error(
            "served statistics not recorded for %d batch(es) (%s); %d batch(es) missing from "
            "the statistics since start",
            n,
            why,
            self.unrecorded_batches,
        )


def load_reference(run_id: str | None, *, tracking_uri: str) -> ReferenceStats | None:
    """The reference statistics logged with a training run (None: none logged)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=ARTIFACT_PATH, dst_path=tmp, tracking_uri=tracking_uri
            )
        except (MlflowException, OSError):
            return None
        return ReferenceStats.model_validate(json.loads(Path(local).read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Period:
    model_name: str
    model_version: str
    month: str
    as_of: str


def served_periods(
    rows: Iterable[Sequence[Any]], *, min_group_size: int = DEFAULT_MIN_GROUP_SIZE
) -> list[dict[str, Any]]:
    """Stored rows summed per (model version, scoring month, snapshot date), groups under
    ``min_group_size`` rows suppressed (their measures are null)."""
    acc: dict[_Period, dict[str, Any]] = {}
    for model_name, model_version, served_on, as_of, kind, name, bin_, value in rows:
        key = _Period(str(model_name), str(model_version), str(served_on)[:7], str(as_of))
        entry = acc.setdefault(
            key,
            {
                "days": set(),
                "totals": defaultdict(float),
                "features": defaultdict(lambda: defaultdict(float)),
                "score": defaultdict(float),
                "groups": defaultdict(lambda: defaultdict(lambda: defaultdict(float))),
            },
        )
        entry["days"].add(str(served_on))
        v = float(value)
        if kind == "total":
            entry["totals"][name] += v
        elif kind == "feature":
            entry["features"][name][bin_] += v
        elif kind == "score":
            entry["score"][bin_] += v
        elif kind.startswith("group_"):
            entry["groups"][name][bin_][kind.removeprefix("group_")] += v
    out = []
    for key in sorted(acc, key=lambda k: (k.model_name, k.model_version, k.month, k.as_of)):
        e = acc[key]
        groups: dict[str, dict[str, dict[str, float] | None]] = {}
        for attribute, cells in sorted(e["groups"].items()):
            groups[attribute] = {
                g: ({m: float(c[m]) for m in _GROUP_MEASURES} if c["n"] >= min_group_size else None)
                for g, c in sorted(cells.items())
            }
        out.append(
            {
                "model_name": key.model_name,
                "model_version": key.model_version,
                "month": key.month,
                "snapshot_as_of": key.as_of or None,
                "first_day": min(e["days"]),
                "last_day": max(e["days"]),
                **{t: float(e["totals"].get(t, 0.0)) for t in _TOTALS},
                "features": {
                    f: {b: round(c) for b, c in sorted(bins.items(), key=lambda i: int(i[0]))}
                    for f, bins in sorted(e["features"].items())
                },
                "score": {
                    b: round(c) for b, c in sorted(e["score"].items(), key=lambda i: int(i[0]))
                },
                "groups": groups,
            }
        )
    return out


def served_document(
    store: ServedStatsStore,
    *,
    since: date,
    until: date,
    as_of: str | None = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    unrecorded_batches: int = 0,
) -> dict[str, Any]:
    """The document ``/served_stats`` answers and ``earlyrisk monitor --served-stats`` reads."""
    if until < since:
        raise ServedStatsError(f"until {until.isoformat()} is before since {since.isoformat()}")
    rows = store.rows(since=since.isoformat(), until=until.isoformat(), as_of=as_of)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "recording": True,
        "note": None,
        "min_group_size": min_group_size,
        "unrecorded_batches": unrecorded_batches,
        "periods": served_periods(rows, min_group_size=min_group_size),
    }
