"""CLI verbs of the `features` package, registered on the `earlyrisk` app by :func:`register`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's verbs to app."""
