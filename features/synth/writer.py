"""Chunked, all-or-nothing writing of a synthetic registry directory.

Each table is streamed chunk by chunk into one file (Parquet via ``pq.ParquetWriter``, or
CSV via Arrow's CSV writer), so a million-family registry never has to fit in memory.
Files are written under a ``.partial`` name and renamed only when every chunk has been
written: an interrupted run leaves no table that looks complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.contract import ALL_TABLES, OPTIONAL_TABLES, TABLES
from features.synth.schemas import GROUND_TRUTH, SCHEMAS

Format = Literal["parquet", "csv"]


def output_files(out_dir: Path, fmt: Format, *, optional: Sequence[str] = ()) -> dict[str, Path]:
    """The file each table is written to: contract tables in ``fmt`` (the six, plus the
    ``optional`` ones a run writes, e.g. interventions), ground truth Parquet."""
    files = {table: out_dir / f"{table}.{fmt}" for table in (*TABLES, *optional)}
    files[GROUND_TRUTH] = out_dir / f"{GROUND_TRUTH}.parquet"
    return files


def shadowing_files(out_dir: Path, fmt: Format) -> list[Path]:
    """Tables of the *other* format in ``out_dir``: readers prefer Parquet, so a stale
    ``families.parquet`` would hide a fresh ``families.csv``; an overwrite removes them."""
    other = "csv" if fmt == "parquet" else "parquet"
    return [path for table in ALL_TABLES if (path := out_dir / f"{table}.{other}").exists()]


def prepare_out_dir(
    out_dir: Path, fmt: Format, *, overwrite: bool, optional: Sequence[str] = ()
) -> dict[str, Path]:
    """Create ``out_dir`` if needed and check it can take the registry's files.

    Raises ``FileExistsError`` naming the files a run would replace (unless ``overwrite``)
    and ``PermissionError`` when the directory cannot be created or written to.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PermissionError(f"cannot create output directory {out_dir}: {error}") from None
    if not out_dir.is_dir():
        raise PermissionError(f"output path {out_dir} exists and is not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-probe-"):
            pass
    except OSError as error:
        raise PermissionError(f"output directory {out_dir} is not writable: {error}") from None
    files = output_files(out_dir, fmt, optional=optional)
    stale_optional = [  # a registry without a deployment replaces one with it: no leftovers
        out_dir / f"{table}.{fmt}" for table in OPTIONAL_TABLES if table not in optional
    ]
    existing = [
        path.name for path in [*files.values(), *shadowing_files(out_dir, fmt), *stale_optional]
    ]
    existing = [name for name in existing if (out_dir / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{out_dir} already holds {', '.join(existing)}; "
            "choose another --out or pass --overwrite"
        )
    return files


class RegistryWriter:
    """Appends chunks of every table to its file; commits all files at once on success."""

    def __init__(
        self,
        files: Mapping[str, Path],
        fmt: Format,
        *,
        remove_on_commit: Sequence[Path] = (),
        schemas: Mapping[str, pa.Schema] | None = None,
    ) -> None:
        self.files = dict(files)
        self.schemas = {**SCHEMAS, **(schemas or {})}
        self.remove_on_commit = list(remove_on_commit)
        self.fmt = fmt
        self.rows: dict[str, int] = dict.fromkeys(self.files, 0)
        self._writers: dict[str, pq.ParquetWriter | pacsv.CSVWriter] = {}

    def _partial(self, table: str) -> Path:
        path = self.files[table]
        return path.with_name(path.name + ".partial")

    def _writer(self, table: str) -> pq.ParquetWriter | pacsv.CSVWriter:
        if table not in self._writers:
            path, schema = self._partial(table), self.schemas[table]
            if table == GROUND_TRUTH or self.fmt == "parquet":
                self._writers[table] = pq.ParquetWriter(path, schema)
            else:
                self._writers[table] = pacsv.CSVWriter(path, schema)
        return self._writers[table]

    def write(self, tables: Mapping[str, pa.Table]) -> None:
        """Append one chunk: a table per file, each with exactly its schema."""
        unknown = set(tables) - set(self.files)
        if unknown:
            raise KeyError(f"no output file for table(s) {sorted(unknown)}")
        for table, data in tables.items():
            if not data.schema.equals(self.schemas[table]):
                raise TypeError(
                    f"table {table!r}: schema {data.schema} differs from {self.schemas[table]}"
                )
            self._writer(table).write_table(data)
            self.rows[table] += data.num_rows

    def __enter__(self) -> RegistryWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for table in self.files:  # every table exists, even one that got no rows
            self._writer(table)
        for writer in self._writers.values():
            writer.close()
        if exc_type is None:
            for table, path in self.files.items():
                os.replace(self._partial(table), path)
            for path in self.remove_on_commit:
                path.unlink(missing_ok=True)
        else:
            for table in self.files:
                self._partial(table).unlink(missing_ok=True)
