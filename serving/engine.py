"""The scoring service's behaviour, without HTTP: load, check, score, log, answer.

:class:`ServingEngine` is built once per server process by :func:`load_engine` from
:class:`~serving.settings.ServingSettings`. Loading refuses to go on (raising
:class:`StartupError` with a message that says what to do) when there is no champion, the
model artifact does not match its registered checksum, the snapshot was built from another
feature list than the model's, or the audit log cannot be opened. After that, every method
is a plain function of its arguments plus the append-only audit log, and every served
score is on record before it is returned (fail closed).

The BentoML class in :mod:`serving.service` only adds bearer-token checks and maps the
exceptions here to HTTP statuses.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import EllipsisType
from typing import Any

import numpy as np
import pandas as pd

from features.contract import DERIVED_AUDIT_GROUPS
from features.eligibility import EligibilityRule
from features.errors import EarlyriskError
from serving.auth import Principal
from serving.casework import Casework
from serving.errors import (
    UNKNOWN_SCORE_MESSAGE,
    OutOfScopeScoreError,
    RequestError,
    StaleDecisionError,
    UnknownFamilyError,
    UnknownScoreError,
)
from serving.expiry import EXPIRED, expiry_today, is_expired
from serving.explain import (
    PROBABILITY_DECIMALS,
    Explanation,
    catalogue_entries,
    explanation_json,
)
from serving.family_view import history_rows, indicator_rows
from serving.holdout import mask_history, withheld_result
from serving.i18n import (
    DEFAULT_LANGUAGE,
    Language,
    ineligible_reason,
    level_name,
    notice,
)
from serving.records import FamilyRecords, RecordsError, build_records
from serving.rollout import Assignment, RolloutConfig, assign, score_detail
from serving.scoring import (
    ReferencePopulation,
    RiskBands,
    Scorer,
    derive_bands,
    describe_bands,
    fixed_bands,
)
from serving.settings import ServingSettings
from serving.shadow import ShadowFailures, shadow_scores
from serving.store.audit_log import (
    AuditLogBase,
    AuditLogRefused,
    AuditLogUnavailable,
    FeedbackRecord,
    ScoreRecord,
    ShadowRecord,
    audit_reasons,
)
from serving.store.cases import CaseStore
from serving.store.corrections import CorrectionStore
from serving.store.lookup import LookupStore, SnapshotError, as_of_text, read_snapshot_info
from serving.store.regions import RegionIndex
from serving.store.served_stats import ServedStatsRecorder
from serving.store.stores import Stores, open_stores
from serving.store.tokens import TokenStore
from serving.worklist import OpenContests
from training.protected import PROTECTED_NAMES
from training.reference_stats import ReferenceStats

# Names a client might send that are protected attributes or audit groups: refused by
# /score_indicators with a message saying so (they audit, they never predict).
PROTECTED_FIELDS: frozenset[str] = PROTECTED_NAMES | frozenset(DERIVED_AUDIT_GROUPS)


INTENDED_USE = (
    "Advisory prioritisation of early, voluntary family support by caseworkers. Not for "
    "automated decisions, eligibility, sanctions or child-protection findings; every score "
    "is explained, logged and reviewed by a person, whose decision is recorded as feedback."
)


class StartupError(EarlyriskError, RuntimeError):
    """The service must not start; the message says why and what to do."""


@dataclass(frozen=True)
class ModelIdentity:
    """Which registered model is serving, for responses and the model card."""

    name: str
    version: str
    uri: str
    run_id: str | None
    model_sha256: str | None
    feature_list_sha256: str | None
    training_date: str | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclass
class ServingModel:
    """The model-dependent part of the engine, swapped as one object when a new champion
    is loaded (:meth:`ServingEngine.swap_model`): a request reads it once, so its score,
    level, percentile and ``model_version`` all come from the same model."""

    scorer: Scorer
    identity: ModelIdentity
    model_card: dict[str, Any] | None
    references: dict[str, ReferencePopulation] = dataclasses.field(default_factory=dict)
    bands: dict[str, RiskBands] = dataclasses.field(default_factory=dict)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


#: families served by one model: the model, their ids, their rows, their rollout details
_Stage = tuple[ServingModel, list[str], np.ndarray, list[dict[str, Any]] | None]


def _audit_reasons(explanation: Explanation) -> list[dict[str, Any]]:
    """The reasons and context shown with one score as the audit log keeps them."""
    return audit_reasons((r.indicator, r.contribution) for r in explanation.shown())


class ServingEngine:
    """Champion model + snapshot lookup + audit log; thread-safe."""

    def __init__(
        self,
        *,
        settings: ServingSettings,
        scorer: Scorer,
        identity: ModelIdentity,
        lookup: LookupStore,
        audit_log: AuditLogBase,
        tokens: TokenStore,
        model_card: dict[str, Any] | None,
        indicator_ranges: Mapping[str, tuple[float, float]],
        regions: RegionIndex | None = None,
        records: FamilyRecords | None = None,
        served_stats: ServedStatsRecorder | None = None,
        cases: CaseStore | None = None,
        open_contests: OpenContests | None = None,
        corrections: CorrectionStore | None = None,
    ) -> None:
        self.settings = settings
        # the corrections filed through the service: a family with an open one is
        # "contested" on the worklist and in its explanation record (issue 23)
        self.corrections = corrections
        if open_contests is None and corrections is not None:
            open_contests = corrections.open_contests
        self.open_contests = open_contests
        # aggregate statistics of what is scored, for `earlyrisk monitor --served-stats`
        self.served_stats = served_stats
        self.records = records
        self._model = ServingModel(scorer, identity, model_card)
        self.lookup = lookup
        self.audit_log = audit_log
        self.tokens = tokens
        self.indicator_ranges = dict(indicator_ranges)
        self.regions = regions
        self.snapshot_date = lookup.latest_as_of()
        self.as_of_dates = lookup.as_of_dates()
        self.reference(self.snapshot_date)
        # the worklist's cases: one score per family, snapshot and model version
        self.casework: Casework | None = (
            None if cases is None else Casework(self, cases, open_contests=open_contests)
        )
        # shadow mode (serving.shadow): a second version scores every request, on record only
        self.shadow: ServingModel | None = None
        self.shadow_failures = ShadowFailures()
        # a staged rollout (serving.rollout): a version per region and the display hold-out
        self.rollout: RolloutConfig | None = None
        self.rollout_models: dict[str, ServingModel] = {}

    # ---- the model, swapped whole
    @property
    def model(self) -> ServingModel:
        """The model serving now (read it once per request)."""
        return self._model

    @property
    def scorer(self) -> Scorer:
        return self._model.scorer

    @property
    def identity(self) -> ModelIdentity:
        return self._model.identity

    @property
    def model_card_doc(self) -> dict[str, Any] | None:
        return self._model.model_card

    def swap_model(self, new: ServingModel) -> ServingModel:
        """Serve ``new`` from the next request on; return the model it replaces.

        The new model's reference population is computed first, so the first request on it
        is not slower; the swap itself is one attribute assignment (atomic under the GIL):
        a request under way finishes on the model it started with, and none fails.
        """
        self.reference(self.snapshot_date, new)
        old, self._model = self._model, new
        return old

    def corrections_of(self, family_id: str) -> list[dict[str, Any]]:
        """The family's corrections filed through the service (empty without the store)."""
        if self.corrections is None:
            return []
        return [c.to_dict() for c in self.corrections.list(family_ids=[family_id])]

    def close(self) -> None:
        """Close the audit log and this thread's store connections."""
        self.audit_log.close()
        self.lookup.close()
        self.tokens.close()
        if self.regions is not None:
            self.regions.close()
        if self.served_stats is not None:
            self.served_stats.close()
            if self.served_stats.group_index is not None:
                self.served_stats.group_index.close()
        if self.casework is not None:
            self.casework.cases.close()
        if self.corrections is not None:
            self.corrections.close()

    # ---- readiness
    def ready(self) -> bool:
        """Whether a score can be served now: the audit log is the one opened and its
        last write (or a fresh probe) succeeded. ``/readyz`` answers 503 otherwise."""
        return self.audit_log.ready()

    # ---- reference population
    def reference(self, as_of: str, model: ServingModel | None = None) -> ReferencePopulation:
        """The population at as_of as ``model`` (default: the serving one) scores it
        (computed once per date and model, in chunks)."""
        m = model or self._model
        ref = m.references.get(as_of)
        if ref is not None:
            return ref
        with m.lock:
            ref = m.references.get(as_of)
            if ref is None:
                parts = [
                    m.scorer.reference_probabilities(chunk)  # eligible families only
                    for chunk in self.lookup.iter_population(as_of=as_of)
                ]
                ref = ReferencePopulation(np.concatenate(parts) if parts else np.array([]))
                m.bands[as_of] = bands_from_settings(self.settings, ref.sorted_)
                m.references[as_of] = ref
        return ref

    def bands(self, as_of: str, model: ServingModel | None = None) -> RiskBands:
        """The risk levels' cut-offs set on the population at as_of (see derive_bands)."""
        m = model or self._model
        self.reference(as_of, m)
        return m.bands[as_of]

    def notice(self, lang: Language) -> str:
        """The advisory notice: the operator's own, else the built-in one in lang."""
        return self.settings.advisory_notice or notice(lang)

    # ---- scoring
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
        model: ServingModel,
        reuse: Sequence[str] | None = None,
        texts: bool = True,
        details: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[dict[str, Any]]:
        """Score the rows, log the scores, return the answers.

        ``reuse`` (a case's score, :mod:`serving.casework`): the rows were scored before with
        these score ids by this model on this snapshot; the answer is rebuilt under those
        ids (the same numbers: the model and the inputs are the same) and nothing new is
        logged. ``texts=False`` (the worklist's batch) answers only id, probability and level.
        """
        reference = self.reference(reference_date, model)
        bands = self.bands(reference_date, model)
        scored = model.scorer.score_matrix(matrix)
        levels = bands.levels(scored.probability)
        percentiles = reference.percentile(scored.probability)
        bands_json = describe_bands(bands, lang) if texts else []
        advisory = self.notice(lang)
        results: list[dict[str, Any]] = []
        records: list[ScoreRecord] = []
        for i, family_id in enumerate(family_ids):
            score_id = uuid.uuid4().hex if reuse is None else reuse[i]
            probability = float(scored.probability[i])
            level = levels[i]
            if not texts:
                results.append(
                    {"family_id": family_id, "score_id": score_id, "probability": probability,
                     "risk_level": level}
                )  # fmt: skip
            else:
                results.append(
                    {
                        "status": "scored",
                        "family_id": family_id,
                        "score_id": score_id,
                        "lang": lang,
                        "probability": probability,
                        "risk_level": level,
                        "risk_level_name": level_name(level, lang),
                        "risk_bands": bands_json,
                        "percentile": float(percentiles[i]),
                        **explanation_json(scored.explanations[i], lang),
                        "model_version": model.identity.version,
                        "snapshot_date": as_of,
                        "advisory_notice": advisory,
                    }
                )
            records.append(
                ScoreRecord(
                    score_id=score_id,
                    request_id=request_id,
                    token_id=principal.token_id,
                    role=principal.role,
                    endpoint=endpoint,
                    family_id=family_id,
                    as_of=as_of,
                    model_version=model.identity.version,
                    probability=probability,
                    risk_level=level,
                    reasons=_audit_reasons(scored.explanations[i]),
                    detail=None if details is None else details[i],
                )
            )
        if reuse is None:  # a reused case score is on record already: a view, not a new one
            shadow = self._shadow_records(
                matrix,
                family_ids=family_ids,
                score_ids=[r.score_id for r in records],
                as_of=as_of,
                reference_date=reference_date,
                request_id=request_id,
                champion=model,
            )
            # Fail closed: raises AuditLogUnavailable, and then nothing is returned.
            self._record_scores(records, shadow, request_id)
            if self.served_stats is not None:  # after the log: only served scores count
                self.served_stats.record(
                    matrix, scored.probability, family_ids=family_ids, as_of=as_of
                )
        # The log keeps the level as made; a score on data past the expiry age is never
        # shown as a current level (serving.expiry).
        if is_expired(
            as_of, today=expiry_today(self.settings), days=self.settings.score_expiry_days
        ):
            for result in results:
                result["risk_level"] = EXPIRED
                if "risk_level_name" in result:
                    result["risk_level_name"] = level_name(EXPIRED, lang)
        return results

    def _shadow_records(
        self,
        matrix: np.ndarray,
        *,
        family_ids: Sequence[str | None],
        score_ids: Sequence[str],
        as_of: str | None,
        reference_date: str,
        request_id: str,
        champion: ServingModel,
    ) -> list[ShadowRecord]:
        """The shadow's scores of these rows (the ones ``champion`` scored); none (the
        failure logged) when it fails."""
        shadow = self.shadow
        if shadow is None:
            return []
        try:
            return shadow_scores(
                shadow.scorer,
                shadow.identity.name,
                shadow.identity.version,
                matrix,
                bands=self.bands(reference_date, shadow),
                reference=self.reference(reference_date, shadow),
                family_ids=family_ids,
                score_ids=score_ids,
                as_of=as_of,
                request_id=request_id,
                same_rule=shadow.scorer.eligibility == champion.scorer.eligibility,
            )
        except Exception as exc:  # a shadow never fails a request (serving.shadow)
            self.shadow_failures.record(exc, request_id)
            return []

    def _record_scores(
        self, records: list[ScoreRecord], shadow: list[ShadowRecord], request_id: str
    ) -> None:
        """The scores (and the shadow's, in the same write) on record, or raise.

        A log that takes scores but refuses shadow entries (its ``kind`` check predates
        them) must not cost the answer: the scores are then written alone. Any other
        failure is the log's, and raises (fail closed), without a second wait."""
        if not shadow:
            self.audit_log.record_scores(records)
            return
        try:
            self.audit_log.record_scores(records, shadow)
        except AuditLogUnavailable as exc:
            text = str(exc)  # SQLite's and PostgreSQL's words for a failed kind check
            if "CHECK constraint failed" not in text and "violates check constraint" not in text:
                raise
            self.shadow_failures.record(exc, request_id)
            self.audit_log.record_scores(records)

    # ---- staged rollout and the display hold-out
    def assignments(self, family_ids: Sequence[str], *, as_of: str) -> dict[str, Assignment]:
        """Each family's stage in the sealed rollout (empty without a rollout)."""
        config = self.rollout
        if config is None or not family_ids:
            return {}
        regions = (
            self.regions.regions_of(family_ids, as_of=as_of) if self.regions is not None else {}
        )
        return {fid: assign(config, fid, regions.get(fid)) for fid in family_ids}

    def withheld(self, family_id: str, *, as_of: str) -> bool:
        """Whether the family's level is hidden from its caseworker this cycle."""
        found = self.assignments([family_id], as_of=as_of).get(family_id)
        return found is not None and found.withheld

    def _stages(
        self, model: ServingModel, found_ids: list[str], matrix: np.ndarray, day: str
    ) -> list[_Stage]:
        """The families grouped by the model serving their region, with their assignment
        (one group on the request's model when no rollout is configured)."""
        config = self.rollout
        if config is None or not found_ids:
            return [(model, found_ids, matrix, None)]
        assigned = self.assignments(found_ids, as_of=day)
        groups: dict[str, list[int]] = {}
        for i, fid in enumerate(found_ids):
            version = assigned[fid].version or model.identity.version
            groups.setdefault(version, []).append(i)
        out: list[_Stage] = []
        for version, rows in groups.items():
            serving = self.rollout_models.get(version, model)
            ids = [found_ids[i] for i in rows]
            details = [score_detail(assigned[fid], config) for fid in ids]
            out.append((serving, ids, matrix[np.asarray(rows, dtype=int)], details))
        return out

    def _score_group(
        self,
        model: ServingModel,
        found_ids: list[str],
        matrix: np.ndarray,
        details: list[dict[str, Any]] | None,
        *,
        day: str,
        principal: Principal,
        request_id: str,
        endpoint: str,
        lang: Language,
    ) -> dict[str, dict[str, Any]]:
        """Scores of families served by one model: eligible ones scored and logged (the
        hold-out's level withheld from the answer), the others with their reason."""
        scored: dict[str, dict[str, Any]] = {}
        # a family outside the scored population gets its status and reason, not a score
        keep = model.scorer.eligible_matrix(matrix)
        for fid in np.asarray(found_ids, dtype=object)[~keep]:
            scored[str(fid)] = {
                "status": "ineligible",
                "family_id": str(fid),
                "reason": ineligible_reason(model.scorer.eligibility.min_children, lang),
                "snapshot_date": day,
                "model_version": model.identity.version,
            }
        found_ids = [f for f, ok in zip(found_ids, keep, strict=True) if ok]
        if details is not None:
            details = [d for d, ok in zip(details, keep, strict=True) if ok]
        if not found_ids:
            return scored
        rows = self._results(
            matrix[keep],
            family_ids=found_ids,
            as_of=day,
            reference_date=day,
            principal=principal,
            request_id=request_id,
            endpoint=endpoint,
            lang=lang,
            model=model,
            details=details,
        )
        for i, row in enumerate(rows):
            held = details is not None and details[i]["arm"] == "holdout"
            scored[row["family_id"]] = withheld_result(row, lang) if held else row
        return scored

    def score(
        self,
        family_ids: Sequence[str],
        *,
        as_of: date | str | None,
        principal: Principal,
        request_id: str,
        lang: Language = DEFAULT_LANGUAGE,
        endpoint: str = "score",
    ) -> list[dict[str, Any]]:
        """Explained scores of the families, in request order; an unknown id is one error.

        Texts (descriptions, values, level names, notice) are in ``lang``."""
        if len(family_ids) == 0:
            raise RequestError("family_ids", "give at least one family id")
        if len(family_ids) > self.settings.max_batch_size:
            raise RequestError(
                "family_ids",
                f"{len(family_ids)} ids exceed the batch limit of "
                f"{self.settings.max_batch_size} per request; split the batch",
            )
        day = self.snapshot_date if as_of is None else as_of_text(as_of)
        if as_of is not None and day not in self.as_of_dates:
            raise RequestError(
                "as_of",
                f"no snapshot for {day}; available: {', '.join(self.as_of_dates)}",
            )
        model = self._model  # one model for the whole request, even across a swap
        found_ids, matrix = self.lookup.get_matrix(family_ids, as_of=day)
        if principal.regions is not None:
            # A family outside the token's regions is answered exactly like an unknown one:
            # a scoped token learns nothing about families elsewhere, not even that they exist.
            inside = (
                self.regions.within(found_ids, as_of=day, regions=principal.regions)
                if self.regions is not None
                else set()
            )
            in_scope = [fid in inside for fid in found_ids]
            found_ids = [fid for fid, k in zip(found_ids, in_scope, strict=True) if k]
            matrix = matrix[np.asarray(in_scope, dtype=bool)] if in_scope else matrix
        scored: dict[str, dict[str, Any]] = {}
        if found_ids:
            for serving, ids, rows, details in self._stages(model, found_ids, matrix, day):
                scored.update(
                    self._score_group(
                        serving,
                        ids,
                        rows,
                        details,
                        day=day,
                        principal=principal,
                        request_id=request_id,
                        endpoint=endpoint,
                        lang=lang,
                    )
                )
        results: list[dict[str, Any]] = []
        for fid in family_ids:
            if fid in scored:
                results.append(scored[fid])
                continue
            message = f"family_id {fid!r} is not in the feature snapshot of {day}"
            results.append({"status": "error", "family_id": fid, "error": message})
        return results

    def snapshot_day(self, as_of: date | str | None) -> str:
        """The snapshot date a request names (default the latest), or RequestError."""
        day = self.snapshot_date if as_of is None else as_of_text(as_of)
        if day not in self.as_of_dates:
            raise RequestError(
                "as_of", f"no snapshot for {day}; available: {', '.join(self.as_of_dates)}"
            )
        return day

    def family(
        self,
        family_id: str,
        *,
        as_of: date | str | None,
        principal: Principal,
        request_id: str,
        lang: Language = DEFAULT_LANGUAGE,
        endpoint: str = "family",
        with_history: bool = True,
    ) -> dict[str, Any]:
        """One family's indicators with the records behind them, its score history and the
        decisions on those scores. The view is on the audit log before it is returned.

        ``with_history=False`` leaves the history empty, for a caller that reads it itself
        after scoring the family (the review page), so it is not read twice."""
        day = self.snapshot_day(as_of)
        found, matrix = self.lookup.get_matrix([family_id], as_of=day)
        if found and principal.regions is not None:
            inside = (
                self.regions.within(found, as_of=day, regions=principal.regions)
                if self.regions is not None
                else set()
            )
            found = [fid for fid in found if fid in inside]
        if not found:
            raise UnknownFamilyError(
                f"family_id {family_id!r} is not in the feature snapshot of {day}"
            )
        self.audit_log.record_view(
            request_id=request_id,
            token_id=principal.token_id,
            role=principal.role,
            endpoint=endpoint,
            family_id=family_id,
            as_of=day,
        )
        common = {
            "family_id": family_id,
            "as_of": day,
            "lang": lang,
            "records_available": self.records is not None,
            "advisory_notice": self.notice(lang),
        }
        if not bool(self.scorer.eligible_matrix(matrix)[0]):
            # outside the scored population (design rule 10): the reason, in lang, and no
            # indicators or records (nothing here is a reason to act on)
            return {
                **common,
                "eligible": False,
                "ineligible_reason": ineligible_reason(self.scorer.eligibility.min_children, lang),
                "indicators": [],
                "history": self.family_history(family_id, lang, as_of=day) if with_history else [],
            }
        records = self.records.for_family(family_id, day) if self.records is not None else None
        return {
            **common,
            "eligible": True,
            "ineligible_reason": None,
            "indicators": indicator_rows(
                names=self.scorer.feature_names,
                values=matrix[0].tolist(),
                info=self.scorer.indicators,
                records=records,
                lang=lang,
            ),
            "history": self.family_history(family_id, lang, as_of=day) if with_history else [],
        }

    def family_history(
        self, family_id: str, lang: Language, *, as_of: str | None = None
    ) -> list[dict[str, Any]]:
        """The family's latest scores (newest first) with the decisions on each (an expired
        one without its level); without probabilities or levels while the family is in the
        display hold-out."""
        history = history_rows(
            self.audit_log.family_history(family_id),
            lang,
            digits=PROBABILITY_DECIMALS,
            today=expiry_today(self.settings),
            expiry_days=self.settings.score_expiry_days,
        )
        if self.withheld(family_id, as_of=as_of or self.snapshot_date):
            return mask_history(history, lang)
        return history

    def check_indicators(self, indicators: Mapping[str, Any]) -> pd.DataFrame:
        """A one-row frame of validated indicators, or RequestError naming the field."""
        names = self.scorer.feature_names
        for field in indicators:
            if field in self.indicator_ranges:
                continue
            if field in PROTECTED_FIELDS or field.startswith(("audit_", "protected")):
                raise RequestError(
                    f"indicators.{field}",
                    "is a protected attribute or audit group; these are never used to score",
                )
            raise RequestError(f"indicators.{field}", "is not an indicator of this model")
        missing = [n for n in names if n not in indicators]
        if missing:
            raise RequestError(
                f"indicators.{missing[0]}",
                f"is missing ({len(missing)} indicator(s) missing: {', '.join(missing[:10])}); "
                "send null for a value that is not recorded",
            )
        row: dict[str, float] = {}
        for name in names:
            raw = indicators[name]
            if raw is None:
                row[name] = math.nan
                continue
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise RequestError(f"indicators.{name}", f"must be a number or null, got {raw!r}")
            value = float(raw)
            low, high = self.indicator_ranges[name]
            if not math.isfinite(value) or value < low or value > high:
                raise RequestError(
                    f"indicators.{name}",
                    f"value {raw!r} is outside the accepted range [{low:g}, {high:g}]",
                )
            row[name] = value
        return pd.DataFrame([row], columns=names, dtype=np.float64)

    def score_indicators(
        self,
        indicators: Mapping[str, Any],
        *,
        principal: Principal,
        request_id: str,
        lang: Language = DEFAULT_LANGUAGE,
    ) -> dict[str, Any]:
        """An explained score of explicit indicator values (no family lookup); its level
        and percentile are placed in the latest snapshot's population.

        Indicators of a family the model's eligibility rule leaves out (no child under 18 in
        the household, by default) are refused, naming the indicator the rule reads: the
        model was neither trained nor calibrated on such families, so it has no score for
        them, here as in /score and the batch files."""
        model = self._model
        frame = self.check_indicators(indicators)
        matrix = frame.to_numpy(dtype=np.float64)
        if not bool(model.scorer.eligible_matrix(matrix)[0]):
            column = ", ".join(model.scorer.eligibility.columns) or "indicators"
            raise RequestError(
                f"indicators.{column}",
                f"value {indicators.get(column)!r} describes a family outside the scored "
                f"population ({model.scorer.eligibility.reason()}): the model gives it no score",
            )
        return self._results(
            matrix,
            family_ids=[None],
            as_of=None,
            reference_date=self.snapshot_date,
            principal=principal,
            request_id=request_id,
            endpoint="score_indicators",
            lang=lang,
            model=model,
        )[0]

    # ---- feedback and audit export
    def score_in_scope(self, entry: Mapping[str, Any], principal: Principal) -> bool:
        """Whether a logged score is within the principal's regions.

        A region-scoped token may decide only on families of its regions (at the score's
        snapshot date); a score without a family (``/score_indicators``) only when the same
        token was served it. An unscoped token sees every region."""
        if principal.regions is None:
            return True
        family_id = entry.get("family_id")
        if family_id is None:
            return bool(entry.get("token_id") == principal.token_id)
        if self.regions is None or entry.get("as_of") is None:
            return False
        inside = self.regions.within(
            [str(family_id)], as_of=str(entry["as_of"]), regions=principal.regions
        )
        return str(family_id) in inside

    def feedback(
        self,
        *,
        score_id: str,
        decision: str,
        reason: str,
        principal: Principal,
        request_id: str,
        follow_up: date | None = None,
        in_force: int | EllipsisType | None = ...,
        form_token: str | None = None,
    ) -> dict[str, Any] | None:
        """Store a caseworker decision on a served score (durably, or raise).

        Refused like an unknown score (:class:`OutOfScopeScoreError`) when the score's
        family is outside the caller's regions. Returns the earlier decision this one
        supersedes (``seq``, ``decision``, ``token_id``, ``recorded_at``), or None: both stay
        in the log, a reader marks the latest as current, and the caller says which one it
        replaced, whoever made it. The feedback entry names it too (``detail.supersedes_seq``)
        with the ``follow_up`` date (not in the past: RequestError); ``in_force`` (the
        review form's decision in force, None for none) refuses a decision made on a stale
        page (:class:`StaleDecisionError`). A case's decision is indexed in the case store
        (:mod:`serving.casework`), with the form token that made it.
        """
        try:
            entry = self.audit_log.score_entry(score_id)
            previous = self.audit_log.latest_feedback_seqs([score_id]).get(score_id)
        except Exception as exc:
            raise AuditLogUnavailable(f"audit log unreadable: {exc}") from exc
        if entry is None:
            raise UnknownScoreError(UNKNOWN_SCORE_MESSAGE)
        if not self.score_in_scope(entry, principal):
            raise OutOfScopeScoreError(UNKNOWN_SCORE_MESSAGE)
        if in_force is not ... and in_force != previous:
            raise StaleDecisionError(in_force, previous)
        if follow_up is not None and self.casework is not None:
            self.casework.check_follow_up(follow_up)
        superseded = None
        if previous is not None:
            (earlier,) = self.audit_log.page(after_seq=previous - 1, limit=1)
            superseded = {
                key: earlier[key] for key in ("seq", "decision", "token_id", "recorded_at")
            }
        detail: dict[str, Any] = {"supersedes_seq": previous}
        if follow_up is not None:
            detail["follow_up"] = follow_up.isoformat()
        seq = self.audit_log.record_feedback(
            FeedbackRecord(
                score_id=score_id,
                request_id=request_id,
                token_id=principal.token_id,
                role=principal.role,
                family_id=entry["family_id"],
                decision=decision,
                reason=reason,
                detail=detail,
            )
        )
        if self.casework is not None:
            self.casework.decided(
                score_id=score_id,
                audit_seq=seq,
                decision=decision,
                reason=reason,
                principal=principal,
                follow_up=follow_up,
                supersedes_seq=previous,
                form_token=form_token,
            )
        return superseded

    def audit_page(self, *, after_seq: int, limit: int, kind: str | None) -> dict[str, Any]:
        """One page of the audit log, and the cursor of the next."""
        limit = min(limit, self.settings.audit_page_limit)
        entries = self.audit_log.page(after_seq=after_seq, limit=limit, kind=kind)  # type: ignore[arg-type]
        feedback_ids = [e["score_id"] for e in entries if e["kind"] == "feedback"]
        latest = self.audit_log.latest_feedback_seqs(feedback_ids) if feedback_ids else {}
        for entry in entries:
            if entry["kind"] == "feedback":
                entry["current"] = latest.get(entry["score_id"]) == entry["seq"]
        next_after = entries[-1]["seq"] if len(entries) == limit else None
        return {"entries": entries, "next_after_seq": next_after}

    def served_stats_document(
        self, *, since: date, until: date, as_of: date | None = None
    ) -> dict[str, Any]:
        """Aggregate statistics of what was served between two days (no personal data)."""
        from serving.store.served_stats import (
            FORMAT,
            FORMAT_VERSION,
            ServedStatsError,
            served_document,
        )

        if self.served_stats is None:
            return {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "since": since.isoformat(),
                "until": until.isoformat(),
                "recording": False,
                "note": f"model {self.identity.name}/{self.identity.version} has no reference "
                "statistics (trained before monitoring existed), so no served statistics "
                "are kept",
                "min_group_size": 0,
                "unrecorded_batches": 0,
                "periods": [],
            }
        self.served_stats.flush()  # this worker's queued batches are in the totals read
        try:
            return served_document(
                self.served_stats.store,
                since=since,
                until=until,
                as_of=None if as_of is None else as_of.isoformat(),
                min_group_size=self.served_stats.accumulator.reference.min_group_size,
                unrecorded_batches=self.served_stats.unrecorded_batches,
            )
        except ServedStatsError as exc:
            raise RequestError("until", str(exc)) from exc
        except sqlite3.Error as exc:
            raise AuditLogUnavailable(f"served statistics unreadable: {exc}") from exc

    def model_card(self) -> dict[str, Any]:
        """The serving model's identity and card (its "decisions": waivers, approvals)."""
        model = self._model
        identity = model.identity
        return {
            "model_name": identity.name,
            "model_version": identity.version,
            "model_uri": identity.uri,
            "run_id": identity.run_id,
            "model_sha256": identity.model_sha256,
            "feature_list_sha256": identity.feature_list_sha256,
            "snapshot_date": self.snapshot_date,
            "training_date": identity.training_date,
            "metrics": identity.metrics,
            "intended_use": INTENDED_USE,
            "card": model.model_card,
        }


