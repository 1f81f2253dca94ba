"""Files the service creates hold personal data or secrets: owner-only, and watched.

:func:`create_private` (from :mod:`features.private_files`, where every writer of family
data finds its helpers) makes a file 0600 before SQLite opens it; SQLite gives its -wal,
-shm and journal files the mode of the database file, so every file of a database made
this way is private whatever the process umask. :func:`file_identity` is the (device,
inode) pair the stores compare to notice a file deleted or replaced under them.
"""

from __future__ import annotations

import os
from pathlib import Path

from features.private_files import PRIVATE_MODE, create_private

__all__ = ["PRIVATE_MODE", "create_private", "file_identity"]


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at path, or None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)
