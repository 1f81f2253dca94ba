"""Checks that files with family data are owner-only (features.private_files).

Every writer test runs under :func:`usual_umask` (022, the usual default, under which a
plain ``open`` makes a file world-readable 0644): under a strict umask the checks would
pass whatever the writer does.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def usual_umask() -> Iterator[None]:
    """Run the block under umask 022 (process-wide; restored after)."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(root: Path) -> dict[str, int]:
    """Mode of ``root`` and of everything under it, by path relative to ``root``."""
    found = {".": mode(root)}
    if root.is_dir():
        for path in root.rglob("*"):
            found[str(path.relative_to(root))] = mode(path)
    return found


def assert_private(root: Path) -> None:
    """``root`` (a file, or a folder and everything in it) is owner-only: files 0600,
    folders 0700."""
    wrong = {
        name: oct(m)
        for name, m in modes(root).items()
        if m != (0o700 if (root / name).is_dir() else 0o600)
    }
    assert wrong == {}, f"not owner-only under {root}: {wrong}"
