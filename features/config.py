"""Configuration of the feature pipeline: the label and the well-being index thresholds.

Everything a data scientist may want to change without touching code lives here, in
pydantic models with ``extra="forbid"`` so a misspelt key in a YAML file is an error and
not a silently ignored option. The defaults reproduce the contract's default label.
"""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features.catalogue import model_input_columns
from features.contract import DEFAULT_HORIZON_MONTHS, DEFAULT_LABEL_OUTCOMES, DOMAINS, OUTCOME_TYPES

Comparison = Literal[">", ">=", "<", "<="]


class Condition(BaseModel):
    """One deprivation criterion: ``indicator <op> threshold`` on a model-input column.

    A missing indicator (NaN: nothing recorded in the window) never meets a criterion,
    so a family is not called deprived on the strength of missing data.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    indicator: str
    op: Comparison
    threshold: float


def _c(indicator: str, op: Comparison, threshold: float) -> Condition:
    return Condition(indicator=indicator, op=op, threshold=threshold)


def _equal_weights() -> dict[str, float]:
    weights: dict[str, float] = {}
    for domain in DOMAINS:
        weights[domain] = 1.0 / len(DOMAINS)
    return weights


def _default_criteria() -> dict[str, tuple[Condition, ...]]:
    return {
        "economic": (
            _c("econ_income_per_member_monthly", "<", 45_000.0),
            _c("econ_tsa_payments_365d", ">=", 1.0),
            _c("econ_utility_debt_last", ">=", 100_000.0),
        ),
        "social": (
            _c("soc_dv_reports_3y", ">=", 1.0),
            _c("soc_police_offenses_365d", ">=", 1.0),
            _c("soc_juvenile_offenders_365d", ">=", 1.0),
        ),
        "housing": (
            _c("hou_persons_per_room_last", ">=", 3.0),
            _c("hou_inspections_failed_3y", ">=", 1.0),
            _c("hou_eviction_notices_365d", ">=", 1.0),
            _c("hou_homelessness_episodes_3y", ">=", 1.0),
        ),
        "health": (
            _c("hea_children_missed_vaccination_365d", ">=", 1.0),
            _c("hea_substance_treatment_members_365d", ">=", 1.0),
            _c("hea_children_injury_visits_365d", ">=", 2.0),
        ),
        "education": (
            _c("edu_school_absence_days_90d", ">=", 10.0),
            _c("edu_school_dropouts_3y", ">=", 1.0),
            _c("edu_preschool_not_enrolled_365d", ">=", 1.0),
        ),
    }


class WellbeingConfig(BaseModel):
    """Thresholds of the Alkire-Foster style well-being index.

    A domain is deprived when ANY of its criteria holds. The score is the weighted share
    of deprived domains (0 = no deprivation, 1 = deprived in every domain). The level is
    A for a score below ``level_cutoffs[0]``, B below ``[1]``, C below ``[2]``, D below
    ``[3]`` and E (emergency) from ``[3]`` on. With equal weights and the default cutoffs:
    no deprived domain = A, one = B, two = C, three = D, four or five = E.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    criteria: dict[str, tuple[Condition, ...]] = Field(default_factory=_default_criteria)
    weights: dict[str, float] = Field(default_factory=_equal_weights)
    level_cutoffs: tuple[float, float, float, float] = (0.2, 0.4, 0.6, 0.8)

    @field_validator("criteria", "weights")
    @classmethod
    def _five_domains(cls, value: dict) -> dict:
        if set(value) != set(DOMAINS):
            raise ValueError(f"needs exactly the five domains {list(DOMAINS)}, got {sorted(value)}")
        return value

    @field_validator("weights")
    @classmethod
    def _weights_sum_to_one(cls, value: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in value.values()):
            raise ValueError(f"weights must be >= 0, got {value}")
        total = sum(value.values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"weights must sum to 1, they sum to {total:.6f}: {value}")
        return value

    @field_validator("level_cutoffs")
    @classmethod
    def _increasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        bounds = (0.0, *value)
        if not all(a < b for a, b in itertools.pairwise(bounds)) or value[-1] > 1:
            raise ValueError(f"level_cutoffs must increase strictly within (0, 1], got {value}")
        return value


class FeatureConfig(BaseModel):
    """Configuration of one feature build: the label definition and the well-being index.

    ``extraction_date`` overrides the date up to which the data is taken to be complete
    (by default the latest ``recorded_date`` in the events and outcomes); it decides
    ``label_observed``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    label_outcome_types: tuple[str, ...] = DEFAULT_LABEL_OUTCOMES
    horizon_months: int = Field(default=DEFAULT_HORIZON_MONTHS, ge=1, le=36)
    extraction_date: date | None = None
    wellbeing: WellbeingConfig = Field(default_factory=WellbeingConfig)

    @field_validator("label_outcome_types")
    @classmethod
    def _known_outcomes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(OUTCOME_TYPES))
        if not value or unknown:
            raise ValueError(
                f"label_outcome_types must be a non-empty subset of {list(OUTCOME_TYPES)}; "
                f"unknown: {unknown}"
            )
        return value

    @model_validator(mode="after")
    def _criteria_name_model_inputs(self) -> FeatureConfig:
        known = set(model_input_columns())
        for domain, conditions in self.wellbeing.criteria.items():
            for condition in conditions:
                if condition.indicator not in known:
                    raise ValueError(
                        f"wellbeing criterion of domain {domain!r} names indicator "
                        f"{condition.indicator!r}, which is not a model input column"
                    )
        return self

    @classmethod
    def from_yaml(cls, path: Path | str) -> FeatureConfig:
        """Load a config from YAML; an empty file gives the defaults."""
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return cls.model_validate(data)
