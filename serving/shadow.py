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

import numpy as np

from serving.explain import PROBABILITY_DECIMALS
from serving.scoring import SINGLE_THREAD_ROWS, ReferencePopulation, RiskBands, Scorer
from serving.store.audit_log import ShadowRecord

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


def shadow_scores(
    scorer: Scorer,
    model_name: str,
    model_version: str,
    matrix: np.ndarray,
    *,
    bands: RiskBands,
    reference: ReferencePopulation,
    family_ids: Sequence[str | None],
    score_ids: Sequence[str],
    as_of: str | None,
    request_id: str,
    same_rule: bool = False,
) -> list[ShadowRecord]:
    """The shadow's scores of the rows the champion scored (rows it deems ineligible are
    left out), its levels and percentiles on its own bands and reference population.
    Probabilities only: the shadow needs no explanation, and none is shown.

    ``same_rule``: the shadow's eligibility rule is the champion's, so every row (the
    champion's eligible ones) is eligible and the mask (a pandas frame, the largest part
    of a one-family shadow score) is not built again."""
    keep = np.ones(matrix.shape[0], dtype=bool) if same_rule else scorer.eligible_matrix(matrix)
    if not keep.any():
        return []
    transform = scorer.model.calibrator.transform  # type: ignore[attr-defined]
    # rounded as the champion's served probability is (levels are set on the rounded value)
    probability = np.round(
        np.asarray(transform(_raw_scores(scorer, matrix[keep])), dtype=np.float64),
        PROBABILITY_DECIMALS,
    )
    levels = bands.levels(probability)
    percentiles = reference.percentile(probability)
    kept = [i for i, k in enumerate(keep) if k]
    return [
        ShadowRecord(
            score_id=score_ids[i],
            request_id=request_id,
            family_id=family_ids[i],
            as_of=as_of,
            model_name=model_name,
            model_version=model_version,
            probability=float(probability[j]),
            risk_level=levels[j],
            percentile=float(percentiles[j]),
        )
        for j, i in enumerate(kept)
    ]


def _raw_scores(scorer: Scorer, rows: np.ndarray) -> np.ndarray:
    """The shadow's raw margins of the rows (LightGBM: one thread for small requests, as
    the champion's explanations; other models: their own raw score)."""
    from training import lightgbm_adapter as lgbx

    model = scorer.model
    booster = getattr(model, "booster", None)
    if booster is not None:
        threads = 1 if rows.shape[0] <= SINGLE_THREAD_ROWS else 0
        return np.asarray(lgbx.predict_raw(booster, rows, num_threads=threads), dtype=np.float64)
    import pandas as pd

    frame = pd.DataFrame(rows, columns=scorer.feature_names)
    return np.asarray(model.raw_score(frame), dtype=np.float64)  # type: ignore[attr-defined]
