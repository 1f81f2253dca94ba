"""The one door to LightGBM's native library: every booster call takes one process-wide lock.

Why a lock: training overlaps independent work in threads (the baseline beside the grid,
the backtest origins beside the final refit, the model card's comparison beside the reports:
see :mod:`training.pipeline`), and the service answers requests from several threads.
LightGBM's native library is not safe for concurrent boosters in one process: shared
predictor and dataset state raced, and a notebook kernel running the pipeline died in
``lib_lightgbm.so`` (a segfault in CI, once in many runs; upstream documents the same with
several concurrent jobs). A LightGBM call already uses every core through OpenMP, so
running two at once only oversubscribed them; everything else (numpy, scikit-learn, the
reports, the HTTP handling) still overlaps.

Why one module: a lock protects only the calls that take it. Training, batch scoring and
the service used to call the booster each in their own way, and the service's explanations
ran outside the lock training took. Here is the only place in the code base that imports
``lightgbm`` (a test scans the sources for any other), so a new call cannot forget it.

Boosters are passed around as opaque objects (``Any``): callers hold them, only this module
calls them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np


class NativeLock:
    """A re-entrant lock that also counts the threads waiting for it.

    Re-entrant: a model method that predicts may be called from code already holding it.
    ``waiting`` is the number of threads blocked on the lock right now: how contended the
    native library is (and how a test sees that a call from another thread waits for it).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._count = threading.Lock()
        self._waiting = 0

    @property
    def waiting(self) -> int:
        with self._count:
            return self._waiting

    def __enter__(self) -> NativeLock:
        if self._lock.acquire(blocking=False):
            return self
        with self._count:
            self._waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._count:
                self._waiting -= 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


LIGHTGBM_LOCK = NativeLock()


def dataset(
    X: Any,
    y: Any,
    *,
    feature_name: Sequence[str] | Literal["auto"] = "auto",
    reference: Any | None = None,
    free_raw_data: bool = True,
    weight: Any | None = None,
) -> Any:
    """A LightGBM ``Dataset`` (lazy: its native construction happens inside :func:`train`);
    ``weight``: one weight per row (inverse-propensity training, :mod:`training.support`)."""
    import lightgbm as lgb

    names: list[str] | Literal["auto"] = (
        "auto" if isinstance(feature_name, str) else [str(n) for n in feature_name]
    )
    return lgb.Dataset(
        X,
        y,
        feature_name=names,
        reference=reference,
        free_raw_data=free_raw_data,
        weight=weight,
    )


def train(
    params: dict[str, Any],
    train_set: Any,
    *,
    num_boost_round: int,
    validation: Any | None = None,
    early_stopping_rounds: int | None = None,
    evaluation: dict[str, Any] | None = None,
) -> Any:
    """``lgb.train`` under the lock.

    ``validation``: a dataset (made with ``reference=train_set``) scored under the name
    ``"validation"``; ``early_stopping_rounds`` stops on it; ``evaluation`` (a dict) is
    filled with its metric per round (``evaluation["validation"][metric]``).
    """
    import lightgbm as lgb

    callbacks: list[Any] = []
    if early_stopping_rounds is not None:
        if validation is None:
            raise ValueError(
                f"early_stopping_rounds={early_stopping_rounds} needs a validation dataset"
            )
        callbacks.append(lgb.early_stopping(early_stopping_rounds, verbose=False))
    if evaluation is not None:
        callbacks.append(lgb.record_evaluation(evaluation))
    with LIGHTGBM_LOCK:
        return lgb.train(
            params,
            train_set,
            num_boost_round=num_boost_round,
            valid_sets=[validation] if validation is not None else None,
            valid_names=["validation"] if validation is not None else None,
            callbacks=callbacks or None,
        )


def _threads(num_threads: int | None) -> dict[str, int]:
    return {} if num_threads is None else {"num_threads": num_threads}


def predict_probability(booster: Any, matrix: Any, *, num_threads: int | None = None) -> np.ndarray:
    """The booster's own (uncalibrated) prediction: for a binary objective, sigmoid(margin)."""
    with LIGHTGBM_LOCK:
        out = booster.predict(matrix, **_threads(num_threads))
    return np.asarray(out, dtype=np.float64)


def predict_raw(booster: Any, matrix: Any, *, num_threads: int | None = None) -> np.ndarray:
    """The margin (log-odds) of each row."""
    with LIGHTGBM_LOCK:
        out = booster.predict(matrix, raw_score=True, **_threads(num_threads))
    return np.asarray(out, dtype=np.float64)


def predict_contributions(
    booster: Any, matrix: Any, *, num_threads: int | None = None
) -> np.ndarray:
    """Exact TreeSHAP per feature plus the bias (last column); each row sums to its margin.

    ``num_threads=1`` for a few rows: OpenMP start-up costs milliseconds, the TreeSHAP of
    one row microseconds.
    """
    with LIGHTGBM_LOCK:
        out = booster.predict(matrix, pred_contrib=True, **_threads(num_threads))
    return np.asarray(out, dtype=np.float64)


def load_booster(model_str: str) -> Any:
    """A booster from LightGBM's text model format."""
    import lightgbm as lgb

    with LIGHTGBM_LOCK:
        return lgb.Booster(model_str=model_str)


def booster_to_string(booster: Any, *, num_iteration: int | None = None) -> str:
    """The booster in LightGBM's text model format (the first ``num_iteration`` trees)."""
    with LIGHTGBM_LOCK:
        return str(booster.model_to_string(num_iteration=num_iteration))


def truncated(booster: Any, num_iteration: int) -> Any:
    """A new booster holding the first ``num_iteration`` trees of ``booster``."""
    return load_booster(booster_to_string(booster, num_iteration=num_iteration))


def feature_names(booster: Any) -> list[str]:
    """The input names the booster was trained on, in its column order."""
    with LIGHTGBM_LOCK:
        return [str(n) for n in booster.feature_name()]


def gain_importance(booster: Any) -> np.ndarray:
    """Total split gain per feature, in the booster's column order."""
    with LIGHTGBM_LOCK:
        out = booster.feature_importance(importance_type="gain")
    return np.asarray(out, dtype=np.float64)


def best_iteration(booster: Any) -> int:
    """The early-stopping round the booster kept (0 when it did not stop early)."""
    return int(booster.best_iteration or 0)
