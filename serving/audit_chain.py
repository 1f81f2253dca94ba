"""The audit log's hash chain: each entry's hash covers its content and the previous hash.

Triggers stop an honest client from changing a row, but anyone with write access to the
file can drop them. The chain makes such a change visible: an entry's ``entry_hash`` is the
SHA-256 of its canonical content (every column, ``seq`` and ``prev_hash`` included), and
``prev_hash`` is the previous entry's ``entry_hash`` (:data:`GENESIS` for the first). A
changed field breaks that entry's hash; a deleted or inserted entry breaks the ``seq``
sequence and the link of the entry after it. :func:`verify_chain` walks the log and names
the first broken link.

What a chain alone cannot show: entries removed from the end, or a chain recomputed from
scratch by someone who rewrote everything. The anchor (:mod:`serving.audit_anchor`) keeps
a recent head outside the log for the first; for the second, an auditor records the head
hash `earlyrisk audit-log verify` prints somewhere the operator cannot write.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

#: Columns an entry's hash covers, in order (everything but ``entry_hash`` itself).
HASHED_COLUMNS: tuple[str, ...] = (
    "seq",
    "kind",
    "recorded_at",
    "request_id",
    "token_id",
    "role",
    "endpoint",
    "score_id",
    "family_id",
    "as_of",
    "model_version",
    "probability",
    "risk_level",
    "reasons",
    "decision",
    "reason",
    "detail",
    "prev_hash",
)


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an entry's hashed columns (as stored in SQLite).

    Floats are written by ``json`` as their shortest round-trip form and SQLite keeps REAL
    values bit-exact, so the hash recomputed from a read row equals the one written.
    """
    canonical = json.dumps(
        [entry[column] for column in HASHED_COLUMNS],
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=True,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking the chain: intact or the first broken link."""

    entries: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify_chain(conn: sqlite3.Connection, *, chunk: int = 10_000) -> ChainReport:
    """Walk every entry in ``seq`` order; stop at the first link that does not hold.

    Checked per entry: ``seq`` follows the previous one by 1 (a gap means deleted entries),
    ``prev_hash`` is the previous entry's hash (else an entry was removed or inserted), and
    the stored ``entry_hash`` is the hash of the content as it is now (else a field was
    changed after it was written).
    """
    columns = ", ".join((*HASHED_COLUMNS, "entry_hash"))
    cursor = conn.execute(f"SELECT {columns} FROM audit_entries ORDER BY seq")
    expected_seq, prev, count = 1, GENESIS, 0
    names = (*HASHED_COLUMNS, "entry_hash")
    while rows := cursor.fetchmany(chunk):
        for row in rows:
            entry = dict(zip(names, row, strict=True))
            seq = int(entry["seq"])
            where = f"entry seq {seq} (score_id {entry['score_id']}, kind {entry['kind']})"
            if seq != expected_seq:
                missing = (
                    f"entries {expected_seq}..{seq - 1} are missing"
                    if seq > expected_seq
                    else f"seq {seq} repeats or goes back (expected {expected_seq})"
                )
                return _broken(count, expected_seq - 1, prev, seq, f"{where}: {missing}")
            if entry["prev_hash"] != prev:
                return _broken(
                    count,
                    seq - 1,
                    prev,
                    seq,
                    f"{where}: prev_hash {entry['prev_hash']} does not match the previous "
                    f"entry's hash {prev} (an entry was removed, inserted or rewritten)",
                )
            actual = entry_hash(entry)
            if actual != entry["entry_hash"]:
                return _broken(
                    count,
                    seq - 1,
                    prev,
                    seq,
                    f"{where}: its content no longer matches its hash (stored "
                    f"{entry['entry_hash']}, content hashes to {actual}): a field was "
                    "changed after the entry was written",
                )
            prev, expected_seq, count = actual, seq + 1, count + 1
    return ChainReport(entries=count, head_seq=expected_seq - 1, head_hash=prev)


def _broken(count: int, head_seq: int, head_hash: str, seq: int, problem: str) -> ChainReport:
    return ChainReport(
        entries=count, head_seq=head_seq, head_hash=head_hash, broken_seq=seq, problem=problem
    )


def hash_at(conn: sqlite3.Connection, seq: int) -> str | None:
    """The stored hash of entry ``seq``, or None when there is no such entry."""
    row = conn.execute("SELECT entry_hash FROM audit_entries WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else str(row[0])
