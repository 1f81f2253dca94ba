"""Builders for the serving tests: a registered champion and a matching snapshot.

The model is built with training's own classes (LightGBM RiskModel, calibration, registry
adapter) on a small synthetic frame of the catalogue's real model inputs, so the service
meets exactly what `earlyrisk train` registers: the pyfunc artifact, the checksum tags,
the champion alias and the run's model card. A real server on the world is started with
:mod:`serving.local_server` (the command ``earlyrisk serve`` runs).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from features.catalogue import feature_list_fingerprint, model_input_columns
from features.config import FeatureConfig
from features.snapshot_store import write_feature_table
from serving.local_server import LocalServer, begin_audit_log, start_local_server
from serving.store.tokens import SqlTokenStore
from training import lightgbm_adapter as lgbx
from training.calibration import choose_calibration
from training.registry import CHAMPION, TAG_FEATURE_CONFIG, log_risk_model
from training.risk_model import LightGBMRiskModel
from training.tracking import TrackingStore

MODEL_NAME = "earlyrisk-serving-test"
AS_OF_DATES = ("2024-06-30", "2024-12-31")
N_FAMILIES = 240
#: the contact line of the session server's dossiers (a deployment sets its office's)
DOSSIER_CONTACT = "Social services office 3, Abay street 1"
MODEL_CARD = {
    "model_version": "test",
    "intended_use": "advisory early-support prioritisation; never an automated decision",
    "metrics": {"auc": 0.8},
    "fairness": {"max_tpr_gap": 0.03},
}


def snapshot_frame(*, seed: int = 11, n_families: int = N_FAMILIES) -> pd.DataFrame:
    """Families x as-of dates with every model input (non-negative, some missing)."""
    rng = np.random.default_rng(seed)
    columns = model_input_columns()
    frames = []
    for as_of in AS_OF_DATES:
        values = rng.gamma(shape=1.0, scale=2.0, size=(n_families, len(columns)))
        frame = pd.DataFrame(values, columns=columns)
        frame.iloc[::7, 3] = np.nan
        # every tenth family from F00109 on (F00109, F00119, ...) has no child: not eligible
        # to be scored (the first hundred, which the other tests name, all have one)
        children = np.floor(rng.gamma(shape=1.0, scale=2.0, size=n_families)) + 1
        index = np.arange(n_families)
        children[(index % 10 == 9) & (index >= 100)] = 0
        frame["hh_children"] = children
        frame.insert(0, "family_id", [f"F{i:05d}" for i in range(n_families)])
        frame.insert(1, "as_of", pd.Timestamp(as_of))
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["audit_settlement"] = np.where(np.arange(len(out)) % 2 == 0, "urban", "rural")
    # Region scoping of tokens reads this audit column: families F...0, F...3, ... are North.
    number = out["family_id"].str[1:].astype(int)
    out["audit_region"] = np.where(number % 3 == 0, "North", "South")
    return out


def write_snapshot(frame: pd.DataFrame, path: Path, *, feature_list_sha256: str) -> Path:
    """Write a snapshot with the feature engine's Parquet metadata."""
    return write_feature_table(
        frame, path, raw_sha256="0" * 64, feature_list_sha256=feature_list_sha256
    )


def train_model(frame: pd.DataFrame) -> LightGBMRiskModel:
    """A small calibrated LightGBM model whose label depends on a few real indicators."""
    columns = model_input_columns()
    X = frame[columns].astype("float64").reset_index(drop=True)
    rng = np.random.default_rng(5)
    margin = -2.0 + 0.6 * X[columns[0]].fillna(0) + 0.5 * X[columns[5]] - 0.4 * X[columns[7]]
    y = (rng.random(len(X)) < 1.0 / (1.0 + np.exp(-margin))).astype(int)
    params = {
        "objective": "binary",
        "verbose": -1,
        "num_leaves": 7,
        "deterministic": True,
        "seed": 1,
        "num_threads": 1,
        "min_data_in_leaf": 10,
    }
    booster = lgbx.train(params, lgbx.dataset(X, y), num_boost_round=25)
    model = LightGBMRiskModel(booster)
    # Sigmoid only: 480 rows are too few for isotonic steps. Left to choose, the chooser may
    # pick isotonic on a draw like this (it did when the catalogue grew to 54 inputs), and its
    # few steps leave about 11 distinct probabilities: the worklist and level tests then meet
    # ties and an empty "high" band. The sigmoid map keeps the model's ranking (hundreds of
    # distinct probabilities), as a registry-sized calibration slice would.
    calibration = choose_calibration(model, X, y, methods=("sigmoid",))
    return model.with_calibrator(calibration.calibrator)  # type: ignore[return-value]


@dataclass(frozen=True)
class ServingWorld:
    """Everything a serving test needs, with the environment that points the service at it."""

    root: Path
    tracking_uri: str
    snapshot_path: Path
    frame: pd.DataFrame
    model: LightGBMRiskModel
    model_version: str
    env: dict[str, str]

    def tokens(self) -> SqlTokenStore:
        return SqlTokenStore(self.env["EARLYRISK_TOKEN_DB_PATH"])


