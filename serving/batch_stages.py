"""A staged rollout and shadow mode in batch scoring (`earlyrisk score --rollout --shadow`).

A score file reaches caseworkers like a served score, so the batch must keep the same
promises as `earlyrisk serve`:

* **The rollout** (:mod:`serving.rollout`): each family is scored by the version its region
  is assigned (the seeded hash of its id and the cycle, the config sealed in the audit log
  before the first score, a cycle sealed with another config refused), and a family in the
  display hold-out keeps its row, status ``withheld`` and its ``score_id`` (the decision is
  recorded on it) but no probability, level, percentile or reasons: the level is hidden
  from the caseworker, never the service. Its score entry records the arm, so the sealed
  assignment replays from the log and the monitor's ``deployment`` section sees the arms.
* **The shadow** (:mod:`serving.shadow`): a second version scores every family the file
  scores; its scores go to the audit log as ``shadow`` entries in the same transaction as
  the scores they shadow, and nothing of it goes into the file (not a column, not its
  metadata): `earlyrisk shadow-report` compares the two.

Each version's risk bands and percentiles are set on its own scores of the whole eligible
population, as the service sets them on the snapshot (:meth:`ServingEngine.reference`), so
a family served by a rollout version gets the level that version would give it in service.
Every version is loaded with the champion's checks (its feature list is the code's, its
eligibility rule is the one it was trained with); a version that fails them refuses the run
before anything is logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.errors import EarlyriskError
from serving.explain import PROBABILITY_DECIMALS
from serving.rollout import (
    RolloutConfig,
    RolloutError,
    assign,
    load_rollout_config,
    score_detail,
    seal_problem,
    sealed_configs,
)
from serving.scoring import ReferencePopulation, RiskBands, Scorer
from serving.settings import ServingSettings
from serving.store.audit_log import AuditLogBase, ShadowRecord

if TYPE_CHECKING:
    from training.registry import LoadedRiskModel

#: the snapshot column the rollout assigns by (as the service's region index)
REGION_COLUMN = "audit_region"
#: columns the scored partitions carry between the two passes, never published
ARM, REGION, SHADOW_P = "_rollout_arm", "_rollout_region", "_shadow_probability"
HELPER_COLUMNS = (ARM, REGION, SHADOW_P)
#: the status of a hold-out family's row: on the list, its level withheld
WITHHELD = "withheld"
#: what a hold-out row does not show (the reasons give the level away)
HIDDEN_COLUMNS = (
    "probability",
    "baseline_probability",
    "risk_level",
    "percentile",
    "reasons_raising",
    "reasons_lowering",
    "context",
    "contribution_need",
    "contribution_context",
    "contribution_support",
)


class BatchStageError(EarlyriskError, ValueError):
    """The rollout or the shadow cannot be applied to this run; says why and what to do."""


@dataclass(frozen=True)
class BatchModel:
    """One registered version the run scores with."""

    name: str
    version: str
    scorer: Scorer


@dataclass
class BatchStages:
    """The champion, the sealed rollout's other versions, and the shadow of one run."""

    champion: BatchModel
    rollout: RolloutConfig | None = None
    versions: dict[str, BatchModel] = field(default_factory=dict)
    shadow: BatchModel | None = None

    @property
    def staged(self) -> bool:
        """Whether the run does more than score every family with the champion."""
        return self.rollout is not None or self.shadow is not None

    def model(self, version: str) -> BatchModel:
        return self.versions.get(version, self.champion)

    def all_models(self) -> list[BatchModel]:
        """The versions whose bands the run sets (the shadow is apart)."""
        return [self.champion, *self.versions.values()]


def batch_model(
    loaded: LoadedRiskModel, settings: ServingSettings, *, expected_features: str
) -> BatchModel:
    """A loaded version as the run scores with it, or BatchStageError when it was trained on
    another feature list (its inputs would not be the features computed here)."""
    from features.eligibility import EligibilityRule
    from serving.engine import scorer_from_settings
    from training.registry import TAG_ELIGIBILITY, refuse_other_feature_list

    refuse_other_feature_list(
        loaded, BatchStageError, expected=expected_features, remedy="it cannot score these features"
    )
    scorer = scorer_from_settings(
        loaded.risk_model,
        settings,
        eligibility=EligibilityRule.from_tag(loaded.tags.get(TAG_ELIGIBILITY)),
    )
    return BatchModel(loaded.name, loaded.version, scorer)


