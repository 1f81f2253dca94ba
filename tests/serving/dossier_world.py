"""An in-process engine on the serving world with its own audit log and lookup file, for
the dossier and notices tests (the session's service keeps its own log)."""

from __future__ import annotations

from pathlib import Path

from serving_world import ServingWorld

from serving.engine import ServingEngine, load_engine
from serving.local_server import begin_audit_log
from serving.settings import ServingSettings


def settings_of(env: dict[str, str]) -> ServingSettings:
    """ServingSettings from EARLYRISK_* variables, without touching os.environ."""
    fields = {k.removeprefix("EARLYRISK_").lower(): v for k, v in env.items()}
    return ServingSettings(**fields)  # type: ignore[arg-type]


def dossier_env(world: ServingWorld, root: Path, **extra: str) -> dict[str, str]:
    """The world's variables with this test module's own audit log and lookup file."""
    root.mkdir(parents=True, exist_ok=True)
    env = {
        **world.env,
        "EARLYRISK_AUDIT_LOG_PATH": str(root / "audit_log.sqlite"),
        "EARLYRISK_LOOKUP_DB_PATH": str(root / "lookup.sqlite"),
        "EARLYRISK_SECURITY_LOG_PATH": str(root / "security_log.sqlite"),
        "EARLYRISK_MODEL_RELOAD_INTERVAL_S": "0",
        **extra,
    }
    begin_audit_log(env)
    return env


def dossier_engine(world: ServingWorld, root: Path) -> tuple[ServingEngine, dict[str, str]]:
    env = dossier_env(world, root)
    return load_engine(settings_of(env)), env
