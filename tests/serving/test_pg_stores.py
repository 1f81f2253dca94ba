"""The stores on a real PostgreSQL server: the same chain, shared by replicas, fail-closed.

Two store objects on one database stand for two replicas (the real two-process test is
tests/serving/test_pg_replicas.py).
"""

from __future__ import annotations

import threading
import uuid

import numpy as np
import psycopg
import pytest
from serving_world import snapshot_frame, write_snapshot

from features.catalogue import model_input_columns
from serving.auth import authorize
from serving.store.audit_chain import GENESIS, entry_hash
from serving.store.audit_log import AuditLogRefused, AuditLogUnavailable, ScoreRecord
from serving.store.audit_log_pg import PostgresAuditLog, open_postgres_audit_log
from serving.store.connection import DatabaseUnavailable
from serving.store.lookup import SqlLookupStore, read_snapshot_info
from serving.store.migrations import MigrationError, ensure_postgres, postgres_versions
from serving.store.security_log import SecurityLogUnavailable, SecurityRecord, SqlSecurityLog
from serving.store.tokens import SqlTokenStore

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _score(family: str = "F00001", probability: float = 0.1234567890123) -> ScoreRecord:
    return ScoreRecord(
        score_id=uuid.uuid4().hex,
        request_id=uuid.uuid4().hex,
        token_id="abc123abc123",
        role="caseworker",
        endpoint="score",
        family_id=family,
        as_of="2024-12-31",
        model_version="3",
        probability=probability,
        risk_level="low",
        reasons=[{"indicator": "x", "contribution": 0.25}],
    )


def test_entries_are_chained_exactly_as_on_sqlite(postgres_url: str) -> None:
    log = open_postgres_audit_log(postgres_url, new_log=True)
    log.record_scores([_score(probability=0.1), _score(probability=1 / 3)])
    log.record_run("run1", operator="op", outcome="started", detail={"output": "x"})
    entries = log.page(limit=10)
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev_hash"] == GENESIS
    assert entries[1]["prev_hash"] == entries[0]["entry_hash"]
    stored = entries[1]
    stored["reasons"] = '[{"indicator":"x","contribution":0.25}]'
    assert entry_hash(stored) == stored["entry_hash"]  # float8 keeps the value bit-exact
    assert log.verify().intact and log.verify().head_seq == 3
    assert log.unfinished_runs(output="x")[0]["run_id"] == "run1"
    log.close()


