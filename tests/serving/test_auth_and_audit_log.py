"""Tokens are stored hashed and checked by role; the audit log is append-only and WAL."""

from __future__ import annotations

import sqlite3

import pytest

from benchmarks.audit_records import score_record
from serving.auth import (
    FORBIDDEN_MESSAGE,
    PERMISSIONS,
    UNAUTHENTICATED_MESSAGE,
    AuthError,
    authorize,
)
from serving.store.audit_log import AuditLog, AuditLogUnavailable, FeedbackRecord, ScoreRecord
from serving.store.tokens import SqlTokenStore


def _record(score_id: str) -> ScoreRecord:
    return score_record(
        score_id,
        "high",
        family_id="F1",
        probability=0.4,
        reasons=[{"indicator": "x", "contribution": 0.2}],
    )


def test_tokens_are_stored_hashed_and_verified(tmp_path):
    store = SqlTokenStore(tmp_path / "tokens.sqlite")
    issued = store.create("caseworker", note="pilot")
    assert issued.token.startswith(f"er_{issued.token_id}_")
    raw = (tmp_path / "tokens.sqlite").read_bytes()
    assert issued.token.encode() not in raw
    assert issued.token.split("_", 2)[2].encode() not in raw
    principal = store.verify(issued.token)
    assert principal is not None and principal.role == "caseworker"
    assert principal.token_id == issued.token_id
    assert store.verify(issued.token + "x") is None
    assert store.verify(f"er_{issued.token_id}_wrong") is None
    assert store.verify("garbage") is None
    assert store.revoke(issued.token_id)
    assert store.verify(issued.token) is None
    with pytest.raises(ValueError, match="unknown role 'root'"):
        store.create("root")


@pytest.mark.parametrize(
    "endpoint", ["score", "score_indicators", "feedback", "model_card", "audit_log"]
)
def test_roles_and_messages(tmp_path, endpoint):
    store = SqlTokenStore(tmp_path / "tokens.sqlite")
    for role in ("caseworker", "auditor", "admin", "approver"):
        token = store.create(role).token
        if endpoint in PERMISSIONS[role]:
            assert authorize(store, f"Bearer {token}", endpoint).role == role
        else:
            with pytest.raises(AuthError) as err:
                authorize(store, f"Bearer {token}", endpoint)
            assert err.value.status == 403 and err.value.message == FORBIDDEN_MESSAGE
    token = store.create("admin").token
    bad_headers = [None, "", "Bearer", f"Basic {token}", f"Bearer {token[:-1]}", "Bearer er_x_y"]
    for header in bad_headers:
        with pytest.raises(AuthError) as err:
            authorize(store, header, endpoint)
        # The same words whatever was wrong: no hint which part failed.
        assert err.value.status == 401 and err.value.message == UNAUTHENTICATED_MESSAGE


def test_role_matrix_is_the_documented_one():
    assert PERMISSIONS["caseworker"] == {
        "score",
        "score_indicators",
        "feedback",
        "family",
        "worklist",
        "dossier",
        "correction",  # files a correction on a family's behalf (issue 23)
    }
    assert PERMISSIONS["auditor"] == {
        "model_card",
        "audit_log",
        "security_log",
        "served_stats",
        "dossier",
    }
    assert PERMISSIONS["admin"] == PERMISSIONS["caseworker"] | PERMISSIONS["auditor"]
    # an approver reads the card it approves (`earlyrisk model approve`), scores nobody
    assert PERMISSIONS["approver"] == {"model_card"}
    # a registry officer decides corrections of records, and sees nothing else
    assert PERMISSIONS["registry_officer"] == {"correction"}


def test_audit_log_is_wal_append_only_and_paginated(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    log.record_scores([_record(f"s{i}") for i in range(5)])
    log.record_feedback(
        FeedbackRecord(
            score_id="s1",
            request_id="r2",
            token_id="tok",
            role="caseworker",
            family_id="F1",
            decision="no_action",
            reason="already supported",
        )
    )
    conn = sqlite3.connect(tmp_path / "audit.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit_entries SET probability = 0")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit_entries")
    conn.close()
    assert log.count("score") == 5 and log.count("feedback") == 1
    first = log.page(limit=4)
    rest = log.page(after_seq=first[-1]["seq"], limit=4)
    assert [e["score_id"] for e in first + rest] == ["s0", "s1", "s2", "s3", "s4", "s1"]
    assert rest[-1]["kind"] == "feedback" and rest[-1]["decision"] == "no_action"
    assert log.page(kind="feedback")[0]["reason"] == "already supported"
    assert first[0]["reasons"] == [{"indicator": "x", "contribution": 0.2}]
    assert log.score_entry("s3")["family_id"] == "F1"
    assert log.score_entry("nope") is None


def test_audit_log_batch_is_all_or_nothing(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    log.record_scores([_record("dup")])
    with pytest.raises(AuditLogUnavailable):
        log.record_scores([_record("new"), _record("dup")])
    assert log.count() == 1


def test_audit_log_locked_raises_unavailable(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite", busy_timeout_ms=50)
    other = sqlite3.connect(tmp_path / "audit.sqlite", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(AuditLogUnavailable, match="not writable"):
            log.record_scores([_record("a")])
    finally:
        other.execute("ROLLBACK")
    log.record_scores([_record("a")])
    assert log.count() == 1


def test_audit_log_unopenable_path_raises_unavailable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(AuditLogUnavailable, match="cannot open"):
        AuditLog(blocker / "audit.sqlite")
