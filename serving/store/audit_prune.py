"""Pruning the audit log: remove the entries past retention, keep a checkpoint of them.

Logs are kept as long as the law asks (the EU AI Act, Art. 26(6): at least six months) and
no longer than needed. A hash chain cannot simply lose its first entries: the first entry
left would link to a hash nobody can check, and a delete by hand would look the same. So
the prune is a deliberate act with a record of its own:

* one ``retention`` entry, appended in the same transaction as the delete, holds the
  **checkpoint** of the removed prefix: its last ``seq`` and hash, how many entries, the
  first and last ``recorded_at`` of the removed range, the cut-off date and the minimum age
  in force. Being an entry, it is hash-chained: changing it breaks the chain;
* the delete goes through the append-only guard deliberately (SQLite: the delete trigger
  dropped and recreated inside the transaction, and the schema fingerprint recorded anew;
  PostgreSQL: the trigger disabled and enabled inside the transaction, under the audit
  advisory lock), so outside this path a delete is still refused;
* :func:`chain_start` is where every walk of the chain begins: at :data:`GENESIS` when
  nothing was pruned, else at the latest prune's checkpoint, after checking that the
  checkpoint is consistent with the log (the first entry left follows it, its cut-off is
  at least the minimum age before the prune, the prune is not dated before the entry it
  follows). Entries removed by hand beyond a checkpoint, or a checkpoint forged to skip
  entries, are therefore named by ``earlyrisk audit-log verify`` and refused at start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from features.errors import EarlyriskError
from serving.store.audit_chain import GENESIS, ChainReport, Connection, verify_chain

#: The least age an entry must have to be pruned (six months: EU AI Act Art. 26(6)).
MIN_RETENTION_DAYS = 183

#: The ``decision`` of a prune's ``retention`` entry (the kind is shared with `retention apply`).
PRUNE = "prune"

_LATEST_PRUNE_SQL = (
    "SELECT seq, recorded_at, detail FROM audit_entries WHERE kind = 'retention' "
    "AND decision = 'prune' ORDER BY seq DESC LIMIT 1"
)


class PruneRefused(EarlyriskError, ValueError):
    """A prune that would cut entries younger than the retention allows, or nothing."""


@dataclass(frozen=True)
class PruneCheckpoint:
    """What a prune recorded of the prefix it removed (``seq`` 1..``through_seq`` in total,
    this prune's ``count`` of them from ``first_seq`` on)."""

    through_seq: int
    through_hash: str
    count: int
    first_seq: int
    first_at: str
    last_at: str
    before: str
    min_retention_days: int
    entry_seq: int = 0  # the retention entry that records it
    entry_at: str = ""

    def detail(self) -> dict[str, Any]:
        """The checkpoint as the retention entry's ``detail``."""
        return {
            "action": PRUNE,
            "through_seq": self.through_seq,
            "through_hash": self.through_hash,
            "count": self.count,
            "first_seq": self.first_seq,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "before": self.before,
            "min_retention_days": self.min_retention_days,
        }

    def describe(self) -> str:
        """``entries 1..40 (40 removed by this prune, 2025-01-02 .. 2025-05-30)``."""
        return (
            f"entries {self.first_seq}..{self.through_seq} recorded {self.first_at} .. "
            f"{self.last_at} ({self.count} entries, before {self.before}; last hash "
            f"{self.through_hash}), pruned by entry seq {self.entry_seq} at {self.entry_at}"
        )


def latest_prune(conn: Connection) -> PruneCheckpoint | None:
    """The checkpoint of the latest prune recorded in the log, None when never pruned."""
    row = conn.execute(_LATEST_PRUNE_SQL, ()).fetchone()
    return None if row is None else checkpoint_of(row)


def checkpoint_of(row: Any) -> PruneCheckpoint:
    """The checkpoint in a retention entry's ``(seq, recorded_at, detail)``."""
    detail = json.loads(row[2])
    return PruneCheckpoint(
        through_seq=int(detail["through_seq"]),
        through_hash=str(detail["through_hash"]),
        count=int(detail["count"]),
        first_seq=int(detail["first_seq"]),
        first_at=str(detail["first_at"]),
        last_at=str(detail["last_at"]),
        before=str(detail["before"]),
        min_retention_days=int(detail["min_retention_days"]),
        entry_seq=int(row[0]),
        entry_at=str(row[1]),
    )


@dataclass(frozen=True)
class ChainStart:
    """Where the chain walk begins: after ``seq`` with ``hash`` (or why it cannot)."""

    seq: int = 0
    hash: str = GENESIS
    pruned: PruneCheckpoint | None = None
    problem: str | None = None


def chain_start(conn: Connection) -> ChainStart:
    """Where a full walk of the chain starts, checked against the latest prune checkpoint.

    Never pruned: at :data:`GENESIS` (a missing first entry is then the walk's finding).
    Pruned: after the checkpoint, when the log agrees with it; otherwise ``problem`` says
    how it does not (what the walk would otherwise accept without question).
    """
    checkpoint = latest_prune(conn)
    if checkpoint is None:
        return ChainStart()
    first_row = conn.execute("SELECT MIN(seq) FROM audit_entries", ()).fetchone()
    first = int(first_row[0]) if first_row is not None and first_row[0] is not None else 0
    problem = _inconsistency(conn, checkpoint, first)
    return ChainStart(
        seq=checkpoint.through_seq,
        hash=checkpoint.through_hash,
        pruned=checkpoint,
        problem=problem,
    )


def _inconsistency(conn: Connection, checkpoint: PruneCheckpoint, first: int) -> str | None:
    what = f"the prune checkpoint (entry seq {checkpoint.entry_seq}: {checkpoint.describe()})"
    if checkpoint.entry_seq <= checkpoint.through_seq:
        return f"{what} claims to have removed itself: it was forged"
    if first != checkpoint.through_seq + 1:
        gone = (
            f"entries {checkpoint.through_seq + 1}..{first - 1} are missing beyond it: they "
            "were removed by hand, not by `earlyrisk audit-log prune`"
            if first > checkpoint.through_seq + 1
            else f"entry seq {first}, which it records as removed, is still there: it was forged"
        )
        return f"{what} does not match the log: {gone}"
    before = datetime.fromisoformat(checkpoint.before)
    pruned_at = datetime.fromisoformat(checkpoint.entry_at)
    if pruned_at - before < timedelta(days=MIN_RETENTION_DAYS):
        return (
            f"{what} cut entries recorded up to {checkpoint.before}, less than the minimum "
            f"{MIN_RETENTION_DAYS} days before the prune itself: it was forged or backdated"
        )
    if checkpoint.last_at >= checkpoint.before:
        return f"{what} records entries at or after its own cut-off: it was forged"
    row = conn.execute(
        "SELECT recorded_at FROM audit_entries WHERE seq = ?", (checkpoint.entry_seq - 1,)
    ).fetchone()
    if row is not None and str(row[0]) > checkpoint.entry_at:
        return (
            f"{what} is dated before the entry it follows (seq {checkpoint.entry_seq - 1}, "
            f"recorded {row[0]}): it was backdated"
        )
    return None


def cutoff_problem(before: date, *, today: date, retention_days: int) -> str | None:
    """Why ``--before`` may not be used (None when it may): it must be at least the
    retention period (itself at least :data:`MIN_RETENTION_DAYS`) before today."""
    keep = max(retention_days, MIN_RETENTION_DAYS)
    latest_allowed = today - timedelta(days=keep)
    if before > latest_allowed:
        return (
            f"--before {before.isoformat()} would remove entries younger than the retention "
            f"period of {keep} days (the minimum is {MIN_RETENTION_DAYS} days, about six "
            f"months): the latest date allowed today is {latest_allowed.isoformat()}"
        )
    return None


def cutoff_text(before: date) -> str:
    """The cut-off as stored entries compare: midnight UTC of ``before``."""
    return datetime(before.year, before.month, before.day, tzinfo=UTC).isoformat(
        timespec="microseconds"
    )


def plan_prune(conn: Connection, before: date) -> PruneCheckpoint | None:
    """The checkpoint of the prefix recorded before ``before`` (None: nothing to prune).

    The prefix ends before the first entry recorded on or after the cut-off, so it is a
    prefix of the chain even where two replicas' clocks put a few entries out of order.
    """
    cut = cutoff_text(before)
    start = chain_start(conn)
    young = conn.execute(
        "SELECT MIN(seq) FROM audit_entries WHERE recorded_at >= ?", (cut,)
    ).fetchone()
    head = conn.execute("SELECT MAX(seq) FROM audit_entries", ()).fetchone()
    through = (
        int(young[0]) - 1
        if young is not None and young[0] is not None
        else int(head[0] or 0)
        if head is not None
        else 0
    )
    if through <= start.seq:
        return None
    row = conn.execute(
        "SELECT MIN(recorded_at), MAX(recorded_at), COUNT(*) FROM audit_entries "
        "WHERE seq > ? AND seq <= ?",
        (start.seq, through),
    ).fetchone()
    last = conn.execute("SELECT entry_hash FROM audit_entries WHERE seq = ?", (through,)).fetchone()
    return PruneCheckpoint(
        through_seq=through,
        through_hash=str(last[0]),
        count=int(row[2]),
        first_seq=start.seq + 1,
        first_at=str(row[0]),
        last_at=str(row[1]),
        before=cut,
        min_retention_days=MIN_RETENTION_DAYS,
    )


def prune_row(checkpoint: PruneCheckpoint, *, operator: str, at: str) -> dict[str, Any]:
    """The ``retention`` entry of a prune (appended in the prune's transaction, ``at``
    taken inside it, so it is never dated before the entry it follows)."""
    return {
        "kind": "retention",
        "recorded_at": at,
        "request_id": f"prune:{checkpoint.through_seq}",
        "token_id": operator,
        "role": "operator",
        "endpoint": "audit-log prune",
        "score_id": f"retention:prune:{checkpoint.through_seq}",
        "decision": PRUNE,
        "reason": f"entries recorded before {checkpoint.before[:10]} are past retention",
        "detail": json.dumps(checkpoint.detail(), sort_keys=True, separators=(",", ":")),
    }


def verify_from_start(conn: Connection) -> ChainReport:
    """Walk the whole chain: from :data:`GENESIS`, or from the latest prune's checkpoint
    once :func:`chain_start` found the log consistent with it."""
    start = chain_start(conn)
    if start.problem is not None:
        return ChainReport(
            entries=0,
            head_seq=start.seq,
            head_hash=start.hash,
            broken_seq=start.seq + 1,
            problem=start.problem,
        )
    return verify_chain(conn, after_seq=start.seq, after_hash=start.hash)
