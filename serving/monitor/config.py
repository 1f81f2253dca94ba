"""Thresholds of ``earlyrisk monitor``: one pydantic object, every number documented.

The defaults are those of ``docs/monitoring.md``; a YAML file passed with ``--config``
overrides any of them (unknown keys are an error).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

# which map of the served probability the label-free estimate trusts (defined here, not in
# serving.monitor.recalibration, so that reading a config imports no scikit-learn)
RecalibrationRule = Literal["ece_check", "isotonic", "logistic", "auc_check", "beta", "blend"]


class MonitorConfig(BaseModel):
    """What counts as a change worth an alert."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    false_alarm_rate: float = Field(
        default=0.01,
        gt=0,
        lt=0.5,
        description="per-indicator chance that sampling noise alone flags an unchanged input",
    )
    min_psi: float = Field(
        default=0.1,
        ge=0,
        description="smallest population stability index that counts as drift, however many "
        "rows (a practically negligible shift on a million families is still significant)",
    )
    multivariate_min_relative_change: float = Field(
        default=0.1,
        ge=0,
        description="smallest relative change of the mean PCA reconstruction error that counts",
    )
    auc_drop: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="alert when the estimated or realized ROC AUC falls this far below the "
        "reference's realized AUC",
    )
    positive_rate_relative_change: float = Field(
        default=0.2,
        gt=0,
        description="alert when the realized positive rate differs from the estimate by this "
        "share and lies outside the estimate's interval (a change in what is recorded)",
    )
    fairness_ratio_bounds: tuple[float, float] = Field(
        default=(0.8, 1.25),
        description="alert when a group's selection-rate ratio to its reference group changes "
        "by a factor outside these bounds between the first and the last date (intervals "
        "apart)",
    )
    min_selected_for_change: int = Field(
        default=10,
        ge=1,
        description="a group needs this many selected families at both dates before a change "
        "of its selection-rate ratio can alert (a near-empty cell is no evidence)",
    )
    max_disagreement_rate: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="alert when caseworkers disagree with the algorithm-alone selection more often",
    )
    min_decisions: int = Field(
        default=30, ge=1, description="fewer decisions than this are reported, never alerted on"
    )
    history_months: int = Field(
        default=24,
        ge=0,
        le=120,
        description="quarter ends this far back are re-estimated and, once their labels are "
        "in, realized",
    )
    seasonal_reference: bool = Field(
        default=True,
        description="compare the inputs and the score with the same quarter of the training "
        "period (serving.monitor.seasonal) instead of the stored reference's date",
    )
    recalibration: RecalibrationRule = Field(
        default="logistic",
        description="which map of the served probability the label-free estimate trusts, "
        "fitted on the reference's labelled year (serving.monitor.recalibration): ece_check, "
        "isotonic, logistic, auc_check, beta or blend",
    )
    calibration_boot: int = Field(
        default=40,
        ge=0,
        description="bootstrap refits of that map whose spread widens the ROC AUC interval "
        "(0 or 1: not widened)",
    )
    n_boot: int = Field(default=200, ge=0, description="bootstrap resamples of the fairness audit")
    min_group_size: int = Field(default=11, ge=1, description="smaller groups are suppressed")
    confidence_level: float = Field(default=0.95, gt=0.5, lt=1)
    seed: int = 0

    @classmethod
    def from_yaml(cls, path: Path | str) -> MonitorConfig:
        """Load a config from YAML; an empty file gives the defaults."""
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return cls.model_validate(data)
