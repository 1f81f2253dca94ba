"""The training job as one function: raw data in, a registered, evaluated, gated model out.

Stages (each timed, each reported to an optional progress callback):

``load``       read and parse the raw registry; its contract rules are checked in a
               background process meanwhile (:mod:`features.validation.background`);
``design``     the temporal design: from the config's dates, or derived from the data
               (:mod:`training.design`), with its backtest origins and final refit;
``features``   point-in-time snapshots at every as-of date the design needs, then the
               rules' answer: broken data is refused here, before anything is fitted;
``split``      eligible families only (:mod:`features.eligibility`), cut into temporal slices;
``fit``        LightGBM (early stopping on held-out training families) and the logistic baseline;
``calibrate``  isotonic or sigmoid per model on the calibration slice;
``evaluate``   test-slice metrics with paired bootstrap intervals (families resampled), against
               the truth if known;
``audit``      fairness audit of the calibrated scores on the test slice at capacity;
``backtest``   the same design at earlier origins (:mod:`training.backtest`);
``refit``      the registered model: refitted on the most recent labelled data with the
               chosen hyperparameters, recalibrated on the most recent window
               (:mod:`training.refit`); the figures stay those of the held-out design;
``report``     training report (Markdown + HTML + figures) and fairness report;
``log``        MLflow run, registration, model card, and the alias decided by the gates
               (:func:`training.registry.log_training_run`).

This module only orchestrates, one named function per stage (or group of stages); what the
run reads is :mod:`training.inputs`, what it returns :mod:`training.results`, the fairness
adapter :mod:`training.fairness`, the report inputs :mod:`training.report`, the model-card
facts :mod:`training.run_card`, and every MLflow call goes through :mod:`training.registry`.
Work that needs nothing from other work runs beside it in threads (LightGBM, numpy and
scipy release the GIL; every booster call takes :mod:`training.lightgbm_adapter`'s lock);
each computation is seeded, so no result depends on the overlap.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.eligibility import EligibilityRule
from features.snapshot_store import META_FEATURE_LIST, META_RAW
from training.backtest import Backtest, assemble_backtest, evaluate_earlier_origins
from training.calibration import CalibrationResult, choose_calibration
from training.caseworker_facts import fit_support_ablation
from training.champion import champion_gates, compare_with_champion
from training.config import LightGBMSpec, LogisticSpec, TrainConfig
from training.counterfactual import CounterfactualEvaluation
from training.design import DesignPlan
from training.evaluation import Evaluation, ScoredModel, evaluate
from training.fairness import _fairness, audit_group_columns, write_fairness_files
from training.gates import (
    GateResult,
    calibration_gates,
    decide,
    performance_gates,
    proxy_gates,
)
from training.inputs import (
    TrainingError,
    build_snapshots,
    config_fingerprint,
    eligibility_counts,
    plan_design,
    read_ground_truth,
    truth_for,
)
from training.model_card import SupportAblationFacts
from training.models import (
    LightGBMFit,
    RuleBaseline,
    check_model_inputs,
    fit_lightgbm,
    fit_logistic,
    row_weights,
    score_rows,
)
from training.pooled_evidence import OriginScores, PooledDifferences, pooled_differences
from training.refit import cross_fitted_probability, fit_chosen, recalibrate
from training.report import report_inputs, write_report
from training.results import LOGISTIC, MAIN, RULE, FinalRefit, TrainResult, row_keys
from training.risk_model import LogisticRiskModel
from training.splits import TemporalSplit, temporal_split
from training.support import read_interventions
from training.support_training import (
    SupportAdjustment,
    adjust_for_support,
    counterfactual_gates,
    evaluate_without_support,
    interventions_fingerprint,
)

# the names callers and notebooks import from here (defined in the modules above)
__all__ = [
    "MAIN",
    "STAGES",
    "FinalRefit",
    "TrainResult",
    "TrainingError",
    "build_snapshots",
    "plan_design",
    "run_training",
]

STAGES = (
    "load",
    "design",
    "features",
    "split",
    "fit",
    "calibrate",
    "evaluate",
    "audit",
    "backtest",
    "refit",
    "report",
    "log",
)

StageCallback = Callable[[str, str], None]
"""Called as ``callback(stage, "start" | "done")``."""


class _Stages:
    """Times each stage and forwards start/done to the callback."""

    def __init__(self, callback: StageCallback | None) -> None:
        self.callback = callback
        self.timings: dict[str, float] = {}
        self.started_at = time.time()  # wall clock: the MLflow run's start

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


@dataclass(frozen=True)
class _Data:
    """The snapshots a run learns from, its temporal design, the protected attributes."""

    table: pd.DataFrame
    plan: DesignPlan
    protected: list[str]
    interventions: pd.DataFrame | None = None  # what caseworkers did (issue 24), if recorded


@dataclass(frozen=True)
class _Design:
    """What the held-out design decided before its evaluation: the stages' hand-off."""

    config: TrainConfig
    data: _Data
    feature_names: list[str]
    rule: EligibilityRule
    counts: pd.DataFrame  # per as-of date: families, eligible, ineligible
    eligible: pd.DataFrame  # the eligible rows of every as-of date
    split: TemporalSplit
    fit: LightGBMFit
    calibration: dict[str, CalibrationResult]
    models: dict[str, Any]  # name -> calibrated scorer
    baseline_spec: LogisticSpec
    n_threads: int
    support: SupportAdjustment | None = None  # the training rows' handling of support


