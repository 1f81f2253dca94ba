"""The training job as one function: raw data in, a registered, evaluated, gated model out.

Stages (each timed, each reported to an optional progress callback):

``load``       validate and read the raw registry (refuses broken data);
``features``   point-in-time snapshots at every as-of date of the three slices;
``split``      temporal slices, one slice per family;
``fit``        LightGBM (early stopping on held-out training families) and the logistic baseline;
``calibrate``  isotonic or sigmoid per model on the calibration slice;
``evaluate``   test-slice metrics with paired bootstrap intervals, against the truth if known;
``audit``      fairness audit of the calibrated scores on the test slice at capacity;
``report``     training report (Markdown + HTML + figures) and, when available, model card;
``log``        MLflow run (config, params, fingerprints, metrics, plots, report, model),
               registration, and the alias decided by the gates.

The core stages take and return data; MLflow is touched only in ``log`` (through
:mod:`training.registry` and :func:`_log_run`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from training.calibration import CalibrationResult, choose_calibration
from training.config import TrainConfig
from training.evaluation import METRICS, Evaluation, ScoredModel, evaluate
from training.gates import GateResult, PromotionDecision, decide, performance_gates
from training.models import (
    LightGBMFit,
    RuleBaseline,
    check_model_inputs,
    fit_lightgbm,
    fit_logistic,
)
from training.report import ReportInputs, WrittenReport, write_report
from training.risk_model import LightGBMRiskModel, LogisticRiskModel
from training.splits import TemporalSplit, check_label_windows, temporal_split

MAIN = "lightgbm"
LOGISTIC = "logistic"
RULE = "wellbeing_index"
STAGES = (
    "load",
    "features",
    "split",
    "fit",
    "calibrate",
    "evaluate",
    "audit",
    "report",
    "log",
)


class TrainingError(ValueError):
    """The job cannot run on this data or configuration (the message says what to change)."""


StageCallback = Callable[[str, str], None]
"""Called as ``callback(stage, "start" | "done")``."""


@dataclass
class TrainResult:
    """Everything one training run produced, for the CLI summary, notebooks and tests."""

    config: TrainConfig
    split: TemporalSplit
    fit: LightGBMFit
    models: dict[str, Any]  # name -> calibrated scorer (RiskModel or RuleBaseline)
    calibration: dict[str, CalibrationResult]
    evaluation: Evaluation
    decision: PromotionDecision
    report: WrittenReport | None
    fingerprints: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)
    audit: Any = None
    fairness_outcomes: list[Any] = field(default_factory=list)
    model_name: str = ""
    model_version: str = ""
    run_id: str = ""
    alias: str = ""
    tracking_uri: str = ""
    feature_table: pd.DataFrame | None = None

    @property
    def risk_model(self) -> LightGBMRiskModel:
        return self.models[MAIN]

    def metrics_table(self) -> pd.DataFrame:
        return self.evaluation.comparison_table()


class _Stages:
    """Times each stage and forwards start/done to the callback."""

    def __init__(self, callback: StageCallback | None) -> None:
        self.callback = callback
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if self.callback:
            self.callback(name, "start")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - start
        if self.callback:
            self.callback(name, "done")


def config_fingerprint(config: TrainConfig) -> str:
    """sha256 of the configuration (paths excluded: moving a file changes no result)."""
    data = config.model_dump(mode="json", exclude={"raw_dir", "config_dir", "report_dir"})
    data["model_spec"] = config.load_model_spec("model").model_dump(mode="json")
    data["baseline_spec"] = config.load_model_spec("baseline").model_dump(mode="json")
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def build_snapshots(
    raw: Any, config: TrainConfig, *, n_jobs: int | None = None, progress: bool = False
) -> pd.DataFrame:
    """Feature snapshots at every as-of date of the configured slices."""
    from features.config import FeatureConfig
    from features.engine import build_feature_table

    feature_config = FeatureConfig(
        label_outcome_types=config.label.outcome_types,
        horizon_months=config.label.horizon_months,
        extraction_date=(
            config.label.extraction_date.isoformat() if config.label.extraction_date else None
        ),
    )
    return build_feature_table(
        raw, config.slices.all_dates(), config=feature_config, n_jobs=n_jobs, progress=progress
    )


def read_ground_truth(raw_dir: Path | None) -> pd.DataFrame | None:
    """``ground_truth.parquet`` of a synthetic registry, if the directory has one."""
    if raw_dir is None:
        return None
    path = Path(raw_dir) / "ground_truth.parquet"
    if not path.exists():
        return None
    truth = pd.read_parquet(path, columns=["family_id", "as_of", "true_probability"])
    truth["as_of"] = pd.to_datetime(truth["as_of"]).astype("datetime64[ns]")
    truth["family_id"] = truth["family_id"].astype(str)
    return truth


def _truth_for(test: pd.DataFrame, truth: pd.DataFrame | None) -> np.ndarray | None:
    if truth is None:
        return None
    keys = test[["family_id", "as_of"]].assign(
        family_id=test["family_id"].astype(str),
        as_of=pd.to_datetime(test["as_of"]).astype("datetime64[ns]"),
    )
    merged = keys.merge(truth, on=["family_id", "as_of"], how="left")
    if merged["true_probability"].isna().any():
        return None  # the truth does not cover every test row (e.g. a non-quarter-end date)
    return merged["true_probability"].to_numpy(dtype=float)


def _audit_groups(table: pd.DataFrame, config: TrainConfig) -> list[str]:
    present = [c for c in table.columns if c.startswith("audit_")]
    if config.audit_groups is None:
        return present
    missing = [g for g in config.audit_groups if g not in table.columns]
    if missing:
        raise TrainingError(
            f"audit group column(s) {missing} are not in the feature table (it has {present})"
        )
    return list(config.audit_groups)


def run_training(
    config: TrainConfig,
    *,
    raw_dir: Path | str | None = None,
    feature_table: pd.DataFrame | None = None,
    on_stage: StageCallback | None = None,
    n_jobs: int | None = None,
    n_threads: int | None = None,
    feature_progress: bool = False,
    log_to_mlflow: bool = True,
    write_reports: bool = True,
    keep_feature_table: bool = False,
) -> TrainResult:
    """Run the whole training job (see the module docstring) and return its results.

    ``feature_table`` skips the load and features stages (a notebook that already built the
    snapshots); ``raw_dir`` overrides ``config.raw_dir``. ``n_jobs``: feature-engine worker
    processes; ``write_reports=False`` skips the report files (and so their MLflow upload),
    for quick experiments; ``n_threads``: LightGBM threads, overriding the config's
    ``lightgbm_threads`` (0: OpenMP's default, which depends on the machine; the summation
    order, and so the model, can differ between thread counts).
    """
    if n_threads is None:
        n_threads = config.lightgbm_threads
    # refuse a look-ahead configuration before any data is read
    check_label_windows(config.slices, horizon_months=config.label.horizon_months)
    stage = _Stages(on_stage)
    raw_path = Path(raw_dir) if raw_dir is not None else config.raw_dir
    fingerprints: dict[str, str] = {"config_sha256": config_fingerprint(config)}

    if feature_table is None:
        if raw_path is None:
            raise TrainingError("no raw data: pass raw_dir (earlyrisk train --raw DIR)")
        with stage("load"):
            from features.validation import load_validated

            raw = load_validated(raw_path)
            protected = sorted(raw.protected["attribute"].dropna().unique())
        with stage("features"):
            table = build_snapshots(raw, config, n_jobs=n_jobs, progress=feature_progress)
        del raw
    else:
        table = feature_table
        # audit_<attribute> columns of the protected table (the derived groups such as
        # settlement or single_parent are audit groups, not protected attributes)
        from features.contract import DERIVED_AUDIT_GROUPS

        protected = [
            c.removeprefix("audit_")
            for c in table.columns
            if c.startswith("audit_") and c.removeprefix("audit_") not in DERIVED_AUDIT_GROUPS
        ]
    fingerprints["raw_sha256"] = str(table.attrs.get("earlyrisk.raw_sha256", "unknown"))
    from features.catalogue import feature_list_fingerprint, model_input_columns

    feature_names = check_model_inputs(model_input_columns(), protected=protected)
    fingerprints["feature_list_sha256"] = feature_list_fingerprint()
    table_features = table.attrs.get("earlyrisk.feature_list_sha256")
    if table_features and table_features != fingerprints["feature_list_sha256"]:
        raise TrainingError(
            f"the feature table was built with feature list {table_features[:12]}..., this code "
            f"has {fingerprints['feature_list_sha256'][:12]}...; rebuild the snapshots"
        )

    with stage("split"):
        split = temporal_split(
            table, slices=config.slices, horizon_months=config.label.horizon_months
        )

    with stage("fit"):
        fit = fit_lightgbm(
            split.train,
            feature_names=feature_names,
            spec=config.load_model_spec("model"),
            seed=config.seed,
            n_threads=n_threads,
        )
        baseline_spec = config.load_model_spec("baseline")
        logistic: LogisticRiskModel = fit_logistic(
            split.train, feature_names=feature_names, spec=baseline_spec, seed=config.seed
        )

    with stage("calibrate"):
        cal_frame = split.calibration
        y_cal = cal_frame["label"].to_numpy(dtype=int)
        raw_scorers: dict[str, Any] = {MAIN: fit.model, LOGISTIC: logistic, RULE: RuleBaseline()}
        calibration = {
            name: choose_calibration(scorer, cal_frame, y_cal, seed=config.seed)
            for name, scorer in raw_scorers.items()
        }
        models = {
            name: scorer.with_calibrator(calibration[name].calibrator)
            for name, scorer in raw_scorers.items()
        }

    with stage("evaluate"):
        test = split.test
        y_test = test["label"].to_numpy(dtype=int)
        scored = {
            name: ScoredModel(
                probability=model.predict_proba(test),
                rank_score=np.nan_to_num(model.raw_score(test), nan=-np.inf),
            )
            for name, model in models.items()
        }
        truth = _truth_for(test, read_ground_truth(raw_path))
        k = config.capacity.k(len(test))
        evaluation = evaluate(
            y_test,
            scored,
            k=k,
            main=MAIN,
            n_bootstrap=config.evaluation.n_bootstrap,
            confidence_level=config.evaluation.confidence_level,
            n_bins=config.evaluation.n_bins,
            seed=config.seed,
            true_probability=truth,
        )

    with stage("audit"):
        audit_result, fairness_outcomes, fairness_gates = _fairness(
            test, scored[MAIN].probability, feature_names, k=k, config=config
        )

    gates = performance_gates(evaluation, main=MAIN, config=config.gates)
    gates += fairness_gates
    decision = decide(gates)

    result = TrainResult(
        config=config,
        split=split,
        fit=fit,
        models=models,
        calibration=calibration,
        evaluation=evaluation,
        decision=decision,
        report=None,
        fingerprints=fingerprints,
        audit=audit_result,
        fairness_outcomes=fairness_outcomes,
        alias=decision.alias,
        feature_table=table if keep_feature_table else None,
    )

    if write_reports:
        with stage("report"):
            result.report = write_report(_report_inputs(result), config.report_dir)
            _write_fairness_files(result, config.report_dir)

    if log_to_mlflow:
        with stage("log"):
            _log_run(result, input_example=test)
    result.timings = dict(stage.timings)
    return result


# --------------------------------------------------------------------------- fairness


def _fairness(
    test: pd.DataFrame,
    probability: np.ndarray,
    feature_names: list[str],
    *,
    k: int,
    config: TrainConfig,
) -> tuple[Any, list[Any], list[GateResult]]:
    """Audit the calibrated test scores at capacity; the audit's gates as GateResults."""
    from training.audit import TopK, audit, evaluate_fairness_gates

    groups = _audit_groups(test, config)
    if not groups:
        return None, [], []
    # the model inputs go along for the proxy check: a feature that predicts a protected
    # attribute is reported (design rule 2: what stands in for a protected attribute)
    frame = test[["label", *groups, *feature_names]].assign(probability=probability)
    result = audit(
        frame,
        score="probability",
        label="label",
        groups=groups,
        rule=TopK(k),
        n_boot=config.evaluation.n_bootstrap,
        seed=config.seed,
        confidence_level=config.evaluation.confidence_level,
        n_bins=config.evaluation.n_bins,
        intersections=False,
        proxy_features=feature_names,
    )
    if config.gates.fairness is None:
        return result, [], []
    outcomes = evaluate_fairness_gates(result, config.gates.fairness)
    gates = []
    for o in outcomes:
        where = "/".join(str(p) for p in (o.attribute, o.group) if p)
        gates.append(
            GateResult(
                name=f"fairness_{o.gate}" + (f"[{where}]" if where else ""),
                passed=bool(o.passed),
                value=float(o.value) if o.value is not None else float("nan"),
                threshold=float(o.upper if o.upper is not None else (o.lower or float("nan"))),
                detail=o.message,
            )
        )
    return result, outcomes, _collapse_fairness(gates)


