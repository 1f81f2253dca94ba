"""The scratch directory of the Spark layout, on any file system the executors share.

The feature job lays the registry out by family partition (:mod:`features.spark.buckets`):
Python tasks write the files and Python tasks read them back, so every executor must
reach the same scratch directory. On one machine that is a local folder; a cluster has an
object store or a distributed file system instead of a shared mount. So the scratch is a
*location*: a local path, or a URI that pyarrow opens (``file://``, ``s3a://`` (read as
pyarrow's ``s3://``, the same bucket and key), ``s3://``, ``hdfs://``, ``gs://``,
``abfs://``/``abfss://``), resolved to a pyarrow file system in each process that uses
it. Credentials come from where each store's client looks (the environment, the
instance's role), never from the URI.

Every write is atomic for readers: a file is written under a hidden name (``.`` prefix,
which pyarrow's dataset discovery and Spark skip) and moved to its final name, so a
failed task attempt leaves nothing a reader sees and a retry replaces the same names.
"""

from __future__ import annotations

import os
import threading
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

# Schemes accepted, and the one pyarrow knows each by.
SCHEMES: dict[str, str] = {
    "file": "file",
    "s3a": "s3",
    "s3": "s3",
    "hdfs": "hdfs",
    "viewfs": "viewfs",
    "gs": "gs",
    "abfs": "abfs",
    "abfss": "abfss",
}
# Where a fresh scratch goes when the caller does not say (beside the output otherwise).
SCRATCH_ENV = "EARLYRISK_SPARK_SCRATCH"


class ScratchLocationError(ValueError):
    """The scratch location cannot be used; names it and the accepted forms."""


@dataclass(frozen=True)
class Scratch:
    """A scratch directory: ``uri`` as given (a local path made absolute), ``local`` when
    it is on this machine's file system."""

    uri: str

    @property
    def local(self) -> bool:
        return "://" not in self.uri or self.uri.startswith("file://")

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """(pyarrow file system, the directory's path in it), opened once per process."""
        return _opened(self.uri)

    def path(self, *parts: str) -> str:
        """The path of ``parts`` below the directory, in its file system."""
        _, root = self.filesystem()
        return "/".join([root.rstrip("/"), *parts])

    def child(self, name: str) -> Scratch:
        """The location ``name`` below this one."""
        return Scratch(f"{self.uri.rstrip('/')}/{name}")


def scratch_at(location: Scratch | Path | str) -> Scratch:
    """The scratch at ``location`` (a path, or a URI of :data:`SCHEMES`); raises
    :class:`ScratchLocationError` for another scheme or a URI pyarrow cannot open."""
    if isinstance(location, Scratch):
        return location
    text = str(location)
    if "://" not in text:
        return Scratch(str(Path(text).resolve()))
    scheme = urllib.parse.urlsplit(text).scheme.lower()
    if scheme not in SCHEMES:
        raise ScratchLocationError(
            f"scratch location {text!r}: scheme {scheme!r} is not one of "
            f"{', '.join(f'{s}://' for s in SCHEMES)} (or give a local path)"
        )
    scratch = Scratch(text)
    scratch.filesystem()  # fail here, naming the location, not in a task
    return scratch


_LOCK = threading.Lock()
_FILESYSTEMS: dict[str, tuple[pafs.FileSystem, str]] = {}


def _opened(uri: str) -> tuple[pafs.FileSystem, str]:
    with _LOCK:
        found = _FILESYSTEMS.get(uri)
        if found is not None:
            return found
    if "://" not in uri:
        opened: tuple[pafs.FileSystem, str] = (pafs.LocalFileSystem(), uri)
    else:
        scheme, rest = uri.split("://", 1)
        try:
            opened = pafs.FileSystem.from_uri(f"{SCHEMES[scheme.lower()]}://{rest}")
        except (pa.ArrowException, ValueError, OSError) as error:
            raise ScratchLocationError(
                f"scratch location {uri!r} cannot be opened by pyarrow: {error}"
            ) from error
    with _LOCK:
        _FILESYSTEMS[uri] = opened
    return opened


def make_private(scratch: Scratch) -> None:
    """Create the directory (0700 on a local disk: the layout is a copy of family data,
    :mod:`features.private_files`; an object store's access is its bucket's policy)."""
    fs, root = scratch.filesystem()
    fs.create_dir(root, recursive=True)
    if isinstance(fs, pafs.LocalFileSystem):
        os.chmod(root, 0o700)


def write_parquet(
    scratch: Scratch, folder: tuple[str, ...], name: str, table: pa.Table, *, attempt: int = 0
) -> None:
    """Write ``table`` to ``folder/name`` below the scratch, atomically for readers (the
    hidden name of the half-written file names the task ``attempt`` and the process)."""
    fs, _ = scratch.filesystem()
    directory = scratch.path(*folder)
    fs.create_dir(directory, recursive=True)
    temp = f"{directory}/.{name}.{attempt}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    pq.write_table(table, temp, filesystem=fs, compression="lz4")
    fs.move(temp, f"{directory}/{name}")


def read_parquet_dir(scratch: Scratch, folder: tuple[str, ...], schema: pa.Schema) -> pa.Table:
    """Every visible Parquet file of ``folder`` below the scratch, with ``schema`` (no
    rows when the folder does not exist)."""
    fs, _ = scratch.filesystem()
    directory = scratch.path(*folder)
    if fs.get_file_info(directory).type != pafs.FileType.Directory:
        return schema.empty_table()
    return ds.dataset(directory, format="parquet", schema=schema, filesystem=fs).to_table()


def exists(scratch: Scratch) -> bool:
    """Whether the scratch directory exists."""
    fs, root = scratch.filesystem()
    return fs.get_file_info(root).type == pafs.FileType.Directory


def remove(scratch: Scratch | Path | str) -> None:
    """Remove the scratch directory and everything below it (nothing when it is gone)."""
    scratch = scratch_at(scratch)
    fs, root = scratch.filesystem()
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        return
    fs.delete_dir(root)


def fresh_scratch(out: Path | str, root: Scratch | Path | str | None = None) -> Scratch:
    """A fresh, uniquely named scratch for the job writing ``out``: below ``root`` (else
    ``$EARLYRISK_SPARK_SCRATCH``) when given, else a hidden folder beside ``out`` (on the
    storage the executors share when they share the output). The caller removes it."""
    name = f".{Path(out).name}.{uuid.uuid4().hex}.partitions"
    chosen = root if root is not None else os.environ.get(SCRATCH_ENV) or None
    if chosen is None:
        return scratch_at(Path(out).with_name(name))
    return scratch_at(chosen).child(name)
