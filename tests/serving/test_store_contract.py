"""One contract per store, run against both dialects: what a store promises holds on SQLite
and on PostgreSQL alike (one implementation over :class:`serving.store.connection.Database`).

Also: a store opened on a database whose schema is behind refuses and names `earlyrisk db
upgrade` (nothing alters a schema at open), and the review page records its refusals in
PostgreSQL when ``EARLYRISK_DATABASE_URL`` is set (before, in the replica's local file).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest
from serving_world import snapshot_frame, write_snapshot
from starlette.testclient import TestClient

from features.catalogue import model_input_columns
from serving.settings import ServingSettings
from serving.store import migrations
from serving.store.cases import SqlCaseStore
from serving.store.connection import Database
from serving.store.lookup import SqlLookupStore, read_snapshot_info
from serving.store.migrations import MigrationError
from serving.store.regions import RegionIndex
from serving.store.security_log import SecurityRecord, SqlSecurityLog
from serving.store.served_stats import AuditGroupIndex, SqlServedStatsStore
from serving.store.stores import open_stores
from serving.store.tokens import SqlTokenStore

SERVER = [pytest.mark.server, pytest.mark.slow]
DIALECTS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")]
DIALECTS[1] = pytest.param("postgresql", id="postgresql", marks=SERVER)


@pytest.fixture(params=DIALECTS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Database]:
    """A function giving one store's database: a SQLite file per store name in tmp_path,
    or (PostgreSQL) one fresh database for every store of the test."""
    if request.param == "sqlite":
        return lambda name: Database(tmp_path / f"{name}.sqlite")
    url = request.getfixturevalue("postgres_url")
    return lambda name: Database(url)


def _raw(db: Database, sql: str) -> None:
    """Run sql outside the store, as an intruder with the database's credentials would."""
    if db.url is not None:
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute(sql)
    else:
        with sqlite3.connect(str(db.path)) as conn:
            conn.execute(sql)


# --------------------------------------------------------------------------- tokens


def test_tokens_contract(target) -> None:
    db = target("tokens")
    store = SqlTokenStore(db)
    issued = store.create("caseworker", ttl_days=2, regions=["South", "North"], note="desk 4")
    principal = store.verify(issued.token)
    assert principal is not None and principal.role == "caseworker"
    assert principal.regions == frozenset({"North", "South"})
    assert store.verify(issued.token + "x") is None  # same id, wrong secret
    assert store.verify("er_000000000000_nothing") is None  # unknown id
    (row,) = store.list()
    assert row["token_id"] == issued.token_id and row["regions"] == "North,South"
    assert row["last_used_at"] is not None  # the verify above was recorded
    assert issued.token not in str(row) and "token_sha256" not in row
    lifetime = datetime.fromisoformat(row["expires_at"]) - datetime.fromisoformat(row["created_at"])
    assert lifetime == timedelta(days=2)
    assert store.revoke(issued.token_id) is True
    assert store.revoke(issued.token_id) is False  # already revoked
    assert store.verify(issued.token) is None
    other = SqlTokenStore(target("tokens"))  # a second process on the same database
    expired = other.create("auditor", ttl_days=1)
    _raw(
        db,
        "UPDATE tokens SET expires_at = "
        f"'{(datetime.now(UTC) - timedelta(seconds=1)).isoformat()}' "
        f"WHERE token_id = '{expired.token_id}'",
    )
    assert store.verify(expired.token) is None
    with pytest.raises(ValueError, match="unknown role 'boss'"):
        store.create("boss")
    store.close()
    other.close()


# --------------------------------------------------------------------------- security log


