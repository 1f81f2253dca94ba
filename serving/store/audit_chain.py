"""The audit log's hash chain: each entry's hash covers its content and the previous hash.

Triggers stop an honest client from changing a row, but anyone with write access to the
file can drop them. The chain makes such a change visible: an entry's ``entry_hash`` is the
SHA-256 of its canonical content (every column, ``seq`` and ``prev_hash`` included), and
``prev_hash`` is the previous entry's ``entry_hash`` (:data:`GENESIS` for the first). A
changed field breaks that entry's hash; a deleted or inserted entry breaks the ``seq``
sequence and the link of the entry after it. :func:`verify_chain` walks the log and names
the first broken link.

What a chain alone cannot show: entries removed from the end, or a chain recomputed from
scratch by someone who rewrote everything. The anchor (:mod:`serving.store.audit_anchor`,
in PostgreSQL the ``audit_anchor`` table) keeps a recent entry and its hash outside the
log for the first; for the second, an auditor exports a checkpoint (`earlyrisk audit-log
anchor --out FILE`) and keeps it where the operator cannot write
(:mod:`serving.store.audit_checkpoint`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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


class _Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchmany(self, size: int) -> list[Any]: ...


class Connection(Protocol):
    """What the chain walk needs of a connection: sqlite3's, or the PostgreSQL one of
    :class:`serving.store.connection.QmarkConnection` (both take ``?`` marks)."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> _Cursor: ...


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=True)
_PREV = HASHED_COLUMNS.index("prev_hash")


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an entry's hashed columns (as stored in SQLite).

    Floats are written by ``json`` as their shortest round-trip form and SQLite keeps REAL
    values bit-exact, so the hash recomputed from a read row equals the one written.
    """
    canonical = _ENCODER.encode([entry[column] for column in HASHED_COLUMNS])
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


def verify_chain(
    conn: Connection,
    *,
    after_seq: int = 0,
    after_hash: str = GENESIS,
    chunk: int = 10_000,
) -> ChainReport:
    """Walk every entry in ``seq`` order; stop at the first link that does not hold.

    Checked per entry: ``seq`` follows the previous one by 1 (a gap means deleted entries),
    ``prev_hash`` is the previous entry's hash (else an entry was removed or inserted), and
    the stored ``entry_hash`` is the hash of the content as it is now (else a field was
    changed after it was written). ``after_seq``/``after_hash`` start the walk after a
    head already trusted (the anchor's), for a quick check of what was appended since.
    """
    columns = ", ".join((*HASHED_COLUMNS, "entry_hash"))
    cursor = conn.execute(
        f"SELECT {columns} FROM audit_entries WHERE seq > ? ORDER BY seq", (after_seq,)
    )
    expected_seq, prev, count = after_seq + 1, after_hash, 0
    dumps, sha256 = _ENCODER.encode, hashlib.sha256
    while rows := cursor.fetchmany(chunk):
        for row in rows:
            # row[:-1] is HASHED_COLUMNS in order: the same list entry_hash() encodes.
            seq, stored, link = int(row[0]), row[-1], row[_PREV]
            if seq == expected_seq and link == prev:
                actual = sha256(dumps(list(row[:-1])).encode("utf-8")).hexdigest()
                if actual == stored:
                    prev, expected_seq, count = actual, seq + 1, count + 1
                    continue
            return _diagnose(row, expected_seq, prev, count)
    return ChainReport(entries=count, head_seq=expected_seq - 1, head_hash=prev)


def _diagnose(row: tuple[Any, ...], expected_seq: int, prev: str, count: int) -> ChainReport:
    """The report of the first entry that breaks the chain, saying how it breaks it."""
    entry = dict(zip((*HASHED_COLUMNS, "entry_hash"), row, strict=True))
    seq = int(entry["seq"])
    where = f"entry seq {seq} (score_id {entry['score_id']}, kind {entry['kind']})"
    head = expected_seq - 1
    if seq != expected_seq:
        missing = (
            f"entries {expected_seq}..{seq - 1} are missing"
            if seq > expected_seq
            else f"seq {seq} repeats or goes back (expected {expected_seq})"
        )
        return _broken(count, head, prev, seq, f"{where}: {missing}")
    if entry["prev_hash"] != prev:
        return _broken(
            count,
            head,
            prev,
            seq,
            f"{where}: prev_hash {entry['prev_hash']} does not match the previous "
            f"entry's hash {prev} (an entry was removed, inserted or rewritten)",
        )
    actual = entry_hash(entry)
    return _broken(
        count,
        head,
        prev,
        seq,
        f"{where}: its content no longer matches its hash (stored {entry['entry_hash']}, "
        f"content hashes to {actual}): a field was changed after the entry was written",
    )


def _broken(count: int, head_seq: int, head_hash: str, seq: int, problem: str) -> ChainReport:
    return ChainReport(
        entries=count, head_seq=head_seq, head_hash=head_hash, broken_seq=seq, problem=problem
    )


def hash_at(conn: Connection, seq: int) -> str | None:
    """The stored hash of entry ``seq``, or None when there is no such entry."""
    row = conn.execute("SELECT entry_hash FROM audit_entries WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else str(row[0])
