"""Who may be scored: the eligibility rule (design rule 10, "score only who can have the outcome").

The label is a child-protection outcome, so a household without a child cannot have it. If
such households were scored, the model would learn "no child, no risk", every elevated
family would get "children under 18 in the household" as its top reason, and every
percentile would be inflated by families that were never at risk. An ineligible family is
therefore left out of training, evaluation, percentiles and audits, and gets a status with
the reason instead of a score.

The rule reads only household-composition columns of the feature table (as of the as-of
date, so it is point in time like every feature). The default: at least one child under 18
in the household. ``kind: everyone`` switches the rule off (a deployment whose label is not
about children).
"""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

ELIGIBLE = "eligible"
INELIGIBLE = "ineligible"


class EligibilityRule(BaseModel):
    """Which families are scored; serialised with the model so serving applies the same rule.

    ``min_children``: children under 18 in the household on the as-of date
    (``hh_children``) needed to be eligible.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["children_under_18", "everyone"] = "children_under_18"
    min_children: int = Field(default=1, ge=1)

    @property
    def columns(self) -> tuple[str, ...]:
        """Feature-table columns the rule reads."""
        return ("hh_children",) if self.kind == "children_under_18" else ()

    def minimums(self) -> dict[str, float]:
        """The least value of each column the rule reads that an eligible family has (a
        missing value is not eligible): what a caller must send to be scored."""
        if self.kind == "everyone":
            return {}
        return {"hh_children": float(self.min_children)}

    def describe(self) -> str:
        """The rule in plain words (report, model card, CLI)."""
        if self.kind == "everyone":
            return "every family with a member on the as-of date"
        if self.min_children == 1:
            return "at least one child under 18 in the household on the as-of date"
        return f"at least {self.min_children} children under 18 in the household on the as-of date"

    def reason(self) -> str:
        """Why an ineligible family gets no score."""
        if self.min_children == 1:
            return "no child under 18 in the household on the as-of date"
        return (
            f"fewer than {self.min_children} children under 18 in the household on the as-of date"
        )

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """True for each eligible row of ``frame`` (a missing count is not eligible)."""
        if self.kind == "everyone":
            return np.ones(len(frame), dtype=bool)
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise KeyError(
                f"the eligibility rule ({self.describe()}) needs column(s) {missing}, which the "
                f"frame lacks (it has {len(frame.columns)} columns)"
            )
        children = pd.to_numeric(frame["hh_children"], errors="coerce").to_numpy(dtype=float)
        return np.nan_to_num(children, nan=0.0) >= self.min_children

    def to_tag(self) -> str:
        """Compact JSON for an MLflow model-version tag."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)

    @classmethod
    def from_tag(cls, text: str | None) -> EligibilityRule:
        """The rule recorded on a model version; the default for a model without one."""
        if not text:
            return cls()
        return cls.model_validate(json.loads(text))


def eligible_rows(frame: pd.DataFrame, rule: EligibilityRule) -> pd.DataFrame:
    """The eligible rows of ``frame`` (index reset)."""
    return frame.loc[rule.mask(frame)].reset_index(drop=True)


def eligibility_status(frame: pd.DataFrame, rule: EligibilityRule) -> pd.DataFrame:
    """Per row: ``eligibility`` (eligible / ineligible) and ``ineligible_reason`` (or null)."""
    mask = rule.mask(frame)
    reason = np.empty(len(frame), dtype=object)
    reason[~mask] = rule.reason()
    return pd.DataFrame(
        {"eligibility": np.where(mask, ELIGIBLE, INELIGIBLE), "ineligible_reason": reason},
        index=frame.index,
    )