def _collapse_fairness(gates: list[GateResult]) -> list[GateResult]:
    """All passing fairness checks as one row; each failing check keeps its own row."""
    passed = [g for g in gates if g.passed]
    failed = [g for g in gates if not g.passed]
    out = list(failed)
    if passed:
        out.insert(
            0,
            GateResult(
                name="fairness_checks_passed",
                passed=True,
                value=float(len(passed)),
                threshold=float(len(gates)),
                detail=f"{len(passed)} of {len(gates)} fairness checks passed",
            ),
        )
    return out


def _write_fairness_files(result: TrainResult, directory: Path) -> None:
    if result.audit is None:
        return
    from training.audit.report_html import render_html, write_html_report
    from training.audit.report_json import build_report, write_json_report

    outcomes = result.fairness_outcomes if result.config.gates.fairness is not None else None
    fair_dir = Path(directory) / "fairness"
    report = build_report(result.audit, gate_outcomes=outcomes, source="earlyrisk train")
    write_json_report(report, fair_dir / "fairness_report.json")
    write_html_report(
        render_html(result.audit, gate_outcomes=outcomes, source="earlyrisk train"),
        fair_dir / "fairness_report.html",
    )


# --------------------------------------------------------------------------- report


def _report_inputs(result: TrainResult) -> ReportInputs:
    fit = result.fit
    summary = [] if result.audit is None else list(result.audit.summary())
    return ReportInputs(
        title="earlyrisk training report",
        main=MAIN,
        slices=result.split.info,
        horizon_months=result.split.horizon_months,
        evaluation=result.evaluation,
        calibration=result.calibration,
        decision=result.decision,
        capacity=result.config.capacity.describe(),
        feature_importance=result.risk_model.feature_importance(),
        fit_summary={
            "best iteration": fit.best_iteration,
            "validation log-loss": f"{fit.validation_logloss:.5f}",
            "tuning candidates": len(fit.tuning),
            "rows fitted / held out for early stopping": (
                f"{fit.n_fit_rows} / {fit.n_validation_rows}"
            ),
            "seed": result.config.seed,
        },
        model={
            "registered model": result.config.mlflow.model_name,
            "tracking": result.config.mlflow.tracking_uri,
        },
        fingerprints=result.fingerprints,
        fairness_summary=summary,
    )