def _register(root: Path, model: LightGBMRiskModel, frame: pd.DataFrame) -> tuple[str, str]:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    store = TrackingStore(uri)  # its own client: the process-wide MLflow store is untouched
    exp = store.experiment("serving-test", artifact_location=(root / "art").as_uri())
    with store.run(exp) as run:
        version = log_version(run, model, frame)
        run.log_dict(MODEL_CARD, "model_card/model_card.json")
        run.log_metrics({"test_auc": 0.8})
    store.set_alias(MODEL_NAME, version, CHAMPION)
    return uri, version


def log_version(run: Any, model: LightGBMRiskModel, frame: pd.DataFrame, **tags: str) -> str:
    """Log ``model`` in ``run`` as a new version of the world's registered model, tagged as
    `earlyrisk train` tags it (feature list, feature config) plus ``tags``; its number."""
    logged = log_risk_model(
        model,
        run=run,
        input_example=frame,
        feature_list_sha256=feature_list_fingerprint(),
        registered_model_name=MODEL_NAME,
        extra_tags={TAG_FEATURE_CONFIG: FeatureConfig().model_dump_json(), **tags},
    )
    return logged.version


def world_env(root: Path, tracking_uri: str, snapshot: Path, **extra: str) -> dict[str, str]:
    """EARLYRISK_* variables that point a service at root's files."""
    env = {
        "EARLYRISK_TRACKING_URI": tracking_uri,
        "EARLYRISK_MODEL_NAME": MODEL_NAME,
        "EARLYRISK_SNAPSHOT_PATH": str(snapshot),
        "EARLYRISK_LOOKUP_DB_PATH": str(root / "serving" / "lookup.sqlite"),
        "EARLYRISK_AUDIT_LOG_PATH": str(root / "serving" / "audit_log.sqlite"),
        "EARLYRISK_TOKEN_DB_PATH": str(root / "serving" / "tokens.sqlite"),
        "EARLYRISK_MAX_BATCH_SIZE": "50",
        "EARLYRISK_AUDIT_BUSY_TIMEOUT_MS": "200",
        "EARLYRISK_SECURITY_LOG_PATH": str(root / "serving" / "security_log.sqlite"),
        # The shared fixtures make many calls (and refused ones) from one address and token;
        # the throttling and quota tests set their own low limits.
        "EARLYRISK_AUTH_FAILURE_LIMIT": "1000000",
        "EARLYRISK_QUOTA_REQUESTS_PER_MINUTE": "1000000",
        "EARLYRISK_QUOTA_FAMILIES_PER_MINUTE": "1000000",
        # The world's data ends on 2024-12-31: score ages count to that day, and both of
        # its snapshot dates are current (the expiry tests set their own age).
        "EARLYRISK_SCORE_EXPIRY_TODAY": AS_OF_DATES[-1],
        "EARLYRISK_SCORE_EXPIRY_DAYS": "365",
    }
    env.update(extra)
    return env


def build_world(root: Path, *, n_families: int = N_FAMILIES) -> ServingWorld:
    """Register a champion and write its snapshot under root."""
    frame = snapshot_frame(n_families=n_families)
    model = train_model(frame)
    tracking_uri, version = _register(root, model, frame)
    snapshot = write_snapshot(
        frame, root / "snapshot.parquet", feature_list_sha256=feature_list_fingerprint()
    )
    env = world_env(root, tracking_uri, snapshot)
    begin_audit_log(env)  # what the first `earlyrisk serve --new-log` does
    return ServingWorld(
        root=root,
        tracking_uri=tracking_uri,
        snapshot_path=snapshot,
        frame=frame,
        model=model,
        model_version=version,
        env=env,
    )


@contextmanager
def running_server(
    env: dict[str, str], root: Path, *, timeout: float = 90.0
) -> Iterator[LocalServer]:
    """A real `bentoml serve` on ``env`` for the block, as `earlyrisk serve --new-log`
    starts one: its audit log begun first, its own log at ``root/bentoml.log``, stopped
    however the block ends (``timeout``: seconds to wait for it to be ready)."""
    begin_audit_log(env)
    server = start_local_server(env, root / "bentoml.log", timeout=timeout)
    try:
        yield server
    finally:
        server.stop()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def review_sign_in(client: httpx.Client, token: str) -> str:
    """Sign in to /review as a browser does (the form, its CSRF cookie and value, the POST);
    return the session id the cookie now holds (never the token)."""
    from benchmarks.review_session import review_sign_in as sign_in

    sign_in(client, token)
    session_id = client.cookies.get("earlyrisk_review")
    assert session_id and session_id != token
    return str(session_id)


def read_json(path: Path) -> object:
    return json.loads(path.read_text())
