"""The service picks up a new champion without a restart and without losing a request.

`earlyrisk model promote` and `rollback` move the registry's alias; each worker's watcher
looks at the alias every ``EARLYRISK_MODEL_RELOAD_INTERVAL_S`` seconds, and when it names
another version, loads that version (the same checks as at start: checksum, feature list
of the snapshot), then swaps it into the engine in one assignment
(:meth:`serving.engine.ServingEngine.swap_model`). A request under way finishes on the
model it began with; the next one is scored by the new one and says so in
``model_version``. Each switch, and each version refused, is a ``governance`` entry of the
audit log, so an auditor sees from which entry on each worker served which version.

A version that cannot be served (its checksum or feature list does not match) is refused
once and the worker keeps the model it has; a pinned ``EARLYRISK_MODEL_URI`` is never
reloaded.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from serving.engine import ServingEngine, StartupError, load_serving_model
from serving.settings import ServingSettings
from serving.store.audit_errors import AuditLogUnavailable
from serving.store.lookup import read_snapshot_info

logger = logging.getLogger(__name__)

#: the audit log's token_id and role of the service's own governance entries
SERVICE_ACTOR = "service"


def alias_version(settings: ServingSettings) -> str | None:
    """The version the configured alias names now (None when it names none)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    try:
        found = client.get_model_version_by_alias(settings.model_name, settings.model_alias)
    except MlflowException:
        return None
    return str(found.version)


class ModelWatcher:
    """Every ``interval_s``, swap in the version the alias names if it is another one."""

    def __init__(
        self,
        engine: ServingEngine,
        settings: ServingSettings,
        *,
        interval_s: float,
        on_switch: Callable[[str], None] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"the reload interval must be positive seconds, got {interval_s}")
        self.engine = engine
        self.settings = settings
        self.interval_s = float(interval_s)
        self.on_switch = on_switch
        self.refused: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-watcher", daemon=True)

    def start(self) -> ModelWatcher:
        """Start the thread (in the serving process only)."""
        self._thread.start()
        return self

    def stop(self, *, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # the watcher must outlive a bad look; the next one retries
                logger.exception("model watcher: the alias could not be checked")

    def check(self) -> str | None:
        """One look: the version switched to, or None when nothing changed."""
        version = alias_version(self.settings)
        current = self.engine.identity.version
        if version is None or version == current or version in self.refused:
            return None
        name = self.settings.model_name
        uri = f"models:/{name}/{version}"
        try:
            snapshot = read_snapshot_info(self.settings.snapshot_path)
            new = load_serving_model(self.settings, uri, snapshot)
        except StartupError as exc:
            self.refused.add(version)
            logger.error("model watcher: not serving %s: %s", uri, exc)
            self._record("switch-refused", version, {"from": current, "why": str(exc)[:2000]})
            return None
        self.engine.swap_model(new)
        logger.info("now serving model %s version %s (was %s)", name, version, current)
        try:
            self._record("switch", version, {"from": current})
        except AuditLogUnavailable:
            logger.exception("model watcher: the switch to %s could not be logged", uri)
        if self.on_switch is not None:
            self.on_switch(version)
        return version

    def _record(self, action: str, version: str, detail: dict[str, str]) -> None:
        self.engine.audit_log.record_governance(
            action=action,
            model=self.settings.model_name,
            version=version,
            token_id=SERVICE_ACTOR,
            role=SERVICE_ACTOR,
            detail={**detail, "pid": str(os.getpid())},
        )
