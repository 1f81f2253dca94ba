"""The engine a server or `earlyrisk serve` starts: the champion, then its shadow and its
rollout (each with the champion's checks), sealed before the first score.

:func:`serving.engine.load_engine` builds the champion's engine; this module adds what
shadow mode (:mod:`serving.shadow`) and a staged rollout (:mod:`serving.rollout`) need,
so the engine itself never imports their start-up (one direction of imports).
"""

from __future__ import annotations

import logging
from typing import Any

from serving.engine import (
    ServingEngine,
    ServingModel,
    StartupError,
    load_engine,
    load_serving_model,
)
from serving.rollout_start import attach_rollout
from serving.settings import ServingSettings
from serving.store.lookup import SnapshotError, read_snapshot_info

logger = logging.getLogger("earlyrisk.serving.shadow")


def start_engine(
    settings: ServingSettings, *, new_audit_log: bool = False, strict_shadow: bool = True
) -> ServingEngine:
    """The champion's engine with the configured shadow and rollout, or StartupError.

    A shadow that fails its checks is a refusal with ``strict_shadow`` (`earlyrisk serve`:
    the operator asked for it and learns at once), else logged and left out (a worker: a
    shadow never costs the service its answers). A rollout is sealed in the audit log
    before anything is served; its refusal is always a refusal.
    """
    engine = load_engine(settings, new_audit_log=new_audit_log)
    try:
        attach_shadow(engine, strict=strict_shadow)
        attach_rollout(engine)
    except BaseException:
        engine.close()
        raise
    return engine


def load_shadow(
    settings: ServingSettings, uri: str, snapshot: Any, *, champion: ServingModel
) -> ServingModel:
    """The shadow at ``uri`` ready to score the snapshot, or StartupError saying why not.

    The champion's checks (checksum, the snapshot's feature list, the eligibility rule),
    and one more: the shadow must not be the champion itself (nothing to compare)."""
    shadow = load_serving_model(settings, uri, snapshot)
    if (shadow.identity.name, shadow.identity.version) == (
        champion.identity.name,
        champion.identity.version,
    ):
        raise StartupError(
            f"the shadow {uri} is the champion itself ({champion.identity.name}/"
            f"{champion.identity.version}); name another registered version with --shadow"
        )
    return shadow


def attach_shadow(engine: ServingEngine, *, strict: bool) -> None:
    """Load ``settings.shadow_model_uri`` into the engine, with its reference population
    and bands computed before the first request (see :func:`start_engine`)."""
    uri = engine.settings.shadow_model_uri
    if uri is None:
        return
    try:
        try:
            snapshot = read_snapshot_info(engine.settings.snapshot_path)
        except SnapshotError as exc:
            raise StartupError(str(exc)) from exc
        shadow = load_shadow(engine.settings, uri, snapshot, champion=engine.model)
        engine.reference(engine.snapshot_date, shadow)
    except StartupError as exc:
        if strict:
            raise StartupError(f"shadow {uri}: {exc}") from exc
        logger.error("serving without a shadow: %s is refused: %s", uri, exc)
        return
    engine.shadow = shadow
    logger.info(
        "shadow model %s version %s scores every request (audit log only)",
        shadow.identity.name,
        shadow.identity.version,
    )
