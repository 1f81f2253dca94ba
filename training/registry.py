"""MLflow adapter: the training run, the pyfunc model, registration, aliases, loading back.

With :mod:`training.tracking` (the store and its client), the only module of the training
package that talks to MLflow: :func:`log_training_run` records a whole run (params, metrics
comparable across runs, the raw data as a dataset input with its hash, the git commit,
report, tables, model card) in an experiment marked as classic model development, so the
MLflow UI opens on runs rather than traces. Every call goes through the explicit client of
one :class:`training.tracking.TrackingStore`, never MLflow's process-wide tracking URI or
active run, so a notebook or service in the same process keeps its own store. The model is
stored as one artifact, ``risk_model.json`` (see :mod:`training.risk_model`), inside an
MLflow pyfunc model whose ``predict`` returns the calibrated probability, so a generic
MLflow client (``mlflow.pyfunc.load_model``) scores with it, while
:func:`load_risk_model` gives the full :class:`RiskModel` (contributions, raw score) after
checking the artifact against the ``model_sha256`` tag recorded at registration.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import pandas as pd
import yaml
from mlflow.pyfunc import PythonModel

from features.errors import EarlyriskError
from training.aliases import CHALLENGER as CHALLENGER  # re-exported: the registry's aliases
from training.aliases import CHAMPION as CHAMPION
from training.governance_store import TAG_TRAINED_BY, trained_by
from training.outcome import count_outcomes
from training.risk_model import RiskModel
from training.tracking import TrackedRun, TrackingStore

if TYPE_CHECKING:
    from training.results import TrainResult

ARTIFACT_NAME = "risk_model.json"
ARTIFACT_KEY = "risk_model"
MODEL_NAME_IN_RUN = "model"
TAG_MODEL_SHA = "model_sha256"
TAG_FEATURE_LIST_SHA = "feature_list_sha256"
# the training run's features.config.FeatureConfig as JSON: batch scoring builds with it
TAG_FEATURE_CONFIG = "feature_config"
TAG_ELIGIBILITY = "eligibility_rule"
# the last day whose outcomes the registered model's fit or calibration saw (ISO date): rows
# dated before it are not held out from it, so a champion comparison on them is in-sample
TAG_DATA_THROUGH = "data_through"
# after a final refit, the held-out design's model (same hyperparameters, data through its
# calibration window) is kept in the run: the fair stand-in for a refitted champion
HELD_OUT_ARTIFACT = "held_out/risk_model.json"
TAG_HELD_OUT_DATA_THROUGH = "held_out_data_through"


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
    model_id: str = ""  # MLflow 3's LoggedModel id: metrics logged with it are linked to it


def log_risk_model(
    risk_model: RiskModel,
    *,
    run: TrackedRun,
    input_example: pd.DataFrame,
    feature_list_sha256: str,
    registered_model_name: str | None = None,
    extra_tags: dict[str, str] | None = None,
) -> LoggedModel:
    """Log ``risk_model`` in ``run`` (pyfunc, signature, input example) as a logged model.

    When ``registered_model_name`` is given, also registers a new version and records
    ``model_sha256`` and ``feature_list_sha256`` (plus ``extra_tags``) on it. Done step by
    step through the run's client, as ``mlflow.pyfunc.log_model`` does it through the
    process-wide store: create the logged model, save the pyfunc model locally, upload it,
    register its artifact location.
    """
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import Model, infer_signature

    client = run.client
    payload = risk_model.to_bytes()
    sha = hashlib.sha256(payload).hexdigest()
    example = input_example.loc[:, risk_model.feature_names].head(5).astype("float64")
    # An object-dtype column index: MLflow compares the columns with a `range`, which pandas 3
    # deprecates for its `str` dtype (a warning inside mlflow/models/utils.py).
    example.columns = pd.Index(list(example.columns), dtype=object)
    signature = infer_signature(example, risk_model.predict_proba(example))
    metadata = {TAG_MODEL_SHA: sha, TAG_FEATURE_LIST_SHA: feature_list_sha256}
    model = client.create_logged_model(
        run.experiment_id, name=MODEL_NAME_IN_RUN, source_run_id=run.run_id
    )
    client.log_outputs(run.run_id, [LoggedModelOutput(model.model_id, step=0)])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ARTIFACT_NAME
        path.write_bytes(payload)
        local = Path(tmp) / MODEL_NAME_IN_RUN
        mlflow.pyfunc.save_model(
            path=str(local),
            mlflow_model=Model(
                artifact_path=model.artifact_location,
                model_uuid=model.model_id,
                run_id=run.run_id,
                metadata=metadata,
                model_id=model.model_id,
            ),
            # models from code: the loader runs training/pyfunc_model.py, nothing is pickled
            python_model=str(Path(__file__).with_name("pyfunc_model.py")),
            artifacts={ARTIFACT_KEY: str(path)},
            signature=signature,
            input_example=example,
            pip_requirements=_pip_requirements(),
            metadata=metadata,
        )
        client.log_model_artifacts(model.model_id, str(local))
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    model_uri = f"models:/{model.model_id}"
    if registered_model_name is None:
        return LoggedModel(
            name="",
            version="",
            run_id=run.run_id,
            model_uri=model_uri,
            model_sha256=sha,
            model_id=model.model_id,
        )
    _ensure_registered_model(client, registered_model_name)
    tags = {
        TAG_MODEL_SHA: sha,
        TAG_FEATURE_LIST_SHA: feature_list_sha256,
        "model_kind": risk_model.kind,
        "calibration": risk_model.calibrator.method,
        **(extra_tags or {}),
    }
    # the artifact location and the run given outright: with a models:/ source MLflow's
    # registry store looks the logged model up through the process-wide tracking URI
    mv = client.create_model_version(
        registered_model_name,
        source=model.artifact_location,
        run_id=run.run_id,
        tags={key: str(value) for key, value in tags.items()},
        model_id=model.model_id,
    )
    return LoggedModel(
        name=registered_model_name,
        version=str(mv.version),
        run_id=run.run_id,
        model_uri=f"models:/{registered_model_name}/{mv.version}",
        model_sha256=sha,
        model_id=model.model_id,
    )


def _ensure_registered_model(client: mlflow.MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise


def load_held_out_model(loaded: LoadedRiskModel, *, tracking_uri: str) -> RiskModel | None:
    """The held-out design's model kept in ``loaded``'s run (None when the run has none).

    Checked against the ``held_out_sha256`` tag of the version, like the registered model.
    """
    from mlflow.exceptions import MlflowException

    expected = loaded.tags.get("held_out_sha256")
    if not expected or not loaded.run_id:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=loaded.run_id,
                artifact_path=HELD_OUT_ARTIFACT,
                dst_path=tmp,
                tracking_uri=tracking_uri,
            )
        except (MlflowException, OSError) as exc:
            raise ModelNotFoundError(
                f"the run of {loaded.name}/{loaded.version} lacks {HELD_OUT_ARTIFACT}: {exc}"
            ) from exc
        payload = Path(local).read_bytes()
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        raise ModelChecksumError(
            f"held-out model of {loaded.name}/{loaded.version} has sha256 {actual}, but the "
            f"registry recorded {expected}: refusing to load"
        )
    return RiskModel.from_bytes(payload)


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


# --------------------------------------------------------------------------- training runs


def git_commit(start: Path | None = None) -> str | None:
    """The commit of the code that runs (``git rev-parse HEAD``), None outside a checkout."""
    where = start or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else None


def metric_key(name: str) -> str:
    """``name`` as a readable, MLflow-valid key (see :mod:`training.metric_names`)."""
    from training.metric_names import readable_key

    return readable_key(name)


def training_params(result: TrainResult) -> dict[str, str]:
    """The run's parameters, flat (MLflow params are strings of at most 500 characters)."""
    cfg = result.config
    params: dict[str, Any] = {
        "label.outcome_types": ",".join(cfg.label.outcome_types),
        "label.horizon_months": cfg.label.horizon_months,
        "capacity": cfg.capacity.describe(),
        "capacity.k_test": result.evaluation.capacity_k,
        "gates.min_auc_margin": cfg.gates.min_auc_margin,
        "gates.max_ece": cfg.gates.max_ece,
        "gates.fairness": "on" if cfg.gates.fairness is not None else "off",
        "seed": cfg.seed,
        "best_iteration": result.fit.best_iteration,
        "eligibility": result.eligibility_rule.describe(),
        "slices.family_disjoint": result.split.family_disjoint,
    }
    for info in result.split.info:
        params[f"slices.{info.name}"] = ",".join(d.isoformat() for d in info.as_of)
    if result.plan is not None:
        params["design.source"] = result.plan.source
        params["backtest.origins"] = len(result.plan.origins)
    if result.final is not None:
        params["refit.train"] = ",".join(d.isoformat() for d in result.final.train.as_of)
        params["refit.calibration"] = ",".join(
            d.isoformat() for d in result.final.calibration.as_of
        )
    for key, value in result.fit.params.items():
        params[f"lightgbm.{key}"] = value
    for name, cal in result.calibration.items():
        params[f"calibration.{name}"] = cal.method
    return {k: str(v)[:500] for k, v in params.items()}