# --------------------------------------------------------------------------- loading


def _run_summary(run_id: str | None, tracking_uri: str) -> tuple[str | None, dict[str, float]]:
    """Training date (run start, UTC ISO) and the run's logged metrics."""
    if not run_id:
        return None, {}
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        run = mlflow.MlflowClient(tracking_uri=tracking_uri).get_run(run_id)
    except MlflowException:
        return None, {}
    started = datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).isoformat()
    return started, {k: float(v) for k, v in sorted(run.data.metrics.items())}


def _load_model_card(run_id: str | None, tracking_uri: str) -> dict[str, Any] | None:
    """model_card/model_card.json of the training run, or None when the run has none."""
    if not run_id:
        return None
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        text = mlflow.artifacts.load_text(
            mlflow.artifacts.download_artifacts(
                run_id=run_id,
                artifact_path="model_card/model_card.json",
                tracking_uri=tracking_uri,
            )
        )
    except (MlflowException, OSError):
        return None
    return json.loads(text)


def indicator_ranges_from(lookup: LookupStore, as_of: str) -> dict[str, tuple[float, float]]:
    """Accepted range of each indicator for /score_indicators.

    Indicators are counts, amounts, shares and ages: never negative. The upper bound is
    twice the largest value seen in the reference population (at least 1), which lets real
    families through and refuses values no registry could produce (typos, unit errors).
    """
    maxima: dict[str, float] = dict.fromkeys(lookup.feature_names, 0.0)
    minima: dict[str, float] = dict.fromkeys(lookup.feature_names, 0.0)
    for chunk in lookup.iter_population(as_of=as_of):
        for name in lookup.feature_names:
            col = chunk[name]
            if col.notna().any():
                maxima[name] = max(maxima[name], float(col.max()))
                minima[name] = min(minima[name], float(col.min()))
    return {
        name: (
            minima[name] * 2.0 if minima[name] < 0 else 0.0,
            max(2.0 * maxima[name], 1.0),
        )
        for name in lookup.feature_names
    }


