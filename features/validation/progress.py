"""The transient progress bar the validators draw on stderr (a terminal only)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


@contextlib.contextmanager
def progress_bar(enabled: bool, *, total: int) -> Iterator:
    """Yield ``advance(label)``; draws a transient rich bar on stderr when enabled."""
    if not enabled:
        yield lambda label: None
        return
    bar = Progress(
        TextColumn("validating"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with bar:
        task = bar.add_task("reading", total=total)
        yield lambda label: bar.update(task, advance=1, description=label)