# --------------------------------------------------------------------------- model card


def model_card_facts(result: TrainResult) -> Any:
    """The facts of this run for :func:`training.model_card.build_model_card`."""
    from training.caseworker_facts import caseworker_card_fields
    from training.model_card import DataFacts, MetricFact, ModelCardFacts, fairness_facts_from_audit

    cfg = result.config
    ev = result.evaluation
    info = result.split.info
    metrics = []
    for name, model_eval in ev.models.items():
        for metric in ("roc_auc", "pr_auc", "brier", "ece", "precision_at_k", "lift_at_k"):
            iv = model_eval.metrics[metric]
            metrics.append(
                MetricFact(
                    name=metric if name == MAIN else f"{metric} ({name} baseline)",
                    value=iv.estimate,
                    lower=iv.low,
                    upper=iv.high,
                    note=None if name == MAIN else "baseline, same test slice",
                )
            )
    if ev.oracle:
        iv = ev.oracle["roc_auc"]
        metrics.append(
            MetricFact(
                name="roc_auc (oracle: true probabilities)",
                value=iv.estimate,
                lower=iv.low,
                upper=iv.high,
                note="ceiling on synthetic data",
            )
        )
    for key, value in ev.models[MAIN].truth.items():
        metrics.append(MetricFact(name=f"{key} (synthetic truth)", value=value))
    outcomes = result.fairness_outcomes if cfg.gates.fairness is not None else None
    fairness = None
    if result.audit is not None:
        fairness = fairness_facts_from_audit(result.audit, outcomes)
    first = min(d for i in info for d in i.as_of)
    last = max(d for i in info for d in i.window_end)
    calibration = result.calibration[MAIN].method
    return ModelCardFacts(
        model_name=result.model_name or cfg.mlflow.model_name,
        model_version=result.model_version or None,
        alias=result.alias or None,
        run_id=result.run_id or None,
        created_at=dt.datetime.now(dt.UTC),
        model_type=f"LightGBM gradient-boosted trees, {calibration}-calibrated on a later slice",
        model_description=(
            f"Probability of {' or '.join(cfg.label.outcome_types)} within "
            f"{cfg.label.horizon_months} months, from point-in-time family indicators; "
            f"best of {len(result.fit.tuning)} tuning candidate(s), "
            f"{result.fit.best_iteration} trees"
        ),
        features=list(result.risk_model.feature_names),
        capacity=f"{cfg.capacity.describe()} ({ev.capacity_k} families on the test slice)",
        data=DataFacts(
            source=str(cfg.raw_dir) if cfg.raw_dir else "feature table",
            synthetic=bool(ev.oracle),
            period=f"{first.isoformat()} .. {last.isoformat()}",
            n_families=sum(i.n_families for i in info),
            rows_per_split={i.name: i.n_rows for i in info},
            label_definition=(
                f"any {' or '.join(cfg.label.outcome_types)} recorded for the family within "
                f"{cfg.label.horizon_months} months after the as-of date"
            ),
            horizon_months=cfg.label.horizon_months,
            raw_sha256=result.fingerprints.get("raw_sha256"),
            feature_list_sha256=result.fingerprints.get("feature_list_sha256"),
        ),
        metrics=metrics,
        fairness=fairness,
        limitations=[
            f"Evaluated on {ev.n_rows} test families with {ev.n_positive} outcomes; intervals "
            "are wide when outcomes are few.",
        ],
        **caseworker_card_fields(result),
    )


