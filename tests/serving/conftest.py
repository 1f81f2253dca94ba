"""Session fixtures of the serving tests: one champion in a tmp MLflow registry, its
snapshot, role tokens, the service in-process and a real `bentoml serve` process.

The builders live in ``serving_world.py``; the real server is :mod:`serving.local_server`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from serving_world import DOSSIER_CONTACT, ServingWorld, build_world, running_server

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
    """A real `bentoml serve` process on the world (its own audit log file and BentoML home),
    shared by every file whose server needs nothing else (tests/scheduling.py keeps those
    files in one unit, so it starts once per run): each start costs about 13 CPU-s (two
    processes import the service, one of them loads the model), so a file that only
    needs one more setting adds it here rather than starting its own (the dossier's contact
    line, read by tests/serving/test_dossier_server.py). Tests find their own entries in the
    shared logs by request id, never by counting from the start."""
    server_dir = serving_world.root / "server"
    env = {
        **serving_world.env,
        "EARLYRISK_AUDIT_LOG_PATH": str(server_dir / "audit_log.sqlite"),
        "EARLYRISK_LOOKUP_DB_PATH": str(server_dir / "lookup.sqlite"),
        "EARLYRISK_DOSSIER_CONTACT": DOSSIER_CONTACT,
        "BENTOML_HOME": str(server_dir / "bentoml_home"),
    }
    server_dir.mkdir(exist_ok=True)
    with running_server(env, server_dir) as server:
        yield server


@dataclass(frozen=True)
class RegistryServer:
    """A real server on a snapshot of the small registry (400 families) with its raw
    directory, so /family, /review and /correction read the records behind the indicators.

    ``busiest`` is the family with the most recorded difficulties, ``busiest_eligible`` the
    eligible one (a page of records and needs), ``ineligible`` the families without a child.
    """

    server: LocalServer
    audit_log: Path
    table: pd.DataFrame
    busiest: str
    busiest_eligible: str
    ineligible: list[str]


REGISTRY_AS_OF = "2024-06-30"


@pytest.fixture(scope="session")
def registry_world_server(
    serving_world: ServingWorld, small_registry_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryServer]:
    """One server per run for test_family_page, test_review_page and
    test_corrections_http (one scheduling unit with the real_server files; each file
    started its own before: three feature builds and three server starts). The world's
    limits are lifted, so one test can read every family's page; a view entry per page
    read is written without an fsync each (these tests are about pages, the log's
    durability is test_audit_integrity's)."""
    from features.engine import build_feature_table, write_feature_table

    root = tmp_path_factory.mktemp("registry_server")
    table = build_feature_table(small_registry_dir, [REGISTRY_AS_OF], n_jobs=1)
    snapshot = write_feature_table(table, root / "features.parquet")
    env = {
        **serving_world.env,
        "EARLYRISK_SNAPSHOT_PATH": str(snapshot),
        "EARLYRISK_RAW_DIR": str(small_registry_dir),
        "EARLYRISK_AUDIT_LOG_PATH": str(root / "audit_log.sqlite"),
        "EARLYRISK_LOOKUP_DB_PATH": str(root / "lookup.sqlite"),
        "EARLYRISK_SECURITY_LOG_PATH": str(root / "security_log.sqlite"),
        "EARLYRISK_AUDIT_SYNCHRONOUS": "NORMAL",
        "BENTOML_HOME": str(root / "bentoml_home"),
    }
    needs = table.select_dtypes("number").filter(regex="^(soc|hou|edu|hea)_").gt(0).sum(axis=1)
    eligible = table["hh_children"].fillna(0) >= 1
    with running_server(env, root, timeout=300) as server:
        yield RegistryServer(
            server=server,
            audit_log=root / "audit_log.sqlite",
            table=table,
            busiest=str(table.loc[needs.idxmax(), "family_id"]),
            busiest_eligible=str(table.loc[needs.where(eligible, -1).idxmax(), "family_id"]),
            ineligible=table.loc[~eligible, "family_id"].astype(str).tolist(),
        )
