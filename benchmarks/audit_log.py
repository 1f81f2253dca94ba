"""Audit-log figures: the cost of a hash-chained, file-checked write, and of a chain walk.

``python -m benchmarks.audit_log`` (also ``python -m benchmarks audit_log``) writes 3,000
one-score transactions and 100 transactions of 1,000 scores into a fresh log in a
temporary folder (``synchronous=NORMAL``, so the figure is the log's own work, not the
disk's fsync), then walks the whole chain as ``earlyrisk audit-log verify`` and a
``full`` start do.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.audit_records import score_record
from serving.store.audit_log import AuditLog, ScoreRecord

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


def main() -> None:
    """Print the write and verify figures."""
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
    print(f"audit log, one score per transaction: {single * 1e6:,.0f} us per write")
    print(f"audit log, {BATCH_SIZE:,} scores per transaction: {batched * 1e6:,.1f} us per score")
    print(
        f"hash-chain walk: {report.entries:,} entries in {walk:.2f} s "
        f"({walk / report.entries * 1e6:.0f} us per entry); intact={report.intact}"
    )


if __name__ == "__main__":
    main()