@dataclass(frozen=True)
class _HeldOut:
    """The test slice's scores and their evaluation."""

    test: pd.DataFrame
    y: np.ndarray
    scored: dict[str, ScoredModel]
    k: int
    evaluation: Evaluation
    counterfactual: CounterfactualEvaluation | None = None  # the no-support figures


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
    snapshots; the design then uses the table's own as-of dates); ``raw_dir`` overrides
    ``config.raw_dir``. ``n_jobs``: feature-engine worker processes; ``write_reports=False``
    skips the report files (and so their MLflow upload), for quick experiments;
    ``n_threads``: LightGBM threads, overriding the config's ``lightgbm_threads`` (0:
    OpenMP's default, which depends on the machine; the summation order, and so the model,
    can differ between thread counts).
    """
    model_spec, baseline_spec = _check_before_reading(config)
    stage = _Stages(on_stage)
    raw_path = Path(raw_dir) if raw_dir is not None else config.raw_dir
    fingerprints: dict[str, str] = {"config_sha256": config_fingerprint(config)}
    if feature_table is None:
        data = _load(config, raw_path, stage, n_jobs=n_jobs, progress=feature_progress)
    else:
        data = _from_table(config, feature_table, stage)
    feature_names = _model_inputs(data, fingerprints)
    if data.interventions is not None:
        fingerprints["interventions_sha256"] = interventions_fingerprint(data.interventions)
    fingerprints["corrections"] = corrections_fact(data.table, config.corrections)
    with stage("split"):
        rule, counts, eligible, split = _split(config, data)
        support = None
        if data.interventions is not None:
            eligible, split, support = _account_for_support(
                config, data, eligible, split, feature_names
            )
    threads = config.lightgbm_threads if n_threads is None else n_threads
    with stage("fit"):
        fit, logistic = _fit(config, split, feature_names, model_spec, baseline_spec, threads)
    with stage("calibrate"):
        calibration, models = _calibrate_models(config, split, fit, logistic)
    design = _Design(
        config=config,
        data=data,
        feature_names=feature_names,
        rule=rule,
        counts=counts,
        eligible=eligible,
        split=split,
        fit=fit,
        calibration=calibration,
        models=models,
        baseline_spec=baseline_spec,
        n_threads=threads,
        support=support,
    )
    # The model card's support comparison (one more fit) runs in a background thread,
    # beside the evaluation and the reports (which hold the GIL drawing figures).
    card_facts = ThreadPoolExecutor(max_workers=1, thread_name_prefix="earlyrisk-card-facts")
    try:
        ablation = card_facts.submit(_support_ablation, design) if log_to_mlflow else None
        result = _judge(
            design,
            stage,
            raw_path=raw_path,
            write_reports=write_reports,
            compare_champion=log_to_mlflow,
        )
    except BaseException:
        card_facts.shutdown(wait=False, cancel_futures=True)
        raise
    result.fingerprints = fingerprints
    result.started_at = stage.started_at
    result.feature_table = data.table if keep_feature_table else None
    try:
        _report_and_log(result, stage, ablation, write_reports=write_reports)
    finally:
        card_facts.shutdown(wait=True, cancel_futures=True)
    result.timings = dict(stage.timings)
    return result


def _check_before_reading(config: TrainConfig) -> tuple[LightGBMSpec, LogisticSpec]:
    """The model specs; a look-ahead configuration or a spec of the wrong kind is refused
    before any data is read."""
    from training.splits import check_label_windows

    if config.slices.has_dates:
        check_label_windows(config.slices, horizon_months=config.label.horizon_months)
    model_spec, baseline_spec = config.load_model_spec("model"), config.load_model_spec("baseline")
    if not isinstance(model_spec, LightGBMSpec) or not isinstance(baseline_spec, LogisticSpec):
        raise TrainingError(
            f"the model spec ({config.model_spec}) must be a lightgbm spec and the baseline "
            f"spec ({config.baseline_spec}) a logistic one; got {model_spec.kind} and "
            f"{baseline_spec.kind}"
        )
    return model_spec, baseline_spec


def _load(
    config: TrainConfig,
    raw_path: Path | None,
    stage: _Stages,
    *,
    n_jobs: int | None,
    progress: bool,
) -> _Data:
    """``load``, ``design`` and ``features`` from a raw registry. Its contract rules are
    checked in the background meanwhile; broken data is refused after the snapshots,
    before anything is fitted (a broken rule explains a failure better than its symptom)."""
    if raw_path is None:
        raise TrainingError("no raw data: pass raw_dir (earlyrisk train --raw DIR)")
    with stage("load"):
        from features.validation.background import load_checking_in_background

        raw, checks = load_checking_in_background(raw_path)
        protected = sorted(raw.protected["attribute"].dropna().unique())
        interventions = read_interventions(raw_path)
    try:
        with stage("design"):
            plan = plan_design(config, raw=raw, table=None)
        with stage("features"):
            from features.validation.corrections import load_corrections

            table = build_snapshots(
                raw,
                config,
                plan.all_dates(),
                n_jobs=n_jobs,
                progress=progress,
                corrections=load_corrections(raw_path),
            )
            checks.result()
    except Exception:
        checks.result()
        raise
    except BaseException:
        checks.cancel()
        raise
    return _Data(table=table, plan=plan, protected=protected, interventions=interventions)


def _from_table(config: TrainConfig, table: pd.DataFrame, stage: _Stages) -> _Data:
    """``design`` from a feature table a caller built (its own as-of dates).

    The protected attributes are its ``audit_<attribute>`` columns of the protected table
    (the derived groups such as settlement or single_parent are audit groups, not protected
    attributes)."""
    from features.contract import DERIVED_AUDIT_GROUPS

    protected = [
        c.removeprefix("audit_")
        for c in table.columns
        if c.startswith("audit_") and c.removeprefix("audit_") not in DERIVED_AUDIT_GROUPS
    ]
    with stage("design"):
        plan = plan_design(config, raw=None, table=table)
    return _Data(table=table, plan=plan, protected=protected)


def corrections_fact(table: pd.DataFrame, mode: str) -> str:
    """What the model card says of corrected records (issue 23): the summary the feature
    build recorded, or none corrected under the configured mode."""
    from features.validation.corrections import META_CORRECTIONS

    recorded = table.attrs.get(META_CORRECTIONS)
    if recorded:
        return str(recorded)
    return json.dumps({"mode": mode, "accepted": 0, "records_corrected": 0}, sort_keys=True)


def _model_inputs(data: _Data, fingerprints: dict[str, str]) -> list[str]:
    """The model inputs (no protected attribute among them); records the raw data's and
    the feature list's fingerprints, refusing a table built with another feature list."""
    from features.catalogue import feature_list_fingerprint, model_input_columns

    fingerprints["raw_sha256"] = str(data.table.attrs.get(META_RAW, "unknown"))
    feature_names = check_model_inputs(model_input_columns(), protected=data.protected)
    fingerprints["feature_list_sha256"] = feature_list_fingerprint()
    table_features = data.table.attrs.get(META_FEATURE_LIST)
    if table_features and table_features != fingerprints["feature_list_sha256"]:
        raise TrainingError(
            f"the feature table was built with feature list {table_features[:12]}..., this code "
            f"has {fingerprints['feature_list_sha256'][:12]}...; rebuild the snapshots"
        )
    return feature_names