def load_serving_model(settings: ServingSettings, uri: str, snapshot: Any) -> ServingModel:
    """The model at ``uri`` ready to serve the snapshot, or StartupError saying why not.

    Used at start and by the champion watcher (:mod:`serving.model_watcher`): a model
    whose checksum or feature list does not match is refused either way.
    """
    return _serving_model(settings, _load_registered(settings, uri), uri, snapshot)


def _load_registered(settings: ServingSettings, uri: str) -> Any:
    """The registered model at uri (a LoadedRiskModel), or StartupError saying why not."""
    from training.registry import ModelChecksumError, ModelNotFoundError, load_risk_model

    # load_risk_model reads the configured store through a client bound to it (and the
    # version's own storage location): MLflow's process-wide URIs stay the embedding
    # program's (a notebook, a worker, a test), never moved by starting a service.
    try:
        loaded = load_risk_model(uri, tracking_uri=settings.tracking_uri)
    except ModelNotFoundError as exc:
        raise StartupError(
            f"no model to serve at {uri} (tracking URI {settings.tracking_uri}): "
            f"{str(exc).rstrip('.')}. "
            "Train and promote one with `earlyrisk train`, or set EARLYRISK_MODEL_URI."
        ) from exc
    except ModelChecksumError as exc:
        raise StartupError(f"refusing to serve {uri}: {exc}") from exc
    except ValueError as exc:
        raise StartupError(f"cannot load {uri}: {exc}") from exc
    return loaded


