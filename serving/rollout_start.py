"""Start a staged rollout in the engine: load its versions, seal its config, then serve.

The config (``EARLYRISK_ROLLOUT_CONFIG_PATH``, `earlyrisk serve --rollout FILE`) names a
version per region; each one other than the champion is loaded with the champion's checks
(:func:`serving.engine.load_serving_model`). Before the first score, the config's hash is
sealed in the audit log as a ``rollout`` entry; a cycle already sealed with another config
is a refusal (:func:`serving.rollout.seal_problem`), so the arms cannot be re-drawn after
outcomes are seen. Two workers sealing the same config at once write the same hash twice,
which replays the same.
"""

from __future__ import annotations

from typing import Any

from serving.engine import ServingEngine, ServingModel, StartupError, load_serving_model
from serving.rollout import RolloutError, load_rollout_config, seal_problem, sealed_configs
from serving.store.lookup import SnapshotError, read_snapshot_info


def attach_rollout(engine: ServingEngine) -> None:
    """Load, check and seal the configured rollout (StartupError saying why not)."""

    path = engine.settings.rollout_config_path
    if path is None:
        return
    try:
        config = load_rollout_config(path)
    except RolloutError as exc:
        raise StartupError(str(exc)) from exc
    if engine.regions is None or not engine.regions.has_regions:
        raise StartupError(
            f"rollout config {path} assigns by region, but the snapshot "
            f"{engine.settings.snapshot_path} has no audit_region column"
        )
    try:
        snapshot = read_snapshot_info(engine.settings.snapshot_path)
    except SnapshotError as exc:
        raise StartupError(str(exc)) from exc
    models: dict[str, ServingModel] = {}
    for version in sorted(config.versions()):
        if version == engine.identity.version:
            continue
        uri = f"models:/{engine.settings.model_name}/{version}"
        try:
            models[version] = load_serving_model(engine.settings, uri, snapshot)
        except StartupError as exc:
            raise StartupError(f"rollout config {path}, version {version}: {exc}") from exc
        engine.reference(engine.snapshot_date, models[version])
    sealed = sealed_configs(_rollout_entries(engine))
    problem = seal_problem(config, sealed)
    if problem is not None:
        raise StartupError(f"rollout config {path}: {problem}")
    if config.sha256() not in sealed:
        engine.audit_log.record_rollout(
            config_json=config.canonical_json(),
            config_sha256=config.sha256(),
            cycle=config.cycle,
        )
    engine.rollout_models = models
    engine.rollout = config


def _rollout_entries(engine: ServingEngine) -> list[dict[str, Any]]:
    """Every ``rollout`` entry of the audit log, oldest first."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = engine.audit_log.page(after_seq=after, limit=500, kind="rollout")
        out.extend(page)
        if len(page) < 500:
            return out
        after = int(page[-1]["seq"])