def _split(
    config: TrainConfig, data: _Data
) -> tuple[EligibilityRule, pd.DataFrame, pd.DataFrame, TemporalSplit]:
    """``split``: the eligible families (with counts per date), cut into temporal slices."""
    rule = config.eligibility
    try:
        mask = rule.mask(data.table)
    except KeyError as exc:
        raise TrainingError(str(exc.args[0])) from exc
    counts = eligibility_counts(data.table, mask)
    eligible = data.table.loc[mask].reset_index(drop=True)
    slices = config.slices
    split = temporal_split(
        eligible,
        slices=data.plan.evaluation,
        horizon_months=config.label.horizon_months,
        family_disjoint=slices.family_disjoint,
        fractions=slices.family_fractions,
        salt=slices.salt,
    )
    return rule, counts, eligible, split


def _account_for_support(
    config: TrainConfig,
    data: _Data,
    eligible: pd.DataFrame,
    split: TemporalSplit,
    feature_names: list[str],
) -> tuple[pd.DataFrame, TemporalSplit, SupportAdjustment]:
    """Training and calibration rows as the configured method keeps and weights them
    (:mod:`training.support_training`); the test slice keeps every row, because it is
    evaluated both naively and without support. The backtest's origins and the final refit
    start from the adjusted rows too."""
    assert data.interventions is not None
    support = adjust_for_support(
        eligible, data.interventions, config=config, feature_names=feature_names
    )
    slices = config.slices
    adjusted = temporal_split(
        support.frame,
        slices=data.plan.evaluation,
        horizon_months=config.label.horizon_months,
        family_disjoint=slices.family_disjoint,
        fractions=slices.family_fractions,
        salt=slices.salt,
    )
    split = replace(adjusted, test=split.test, info=(*adjusted.info[:2], split.info[2]))
    return support.frame, split, support


