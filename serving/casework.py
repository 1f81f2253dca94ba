"""The engine's cases: score once, reuse on every view, index decisions, list the flagged.

:class:`Casework` sits between the engine (:mod:`serving.engine`, which scores and logs)
and the case store (:mod:`serving.store.cases`):

* :meth:`Casework.family_score`: the family page's score. The first view of a family for
  a snapshot and model version scores it (a ``score`` entry) and opens its case; every
  later view answers the case's score under its id, rebuilt from the same model and inputs
  (the same numbers), and logs nothing but the view (the caller logs the ``view``).
* :meth:`Casework.ensure_flagged`: the worklist's batch. The first time a snapshot and
  model version is listed, the families at the ``high`` level are scored once, as one
  batch (``score`` entries, endpoint ``worklist``), and their cases opened; one process
  claims the batch (the others wait for it), so no family is scored twice.
* :meth:`Casework.worklist`: the list itself, from the stored cases (no scoring).
* :meth:`Casework.decided`: a decision (already a ``feedback`` entry) becomes the case's
  decision in force, naming the one it superseded, with its follow-up date.

The engine is reached through :class:`CaseEngine` (a Protocol), so this module does not
import the engine that builds on it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Protocol

import numpy as np

from serving.auth import Principal
from serving.errors import RequestError, UnknownFamilyError
from serving.holdout import withheld_item
from serving.i18n import DEFAULT_LANGUAGE, Language, decision_name, ineligible_reason, level_name
from serving.i18n.worklist_words import status_name
from serving.service_time import local_iso, today, utc_text
from serving.settings import ServingSettings
from serving.store.audit_log import AuditLogBase
from serving.store.cases import Case, CaseDecision, CaseStore, ListScope, NewCase
from serving.store.lookup import LookupStore
from serving.store.regions import RegionIndex
from serving.worklist import (
    OpenContests,
    WorklistItem,
    WorklistQuery,
    case_status,
    check_query,
    contested_families,
    days_since,
    item_json,
    read_worklist,
)

#: Who scores the flagged families (the audit log's token id and role of the batch).
BATCH_PRINCIPAL = Principal(token_id="worklist", role="service")
#: Rows scored per step of the batch (bounded memory on a national snapshot).
BATCH_ROWS = 2_000
#: How long a process waits for another one's batch before it gives up (503).
BATCH_WAIT_S = 300.0


class CaseEngine(Protocol):
    """What the cases need of the engine (:class:`serving.engine.ServingEngine`)."""

    settings: ServingSettings
    lookup: LookupStore
    regions: RegionIndex | None
    audit_log: AuditLogBase
    snapshot_date: str

    @property
    def model(self) -> Any: ...

    def _results(
        self,
        matrix: np.ndarray,
        *,
        family_ids: Sequence[str | None],
        as_of: str | None,
        reference_date: str,
        principal: Principal,
        request_id: str,
        endpoint: str,
        lang: Language,
        model: Any,
        reuse: Sequence[str] | None = None,
        texts: bool = True,
    ) -> list[dict[str, Any]]: ...

    def bands(self, as_of: str, model: Any = None) -> Any: ...

    def assignments(self, family_ids: Sequence[str], *, as_of: str) -> Mapping[str, Any]:
        """Each family's stage in the sealed rollout (empty without one: serving.rollout)."""
        ...


