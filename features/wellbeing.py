"""A transparent well-being index, Alkire-Foster style, from the catalogue's indicators.

Each of the five domains gets a deprivation flag: the family is deprived in a domain when
any of that domain's criteria (``indicator <op> threshold``, in
:class:`features.config.WellbeingConfig`) holds. The score is the weighted sum of the
flags (the Alkire-Foster deprivation score c_i, 0..1); the level maps the score onto
A (thriving) .. E (emergency) with the configured cutoffs.

It reads only model-input columns, which are point-in-time, so it is point-in-time too.
It is NOT a model input: it is the rule baseline the learned model must beat and context a
caseworker already understands from the digital family card.
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

from features.config import WellbeingConfig
from features.contract import DOMAINS

LEVELS: tuple[str, ...] = ("A", "B", "C", "D", "E")
LEVEL_MEANINGS: dict[str, str] = {
    "A": "thriving",
    "B": "stable",
    "C": "vulnerable",
    "D": "crisis",
    "E": "emergency",
}

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def deprivation_flags(indicators: pd.DataFrame, *, config: WellbeingConfig) -> pd.DataFrame:
    """``deprived_<domain>`` (bool) for each row of ``indicators``, in domain order.

    A NaN indicator never meets a criterion: missing data alone does not deprive.
    """
    flags = {}
    for domain in DOMAINS:
        hit = np.zeros(len(indicators), dtype=bool)
        for condition in config.criteria[domain]:
            if condition.indicator not in indicators.columns:
                raise KeyError(
                    f"wellbeing criterion of domain {domain!r} needs column "
                    f"{condition.indicator!r}, which the indicator frame lacks"
                )
            values = indicators[condition.indicator].to_numpy(dtype="float64")
            with np.errstate(invalid="ignore"):
                hit |= _OPS[condition.op](values, condition.threshold) & ~np.isnan(values)
        flags[f"deprived_{domain}"] = hit
    return pd.DataFrame(flags, index=indicators.index)


def wellbeing_score(flags: pd.DataFrame, *, config: WellbeingConfig) -> pd.Series:
    """Weighted share of deprived domains, 0..1 (rounded to 10 decimals against FP noise)."""
    weights = np.array([config.weights[d] for d in DOMAINS])
    matrix = flags[[f"deprived_{d}" for d in DOMAINS]].to_numpy(dtype="float64")
    return pd.Series(np.round(matrix @ weights, 10), index=flags.index, name="wellbeing_score")


def wellbeing_level(score: pd.Series, *, config: WellbeingConfig) -> pd.Series:
    """A .. E from the score: A below the first cutoff, E at or above the last."""
    position = np.searchsorted(np.asarray(config.level_cutoffs), score.to_numpy(), side="right")
    return pd.Series(
        np.asarray(LEVELS)[position], index=score.index, name="wellbeing_level"
    ).astype("str")


def wellbeing_index(indicators: pd.DataFrame, *, config: WellbeingConfig) -> pd.DataFrame:
    """``wellbeing_score``, ``wellbeing_level`` and the ``deprived_<domain>`` flags."""
    flags = deprivation_flags(indicators, config=config)
    score = wellbeing_score(flags, config=config)
    level = wellbeing_level(score, config=config)
    return pd.concat([score, level, flags], axis=1)
