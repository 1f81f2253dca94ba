"""Request and response bodies of the scoring service.

These pydantic models are what the OpenAPI page at ``/docs.json`` shows a caseworker
system's developer, so every field says what it means. Responses forbid extra fields:
what a client sees is exactly what is documented. Requests are strict: an unknown field is
refused naming it, and a number must be a JSON number (``"5"``, ``true`` are refused). The
request models are built from the settings by :func:`request_models`, so the limits the
gate enforces and the limits the OpenAPI document states are the same numbers.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, create_model

from serving.case_schemas import CaseOut, Level, Status
from serving.correction_schemas import correction_request_model
from serving.settings import ServingSettings
from serving.store.audit_log import EntryKind
from serving.store.security_log import SecurityEvent

# referred: passed to another service; disagree: the caseworker disputes the score (the
# review page's four choices are support_offered, no_action, referred, disagree;
# override_higher / override_lower say in which direction, for systems that record it).
Decision = Literal[
    "support_offered", "no_action", "referred", "disagree", "override_higher", "override_lower"
]


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
    probability: float = Field(
        ge=0.0,
        le=1.0,
        description="Calibrated probability of the label, rounded to 4 decimals (0.01 "
        "percentage points); the level and percentile are set on this rounded value, and "
        "the audit log records it.",
    )
    baseline_probability: float = Field(
        ge=0.0,
        le=1.0,
        description="The population baseline the contributions start from: the calibrated "
        "probability at the model's expected score, rounded to 4 decimals. baseline + "
        "contribution_by_kind = probability (up to the rounding).",
    )
    risk_level: Literal["low", "elevated", "high", "expired"] = Field(
        description="Band of the probability (see risk_bands); 'expired' when the data "
        "scored (snapshot_date) is older than EARLYRISK_SCORE_EXPIRY_DAYS (default 180): "
        "an old score is never shown as a current level."
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
    needs_raising: list[ReasonOut] = Field(
        description="Every need that raised the probability by at least the contribution "
        "threshold, strongest first (reasons_raising is its first few)."
    )
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


class IneligibleFamily(_Body):
    """A requested family outside the scored population (e.g. no child in the household)."""

    status: Literal["ineligible"] = "ineligible"
    family_id: str
    reason: str = Field(description="Why the family is not scored, in plain words.")
    snapshot_date: str | None = Field(description="As-of date of the indicators (ISO).")
    model_version: str


class WithheldFamily(_Body):
    """A family in the display hold-out: scored and logged, its level hidden this cycle
    (serving.rollout). Nothing is withheld from the family; the decision is recorded on
    ``score_id`` as always."""

    status: Literal["withheld"] = "withheld"
    family_id: str
    score_id: str = Field(description="Quote this id in /feedback; it names the logged score.")
    lang: Literal["en", "ru", "kk"]
    reason: str = Field(description="That the level is withheld for evaluation, and why.")
    model_version: str
    snapshot_date: str | None
    advisory_notice: str


ScoreItem = Annotated[
    ScoredFamily | IneligibleFamily | WithheldFamily | ScoreError, Field(discriminator="status")
]


class ScoreResponse(_Body):
    """Results in request order: one scored family or one error per requested id."""

    request_id: str
    results: list[ScoreItem]


class SupersededDecision(_Body):
    """The decision a new one replaced as current: kept in the log, named with who and when."""

    seq: int = Field(description="Its audit-log seq.")
    decision: Decision
    token_id: str = Field(description="The token id of the caseworker who recorded it.")
    recorded_at: str = Field(description="When it was recorded (UTC, ISO 8601).")


class FeedbackResponse(_Body):
    """The stored decision; it is now the current one for the score."""

    request_id: str
    score_id: str
    decision: Decision
    recorded: bool = True
    supersedes_seq: int | None = Field(
        default=None,
        description="Audit-log seq of the earlier decision on this score that this one "
        "replaces (kept as history); null when it is the first.",
    )
    supersedes: SupersededDecision | None = Field(
        default=None,
        description="The earlier decision this one replaces as current, with who recorded "
        "it and when (another caseworker's included); null when it is the first.",
    )


class RecordOut(_Body):
    """One administrative record behind an indicator (never a person or protected field)."""

    event_type: str = Field(description="Event type code of the data contract.")
    detail: str | None = Field(description="Sub-type (benefit kind, inspection result...).")
    event_name: str = Field(description="The event type and its detail in the request's language.")
    event_date: str = Field(description="When it happened (ISO date).")
    recorded_date: str = Field(description="When it became known to the state systems.")
    source: str = Field(description="The agency system the record came from.")
    source_name: str = Field(
        description="The agency system in the request's language (its code when unknown)."
    )
    value: float | None = Field(description="Amount or measure, per the event type.")
    child_age: int | None = Field(
        default=None,
        description="A child's record: the child's age in whole years on the event date (a "
        "child is named by age, never by name); null otherwise.",
    )


class IndicatorOut(_Body):
    """One model input of the family as of the snapshot, with the records behind it."""

    indicator: str
    kind: Literal["need", "context", "support"]
    kind_name: str
    domain: str
    domain_name: str = Field(description="The domain in the request's language.")
    description: str
    value: str = Field(description="The value as a person reads it (rounded, with its unit).")
    value_number: float | None
    unit: str
    records: list[RecordOut] | None = Field(
        description="The records within the indicator's window, newest first; null when "
        "the service has no raw directory (EARLYRISK_RAW_DIR); [] for household "
        "composition and for an indicator with no record."
    )


class DecisionOut(_Body):
    """A caseworker decision recorded on a score."""

    seq: int = Field(description="Its audit-log seq.")
    recorded_at: str
    decision: str
    decision_name: str = Field(description="The decision in the request's language.")
    reason: str | None
    token_id: str
    current: bool = Field(description="True for the latest decision on its score.")


class HistoryItem(_Body):
    """A score served for the family (newest first) and the decisions on it."""

    score_id: str
    recorded_at: str
    endpoint: str = Field(description="score, review or batch.")
    endpoint_name: str = Field(description="Where it was served, in the request's language.")
    as_of: str | None
    model_version: str | None
    probability: float | None = Field(description="As served, rounded to 4 decimals.")
    risk_level: str | None
    risk_level_name: str
    decisions: list[DecisionOut]


class FamilyResponse(_Body):
    """One family's indicators, records and history (the view is on the audit log)."""

    request_id: str
    family_id: str
    as_of: str
    lang: Literal["en", "ru", "kk"]
    records_available: bool = Field(
        description="Whether the service holds the raw records (EARLYRISK_RAW_DIR)."
    )
    eligible: bool = Field(
        description="Whether the family is in the scored population on as_of (default rule: "
        "a child under 18 in the household); an ineligible family has no indicators."
    )
    ineligible_reason: str | None = Field(
        description="Why the family is not scored, in the request's language; null when "
        "it is eligible."
    )
    indicators: list[IndicatorOut]
    history: list[HistoryItem] = Field(description="The latest 50 scores, newest first.")
    advisory_notice: str
    case: CaseOut | None = Field(
        default=None,
        description="The family's case for the snapshot and the serving model version: its "
        "one score (reused by every view, never scored again), status, decision in force and "
        "follow-up; null while no case is open (the family was never flagged nor opened on "
        "the review page).",
    )


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
    """One row of the audit log (a served score, a feedback, a batch-run event, a view of a
    family or a governance act)."""

    seq: int
    kind: EntryKind
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
    detail: dict[str, Any] | None = Field(
        default=None,
        description="batch_run entries: output file, counts, error; governance entries: "
        "the person, the waived checks, the previous champion.",
    )
    prev_hash: str = Field(description="entry_hash of the entry before (hash chain).")
    entry_hash: str = Field(
        description="SHA-256 of this entry's content and prev_hash; "
        "`earlyrisk audit-log verify` checks the chain.",
    )
    current: bool | None = Field(
        default=None,
        description="Feedback only: true for the latest decision on its score, false for "
        "one a later decision superseded (kept as history); null for a score.",
    )


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