class Casework:
    """The engine's cases (see the module docstring); thread-safe."""

    def __init__(
        self, engine: CaseEngine, cases: CaseStore, *, open_contests: OpenContests | None = None
    ) -> None:
        self.engine = engine
        self.cases = cases
        self.open_contests = open_contests
        self._lock = threading.Lock()  # one first score per family at a time in a process
        self._batch_lock = threading.Lock()
        self._built: set[tuple[str, str]] = set()
        self._regions: dict[str, list[str]] = {}

    @property
    def tz(self) -> str:
        return self.engine.settings.time_zone

    def today(self) -> date:
        return today(self.tz)

    # ---- one score per case
    def family_score(
        self,
        family_id: str,
        *,
        day: str,
        principal: Principal,
        request_id: str,
        lang: Language,
        endpoint: str,
    ) -> tuple[dict[str, Any], Case | None]:
        """The family's score for the page and its case (None for an ineligible family):
        the case's own score when there is one, else a new score that opens the case."""
        engine = self.engine
        model = engine.model
        found, matrix = engine.lookup.get_matrix([family_id], as_of=day)
        if not found:
            raise UnknownFamilyError(f"family_id {family_id!r} is not in the snapshot of {day}")
        if not bool(model.scorer.eligible_matrix(matrix)[0]):
            return {
                "status": "ineligible",
                "family_id": family_id,
                "reason": ineligible_reason(model.scorer.eligibility.min_children, lang),
                "snapshot_date": day,
                "model_version": model.identity.version,
            }, None
        version = str(model.identity.version)
        common: dict[str, Any] = {
            "family_ids": [family_id],
            "as_of": day,
            "reference_date": day,
            "principal": principal,
            "request_id": request_id,
            "endpoint": endpoint,
            "lang": lang,
            "model": model,
        }
        case = self.cases.get(version, day, family_id)
        if case is not None and engine.audit_log.score_entry(case.score_id) is not None:
            [result] = engine._results(matrix, reuse=[case.score_id], **common)
            if result["probability"] == case.probability:
                return result, case
            # the inputs changed under the same snapshot date (a rebuilt snapshot): the stored
            # score no longer describes them, so the family is scored anew (never shown
            # under an id whose logged numbers differ)
        with self._lock:
            stale = case
            case = self.cases.get(version, day, family_id)
            if (
                case is not None
                and case != stale
                and engine.audit_log.score_entry(case.score_id) is not None
            ):
                [result] = engine._results(matrix, reuse=[case.score_id], **common)
                if result["probability"] == case.probability:
                    return result, case
            [result] = engine._results(matrix, **common)
            region = (
                engine.regions.regions_of([family_id], as_of=day).get(family_id)
                if engine.regions is not None
                else None
            )
            opened = self._new_case(
                version,
                day,
                family_id,
                region,
                result,
                carried=self.cases.first_flagged([family_id]),
            )
            if case is None:
                self.cases.open_cases([opened])
            else:  # its score is not in this log, or no longer its inputs: the new one replaces it
                self.cases.rescore(opened)
            stored = self.cases.get(version, day, family_id)
        assert stored is not None
        result["score_id"] = stored.score_id  # another replica opened it first: its score
        return result, stored

    def _new_case(
        self,
        version: str,
        day: str,
        family_id: str,
        region: str | None,
        scored: dict[str, Any],
        *,
        carried: dict[str, str],
    ) -> NewCase:
        flagged = scored["risk_level"] == "high"
        first = carried.get(family_id) or (self.today().isoformat() if flagged else None)
        return NewCase(
            model_version=version,
            as_of=day,
            family_id=family_id,
            region=region,
            score_id=str(scored["score_id"]),
            probability=float(scored["probability"]),
            risk_level=str(scored["risk_level"]),
            opened_at=utc_text(),
            first_flagged=first,
        )

    def viewed(self, family_id: str, *, day: str) -> None:
        """A caseworker opened the family: a ``new`` case becomes ``viewed``."""
        version = str(self.engine.model.identity.version)
        self.cases.mark_viewed(version, day, family_id, at=utc_text())

    def case_of(self, family_id: str, *, day: str) -> Case | None:
        """The family's case for the snapshot and the serving model version, if any."""
        return self.cases.get(str(self.engine.model.identity.version), day, family_id)

    # ---- decisions
    def check_follow_up(self, follow_up: date) -> None:
        """A follow-up date must be today or later in the service's zone (else 400)."""
        now = self.today()
        if follow_up < now:
            raise RequestError(
                "follow_up",
                f"{follow_up.isoformat()} is in the past; allowed: today "
                f"({now.isoformat()}, {self.tz}) or a later date",
            )

    def claim_form(self, form_token: str) -> bool:
        """Claim a decision form's token: False when it was used (a double submit)."""
        return self.cases.claim_form(form_token, at=utc_text())

    def release_form(self, form_token: str) -> None:
        self.cases.release_form(form_token)

    def decided(
        self,
        *,
        score_id: str,
        audit_seq: int,
        decision: str,
        reason: str,
        principal: Principal,
        follow_up: date | None,
        supersedes_seq: int | None,
        form_token: str | None,
    ) -> None:
        """Index a decision (the ``feedback`` entry ``audit_seq``) on its case, if the score
        is a case's; it is then the decision in force."""
        case = self.cases.by_score(score_id)
        if case is None:
            return
        self.cases.record_decision(
            case.model_version,
            case.as_of,
            case.family_id,
            CaseDecision(
                audit_seq=audit_seq,
                score_id=score_id,
                decision=decision,
                reason=reason,
                token_id=principal.token_id,
                recorded_at=utc_text(),
                follow_up=None if follow_up is None else follow_up.isoformat(),
                supersedes_seq=supersedes_seq,
            ),
            form_token=form_token,
        )

    # ---- the flagged families, scored once per snapshot and model version
    def ensure_flagged(self, model: Any, day: str) -> None:
        """Score the families at the ``high`` level of the snapshot once (one batch, by one
        process) and open their cases; later calls return at once."""
        version = str(model.identity.version)
        key = (version, day)
        if key in self._built:
            return
        with self._batch_lock:
            if key in self._built:
                return
            state = self.cases.batch_state(version, day)
            if state == "absent" and self.cases.claim_batch(version, day, at=utc_text()):
                try:
                    opened = self._score_flagged(model, day)
                except BaseException:
                    self.cases.release_batch(version, day)
                    raise
                self.cases.finish_batch(version, day, at=utc_text(), families=opened)
            else:
                self._wait_for_batch(version, day)
            self._built.add(key)

    def _wait_for_batch(self, version: str, day: str) -> None:
        deadline = time.monotonic() + BATCH_WAIT_S
        while self.cases.batch_state(version, day) != "built":
            if time.monotonic() > deadline:
                raise RequestError(
                    "worklist",
                    f"the flagged families of {day} are still being scored by another "
                    "process; retry in a minute",
                )
            time.sleep(0.2)

    def _score_flagged(self, model: Any, day: str) -> int:
        """The batch: every eligible family's probability, the ``high`` ones scored and
        logged (endpoint ``worklist``), their cases opened; how many were opened."""
        engine = self.engine
        version = str(model.identity.version)
        bands = engine.bands(day, model)
        have = self.cases.family_ids(version, day)
        ids: list[str] = []
        rows: list[np.ndarray] = []
        for chunk in engine.lookup.iter_population(as_of=day):
            matrix = chunk.to_numpy(dtype=np.float64)
            keep = model.scorer.eligible_matrix(matrix)
            if not keep.any():
                continue
            eligible = chunk.loc[keep]
            shown = np.round(model.scorer.probabilities(eligible), 4)
            high = np.asarray(bands.levels(shown)) == "high"
            for family_id, row in zip(
                eligible.index[high], eligible.to_numpy(dtype=np.float64)[high], strict=True
            ):
                if str(family_id) not in have:
                    ids.append(str(family_id))
                    rows.append(row)
        if not ids:
            return 0
        regions = engine.regions.regions_of(ids, as_of=day) if engine.regions is not None else {}
        carried = self.cases.first_flagged(ids)
        run_id = f"worklist-{uuid.uuid4().hex}"
        opened = 0
        for start in range(0, len(ids), BATCH_ROWS):
            part = ids[start : start + BATCH_ROWS]
            scored = engine._results(
                np.vstack(rows[start : start + BATCH_ROWS]),
                family_ids=part,
                as_of=day,
                reference_date=day,
                principal=BATCH_PRINCIPAL,
                request_id=run_id,
                endpoint="worklist",
                lang=DEFAULT_LANGUAGE,
                model=model,
                texts=False,
            )
            opened += self.cases.open_cases(
                [
                    self._new_case(version, day, fid, regions.get(fid), item, carried=carried)
                    for fid, item in zip(part, scored, strict=True)
                ]
            )
        return opened

    # ---- the list
    def allowed_regions(self, principal: Principal, day: str) -> list[str]:
        """The regions a caller may filter by: the token's, or every region of the snapshot."""
        if principal.regions is not None:
            return sorted(principal.regions)
        if day not in self._regions:
            regions = self.engine.regions
            self._regions[day] = regions.regions_at(day) if regions is not None else []
        return self._regions[day]

    def worklist(
        self, principal: Principal, query: WorklistQuery, *, lang: Language
    ) -> dict[str, Any]:
        """The worklist page the query asks for, as JSON (``POST /worklist`` and the page)."""
        engine = self.engine
        model = engine.model
        day = engine.snapshot_date
        allowed = self.allowed_regions(principal, day)
        check_query(query, allowed_regions=allowed)
        self.ensure_flagged(model, day)
        version = str(model.identity.version)
        if query.region is not None:
            regions: list[str] | None = [query.region]
        else:
            regions = None if principal.regions is None else allowed
        scope = ListScope(version, day, query.level, regions)
        contested = (
            set()
            if self.open_contests is None
            else contested_families(self.open_contests, self.cases.family_ids_listed(scope))
        )
        now = self.today()
        page = read_worklist(self.cases, scope, query, today=now, contested=contested)
        held = {
            fid
            for fid, found in engine.assignments(
                [item.case.family_id for item in page.items], as_of=day
            ).items()
            if found.withheld
        }
        return {
            "snapshot_date": day,
            "model_version": version,
            "lang": lang,
            "time_zone": self.tz,
            "today": now.isoformat(),
            "filters": {"region": query.region, "level": query.level, "status": query.status},
            "regions": allowed,
            "counts": page.counts,
            "total": page.total,
            "page": page.page,
            "pages": page.pages,
            "page_size": query.page_size,
            "items": [
                self._item(item, lang, withheld=item.case.family_id in held) for item in page.items
            ],
        }

    def _item(self, item: WorklistItem, lang: Language, *, withheld: bool) -> dict[str, Any]:
        """One worklist row in lang; a family in the display hold-out without its level."""
        row = item_json(
            item,
            extra={
                "risk_level_name": level_name(item.case.risk_level, lang),
                "status_name": status_name(item.status, lang),
                "decision": self.decision_json(item.case, lang),
            },
        )
        return withheld_item(row, lang) if withheld else row

    def decision_json(self, case: Case, lang: Language) -> dict[str, Any] | None:
        """The decision in force of a case (times in the service's zone), or None."""
        if case.decision is None or case.decision_seq is None:
            return None
        return {
            "seq": case.decision_seq,
            "decision": case.decision,
            "decision_name": decision_name(case.decision, lang),
            "reason": case.decision_reason,
            "token_id": case.decided_by,
            "recorded_at": local_iso(str(case.decided_at), self.tz),
        }

    def case_json(self, case: Case, lang: Language) -> dict[str, Any]:
        """A case as ``/family`` answers it: its one score, status, decision in force."""
        now = self.today()
        contested = contested_families(self.open_contests, [case.family_id])
        status = case_status(case, today=now, contested=case.family_id in contested)
        return {
            "score_id": case.score_id,
            "model_version": case.model_version,
            "snapshot_date": case.as_of,
            "probability": case.probability,
            "risk_level": case.risk_level,
            "risk_level_name": level_name(case.risk_level, lang),
            "status": status,
            "status_name": status_name(status, lang),
            "first_flagged": case.first_flagged,
            "days_flagged": days_since(case.first_flagged, now),
            "follow_up": case.follow_up,
            "decision": self.decision_json(case, lang),
            "history": [
                {
                    "seq": d.audit_seq,
                    "decision": d.decision,
                    "decision_name": decision_name(d.decision, lang),
                    "reason": d.reason,
                    "token_id": d.token_id,
                    "recorded_at": local_iso(d.recorded_at, self.tz),
                    "follow_up": d.follow_up,
                    "supersedes_seq": d.supersedes_seq,
                    "in_force": d.audit_seq == case.decision_seq,
                }
                for d in self.cases.decisions(case.model_version, case.as_of, case.family_id)
            ],
            "time_zone": self.tz,
        }