def write_card(result: TrainResult, directory: Path) -> tuple[Path, Path]:
    """Build the model card of this run and write ``model_card.json`` and ``.md``."""
    from training.model_card import build_model_card, write_model_card

    return write_model_card(build_model_card(model_card_facts(result)), directory)


# --------------------------------------------------------------------------- MLflow


def _experiment_id(name: str, artifact_location: str) -> str:
    import mlflow

    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = artifact_location
    if "://" not in location:
        location = Path(location).resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def _flat_params(result: TrainResult) -> dict[str, str]:
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
    }
    for name in ("train", "calibration", "test"):
        params[f"slices.{name}"] = ",".join(d.isoformat() for d in cfg.slices.dates(name))
    for key, value in result.fit.params.items():
        params[f"lightgbm.{key}"] = value
    for name, cal in result.calibration.items():
        params[f"calibration.{name}"] = cal.method
    return {k: str(v)[:500] for k, v in params.items()}


def _metrics(result: TrainResult) -> dict[str, float]:
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
    for name, cal in result.calibration.items():
        for m, v in cal.cv_brier.items():
            out[f"calibration.{name}.cv_brier.{m}"] = v
    out["gates.passed"] = float(result.decision.promoted)
    out["fit.validation_logloss"] = result.fit.validation_logloss
    return {k: float(v) for k, v in out.items() if v is not None and np.isfinite(v)}


