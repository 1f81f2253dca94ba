"""The numbers of an explanation record, re-derived from the audit log, the model and the
snapshot (no words here: :mod:`serving.dossier.document` words them).

A dossier always explains one logged score (its ``score_id``): the one named, else the
family's latest score on the snapshot date by the serving model, else a score made now
(logged as any score is, endpoint ``dossier``). It is then **re-derived**, not copied: the
model version of the log entry is loaded (the serving one when it is the same), the
family's row is read from the snapshot, and the probability, the level and the reasons are
computed again; when they differ from the log by a single bit the record is refused
(:class:`NotReproducibleError`), because a family must be told what was actually decided
on, not a new estimate. The "what would change" search (:mod:`serving.dossier.counterfactual`)
runs on the same model and row. Everything a test needs to re-derive the record is in
:attr:`DossierFacts.numbers`, whose SHA-256 goes into the audit log with the record.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from features.errors import EarlyriskError
from serving.auth import Principal
from serving.dossier.counterfactual import Counterfactual, smallest_changes
from serving.engine import (
    RequestError,
    ServingEngine,
    ServingModel,
    UnknownFamilyError,
    UnknownScoreError,
    load_serving_model,
)
from serving.explain import Explanation
from serving.store.audit_log import audit_reasons
from serving.store.lookup import as_of_text, read_snapshot_info

UNKNOWN_SCORE = "score_id was never served by this service (or not to a family in your regions)"


class NotReproducibleError(EarlyriskError):
    """The logged score cannot be re-derived bit for bit from its model and the snapshot
    (the snapshot was rebuilt, a record corrected, the model version is gone): no record is
    produced, because it would explain a number nobody decided on."""


class OutOfScopeDossierError(UnknownFamilyError):
    """A dossier of a family outside the caller's regions: answered like an unknown family
    (404); the service records the refusal in the security log."""


@dataclass(frozen=True)
class DossierFacts:
    """One explained score, re-derived: the log entry, the model, the family's row and the
    numbers computed from them."""

    entry: dict[str, Any]
    model: ServingModel
    row: np.ndarray
    explanation: Explanation
    cutoffs: dict[str, float]
    counterfactual: Counterfactual
    decisions: list[dict[str, Any]]

    @property
    def numbers(self) -> dict[str, Any]:
        """Every number of the record, language-free (JSON floats round-trip exactly)."""
        e = self.entry
        level = str(e["risk_level"])
        return {
            "score_id": e["score_id"],
            "family_id": e["family_id"],
            "as_of": e["as_of"],
            "recorded_at": e["recorded_at"],
            "model_name": self.model.identity.name,
            "model_version": e["model_version"],
            "probability": float(e["probability"]),
            "risk_level": level,
            "cutoff": None if level == "low" else self.cutoffs.get(level),
            "baseline": self.explanation.baseline,
            "needs": [
                {"indicator": r.indicator, "value": r.value, "contribution": r.contribution}
                for r in self.explanation.needs_raising
            ],
            "counterfactual": self.counterfactual.as_dict(),
            "decisions": [
                {k: d[k] for k in ("seq", "decision", "token_id", "recorded_at", "current")}
                for d in self.decisions
            ],
        }

    @property
    def sha256(self) -> str:
        """SHA-256 of :attr:`numbers` (canonical JSON): what the audit log keeps."""
        text = json.dumps(self.numbers, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ModelVersions:
    """The models of logged scores, loaded once per version (the serving one is reused)."""

    def __init__(self, engine: ServingEngine) -> None:
        self.engine = engine
        self._loaded: dict[str, ServingModel] = {}
        self._lock = threading.Lock()

    def get(self, version: str) -> ServingModel:
        serving = self.engine.model
        if version == serving.identity.version:
            return serving
        with self._lock:
            if version not in self._loaded:
                settings = self.engine.settings
                uri = f"models:/{serving.identity.name}/{version}"
                snapshot = read_snapshot_info(settings.snapshot_path)
                try:
                    self._loaded[version] = load_serving_model(settings, uri, snapshot)
                except EarlyriskError as exc:
                    raise NotReproducibleError(
                        f"model version {version} of the logged score cannot be loaded: {exc}"
                    ) from exc
            return self._loaded[version]


def score_entry(
    engine: ServingEngine,
    *,
    family_id: str | None,
    as_of: date | str | None,
    score_id: str | None,
    principal: Principal,
    request_id: str,
) -> dict[str, Any]:
    """The logged score a dossier explains (see the module docstring), in the caller's
    scope, or UnknownScoreError / UnknownFamilyError / RequestError naming the field."""
    if score_id is not None:
        entry = engine.audit_log.score_entry(score_id)
        if entry is None or entry.get("family_id") is None:
            raise UnknownScoreError(UNKNOWN_SCORE)
        if not engine.score_in_scope(entry, principal):
            raise OutOfScopeDossierError(UNKNOWN_SCORE)
        if family_id is not None and entry["family_id"] != family_id:
            raise RequestError("score_id", f"is not a score of family {family_id!r}")
        if as_of is not None and as_of_text(as_of) != entry["as_of"]:
            raise RequestError(
                "as_of", f"score {score_id} was made on the snapshot of {entry['as_of']}"
            )
        return entry
    if family_id is None:
        raise RequestError("family_id", "give the family (or a score_id)")
    day = engine.snapshot_day(as_of)
    unknown = f"family_id {family_id!r} is not in the feature snapshot of {day}"
    found, _ = engine.lookup.get_matrix([family_id], as_of=day)
    if not found:
        raise UnknownFamilyError(unknown)
    if principal.regions is not None and (
        engine.regions is None
        or family_id not in engine.regions.within(found, as_of=day, regions=principal.regions)
    ):
        raise OutOfScopeDossierError(unknown)
    version = engine.identity.version
    for logged in engine.audit_log.family_history(family_id):
        if logged["as_of"] == day and logged["model_version"] == version:
            entry = engine.audit_log.score_entry(str(logged["score_id"]))
            if entry is None:  # pragma: no cover - the history read it a moment ago
                break
            return entry
    (result,) = engine.score(
        [family_id], as_of=day, principal=principal, request_id=request_id, endpoint="dossier"
    )
    if result["status"] == "ineligible":
        raise RequestError("family_id", f"{family_id!r} has no score: {result['reason']}")
    if result["status"] != "scored":
        raise UnknownFamilyError(str(result["error"]))
    entry = engine.audit_log.score_entry(result["score_id"])
    assert entry is not None  # it was logged before it was returned
    return entry


def derive(engine: ServingEngine, entry: dict[str, Any], models: ModelVersions) -> DossierFacts:
    """Re-derive the logged score ``entry`` (NotReproducibleError when any number differs)."""
    day, version = str(entry["as_of"]), str(entry["model_version"])
    if day not in engine.as_of_dates:
        raise NotReproducibleError(
            f"score {entry['score_id']} was made on the snapshot of {day}, which the service "
            f"no longer holds (it holds {', '.join(engine.as_of_dates)})"
        )
    model = models.get(version)
    found, matrix = engine.lookup.get_matrix([str(entry["family_id"])], as_of=day)
    if not found:
        raise NotReproducibleError(
            f"family {entry['family_id']!r} of score {entry['score_id']} is no longer in the "
            f"snapshot of {day}"
        )
    scored = model.scorer.score_matrix(matrix)
    probability = float(scored.probability[0])
    bands = engine.bands(day, model)
    level = bands.levels(scored.probability)[0]
    explanation = scored.explanations[0]
    logged_reasons = entry.get("reasons") or []
    if isinstance(logged_reasons, str):
        logged_reasons = json.loads(logged_reasons)
    derived_reasons = audit_reasons((r.indicator, r.contribution) for r in explanation.shown())
    problems = []
    if probability != float(entry["probability"]):
        problems.append(f"probability {probability!r} != logged {entry['probability']!r}")
    if level != entry["risk_level"]:
        problems.append(f"level {level!r} != logged {entry['risk_level']!r}")
    if derived_reasons != logged_reasons:
        problems.append("the reasons differ from the logged ones")
    if problems:
        raise NotReproducibleError(
            f"score {entry['score_id']} (model {version}, snapshot {day}) is not re-derived "
            f"bit for bit: {'; '.join(problems)}; the snapshot or the model changed since it "
            "was served, so no explanation record is made of it"
        )
    counterfactual = smallest_changes(model.scorer, matrix[0], level=level, bands=bands)
    decisions: list[dict[str, Any]] = next(
        (
            h["decisions"]
            for h in engine.audit_log.family_history(str(entry["family_id"]))
            if h["score_id"] == entry["score_id"]
        ),
        [],
    )
    return DossierFacts(
        entry=entry,
        model=model,
        row=matrix[0],
        explanation=explanation,
        cutoffs={k: float(v) for k, v in bands.cutoffs().items()},
        counterfactual=counterfactual,
        decisions=decisions,
    )
