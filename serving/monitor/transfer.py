"""How far the estimate's calibration carries from one quarter to another: the interval's
transfer term.

The label-free ROC AUC estimate trusts a calibration checked on the reference's labelled
year (:func:`serving.monitor.seasonal.labelled_year_calibration`) and then applies it at a
date the year does not hold. Its Hanley-McNeil interval is only the spread of the realized
AUC over the label draws the probabilities imply: it assumes the calibration transfers
exactly. It need not: a seasonal registry's December is not its year's average (last
round's two misses of the 95 % interval on the clean setups of ``python -m benchmarks
estimator``, at 8,000 families, were seasonal 2024-12-31 and event_mix 2024-09-30).

The monitor measures that transfer on labels it already has: **leave one quarter out**
within the labelled year. For each quarter end of the year, the calibration check is redone
(the same rule's choice, :func:`serving.monitor.recalibration.recalibrate`) on the other quarter
ends pooled and the ROC AUC estimated at the left-out one, label-free, then compared with
its realized ROC AUC. Each error holds the left-out quarter's own sampling noise (its
Hanley-McNeil variance, known) plus the calibration's transfer error; so

    transfer variance = max(0, mean(error^2) - mean(sampling variance))

and the interval at a monitored date is the estimate +- z * sqrt(se^2 + transfer variance).
When the year's quarters agree within their noise the term is 0 and nothing changes; when
the calibration moves between seasons, the interval widens by what was seen to move.

Why not also shift the estimate by the mean left-out error: on the setups the method was
chosen on (20,000 families, seed 3, event_mix and standard; an offline replay with the
isotonic map) the mean left-out error was within the noise of four quarters and shifting by
it did not lower the mean absolute error (0.0108 against 0.0100 without), so only the
interval uses it. See ``docs/monitoring.md``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from serving.monitor.recalibration import recalibrate
from training.performance_estimate import MetricInterval, expected_roc_auc, hanley_mcneil_se
from training.reference_stats import CalibrationCheck, ReferenceStats
from training.risk_model import RiskModel

# fewer left-out quarters than this leave the spread unmeasured (one error is no variance)
MIN_QUARTERS = 2


@dataclass(frozen=True)
class CalibrationTransfer:
    """The leave-one-quarter-out errors of the ROC AUC estimate within the labelled year and
    the transfer standard error they imply (``extra_se``, 0 when within the noise)."""

    dates: tuple[str, ...]
    errors: tuple[float, ...]  # estimate - realized at each left-out quarter end
    sampling_se: tuple[float, ...]  # the left-out quarter's Hanley-McNeil standard error
    methods: tuple[str, ...]  # the calibration chosen without that quarter
    extra_se: float

    def widen(
        self, interval: MetricInterval, se: float, *, confidence_level: float
    ) -> MetricInterval:
        """``interval`` (an estimate with sampling standard error ``se``) widened by the
        transfer term; unchanged when either is not finite or the term is 0."""
        return widen(interval, se, self.extra_se, confidence_level=confidence_level)

    def describe(self) -> dict[str, Any]:
        """The report's ``performance.calibration_transfer`` entry."""
        rms = float(np.sqrt(np.mean(np.square(self.errors))))
        noise = float(np.sqrt(np.mean(np.square(self.sampling_se))))
        return {
            "available": True,
            "metric": "roc_auc",
            "method": "leave one quarter out within the reference's labelled year",
            "left_out": [
                {"as_of": d, "estimate_error": e, "sampling_se": s, "calibration": m}
                for d, e, s, m in zip(
                    self.dates, self.errors, self.sampling_se, self.methods, strict=True
                )
            ],
            "rms_error": rms,
            "rms_sampling_se": noise,
            "extra_se": self.extra_se,
            "note": (
                f"left-out errors (RMS {rms:.4f}) beyond their sampling noise "
                f"(RMS {noise:.4f}): the ROC AUC interval is widened by a transfer standard "
                f"error of {self.extra_se:.4f}"
                if self.extra_se > 0
                else f"left-out errors (RMS {rms:.4f}) within their sampling noise "
                f"(RMS {noise:.4f}): the ROC AUC interval is not widened"
            ),
        }