def test_the_log_is_append_only_in_the_database(postgres_url: str) -> None:
    log = open_postgres_audit_log(postgres_url, new_log=True)
    log.record_scores([_score()])
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in (
            "UPDATE audit_entries SET probability = 0.9",
            "DELETE FROM audit_entries",
            "TRUNCATE audit_entries",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
    log.close()


def test_a_changed_entry_is_found_and_the_log_refused(postgres_url: str) -> None:
    log = open_postgres_audit_log(postgres_url, new_log=True)
    log.record_scores([_score(), _score(), _score()])
    log.close()
    # someone with the owner's rights drops the trigger's effect and edits entry 2
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_entries DISABLE TRIGGER audit_no_change")
        conn.execute("UPDATE audit_entries SET risk_level = 'high' WHERE seq = 2")
    with pytest.raises(AuditLogRefused, match="entry seq 2"):
        open_postgres_audit_log(postgres_url)


def test_two_writers_share_one_chain_without_loss_or_fork(postgres_url: str) -> None:
    """16 threads split over two log objects (two replicas' connections) append at once."""
    replicas = [PostgresAuditLog(postgres_url), PostgresAuditLog(postgres_url)]
    per_thread, threads = 25, 16
    errors: list[BaseException] = []

    def work(log: PostgresAuditLog) -> None:
        try:
            for _ in range(per_thread):
                log.record_scores([_score(), _score()])
        except BaseException as exc:  # reported below, never swallowed
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(replicas[i % 2],)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    total = threads * per_thread * 2
    report = replicas[0].verify()
    assert report.intact and report.entries == total and report.head_seq == total
    with psycopg.connect(postgres_url) as conn:
        distinct = conn.execute("SELECT COUNT(DISTINCT score_id) FROM audit_entries").fetchone()
    assert distinct == (total,)
    for log in replicas:
        log.close()


def test_database_away_refuses_writes_and_recovers(postgres_server, postgres_url: str) -> None:
    log = open_postgres_audit_log(postgres_url, new_log=True)
    log.record_scores([_score()])
    postgres_server.stop()
    try:
        with pytest.raises(AuditLogUnavailable):
            log.record_scores([_score()])
        assert not log.ready()
    finally:
        postgres_server.start()
        postgres_server.wait_ready()
    assert log.ready()
    log.record_scores([_score()])
    assert log.count() == 2 and log.verify().intact  # the refused one is not on record
    # a restart between two writes: the stale connection fails before anything is sent,
    # so the write goes through on a new one (once, never after the INSERT was sent)
    postgres_server.stop()
    postgres_server.start()
    postgres_server.wait_ready()
    log.record_scores([_score()])
    assert log.count() == 3 and log.verify().intact
    log.close()


def test_a_token_revoked_through_one_replica_is_refused_by_the_other(
    postgres_server, postgres_url: str
) -> None:
    one, other = SqlTokenStore(postgres_url), SqlTokenStore(postgres_url)
    issued = one.create("caseworker", regions=["North"])
    header = f"Bearer {issued.token}"
    principal = authorize(other, header, "score")
    assert principal.regions == frozenset({"North"})
    assert one.revoke(issued.token_id)
    assert other.verify(issued.token) is None
    assert one.verify(issued.token) is None
    # the database away: a token check raises (the gate answers 503), never admits
    postgres_server.stop()
    try:
        with pytest.raises(DatabaseUnavailable):
            other.verify(issued.token)
    finally:
        postgres_server.start()
        postgres_server.wait_ready()
    fresh = other.create("auditor")
    assert one.verify(fresh.token) is not None
    one.close()
    other.close()


def test_security_log_is_shared_and_fails_loudly(postgres_server, postgres_url: str) -> None:
    one, other = SqlSecurityLog(postgres_url), SqlSecurityLog(postgres_url)
    one.record(SecurityRecord("unauthenticated", "r1", "score", None, "127.0.0.1"))
    other.record(SecurityRecord("auditor_read", "r2", "audit_log", "abc123abc123"))
    assert [e["request_id"] for e in other.page()] == ["r1", "r2"]
    postgres_server.stop()
    try:
        with pytest.raises(SecurityLogUnavailable):
            one.record(SecurityRecord("forbidden", "r3", "score"))
    finally:
        postgres_server.start()
        postgres_server.wait_ready()
    one.record(SecurityRecord("forbidden", "r4", "score"))
    assert [e["request_id"] for e in other.page()] == ["r1", "r2", "r4"]
    one.close()
    other.close()


def test_lookup_in_postgres_returns_what_sqlite_returns(postgres_url: str, tmp_path) -> None:
    frame = snapshot_frame()
    path = write_snapshot(frame, tmp_path / "snap.parquet", feature_list_sha256="a" * 64)
    info = read_snapshot_info(path)
    names = model_input_columns()
    pg = SqlLookupStore.from_snapshot(info, postgres_url, feature_names=names)
    lite = SqlLookupStore.from_snapshot(info, tmp_path / "lookup.sqlite", feature_names=names)
    assert pg.as_of_dates() == lite.as_of_dates() == ["2024-06-30", "2024-12-31"]
    ids = ["F00010", "unknown", "F00007", "F00014"]
    got_ids, got = pg.get_matrix(ids, as_of="2024-06-30")
    want_ids, want = lite.get_matrix(ids, as_of="2024-06-30")
    assert sorted(got_ids) == sorted(want_ids) == ["F00007", "F00010", "F00014"]
    order = [got_ids.index(i) for i in want_ids]
    np.testing.assert_array_equal(got[order], want)
    assert np.isnan(want).any()  # NULL round-trips as NaN on both
    # a second replica on the same snapshot finds it loaded (same meta, no rebuild)
    with psycopg.connect(postgres_url) as conn:
        oid = conn.execute("SELECT 'family_features'::regclass::oid").fetchone()
    SqlLookupStore.from_snapshot(info, postgres_url, feature_names=names).close()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 'family_features'::regclass::oid").fetchone() == oid
    sizes = [len(c) for c in pg.iter_population(as_of="2024-12-31", chunk_size=100)]
    assert sum(sizes) == len(frame) // 2
    pg.close()


def test_schema_is_created_once_and_a_behind_schema_is_refused(postgres_url: str) -> None:
    ensure_postgres(postgres_url)
    ensure_postgres(postgres_url)  # idempotent: a second replica starting
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert postgres_versions(conn) == {
            "audit": 5,
            "tokens": 1,
            "security": 1,
            "review_sessions": 1,
            "served_stats": 1,
            "cases": 1,
            "corrections": 1,
        }
        # a database whose security schema was never applied (an older release's)
        conn.execute("DELETE FROM schema_migrations WHERE store = 'security'")
    with pytest.raises(MigrationError, match=r"security at 0.*earlyrisk db upgrade"):
        ensure_postgres(postgres_url)


def test_family_history_and_views_read_the_same_on_both_backends(postgres_url, tmp_path):
    """/family's history on PostgreSQL: the same SQL as on SQLite, the same answer (latest
    scores first, each with its decisions, the latest current; the limit keeps the newest)."""
    from serving.store.audit_log import FeedbackRecord, open_audit_log

    def fill(log) -> list[dict]:
        first, second, third, other = _score(), _score(), _score(), _score(family="F00002")
        for record in (first, other, second, third):
            log.record_scores([record])

        def decide(score: ScoreRecord, decision: str) -> None:
            log.record_feedback(
                FeedbackRecord(score.score_id, "r", "t", "caseworker", "F00001", decision, "x")
            )

        decide(second, "no_action")
        decide(first, "referred")  # a later decision on an older score
        decide(second, "support_offered")  # supersedes the first decision on `second`
        log.record_view(
            request_id="v", token_id="t", role="caseworker", endpoint="family",
            family_id="F00001", as_of="2024-12-31",
        )  # fmt: skip
        full = log.family_history("F00001")
        latest_two = log.family_history("F00001", limit=2)
        assert [e["score_id"] for e in full] == [third.score_id, second.score_id, first.score_id]
        assert [e["score_id"] for e in latest_two] == [third.score_id, second.score_id]
        assert log.count("view") == 1 and log.family_history("nobody") == []
        return [
            {
                "score": e["score_id"],
                "decisions": [(d["decision"], d["current"]) for d in e["decisions"]],
            }
            for e in full
        ]

    pg = open_postgres_audit_log(postgres_url, new_log=True)
    sqlite = open_audit_log(tmp_path / "audit_log.sqlite", new_log=True)
    try:
        on_pg, on_sqlite = fill(pg), fill(sqlite)
    finally:
        pg.close()
        sqlite.close()
    for history in (on_pg, on_sqlite):
        assert [h["decisions"] for h in history] == [
            [],
            [("no_action", False), ("support_offered", True)],
            [("referred", True)],
        ]
