"""Contest and correct: a caseworker files, a registry officer decides, the family is re-scored.

The service's side of issue 23, shared by ``POST /correction`` and ``earlyrisk correction
add|list|decide`` (the two only parse and print). Who may do what:

- a caseworker (or admin) files a correction on a family's behalf, for a family within
  the token's regions; the record must exist and be the family's, an amend must name a
  field it may change and a value of that field's type, and a record has at most one open
  correction;
- a registry officer (or admin) accepts or rejects it; nobody else decides;
- anyone who may file lists the corrections of the families in their regions, with the
  diff of each decided one.

A decision re-scores the family (:mod:`serving.correction_rescore`): the score before (the
accepted corrections so far) and after (with this one when accepted), each with its level
and reasons, go into one ``correction`` entry of the audit log, inside the decision's
transaction: the decision is taken only when its entry is on record (nothing partially
applied). The diff is returned to the caller and read back from the log by ``list``.
Filing is on record too (a ``correction`` entry with decision ``requested``).

Every refusal is a :class:`~serving.store.corrections.CorrectionRefused` naming the field.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from features.contract import CORRECTABLE, CORRECTION_ACTIONS
from features.validation.corrections import value_problem
from serving.auth import Principal
from serving.correction_rescore import FamilyRecompute
from serving.store.audit_log import AuditLogBase, audit_reasons
from serving.store.corrections import (
    Correction,
    CorrectionRefused,
    CorrectionStore,
    NewCorrection,
)

#: Roles that file corrections on a family's behalf, and roles that decide them.
FILE_ROLES = frozenset({"caseworker", "admin"})
DECIDE_ROLES = frozenset({"registry_officer", "admin"})
DECISIONS = ("accepted", "rejected")


class CorrectionConflict(Exception):
    """A request that conflicts with what is stored (HTTP 409); the message names the field."""


class CorrectionsUnavailable(Exception):
    """This service cannot check a record or re-score a family: it was started without its
    raw registry (HTTP 503 saying so; nothing is recorded)."""


class CorrectionForbidden(PermissionError):
    """The caller's role may not take this step (HTTP 403); the message names the field."""


@dataclass(frozen=True)
class Scored:
    """One version of a family's score: probability, level and reasons (audit shape)."""

    probability: float | None
    risk_level: str | None
    reasons: list[dict[str, Any]]
    status: str = "scored"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "probability": self.probability,
            "risk_level": self.risk_level,
            "reasons": self.reasons,
        }


def score_diff(before: Scored, after: Scored) -> dict[str, Any]:
    """What changed between two scores: probability points, level, reasons gone and new."""
    old = {r["indicator"] for r in before.reasons}
    new = {r["indicator"] for r in after.reasons}
    change = (
        None
        if before.probability is None or after.probability is None
        else round(after.probability - before.probability, 6)
    )
    return {
        "probability_change": change,
        "level_changed": before.risk_level != after.risk_level,
        "reasons_removed": sorted(old - new),
        "reasons_added": sorted(new - old),
    }