class SecurityEventOut(_Body):
    """One row of the security log: a refused attempt or an auditor's read."""

    seq: int
    recorded_at: str
    event: SecurityEvent
    request_id: str
    token_id: str | None = Field(description="The token id (never the token); null if none.")
    endpoint: str
    client: str | None = Field(description="The peer address the server saw.")
    detail: str | None


class SecurityLogPage(_Body):
    """A page of the security log; pass ``next_after_seq`` as ``after_seq`` for the next."""

    entries: list[SecurityEventOut]
    next_after_seq: int | None = Field(description="null when this is the last page.")


class ServedGroupCell(_Body):
    """One audit group's share of what was served in a period (counts and sums only)."""

    n: float
    selected: float
    score_sum: float
    score_sumsq: float


class ServedPeriod(_Body):
    """What one model version scored in one calendar month from one snapshot date."""

    model_name: str
    model_version: str
    month: str = Field(description="Scoring month (UTC), YYYY-MM.")
    snapshot_as_of: str | None = Field(
        description="Snapshot date of the rows scored; null for explicit indicators."
    )
    first_day: str
    last_day: str
    n: float = Field(description="Rows scored.")
    selected: float = Field(description="Rows at or above the reference's capacity threshold.")
    score_sum: float
    score_sumsq: float
    pca_error_sum: float
    pca_error_sumsq: float
    features: dict[str, dict[str, int]] = Field(
        description="Per model input: rows per reference bin index (the last is missing)."
    )
    score: dict[str, int] = Field(description="Rows per reference score bin index.")
    groups: dict[str, dict[str, ServedGroupCell | None]] = Field(
        description="Per audit column and group; null when under the minimum group size."
    )