def widen(
    interval: MetricInterval, se: float, *extra: float, confidence_level: float
) -> MetricInterval:
    """``interval`` (an estimate with sampling standard error ``se``) with the standard
    errors ``extra`` added in quadrature; unchanged when they are all 0 or ``se`` or the
    estimate is not finite."""
    added = float(np.sqrt(sum(e * e for e in extra if np.isfinite(e) and e > 0)))
    if added <= 0 or not (np.isfinite(interval.value) and np.isfinite(se)):
        return interval
    z = float(norm.ppf(0.5 + confidence_level / 2.0))
    half = z * float(np.hypot(se, added))
    return MetricInterval(
        interval.value, max(0.0, interval.value - half), min(1.0, interval.value + half)
    )


def unavailable(reason: str) -> dict[str, Any]:
    """The report's entry when no transfer term was measured, with the reason."""
    return {"available": False, "metric": "roc_auc", "extra_se": 0.0, "note": reason}


def auc_sampling_se(trusted: np.ndarray, rank_score: np.ndarray) -> tuple[float, float]:
    """The label-free ROC AUC of ``rank_score`` under probabilities ``trusted`` and its
    Hanley-McNeil standard error (the estimate's own, as
    :func:`training.performance_estimate.estimate_performance` computes them)."""
    p = np.clip(np.asarray(trusted, dtype=float), 0.0, 1.0)
    auc = expected_roc_auc(p, rank_score)
    n_pos = float(p.sum())
    return auc, hanley_mcneil_se(auc, n_pos, p.size - n_pos)


def _trusted(check: CalibrationCheck, probability: np.ndarray) -> np.ndarray:
    return check.apply(probability)


def calibration_transfer(
    stats: ReferenceStats,
    model: RiskModel,
    frames: dict[dt.date, pd.DataFrame],
    *,
    rule: str = "ece_check",
) -> tuple[CalibrationTransfer | None, str | None]:
    """The leave-one-quarter-out transfer of the calibration ``rule`` chooses
    (:func:`serving.monitor.recalibration.recalibrate`) over ``frames`` (the labelled
    year's quarter ends, every label in: :func:`serving.monitor.seasonal.labelled_year_calibration`
    checked that), or None with the reason."""
    usable = {d: f for d, f in frames.items() if not f.empty}
    if len(usable) < MIN_QUARTERS:
        return None, (
            f"{len(usable)} quarter end(s) of the labelled year hold families; at least "
            f"{MIN_QUARTERS} are needed to leave one out"
        )
    for day, frame in usable.items():
        observed = frame.get("label_observed")
        if observed is None or not bool(observed.astype(bool).all()):
            return None, f"the labels as of {day.isoformat()} are not all in"
    label = {d: f["label"].to_numpy().astype(int) for d, f in usable.items()}
    for day, y in label.items():
        if y.min() == y.max():
            return None, f"no outcome, or only outcomes, as of {day.isoformat()}"
    probability = {d: model.predict_proba(f) for d, f in usable.items()}
    dates, errors, ses, methods = [], [], [], []
    for day in sorted(usable):
        rest = {d: (label[d], probability[d]) for d in usable if d != day}
        check, _ = recalibrate(rule, rest, k=stats.capacity.k)
        p = probability[day]
        estimate, se = auc_sampling_se(_trusted(check, p), p)
        realized = float(roc_auc_score(label[day], p))
        dates.append(day.isoformat())
        errors.append(float(estimate - realized))
        ses.append(float(se))
        methods.append(check.method)
    variance = float(np.mean(np.square(errors)) - np.mean(np.square(ses)))
    return (
        CalibrationTransfer(
            dates=tuple(dates),
            errors=tuple(errors),
            sampling_se=tuple(ses),
            methods=tuple(methods),
            extra_se=float(np.sqrt(variance)) if variance > 0 else 0.0,
        ),
        None,
    )


def year_transfer(
    stats: ReferenceStats,
    model: RiskModel,
    table: pd.DataFrame,
    season: dict[str, Any],
    *,
    rule: str = "ece_check",
) -> tuple[CalibrationTransfer | None, str | None]:
    """The transfer term of the calibration :func:`serving.monitor.seasonal.choose_reference`
    chose (``season``, its ``reference.seasonal`` entry), on the labelled year's rows of
    ``table`` (an ``as_of`` column of Timestamps); None with the reason when the estimate
    trusts the stored check (no labelled year to leave a quarter out of)."""
    days = [dt.date.fromisoformat(d) for d in season.get("calibration_as_of") or []]
    if not days:
        return None, (
            "the estimate trusts the stored reference's calibration check, one date: no "
            "quarter of a labelled year to leave out"
        )
    frames = {
        day: table.loc[table["as_of"] == pd.Timestamp(day)].reset_index(drop=True) for day in days
    }
    return calibration_transfer(stats, model, frames, rule=rule)