def _fit(
    config: TrainConfig,
    split: TemporalSplit,
    feature_names: list[str],
    model_spec: LightGBMSpec,
    baseline_spec: LogisticSpec,
    n_threads: int,
) -> tuple[LightGBMFit, LogisticRiskModel]:
    """``fit``: LightGBM with the logistic baseline beside it in a thread."""
    with ThreadPoolExecutor(1, thread_name_prefix="earlyrisk-baseline") as side:
        baseline_fit = side.submit(
            fit_logistic,
            split.train,
            feature_names=feature_names,
            spec=baseline_spec,
            seed=config.seed,
        )
        fit = fit_lightgbm(
            split.train,
            feature_names=feature_names,
            spec=model_spec,
            seed=config.seed,
            n_threads=n_threads,
        )
        logistic: LogisticRiskModel = baseline_fit.result()
    return fit, logistic


def _calibrate_models(
    config: TrainConfig, split: TemporalSplit, fit: LightGBMFit, logistic: LogisticRiskModel
) -> tuple[dict[str, CalibrationResult], dict[str, Any]]:
    """``calibrate``: each model's calibrator chosen on the calibration slice, side by side."""
    cal_frame = split.calibration
    y_cal = cal_frame["label"].to_numpy(dtype=int)
    raw_scorers: dict[str, Any] = {MAIN: fit.model, LOGISTIC: logistic, RULE: RuleBaseline()}
    top_fraction = config.gates.calibration.top_fraction or config.capacity.k(len(cal_frame)) / len(
        cal_frame
    )
    top_band = (config.gates.calibration.oe.lower, config.gates.calibration.oe.upper)
    with ThreadPoolExecutor(2, thread_name_prefix="earlyrisk-calibrate") as side:
        calibrating = {
            name: side.submit(
                _calibrate,
                name,
                scorer,
                cal_frame,
                y_cal,
                seed=config.seed,
                top_fraction=top_fraction,
                top_band=top_band,
            )
            for name, scorer in raw_scorers.items()
        }
        calibration = {name: future.result() for name, future in calibrating.items()}
    models = {
        name: scorer.with_calibrator(calibration[name].calibrator)
        for name, scorer in raw_scorers.items()
    }
    return calibration, models


def _support_ablation(design: _Design) -> SupportAblationFacts:
    """The model card's "without support inputs" comparison (one more fit)."""
    return fit_support_ablation(
        config=design.config,
        split=design.split,
        fit=design.fit,
        calibration=design.calibration,
        evaluated_model=design.models[MAIN],
    )


