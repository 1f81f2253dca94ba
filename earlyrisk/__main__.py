"""``python -m earlyrisk`` runs the CLI."""

from earlyrisk.cli import app

app()
