"""Monitoring of the served model: drift, label-free performance, realized backfill,
fairness over time and caseworkers' decisions (``earlyrisk monitor``, docs/monitoring.md).

``MonitorConfig`` and ``monitor`` are imported on first use, not with the package: every
``earlyrisk`` command imports ``serving.monitor.cli`` to list its options, and the
computation's imports (scipy.stats, scikit-learn, the training config) cost about two
seconds of ``earlyrisk --help`` otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from serving.monitor.config import MonitorConfig
    from serving.monitor.core import monitor

__all__ = ["MonitorConfig", "monitor"]


def __getattr__(name: str) -> Any:
    if name == "MonitorConfig":
        from serving.monitor.config import MonitorConfig

        return MonitorConfig
    if name == "monitor":
        from serving.monitor.core import monitor

        return monitor
    raise AttributeError(f"module 'serving.monitor' has no attribute {name!r}")
