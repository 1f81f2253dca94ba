"""The training run's side of interventions: adjusted training rows, no-support figures, gates.

Three things the pipeline (:mod:`training.pipeline`) asks of a registry with an
``interventions`` table, each a function here so the pipeline only wires them:

* :func:`adjust_for_support`: the eligible rows the configured method keeps for training and
  calibration, with their ``support_weight`` (:mod:`training.support`); the test slice is
  never adjusted, because it is evaluated both ways;
* :func:`evaluate_without_support`: the model's naive and doubly robust figures on the test
  slice, its baselines' paired differences, the positivity check
  (:mod:`training.counterfactual`);
* :func:`counterfactual_gates`: the gates judged on the no-support figures when
  interventions exist (the naive gates stay beside them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.config import GatesConfig, TrainConfig
from training.counterfactual import (
    CounterfactualEvaluation,
    cross_fit_propensity,
    evaluate_counterfactual,
    family_folds,
)
from training.gates import GateResult, _lower_bound_gate
from training.models import SUPPORT_WEIGHT
from training.positivity import PositivityCheck, check_positivity
from training.support import (
    Exposure,
    TrainingRows,
    support_exposure,
    training_rows,
)


@dataclass(frozen=True)
class SupportAdjustment:
    """What the configured method did to the eligible rows, for the report and the card."""

    method: str
    rows: TrainingRows
    frame: pd.DataFrame  # the kept eligible rows, with SUPPORT_WEIGHT
    positivity: PositivityCheck | None  # of the training propensities (ipw only)

    def describe(self) -> str:
        """The model card's and the report's sentence about the method."""
        line = self.rows.describe()
        if self.positivity is not None:
            line += f"; {self.positivity.describe()}"
        return line


def features_matrix(frame: pd.DataFrame, feature_names: Sequence[str]) -> np.ndarray:
    """The indicators as floats (missing stays NaN: the nuisance models handle it)."""
    return frame.loc[:, list(feature_names)].to_numpy(dtype="float64", na_value=np.nan)


def exposure_of(frame: pd.DataFrame, interventions: pd.DataFrame, config: TrainConfig) -> Exposure:
    """Support, decisions and the hold-out in each row's label window."""
    return support_exposure(
        frame,
        interventions,
        horizon_months=config.label.horizon_months,
        support_months=config.interventions.support_months,
    )


def treated_rows(
    frame: pd.DataFrame, interventions: pd.DataFrame, config: TrainConfig
) -> np.ndarray:
    """Whether accepted support overlapped each row's label window."""
    return exposure_of(frame, interventions, config).treated


def nuisance_matrix(
    frame: pd.DataFrame, feature_names: Sequence[str], exposure: Exposure
) -> np.ndarray:
    """The nuisance models' inputs: the indicators and the number of decisions taken on the
    family in the window (given it, support is decided by chance: hold-out, caseworker,
    answer; see :mod:`training.support`). Never an input of the risk model."""
    return np.column_stack([features_matrix(frame, feature_names), exposure.decisions])


def adjust_for_support(
    eligible: pd.DataFrame,
    interventions: pd.DataFrame,
    *,
    config: TrainConfig,
    feature_names: Sequence[str],
) -> SupportAdjustment:
    """The eligible rows the configured method keeps, weighted (see the module)."""
    settings = config.interventions
    exposure = exposure_of(eligible, interventions, config)
    propensity = positivity = None
    if settings.method == "ipw":
        propensity = cross_fit_propensity(
            nuisance_matrix(eligible, feature_names, exposure),
            exposure.treated,
            family_folds(eligible["family_id"], settings.n_folds),
            seed=config.seed,
        )
        positivity = check_positivity(
            propensity,
            exposure.treated,
            epsilon=settings.positivity_epsilon,
            max_share=settings.positivity_max_share,
        )
    rows = training_rows(
        exposure, settings.method, propensity=propensity, max_weight=settings.max_weight
    )
    frame = eligible.loc[rows.keep].reset_index(drop=True)
    frame[SUPPORT_WEIGHT] = rows.weight
    return SupportAdjustment(method=settings.method, rows=rows, frame=frame, positivity=positivity)


def interventions_fingerprint(interventions: pd.DataFrame) -> str:
    """SHA-256 of the interventions table (rows sorted by id): the run records it beside
    the raw data's, since the table changes which rows training keeps and how it weighs
    them."""
    import hashlib

    ordered = interventions.sort_values("intervention_id").reset_index(drop=True)
    text = ordered.to_csv(index=False, date_format="%Y-%m-%d")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def evaluate_without_support(
    test: pd.DataFrame,
    *,
    main_score: np.ndarray,
    others: Mapping[str, np.ndarray],
    interventions: pd.DataFrame,
    config: TrainConfig,
    feature_names: Sequence[str],
    k: int,
    groups: Sequence[str],
    truth: np.ndarray | None,
    main: str,
) -> CounterfactualEvaluation:
    """Naive beside doubly robust figures of the test slice (see the module)."""
    settings = config.interventions
    exposure = exposure_of(test, interventions, config)
    return evaluate_counterfactual(
        score=main_score,
        y=test["label"].to_numpy(dtype=int),
        treated=exposure.treated,
        X=nuisance_matrix(test, feature_names, exposure),
        family_ids=test["family_id"],
        k=k,
        groups={column: test[column].to_numpy() for column in groups},
        n_bootstrap=config.evaluation.n_bootstrap,
        confidence_level=config.evaluation.confidence_level,
        n_folds=settings.n_folds,
        seed=config.seed,
        epsilon=settings.positivity_epsilon,
        max_share=settings.positivity_max_share,
        truth_probability=truth,
        main=main,
        others=others,
    )


def counterfactual_gates(
    evaluation: CounterfactualEvaluation, *, main: str, config: GatesConfig
) -> list[GateResult]:
    """The positivity check and the baseline margins judged on the no-support figures."""
    check = evaluation.positivity
    gates = [
        GateResult.of(
            "positivity",
            check.status,
            value=check.share_near_one,
            threshold=check.max_share,
            detail=check.describe(),
        )
    ]
    for key, diff in evaluation.differences.get("roc_auc", {}).items():
        baseline = key.split(" - ", 1)[1]
        gates.append(
            _lower_bound_gate(
                f"counterfactual_auc_margin_over_{baseline}",
                diff,
                threshold=config.min_auc_margin,
                what=f"doubly robust (no-support) test ROC AUC {main} minus {baseline}",
            )
        )
    for key, diff in evaluation.differences.get("recall_at_k", {}).items():
        baseline = key.split(" - ", 1)[1]
        gates.append(
            _lower_bound_gate(
                f"counterfactual_recall_at_k_vs_{baseline}",
                diff,
                threshold=-config.capacity_margin,
                what=f"doubly robust (no-support) recall at capacity {main} minus {baseline}",
            )
        )
    return gates
