"""Positivity: did every family have a chance of going without support?

The doubly robust figures (:mod:`training.counterfactual`) and inverse-propensity training
(:mod:`training.support`) estimate the outcome *without support* from the families who
went without it. A family whose propensity of support is (nearly) 1 never had that chance:
nothing in the data says what would have happened to it without support, and its weight
``1 / (1 - propensity)`` explodes. This check reports the share of rows near either end and
fails when too many are near 1 (families supported for sure); near 0 (never supported) is
reported but harmless for the no-support outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.outcome import Outcome, outcome_of

DEFAULT_EPSILON = 0.02
DEFAULT_MAX_SHARE = 0.01
DEFAULT_MIN_TREATED = 20


@dataclass(frozen=True)
class PositivityCheck:
    """The check's figures and outcome (pass / fail / inconclusive, ``status`` says why)."""

    n_rows: int
    n_treated: int
    share_near_one: float  # propensity > 1 - epsilon: no chance of going without support
    share_near_zero: float  # propensity < epsilon: no chance of support
    epsilon: float
    max_share: float
    status: str

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.status)

    @property
    def blocks(self) -> bool:
        return self.outcome is not Outcome.PASS

    def describe(self) -> str:
        """One line for the report, the model card and the gate's detail."""
        figures = (
            f"{self.share_near_one:.1%} of {self.n_rows:,} rows have a propensity of support "
            f"above {1 - self.epsilon:.2f} (allowed {self.max_share:.1%}), "
            f"{self.share_near_zero:.1%} below {self.epsilon:.2f}; "
            f"{self.n_treated:,} rows with support"
        )
        why = {
            "pass": "every family had a chance of going without support",
            "fail": "families who never had a chance of going without support: their "
            "no-support outcome is not identified by the data",
            "not_evaluable": "no rows",
            "insufficient_evidence": "too few supported rows to model the propensity",
        }[self.status]
        return f"positivity {self.outcome.value} ({why}): {figures}"


def check_positivity(
    propensity: np.ndarray,
    treated: np.ndarray,
    *,
    epsilon: float = DEFAULT_EPSILON,
    max_share: float = DEFAULT_MAX_SHARE,
    min_treated: int = DEFAULT_MIN_TREATED,
) -> PositivityCheck:
    """Judge the propensities (one per row) of a run; see the module docstring."""
    if not 0 < epsilon < 0.5 or not 0 <= max_share < 1:
        raise ValueError(
            f"epsilon must lie in (0, 0.5) and max_share in [0, 1), got {epsilon}, {max_share}"
        )
    propensity = np.asarray(propensity, dtype=float)
    treated = np.asarray(treated, dtype=bool)
    if propensity.shape != treated.shape:
        raise ValueError(
            f"one propensity per row: {propensity.shape} propensities, {treated.shape} rows"
        )
    n = len(propensity)
    near_one = float(np.mean(propensity > 1 - epsilon)) if n else float("nan")
    near_zero = float(np.mean(propensity < epsilon)) if n else float("nan")
    n_treated = int(treated.sum())
    if n == 0:
        status = "not_evaluable"
    elif near_one > max_share:
        status = "fail"  # too many families supported for sure: nothing more to wait for
    elif 0 < n_treated < min_treated:
        status = "insufficient_evidence"
    else:
        status = "pass"
    return PositivityCheck(
        n_rows=n,
        n_treated=n_treated,
        share_near_one=near_one,
        share_near_zero=near_zero,
        epsilon=epsilon,
        max_share=max_share,
        status=status,
    )
