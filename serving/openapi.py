"""The service's own OpenAPI document and an offline docs page.

BentoML derives ``/docs.json`` from the handler signatures: it lists no security scheme,
none of the refusals the service really answers, and its page embeds a third-party tag
manager. :func:`openapi_document` builds the contract from the same strict request models
the gate enforces (:func:`serving.schemas.request_models`) and the response models, plus
what only the loaded model knows: its version (``info.version``), the snapshot dates
``as_of`` may name and every indicator ``/score_indicators`` requires with its accepted
range. Every status each endpoint can answer is listed with the error body and headers.

The docs page is Swagger UI from the copy BentoML's wheel ships (no download, no CDN),
started by a script of ours; its Content-Security-Policy allows this origin only, so the
page cannot load anything from elsewhere even if a script tried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bentoml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from serving.case_schemas import WorklistResponse
from serving.correction_schemas import CorrectionResponse
from serving.schemas import (
    AuditLogPage,
    ErrorBody,
    FamilyResponse,
    FeedbackResponse,
    ModelCardResponse,
    ScoredFamily,
    ScoreResponse,
    SecurityLogPage,
    ServedStatsResponse,
    request_models,
)
from serving.settings import ServingSettings

REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "bearerAuth"

DESCRIPTION = """\
Explained, advisory family risk scores for caseworker systems. Every score served and every
caseworker decision is written to an append-only audit log before the answer leaves the
server; when the log cannot be written, no score is returned (503).

Every endpoint except the probes needs `Authorization: Bearer <token>` (tokens come from
`earlyrisk token create`; use the Authorize button to try calls here). Requests are checked
in this order, each refusal in the `ErrorBody` shape with an `X-Request-ID` header:
401 (no valid token, before the body is read; once the caller's address has sent
{failures} such requests in {window} s, the 401 carries Retry-After: back off. A request
with a valid token is never refused for them, and naming a token id without its secret
neither locks nor slows that token), 429 (over the token's own quota: {requests} requests
and {families} families a minute; see Retry-After), 403 (role), 415 (not
`application/json`), 413 (body over {body} bytes), 400 (the body breaks the schema or a
rule; the message names the field).

Rules the schemas state (a request breaking one is 400): no unknown field; no string for a
number nor a boolean for an integer; an empty body is read as `{{}}`, so an endpoint with
required fields refuses it naming them; text fields (a decision's `reason`) must not be
blank or hold control characters; at most {batch} ids per /score and {reason} characters
per reason; ids at most {ids} characters. Rules across fields, stated where they apply:
/served_stats refuses `until` before `since`; /feedback accepts only a score of a family
within the token's regions (another region's score is the same 404 as a score never
served).

Every answer on these paths carries `Cache-Control: no-store` (family data must not stay
in a cache). The caller's address (for the failure limit and the security log) is the
connecting peer's; `X-Forwarded-For` is believed only from the proxies the operator lists
in EARLYRISK_TRUSTED_PROXIES (none by default).