def _log_run(result: TrainResult, *, input_example: pd.DataFrame) -> None:
    import mlflow

    from training.registry import log_risk_model, set_alias, tracking_store

    cfg = result.config
    with tracking_store(cfg.mlflow.tracking_uri):
        experiment_id = _experiment_id(cfg.mlflow.experiment, cfg.mlflow.artifact_location)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{stamp}") as run:
            mlflow.set_tags(
                {
                    **{f"earlyrisk.{k}": v for k, v in result.fingerprints.items()},
                    "earlyrisk.decision": result.decision.alias,
                    "earlyrisk.failed_gates": ",".join(g.name for g in result.decision.failed),
                }
            )
            mlflow.log_params(_flat_params(result))
            mlflow.log_metrics(_metrics(result))
            with tempfile.TemporaryDirectory() as tmp:
                cfg_path = Path(tmp) / "train_config.yaml"
                cfg_path.write_text(
                    yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
                )
                mlflow.log_artifact(str(cfg_path), artifact_path="config")
                for which in ("model", "baseline"):
                    spec_path = Path(tmp) / f"{which}_spec.yaml"
                    spec = cfg.load_model_spec(which).model_dump(mode="json")  # type: ignore[arg-type]
                    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
                    mlflow.log_artifact(str(spec_path), artifact_path="config")
                tables = Path(tmp) / "tables"
                tables.mkdir()
                result.metrics_table().to_csv(tables / "test_metrics.csv")
                result.fit.tuning.to_csv(tables / "tuning.csv", index=False)
                gates = pd.DataFrame([g.__dict__ for g in result.decision.gates])
                gates.to_csv(tables / "gates.csv", index=False)
                mlflow.log_artifacts(str(tables), artifact_path="tables")
            if result.report is not None:
                report_dir = result.report.directory
                mlflow.log_artifact(str(result.report.markdown), artifact_path="report")
                mlflow.log_artifact(str(result.report.html), artifact_path="report")
                for path in result.report.figures.values():
                    mlflow.log_artifact(str(path), artifact_path="report/figures")
                fairness = report_dir / "fairness"
                if fairness.exists():
                    mlflow.log_artifacts(str(fairness), artifact_path="fairness")
            logged = log_risk_model(
                result.risk_model,
                input_example=input_example,
                feature_list_sha256=result.fingerprints["feature_list_sha256"],
                registered_model_name=cfg.mlflow.model_name,
                extra_tags={
                    "raw_sha256": result.fingerprints.get("raw_sha256", ""),
                    "config_sha256": result.fingerprints["config_sha256"],
                    "gates": "passed" if result.decision.promoted else "failed",
                },
            )
            set_alias(logged.name, logged.version, result.decision.alias)
            result.run_id = run.info.run_id
            result.model_name = logged.name
            result.model_version = logged.version
            # the card names the version and alias, so it is written once both exist
            card_dir = Path(cfg.report_dir) / "model_card"
            write_card(result, card_dir)
            mlflow.log_artifacts(str(card_dir), artifact_path="model_card")
    result.tracking_uri = cfg.mlflow.tracking_uri