def load_stages(
    champion: BatchModel,
    settings: ServingSettings,
    *,
    rollout_path: Path | None,
    shadow_uri: str | None,
    tracking_uri: str,
    expected_features: str,
) -> BatchStages:
    """The run's stages: the rollout config and its versions, the shadow (each checked)."""
    from training.registry import load_risk_model

    stages = BatchStages(champion)

    def load(uri: str, what: str) -> BatchModel:
        try:
            loaded = load_risk_model(uri, tracking_uri=tracking_uri)
            return batch_model(loaded, settings, expected_features=expected_features)
        except (EarlyriskError, ValueError, OSError) as exc:
            raise BatchStageError(f"{what} {uri}: {exc}") from exc

    if rollout_path is not None:
        try:
            stages.rollout = load_rollout_config(rollout_path)
        except RolloutError as exc:
            raise BatchStageError(str(exc)) from exc
        for version in sorted(stages.rollout.versions() - {champion.version}):
            uri = f"models:/{champion.name}/{version}"
            stages.versions[version] = load(uri, f"rollout config {rollout_path}, version")
    if shadow_uri is not None:
        stages.shadow = load(shadow_uri, "shadow model")
    return stages


def seal(stages: BatchStages, audit_log: AuditLogBase) -> None:
    """Seal the rollout config in the audit log before the first score (once per cycle and
    config), or BatchStageError when its cycle is sealed with another config."""
    config = stages.rollout
    if config is None:
        return
    entries: list[dict[str, Any]] = []
    after = 0
    while True:
        page = audit_log.page(after_seq=after, limit=500, kind="rollout")
        entries.extend(page)
        if len(page) < 500:
            break
        after = int(page[-1]["seq"])
    sealed = sealed_configs(entries)
    problem = seal_problem(config, sealed)
    if problem is not None:
        raise BatchStageError(f"rollout: {problem}")
    if config.sha256() not in sealed:
        audit_log.record_rollout(
            config_json=config.canonical_json(), config_sha256=config.sha256(), cycle=config.cycle
        )


def _rounded(probability: np.ndarray) -> np.ndarray:
    # served, logged and banded as one rounded number, as Scorer.score_matrix does
    return np.round(np.asarray(probability, dtype=np.float64), PROBABILITY_DECIMALS)


def stage_partition(
    features: pd.DataFrame,
    frame: pd.DataFrame,
    stages: BatchStages,
    *,
    score: Any,
    populations: dict[str, list[np.ndarray]],
) -> pd.DataFrame:
    """Pass 1 of a staged run on one partition: ``frame`` (the champion's scores of every
    family) with the rows of rollout versions re-scored by their version, each row's arm
    and region, and the shadow's probability; each version's (and the shadow's, under
    key ``shadow``) probabilities of its eligible families added to ``populations``.

    ``score(features, model)`` is the batch's own scoring of a feature frame by a model."""
    champion = stages.champion
    scored = (frame["status"] == "scored").to_numpy()
    populations.setdefault(champion.version, []).append(
        frame["probability"].to_numpy(dtype=np.float64)[scored]
    )
    out = frame
    if stages.rollout is not None:
        if REGION_COLUMN not in features.columns:
            raise BatchStageError(
                f"the rollout assigns by region, but the features have no {REGION_COLUMN} "
                "column (the registry's households name no region)"
            )
        regions = features[REGION_COLUMN].astype("string").to_numpy()
        ids = features["family_id"].astype(str).to_numpy()
        assigned = [
            assign(stages.rollout, fid, None if pd.isna(r) else str(r))
            for fid, r in zip(ids, regions, strict=True)
        ]
        versions = np.array([a.version or champion.version for a in assigned], dtype=object)
        parts = [out.loc[versions == champion.version]]
        for version, model in stages.versions.items():
            rows = np.flatnonzero(versions == version)
            if len(rows):
                part = score(features.iloc[rows], model)
                parts.append(part.set_axis(out.index[rows]))
            mask = model.scorer.eligible(features)
            populations.setdefault(version, []).append(
                _rounded(model.scorer.probabilities(features.loc[mask]))
            )
        out = pd.concat(parts).sort_index()
        out[ARM] = pd.array([a.arm for a in assigned], dtype="string")
        out[REGION] = pd.array([a.region for a in assigned], dtype="string")
    if stages.shadow is not None:
        shadow = stages.shadow.scorer
        mask = shadow.eligible(features)
        probability = np.full(len(features), np.nan)
        if mask.any():
            probability[mask] = _rounded(shadow.probabilities(features.loc[mask]))
        populations.setdefault("shadow", []).append(probability[mask])
        # the shadow scores what the file scores (the rows its own rule admits)
        probability[(out["status"] != "scored").to_numpy()] = np.nan
        out[SHADOW_P] = probability
    return out


