"""CLI verbs of the `serving` package, registered on the `earlyrisk` app by :func:`register`."""

from __future__ import annotations

import typer

from serving.audit_log_cli import audit_log_app
from serving.correction_cli import correction_app
from serving.db_cli import db_app
from serving.dossier.cli import DOSSIER_HELP, NOTICES_HELP, dossier_command, notices_command
from serving.interventions_cli import interventions_app
from serving.model_cli import model_app
from serving.retention_cli import retention_app
from serving.score_cli import SCORE_HELP, score_command
from serving.serve_cli import SERVE_HELP, serve_command, token_app


def register(app: typer.Typer) -> None:
    """Add this package's verbs to app."""
    app.command("score", help=SCORE_HELP)(score_command)
    app.command("serve", help=SERVE_HELP)(serve_command)
    app.add_typer(token_app, name="token")
    app.add_typer(audit_log_app, name="audit-log")
    app.add_typer(db_app, name="db")
    app.add_typer(model_app, name="model")
    app.add_typer(retention_app, name="retention")
    app.add_typer(interventions_app, name="interventions")  # issue 24
    # issue 23 (dossier lane): explanation records and notices
    app.command("dossier", help=DOSSIER_HELP)(dossier_command)
    app.command("notices", help=NOTICES_HELP)(notices_command)
    app.add_typer(correction_app, name="correction")  # issue 23
