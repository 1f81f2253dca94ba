"""MLflow adapter: log a RiskModel as a pyfunc model, register it, move aliases, load it back.

The adapter to the model registry (register, tag, alias, load with a checksum). It is not
the only code that talks to MLflow: :mod:`training.pipeline` logs runs and their artifacts,
and :mod:`serving.engine` reads a run's model card and metrics. The model is stored as one
artifact, ``risk_model.json`` (see :mod:`training.risk_model`), inside an
MLflow pyfunc model whose ``predict`` returns the calibrated probability, so a generic
MLflow client (``mlflow.pyfunc.load_model``) scores with it, while
:func:`load_risk_model` gives the full :class:`RiskModel` (contributions, raw score) after
checking the artifact against the ``model_sha256`` tag recorded at registration.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd
from mlflow.pyfunc import PythonModel

from features.errors import EarlyriskError
from training.risk_model import RiskModel

ARTIFACT_NAME = "risk_model.json"
ARTIFACT_KEY = "risk_model"
MODEL_NAME_IN_RUN = "model"
TAG_MODEL_SHA = "model_sha256"
TAG_FEATURE_LIST_SHA = "feature_list_sha256"
# the training run's features.config.FeatureConfig as JSON: batch scoring builds with it
TAG_FEATURE_CONFIG = "feature_config"
CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"


class ModelChecksumError(EarlyriskError, RuntimeError):
    """The stored model artifact does not match the checksum recorded on its version."""


class ModelNotFoundError(EarlyriskError, LookupError):
    """No registered model version answers the URI."""


class RiskModelPyfunc(PythonModel):
    """Pyfunc face of a RiskModel: ``predict`` returns the calibrated probability.

    Named by ``training/pyfunc_model.py`` (MLflow's "models from code"), never pickled.
    """

    def load_context(self, context: Any) -> None:
        path = Path(context.artifacts[ARTIFACT_KEY])
        self.risk_model = RiskModel.from_bytes(path.read_bytes())

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return self.risk_model.predict_proba(model_input)


@dataclass(frozen=True)
class LoggedModel:
    """Where a logged and registered model lives."""

    name: str
    version: str
    run_id: str
    model_uri: str
    model_sha256: str
    alias: str | None = None


def log_risk_model(
    risk_model: RiskModel,
    *,
    input_example: pd.DataFrame,
    feature_list_sha256: str,
    registered_model_name: str | None = None,
    extra_tags: dict[str, str] | None = None,
) -> LoggedModel:
    """Log ``risk_model`` in the active MLflow run (pyfunc, signature, input example).

    When ``registered_model_name`` is given, also registers a new version and records
    ``model_sha256`` and ``feature_list_sha256`` (plus ``extra_tags``) on it.
    """
    import mlflow
    from mlflow.models import infer_signature

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_risk_model needs an active MLflow run (mlflow.start_run())")
    payload = risk_model.to_bytes()
    sha = hashlib.sha256(payload).hexdigest()
    example = input_example.loc[:, risk_model.feature_names].head(5).astype("float64")
    # An object-dtype column index: MLflow compares the columns with a `range`, which pandas 3
    # deprecates for its `str` dtype (a warning inside mlflow/models/utils.py).
    example.columns = pd.Index(list(example.columns), dtype=object)
    signature = infer_signature(example, risk_model.predict_proba(example))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ARTIFACT_NAME
        path.write_bytes(payload)
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME_IN_RUN,
            # models from code: the loader runs training/pyfunc_model.py, nothing is pickled
            python_model=str(Path(__file__).with_name("pyfunc_model.py")),
            artifacts={ARTIFACT_KEY: str(path)},
            signature=signature,
            input_example=example,
            pip_requirements=_pip_requirements(),
            metadata={TAG_MODEL_SHA: sha, TAG_FEATURE_LIST_SHA: feature_list_sha256},
        )
    if registered_model_name is None:
        return LoggedModel(
            name="", version="", run_id=run.info.run_id, model_uri=info.model_uri, model_sha256=sha
        )
    mv = mlflow.register_model(info.model_uri, registered_model_name)
    client = mlflow.MlflowClient()
    tags = {
        TAG_MODEL_SHA: sha,
        TAG_FEATURE_LIST_SHA: feature_list_sha256,
        "model_kind": risk_model.kind,
        "calibration": risk_model.calibrator.method,
        **(extra_tags or {}),
    }
    for key, value in tags.items():
        client.set_model_version_tag(registered_model_name, mv.version, key, str(value))
    return LoggedModel(
        name=registered_model_name,
        version=str(mv.version),
        run_id=run.info.run_id,
        model_uri=f"models:/{registered_model_name}/{mv.version}",
        model_sha256=sha,
    )


def set_alias(name: str, version: str, alias: str) -> None:
    """Point ``alias`` of registered model ``name`` at ``version`` (moving it if it exists)."""
    import mlflow

    mlflow.MlflowClient().set_registered_model_alias(name, alias, str(version))


@contextlib.contextmanager
def tracking_store(uri: str) -> Iterator[None]:
    """Point MLflow's process-wide tracking and registry URIs at ``uri`` for the block.

    MLflow's fluent API (``start_run``, ``log_model``, ``register_model``) reads process-wide
    state, and ``set_*_uri`` also exports ``MLFLOW_*_URI`` environment variables. Both are
    put back exactly as they were afterwards (including "never set"), so a notebook or
    service in the same process keeps its own store.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved_env = {name: os.environ.get(name) for name in names}
    saved = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = saved
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [
        f"{pkg}=={version(pkg)}"
        for pkg in ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy")
    ]


@dataclass(frozen=True)
class LoadedRiskModel:
    """A RiskModel read from the registry, with the version it came from."""

    risk_model: RiskModel
    name: str
    version: str
    run_id: str
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def model_sha256(self) -> str:
        return self.tags.get(TAG_MODEL_SHA, "")

    @property
    def feature_list_sha256(self) -> str:
        return self.tags.get(TAG_FEATURE_LIST_SHA, "")


def _parse_models_uri(model_uri: str) -> tuple[str, str | None, str | None]:
    """``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` -> (name, version, alias)."""
    prefix = "models:/"
    if not model_uri.startswith(prefix):
        raise ValueError(
            f"model URI {model_uri!r} is not a registry URI; use models:/<name>@<alias> "
            "or models:/<name>/<version>"
        )
    rest = model_uri[len(prefix) :].strip("/")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        if name and alias:
            return name, None, alias
    elif "/" in rest:
        name, version = rest.rsplit("/", 1)
        if name and version.isdigit():
            return name, version, None
    raise ValueError(
        f"model URI {model_uri!r} is malformed; expected models:/<name>@<alias> "
        "or models:/<name>/<version>"
    )


def load_risk_model(model_uri: str, *, tracking_uri: str) -> LoadedRiskModel:
    """Load a registered RiskModel, verifying its checksum against the version's tag.

    Raises :class:`ModelNotFoundError` when no version answers the URI and
    :class:`ModelChecksumError` when the artifact differs from what was registered.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    name, version, alias = _parse_models_uri(model_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        if alias is not None:
            mv = client.get_model_version_by_alias(name, alias)
        else:
            mv = client.get_model_version(name, str(version))
    except MlflowException as exc:
        raise ModelNotFoundError(
            f"no registered model version for {model_uri!r} in {tracking_uri}: {exc.message}"
        ) from exc
    tags = dict(mv.tags or {})
    expected = tags.get(TAG_MODEL_SHA)
    if not expected:
        raise ModelChecksumError(
            f"model version {name}/{mv.version} has no {TAG_MODEL_SHA} tag; it was not "
            "registered by earlyrisk and cannot be verified"
        )
    with tempfile.TemporaryDirectory() as tmp:
        # the version's own storage location (file, S3, ...): resolving a models:/ URI would
        # consult the process-wide registry URI instead of ``tracking_uri``
        location = client.get_model_version_download_uri(name, str(mv.version))
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=location, dst_path=tmp, tracking_uri=tracking_uri
        )
        candidates = sorted(Path(local).rglob(ARTIFACT_NAME))
        if not candidates:
            raise ModelNotFoundError(
                f"model version {name}/{mv.version} holds no {ARTIFACT_NAME} artifact"
            )
        payload = candidates[0].read_bytes()
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        raise ModelChecksumError(
            f"model artifact of {name}/{mv.version} has sha256 {actual}, but the registry "
            f"recorded {expected}: the artifact was altered or corrupted; refusing to load"
        )
    return LoadedRiskModel(
        risk_model=RiskModel.from_bytes(payload),
        name=name,
        version=str(mv.version),
        run_id=mv.run_id or "",
        aliases=tuple(getattr(mv, "aliases", ()) or ()),
        tags=tags,
    )
