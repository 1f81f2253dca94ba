"""`earlyrisk audit-log prune --before DATE` (issue 23, item 5), on SQLite and PostgreSQL.

The prune removes the entries past retention through a deliberate, logged path and keeps a
checkpoint of the removed prefix in a chained ``retention`` entry; `audit-log verify` and
the service's start then prove the rest from that checkpoint. What must still be caught:
a delete by hand (beyond the checkpoint, or with the guard left as it was), a remainder
tampered with after the prune, and a checkpoint forged to skip entries (rewritten, dated
too young, or backdated). Each case runs on both backends.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.store.audit_checkpoint import Checkpoint, write_checkpoint
from serving.store.audit_log import AuditLogBase, open_audit_log, utc_now
from serving.store.audit_log_pg import open_postgres_audit_log
from serving.store.audit_prune import MIN_RETENTION_DAYS, PruneCheckpoint, prune_row
from serving.store.migrations import SQLITE_APPEND_ONLY_SQL

OLD = "2024-03-01T10:00:00.000000+00:00"  # well past any retention on the test's today
CUT = "2024-06-01"

_PG_GUARD = (
    "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit_entries "
    "FOR EACH ROW EXECUTE FUNCTION earlyrisk_append_only()"
)


@dataclass
class Target:
    """One backend: how to open its log, name it on the CLI, and act behind its back."""

    open: Callable[[], AuditLogBase]
    args: list[str]
    owner: Callable[..., None]  # runs statements as whoever owns the database/file
    unguarded: Callable[[str], None]  # runs one statement with the delete guard off

    def cli(self, verb: str, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        result = CliRunner().invoke(
            app,
            ["audit-log", verb, *self.args, *extra],
            env={
                "COLUMNS": "400",
                "EARLYRISK_AUDIT_ANCHOR_PATH": None,
                "EARLYRISK_DATABASE_URL": None,
                **(env or {}),
            },
        )
        return result.exit_code, " ".join(result.output.split())


def _sqlite_target(tmp_path: Path) -> Target:
    path = tmp_path / "audit.sqlite"
    open_audit_log(path, new_log=True).close()

    def owner(*statements: str) -> None:
        conn = sqlite3.connect(path)
        try:
            for statement in statements:
                conn.execute(statement)
            conn.commit()
        finally:
            conn.close()

    def unguarded(statement: str) -> None:
        owner("DROP TRIGGER audit_no_delete", statement, SQLITE_APPEND_ONLY_SQL[1])

    return Target(lambda: open_audit_log(path), ["--log", str(path)], owner, unguarded)


def _pg_target(url: str) -> Target:
    open_postgres_audit_log(url, new_log=True).close()

    def owner(*statements: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def unguarded(statement: str) -> None:
        owner("DROP TRIGGER audit_no_change ON audit_entries", statement, _PG_GUARD)

    return Target(lambda: open_postgres_audit_log(url), ["--url", url], owner, unguarded)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "sqlite":
        yield _sqlite_target(tmp_path)
    else:
        yield _pg_target(request.getfixturevalue("postgres_url"))


def _score(at: str) -> dict[str, Any]:
    return {
        "kind": "score",
        "recorded_at": at,
        "request_id": "req",
        "token_id": "tok",
        "role": "caseworker",
        "endpoint": "score",
        "score_id": uuid.uuid4().hex,
        "family_id": "F00001",
        "as_of": at[:10],
        "model_version": "3",
        "probability": 0.25,
        "risk_level": "elevated",
        "reasons": "[]",
    }


def _fill(target: Target, old: int = 10, new: int = 5) -> None:
    """``old`` entries recorded in March 2024 (seq 1..old), then ``new`` recorded now."""
    log = target.open()
    try:
        log._append([_score(OLD) for _ in range(old)])
        log._append([_score(utc_now()) for _ in range(new)])
    finally:
        log.close()


def _seqs(target: Target) -> list[int]:
    log = target.open()
    try:
        return [int(row[0]) for row in log._rows("SELECT seq FROM audit_entries ORDER BY seq")]
    finally:
        log.close()


def _pruned(target: Target) -> tuple[int, str]:
    code, output = target.cli("prune", "--before", CUT)
    assert code == 0, output
    return code, output


def test_prune_removes_the_old_prefix_and_verify_proves_the_rest(target: Target) -> None:
    _fill(target)
    _, output = _pruned(target)
    assert "pruned entries 1..10" in output and "(10 entries, before 2024-06-01" in output
    assert _seqs(target) == [11, 12, 13, 14, 15, 16]  # 16: the prune's retention entry
    log = target.open()  # the service's start: anchor and chain from the checkpoint
    try:
        entry = log.page(after_seq=15, kind="retention")[0]
        assert entry["decision"] == "prune" and entry["detail"]["through_seq"] == 10
        assert entry["detail"]["count"] == 10 and entry["detail"]["last_at"] == OLD
        assert entry["detail"]["min_retention_days"] == MIN_RETENTION_DAYS
        assert log.verify().intact and log.trigger_findings() == []
    finally:
        log.close()
    code, output = target.cli("verify")
    assert code == 0 and "intact" in output and "pruned: entries 1..10" in output, output
    code, output = target.cli("prune", "--before", CUT)  # again: nothing left that old
    assert code == 0 and "nothing to prune" in output, output


def test_a_date_younger_than_the_retention_is_refused_naming_it_and_the_minimum(
    target: Target,
) -> None:
    _fill(target)
    recent = (date.today() - timedelta(days=100)).isoformat()
    code, output = target.cli("prune", "--before", recent)
    assert code == 2 and f"--before {recent}" in output and "minimum is 183 days" in output
    allowed = date.today() - timedelta(days=365)
    assert f"latest date allowed today is {allowed.isoformat()}" in output, output
    # the configured period counts too: 200 days ago is past the minimum but not past 400
    within = (date.today() - timedelta(days=200)).isoformat()
    code, output = target.cli(
        "prune", "--before", within, env={"EARLYRISK_AUDIT_RETENTION_DAYS": "400"}
    )
    assert code == 2 and "retention period of 400 days" in output, output
    assert _seqs(target) == list(range(1, 16))  # nothing removed


def test_after_a_prune_a_delete_by_hand_is_still_refused_and_detected(target: Target) -> None:
    _fill(target)
    _pruned(target)
    with pytest.raises((sqlite3.Error, psycopg.Error), match="append-only"):
        target.owner("DELETE FROM audit_entries WHERE seq = 11")  # the guard is back
    target.unguarded("DELETE FROM audit_entries WHERE seq = 11")
    code, output = target.cli("verify")
    assert code == 1 and "entries 11..11 are missing beyond it" in output, output
    assert "removed by hand" in output


def test_a_remainder_tampered_with_after_the_prune_is_detected(target: Target) -> None:
    _fill(target)
    _pruned(target)
    target.owner(
        *(
            ["DROP TRIGGER audit_no_update"]
            if "--log" in target.args
            else ["ALTER TABLE audit_entries DISABLE TRIGGER audit_no_change"]
        ),
        "UPDATE audit_entries SET risk_level = 'low' WHERE seq = 12",
    )
    code, output = target.cli("verify")
    assert code == 1 and "entry seq 12" in output and "content no longer matches" in output


def test_a_prune_checkpoint_rewritten_to_skip_entries_is_detected(target: Target) -> None:
    _fill(target)
    _pruned(target)
    log = target.open()
    try:
        twelve = log.hash_at(12)
        detail = log.page(after_seq=15, kind="retention")[0]["detail"]
    finally:
        log.close()
    detail.update(through_seq=12, through_hash=twelve, count=12)
    forged = json.dumps(detail, sort_keys=True, separators=(",", ":")).replace("'", "''")
    target.unguarded("DELETE FROM audit_entries WHERE seq <= 12")
    target.owner(
        *(
            ["DROP TRIGGER audit_no_update"]
            if "--log" in target.args
            else ["ALTER TABLE audit_entries DISABLE TRIGGER audit_no_change"]
        ),
        f"UPDATE audit_entries SET detail = '{forged}' WHERE seq = 16",
    )
    code, output = target.cli("verify")
    assert code == 1 and "entry seq 16" in output and "content no longer matches" in output


def _forge_prune(target: Target, *, through: int, before: datetime, at: str) -> None:
    """Append a well-chained retention entry claiming a prune through ``through``."""
    log = target.open()
    try:
        forged = PruneCheckpoint(
            through_seq=through,
            through_hash=str(log.hash_at(through)),
            count=through,
            first_seq=1,
            first_at=OLD,
            last_at=OLD,
            before=before.isoformat(timespec="microseconds"),
            min_retention_days=MIN_RETENTION_DAYS,
        )
        log._append([prune_row(forged, operator="cli:intruder", at=at)])
    finally:
        log.close()
    target.unguarded(f"DELETE FROM audit_entries WHERE seq <= {through}")


def test_a_checkpoint_appended_to_skip_young_entries_is_detected(target: Target) -> None:
    _fill(target)
    _pruned(target)
    month_ago = datetime.now(UTC) - timedelta(days=30)
    _forge_prune(target, through=13, before=month_ago, at=utc_now())
    code, output = target.cli("verify")
    assert code == 1 and "less than the minimum 183 days before the prune" in output, output
    with pytest.raises(Exception, match="less than the minimum 183 days"):
        target.open()  # the service refuses to start on it too


def test_a_backdated_checkpoint_is_detected(target: Target) -> None:
    _fill(target)
    _pruned(target)
    _forge_prune(
        target,
        through=13,
        before=datetime(2024, 11, 1, tzinfo=UTC),
        at="2025-06-01T00:00:00.000000+00:00",  # 212 days after its cut-off, but backdated
    )
    code, output = target.cli("verify")
    assert code == 1 and "is dated before the entry it follows (seq 16" in output, output
    assert "backdated" in output


def test_a_prune_refuses_a_log_whose_guard_is_damaged(target: Target) -> None:
    _fill(target)
    target.owner(
        "DROP TRIGGER audit_no_update"
        if "--log" in target.args
        else "ALTER TABLE audit_entries DISABLE TRIGGER audit_no_change"
    )
    code, output = target.cli("prune", "--before", CUT)
    assert code == 1 and "not pruned while its append-only guard is damaged" in output, output
    assert _seqs(target) == list(range(1, 16))


def test_a_hand_delete_without_a_prune_is_named_as_missing(target: Target) -> None:
    _fill(target)
    target.unguarded("DELETE FROM audit_entries WHERE seq <= 10")
    code, output = target.cli("verify")
    assert code == 1 and "entries 1..10 are missing" in output, output


def test_an_auditors_checkpoint_inside_the_pruned_prefix_is_held_by_the_prune(
    target: Target, tmp_path: Path
) -> None:
    _fill(target)
    log = target.open()
    try:
        log_id, ten = log.log_id(), str(log.hash_at(10))
    finally:
        log.close()
    kept, forged = tmp_path / "kept.json", tmp_path / "forged.json"
    write_checkpoint(kept, Checkpoint(log_id=log_id, seq=10, hash=ten, time=utc_now()))
    write_checkpoint(forged, Checkpoint(log_id=log_id, seq=10, hash="f" * 64, time=utc_now()))
    _pruned(target)
    code, output = target.cli("verify", "--anchor", str(kept))
    assert code == 0 and "held: the checkpoint" in output, output
    code, output = target.cli("verify", "--anchor", str(forged))
    assert code == 1 and f"entry seq 10 was pruned with hash {ten}" in output, output
