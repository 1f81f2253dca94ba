"""The ``earlyrisk`` command line: thin jobs over the features, training and serving packages.

Each package registers its own verbs (``<package>.commands.register``); this module only
assembles them, so ``earlyrisk --help`` lists exactly the verbs that exist. Command modules
import heavy libraries (MLflow, BentoML, LightGBM) inside the command bodies, which keeps
``--help`` and the light verbs fast.

Every project error derives from :class:`features.errors.EarlyriskError`; a verb handles
the ones it can explain best (a validation report, a usage message) and
:class:`EarlyriskGroup` catches the rest: the message, exit code 1, never a traceback.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from features import commands as feature_commands
from features.errors import EarlyriskError
from serving import commands as serving_commands
from serving.monitor import commands as monitor_commands
from training import commands as training_commands

EXIT_ERROR = 1


class EarlyriskGroup(TyperGroup):
    """The command group: an EarlyriskError from any verb becomes its message and exit 1."""

    # ``ctx`` is typer's (vendored, private) click Context; Any keeps the override compatible
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except EarlyriskError as error:
            typer.echo(f"error: {error}", err=True)
            ctx.exit(EXIT_ERROR)


app = typer.Typer(
    name="earlyrisk",
    cls=EarlyriskGroup,
    help=(
        "Early, fair, explained risk detection for family social services.\n\n"
        "Scores are advisory: a caseworker decides, the system explains, records and is audited."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)

for module in (feature_commands, training_commands, serving_commands, monitor_commands):
    module.register(app)


if __name__ == "__main__":  # pragma: no cover - `python -m earlyrisk.cli`
    app()