@dataclass(frozen=True)
class Banding:
    """A version's bands and reference population (None: no family eligible)."""

    bands: RiskBands | None
    reference: ReferencePopulation | None


def bandings(
    populations: dict[str, list[np.ndarray]], settings: ServingSettings
) -> dict[str, Banding]:
    """Each version's (and the shadow's) bands and percentiles on its own population."""
    from serving.engine import bands_from_settings

    out: dict[str, Banding] = {}
    for key, parts in populations.items():
        population = np.concatenate(parts) if parts else np.empty(0)
        if population.size:
            out[key] = Banding(
                bands_from_settings(settings, population), ReferencePopulation(population)
            )
        else:
            out[key] = Banding(None, None)
    return out


def level_by_version(frame: pd.DataFrame, banding: dict[str, Banding], assign_levels: Any) -> Any:
    """Pass 2: each row's level and percentile on the bands of the version that scored it."""
    parts = []
    for version, rows in frame.groupby("model_version", sort=False).groups.items():
        b = banding[str(version)]
        parts.append(assign_levels(frame.loc[rows], bands=b.bands, reference=b.reference))
    return pd.concat(parts).sort_index()


def score_details(
    frame: pd.DataFrame, stages: BatchStages
) -> Sequence[dict[str, Any] | None] | None:
    """What each scored row's audit entry records of its assignment (None: no rollout)."""
    config = stages.rollout
    if config is None:
        return None
    return [
        score_detail(assign(config, str(fid), None if pd.isna(r) else str(r)), config)
        for fid, r in zip(frame["family_id"], frame[REGION], strict=True)
    ]


def shadow_records(
    frame: pd.DataFrame,
    score_ids: Sequence[str],
    stages: BatchStages,
    banding: dict[str, Banding],
    *,
    run_id: str,
    as_of: Sequence[str],
) -> list[ShadowRecord]:
    """The shadow's entries of the scored rows ``frame`` (their score ids given)."""
    shadow = stages.shadow
    if shadow is None:
        return []
    b = banding.get("shadow")
    probability = frame[SHADOW_P].to_numpy(dtype=np.float64)
    keep = [int(i) for i in np.flatnonzero(~np.isnan(probability))]
    if b is None or b.bands is None or b.reference is None or not keep:
        return []
    levels = b.bands.levels(probability[keep])
    percentiles = b.reference.percentile(probability[keep])
    ids = frame["family_id"].to_numpy()
    return [
        ShadowRecord(
            score_id=score_ids[i],
            request_id=run_id,
            family_id=str(ids[i]),
            as_of=as_of[i],
            model_name=shadow.name,
            model_version=shadow.version,
            probability=float(probability[i]),
            risk_level=levels[j],
            percentile=float(percentiles[j]),
        )
        for j, i in enumerate(keep)
    ]


def publishable(frame: pd.DataFrame) -> pd.DataFrame:
    """The row group as published: hold-out rows withheld, the helper columns gone."""
    if ARM in frame.columns:
        held = ((frame[ARM] == "holdout") & (frame["status"] == "scored")).to_numpy(
            dtype=bool, na_value=False
        )
        if held.any():
            frame = frame.copy()
            for column in HIDDEN_COLUMNS:
                if column not in frame.columns:
                    continue
                if frame[column].dtype.kind == "f":
                    frame.loc[held, column] = np.nan
                else:
                    frame[column] = frame[column].astype(object)
                    frame.loc[held, column] = None
            frame.loc[held, "status"] = WITHHELD
            if "risk_level" in frame.columns:
                frame["risk_level"] = frame["risk_level"].astype("string")
    return frame.drop(columns=[c for c in HELPER_COLUMNS if c in frame.columns])


__all__ = [
    "WITHHELD",
    "BatchModel",
    "BatchStageError",
    "BatchStages",
    "bandings",
    "batch_model",
    "level_by_version",
    "load_stages",
    "publishable",
    "score_details",
    "seal",
    "shadow_records",
    "stage_partition",
]