def test_security_log_contract(target) -> None:
    db = target("security")
    log = SqlSecurityLog(db)
    for i, event in enumerate(["unauthenticated", "forbidden", "unauthenticated"], start=1):
        log.record(SecurityRecord(event, f"r{i}", "score", token_id=None, client="10.0.0.1"))  # type: ignore[arg-type]
    reader = SqlSecurityLog(target("security"))  # another replica reads the same log
    page = reader.page()
    assert [(e["seq"], e["event"], e["request_id"]) for e in page] == [
        (1, "unauthenticated", "r1"),
        (2, "forbidden", "r2"),
        (3, "unauthenticated", "r3"),
    ]
    assert [e["seq"] for e in reader.page(after_seq=1, limit=1)] == [2]
    assert [e["seq"] for e in reader.page(event="unauthenticated")] == [1, 3]
    for statement in (
        "UPDATE security_events SET event = 'auditor_read'",
        "DELETE FROM security_events",
    ):
        with pytest.raises((sqlite3.Error, psycopg.Error), match="append-only"):
            _raw(db, statement)
    assert len(reader.page()) == 3
    log.close()
    reader.close()


# --------------------------------------------------------------------------- served stats


def test_served_stats_contract(target) -> None:
    stores = [SqlServedStatsStore(target("served")) for _ in range(2)]  # two replicas
    for store in stores:
        store.add(
            model_name="m",
            model_version="1",
            served_on="2025-01-02",
            as_of="2024-12-31",
            rows=[("total", "n", "", 2.0), ("score", "", "3", 1.0)],
        )
    stores[0].add(
        model_name="m",
        model_version="1",
        served_on="2025-02-01",
        as_of="2024-06-30",
        rows=[("total", "n", "", 5.0)],
    )
    rows = sorted(stores[1].rows(since="2025-01-01", until="2025-01-31"))
    assert [(r[4], r[5], r[6], float(r[7])) for r in rows] == [
        ("score", "", "3", 2.0),
        ("total", "n", "", 4.0),
    ]
    assert len(stores[1].rows(since="2025-01-01", until="2025-12-31", as_of="2024-06-30")) == 1
    for store in stores:
        store.close()


# --------------------------------------------------------------------------- snapshot tables


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("contract_snapshot")
    frame = snapshot_frame(seed=5, n_families=60)
    return frame, read_snapshot_info(
        write_snapshot(frame, root / "snap.parquet", feature_list_sha256="a" * 64)
    )


def test_lookup_and_side_indexes_contract(target, snapshot) -> None:
    frame, info = snapshot
    names = model_input_columns()
    store = SqlLookupStore.from_snapshot(info, target("lookup"), feature_names=names)
    assert store.as_of_dates() == ["2024-06-30", "2024-12-31"]
    assert store.latest_as_of() == "2024-12-31"
    ids, matrix = store.get_matrix(["F00010", "unknown", "F00007", "F00010"], as_of="2024-06-30")
    assert sorted(ids) == ["F00007", "F00010"] and matrix.shape == (2, len(names))
    want = frame[frame.as_of == "2024-06-30"].set_index("family_id").loc[ids, names]
    np.testing.assert_array_equal(matrix, want.to_numpy(dtype=float))
    assert np.isnan(matrix).any() or frame[names].isna().any().any()
    got = store.get(["F00001"], as_of="2024-12-31")
    assert list(got.index) == ["F00001"] and list(got.columns) == names
    assert sum(len(c) for c in store.iter_population(as_of="2024-12-31", chunk_size=25)) == 60
    store.close()
    regions = RegionIndex.from_snapshot(info, target("regions"))
    assert regions.within(["F00000", "F00001", "F00003"], as_of="2024-12-31", regions=["North"])
    assert regions.within(
        ["F00000", "F00001", "F00003"], as_of="2024-12-31", regions=["North"]
    ) == {"F00000", "F00003"}
    assert regions.within(["F00001"], as_of="2024-12-31", regions=[]) == set()
    regions.close()
    groups = AuditGroupIndex.from_snapshot(info, target("groups"))
    got_groups = groups.groups(["F00000", "nobody"], as_of="2024-12-31")
    assert got_groups["audit_region"] == ["North", None]
    assert set(got_groups) == {"audit_region", "audit_settlement"}
    groups.close()


