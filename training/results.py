"""What one training run produced: the result types, apart from the code that runs it.

:func:`training.pipeline.run_training` fills a :class:`TrainResult`; its readers (the
report, the model card, the MLflow run, the monitoring reference, the CLI summary) take
one. Kept here, below all of them, so none imports the pipeline: the pipeline imports
them, never the other way round (``make lint`` checks that training has no import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.eligibility import EligibilityRule
from training.backtest import Backtest
from training.calibration import CalibrationResult
from training.config import TrainConfig
from training.design import DesignPlan
from training.evaluation import Evaluation
from training.gates import PromotionDecision
from training.model_card import SupportAblationFacts
from training.models import LightGBMFit
from training.risk_model import LightGBMRiskModel
from training.splits import SliceInfo, TemporalSplit

# the three models every run fits and compares, by the names its figures carry
MAIN = "lightgbm"
LOGISTIC = "logistic"
RULE = "wellbeing_index"


@dataclass(frozen=True)
class WrittenReport:
    """Paths of the written report."""

    directory: Path
    markdown: Path
    html: Path
    figures: dict[str, Path]


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
    started_at: float = 0.0  # when the run began (seconds since the epoch): the MLflow start
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
    # the protected attributes of the run's data (the proxy gate covers these audit groups)
    protected: tuple[str, ...] = ()
    # issue 24: the no-support (doubly robust) figures beside the naive ones and how the
    # training rows handled support, when the registry records interventions
    # (training.counterfactual.CounterfactualEvaluation, training.support_training)
    counterfactual: Any = None
    support: Any = None
    support_configured: str = "ipw"

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


def row_keys(frame: pd.DataFrame) -> pd.MultiIndex:
    """The (family_id, as_of) of each row, as the reference guard compares them."""
    return pd.MultiIndex.from_arrays(
        [frame["family_id"].astype(str), pd.to_datetime(frame["as_of"])],
        names=["family_id", "as_of"],
    )
