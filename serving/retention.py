"""Retention of feature snapshots and score files: what is past its age, and removing it.

A feature snapshot holds every family's indicators on a date; a batch score file every
family's probability, level and reasons. Both are family data, kept only as long as the
deployment's retention says (docs/retention.md): ``snapshot_retention_days`` and
``score_file_retention_days`` of the serving settings, counted from the newest ``as_of``
in the file (the date of the data, like a score's expiry, :mod:`serving.expiry`).

:func:`plan` reads only each Parquet file's schema, its key-value metadata and its
``as_of`` column, and says for each file what it is and whether it is past its age. It
never selects the snapshot the service is configured to serve, nor the newest snapshot
found (the service and the next batch need one). Files that are neither (raw tables,
reports) are listed as ``other`` and never touched. :func:`remove` deletes what a plan
selected, after its caller recorded the act in the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import pyarrow.parquet as pq

FileKind = Literal["snapshot", "score_file", "other"]

#: The key-value metadata a batch score file carries (serving.batch): each band's bound.
_SCORE_FILE_META = b"earlyrisk.band."


@dataclass(frozen=True)
class Found:
    """One Parquet file looked at: its kind, its data's newest date, and the verdict."""

    path: Path
    kind: FileKind
    as_of: date | None
    age_days: int | None
    limit_days: int | None
    remove: bool
    why: str

    def line(self) -> str:
        """One line for the dry run and the report."""
        return f"{self.path} ({self.kind}, data as of {self.as_of}): {self.why}"


def classify(path: Path) -> tuple[FileKind, date | None]:
    """What the file is, from its schema and metadata, and the newest ``as_of`` in it.

    A score file has ``risk_level`` and ``probability`` (and the band metadata the batch
    writes); a snapshot has ``family_id`` and ``as_of`` and no level. Anything else, or a
    file that is not readable Parquet, is ``other``.
    """
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, ValueError):
        return "other", None
    names = set(parquet.schema_arrow.names)
    meta = parquet.schema_arrow.metadata or {}
    if "as_of" not in names or "family_id" not in names:
        return "other", None
    is_scores = {"risk_level", "probability"} <= names or any(
        key.startswith(_SCORE_FILE_META) for key in meta
    )
    column = pq.read_table(path, columns=["as_of"]).column("as_of").to_pylist()
    days = [_day(value) for value in column if value is not None]
    newest = max(days) if days else None
    return ("score_file" if is_scores else "snapshot"), newest


def _day(value: object) -> date:
    if isinstance(value, date):
        return value if type(value) is date else value.date()  # type: ignore[attr-defined]
    return date.fromisoformat(str(value)[:10])


def parquet_files(dirs: Iterable[Path]) -> list[Path]:
    """Every ``*.parquet`` file under the folders (recursively), sorted, each once."""
    found: set[Path] = set()
    for folder in dirs:
        found.update(p.resolve() for p in folder.rglob("*.parquet") if p.is_file())
    return sorted(found)


def plan(
    files: Sequence[Path],
    *,
    today: date,
    snapshot_days: int,
    score_file_days: int,
    keep: Iterable[Path] = (),
) -> list[Found]:
    """The verdict on each file: removed when its data is older than its kind's age,
    except the files in ``keep`` (the served snapshot) and the newest snapshot."""
    kept = {Path(p).resolve() for p in keep}
    looked = [(Path(p), *classify(Path(p))) for p in files]
    snapshots = [(as_of, p) for p, kind, as_of in looked if kind == "snapshot" and as_of]
    newest = max(snapshots)[1] if snapshots else None
    out: list[Found] = []
    for path, kind, as_of in looked:
        limit = {"snapshot": snapshot_days, "score_file": score_file_days}.get(kind)
        if limit is None or as_of is None:
            out.append(Found(path, kind, as_of, None, None, False, "not a snapshot or score file"))
            continue
        age = (today - as_of).days
        if path.resolve() in kept:
            verdict, why = False, "kept: the snapshot the service is configured to serve"
        elif path == newest:
            verdict, why = False, "kept: the newest snapshot"
        elif today - as_of > timedelta(days=limit):
            verdict, why = True, f"{age} days old, past the {limit}-day retention: remove"
        else:
            verdict, why = False, f"{age} days old, within the {limit}-day retention"
        out.append(Found(path, kind, as_of, age, limit, verdict, why))
    return out


def remove(found: Sequence[Found]) -> list[Path]:
    """Delete the files the plan selected; the paths removed (one already gone counts)."""
    removed = []
    for item in found:
        if item.remove:
            item.path.unlink(missing_ok=True)
            removed.append(item.path)
    return removed
