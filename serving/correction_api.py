"""``POST /correction`` behind the service: one desk per worker, refusals as HTTP answers.

:class:`serving.corrections.CorrectionDesk` does the work; this module opens it lazily (the
corrections store and the raw registry only when the first correction call comes: a
service that never takes one opens neither) and turns its refusals into the service's
errors: a refused field is 400 naming it, a role that may not take the step 403, an
unknown correction, record or family 404, a second open correction of a record or a second
decision 409, a service without its raw registry 503.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from serving.auth import AuthError, Principal, redact_scores
from serving.correction_rescore import FamilyRecompute, RescoreUnavailable
from serving.corrections import (
    CorrectionConflict,
    CorrectionDesk,
    CorrectionForbidden,
    CorrectionsUnavailable,
)
from serving.engine import RequestError, ServingEngine, UnknownScoreError
from serving.store.corrections import CorrectionRefused, UnknownCorrectionError
from serving.store.stores import open_stores


class CorrectionEndpoint:
    """The desk of one worker, opened on first use."""

    def __init__(self, engine: ServingEngine) -> None:
        self.engine = engine
        self._desk: CorrectionDesk | None = None
        self._lock = threading.Lock()

    def desk(self) -> CorrectionDesk:
        with self._lock:
            if self._desk is None:
                settings = self.engine.settings
                stores = open_stores(settings, tokens=False, security_log=False, corrections=True)
                assert stores.corrections is not None
                self._desk = CorrectionDesk(
                    engine=self.engine,
                    store=stores.corrections,
                    recompute=FamilyRecompute(settings.raw_dir),
                )
        return self._desk

    def handle(self, body: Mapping[str, Any], principal: Principal, request_id: str) -> Any:
        """Run one request's ``op``; the response body (without its request id), with every
        score and level removed for a role outside the support services (the purpose lock:
        a registry officer decides on the record and its documents, not on a score)."""
        return redact_scores(self._handle(body, principal, request_id), principal.role)

    def _handle(self, body: Mapping[str, Any], principal: Principal, request_id: str) -> Any:
        try:
            desk = self.desk()
            op = body.get("op")
            if op == "file":
                return desk.file(body, principal=principal, request_id=request_id)
            if op == "decide":
                for field in ("correction_id", "decision"):
                    if body.get(field) is None:
                        raise CorrectionRefused(field, "is required to decide")
                return desk.decide(
                    str(body["correction_id"]),
                    str(body["decision"]),
                    principal=principal,
                    request_id=request_id,
                )
            if op == "list":
                rows = desk.list(
                    principal=principal, family_id=body.get("family_id"), status=body.get("status")
                )
                return {"corrections": rows}
            raise CorrectionRefused("op", f"{op!r} is not file, decide or list")
        except CorrectionRefused as exc:
            if exc.status == 404:
                raise UnknownScoreError(str(exc)) from None
            if exc.status == 409:
                raise CorrectionConflict(str(exc)) from None
            raise RequestError(exc.field, exc.message) from None
        except CorrectionForbidden as exc:
            raise AuthError(403, str(exc)) from None
        except UnknownCorrectionError as exc:
            raise UnknownScoreError(str(exc)) from None
        except RescoreUnavailable as exc:
            raise CorrectionsUnavailable(str(exc)) from exc

    def close(self) -> None:
        if self._desk is not None:
            self._desk.store.close()
