"""Options and exit codes shared by the serving verbs (``earlyrisk serve`` and ``score``).

Both verbs load the same model from the same registry through :class:`ServingSettings`, so
``--model`` and ``--tracking-uri`` are one option each, with one help text, whichever verb
a user reads it in. The verbs that read a registry (``score``, ``monitor``) also say its
refusals one way (:func:`raw_data_refusals`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console

EXIT_REFUSED = 1
EXIT_USAGE = 2

ModelUriOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        metavar="URI",
        help="Registry URI, e.g. models:/earlyrisk/3 "
        "(default: models:/<EARLYRISK_MODEL_NAME>@champion).",
        show_default=False,
    ),
]

TrackingUriOption = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking/registry URI (default: EARLYRISK_TRACKING_URI or "
        "sqlite:///mlflow.db).",
        show_default=False,
    ),
]

#: the audit log a report reads (``monitor``, ``shadow-report``): a SQLite file or a
#: PostgreSQL URL, by default the service's own (serving.monitor.audit_source)
AuditLogOption = Annotated[
    str | None,
    typer.Option(
        "--audit-log",
        metavar="FILE|URL",
        help=(
            "The audit log: its SQLite file or a postgresql:// URL (default: "
            "EARLYRISK_DATABASE_URL when set, else EARLYRISK_AUDIT_LOG_PATH)."
        ),
        show_default=False,
    ),
]


def token_option(roles: str) -> Any:
    """``--token`` of a governed verb (``model``, ``correction``): read from EARLYRISK_TOKEN
    by default (a command line is visible to other users); ``roles`` says whose token each
    sub-command wants. Returns typer's option, for ``Annotated[str, token_option(...)]``."""
    return typer.Option(
        "--token",
        envvar="EARLYRISK_TOKEN",
        help=f"Your token ({roles}; default: EARLYRISK_TOKEN).",
        show_default=False,
    )


@contextmanager
def raw_data_refusals(err: Console, *, nothing: str) -> Iterator[None]:
    """Broken raw data (exit 1, with the validation report) and an ``--as-of`` after the
    data's extraction date (exit 2, naming both dates), said the same by every verb that
    reads a registry; ``nothing`` says what was not done ("nothing was scored")."""
    from features.labels import AsOfAfterExtractionError
    from features.validation import InvalidRawDataError

    try:
        yield
    except InvalidRawDataError as exc:
        err.print(f"[red]the raw data breaks the contract:[/red]\n{exc}")
        raise typer.Exit(EXIT_REFUSED) from None
    except AsOfAfterExtractionError as exc:
        err.print(f"[red]error:[/red] --as-of: {exc}; {nothing}")
        raise typer.Exit(EXIT_USAGE) from None
