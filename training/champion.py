"""The candidate beside the model being served: non-inferior on the same rows, or it waits.

Design rule 9: a new model replaces the ``champion`` only when it is not worse where it
matters. The current champion is loaded from the MLflow registry (checksum verified), scores
the candidate's test rows, and both are evaluated on the same bootstrap resamples (a paired
bootstrap). The candidate is non-inferior when the lower bound of the interval of
(candidate - champion) is at least ``-auc_margin`` for ROC AUC and ``-precision_margin`` for
precision at capacity (pass). When the whole interval lies below it the gate fails and says
by how much the candidate lost; when the interval straddles it, the check is inconclusive
(non-inferiority not shown), which blocks as a failure does (:mod:`training.outcome`).

The served champion is usually a final refit, fitted and calibrated on data up to its
``data_through`` date (a model-version tag). Test rows dated before that day are not held out
from it (their outcome windows overlap what it learned from), so scoring them with it would
be in-sample and favour the champion. Then the comparison uses the champion run's held-out
model instead (same hyperparameters, data only through its own calibration window: the
design that produced the champion, held out as the candidate is), and the note says so. If
that one has also seen the rows, the comparison is ``not_evaluable``.

The first model of a registry has nothing to compare with: the gate says so with the
status ``no_champion``, which does not block. A champion that cannot be loaded or cannot
score these rows (its features are missing) is ``not_evaluable``, which blocks unless the
config waives ``champion_*`` with a reason (e.g. the feature catalogue changed on purpose).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.config import ChampionGatesConfig
from training.evaluation import Evaluation, ScoredModel, evaluate
from training.gates import GateResult
from training.outcome import Outcome, judge_band, outside
from training.registry import (
    CHAMPION,
    TAG_DATA_THROUGH,
    TAG_HELD_OUT_DATA_THROUGH,
    ModelChecksumError,
    ModelNotFoundError,
    load_held_out_model,
    load_risk_model,
)

CANDIDATE = "candidate"
SERVED = "champion"


@dataclass(frozen=True)
class ChampionComparison:
    """The paired evaluation of candidate and champion, or why there is none."""

    champion_version: str | None
    evaluation: Evaluation | None
    note: str


def compare_scores(
    y: np.ndarray,
    candidate: ScoredModel,
    champion: ScoredModel,
    *,
    k: int,
    n_bootstrap: int,
    confidence_level: float,
    n_bins: int,
    seed: int,
) -> Evaluation:
    """Both models on the same rows and resamples (the candidate is the ``main`` model)."""
    return evaluate(
        y,
        {CANDIDATE: candidate, SERVED: champion},
        k=k,
        main=CANDIDATE,
        n_bootstrap=n_bootstrap,
        confidence_level=confidence_level,
        n_bins=n_bins,
        seed=seed,
    )


def champion_gates(
    comparison: ChampionComparison, *, config: ChampionGatesConfig
) -> list[GateResult]:
    """Non-inferiority gates on ROC AUC and precision at capacity (see the module docstring)."""
    if comparison.evaluation is None:
        status = "no_champion" if comparison.champion_version is None else "not_evaluable"
        return [
            GateResult.of(
                "champion_comparison",
                status,
                value=float("nan"),
                threshold=float("nan"),
                detail=comparison.note,
            )
        ]
    ev = comparison.evaluation
    key = f"{CANDIDATE} - {SERVED}"
    gates = []
    for metric, margin, label in (
        ("roc_auc", config.auc_margin, "ROC AUC"),
        ("precision_at_k", config.precision_margin, "precision at capacity"),
    ):
        diff = ev.differences[metric][key]
        mine = ev.models[CANDIDATE].metrics[metric].estimate
        theirs = ev.models[SERVED].metrics[metric].estimate
        text = (
            f"{label}: candidate {mine:.4f} vs champion v{comparison.champion_version} "
            f"{theirs:.4f}, difference {diff.estimate:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]"
        )
        judged = judge_band(
            diff.estimate,
            diff.low,
            diff.high,
            lower=-margin,
            upper=math.inf,
            clear=outside(diff.low, diff.high, lower=-margin, upper=math.inf),
        )
        if np.isnan(diff.low):
            status, detail = "not_evaluable", f"{text}: no interval"
        elif judged is Outcome.PASS:
            status, detail = "pass", f"{text}, lower bound >= {-margin:+.4f}: non-inferior"
        elif judged is Outcome.FAIL:
            status = "fail"
            detail = (
                f"{text}: the whole interval is below {-margin:+.4f}; the candidate lost "
                f"{-diff.estimate:.4f} ({label}) beside the champion"
            )
        else:
            status = "inconclusive"
            detail = (
                f"{text}: the interval straddles {-margin:+.4f}; non-inferiority not shown "
                "(inconclusive)"
            )
        gates.append(
            GateResult.of(
                f"champion_{metric}", status, value=diff.low, threshold=-margin, detail=detail
            )
        )
    return gates


def compare_with_champion(
    test: pd.DataFrame,
    candidate: ScoredModel,
    *,
    k: int,
    model_name: str,
    tracking_uri: str,
    n_bootstrap: int,
    confidence_level: float,
    n_bins: int,
    seed: int,
) -> ChampionComparison:
    """Load ``models:/<model_name>@champion`` and evaluate it beside the candidate on ``test``."""
    try:
        loaded = load_risk_model(f"models:/{model_name}@{CHAMPION}", tracking_uri=tracking_uri)
    except ModelNotFoundError:
        return ChampionComparison(
            champion_version=None,
            evaluation=None,
            note=f"no {CHAMPION} of {model_name} in {tracking_uri}: the first model of this "
            "registry has nothing to be compared with",
        )
    except ModelChecksumError as exc:
        return ChampionComparison(
            champion_version="unknown", evaluation=None, note=f"champion cannot be loaded: {exc}"
        )
    model = loaded.risk_model
    which = f"{CHAMPION} v{loaded.version}"
    seen = loaded.tags.get(TAG_DATA_THROUGH)
    first_test_day = (
        pd.Timestamp(pd.to_datetime(test["as_of"]).min()).date() if "as_of" in test else None
    )
    if (
        seen is not None
        and first_test_day is not None
        and dt.date.fromisoformat(seen) > first_test_day
    ):
        held_seen = loaded.tags.get(TAG_HELD_OUT_DATA_THROUGH)
        try:
            held = load_held_out_model(loaded, tracking_uri=tracking_uri)
        except (ModelNotFoundError, ModelChecksumError) as exc:
            return ChampionComparison(
                champion_version=loaded.version, evaluation=None, note=str(exc)
            )
        if held is None or held_seen is None or dt.date.fromisoformat(held_seen) > first_test_day:
            return ChampionComparison(
                champion_version=loaded.version,
                evaluation=None,
                note=f"{which} saw outcomes through {seen}, after these test rows' date "
                f"{first_test_day}, and its run keeps no model held out from them: an "
                "in-sample champion cannot be compared fairly",
            )
        model = held
        which = (
            f"the held-out model of {CHAMPION} v{loaded.version} (the served refit saw "
            f"outcomes through {seen}, after these test rows' date {first_test_day})"
        )
    missing = [f for f in model.feature_names if f not in test.columns]
    if missing:
        return ChampionComparison(
            champion_version=loaded.version,
            evaluation=None,
            note=f"champion v{loaded.version} needs {len(missing)} input(s) these test rows "
            f"lack ({', '.join(missing[:5])}): it cannot be compared on the same rows",
        )
    y = test["label"].to_numpy(dtype=int)
    served = ScoredModel(
        probability=model.predict_proba(test),
        rank_score=np.nan_to_num(model.raw_score(test), nan=-np.inf),
    )
    evaluation = compare_scores(
        y,
        candidate,
        served,
        k=k,
        n_bootstrap=n_bootstrap,
        confidence_level=confidence_level,
        n_bins=n_bins,
        seed=seed,
    )
    return ChampionComparison(
        champion_version=loaded.version,
        evaluation=evaluation,
        note=f"compared with {which} on {len(y)} test rows",
    )
