"""Files that hold family data are created owner-only: files 0600, directories 0700.

A feature snapshot, a score file, the served statistics or a monitoring report names
families, their audit groups or both. Under the usual umask (022) every new file is
world-readable, so the mode is chosen here, when the file is created, and never by a
``chmod`` after the data is in it (another user could open the file in between and keep
reading it). Three ways, one per kind of writer:

- our own text: :func:`write_private_text` writes a new 0600 file and renames it over the
  target (a replaced file does not keep its old mode, and a reader sees old or new);
- a library that opens a file by name and truncates it (pyarrow's ``ParquetWriter`` and
  ``write_table``): :func:`new_private_file` creates it empty and 0600 first; truncating
  keeps the mode;
- a library that creates files and folders itself (Spark's part files, ``_SUCCESS``):
  :func:`private_staging` gives a fresh 0700 folder beside the target to write in, which
  nobody else can enter, and :func:`publish_tree` makes the written tree 0600/0700 and
  renames it into place.

A mode given at creation is subject to the process umask, which can only take bits away.
:func:`seal_tree` sets modes on a local path, as the driver sees it (the Spark writers
already keep their output on a path the driver reads). :func:`parent_problem` says why an
output path cannot be created, for the commands to refuse before their work. This module
sits in the lowest layer so that features, training and serving share it;
:mod:`serving.private_files` re-exports what the stores use.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def create_private(path: Path) -> None:
    """Create an empty file readable and writable by its owner only (0600), if missing.

    An existing file is left as it is (a database the stores reopen)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def new_private_file(path: Path | str) -> Path:
    """An empty 0600 file at ``path``, replacing whatever file was there.

    For writers that open a file by name (``pq.ParquetWriter(path)``): they truncate the
    file and keep its mode. The old file is removed first, because a file that exists keeps
    the mode it has, and ``O_EXCL`` refuses to follow a link planted in between.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_MODE))
    return path


def write_private_text(path: Path | str, text: str) -> Path:
    """Replace ``path`` with ``text`` (UTF-8) in a new 0600 file, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def new_private_folder(target: Path | str, tag: str = "") -> Path:
    """A new 0700 folder beside ``target`` (the same file system, so a rename publishes);
    the caller removes it. Its name is ``.{target name}.{tag}<random>.private``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.{tag}{'.' if tag else ''}"
    # mkdtemp creates the folder 0700 (less, if the umask takes more away)
    return Path(tempfile.mkdtemp(prefix=prefix, suffix=".private", dir=target.parent))


@contextmanager
def private_staging(target: Path | str) -> Iterator[Path]:
    """:func:`new_private_folder`, removed on exit with whatever is still in it."""
    folder = new_private_folder(target)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def seal_tree(root: Path | str) -> None:
    """Make ``root`` and every folder under it 0700 and every file 0600.

    Only for a tree inside a :func:`private_staging` folder: nobody else can reach it there,
    so setting the modes after the library wrote the files leaves no window.
    """
    root = Path(root)
    if root.is_file():
        root.chmod(PRIVATE_MODE)
        return
    root.chmod(PRIVATE_DIR_MODE)
    for folder, subfolders, files in os.walk(root):
        for name in subfolders:
            os.chmod(os.path.join(folder, name), PRIVATE_DIR_MODE)
        for name in files:
            os.chmod(os.path.join(folder, name), PRIVATE_MODE)


def publish_tree(staged: Path | str, target: Path | str) -> Path:
    """Seal ``staged`` (see :func:`seal_tree`) and rename it to ``target``, which is
    removed first when it exists (the caller decided it may be replaced)."""
    staged, target = Path(staged), Path(target)
    seal_tree(staged)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    staged.rename(target)
    return target


def parent_problem(path: Path | str) -> str | None:
    """Why no file or folder can be created at ``path`` (its nearest existing ancestor is a
    file, or not writable), or None. The commands ask before their work, so a long run
    does not end in a traceback about its output path."""
    for parent in Path(path).absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            if not os.access(parent, os.W_OK | os.X_OK):
                return f"the folder {parent} is not writable"
            return None
    return None
