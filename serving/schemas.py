"""Response bodies of the scoring service (request bodies are the API signatures).

These pydantic models are what the OpenAPI page at ``/docs.json`` shows a caseworker
system's developer, so every field says what it means. Responses forbid extra fields:
what a client sees is exactly what is documented.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Decision = Literal["support_offered", "no_action", "override_higher", "override_lower"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasonOut(_Body):
    """One indicator's part in the score, in plain language."""

    indicator: str = Field(description="Indicator name in the feature catalogue.")
    description: str = Field(description="What the indicator means, for a caseworker.")
    value: float | None = Field(description="The family's value; null = not recorded.")
    contribution: float = Field(
        description="Contribution to the model's log-odds; > 0 raised the risk, < 0 lowered it."
    )


class ScoredFamily(_Body):
    """A family's explained, advisory score."""

    status: Literal["scored"] = "scored"
    family_id: str | None = Field(description="The family scored (null for /score_indicators).")
    score_id: str = Field(description="Quote this id in /feedback; it names the logged score.")
    probability: float = Field(ge=0.0, le=1.0, description="Calibrated probability of the label.")
    risk_level: str = Field(description="Level from the configured probability bands.")
    percentile: float = Field(
        ge=0.0,
        le=100.0,
        description="Share (%) of families in the reference population scored at or below.",
    )
    reasons_raising: list[ReasonOut] = Field(description="Up to 5, strongest first.")
    reasons_lowering: list[ReasonOut] = Field(description="Up to 3, strongest first.")
    model_version: str
    snapshot_date: str | None = Field(description="As-of date of the indicators (ISO).")
    advisory_notice: str


class ScoreError(_Body):
    """One requested family that could not be scored (the rest of the batch is)."""

    status: Literal["error"] = "error"
    family_id: str
    error: str


class IneligibleFamily(_Body):
    """A requested family outside the scored population (e.g. no child in the household)."""

    status: Literal["ineligible"] = "ineligible"
    family_id: str
    reason: str = Field(description="Why the family is not scored, in plain words.")
    snapshot_date: str | None = Field(description="As-of date of the indicators (ISO).")
    model_version: str


ScoreItem = Annotated[ScoredFamily | IneligibleFamily | ScoreError, Field(discriminator="status")]


class ScoreResponse(_Body):
    """Results in request order: one scored family or one error per requested id."""

    request_id: str
    results: list[ScoreItem]


class FeedbackResponse(_Body):
    """The stored decision."""

    request_id: str
    score_id: str
    decision: Decision
    recorded: bool = True


class ModelCardResponse(_Body):
    """The serving model's identity and its card (from the training run)."""

    model_name: str
    model_version: str
    model_uri: str
    run_id: str | None
    model_sha256: str | None
    feature_list_sha256: str | None
    snapshot_date: str
    training_date: str | None = Field(description="When the training run started (UTC).")
    metrics: dict[str, float] = Field(description="Metrics logged by the training run.")
    intended_use: str
    card: dict[str, Any] | None = Field(
        description="model_card.json of the training run: metrics, fairness, intended use."
    )


class AuditEntry(_Body):
    """One row of the audit log (a served score or a feedback)."""

    seq: int
    kind: Literal["score", "feedback"]
    recorded_at: str
    request_id: str
    token_id: str
    role: str
    endpoint: str
    score_id: str
    family_id: str | None
    as_of: str | None
    model_version: str | None
    probability: float | None
    risk_level: str | None
    reasons: list[dict[str, Any]] | None
    decision: str | None
    reason: str | None


class AuditLogPage(_Body):
    """A page of the audit log; pass ``next_after_seq`` as ``after_seq`` for the next."""

    entries: list[AuditEntry]
    next_after_seq: int | None = Field(description="null when this is the last page.")


class ErrorBody(_Body):
    """Every refusal: a message for a person, and the request id to quote to support."""

    error: str
    request_id: str
    detail: list[dict[str, Any]] | None = Field(
        default=None,
        description="Only for a body that fails the endpoint's schema: pydantic's list of "
        "the fields and rules it broke (absent otherwise).",
    )