def _serving_model(settings: ServingSettings, loaded: Any, uri: str, snapshot: Any) -> ServingModel:
    from training.registry import TAG_ELIGIBILITY

    model = loaded.risk_model
    expected = loaded.feature_list_sha256
    if not expected or snapshot.feature_list_sha256 != expected:
        raise StartupError(
            f"feature snapshot {snapshot.path} was built with feature list "
            f"{snapshot.feature_list_sha256} but model {loaded.name}/{loaded.version} was "
            f"trained on feature list {expected or '(not recorded)'}; rebuild the snapshot "
            "with the same catalogue as the model (`earlyrisk features`) or serve a model "
            "trained on this one"
        )
    try:
        indicators = catalogue_entries(model.feature_names)
    except KeyError as exc:
        raise StartupError(str(exc.args[0])) from exc
    scorer = scorer_from_settings(
        model,
        settings,
        indicators=indicators,
        eligibility=EligibilityRule.from_tag(loaded.tags.get(TAG_ELIGIBILITY)),
    )
    training_date, metrics = _run_summary(loaded.run_id, settings.tracking_uri)
    identity = ModelIdentity(
        name=loaded.name,
        version=loaded.version,
        uri=uri,
        run_id=loaded.run_id or None,
        model_sha256=loaded.model_sha256 or None,
        feature_list_sha256=loaded.feature_list_sha256 or None,
        training_date=training_date,
        metrics=metrics,
    )
    return ServingModel(scorer, identity, _load_model_card(loaded.run_id, settings.tracking_uri))


