"""Tables derived from the feature snapshot: how they are loaded, and the small side indexes.

The lookup store (model inputs), the region index (:mod:`serving.store.regions`) and the
audit-group index (:mod:`serving.store.served_stats`) are copies of snapshot columns keyed
by ``(as_of, family_id)``. They are not migrated: each is rebuilt, whole, when what it was
built from changes (recorded in its meta table), and read-only in between.
:func:`load_snapshot_table` is the one loader, with each dialect's fast path:

* SQLite: a fresh owner-only file (table + ``meta``) swapped in with one rename, so a
  reader sees the old table or the new one, never half of one;
* PostgreSQL: COPY into ``<table>_new``, then drop, rename and record the meta in one
  transaction, under an advisory lock that makes other replicas wait and then find the
  table loaded.

The ``CREATE TABLE`` statements are in :mod:`serving.store.migrations`
(:func:`~serving.store.migrations.snapshot_table_sql`).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from serving.store.connection import (
    POSTGRES,
    SQLITE,
    Database,
    DatabaseUnavailable,
    connect,
)
from serving.store.migrations import (
    LOOKUP_LOCK_KEY,
    META_TABLE_SQL,
    SCHEMA_LOCK_KEY,
    snapshot_table_sql,
)
from serving.store.snapshot import SnapshotError, SnapshotInfo

#: Ids per ``IN (...)`` lookup: well under SQLite's bound on host parameters.
IN_CHUNK = 500
_BATCH_ROWS = 100_000

#: Rows of one batch of the snapshot, and a function yielding them batch by batch.
Rows = Iterable[tuple[object, ...]]
RowBatches = Callable[[], Iterator[Rows]]


def id_chunks(family_ids: Sequence[str]) -> Iterator[tuple[list[str], str]]:
    """The distinct ids in chunks of :data:`IN_CHUNK`, each with its ``?, ?, ...`` marks."""
    unique = list(dict.fromkeys(family_ids))
    for start in range(0, len(unique), IN_CHUNK):
        chunk = unique[start : start + IN_CHUNK]
        yield chunk, ", ".join("?" for _ in chunk)


def meta_table(db: Database, table: str) -> str:
    """The meta table of a derived table: ``meta`` in the table's own SQLite file,
    ``<table>_meta`` in the shared PostgreSQL database (``lookup_meta`` for the lookup)."""
    if db.dialect is SQLITE:
        return "meta"
    return "lookup_meta" if table == "family_features" else f"{table}_meta"


def stored_meta(db: Database, table: str) -> dict[str, str] | None:
    """What the derived table was built from (None: never built, or unreadable file)."""
    if db.path is not None and not db.path.is_file():
        return None
    meta = meta_table(db, table)
    try:
        conn = db.read()
        if not db.dialect.has_table(conn, meta):
            return None
        rows = conn.execute(f"SELECT key, value FROM {meta}").fetchall()
    except DatabaseUnavailable:
        if db.path is None:
            raise  # the shared database is away: not a stale table
        return None  # an unreadable file is rebuilt
    return {str(k): str(v) for k, v in rows}


@dataclass(frozen=True)
class _Build:
    """One rebuild of a derived table: its name, typed columns (after the keys), the meta
    it records, its rows and the snapshot they come from (named in errors)."""

    table: str
    columns: Sequence[tuple[str, str]]
    meta: Mapping[str, str]
    batches: RowBatches
    source: Path

    def repeated(self, exc: Exception) -> SnapshotError:
        """The error of a repeated key, naming the snapshot."""
        return SnapshotError(
            f"feature snapshot {self.source} repeats a (family_id, as_of) key: {exc}"
        )


def load_snapshot_table(
    db: Database,
    *,
    table: str,
    columns: Sequence[tuple[str, str]],
    meta: Mapping[str, str],
    batches: RowBatches,
    source: Path,
) -> None:
    """(Re)build ``table`` with ``columns`` ((quoted name, ``float`` or ``text``) after the
    keys) from ``batches``, recording ``meta``; a repeated key is a SnapshotError naming
    ``source``."""
    types = {"float": db.dialect.float_type, "text": "TEXT"}
    build = _Build(table, [(name, types[kind]) for name, kind in columns], meta, batches, source)
    if db.path is not None:
        _load_sqlite(db.path, build)
    else:
        _load_postgres(db, build)


def _load_sqlite(path: Path, build: _Build) -> None:
    table, columns = build.table, build.columns
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp makes the file 0600: family data is nobody else's business
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".building")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute(snapshot_table_sql(SQLITE, table, columns))
            conn.execute(META_TABLE_SQL.format(name="meta"))
            marks = ", ".join("?" for _ in range(len(columns) + 2))
            insert = f"INSERT INTO {table} VALUES ({marks})"
            for rows in build.batches():
                try:
                    conn.executemany(insert, rows)
                except sqlite3.IntegrityError as exc:
                    raise build.repeated(exc) from exc
            conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(build.meta.items()))
            conn.commit()
        finally:
            conn.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _load_postgres(db: Database, build: _Build) -> None:
    import psycopg

    table, meta = build.table, build.meta
    meta_name = meta_table(db, table)
    conn = connect(str(db.url), autocommit=False)
    try:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOOKUP_LOCK_KEY,))
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        have = conn.execute("SELECT to_regclass(%s)", (meta_name,)).fetchone()
        if have is not None and have[0] is not None:
            current = dict(conn.execute(f"SELECT key, value FROM {meta_name}").fetchall())
            if current == dict(meta):
                conn.commit()  # another replica loaded it while this one waited
                return
        conn.execute(f"DROP TABLE IF EXISTS {table}_new")
        conn.execute(snapshot_table_sql(POSTGRES, f"{table}_new", build.columns))
        names = ", ".join(["as_of", "family_id", *(name for name, _ in build.columns)])
        with conn.cursor() as cur, cur.copy(f"COPY {table}_new ({names}) FROM STDIN") as copy:
            for rows in build.batches():
                for row in rows:
                    copy.write_row(row)
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
        conn.execute(f"DROP TABLE IF EXISTS {meta_name}")
        conn.execute(META_TABLE_SQL.format(name=meta_name))
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {meta_name} VALUES (%s, %s)", sorted(meta.items()))
        conn.commit()
    except psycopg.errors.UniqueViolation as exc:
        conn.rollback()
        raise build.repeated(exc) from exc
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()


def snapshot_batches(
    snapshot: SnapshotInfo,
    columns: Sequence[str],
    to_rows: Callable[[pd.DataFrame, pd.Series, pd.Series], Rows],
    *,
    batch_rows: int = _BATCH_ROWS,
) -> RowBatches:
    """Batches of the snapshot's rows: ``to_rows(frame, as_of, family_id)`` of each batch
    of ``columns`` (``as_of`` as ISO dates, ids as text); memory stays bounded."""

    def batches() -> Iterator[Rows]:
        parquet = pq.ParquetFile(snapshot.path)
        for batch in parquet.iter_batches(
            columns=["as_of", "family_id", *columns], batch_size=batch_rows
        ):
            frame = batch.to_pandas()
            as_of = pd.to_datetime(frame["as_of"]).dt.strftime("%Y-%m-%d")
            yield to_rows(frame, as_of, frame["family_id"].astype(str))

    return batches


def side_database(target: Database | Path | str) -> Database:
    """A derived table's database: a SQLite file is only read by the service (a build
    writes a new file and renames it into place), so it is opened read-only."""
    return target if isinstance(target, Database) else Database(target, read_only=True)


class SideIndex(ABC):
    """A table keyed by (as_of, family_id) built from snapshot columns; thread-safe reads.

    A subclass names its :attr:`table`, its ``columns`` (quoted name, ``float``/``text``),
    the snapshot columns it reads besides the keys, and :meth:`_rows` (the rows one batch
    of the snapshot adds).
    """

    table: str

    def __init__(self, db: Database | Path | str) -> None:
        self.db = side_database(db)

    @property
    @abstractmethod
    def columns(self) -> list[tuple[str, str]]:
        """The index's columns after the keys: (quoted name, ``float`` or ``text``)."""

    @property
    @abstractmethod
    def snapshot_columns(self) -> list[str]:
        """The snapshot columns the index reads besides ``as_of`` and ``family_id``; none
        means an empty table (the snapshot has nothing to index)."""

    @abstractmethod
    def _rows(self, frame: pd.DataFrame, as_of: pd.Series, family_id: pd.Series) -> Rows:
        """The rows one batch of the snapshot adds (``as_of`` as ISO dates, ids as text)."""

    def _ensure_built(self, snapshot: SnapshotInfo, built_from: str) -> None:
        """Build the index unless it was built from exactly ``built_from``."""
        meta = {"built_from": built_from}
        if stored_meta(self.db, self.table) == meta:
            return
        columns = self.snapshot_columns
        batches: RowBatches = (
            snapshot_batches(snapshot, columns, self._rows) if columns else lambda: iter(())
        )
        load_snapshot_table(
            self.db,
            table=self.table,
            columns=self.columns,
            meta=meta,
            batches=batches,
            source=snapshot.path,
        )

    def close(self) -> None:
        """Close the index's connections."""
        self.db.close()
