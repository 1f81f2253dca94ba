"""CLI verbs of the `features` package, registered on the `earlyrisk` app by :func:`register`."""

from __future__ import annotations

import typer

from features.features_cli import FEATURES_HELP, features_command
from features.synth.cli import synth
from features.validate_cli import VALIDATE_HELP, validate_command


def register(app: typer.Typer) -> None:
    """Add this package's verbs to app."""
    app.command("synth")(synth)
    app.command("validate", help=VALIDATE_HELP)(validate_command)
    app.command("features", help=FEATURES_HELP)(features_command)