def load_engine(settings: ServingSettings, *, new_audit_log: bool = False) -> ServingEngine:
    """Build the engine from settings, or raise StartupError saying what is wrong.

    ``new_audit_log`` begins the audit log where there is no anchor (a first start, or a
    log lost with or without its anchor: ``earlyrisk serve --new-log``); without it that is
    a refusal. The shadow and the rollout are added by :func:`serving.startup.start_engine`.
    """
    uri = settings.resolved_model_uri
    loaded = _load_registered(settings, uri)
    try:
        snapshot = read_snapshot_info(settings.snapshot_path)
    except SnapshotError as exc:
        raise StartupError(str(exc)) from exc
    serving_model = _serving_model(settings, loaded, uri, snapshot)
    scorer, identity = serving_model.scorer, serving_model.identity
    model = scorer
    reference = _served_reference(
        identity_name=loaded.name,
        version=loaded.version,
        run_id=loaded.run_id or None,
        settings=settings,
    )
    try:
        opened = open_stores(
            settings,
            snapshot=snapshot,
            feature_names=model.feature_names,
            security_log=False,  # the gate and the review page record refusals
            served_stats=reference is not None,
            audit_log=True,
            new_audit_log=new_audit_log,
            cases=True,
            corrections=True,
        )
    except SnapshotError as exc:
        raise StartupError(str(exc)) from exc
    except AuditLogRefused as exc:  # the log (or the database's schema) is refused
        raise StartupError(f"{exc}; the service does not serve scores it cannot log") from exc
    except AuditLogUnavailable as exc:  # the database is away
        raise StartupError(f"{exc}; the service does not start without its database") from exc
    assert opened.lookup is not None and opened.audit_log is not None
    lookup, audit_log, tokens = opened.lookup, opened.audit_log, opened.tokens
    latest = lookup.latest_as_of()
    records = None
    if settings.raw_dir is not None:
        try:
            records = build_records(
                settings.raw_dir,
                as_of_dates=lookup.as_of_dates(),
                feature_names=list(model.feature_names),
                expected_raw_sha256=snapshot.raw_sha256,
            )
        except RecordsError as exc:
            raise StartupError(str(exc)) from exc
    return ServingEngine(
        settings=settings,
        scorer=scorer,
        identity=identity,
        lookup=lookup,
        audit_log=audit_log,
        tokens=tokens,
        model_card=serving_model.model_card,
        indicator_ranges=indicator_ranges_from(lookup, latest),
        regions=opened.regions,
        records=records,
        served_stats=served_stats_recorder(opened, identity, reference),
        cases=opened.cases,
        corrections=opened.corrections,
    )


