"""Options and exit codes shared by the serving verbs (``earlyrisk serve`` and ``score``).

Both verbs load the same model from the same registry through :class:`ServingSettings`, so
``--model`` and ``--tracking-uri`` are one option each, with one help text, whichever verb
a user reads it in.
"""

from __future__ import annotations

from typing import Annotated

import typer

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
