"""Shadow mode: a second registered version scores every request too, on record only.

`earlyrisk serve --shadow models:/NAME/VERSION` loads the shadow with the same checks as
the champion (:func:`serving.engine.load_serving_model`: checksum, feature list of the
snapshot, eligibility rule), and its reference population and risk bands on the snapshot
before the first request. Then each scored family is scored by the shadow as well: its
probability, level and percentile go to the audit log as a ``shadow`` entry written in
the same transaction as the champion's score (one write, so the shadow costs no second
fsync), and never into a response. `earlyrisk shadow-report` compares the two.

A shadow must never cost a caseworker an answer: anything the shadow raises while scoring
is logged (once per kind of failure, then counted) and the request goes on with the
champion's scores alone. A shadow that fails its checks at start is refused by
`earlyrisk serve` (the operator asked for it, and learns at once); a worker that meets
the same refusal later (the version deleted, say) serves without a shadow and says so in
its log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from serving.explain import PROBABILITY_DECIMALS
from serving.scoring import SINGLE_THREAD_ROWS
from serving.store.audit_log import ShadowRecord

if TYPE_CHECKING:
    from serving.engine import ServingEngine, ServingModel
    from serving.settings import ServingSettings

logger = logging.getLogger("earlyrisk.serving.shadow")


class ShadowFailures:
    """Counts the shadow's failures; logs the first of each kind with its traceback."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self._seen: set[str] = set()

    def record(self, exc: BaseException, request_id: str) -> None:
        with self._lock:
            self.count += 1
            kind = type(exc).__name__
            first = kind not in self._seen
            self._seen.add(kind)
        if first:
            logger.exception(
                "shadow model failed (request %s); the champion's scores are served; "
                "later failures of this kind are counted, not logged",
                request_id,
                exc_info=exc,
            )


def load_shadow(
    settings: ServingSettings, uri: str, snapshot: Any, *, champion: ServingModel
) -> ServingModel:
    """The shadow at ``uri`` ready to score the snapshot, or StartupError saying why not.

    Refused when it is the champion itself (nothing to compare) or scores another feature
    list than the snapshot's (the champion's checks)."""
    from serving.engine import StartupError, load_serving_model

    shadow = load_serving_model(settings, uri, snapshot)
    same = (shadow.identity.name, shadow.identity.version) == (
        champion.identity.name,
        champion.identity.version,
    )
    if same:
        raise StartupError(
            f"the shadow {uri} is the champion itself ({champion.identity.name}/"
            f"{champion.identity.version}); name another registered version with --shadow"
        )
    return shadow


def shadow_scores(
    engine: ServingEngine,
    shadow: ServingModel,
    matrix: np.ndarray,
    *,
    family_ids: Sequence[str | None],
    score_ids: Sequence[str],
    as_of: str | None,
    reference_date: str,
    request_id: str,
) -> list[ShadowRecord]:
    """The shadow's scores of the rows the champion scored (rows it deems ineligible are
    left out). Probabilities only: the shadow needs no explanation, and none is shown."""
    keep = shadow.scorer.eligible_matrix(matrix)
    if not keep.any():
        return []
    rows = matrix[keep]
    transform = shadow.scorer.model.calibrator.transform  # type: ignore[attr-defined]
    # rounded as the champion's served probability is (levels are set on the rounded value)
    frame_probability = np.round(
        np.asarray(transform(_raw_scores(shadow, rows)), dtype=np.float64), PROBABILITY_DECIMALS
    )
    bands = engine.bands(reference_date, shadow)
    levels = bands.levels(frame_probability)
    percentiles = engine.reference(reference_date, shadow).percentile(frame_probability)
    kept = [i for i, k in enumerate(keep) if k]
    return [
        ShadowRecord(
            score_id=score_ids[i],
            request_id=request_id,
            family_id=family_ids[i],
            as_of=as_of,
            model_name=shadow.identity.name,
            model_version=shadow.identity.version,
            probability=float(frame_probability[j]),
            risk_level=levels[j],
            percentile=float(percentiles[j]),
        )
        for j, i in enumerate(kept)
    ]


def _raw_scores(shadow: ServingModel, rows: np.ndarray) -> np.ndarray:
    """The shadow's raw margins of the rows (LightGBM: one thread for small requests, as
    the champion's explanations; other models: their own raw score)."""
    from training import lightgbm_adapter as lgbx

    model = shadow.scorer.model
    booster = getattr(model, "booster", None)
    if booster is not None:
        threads = 1 if rows.shape[0] <= SINGLE_THREAD_ROWS else 0
        return np.asarray(lgbx.predict_raw(booster, rows, num_threads=threads), dtype=np.float64)
    import pandas as pd

    frame = pd.DataFrame(rows, columns=shadow.scorer.feature_names)
    return np.asarray(model.raw_score(frame), dtype=np.float64)  # type: ignore[attr-defined]


def attach_shadow(engine: ServingEngine, *, strict: bool) -> None:
    """Load ``settings.shadow_model_uri`` into the engine with its reference population.

    ``strict``: a refusal raises StartupError (`earlyrisk serve`); otherwise it is logged
    and the engine serves without a shadow (a worker)."""
    from serving.engine import StartupError
    from serving.store.lookup import SnapshotError, read_snapshot_info

    uri = engine.settings.shadow_model_uri
    if uri is None:
        return
    try:
        try:
            snapshot = read_snapshot_info(engine.settings.snapshot_path)
        except SnapshotError as exc:
            raise StartupError(str(exc)) from exc
        shadow = load_shadow(engine.settings, uri, snapshot, champion=engine.model)
        engine.reference(engine.snapshot_date, shadow)  # bands before the first request
    except StartupError as exc:
        if strict:
            raise StartupError(f"shadow {uri}: {exc}") from exc
        logger.error("serving without a shadow: %s is refused: %s", uri, exc)
        return
    engine.shadow = shadow
    logger.info(
        "shadow model %s version %s scores every request (audit log only)",
        shadow.identity.name,
        shadow.identity.version,
    )
