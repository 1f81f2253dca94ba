"""The training job as one function: raw data in, a registered, evaluated, gated model out.

Stages (each timed, each reported to an optional progress callback):

``load``       read and parse the raw registry; its contract rules are checked in a forked
               process meanwhile (:mod:`features.validation.background`);
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

This module only orchestrates: the fairness adapter is :mod:`training.fairness`, the report
inputs :mod:`training.report`, the model-card facts :mod:`training.model_card`, and every
MLflow call goes through :mod:`training.registry`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.eligibility import EligibilityRule
from features.errors import EarlyriskError
from features.snapshot_store import META_FEATURE_LIST, META_RAW
from training.backtest import Backtest, assemble_backtest, evaluate_earlier_origins
from training.calibration import CalibrationResult, choose_calibration
from training.caseworker_facts import fit_support_ablation
from training.champion import champion_gates, compare_with_champion
from training.config import LightGBMSpec, LogisticSpec, TrainConfig
from training.design import (
    DesignPlan,
    derive_design,
    design_from_table,
    longest_indicator_window_days,
)
from training.evaluation import Evaluation, evaluate
from training.fairness import _fairness, audit_group_columns, write_fairness_files
from training.gates import (
    PromotionDecision,
    calibration_gates,
    decide,
    performance_gates,
    proxy_gates,
)
from training.model_card import SupportAblationFacts
from training.models import (
    LightGBMFit,
    RuleBaseline,
    check_model_inputs,
    fit_lightgbm,
    fit_logistic,
    score_rows,
)
from training.pooled_evidence import OriginScores, pooled_differences
from training.refit import cross_fitted_probability, fit_chosen, recalibrate
from training.report import WrittenReport, report_inputs, write_report
from training.risk_model import LightGBMRiskModel, LogisticRiskModel
from training.splits import SliceInfo, TemporalSplit, temporal_split

MAIN = "lightgbm"
LOGISTIC = "logistic"
RULE = "wellbeing_index"
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


class TrainingError(EarlyriskError, ValueError):
    """The job cannot run on this data or configuration (the message says what to change)."""


StageCallback = Callable[[str, str], None]
"""Called as ``callback(stage, "start" | "done")``."""


@dataclass(frozen=True)
class FinalRefit:
    """The registered model's own fit: which data it saw, and the model."""

    model: LightGBMRiskModel
    train: SliceInfo
    calibration: SliceInfo
    calibration_method: str
    # (family_id, as_of) of every row the calibrator was fitted on
    calibrated_on: pd.MultiIndex | None = None
    # out-of-fold calibrated probabilities of those rows, in their order (each from a
    # calibrator fitted on the other families), for the monitoring reference's checks
    cross_fitted: np.ndarray | None = None