def test_a_snapshot_table_is_not_rebuilt_on_the_same_snapshot(target, snapshot) -> None:
    _, info = snapshot
    names = model_input_columns()
    db = target("lookup")
    SqlLookupStore.from_snapshot(info, db, feature_names=names).close()
    _raw(db, "DELETE FROM family_features WHERE family_id = 'F00001'")  # a mark
    again = SqlLookupStore.from_snapshot(info, target("lookup"), feature_names=names)
    assert again.get_matrix(["F00001"], as_of="2024-12-31")[0] == []  # same table: kept
    again.close()
    rebuilt = SqlLookupStore.from_snapshot(info, target("lookup"), feature_names=names[:-1])
    assert rebuilt.get_matrix(["F00001"], as_of="2024-12-31")[0] == ["F00001"]
    rebuilt.close()


# --------------------------------------------------------------------------- refusal at open

OPENERS: dict[str, Callable[[Database], object]] = {
    "tokens": SqlTokenStore,
    "security": SqlSecurityLog,
    "served_stats": SqlServedStatsStore,
    "cases": SqlCaseStore,
}


@pytest.mark.parametrize("store", sorted(OPENERS))
def test_a_store_on_a_schema_behind_refuses_and_names_db_upgrade(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: a file made by this release, then a release with one more migration of the
    store opens it: refused, the file left as it was."""
    path = tmp_path / f"{store}.sqlite"
    OPENERS[store](Database(path)).close()  # type: ignore[attr-defined]
    newer = migrations.Migration(store, 99, "a column from the future", lambda conn: None)
    monkeypatch.setattr(migrations, "SQLITE", (*migrations.SQLITE, newer))
    with pytest.raises(Exception, match=r"behind: .* \(latest 99\).*earlyrisk db upgrade") as err:
        OPENERS[store](Database(path))
    assert "earlyrisk db upgrade" in str(err.value)
    conn = sqlite3.connect(path)
    versions = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
    conn.close()
    assert versions < 99  # nothing applied at open


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.parametrize("store", sorted(OPENERS))
def test_pg_store_behind_refuses(store: str, postgres_url: str) -> None:
    migrations.upgrade_postgres(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE store = 'tokens' AND version = 1")
    with pytest.raises(Exception, match=r"tokens at 0 \(latest 1\).*earlyrisk db upgrade"):
        OPENERS[store](Database(postgres_url))


def test_the_refusal_is_a_migration_error_the_cli_reports(tmp_path: Path) -> None:
    path = tmp_path / "tokens.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(migrations._SQLITE_TOKENS_V1[0])
    conn.commit()
    conn.close()
    with pytest.raises(MigrationError, match="earlyrisk db upgrade"):
        SqlTokenStore(path)


# --------------------------------------------------------------------------- the review page


@pytest.mark.server
@pytest.mark.slow
def test_review_refusals_land_in_postgres_when_the_url_is_set(
    postgres_url: str, tmp_path: Path
) -> None:
    """A refused sign-in form is recorded in the shared database, and no SQLite security
    log appears beside the replica (before: the review page wrote to that local file)."""
    from serving.review import PREFIX, ReviewPages

    local = tmp_path / "security_log.sqlite"
    settings = ServingSettings(
        database_url=postgres_url,
        security_log_path=local,
        token_db_path=tmp_path / "tokens.sqlite",
    )

    async def nothing(scope, receive, send) -> None:  # the service behind the review page
        raise AssertionError("the review page answered nothing itself")

    # the service hands the review page its own security log (open_stores: PostgreSQL here)
    log = open_stores(settings, tokens=False).security_log
    assert log is not None
    pages = ReviewPages(nothing, engine=lambda: None, settings=settings, security_log=lambda: log)
    answer = TestClient(pages).post(
        f"{PREFIX}/signin", data={"token": "er_0123456789ab_x", "csrf": "x"}
    )
    log.close()
    assert answer.status_code == 403
    reader = open_stores(settings, tokens=False)
    try:
        events = reader.security_log.page()
    finally:
        reader.close()
    assert [(e["event"], e["endpoint"]) for e in events] == [("forbidden", "review")]
    assert not local.exists()
