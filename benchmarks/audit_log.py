"""Audit-log figures: the cost of a hash-chained, file-checked write, and of a chain walk.

``python -m benchmarks.audit_log`` (also ``python -m benchmarks audit_log``) writes 3,000
one-score transactions and 100 transactions of 1,000 scores into a fresh log in a
temporary folder (``synchronous=NORMAL``, so the figure is the log's own work, not the
disk's fsync), then walks the whole chain as ``earlyrisk audit-log verify`` and a
``full`` start do, then prunes it all (`audit-log prune`) and walks from the checkpoint.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import date
from pathlib import Path

from benchmarks.audit_records import score_record
from serving.store.audit_chain import ChainReport
from serving.store.audit_log import AuditLog, ScoreRecord
from serving.store.audit_prune import PruneCheckpoint

SINGLE = 3_000
BATCHES = 100
BATCH_SIZE = 1_000


#: Eight reasons per score, as the service logs them (indicator and contribution).
REASONS = [{"indicator": f"indicator_{i}", "contribution": 0.01 * i} for i in range(8)]


def _record(key: str) -> ScoreRecord:
    return score_record(
        key,
        request_id="bench",
        token_id="bench",
        family_id=f"F{key}",
        model_version="1",
        probability=0.2,
        reasons=REASONS,
    )


#: When the prune's entries were recorded: more than six months before any run of this.
OLD = "2025-01-01T08:00:00.000000+00:00"


def _prune_figures(path: Path) -> tuple[PruneCheckpoint | None, float, ChainReport]:
    """A log of BATCHES x BATCH_SIZE entries recorded on OLD plus a few recorded now, all of
    the old ones pruned (`earlyrisk audit-log prune --before 2025-06-01`), then the walk
    from the prune's checkpoint."""
    log = AuditLog(path, synchronous="NORMAL")
    try:
        for b in range(BATCHES):
            rows = [_record(f"o{b}_{i}") for i in range(BATCH_SIZE)]
            log._append([{**_row(r), "recorded_at": OLD} for r in rows])
        log.record_scores([_record(f"new{i}") for i in range(10)])
        started = time.perf_counter()
        pruned = log.prune(date(2025, 6, 1), operator="bench")
        prune = time.perf_counter() - started
        return pruned, prune, log.verify()
    finally:
        log.close()


def _row(record: ScoreRecord) -> dict[str, object]:
    """The stored columns of a score record (as :meth:`AuditLog.record_scores` writes them)."""
    fields = {k: v for k, v in record.__dict__.items() if k != "reasons"}
    return {"kind": "score", **fields, "reasons": json.dumps(record.reasons)}


def main() -> None:
    """Print the write, verify and prune figures."""
    with tempfile.TemporaryDirectory() as folder:
        log = AuditLog(Path(folder) / "audit_log.sqlite", synchronous="NORMAL")
        started = time.perf_counter()
        for i in range(SINGLE):
            log.record_scores([_record(f"s{i}")])
        single = (time.perf_counter() - started) / SINGLE
        started = time.perf_counter()
        for b in range(BATCHES):
            log.record_scores([_record(f"b{b}_{i}") for i in range(BATCH_SIZE)])
        batched = (time.perf_counter() - started) / (BATCHES * BATCH_SIZE)
        started = time.perf_counter()
        report = log.verify()
        walk = time.perf_counter() - started
        log.close()
        pruned, prune, after = _prune_figures(Path(folder) / "old_log.sqlite")
    print(f"audit log, one score per transaction: {single * 1e6:,.0f} us per write")
    print(f"audit log, {BATCH_SIZE:,} scores per transaction: {batched * 1e6:,.1f} us per score")
    print(
        f"hash-chain walk: {report.entries:,} entries in {walk:.2f} s "
        f"({walk / report.entries * 1e6:.0f} us per entry); intact={report.intact}"
    )
    assert pruned is not None
    print(
        f"audit-log prune: {pruned.count:,} entries removed in {prune:.2f} s "
        f"({prune / pruned.count * 1e6:.1f} us per entry, {prune / walk:.2f}x the chain walk); "
        f"walk after it: {after.entries} entries from the checkpoint, intact={after.intact}"
    )


if __name__ == "__main__":
    main()