def _judge(
    design: _Design,
    stage: _Stages,
    *,
    raw_path: Path | None,
    write_reports: bool,
    compare_champion: bool,
) -> TrainResult:
    """``evaluate``, ``audit``, ``backtest`` and ``refit``, and the gates' decision.

    The backtest's earlier origins and the final refit need only what the held-out design
    chose (hyperparameters, rounds, calibration method), not its evaluation: they run in
    two background threads while the held-out slice is evaluated, audited and gated; the
    ``backtest`` and ``refit`` stages then time the wait for them.
    """
    config, plan = design.config, design.data.plan
    background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="earlyrisk-later-fits")
    try:
        earlier_origins = background.submit(_earlier_origins, design)
        final_refit = background.submit(_final_refit, design) if plan.final is not None else None
        with stage("evaluate"):
            held_out = _evaluate(design, raw_path)
        with stage("audit"):
            audit, fairness_outcomes, fairness_gates = _fairness(
                held_out.test,
                held_out.scored[MAIN].probability,
                design.feature_names,
                k=held_out.k,
                config=config,
            )
        with stage("backtest"):
            if write_reports:  # drawn while the earlier origins are still being fitted
                write_fairness_files(
                    audit, config=config, outcomes=fairness_outcomes, directory=config.report_dir
                )
            backtest, pooled = _backtest(design, held_out, earlier_origins)
        gates = _gates(
            design, held_out, audit, fairness_gates, pooled, compare_champion=compare_champion
        )
        decision = decide(gates, waivers=config.gates.waivers)
        final = None
        if final_refit is not None:
            with stage("refit"):
                final = final_refit.result()
    finally:
        background.shutdown(wait=True, cancel_futures=True)
    return TrainResult(
        config=config,
        split=design.split,
        fit=design.fit,
        models=design.models,
        calibration=design.calibration,
        evaluation=held_out.evaluation,
        decision=decision,
        report=None,
        fingerprints={},
        audit=audit,
        fairness_outcomes=fairness_outcomes,
        alias=decision.alias,
        plan=plan,
        backtest=backtest,
        final=final,
        eligibility=design.counts,
        eligibility_rule=design.rule,
        raw_dir=raw_path,
        protected=tuple(design.data.protected),
        counterfactual=held_out.counterfactual,
        support=design.support,
        support_configured=config.interventions.method,
    )


def _earlier_origins(design: _Design) -> Any:
    """The backtest's earlier origins, fitted with what the held-out design chose."""
    return evaluate_earlier_origins(
        design.eligible,
        design.data.plan.origins[1:],
        chosen=design.fit,
        calibration_method=design.calibration[MAIN].method,
        feature_names=design.feature_names,
        config=design.config,
        main=MAIN,
        rule=RULE,
        n_threads=design.n_threads,
        logistic=(LOGISTIC, design.baseline_spec, design.calibration[LOGISTIC].method),
    )


def _evaluate(design: _Design, raw_path: Path | None) -> _HeldOut:
    """``evaluate``: every model on the test slice, with intervals (families resampled)."""
    config = design.config
    test = design.split.test
    y_test = test["label"].to_numpy(dtype=int)
    scored = {name: score_rows(model, test) for name, model in design.models.items()}
    truth = truth_for(test, read_ground_truth(raw_path))
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
        groups=test["family_id"].to_numpy(),
    )
    counterfactual = None
    if design.data.interventions is not None:
        counterfactual = evaluate_without_support(
            test,
            main_score=scored[MAIN].rank_score,
            others={LOGISTIC: scored[LOGISTIC].rank_score},
            interventions=design.data.interventions,
            config=config,
            feature_names=design.feature_names,
            k=k,
            groups=audit_group_columns(test, config),
            truth=truth,
            main=MAIN,
        )
    return _HeldOut(
        test=test,
        y=y_test,
        scored=scored,
        k=k,
        evaluation=evaluation,
        counterfactual=counterfactual,
    )


def _backtest(
    design: _Design, held_out: _HeldOut, earlier_origins: Future[Any]
) -> tuple[Backtest, PooledDifferences]:
    """``backtest``: the held-out design beside the earlier origins, and the baseline
    differences pooled over every origin's evidence (the margins are judged on them)."""
    config = design.config
    backtest = assemble_backtest(
        design.data.plan.origins[0],
        earlier_origins.result(),
        held_out=held_out.evaluation,
        held_out_rows=(len(design.split.train), len(design.split.calibration)),
        config=config,
        main=MAIN,
        held_out_scores=OriginScores(
            label=held_out.y,
            family_ids=held_out.test["family_id"].to_numpy(),
            k=held_out.k,
            scored=held_out.scored,
        ),
    )
    pooled = pooled_differences(
        [o.scores for o in backtest.origins if o.scores is not None],
        main=MAIN,
        n_bootstrap=config.evaluation.n_bootstrap,
        confidence_level=config.evaluation.confidence_level,
        seed=config.seed,
        n_bins=config.evaluation.n_bins,
    )
    return backtest, pooled