class CorrectionDesk:
    """Files, decides and lists corrections for one service (see the module docstring).

    ``engine`` is the :class:`~serving.engine.ServingEngine` (its model, bands, regions and
    snapshot date are read per call, so a champion swap is honoured).
    """

    def __init__(
        self,
        *,
        engine: Any,
        store: CorrectionStore,
        recompute: FamilyRecompute,
    ) -> None:
        self.engine = engine
        self.store = store
        self.recompute = recompute

    @property
    def audit_log(self) -> AuditLogBase:
        log: AuditLogBase = self.engine.audit_log
        return log

    # ---- scope
    def _in_scope(self, family_id: str, principal: Principal) -> bool:
        if principal.regions is None:
            return True
        regions = self.engine.regions
        if regions is None:
            return False
        day = self.engine.snapshot_date
        return family_id in regions.within([family_id], as_of=day, regions=principal.regions)

    def _require_family(self, family_id: str, principal: Principal) -> None:
        # outside the token's regions reads exactly like an unknown family
        if not self._in_scope(family_id, principal):
            raise CorrectionRefused(
                "family_id", f"no family {family_id!r} in your regions", status=404
            )
        # a family the served snapshot does not hold has nothing to correct (checked before
        # the raw registry is read: an unknown family is a 404 on any service)
        found, _ = self.engine.lookup.get_matrix([family_id], as_of=self.engine.snapshot_date)
        if not found:
            raise CorrectionRefused(
                "family_id", f"no family {family_id!r} in the snapshot", status=404
            )

    # ---- file
    def file(
        self,
        request: Mapping[str, Any],
        *,
        principal: Principal,
        request_id: str,
        today: date | None = None,
    ) -> dict[str, Any]:
        """File a correction; returns it (status requested). Refusals name the field."""
        if principal.role not in FILE_ROLES:
            raise CorrectionForbidden(
                f"role: a {principal.role} may not file corrections (allowed: "
                f"{', '.join(sorted(FILE_ROLES))})"
            )
        new = self.check_new(request, principal=principal)
        today = today or datetime.now(UTC).date()

        correction = self.store.add(new, requested_by=principal.token_id, today=today)
        self._record(
            correction,
            principal=principal,
            request_id=request_id,
            decision="requested",
            detail={"correction": correction.to_dict()},
        )
        return {"correction": correction.to_dict()}

    def check_new(self, request: Mapping[str, Any], *, principal: Principal) -> NewCorrection:
        """The filed correction, checked against the registry; refusals name the field."""

        def text(field: str, *, required: bool = True) -> str | None:
            value = request.get(field)
            if value is None or (isinstance(value, str) and not value.strip()):
                if required:
                    raise CorrectionRefused(field, "is required")
                return None
            if not isinstance(value, str):
                raise CorrectionRefused(field, f"must be text, got {type(value).__name__}")
            return value.strip()

        family_id = str(text("family_id"))
        self._require_family(family_id, principal)
        record_table = str(text("record_table"))
        if record_table not in CORRECTABLE:
            raise CorrectionRefused(
                "record_table",
                f"{record_table!r} is not a correctable table ({', '.join(CORRECTABLE)})",
            )
        record_id = str(text("record_id"))
        action = str(text("action"))
        if action not in CORRECTION_ACTIONS:
            raise CorrectionRefused(
                "action", f"{action!r} is not one of {', '.join(CORRECTION_ACTIONS)}"
            )
        field = text("field", required=False)
        new_value = request.get("new_value")
        if new_value is not None and not isinstance(new_value, str):
            new_value = json.dumps(new_value)  # a JSON number stays its text, checked below
        new_value = None if new_value is None or not str(new_value).strip() else str(new_value)
        document_ref = str(text("document_ref"))
        record = self.recompute.record(record_table, record_id)
        if record is None:
            raise CorrectionRefused(
                "record_id", f"{record_table} has no record {record_id!r}", status=404
            )
        if record.family_id != family_id:
            raise CorrectionRefused(
                "record_id", f"record {record_id!r} is not a record of family {family_id!r}"
            )
        fields = CORRECTABLE[record_table][1]
        if action == "void":
            if field is not None or new_value is not None:
                raise CorrectionRefused("field", "a void names no field and no new_value")
        else:
            if field is None or field not in fields:
                raise CorrectionRefused(
                    "field",
                    f"{field!r} is not a field an amend may change ({', '.join(fields)})",
                )
            if new_value is None:
                raise CorrectionRefused("new_value", f"an amend of {field} needs its new value")
            problem = value_problem(
                field, new_value, event_type=record.event_type, recorded=record.recorded_date
            )
            if problem is not None:
                raise CorrectionRefused(
                    "new_value", f"{new_value!r} does not fit {record_table}.{field}: {problem}"
                )
        return NewCorrection(
            family_id=family_id,
            record_table=record_table,
            record_id=record_id,
            action=action,
            field=field,
            new_value=new_value,
            document_ref=document_ref,
        )

    # ---- decide
    def decide(
        self,
        correction_id: str,
        decision: str,
        *,
        principal: Principal,
        request_id: str,
        today: date | None = None,
    ) -> dict[str, Any]:
        """Accept or reject an open correction, re-score the family, log both versions in
        one ``correction`` entry (inside the decision's transaction); return the diff."""
        if principal.role not in DECIDE_ROLES:
            raise CorrectionForbidden(
                f"decision: a {principal.role} may not decide corrections (a "
                f"{' or '.join(sorted(DECIDE_ROLES))} decides)"
            )
        if decision not in DECISIONS:
            raise CorrectionRefused(
                "decision", f"{decision!r} is not one of {', '.join(DECISIONS)}"
            )
        today = today or datetime.now(UTC).date()
        current = self.store.get(correction_id)
        self._require_family(current.family_id, principal)
        if current.status != "requested":
            raise CorrectionRefused(
                "correction_id",
                f"correction {correction_id!r} was already {current.status} on "
                f"{current.decided_date}",
                status=409,
            )
        as_of = self.engine.snapshot_date
        model = self.engine.model
        earlier = self._corrections_known(exclude=correction_id)
        before = self._score(current.family_id, as_of, model, earlier)
        if decision == "accepted":
            decided_row = pd.DataFrame(
                [
                    {
                        **current.to_dict(),
                        "status": "accepted",
                        "decided_date": today.isoformat(),
                        "decided_by": principal.token_id,
                    }
                ]
            )
            after = self._score(current.family_id, as_of, model, _stack(earlier, decided_row))
        else:
            after = before
        diff = score_diff(before, after)
        result: dict[str, Any] = {}

        def on_decided(decided: Correction) -> None:
            detail = {
                "correction": decided.to_dict(),
                "before": before.to_dict(),
                "after": after.to_dict(),
                "diff": diff,
            }
            self._record(
                decided,
                principal=principal,
                request_id=request_id,
                decision=decision,
                detail=detail,
                as_of=as_of,
                model_version=model.identity.version,
                scored=after,
            )
            result.update(
                correction=decided.to_dict(),
                as_of=as_of,
                model_version=model.identity.version,
                before=before.to_dict(),
                after=after.to_dict(),
                diff=diff,
            )

        self.store.decide(
            correction_id,
            status=decision,
            decided_by=principal.token_id,
            today=today,
            on_decided=on_decided,
        )
        return result

    def _corrections_known(self, *, exclude: str | None = None) -> pd.DataFrame:
        """Every accepted correction known now: the raw directory's and the store's."""
        stored = self.store.as_frame(accepted_only=True)
        if exclude is not None:
            stored = stored.loc[stored["correction_id"] != exclude]
        return _stack(self.recompute.raw_corrections, stored)

    def _score(self, family_id: str, as_of: str, model: Any, corrections: pd.DataFrame) -> Scored:
        names = list(model.scorer.feature_names)
        matrix = self.recompute.inputs(
            family_id, as_of=as_of, feature_names=names, corrections=corrections
        )
        if matrix is None:
            return Scored(None, None, [], status="not_in_snapshot")
        if not bool(model.scorer.eligible_matrix(matrix)[0]):
            return Scored(None, None, [], status="ineligible")
        scored = model.scorer.score_matrix(matrix)
        probability = float(scored.probability[0])
        level = self.engine.bands(as_of, model).levels(np.array([probability]))[0]
        reasons = audit_reasons(
            (r.indicator, r.contribution) for r in scored.explanations[0].shown()
        )
        return Scored(probability, str(level), reasons)

    def _record(
        self,
        correction: Correction,
        *,
        principal: Principal,
        request_id: str,
        decision: str,
        detail: dict[str, Any],
        as_of: str | None = None,
        model_version: str | None = None,
        scored: Scored | None = None,
    ) -> None:
        """One ``correction`` audit entry (:meth:`AuditLogBase.record_correction`): the new
        score in the score columns (when decided), both versions and the diff in
        ``detail``."""
        self.audit_log.record_correction(
            correction_id=correction.correction_id,
            step=decision,
            request_id=request_id,
            token_id=principal.token_id,
            role=principal.role,
            family_id=correction.family_id,
            detail=detail,
            as_of=as_of,
            model_version=model_version,
            probability=None if scored is None else scored.probability,
            risk_level=None if scored is None else scored.risk_level,
            reasons=None if scored is None else scored.reasons,
        )

    # ---- list
    def list(
        self,
        *,
        principal: Principal,
        family_id: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """Corrections of the families in the caller's regions (of one family, with one
        status), each decided one with its diff from the audit log."""
        if principal.role not in FILE_ROLES | DECIDE_ROLES:
            raise CorrectionForbidden(f"role: a {principal.role} may not read corrections")
        if family_id is not None:
            self._require_family(family_id, principal)
        rows = self.store.list(family_ids=None if family_id is None else [family_id], status=status)
        out = []
        for row in rows:
            if family_id is None and not self._in_scope(row.family_id, principal):
                continue
            item = row.to_dict()
            if row.status != "requested":
                logged = self.logged_decision(row)
                if logged is not None:
                    item.update({k: logged.get(k) for k in ("before", "after", "diff")})
            out.append(item)
        return out

    def logged_decision(self, correction: Correction) -> dict[str, Any] | None:
        """The decision's audit entry detail (both versions and the diff), None if absent."""
        return self.audit_log.correction_detail(correction.correction_id, correction.status)


def _stack(*frames: pd.DataFrame | None) -> pd.DataFrame:
    """Corrections frames as one (typed; None and empty ones skipped)."""
    from features.corrections import empty_corrections, typed_corrections

    kept = [typed_corrections(f) for f in frames if f is not None and not f.empty]
    if not kept:
        return empty_corrections()
    return pd.concat(kept, ignore_index=True)


def new_request_id() -> str:
    return uuid.uuid4().hex
