"""The bodies of ``POST /correction`` (issue 23): strict request, documented response.

One endpoint for the three steps, chosen by ``op``: ``file`` (a caseworker, on a family's
behalf), ``decide`` (a registry officer) and ``list``. Like every request model of the
service it is strict (an unknown field is refused naming it) and its limits come from the
settings; :func:`correction_request_model` is registered in
:func:`serving.schemas.request_models`, so the gate checks the body before the handler runs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

from serving.settings import ServingSettings

Op = Literal["file", "decide", "list"]
Action = Literal["void", "amend"] | None
DecisionIn = Literal["accepted", "rejected"] | None
StatusIn = Literal["requested", "accepted", "rejected"] | None

# The steps' field types (Any: create_model takes them as values, which mypy cannot type).
_OP_FILE: Any = Literal["file"]
_OP_DECIDE: Any = Literal["decide"]
_OP_LIST: Any = Literal["list"]
_TABLE: Any = Literal["events"]
_ACTION: Any = Literal["void", "amend"]
_FIELD: Any = Literal["value", "detail", "event_date"] | None
_DECISION: Any = Literal["accepted", "rejected"]
_STATUS: Any = StatusIn
_VALUE: Any = str | float | None

_CONTROL = "\\x00-\\x1f\\x7f"
_PRINTABLE = f"^[^{_CONTROL}]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def correction_request_model(settings: ServingSettings) -> type[BaseModel]:
    """The strict request body of ``/correction`` with the settings' limits: one schema per
    step, chosen by ``op`` (a discriminated union), so the document says which fields each
    step requires and a client generated from it sends what the step needs."""
    text: Any = Annotated[
        str, Field(min_length=1, max_length=settings.max_id_length, pattern=_PRINTABLE)
    ]
    family = (text, Field(description="The family."))
    file_step = create_model(
        "CorrectionFileRequest",
        __base__=_Strict,
        __doc__="File a correction of one record on the family's behalf (caseworker).",
        op=(_OP_FILE, Field(description="file")),
        family_id=family,
        record_table=(_TABLE, Field(description="The record's table (events).")),
        record_id=(text, Field(description="The record's key (event_id).")),
        action=(
            _ACTION,
            Field(description="void (a wrong record) or amend (one field)."),
        ),
        field=(
            _FIELD,
            Field(default=None, description="amend: the field corrected."),
        ),
        new_value=(
            _VALUE,
            Field(default=None, description="amend: the correct value of the field."),
        ),
        document_ref=(text, Field(description="The documents' reference.")),
    )
    decide_step = create_model(
        "CorrectionDecideRequest",
        __base__=_Strict,
        __doc__="Decide a correction (registry officer): the family is re-scored.",
        op=(_OP_DECIDE, Field(description="decide")),
        correction_id=(text, Field(description="The correction.")),
        decision=(_DECISION, Field(description="accepted or rejected.")),
    )
    list_step = create_model(
        "CorrectionListRequest",
        __base__=_Strict,
        __doc__="List corrections (of one family, of one status).",
        op=(_OP_LIST, Field(description="list")),
        family_id=(text | None, Field(default=None, description="Only this family.")),
        status=(_STATUS, Field(default=None, description="Only this status.")),
    )
    step: Any = Annotated[file_step | decide_step | list_step, Field(discriminator="op")]
    return create_model(
        "CorrectionRequest",
        __base__=RootModel[step],
        __doc__="File, decide or list corrections of a family's records (by `op`).",
    )


class CorrectionResponse(BaseModel):
    """What ``/correction`` answers: the correction (file, decide) and, for a decision, the
    family's score before and after with the diff; or the list."""

    model_config = ConfigDict(extra="forbid")

    request_id: str
    correction: dict[str, Any] | None = Field(default=None, description="The correction.")
    as_of: str | None = Field(default=None, description="decide: the snapshot date re-scored.")
    model_version: str | None = Field(default=None, description="decide: the model.")
    before: dict[str, Any] | None = Field(
        default=None, description="decide: probability, level and reasons before."
    )
    after: dict[str, Any] | None = Field(
        default=None, description="decide: probability, level and reasons after."
    )
    diff: dict[str, Any] | None = Field(
        default=None,
        description="decide: probability change, whether the level changed, reasons gone/new.",
    )
    corrections: list[dict[str, Any]] | None = Field(
        default=None, description="list: the corrections, each decided one with its diff."
    )
