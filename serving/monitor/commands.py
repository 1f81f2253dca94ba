"""The CLI verb of the monitor, registered on the `earlyrisk` app by :func:`register`.

The monitor is its own layer above the service's core (it reads the served statistics,
the audit log and the registry; nothing in the service imports it), so the CLI registers
it directly rather than through :mod:`serving.commands` (``make lint`` checks this).
"""

from __future__ import annotations

import typer

from serving.monitor.cli import MONITOR_HELP, monitor_command
from serving.monitor.shadow_cli import SHADOW_REPORT_HELP, shadow_report_command


def register(app: typer.Typer) -> None:
    """Add the ``monitor`` and ``shadow-report`` verbs to app."""
    app.command("monitor", help=MONITOR_HELP)(monitor_command)
    app.command("shadow-report", help=SHADOW_REPORT_HELP)(shadow_report_command)
