"""The well-being index: flags per domain, Alkire-Foster score, levels A..E, config rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.catalogue import model_input_columns
from features.config import Condition, FeatureConfig, WellbeingConfig
from features.contract import DOMAINS
from features.wellbeing import deprivation_flags, wellbeing_index

DEFAULT = WellbeingConfig()


def indicators(**columns: list[float]) -> pd.DataFrame:
    """A frame of model inputs, all 0 except the columns given."""
    n = len(next(iter(columns.values())))
    frame = pd.DataFrame(0.0, index=range(n), columns=model_input_columns())
    frame["econ_income_per_member_monthly"] = 100_000.0  # comfortably above the line
    for name, values in columns.items():
        frame[name] = values
    return frame


def test_each_domain_flag_reacts_to_its_own_criterion_only() -> None:
    cases = {
        "economic": {"econ_tsa_payments_365d": [2.0]},
        "social": {"soc_dv_reports_3y": [1.0]},
        "housing": {"hou_persons_per_room_last": [3.5]},
        "health": {"hea_children_missed_vaccination_365d": [1.0]},
        "education": {"edu_school_absence_days_90d": [12.0]},
    }
    for domain, columns in cases.items():
        flags = deprivation_flags(indicators(**columns), config=DEFAULT).iloc[0]
        assert flags[f"deprived_{domain}"], domain
        assert flags.sum() == 1, (domain, flags[flags].index.tolist())


def test_thresholds_are_inclusive_as_configured() -> None:
    frame = indicators(
        edu_school_absence_days_90d=[9.0, 10.0], econ_income_per_member_monthly=[45_000.0, 44_999.0]
    )
    flags = deprivation_flags(frame, config=DEFAULT)
    assert flags["deprived_education"].tolist() == [False, True]  # ">= 10"
    assert flags["deprived_economic"].tolist() == [False, True]  # "< 45000"


def test_missing_indicator_never_deprives() -> None:
    frame = indicators(econ_income_per_member_monthly=[np.nan], hou_persons_per_room_last=[np.nan])
    flags = deprivation_flags(frame, config=DEFAULT).iloc[0]
    assert not flags.any()


def test_score_and_level_count_deprived_domains_with_equal_weights() -> None:
    frame = indicators(
        econ_tsa_payments_365d=[0, 1, 1, 1, 1, 1],
        soc_dv_reports_3y=[0, 0, 1, 1, 1, 1],
        hou_eviction_notices_365d=[0, 0, 0, 1, 1, 1],
        hea_substance_treatment_members_365d=[0, 0, 0, 0, 1, 1],
        edu_school_dropouts_3y=[0, 0, 0, 0, 0, 1],
    )
    result = wellbeing_index(frame, config=DEFAULT)
    assert result["wellbeing_score"].tolist() == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert result["wellbeing_level"].tolist() == ["A", "B", "C", "D", "E", "E"]
    assert result.columns.tolist() == [
        "wellbeing_score",
        "wellbeing_level",
        *(f"deprived_{d}" for d in DOMAINS),
    ]


def test_weights_and_cutoffs_come_from_configuration() -> None:
    config = WellbeingConfig(
        weights={"economic": 0.6, "social": 0.1, "housing": 0.1, "health": 0.1, "education": 0.1},
        level_cutoffs=(0.05, 0.5, 0.7, 0.9),
    )
    frame = indicators(econ_tsa_payments_365d=[1.0, 0.0], soc_dv_reports_3y=[0.0, 1.0])
    result = wellbeing_index(frame, config=config)
    assert result["wellbeing_score"].tolist() == pytest.approx([0.6, 0.1])
    assert result["wellbeing_level"].tolist() == ["C", "B"]


def test_custom_criteria() -> None:
    criteria = {d: () for d in DOMAINS} | {
        "housing": (Condition(indicator="hh_members", op=">", threshold=8),)
    }
    config = WellbeingConfig(criteria=criteria)
    flags = deprivation_flags(indicators(hh_members=[8.0, 9.0]), config=config)
    assert flags["deprived_housing"].tolist() == [False, True]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": dict.fromkeys(DOMAINS, 0.3)}, "must sum to 1, they sum to 1.500000"),
        ({"weights": {"economic": 1.0}}, "exactly the five domains"),
        ({"level_cutoffs": (0.2, 0.2, 0.6, 0.8)}, "increase strictly"),
        ({"level_cutoffs": (0.2, 0.4, 0.6, 1.2)}, "increase strictly"),
        ({"thresholds": {}}, "Extra inputs are not permitted"),
    ],
)
def test_bad_wellbeing_config_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WellbeingConfig(**kwargs)


def test_feature_config_checks_criteria_name_model_inputs_and_label_types() -> None:
    criteria = {d: () for d in DOMAINS} | {
        "social": (Condition(indicator="audit_head_sex", op=">", threshold=0),)
    }
    with pytest.raises(ValidationError, match="'audit_head_sex', which is not a model input"):
        FeatureConfig(wellbeing=WellbeingConfig(criteria=criteria))
    with pytest.raises(ValidationError, match="unknown: \\['placement'\\]"):
        FeatureConfig(label_outcome_types=("placement",))
    with pytest.raises(ValidationError, match="less than or equal to 36"):
        FeatureConfig(horizon_months=48)


def test_feature_config_from_yaml(tmp_path) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(
        "horizon_months: 6\nlabel_outcome_types: [child_placed_in_care]\n"
        "wellbeing:\n  level_cutoffs: [0.1, 0.3, 0.5, 0.7]\n",
        encoding="utf-8",
    )
    config = FeatureConfig.from_yaml(path)
    assert config.horizon_months == 6
    assert config.label_outcome_types == ("child_placed_in_care",)
    assert config.wellbeing.level_cutoffs == (0.1, 0.3, 0.5, 0.7)
    assert config.wellbeing.criteria == DEFAULT.criteria
