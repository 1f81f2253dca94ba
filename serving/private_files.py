"""Files the service creates hold personal data or secrets: owner-only, and watched.

:func:`create_private` makes a file 0600 before SQLite opens it; SQLite gives its -wal,
-shm and journal files the mode of the database file, so every file of a database made
this way is private whatever the process umask. :func:`file_identity` is the (device,
inode) pair the stores compare to notice a file deleted or replaced under them.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_MODE = 0o600


def create_private(path: Path) -> None:
    """Create an empty file readable and writable by its owner only (0600), if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at path, or None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)
