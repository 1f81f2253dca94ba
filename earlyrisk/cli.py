"""The ``earlyrisk`` command line: thin jobs over the features, training and serving packages.

Each package registers its own verbs (``<package>.commands.register``); this module only
assembles them, so ``earlyrisk --help`` lists exactly the verbs that exist. Command modules
import heavy libraries (MLflow, BentoML, LightGBM) inside the command bodies, which keeps
``--help`` and the light verbs fast.
"""

from __future__ import annotations

import typer

from features import commands as feature_commands
from serving import commands as serving_commands
from training import commands as training_commands

app = typer.Typer(
    name="earlyrisk",
    help=(
        "Early, fair, explained risk detection for family social services.\n\n"
        "Scores are advisory: a caseworker decides, the system explains, records and is audited."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

for module in (feature_commands, training_commands, serving_commands):
    module.register(app)


if __name__ == "__main__":  # pragma: no cover - `python -m earlyrisk.cli`
    app()
