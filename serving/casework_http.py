"""What ``/family`` and ``/worklist`` answer of the cases (:mod:`serving.casework`).

Thin glue between the BentoML handlers (:mod:`serving.service`) and the engine's cases, so
the service module only gains a few lines per endpoint.
"""

from __future__ import annotations

from typing import Any

from serving.auth import Principal
from serving.engine import RequestError, ServingEngine
from serving.i18n import Language
from serving.worklist import WorklistQuery


def family_case(engine: ServingEngine, view: dict[str, Any]) -> dict[str, Any] | None:
    """The case of a family just viewed (now ``viewed``), or None when none is open: a view
    never scores the family (the review page or the worklist's batch opens its case)."""
    casework = engine.casework
    if casework is None or not view.get("eligible"):
        return None
    family_id, day = str(view["family_id"]), str(view["as_of"])
    if casework.case_of(family_id, day=day) is None:
        return None
    casework.viewed(family_id, day=day)
    case = casework.case_of(family_id, day=day)
    return None if case is None else casework.case_json(case, view["lang"])


def worklist_json(
    engine: ServingEngine, principal: Principal, query: WorklistQuery, *, lang: Language
) -> dict[str, Any]:
    """A page of the caller's worklist (RequestError naming a bad filter or page)."""
    if engine.casework is None:
        raise RequestError("worklist", "this service keeps no cases")
    return engine.casework.worklist(principal, query, lang=lang)
