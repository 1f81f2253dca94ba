"""Making a file read-only for the process under test, whoever runs the tests.

A non-root user loses write access with ``chmod 0400``. Root ignores modes, so as root the
file is made immutable (``chattr +i``), which the kernel refuses to write even for root;
that is also how an operator's mistake shows to a service running as root.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _set(path: Path, read_only: bool) -> None:
    if os.geteuid() == 0:
        flag = "+i" if read_only else "-i"
        done = subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(
                f"as root these tests make files read-only with `chattr {flag}`, which failed "
                f"on {path}: {done.stderr.strip()}; run them as a non-root user, or with "
                "the temporary folder on a file system with immutable files (ext4, xfs)"
            )
    else:
        path.chmod(0o400 if read_only else 0o600)


@contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Within the block, the existing ones of paths cannot be written by this process."""
    done: list[Path] = []
    try:
        for path in paths:
            if path.exists():
                _set(path, True)
                done.append(path)
        yield
    finally:
        for path in done:
            _set(path, False)


def make_writable(*paths: Path) -> None:
    """Undo :func:`read_only` early (inside its block); the block's exit is then a no-op."""
    for path in paths:
        if path.exists():
            _set(path, False)
