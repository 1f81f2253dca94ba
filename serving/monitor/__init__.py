"""Monitoring of the served model: drift, label-free performance, realized backfill,
fairness over time and caseworkers' decisions (``earlyrisk monitor``, docs/monitoring.md)."""

from serving.monitor.config import MonitorConfig
from serving.monitor.core import monitor

__all__ = ["MonitorConfig", "monitor"]
