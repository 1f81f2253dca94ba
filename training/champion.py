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

A registry without a champion (every version so far stayed ``challenger``) serves nothing,
so the gate has the status ``no_champion``, which does not block; but the candidate is still
compared, on the same rows and in the same way, with the registry's latest version, and
the gate's detail gives that comparison (a data scientist sees whether the new version is
better than the last attempt before anyone promotes either). Only the first version of a
registry has nothing to be compared with. A champion that cannot be loaded or cannot
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
    LoadedRiskModel,
    ModelChecksumError,
    ModelNotFoundError,
    load_held_out_model,
    load_risk_model,
)

CANDIDATE = "candidate"
SERVED = "champion"
LATEST = "latest version"


@dataclass(frozen=True)
class ChampionComparison:
    """The paired evaluation of candidate and champion, or why there is none."""

    champion_version: str | None
    evaluation: Evaluation | None
    note: str
    # CHAMPION, or LATEST when there was no champion and the latest version stood in
    against: str = CHAMPION


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
    if comparison.against == LATEST:
        return [
            GateResult.of(
                "champion_comparison",
                "no_champion",
                value=float("nan"),
                threshold=float("nan"),
                detail=f"{comparison.note}; {_beside_latest(comparison)}",
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


def _beside_latest(comparison: ChampionComparison) -> str:
    """The candidate against the latest version, in words (it decides nothing: see above)."""
    assert comparison.evaluation is not None
    ev = comparison.evaluation
    parts = []
    for metric, label in (("roc_auc", "ROC AUC"), ("precision_at_k", "precision at capacity")):
        diff = ev.differences[metric][f"{CANDIDATE} - {SERVED}"]
        mine = ev.models[CANDIDATE].metrics[metric].estimate
        theirs = ev.models[SERVED].metrics[metric].estimate
        parts.append(
            f"{label} {mine:.4f} vs v{comparison.champion_version} {theirs:.4f}, difference "
            f"{diff.estimate:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]"
        )
    return "; ".join(parts)


def latest_version(model_name: str, *, tracking_uri: str) -> str | None:
    """The highest version number registered under ``model_name`` (None: none yet)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        versions = client.search_model_versions(f"name = '{model_name}'")
    except MlflowException:
        return None
    numbers = [int(v.version) for v in versions if str(v.version).isdigit()]
    return str(max(numbers)) if numbers else None


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
    """Load ``models:/<model_name>@champion`` and evaluate it beside the candidate on ``test``.

    Without a champion, the latest version stands in (``against=LATEST``); the comparison is
    then told, not gated (see the module docstring).
    """
    against, uri = CHAMPION, f"models:/{model_name}@{CHAMPION}"
    try:
        loaded = load_risk_model(uri, tracking_uri=tracking_uri)
    except ModelNotFoundError:
        latest = latest_version(model_name, tracking_uri=tracking_uri)
        no_champion = f"no {CHAMPION} of {model_name} in {tracking_uri}"
        if latest is None:
            return ChampionComparison(
                champion_version=None,
                evaluation=None,
                note=f"{no_champion}: the first model of this registry has nothing to be "
                "compared with",
            )
        try:
            loaded = load_risk_model(f"models:/{model_name}/{latest}", tracking_uri=tracking_uri)
        except (ModelNotFoundError, ModelChecksumError) as exc:
            return ChampionComparison(
                champion_version=None,
                evaluation=None,
                note=f"{no_champion}, and its latest version v{latest} cannot be loaded: {exc}",
            )
        against = LATEST
    except ModelChecksumError as exc:
        return ChampionComparison(
            champion_version="unknown", evaluation=None, note=f"champion cannot be loaded: {exc}"
        )
    if against == LATEST:
        comparison = _compare_loaded(
            loaded,
            test,
            candidate,
            k=k,
            tracking_uri=tracking_uri,
            n_bootstrap=n_bootstrap,
            confidence_level=confidence_level,
            n_bins=n_bins,
            seed=seed,
            which=f"the latest version v{loaded.version} (no {CHAMPION})",
        )
        if comparison.evaluation is None:  # nothing to tell beside it: the first-model case
            return ChampionComparison(
                champion_version=None,
                evaluation=None,
                note=f"no {CHAMPION} of {model_name}; the latest version v{loaded.version} "
                f"cannot be compared: {comparison.note}",
            )
        return ChampionComparison(
            champion_version=comparison.champion_version,
            evaluation=comparison.evaluation,
            note=f"no {CHAMPION} of {model_name}: nothing is served, so nothing blocks; "
            + comparison.note,
            against=LATEST,
        )
    return _compare_loaded(
        loaded,
        test,
        candidate,
        k=k,
        tracking_uri=tracking_uri,
        n_bootstrap=n_bootstrap,
        confidence_level=confidence_level,
        n_bins=n_bins,
        seed=seed,
        which=f"{CHAMPION} v{loaded.version}",
    )


def _compare_loaded(
    loaded: LoadedRiskModel,
    test: pd.DataFrame,
    candidate: ScoredModel,
    *,
    k: int,
    tracking_uri: str,
    n_bootstrap: int,
    confidence_level: float,
    n_bins: int,
    seed: int,
    which: str,
) -> ChampionComparison:
    """``loaded`` (the champion, or the latest version) beside the candidate on ``test``:
    its held-out model when the served refit saw these rows' outcomes."""
    model = loaded.risk_model
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
            f"the held-out model of {which} (its refit saw outcomes through {seen}, after "
            f"these test rows' date {first_test_day})"
        )
    missing = [f for f in model.feature_names if f not in test.columns]
    if missing:
        return ChampionComparison(
            champion_version=loaded.version,
            evaluation=None,
            note=f"{which} needs {len(missing)} input(s) these test rows "
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
