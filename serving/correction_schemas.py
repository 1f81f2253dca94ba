"""The bodies of ``POST /correction`` (issue 23): strict request, documented response.

One endpoint for the three steps, chosen by ``op``: ``file`` (a caseworker, on a family's
behalf), ``decide`` (a registry officer) and ``list``. Like every request model of the
service it is strict (an unknown field is refused naming it) and its limits come from the
settings; :func:`correction_request_model` is registered in
:func:`serving.schemas.request_models`, so the gate checks the body before the handler runs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from serving.settings import ServingSettings

Op = Literal["file", "decide", "list"]
Action = Literal["void", "amend"] | None
DecisionIn = Literal["accepted", "rejected"] | None
StatusIn = Literal["requested", "accepted", "rejected"] | None

_CONTROL = "\\x00-\\x1f\\x7f"
_PRINTABLE = f"^[^{_CONTROL}]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def correction_request_model(settings: ServingSettings) -> type[BaseModel]:
    """The strict request body of ``/correction`` with the settings' limits."""
    text: Any = Annotated[
        str | None, Field(min_length=1, max_length=settings.max_id_length, pattern=_PRINTABLE)
    ]
    return create_model(
        "CorrectionRequest",
        __base__=_Strict,
        __doc__="File, decide or list corrections of a family's records.",
        op=(
            Op,
            Field(description="file (caseworker), decide (registry officer) or list."),
        ),
        family_id=(text, Field(default=None, description="file, list: the family.")),
        record_table=(text, Field(default=None, description="file: the record's table (events).")),
        record_id=(text, Field(default=None, description="file: the record's key (event_id).")),
        action=(
            Action,
            Field(default=None, description="file: void (wrong record) or amend (one field)."),
        ),
        field=(text, Field(default=None, description="file, amend: value, detail or event_date.")),
        new_value=(
            str | float | None,
            Field(default=None, description="file, amend: the correct value of the field."),
        ),
        document_ref=(text, Field(default=None, description="file: the documents' reference.")),
        correction_id=(text, Field(default=None, description="decide: the correction.")),
        decision=(
            DecisionIn,
            Field(default=None, description="decide: accepted or rejected."),
        ),
        status=(
            StatusIn,
            Field(default=None, description="list: only corrections with this status."),
        ),
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