def _gates(
    design: _Design,
    held_out: _HeldOut,
    audit: Any,
    fairness_gates: list[GateResult],
    pooled: PooledDifferences,
    *,
    compare_champion: bool,
) -> list[GateResult]:
    """Every gate of the held-out design, in the report's order: performance (on the
    pooled evidence), calibration, fairness, proxies, and beside the champion (the registry
    holds it: compared on the same test rows) when the run logs to MLflow."""
    config = design.config
    main = held_out.scored[MAIN]
    gates = performance_gates(held_out.evaluation, main=MAIN, config=config.gates, pooled=pooled)
    gates += calibration_gates(
        held_out.y,
        main.probability,
        main.rank_score,
        groups=held_out.test[audit_group_columns(held_out.test, config)],
        k=held_out.k,
        config=config.gates,
        confidence_level=config.evaluation.confidence_level,
    )
    if held_out.counterfactual is not None:  # interventions recorded: no-support figures
        gates += counterfactual_gates(held_out.counterfactual, main=MAIN, config=config.gates)
    gates += fairness_gates
    proxies = audit.proxies if audit is not None else None
    gates += proxy_gates(proxies, protected=design.data.protected, config=config.gates.proxy)
    if compare_champion:
        comparison = compare_with_champion(
            held_out.test,
            main,
            k=held_out.k,
            model_name=config.mlflow.model_name,
            tracking_uri=config.mlflow.tracking_uri,
            n_bootstrap=config.evaluation.n_bootstrap,
            confidence_level=config.evaluation.confidence_level,
            n_bins=config.evaluation.n_bins,
            seed=config.seed,
        )
        gates += champion_gates(comparison, config=config.gates.champion)
    return gates


def _report_and_log(
    result: TrainResult,
    stage: _Stages,
    ablation: Future[SupportAblationFacts] | None,
    *,
    write_reports: bool,
) -> None:
    """``report`` (the fairness report is already written, during the backtest) and
    ``log``: the MLflow run, registration, model card and alias (when ``ablation`` was
    started, i.e. the run logs to MLflow)."""
    config = result.config
    if write_reports:
        with stage("report"):
            result.report = write_report(report_inputs(result), config.report_dir)
    if ablation is not None:
        from training.registry import log_training_run

        with stage("log"):
            result.support_ablation = ablation.result()
            log_training_run(result, input_example=result.split.test)


def _calibrate(
    name: str,
    scorer: Any,
    frame: pd.DataFrame,
    y: np.ndarray,
    *,
    seed: int,
    top_fraction: float,
    top_band: tuple[float, float],
) -> CalibrationResult:
    """Choose the calibrator; a baseline whose margin sigmoid cannot map is isotonic.

    The main model must rank the right way round on the calibration slice (else
    :class:`CalibrationError` stops the job: it is not fit to serve); a baseline only needs a
    calibrated probability to be compared with, and isotonic regression always gives one.
    """
    from training.calibration import CalibrationError

    weight = row_weights(frame)  # support weights: the slice stands for every family
    try:
        return choose_calibration(
            scorer,
            frame,
            y,
            seed=seed,
            top_fraction=top_fraction,
            top_band=top_band,
            sample_weight=weight,
        )
    except CalibrationError:
        if name == MAIN:
            raise
        return choose_calibration(
            scorer,
            frame,
            y,
            seed=seed,
            methods=("isotonic",),
            top_fraction=top_fraction,
            top_band=top_band,
            sample_weight=weight,
        )


def _final_refit(design: _Design) -> FinalRefit:
    """``refit``, the registered model: the chosen hyperparameters on the most recent
    labelled data, recalibrated on the most recent window with the chosen method."""
    config, plan = design.config, design.data.plan
    assert plan.final is not None
    method = design.calibration[MAIN].method
    slices = config.slices
    split = temporal_split(
        design.eligible,
        slices=plan.final,
        horizon_months=config.label.horizon_months,
        family_disjoint=slices.family_disjoint,
        fractions=slices.family_fractions,
        salt=slices.salt,
    )
    model = fit_chosen(
        split.train,
        feature_names=design.feature_names,
        chosen=design.fit,
        n_threads=design.n_threads,
    )
    calibration = split.calibration
    model = recalibrate(model, calibration, method=method)
    return FinalRefit(
        model=model,
        train=split.info[0],
        calibration=split.info[1],
        calibration_method=method,
        calibrated_on=row_keys(calibration),
        # the window is the test date, whose rows are the monitoring reference
        cross_fitted=cross_fitted_probability(model, calibration, method=method),
    )
