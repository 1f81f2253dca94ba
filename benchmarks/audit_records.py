"""The score record the audit-log benchmark and tests write: one builder, not one per file.

A served score as :class:`serving.store.audit_log.ScoreRecord` keeps it, with the values
every caller used (a caseworker's ``/score`` on the snapshot of 2024-12-31); a caller
names only what its case is about (the id, the level, the reasons, the probability).
"""

from __future__ import annotations

from typing import Any

from serving.store.audit_log import ScoreRecord


def score_record(score_id: str, risk_level: str = "elevated", **fields: Any) -> ScoreRecord:
    """A score record with id ``score_id`` and level ``risk_level``; ``fields`` override
    any other column (``family_id`` defaults to ``F-<score_id>``)."""
    values: dict[str, Any] = {
        "request_id": "req",
        "token_id": "tok",
        "role": "caseworker",
        "endpoint": "score",
        "family_id": f"F-{score_id}",
        "as_of": "2024-12-31",
        "model_version": "3",
        "probability": 0.25,
        "reasons": [],
    }
    values.update(fields)
    return ScoreRecord(score_id=score_id, risk_level=risk_level, **values)
