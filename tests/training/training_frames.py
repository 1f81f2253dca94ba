"""Small hand-made feature frames for the training tests (no registry needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training import lightgbm_adapter as lgbx
from training.risk_model import LightGBMRiskModel

FEATURES = ["debt", "absences", "contacts", "income"]

# A LightGBM spec small enough for end-to-end training tests (a few seconds per fit).
QUICK_SPEC = {
    "kind": "lightgbm",
    "params": {"learning_rate": 0.1, "num_leaves": 7, "min_data_in_leaf": 20},
    "num_boost_round": 80,
    "early_stopping_rounds": 10,
    "validation_fraction": 0.2,
}


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
    booster = lgbx.train(params, lgbx.dataset(X, y), num_boost_round=rounds)
    return LightGBMRiskModel(booster)


def fake_feature_table(
    n_families: int = 1500,
    *,
    dates: tuple[str, ...] = ("2021-06-30", "2021-12-31", "2022-12-31", "2023-12-31"),
    seed: int = 0,
) -> pd.DataFrame:
    """A feature snapshot table shaped like the engine's output (docs/architecture.md).

    Every catalogue input is present (noise, some missing); the label depends on three of
    them and on a family effect that persists across snapshots, so a model can learn it.
    The well-being score is a coarse, noisy view of the same risk (a weaker baseline).
    """
    from features.catalogue import feature_list_fingerprint, model_input_columns

    rng = np.random.default_rng(seed)
    names = model_input_columns()
    family_effect = rng.normal(0, 0.7, n_families)
    region = rng.choice(["R1", "R2", "R3"], n_families)
    settlement = rng.choice(["urban", "rural"], n_families, p=[0.6, 0.4])
    children = rng.choice([0.0, 1.0, 2.0, 3.0], n_families, p=[0.15, 0.35, 0.3, 0.2])
    frames = []
    for d in dates:
        X = rng.normal(size=(n_families, len(names)))
        X[rng.random(X.shape) < 0.05] = np.nan
        frame = pd.DataFrame(X, columns=names)
        signal = np.nan_to_num(X[:, 0]) * 0.9 + np.nan_to_num(X[:, 1]) ** 2 * 0.4
        margin = -2.6 + signal + 0.5 * np.nan_to_num(X[:, 2]) + family_effect
        p = 1 / (1 + np.exp(-margin))
        frame.insert(0, "as_of", pd.Timestamp(d))
        frame.insert(0, "family_id", [f"F{i:06d}" for i in range(n_families)])
        frame["label"] = (rng.random(n_families) < p).astype("int8")
        frame["label_observed"] = True
        frame["true_probability"] = p
        frame["wellbeing_score"] = np.clip(
            np.round((margin + rng.normal(0, 1.5, n_families) + 4) / 8 * 5) / 5, 0, 1
        )
        # a household composition like the registry's: most families have a child (the
        # eligibility rule keeps them), about one in seven has none
        frame["hh_children"] = children
        frame["audit_region"] = region
        frame["audit_settlement"] = settlement
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table.attrs["earlyrisk.feature_list_sha256"] = feature_list_fingerprint()
    table.attrs["earlyrisk.raw_sha256"] = f"fake-{seed}-{n_families}"
    return table
