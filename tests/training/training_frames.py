"""Small hand-made feature frames for the training tests (no registry needed)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.risk_model import LightGBMRiskModel

FEATURES = ["debt", "absences", "contacts", "income"]


def synthetic_frame(n: int = 2000, *, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A frame of four indicators (with missing values) and a label that depends on them."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    X.loc[X.index[::9], "income"] = np.nan
    margin = -2.0 + 1.5 * X["debt"] + 0.8 * X["absences"] ** 2 - 0.5 * X["contacts"]
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-margin))).astype(int)
    return X, y


def small_booster_model(X: pd.DataFrame, y: np.ndarray, *, rounds: int = 30) -> LightGBMRiskModel:
    params = {
        "objective": "binary",
        "verbose": -1,
        "num_leaves": 7,
        "deterministic": True,
        "seed": 1,
        "num_threads": 1,
    }
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=rounds)
    return LightGBMRiskModel(booster)
