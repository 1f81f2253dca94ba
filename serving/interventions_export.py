"""The service's decisions as the raw-data contract's ``interventions`` table.

Every caseworker decision is a ``feedback`` entry of the audit log (decision, family, the
score it answered, who, when). ``earlyrisk interventions export`` turns the *current*
decision on each score (a later one supersedes an earlier one; both stay in the log) into
one row of ``interventions`` (docs/data_contract.md), so that the next training and the
evaluation know which families were offered support (docs/interventions.md):

* ``intervention_id``: ``feedback-<seq>``, the decision's audit-log sequence number;
* ``offered_date``: the day the decision was recorded when it is ``support_offered``, else
  null (the caseworker decided not to offer);
* ``programme``: the decision's ``programme`` when its detail names one, else null;
* ``accepted``: the decision's ``accepted`` (yes/no) when its detail records the family's
  answer, else null (the service records offers, not answers);
* ``caseworker_id``: the token that recorded the decision (pseudonymous);
* ``score_shown``: ``no`` when the decision's or the score's detail marks the score as
  hidden (the display hold-out), else ``yes``;
* ``recorded_date``: the day the decision was recorded.

Reading is read-only (the log is never written) and the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import pandas as pd

from features.contract import column_names
from features.raw import coerce_table

OFFERING = "support_offered"

_QUERY = (
    "SELECT f.seq, f.recorded_at, f.token_id, f.score_id, "
    "COALESCE(f.family_id, s.family_id), f.decision, f.detail, s.detail "
    "FROM audit_entries AS f "
    "LEFT JOIN audit_entries AS s ON s.kind = 'score' AND s.score_id = f.score_id "
    "WHERE f.kind = 'feedback' ORDER BY f.seq"
)


class _Connection(Protocol):
    def execute(self, sql: str, parameters: Any = ...) -> Any: ...


def read_feedback(conn: _Connection) -> pd.DataFrame:
    """Every feedback entry with its score's detail, in log order."""
    rows = conn.execute(_QUERY).fetchall()
    return pd.DataFrame(
        [tuple(row) for row in rows],
        columns=[
            "seq",
            "recorded_at",
            "token_id",
            "score_id",
            "family_id",
            "decision",
            "detail",
            "score_detail",
        ],
    )


def _detail(text: object) -> dict[str, Any]:
    """A detail column as a mapping (an entry's detail is JSON or empty)."""
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _hidden(detail: dict[str, Any]) -> bool:
    return detail.get("score_shown") is False or detail.get("arm") == "holdout"


def _yes_no(value: object) -> str | None:
    if value is True or value == "yes":
        return "yes"
    if value is False or value == "no":
        return "no"
    return None


def interventions_from_feedback(feedback: pd.DataFrame) -> pd.DataFrame:
    """The contract's ``interventions`` table of the current decision on each score."""
    current = feedback.sort_values("seq").drop_duplicates("score_id", keep="last")
    current = current.loc[current["family_id"].notna()]
    rows = []
    for entry in current.itertuples(index=False):
        own, score = _detail(entry.detail), _detail(entry.score_detail)
        day = str(entry.recorded_at)[:10]
        offered = entry.decision == OFFERING
        rows.append(
            {
                "intervention_id": f"feedback-{int(entry.seq)}",
                "family_id": entry.family_id,
                "offered_date": day if offered else None,
                "programme": own.get("programme") if offered else None,
                "accepted": _yes_no(own.get("accepted")) if offered else None,
                "caseworker_id": entry.token_id,
                "score_id": entry.score_id,
                "score_shown": "no" if _hidden(own) or _hidden(score) else "yes",
                "recorded_date": day,
            }
        )
    frame = pd.DataFrame(rows, columns=column_names("interventions"), dtype=object)
    return coerce_table("interventions", frame)