Probabilities (`probability`, `baseline_probability`, a family's history) are rounded to 4
decimals (0.01 percentage points), contributions too; percentiles to 1 decimal. The level
and percentile are set on the rounded probability, which is also what the audit log keeps.

The score is advisory: a caseworker decides, and records the decision through /feedback.
"""


@dataclass(frozen=True)
class ServedFacts:
    """What the running service serves, for the document (from the loaded engine)."""

    model_name: str
    model_version: str
    snapshot_dates: list[str]
    indicator_ranges: dict[str, tuple[float, float]]
    indicator_descriptions: dict[str, str] = field(default_factory=dict)
    metrics_enabled: bool = False
    # indicators the eligibility rule reads, with the least value a scored family has
    eligibility_minimums: dict[str, float] = field(default_factory=dict)
    eligibility_rule: str = ""
    # the regions of the snapshot (what /worklist's `region` may name)
    regions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Operation:
    endpoint: str
    summary: str
    roles: str
    ok: type[BaseModel]
    extra_statuses: tuple[int, ...] = ()


OPERATIONS: tuple[_Operation, ...] = (
    _Operation("score", "Explained risk scores of families", "caseworker, admin", ScoreResponse),
    _Operation(
        "score_indicators",
        "Explained score of explicit indicator values",
        "caseworker, admin",
        ScoredFamily,
    ),
    _Operation(
        "feedback",
        "Record the caseworker's decision on a served score",
        "caseworker, admin",
        FeedbackResponse,
        (404,),
    ),
    _Operation(
        "family",
        "One family's indicators with their records, score history and decisions",
        "caseworker, admin",
        FamilyResponse,
        (404,),
    ),
    _Operation(
        "model_card", "The serving model's identity and card", "auditor, admin", ModelCardResponse
    ),
    _Operation("audit_log", "A page of the audit log", "auditor, admin", AuditLogPage),
    _Operation("security_log", "A page of the security log", "auditor, admin", SecurityLogPage),
    _Operation(
        "served_stats",
        "Aggregate statistics of what was scored (no personal data)",
        "auditor, admin",
        ServedStatsResponse,
    ),
    _Operation(
        "worklist",
        "The caseworker's worklist: flagged families with status and decision in force",
        "caseworker, admin",
        WorklistResponse,
    ),
    _Operation(  # issue 23 (serving/correction_api.py)
        "correction",
        "File, decide or list corrections of a family's records",
        "caseworker (file, list), registry_officer (decide, list), admin",
        CorrectionResponse,
        (404, 409),
    ),
)

_STATUS_TEXT: dict[int, str] = {
    400: "The body breaks the schema or a rule; `error` names the field (input not echoed).",
    401: "Missing, malformed, unknown, expired or revoked token (checked before the body); "
    "with Retry-After once this address sent too many such requests.",
    403: "The token's role may not use this endpoint.",
    404: "The score_id was never served by this service or is of a family outside the "
    "token's regions (/feedback), or the family is not in the snapshot or outside the "
    "token's regions (/family).",
    413: "The body is larger than EARLYRISK_MAX_BODY_BYTES (not read).",
    415: "The body is not `application/json`.",
    409: "/correction: the record already has an open correction, or the correction was "
    "decided already; /dossier: the logged score no longer re-derives bit for bit from its "
    "model and the snapshot, so no explanation record is made of it.",
    429: "Over the token's own per-minute quota (requests or families); retry after "
    "Retry-After seconds.",
    500: "Unexpected error; quote the request_id to the operator.",
    503: "The audit or security log cannot be written, so nothing is returned; retry later.",
}

_REQUEST_ID_HEADER = {
    "description": "The request id; the audit log and the server log carry the same id.",
    "required": True,
    "schema": {"type": "string"},
}
_NO_STORE_HEADER = {
    "description": "Always `no-store`: family data and refusals are not kept in any cache.",
    "required": True,
    "schema": {"type": "string", "const": "no-store"},
}
_HEADERS = {"X-Request-ID": _REQUEST_ID_HEADER, "Cache-Control": _NO_STORE_HEADER}

#: Rules across fields, which a JSON Schema cannot state, in the operation's description.
_RULES: dict[str, str] = {
    "served_stats": " `until` must not be before `since` (else 400 naming `until`).",
    "worklist": " The families at `level` (default high: the caseworkers' capacity) of the "
    "latest snapshot in the token's regions, highest probability first; each family's score "
    "is computed once per snapshot and model version (the first call scores the flagged "
    "families as one batch) and reused by every view. Counted as one request in the quota "
    "(no family is scored for the caller). 400 naming the field and the allowed values: a "
    "`region` outside the token's, an unknown `status` or `level`, a `page` past the end.",
    "family": " Answers the family's case (`case`: its one score, status, decision in force) "
    "when one is open; a view never scores the family again.",
    "feedback": " Only on a score of a family within the token's regions (another region's "
    "score: 404, as a score never served; the refusal is in the security log). A later "
    "decision, by anyone, supersedes the current one: both stay in the audit log, and the "
    "answer names the superseded decision (`supersedes`: who recorded it and when). "
    "A `follow_up` date before today (service time zone) is 400 naming `follow_up`.",
}


def _response(description: str, schema_ref: str, headers: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": headers,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=schema_ref)}}},
    }


def _error_response(status: int) -> dict[str, Any]:
    headers: dict[str, Any] = dict(_HEADERS)
    if status == 401:
        headers["WWW-Authenticate"] = {
            "description": '`Bearer realm="earlyrisk"`',
            "required": True,
            "schema": {"type": "string"},
        }
        headers["Retry-After"] = {
            "description": "Present once this address sent too many requests without a "
            "valid token: seconds until its count clears.",
            "required": False,
            "schema": {"type": "integer", "minimum": 1},
        }
    if status == 429:
        headers["Retry-After"] = {
            "description": "Seconds to wait before the next attempt.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    return _response(_STATUS_TEXT[status], "ErrorBody", headers)


def _indicators_schema(facts: ServedFacts) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, (low, high) in facts.indicator_ranges.items():
        number: dict[str, Any] = {"type": "number", "minimum": low, "maximum": high}
        prop: dict[str, Any] = {"anyOf": [number, {"type": "null"}]}
        description = facts.indicator_descriptions.get(name, "")
        if name in facts.eligibility_minimums:
            # a family outside the scored population has no score: the value is required
            number["minimum"] = max(low, facts.eligibility_minimums[name])
            prop = number
            description += (
                f" Required, at least {facts.eligibility_minimums[name]:g}: the model scores "
                f"only families with {facts.eligibility_rule}; other values are refused (400)."
            )
        if description:
            prop["description"] = description.strip()
        properties[name] = prop
    return {
        "type": "object",
        "description": "Every model indicator by name (null = not recorded), within its range.",
        "properties": properties,
        "required": list(facts.indicator_ranges),
        "additionalProperties": False,
    }


def _text_plain(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _dossier_operation(schemas: dict[str, Any], facts: ServedFacts) -> dict[str, Any]:
    """``/dossier``: a JSON request, answered by an HTML page or a PDF (issue 23)."""
    schemas["DossierRequest"]["properties"]["as_of"] = {
        "anyOf": [
            {"type": "string", "format": "date", "enum": list(facts.snapshot_dates)},
            {"type": "null"},
        ],
        "default": None,
        "description": "Snapshot date (one held by the served snapshot); default the latest.",
    }
    responses: dict[str, Any] = {
        "200": {
            "description": "The family's explanation record (logged as a dossier entry).",
            "headers": dict(_HEADERS),
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }
    for status in (400, 401, 403, 404, 409, 413, 415, 429, 500, 503):
        responses[str(status)] = _error_response(status)
    return {
        "post": {
            "operationId": "dossier",
            "summary": "A family's explanation record (HTML or PDF), for the family to read",
            "description": "Roles: caseworker (families of its regions), auditor, admin. "
            "A family or score outside the token's "
            "regions is 404 like an unknown one (the refusal is in the security log); a "
            "score that no longer re-derives bit for bit from its model and the snapshot "
            "is 409.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(model="DossierRequest")}}
                },
            },
            "responses": responses,
        }
    }


def openapi_document(settings: ServingSettings, facts: ServedFacts) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the running service (nullable = ``anyOf`` with null)."""
    requests = request_models(settings)
    models: list[tuple[type[BaseModel], Any]] = [(m, "validation") for m in requests.values()]
    models += [(op.ok, "serialization") for op in OPERATIONS]
    models.append((ErrorBody, "serialization"))
    _, defs = models_json_schema(models, ref_template=REF)
    schemas: dict[str, Any] = defs["$defs"]
    for request in ("ScoreRequest", "FamilyRequest"):
        schemas[request]["properties"]["as_of"] = {
            "anyOf": [
                {"type": "string", "format": "date", "enum": list(facts.snapshot_dates)},
                {"type": "null"},
            ],
            "default": None,
            "description": "Snapshot date (one held by the served snapshot); default the latest.",
        }
    schemas["ScoreIndicatorsRequest"]["properties"]["indicators"] = _indicators_schema(facts)
    if facts.regions:
        schemas["WorklistRequest"]["properties"]["region"] = {
            "anyOf": [{"type": "string", "enum": list(facts.regions)}, {"type": "null"}],
            "default": None,
            "description": "Only this region of the snapshot (one of the token's; another "
            "is 400 naming the allowed ones); default every region of the token.",
        }
    stats = schemas["ServedStatsRequest"]
    stats["description"] += _RULES["served_stats"]
    stats["properties"]["until"]["description"] += " Not before `since`."

    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        request_name = requests[op.endpoint].__name__
        responses: dict[str, Any] = {"200": _response("OK", op.ok.__name__, dict(_HEADERS))}
        for status in sorted((400, 401, 403, 413, 415, 429, 500, 503, *op.extra_statuses)):
            responses[str(status)] = _error_response(status)
        paths[f"/{op.endpoint}"] = {
            "post": {
                "operationId": op.endpoint,
                "summary": op.summary,
                "description": f"Roles: {op.roles}." + _RULES.get(op.endpoint, ""),
                "requestBody": {
                    "required": op.endpoint
                    not in {"model_card", "audit_log", "security_log", "worklist"},
                    "content": {
                        "application/json": {"schema": {"$ref": REF.format(model=request_name)}}
                    },
                },
                "responses": responses,
            }
        }
    paths["/dossier"] = _dossier_operation(schemas, facts)  # issue 23 (dossier lane)
    paths["/livez"] = {
        "get": {
            "operationId": "livez",
            "summary": "Liveness probe (no token)",
            "security": [],
            "responses": {"200": _text_plain("The process is alive.")},
        }
    }
    paths["/readyz"] = {
        "get": {
            "operationId": "readyz",
            "summary": "Readiness probe (no token)",
            "security": [],
            "responses": {
                "200": _text_plain("Model, snapshot and logs are loaded."),
                "503": _text_plain("Not ready."),
            },
        }
    }
    if facts.metrics_enabled:
        paths["/metrics"] = {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (EARLYRISK_METRICS=1)",
                "security": [],
                "responses": {"200": _text_plain("Prometheus text format.")},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "earlyrisk scoring service",
            "version": facts.model_version,
            "description": DESCRIPTION.format(
                failures=settings.auth_failure_limit,
                window=settings.auth_failure_window_s,
                requests=settings.quota_requests_per_minute,
                families=settings.quota_families_per_minute,
                body=settings.max_body_bytes,
                batch=settings.max_batch_size,
                reason=settings.max_reason_length,
                ids=settings.max_id_length,
            )
            + f"\nServing model `{facts.model_name}` version {facts.model_version}; "
            f"snapshot dates: {', '.join(facts.snapshot_dates)}.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `earlyrisk token create --role ROLE`.",
                }
            },
        },
        "security": [{SECURITY_SCHEME: []}],
    }


# --------------------------------------------------------------------------- docs page

#: Swagger UI as BentoML's wheel ships it (a dependency already; nothing is downloaded).
SWAGGER_DIR = Path(bentoml.__file__).parent / "_internal/server/static_content"
DOCS_ASSETS: dict[str, tuple[str, str]] = {
    "/docs/swagger-ui.css": ("swagger-ui.css", "text/css; charset=utf-8"),
    "/docs/swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
}
DOCS_INIT_JS = """\
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/docs.json",
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: false,
    persistAuthorization: false,
  });
};
"""
DOCS_HTML = """\
<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>earlyrisk scoring service: API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""
#: This origin only: no third-party script, style, font, frame or connection.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