class ServedStatsResponse(_Body):
    """Aggregate statistics of what the service scored (for `earlyrisk monitor`)."""

    format: Literal["earlyrisk.served_stats"]
    format_version: int
    since: str
    until: str
    recording: bool = Field(description="False when this service keeps no served statistics.")
    note: str | None = Field(description="Why nothing is recorded, when recording is false.")
    min_group_size: int
    unrecorded_batches: int = Field(
        description="Batches this worker scored but could not add to the statistics."
    )
    periods: list[ServedPeriod]


# --------------------------------------------------------------------------- requests

MAX_SEQ = 2**63 - 1
# No control characters (C0, DEL, C1) nor bidirectional overrides: they hide or reorder text
# in logs and screens. The same pattern is checked here and stated in the OpenAPI document.
_CONTROL = "\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069"
PRINTABLE_PATTERN = f"^[^{_CONTROL}]+$"
TEXT_PATTERN = f"^[^{_CONTROL}]*[^\\s{_CONTROL}][^{_CONTROL}]*$"  # and not blank
LANG_PATTERN = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$"  # a BCP 47-like language tag
MAX_INDICATORS = 1000  # names per /score_indicators body; the model has far fewer


def _integral(value: Any) -> Any:
    """A JSON number with no fraction (``10.0``, ``1e1``) is the integer JSON Schema says it
    is; anything else (a string, a boolean, ``10.5``) goes to the strict int check as sent."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ModelCardRequest(_Request):
    """/model_card takes no parameters: ``{}`` (or an empty body)."""


def _model(name: str, doc: str, fields: dict[str, Any]) -> type[BaseModel]:
    """A strict request model (field name -> (type, default or Field))."""
    return create_model(name, __base__=_Request, __doc__=doc, **fields)


def body_location(
    model: type[BaseModel], loc: tuple[int | str, ...], error_type: str
) -> tuple[int | str, ...]:
    """Where a validation error of ``model`` lies in the body as the client wrote it.

    A plain request model's locations are already the body's fields. A tagged body (one
    schema per step chosen by ``op``, a discriminated union under a ``RootModel``, e.g.
    ``/correction``) has pydantic put the chosen tag first in each location; the tag is
    not a field of the body, so it is dropped, and a missing or unknown tag is located at
    ``op``. Kept beside the models it describes, so the gate needs no knowledge of which
    bodies are tagged."""
    if not issubclass(model, RootModel):
        return loc
    where = loc[1:] if len(loc) > 1 else loc
    if not where and error_type.startswith("union_tag"):
        return ("op",)
    return where


def request_models(settings: ServingSettings) -> dict[str, type[BaseModel]]:
    """The strict request body model of each endpoint, with the settings' limits."""
    id_type: Any = Annotated[
        str, Field(min_length=1, max_length=settings.max_id_length, pattern=PRINTABLE_PATTERN)
    ]
    name_type: Any = Annotated[str, Field(min_length=1, max_length=settings.max_id_length)]
    page = settings.audit_page_limit
    seq: Any = Annotated[
        int,
        Field(ge=0, le=MAX_SEQ, description="Return entries after this seq."),
        BeforeValidator(_integral),
    ]
    limit: Any = Annotated[
        int,
        Field(ge=1, le=page, description="Most entries in the page."),
        BeforeValidator(_integral),
    ]
    family_ids: Any = Annotated[
        list[id_type],
        Field(
            min_length=1,
            max_length=settings.max_batch_size,
            description="Family ids to score, in the order results come back.",
        ),
    ]
    indicator_values: Any = Annotated[
        dict[name_type, float | None],
        Field(
            max_length=MAX_INDICATORS,
            description="Every model indicator by name; null = not recorded.",
        ),
    ]
    lang: Any = Annotated[
        str | None,
        Field(
            max_length=35,
            pattern=LANG_PATTERN,
            description="Language of the texts: en, ru or kk (default: the Accept-Language "
            "header, then English; an unknown language gets English).",
        ),
    ]
    # batch_run: the batch runs' own entries (written by `earlyrisk score`)
    kinds: Any = EntryKind | None
    events: Any = SecurityEvent | None
    return {
        "score": _model(
            "ScoreRequest",
            "Families to score from the feature snapshot.",
            {
                "family_ids": (family_ids, ...),
                "as_of": (
                    date | None,
                    Field(default=None, description="Snapshot date; default the latest."),
                ),
                "lang": (lang, None),
            },
        ),
        "score_indicators": _model(
            "ScoreIndicatorsRequest",
            "Explicit indicator values to score (no family lookup).",
            {"indicators": (indicator_values, ...), "lang": (lang, None)},
        ),
        "feedback": _model(
            "FeedbackRequest",
            "A caseworker's decision on a served score; a later one supersedes it.",
            {
                "score_id": (id_type, Field(description="The score_id of a served score.")),
                "decision": (Decision, ...),
                "reason": (
                    str,
                    Field(
                        min_length=1,
                        max_length=settings.max_reason_length,
                        pattern=TEXT_PATTERN,
                        description="Why, in one line without control characters; no names "
                        "or other personal details (the family is known from the score).",
                    ),
                ),
                "follow_up": (
                    date | None,
                    Field(
                        default=None,
                        description="A follow-up date (today or later in the service's time "
                        "zone; a past date is 400): the worklist shows the case as "
                        "follow_up_due from that day.",
                    ),
                ),
            },
        ),
        "family": _model(
            "FamilyRequest",
            "One family's indicators, records and score history.",
            {
                "family_id": (id_type, Field(description="The family to show.")),
                "as_of": (
                    date | None,
                    Field(default=None, description="Snapshot date; default the latest."),
                ),
                "lang": (lang, None),
            },
        ),
        "model_card": ModelCardRequest,
        "audit_log": _model(
            "AuditLogRequest",
            "A page of the audit log.",
            {"after_seq": (seq, 0), "limit": (limit, min(100, page)), "kind": (kinds, None)},
        ),
        "served_stats": _model(
            "ServedStatsRequest",
            "Aggregate statistics of what was scored between two days (inclusive, UTC).",
            {
                "since": (date, Field(description="First scoring day.")),
                "until": (date, Field(description="Last scoring day.")),
                "as_of": (
                    date | None,
                    Field(default=None, description="Only rows of this snapshot date."),
                ),
            },
        ),
        "security_log": _model(
            "SecurityLogRequest",
            "A page of the security log.",
            {"after_seq": (seq, 0), "limit": (limit, min(100, page)), "event": (events, None)},
        ),
        "worklist": _model(
            "WorklistRequest",
            "A page of the caseworker's worklist (the flagged families of the latest snapshot "
            "in the token's regions).",
            {
                "region": (
                    str | None,
                    Field(
                        default=None,
                        max_length=settings.max_id_length,
                        description="Only this region (one of the token's; else 400 naming "
                        "the allowed ones); default every region of the token.",
                    ),
                ),
                "level": (Level, Field(default="high", description="The level listed.")),
                "status": (Status | None, Field(default=None, description="Only this status.")),
                "page": (
                    Annotated[int, BeforeValidator(_integral)],
                    Field(default=1, ge=1, description="The page (past the end: 400)."),
                ),
                "page_size": (
                    Annotated[int, BeforeValidator(_integral)],
                    Field(
                        default=settings.worklist_page_size,
                        ge=1,
                        le=500,
                        description="Families per page.",
                    ),
                ),
                "lang": (lang, None),
            },
        ),
        # issue 23 (dossier lane)
        "dossier": _model(
            "DossierRequest",
            "A family's explanation record (HTML or PDF), for the family to read.",
            {
                "family_id": (id_type, Field(description="The family.")),
                "as_of": (
                    date | None,
                    Field(default=None, description="Snapshot date; default the latest."),
                ),
                "score_id": (
                    id_type | None,
                    Field(
                        default=None,
                        description="Explain this logged score of the family (default: its "
                        "latest on as_of by the serving model, else a new one).",
                    ),
                ),
                "lang": (lang, None),
                "format": (
                    Literal["html", "pdf"],
                    Field(default="html", description="html (text/html) or pdf."),
                ),
            },
        ),
        "correction": correction_request_model(settings),  # issue 23
    }