def training_metrics(result: TrainResult) -> dict[str, float]:
    """Every figure of the run as an MLflow metric, named the same way in every run.

    Test metrics with their interval ends, the oracle, paired AUC differences, calibration
    evidence, each backtest origin, each audited group's fairness figures, and each gate's
    value and outcome (``gate.<name>[.<attribute>.<group>].passed`` is 1 or 0), so runs can
    be compared in the UI. Figures at capacity name it (``precision_at_5pct``); the scheme
    is :mod:`training.metric_names` (docs/mlflow.md).
    """
    from training.evaluation import METRICS
    from training.fairness import group_metrics
    from training.metric_names import at_capacity, gate_key, segment

    out: dict[str, float] = {}
    for name, ev in result.evaluation.models.items():
        for m in METRICS:
            iv = ev.metrics[m]
            out[f"test.{name}.{m}"] = iv.estimate
            out[f"test.{name}.{m}.low"] = iv.low
            out[f"test.{name}.{m}.high"] = iv.high
        for k, v in ev.truth.items():
            out[f"truth.{name}.{k}"] = v
    for m, iv in result.evaluation.oracle.items():
        out[f"test.oracle.{m}"] = iv.estimate
    for key, iv in result.evaluation.auc_difference.items():
        out[f"auc_difference.{key.split(' - ')[1]}"] = iv.estimate
        out[f"auc_difference.{key.split(' - ')[1]}.low"] = iv.low
        out[f"auc_difference.{key.split(' - ')[1]}.high"] = iv.high
    for name, cal in result.calibration.items():
        for m, v in cal.cv_brier.items():
            out[f"calibration.{name}.cv_brier.{m}"] = v
    if result.backtest is not None:
        for origin in result.backtest.origins:
            for model, ev in origin.evaluation.models.items():
                for m in ("roc_auc", "pr_auc", "precision_at_k", "ece"):
                    iv = ev.metrics[m]
                    key = f"backtest.origin{origin.origin}.{model}.{m}"
                    out[key] = iv.estimate
                    out[f"{key}.low"] = iv.low
                    out[f"{key}.high"] = iv.high
    out.update(group_metrics(result.audit))
    for outcome in result.fairness_outcomes:
        attribute = str(outcome.attribute or "").removeprefix("audit_")
        where = [segment(p) for p in (attribute, outcome.group) if p]
        key = ".".join([f"gate.fairness_{segment(outcome.gate)}", *where])
        out[f"{key}.passed"] = float(bool(outcome.passed))
        if outcome.value is not None:
            out[f"{key}.value"] = float(outcome.value)
    for gate in result.decision.gates:
        if gate.name.startswith("fairness_"):
            continue  # each fairness check is logged above, one by one
        out[f"{gate_key(gate.name)}.passed"] = float(gate.passed)
        out[f"{gate_key(gate.name)}.value"] = gate.value
    out["gates.passed"] = float(result.decision.promoted)
    out["gates.failed"] = float(len(result.decision.failed))
    for outcome, n in count_outcomes(result.decision.gates).items():
        out[f"checks.{outcome.value}"] = float(n)
    out["fit.validation_logloss"] = result.fit.validation_logloss
    if result.eligibility is not None:
        out["eligibility.ineligible_share"] = float(
            result.eligibility["ineligible"].sum() / max(result.eligibility["families"].sum(), 1)
        )
    capacity = result.config.capacity
    return {
        # gate keys are built segment by segment above; the rest are dotted names of data
        (at_capacity(k if k.startswith("gate.") else metric_key(k), capacity)): float(v)
        for k, v in out.items()
        if v is not None and math.isfinite(float(v))
    }


