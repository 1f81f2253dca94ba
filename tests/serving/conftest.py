"""Session fixtures of the serving tests: one champion in a tmp MLflow registry, its
snapshot, role tokens, the service in-process and a real `bentoml serve` process.

The builders live in ``serving_world.py``; the real server is :mod:`serving.local_server`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from serving_world import ServingWorld, build_world, running_server

from serving.local_server import LocalServer


@pytest.fixture(scope="session")
def serving_world(tmp_path_factory: pytest.TempPathFactory) -> ServingWorld:
    return build_world(tmp_path_factory.mktemp("serving_world"))


@pytest.fixture(scope="session")
def service_env(serving_world: ServingWorld) -> Iterator[dict[str, str]]:
    """The world's EARLYRISK_* variables set in this process for the session."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in serving_world.env.items():
            mp.setenv(key, value)
        yield serving_world.env


@pytest.fixture(scope="session")
def tokens(serving_world: ServingWorld) -> dict[str, str]:
    """One clear token per role (plus a revoked one), created through the token store."""
    store = serving_world.tokens()
    out = {role: store.create(role).token for role in ("caseworker", "auditor", "admin")}
    revoked = store.create("admin")
    store.revoke(revoked.token_id)
    out["revoked"] = revoked.token
    return out


@pytest.fixture(scope="session")
def service(service_env: dict[str, str]):
    """The BentoML service class, instantiated in this process."""
    from serving.service import EarlyRiskScoring

    return EarlyRiskScoring()


@pytest.fixture(scope="session")
def real_server(serving_world: ServingWorld, tokens: dict[str, str]) -> Iterator[LocalServer]:
    """A real `bentoml serve` process on the world (its own audit log file and BentoML home)."""
    server_dir = serving_world.root / "server"
    env = {
        **serving_world.env,
        "EARLYRISK_AUDIT_LOG_PATH": str(server_dir / "audit_log.sqlite"),
        "EARLYRISK_LOOKUP_DB_PATH": str(server_dir / "lookup.sqlite"),
        "BENTOML_HOME": str(server_dir / "bentoml_home"),
    }
    server_dir.mkdir(exist_ok=True)
    with running_server(env, server_dir) as server:
        yield server