@dataclass
class TrainResult:
    """Everything one training run produced, for the CLI summary, notebooks and tests."""

    config: TrainConfig
    split: TemporalSplit
    fit: LightGBMFit
    models: dict[str, Any]  # name -> calibrated scorer evaluated on the held-out design
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
    plan: DesignPlan | None = None
    backtest: Backtest | None = None
    final: FinalRefit | None = None
    eligibility: pd.DataFrame | None = None  # per as-of date: families, eligible, ineligible
    eligibility_rule: EligibilityRule = field(default_factory=EligibilityRule)
    raw_dir: Path | None = None
    # the model card's "without support inputs" comparison, when the run computed it
    # (see :func:`training.caseworker_facts.support_ablation`)
    support_ablation: SupportAblationFacts | None = None

    @property
    def evaluated_model(self) -> LightGBMRiskModel:
        """The model of the held-out design (the one the figures describe)."""
        return self.models[MAIN]

    @property
    def risk_model(self) -> LightGBMRiskModel:
        """The model that is registered: the final refit, or the evaluated model without one."""
        return self.final.model if self.final is not None else self.models[MAIN]

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
    raw: Any,
    config: TrainConfig,
    dates: list[dt.date] | None = None,
    *,
    n_jobs: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Feature snapshots at ``dates`` (default: the configured slices' dates)."""
    from features.engine import build_feature_table

    wanted = dates if dates is not None else config.slices.all_dates()
    return build_feature_table(
        raw, wanted, config=feature_config_of(config), n_jobs=n_jobs, progress=progress
    )


def feature_config_of(config: TrainConfig) -> FeatureConfig:
    """The feature configuration of a training run (recorded on the registered model)."""
    return FeatureConfig(
        label_outcome_types=config.label.outcome_types,
        horizon_months=config.label.horizon_months,
        extraction_date=config.label.extraction_date,
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


def data_span(raw: Any, config: TrainConfig) -> tuple[dt.date, dt.date]:
    """(data start, extraction date) of a raw registry: earliest event, latest record."""
    from features.labels import extraction_date_of

    starts = [raw.events["event_date"].min(), raw.outcomes["outcome_date"].min()]
    starts = [s for s in starts if not pd.isna(s)]
    if not starts:
        raise TrainingError("the registry holds no events and no outcomes: nothing to learn from")
    extraction = (
        pd.Timestamp(config.label.extraction_date)
        if config.label.extraction_date is not None
        else extraction_date_of(raw.events, raw.outcomes)
    )
    return pd.Timestamp(min(starts)).date(), pd.Timestamp(extraction).date()


def eligibility_counts(table: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """Families per as-of date, and how many the eligibility rule keeps."""
    frame = pd.DataFrame({"as_of": pd.to_datetime(table["as_of"]).dt.date, "eligible": mask})
    out = frame.groupby("as_of")["eligible"].agg(families="size", eligible="sum")
    out["ineligible"] = out["families"] - out["eligible"]
    return out.reset_index()


def plan_design(config: TrainConfig, *, raw: Any | None, table: pd.DataFrame | None) -> DesignPlan:
    from training.design import DesignError

    try:
        if raw is not None:
            start, extraction = data_span(raw, config)
            return derive_design(
                extraction_date=extraction,
                data_start=start,
                horizon_months=config.label.horizon_months,
                longest_window_days=longest_indicator_window_days(),
                slices=config.slices,
                backtest_origins=config.backtest.origins,
                final_refit=config.final_refit,
            )
        assert table is not None
        as_of = pd.to_datetime(table["as_of"]).dt.date
        observed = table["label_observed"].astype(bool).groupby(as_of.to_numpy()).all()
        return design_from_table(
            {d: bool(v) for d, v in observed.items()},
            horizon_months=config.label.horizon_months,
            slices=config.slices,
            backtest_origins=config.backtest.origins,
            final_refit=config.final_refit,
        )
    except DesignError as exc:
        raise TrainingError(str(exc)) from exc


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
    from training.splits import check_label_windows

    if n_threads is None:
        n_threads = config.lightgbm_threads
    if config.slices.has_dates:
        # refuse a look-ahead configuration before any data is read
        check_label_windows(config.slices, horizon_months=config.label.horizon_months)
    # and a model spec of the wrong kind
    model_spec, baseline_spec = config.load_model_spec("model"), config.load_model_spec("baseline")
    if not isinstance(model_spec, LightGBMSpec) or not isinstance(baseline_spec, LogisticSpec):
        raise TrainingError(
            f"the model spec ({config.model_spec}) must be a lightgbm spec and the baseline "
            f"spec ({config.baseline_spec}) a logistic one; got {model_spec.kind} and "
            f"{baseline_spec.kind}"
        )
    stage = _Stages(on_stage)
    raw_path = Path(raw_dir) if raw_dir is not None else config.raw_dir
    fingerprints: dict[str, str] = {"config_sha256": config_fingerprint(config)}

    if feature_table is None:
        if raw_path is None:
            raise TrainingError("no raw data: pass raw_dir (earlyrisk train --raw DIR)")
        with stage("load"):
            from features.validation.background import load_checking_in_background

            raw, checks = load_checking_in_background(raw_path)
            protected = sorted(raw.protected["attribute"].dropna().unique())
        try:
            with stage("design"):
                plan = plan_design(config, raw=raw, table=None)
            with stage("features"):
                table = build_snapshots(
                    raw, config, plan.all_dates(), n_jobs=n_jobs, progress=feature_progress
                )
                checks.result()  # broken data is refused here, before anything is fitted
        except Exception:
            checks.result()  # a broken rule explains a failure better than its symptom
            raise
        except BaseException:
            checks.cancel()
            raise
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
        with stage("design"):
            plan = plan_design(config, raw=None, table=table)
    fingerprints["raw_sha256"] = str(table.attrs.get(META_RAW, "unknown"))
    from features.catalogue import feature_list_fingerprint, model_input_columns

    feature_names = check_model_inputs(model_input_columns(), protected=protected)
    fingerprints["feature_list_sha256"] = feature_list_fingerprint()
    table_features = table.attrs.get(META_FEATURE_LIST)
    if table_features and table_features != fingerprints["feature_list_sha256"]:
        raise TrainingError(
            f"the feature table was built with feature list {table_features[:12]}..., this code "
            f"has {fingerprints['feature_list_sha256'][:12]}...; rebuild the snapshots"
        )

    with stage("split"):
        rule = config.eligibility
        try:
            mask = rule.mask(table)
        except KeyError as exc:
            raise TrainingError(str(exc.args[0])) from exc
        counts = eligibility_counts(table, mask)
        scored_table = table.loc[mask].reset_index(drop=True)
        slices = config.slices
        split = temporal_split(
            scored_table,
            slices=plan.evaluation,
            horizon_months=config.label.horizon_months,
            family_disjoint=slices.family_disjoint,
            fractions=slices.family_fractions,
            salt=slices.salt,
        )

    # Fits and calibrations that need nothing from one another run in threads side by side
    # (LightGBM, numpy and scipy release the GIL); each is seeded, so none depends on that.
    with stage("fit"), ThreadPoolExecutor(1, thread_name_prefix="earlyrisk-baseline") as side:
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

    with stage("calibrate"):
        cal_frame = split.calibration
        y_cal = cal_frame["label"].to_numpy(dtype=int)
        raw_scorers: dict[str, Any] = {MAIN: fit.model, LOGISTIC: logistic, RULE: RuleBaseline()}
        with ThreadPoolExecutor(2, thread_name_prefix="earlyrisk-calibrate") as side:
            calibrating = {
                name: side.submit(
                    _calibrate,
                    name,
                    scorer,
                    cal_frame,
                    y_cal,
                    seed=config.seed,
                    top_fraction=config.gates.calibration.top_fraction
                    or config.capacity.k(len(cal_frame)) / len(cal_frame),
                    top_band=(
                        config.gates.calibration.oe.lower,
                        config.gates.calibration.oe.upper,
                    ),
                )
                for name, scorer in raw_scorers.items()
            }
            calibration = {name: future.result() for name, future in calibrating.items()}
        models = {
            name: scorer.with_calibrator(calibration[name].calibrator)
            for name, scorer in raw_scorers.items()
        }

    # The backtest's earlier origins and the final refit need only what the held-out design
    # chose (hyperparameters, rounds, calibration method), not its evaluation: they run in
    # two background threads while the held-out slice is evaluated, audited and gated.
    # LightGBM, numpy and scikit-learn release the GIL, so the second core is used; each
    # computation is seeded and independent, so no result depends on the overlap. The
    # ``backtest`` and ``refit`` stages then time the wait for them. The model card's
    # support comparison (one more fit) runs in a second background thread, beside the
    # reports, which hold the GIL drawing figures.
    background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="earlyrisk-later-fits")
    card_facts = ThreadPoolExecutor(max_workers=1, thread_name_prefix="earlyrisk-card-facts")
    try:
        ablation = (
            card_facts.submit(
                fit_support_ablation,
                config=config,
                split=split,
                fit=fit,
                calibration=calibration,
                evaluated_model=models[MAIN],
            )
            if log_to_mlflow
            else None
        )
        earlier_origins = background.submit(
            evaluate_earlier_origins,
            scored_table,
            plan.origins[1:],
            chosen=fit,
            calibration_method=calibration[MAIN].method,
            feature_names=feature_names,
            config=config,
            main=MAIN,
            rule=RULE,
            n_threads=n_threads,
            logistic=(LOGISTIC, baseline_spec, calibration[LOGISTIC].method),
        )
        final_refit = (
            background.submit(
                _final_refit,
                scored_table,
                plan,
                config=config,
                fit=fit,
                method=calibration[MAIN].method,
                feature_names=feature_names,
                n_threads=n_threads,
            )
            if plan.final is not None
            else None
        )
        with stage("evaluate"):
            test = split.test
            y_test = test["label"].to_numpy(dtype=int)
            scored = {name: score_rows(model, test) for name, model in models.items()}
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
                groups=test["family_id"].to_numpy(),
            )

        with stage("audit"):
            audit_result, fairness_outcomes, fairness_gates = _fairness(
                test, scored[MAIN].probability, feature_names, k=k, config=config
            )

        with stage("backtest"):
            if write_reports:  # drawn while the earlier origins are still being fitted
                write_fairness_files(
                    audit_result,
                    config=config,
                    outcomes=fairness_outcomes,
                    directory=config.report_dir,
                )
            backtest = assemble_backtest(
                plan.origins[0],
                earlier_origins.result(),
                held_out=evaluation,
                held_out_rows=(len(split.train), len(split.calibration)),
                config=config,
                main=MAIN,
                held_out_scores=OriginScores(
                    label=y_test, family_ids=test["family_id"].to_numpy(), k=k, scored=scored
                ),
            )
            # the baseline margins are judged on every origin's evidence (same bounds)
            pooled = pooled_differences(
                [o.scores for o in backtest.origins if o.scores is not None],
                main=MAIN,
                n_bootstrap=config.evaluation.n_bootstrap,
                confidence_level=config.evaluation.confidence_level,
                seed=config.seed,
                n_bins=config.evaluation.n_bins,
            )

        gates = performance_gates(evaluation, main=MAIN, config=config.gates, pooled=pooled)
        gates += calibration_gates(
            y_test,
            scored[MAIN].probability,
            scored[MAIN].rank_score,
            groups=test[audit_group_columns(test, config)],
            k=k,
            config=config.gates,
            confidence_level=config.evaluation.confidence_level,
        )
        gates += fairness_gates
        proxies = audit_result.proxies if audit_result is not None else None
        gates += proxy_gates(proxies, protected=protected, config=config.gates.proxy)
        if log_to_mlflow:  # the registry holds the champion: compare on the same test rows
            comparison = compare_with_champion(
                test,
                scored[MAIN],
                k=k,
                model_name=config.mlflow.model_name,
                tracking_uri=config.mlflow.tracking_uri,
                n_bootstrap=config.evaluation.n_bootstrap,
                confidence_level=config.evaluation.confidence_level,
                n_bins=config.evaluation.n_bins,
                seed=config.seed,
            )
            gates += champion_gates(comparison, config=config.gates.champion)
        decision = decide(gates, waivers=config.gates.waivers)

        final = None
        if final_refit is not None:
            with stage("refit"):
                final = final_refit.result()
    except BaseException:
        card_facts.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        background.shutdown(wait=True, cancel_futures=True)

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
        plan=plan,
        backtest=backtest,
        final=final,
        eligibility=counts,
        eligibility_rule=rule,
        raw_dir=raw_path,
    )

    try:
        if write_reports:  # the fairness report is already written (during the backtest)
            with stage("report"):
                result.report = write_report(report_inputs(result), config.report_dir)

        if log_to_mlflow:
            from training.registry import log_training_run

            with stage("log"):
                if ablation is not None:
                    result.support_ablation = ablation.result()
                log_training_run(result, input_example=test)
    finally:
        card_facts.shutdown(wait=True, cancel_futures=True)
    result.timings = dict(stage.timings)
    return result


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

    try:
        return choose_calibration(
            scorer, frame, y, seed=seed, top_fraction=top_fraction, top_band=top_band
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
        )


def row_keys(frame: pd.DataFrame) -> pd.MultiIndex:
    """The (family_id, as_of) of each row, as the reference guard compares them."""
    return pd.MultiIndex.from_arrays(
        [frame["family_id"].astype(str), pd.to_datetime(frame["as_of"])],
        names=["family_id", "as_of"],
    )


def _final_refit(
    table: pd.DataFrame,
    plan: DesignPlan,
    *,
    config: TrainConfig,
    fit: LightGBMFit,
    method: str,
    feature_names: list[str],
    n_threads: int,
) -> FinalRefit:
    """The registered model: chosen hyperparameters, the most recent labelled data."""
    assert plan.final is not None
    slices = config.slices
    split = temporal_split(
        table,
        slices=plan.final,
        horizon_months=config.label.horizon_months,
        family_disjoint=slices.family_disjoint,
        fractions=slices.family_fractions,
        salt=slices.salt,
    )
    model = fit_chosen(split.train, feature_names=feature_names, chosen=fit, n_threads=n_threads)
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
