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
    """One indicator's part in the score, in the request's language."""

    indicator: str = Field(description="Indicator name in the feature catalogue.")
    kind: Literal["need", "context", "support"] = Field(
        description="need: a difficulty the family has (the only kind shown as a reason); "
        "context: household composition; support: help the family receives."
    )
    kind_name: str = Field(description="The kind in the request's language.")
    domain: str = Field(description="Catalogue domain (economic, social, housing, ...).")
    description: str = Field(description="What the indicator means, for a caseworker.")
    value: str = Field(
        description="The family's value as a person reads it: rounded, with its unit, or "
        "the missing value in words ('no income recorded in the last 90 days'). Never empty."
    )
    value_number: float | None = Field(
        description="The rounded value as a number; null = not recorded."
    )
    unit: str = Field(description="Unit from the catalogue: KZT, days, count, yes/no, ...")
    contribution: float = Field(
        description="How much this indicator moves the family's probability away from "
        "baseline_probability, in probability units (0.031 = 3.1 percentage points); "
        "> 0 raised it, < 0 lowered it."
    )
    contribution_text: str = Field(description="The contribution in percentage points, worded.")


class BandOut(_Body):
    """One risk level, its cut-offs and what it means."""

    level: Literal["low", "elevated", "high"]
    name: str = Field(description="The level in the request's language.")
    min_probability: float = Field(description="Lowest probability of the band.")
    max_probability: float | None = Field(
        description="The next band's lower bound (not included); null for the top band."
    )
    families: int = Field(description="Eligible families in this band on the reference date.")
    meaning: str = Field(description="What the band means, with its cut-offs.")


class ScoredFamily(_Body):
    """A family's explained, advisory score."""

    status: Literal["scored"] = "scored"
    family_id: str | None = Field(description="The family scored (null for /score_indicators).")
    score_id: str = Field(description="Quote this id in /feedback; it names the logged score.")
    lang: Literal["en", "ru", "kk"] = Field(description="Language of every text in this result.")
    probability: float = Field(ge=0.0, le=1.0, description="Calibrated probability of the label.")
    baseline_probability: float = Field(
        ge=0.0,
        le=1.0,
        description="The population baseline the contributions start from: the calibrated "
        "probability at the model's expected score. baseline + contribution_by_kind = "
        "probability.",
    )
    risk_level: Literal["low", "elevated", "high"] = Field(
        description="Band of the probability (see risk_bands)."
    )
    risk_level_name: str = Field(description="The level in the request's language.")
    risk_bands: list[BandOut] = Field(
        description="Every band's cut-offs and meaning: 'high' is the families caseworkers "
        "can reach (capacity), 'elevated' a multiple of the average probability."
    )
    percentile: float = Field(
        ge=0.0,
        le=100.0,
        description="Share (%) of eligible families in the reference population scored at "
        "or below, to one decimal.",
    )
    reasons_raising: list[ReasonOut] = Field(
        description="Needs that raised the probability, strongest first (never context or "
        "support received; none under the contribution threshold)."
    )
    reasons_lowering: list[ReasonOut] = Field(description="Needs that lowered it.")
    context: list[ReasonOut] = Field(
        description="Household composition and support received that the model used, "
        "largest contribution first: shown as context, never as reasons."
    )
    contribution_by_kind: dict[str, float] = Field(
        description="Sum of all contributions per kind (need, context, support), shown or "
        "not; they add up to probability - baseline_probability."
    )
    model_version: str
    snapshot_date: str | None = Field(description="As-of date of the indicators (ISO).")
    advisory_notice: str


class ScoreError(_Body):
    """One requested family that could not be scored (the rest of the batch is)."""

    status: Literal["error"] = "error"
    family_id: str
    error: str


ScoreItem = Annotated[ScoredFamily | ScoreError, Field(discriminator="status")]


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