def _log_raw_dataset(run: TrackedRun, result: TrainResult) -> None:
    """The raw registry as the run's dataset input: where it was and its content hash."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    raw_sha = result.fingerprints.get("raw_sha256", "unknown")
    where = result.raw_dir
    uri = Path(where).resolve().as_uri() if where is not None else "feature-table://in-memory"
    from mlflow.exceptions import MlflowException

    try:
        with warnings.catch_warnings():
            # a local path matches MLflow's local-artifact source twice; either is right
            warnings.filterwarnings("ignore", message="The specified dataset source can be")
            source = resolve_dataset_source(uri)
    except MlflowException:
        from mlflow.data.http_dataset_source import HTTPDatasetSource

        source = HTTPDatasetSource(url=uri)
    dataset = MetaDataset(  # type: ignore[abstract]  # MLflow's own metadata-only dataset
        source=source,
        name=Path(where).name if where is not None else "feature table",
        digest=raw_sha[:32],  # MLflow keeps at most 36 characters; the full hash is a tag
    )
    run.log_input(
        dataset,
        context="training",
        tags={"raw_sha256": raw_sha, "eligibility": result.eligibility_rule.describe()},
    )


def training_run_name(version: str | None, data_through: str) -> str:
    """``train v3 2024-12-31``: what (the version it registered) and when (its data's end).

    The version exists only once the model is registered inside the run, so the run is
    created as ``train 2024-12-31`` and renamed.
    """
    return f"train v{version} {data_through}" if version else f"train {data_through}"


def data_through(result: TrainResult) -> dt.date:
    """The last outcome date the registered model's fit or calibration saw."""
    slices = (
        (result.final.train, result.final.calibration)
        if result.final is not None
        else tuple(result.split.info[:2])
    )
    return max(d for i in slices for d in i.window_end)


def log_training_run(result: TrainResult, *, input_example: pd.DataFrame) -> None:
    """Record a training run, register its model and set the alias the gates decided.

    Fills ``result.run_id``, ``model_name``, ``model_version`` and ``tracking_uri`` and
    writes the model card (it names the version and alias, so it is written once both
    exist). Everything goes to the store ``config.mlflow.tracking_uri`` names, through its
    own client.
    """
    from features.snapshot_store import META_PREFIX
    from training.check_record import CHECKS_ARTIFACT, check_tags, checks_document
    from training.config import feature_config_of
    from training.reference_stats import ARTIFACT_PATH, reference_stats_for
    from training.run_card import write_card

    cfg = result.config
    store = TrackingStore(cfg.mlflow.tracking_uri)
    experiment_id = store.experiment(
        cfg.mlflow.experiment, artifact_location=cfg.mlflow.artifact_location
    )
    through = data_through(result).isoformat()
    # the run spans the whole training (its duration in the UI), not only this logging stage
    started = round(result.started_at * 1000) if result.started_at else None
    with store.run(
        experiment_id, run_name=training_run_name(None, through), start_time=started
    ) as run:
        failed = ",".join(g.name for g in result.decision.failed)[:5000]
        tags = {
            **{f"{META_PREFIX}{k}": v for k, v in result.fingerprints.items()},
            f"{META_PREFIX}decision": result.decision.alias,
            f"{META_PREFIX}failed_gates": failed,
            **check_tags(result.decision),
        }
        commit = git_commit()
        if commit:
            tags["mlflow.source.git.commit"] = commit
        run.set_tags(tags)
        run.log_params(training_params(result))
        _log_raw_dataset(run, result)
        _log_config_and_tables(run, result)
        lineage = _log_held_out_model(run, result)
        logged = log_risk_model(
            result.risk_model,
            run=run,
            input_example=input_example,
            feature_list_sha256=result.fingerprints["feature_list_sha256"],
            registered_model_name=cfg.mlflow.model_name,
            extra_tags={
                "raw_sha256": result.fingerprints.get("raw_sha256", ""),
                "config_sha256": result.fingerprints["config_sha256"],
                TAG_FEATURE_CONFIG: feature_config_of(cfg).model_dump_json(),
                "gates": "passed" if result.decision.promoted else "failed",
                **check_tags(result.decision),
                TAG_ELIGIBILITY: result.eligibility_rule.to_tag(),
                "refit": "final" if result.final is not None else "none",
                TAG_TRAINED_BY: trained_by(),  # the two-person rule's trainer
                **lineage,
            },
        )
        # Logged after the model, linked to it by id in one batch: logged before, MLflow
        # links each metric to the model with one history query per metric (hundreds).
        run.log_metrics(training_metrics(result), model_id=logged.model_id)
        # every check's outcome: what `earlyrisk model promote` reads (blocking_checks)
        run.log_dict(checks_document(result.decision), CHECKS_ARTIFACT)
        store.set_alias(logged.name, logged.version, result.decision.alias)
        store.client.update_run(run.run_id, name=training_run_name(logged.version, through))
        # what `earlyrisk monitor` compares later data with (docs/monitoring.md)
        stats = reference_stats_for(result, input_example)
        run.log_dict(stats.model_dump(mode="json"), ARTIFACT_PATH)
        result.run_id = run.run_id
        result.model_name = logged.name
        result.model_version = logged.version
        card_dir = Path(cfg.report_dir) / "model_card"
        write_card(result, card_dir)
        run.log_artifacts(card_dir, artifact_path="model_card")
    result.tracking_uri = cfg.mlflow.tracking_uri


def _log_config_and_tables(run: TrackedRun, result: TrainResult) -> None:
    """The configuration and model specs as YAML, the run's tables, the report files."""
    cfg = result.config
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = Path(tmp) / "train_config.yaml"
        cfg_path.write_text(
            yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
        )
        run.log_artifact(cfg_path, artifact_path="config")
        for which in ("model", "baseline"):
            spec_path = Path(tmp) / f"{which}_spec.yaml"
            spec = cfg.load_model_spec(which).model_dump(mode="json")
            spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
            run.log_artifact(spec_path, artifact_path="config")
        tables = Path(tmp) / "tables"
        tables.mkdir()
        result.metrics_table().to_csv(tables / "test_metrics.csv")
        result.fit.tuning.to_csv(tables / "tuning.csv", index=False)
        gates = pd.DataFrame([g.__dict__ for g in result.decision.gates])
        gates.to_csv(tables / "gates.csv", index=False)
        if result.backtest is not None:
            result.backtest.table().to_csv(tables / "backtest.csv", index=False)
        if result.eligibility is not None:
            result.eligibility.to_csv(tables / "eligibility.csv", index=False)
        run.log_artifacts(tables, artifact_path="tables")
    if result.report is not None:
        report_dir = result.report.directory
        run.log_artifact(result.report.markdown, artifact_path="report")
        run.log_artifact(result.report.html, artifact_path="report")
        for path in result.report.figures.values():
            run.log_artifact(path, artifact_path="report/figures")
        fairness = report_dir / "fairness"
        if fairness.exists():
            run.log_artifacts(fairness, artifact_path="fairness")


def _log_held_out_model(run: TrackedRun, result: TrainResult) -> dict[str, str]:
    """After a final refit, keep the held-out design's model in the run (the model the
    figures describe, for a later run's champion comparison); the version's lineage tags."""
    lineage = {TAG_DATA_THROUGH: data_through(result).isoformat()}
    if result.final is None:
        return lineage
    held_out = result.evaluated_model.to_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        folder, name = HELD_OUT_ARTIFACT.split("/")
        path = Path(tmp) / name
        path.write_bytes(held_out)
        run.log_artifact(path, artifact_path=folder)
    lineage["held_out_sha256"] = hashlib.sha256(held_out).hexdigest()
    lineage[TAG_HELD_OUT_DATA_THROUGH] = max(
        d for i in result.split.info[:2] for d in i.window_end
    ).isoformat()
    return lineage


def refuse_other_feature_list(
    loaded: LoadedRiskModel,
    error: type[Exception],
    *,
    remedy: str,
    expected: str | None = None,
) -> None:
    """Raise ``error`` (the caller's own class, so its CLI maps it to its exit code) when
    ``loaded`` was trained on another feature list than ``expected`` (default: the one this
    code computes, :func:`features.catalogue.feature_list_fingerprint`).

    Why one helper: batch scoring (both engines) and the monitor each refused such a model
    with their own copy of the check and the words; a model whose inputs are not the features
    computed here would score (or be monitored on) columns it never learned. The message names
    both fingerprints, "(not recorded)" for a version without the tag, and ``remedy``: what
    the caller's user should do instead.
    """
    if expected is None:
        from features.catalogue import feature_list_fingerprint

        expected = feature_list_fingerprint()
    if loaded.feature_list_sha256 != expected:
        raise error(
            f"model {loaded.name}/{loaded.version} was trained on feature list "
            f"{loaded.feature_list_sha256 or '(not recorded)'}, but this code computes "
            f"feature list {expected}; {remedy}"
        )