def _served_reference(
    *, identity_name: str, version: str, run_id: str | None, settings: ServingSettings
) -> ReferenceStats | None:
    """The model's reference statistics to bin what is served by, or None (logged) when
    the model was trained before monitoring existed: then no served statistics are kept."""
    import logging

    from serving.store.served_stats import load_reference

    reference = load_reference(run_id, tracking_uri=settings.tracking_uri)
    if reference is None:
        logging.getLogger("earlyrisk.serving").warning(
            "model %s/%s has no reference statistics: served statistics are not kept",
            identity_name,
            version,
        )
    return reference


def served_stats_recorder(
    opened: Stores, identity: ModelIdentity, reference: ReferenceStats | None
) -> ServedStatsRecorder | None:
    """The recorder of served statistics into the opened store (None without a reference)."""
    from serving.store.served_stats import ServedStatsAccumulator

    if reference is None or opened.served_stats is None:
        return None
    return ServedStatsRecorder(
        opened.served_stats,
        ServedStatsAccumulator(reference),
        model_name=identity.name,
        model_version=identity.version,
        groups=opened.audit_groups,
    )


def scorer_from_settings(
    model: object,
    settings: ServingSettings,
    *,
    indicators: Any = None,
    eligibility: EligibilityRule | None = None,
) -> Scorer:
    """The Scorer the settings describe (threshold and reason counts) with the model's
    eligibility rule (recorded at training; None: everyone is scored)."""
    return Scorer(
        model,
        indicators=indicators,
        min_contribution=settings.min_contribution,
        n_raising=settings.reasons_raising,
        n_lowering=settings.reasons_lowering,
        n_context=settings.reasons_context,
        eligibility=eligibility,
    )


def bands_from_settings(settings: ServingSettings, probabilities: np.ndarray) -> RiskBands:
    """The risk bands of a population: the operator's fixed cut-offs, else derived from the
    capacity (high = the families caseworkers can reach)."""
    if settings.risk_bands is not None:
        return fixed_bands(settings.risk_bands, probabilities)
    return derive_bands(
        probabilities,
        capacity_count=settings.capacity_count,
        capacity_fraction=settings.capacity_fraction,
        elevated_ratio=settings.elevated_ratio,
    )


def new_request_id() -> str:
    """A fresh request id (returned to the client and written in the audit log)."""
    return uuid.uuid4().hex
