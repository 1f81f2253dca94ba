"""Response bodies of the worklist and of a family's case (``/worklist``, ``/family``).

Apart from :mod:`serving.schemas` so the case's shapes stay in one small module;
:mod:`serving.schemas` uses :class:`CaseOut` in ``FamilyResponse``. Responses forbid extra
fields: what a client sees is exactly what is documented.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["new", "viewed", "decided", "follow_up_due", "contested"]
Level = Literal["low", "elevated", "high"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecisionInForce(_Body):
    """The decision in force on a case: who, when (service time zone), why."""

    seq: int = Field(description="Its audit-log seq (a feedback entry).")
    decision: str
    decision_name: str = Field(description="The decision in the request's language.")
    reason: str | None
    token_id: str | None = Field(description="The token id of the caseworker who decided.")
    recorded_at: str = Field(
        description="When, ISO 8601 in the service's time zone with its offset "
        "(2026-12-07T13:36:00+05:00)."
    )


class CaseDecisionOut(DecisionInForce):
    """One decision of a case's history (superseded ones included)."""

    follow_up: str | None = Field(description="The follow-up date it set (ISO), or null.")
    supersedes_seq: int | None = Field(
        description="The audit-log seq of the decision it superseded; null for the first."
    )
    in_force: bool = Field(description="True for the decision in force.")


class CaseOut(_Body):
    """A family's case for the snapshot and model version: its one score and status."""

    score_id: str = Field(description="The case's one score (its reasons are in the audit log).")
    model_version: str
    snapshot_date: str
    probability: float
    risk_level: Level
    risk_level_name: str
    status: Status
    status_name: str = Field(description="The status in the request's language.")
    first_flagged: str | None = Field(
        description="The date the family was first at the high level (ISO, service time "
        "zone); null when it never was."
    )
    days_flagged: int | None = Field(description="Days since first flagged; null if never.")
    follow_up: str | None = Field(description="Follow-up date of the decision in force (ISO).")
    decision: DecisionInForce | None = Field(description="The decision in force, or null.")
    history: list[CaseDecisionOut] = Field(
        description="Every decision on the case, oldest first; each names the one it superseded."
    )
    time_zone: str = Field(description="The service's time zone (IANA name).")


class WorklistItem(_Body):
    """One flagged family on the worklist."""

    family_id: str
    region: str | None
    score_id: str = Field(description="The case's one score; quote it in /feedback.")
    probability: float | None  # None: withheld (the display hold-out)
    risk_level: Level | None
    risk_level_name: str
    status: Status
    status_name: str
    first_flagged: str | None
    days_flagged: int | None = Field(description="Days since the family was first flagged.")
    follow_up: str | None
    decision: DecisionInForce | None


class WorklistFilters(_Body):
    region: str | None
    level: Level
    status: Status | None


class WorklistResponse(_Body):
    """A page of the caseworker's worklist: the families at the level (default high) of the
    latest snapshot in the token's regions, highest probability first."""

    request_id: str
    snapshot_date: str
    model_version: str
    lang: Literal["en", "ru", "kk"]
    time_zone: str = Field(description="The time zone of every time and of 'today'.")
    today: str = Field(description="Today's date in the service's time zone.")
    filters: WorklistFilters
    regions: list[str] = Field(description="The regions this token may filter by.")
    counts: dict[Status, int] = Field(
        description="Families per status, before the status filter (region and level apply)."
    )
    total: int = Field(description="Families matching every filter.")
    page: int
    pages: int = Field(description="Pages of page_size families (at least 1).")
    page_size: int
    items: list[WorklistItem]
