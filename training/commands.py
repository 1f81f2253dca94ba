"""CLI verbs of the `training` package, registered on the `earlyrisk` app by :func:`register`."""

from __future__ import annotations

import typer

from training.audit_cli import audit_command
from training.train_cli import TRAIN_HELP, train_command


def register(app: typer.Typer) -> None:
    """Add this package's verbs to app."""
    app.command("audit")(audit_command)
    app.command("train", help=TRAIN_HELP)(train_command)
