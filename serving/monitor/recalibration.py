"""Which calibration map the label-free ROC AUC estimate trusts, and how uncertain that map is.

The estimate (:func:`training.performance_estimate.expected_roc_auc`) ranks families by the
served probability and counts each pair with the probabilities the monitor *trusts*: a map
of the served probability fitted on the reference's labelled year
(:func:`serving.monitor.seasonal.labelled_year_calibration`). Its ROC AUC depends on how
steep that map is, which a calibration error (ECE) barely sees: served probabilities a
little too flat give a small ECE and an estimate that under-states the ranking. Last
round's 20-bin ECE check declined isotonic recalibration on exactly such setups and every
estimate it then made was too low (``docs/monitoring.md``).

So the map is chosen by a rule (``MonitorConfig.recalibration``):

* ``ece_check``: isotonic when it lowers the cross-fitted 20-bin ECE, else the served
  probability (:func:`training.reference_stats.check_calibration`; the rule before);
* ``isotonic``: always the isotonic map (what NannyML's CBPE does with a score file);
* ``logistic``: always a logistic recalibration, ``logit q = a + b logit p`` (two
  parameters: the map's level and steepness, which is what the ROC AUC estimate needs; a
  step function fitted to a few thousand outcomes over-fits its steps and over-states it);
* ``beta``: beta calibration, ``logit q = a + b ln p - c ln(1 - p)``: the logistic map with
  its two tails free (three parameters);
* ``blend``: the mean of the logistic and the isotonic maps (a hedge between the logistic
  map's shape bias and the isotonic map's step noise);
* ``auc_check``: the option (served, isotonic, logistic) whose label-free ROC AUC estimate
  was closest to the realized one **one quarter ahead of the quarters it was fitted on**,
  leaving each quarter of the labelled year out in turn: chosen by the error of the
  quantity estimated, across seasons, which a pooled score file cannot show.

Each rule keeps the served probability when the labelled year holds fewer than
:data:`training.reference_stats.MIN_RECALIBRATION_EVENTS` outcomes of the rarer class: a map
fitted to fewer is mostly noise.

**The map's own uncertainty.** The Hanley-McNeil interval of the estimate is the spread of
the realized ROC AUC over the label draws the trusted probabilities imply; it treats the
map as exact. The map is fitted on one labelled year, so :func:`map_spread` refits it on
bootstrap resamples of that year's families (within each quarter end) and the standard
deviation of the estimate over those maps, at the monitored date, widens the interval
(:meth:`MapSpread.se`, added in quadrature, as the transfer term is).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression

from serving.monitor.config import MonitorConfig, RecalibrationRule
from training.performance_estimate import expected_roc_auc
from training.reference_stats import (
    CALIBRATION_BINS,
    MIN_RECALIBRATION_EVENTS,
    CalibrationCheck,
    ReferenceStats,
    check_calibration,
    quantile_ece,
)
from training.reliability import logit_linear_fit
from training.risk_model import RiskModel

RULES: tuple[str, ...] = get_args(RecalibrationRule)
# the options ``auc_check`` chooses between
OPTIONS = ("none", "isotonic", "logistic")
# points of the logistic map stored (interpolated linearly between: a smooth monotone map,
# so the stored curve is within 1e-4 of it)
LOGISTIC_GRID = 257
_EPS = 1e-6

# labelled year: per quarter end, (label, served probability)
Year = Mapping[dt.date, tuple[np.ndarray, np.ndarray]]


def _ratio(y: np.ndarray, p: np.ndarray, k: int) -> float | None:
    top = np.argsort(-p, kind="stable")[: max(1, min(k, p.size))]
    predicted = float(p[top].sum())
    return float(y[top].sum()) / predicted if predicted > 0 else None


def _too_few(y: np.ndarray) -> int | None:
    """The rarer class's count when it is below what a map needs, else None."""
    events = int(min(y.sum(), y.size - y.sum()))
    return events if events < max(MIN_RECALIBRATION_EVENTS, 2) else None


def served(y: np.ndarray, p: np.ndarray, *, k: int, note: str | None = None) -> CalibrationCheck:
    """The served probability trusted as it is."""
    ece = quantile_ece(y, p, n_bins=CALIBRATION_BINS)
    return CalibrationCheck(
        method="none",
        n_bins=CALIBRATION_BINS,
        ece_before=ece,
        ece_after=ece,
        observed_over_predicted_at_capacity=_ratio(y, p, k),
        note=note,
    )


def _mapped(
    method: str,
    y: np.ndarray,
    p: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    *,
    k: int,
    note: str | None = None,
) -> CalibrationCheck:
    """A map of the served probability, stored as its curve ``(xs, ys)`` (read back by
    interpolation), with the ECE before and after it."""
    return CalibrationCheck(
        method=method,
        x_thresholds=xs.tolist(),
        y_thresholds=ys.tolist(),
        n_bins=CALIBRATION_BINS,
        ece_before=quantile_ece(y, p, n_bins=CALIBRATION_BINS),
        ece_after=quantile_ece(y, np.interp(p, xs, ys), n_bins=CALIBRATION_BINS),
        observed_over_predicted_at_capacity=_ratio(y, p, k),
        note=note,
    )


def isotonic(y: np.ndarray, p: np.ndarray, *, k: int) -> CalibrationCheck:
    """The isotonic map of the label on the served probability, fitted on every row."""
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, y)
    xs, ys = np.asarray(iso.X_thresholds_, float), np.asarray(iso.y_thresholds_, float)
    return _mapped("isotonic", y, p, xs, ys, k=k)


def _grid(p: np.ndarray) -> np.ndarray:
    """Where a smooth map is stored: dense where the served probabilities are."""
    return np.unique(
        np.concatenate(
            [[0.0, 1.0], np.quantile(p, np.linspace(0, 1, LOGISTIC_GRID)), np.linspace(0, 1, 65)]
        )
    )


def logistic(y: np.ndarray, p: np.ndarray, *, k: int) -> CalibrationCheck:
    """``logit q = a + b logit p`` fitted by maximum likelihood (the gates' calibration-slope
    fit, :func:`training.reliability.logit_linear_fit`), stored as its curve on a grid of
    probabilities (dense where the served probabilities are)."""
    fit = logit_linear_fit(y, p)
    if fit is None:
        return served(
            y, p, k=k, note="the logistic map has no finite fit here (one class, or separated)"
        )
    a, b = fit.intercept, fit.slope
    grid = _grid(p)
    values = expit(a + b * logit(np.clip(grid, _EPS, 1 - _EPS)))
    if b < 0:  # a map that reverses the ranking is no calibration of it: keep it flat
        values = np.full_like(grid, float(y.mean()))
    return _mapped("logistic", y, p, grid, values, k=k, note=f"logit q = {a:.3f} + {b:.3f} logit p")


def _beta_features(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.column_stack([np.log(q), -np.log1p(-q)])


def beta(y: np.ndarray, p: np.ndarray, *, k: int) -> CalibrationCheck:
    """Beta calibration (Kull, Silva Filho and Flach 2017): ``logit q = a + b ln p - c ln(1 -
    p)``, the logistic map with its two tails free (``b = c`` is the logistic map). A term
    whose coefficient comes out negative is dropped and the rest refitted (their rule: the
    map stays monotone); stored as its curve on the logistic map's grid."""
    from sklearn.linear_model import LogisticRegression

    x = _beta_features(p)
    kept = [0, 1]
    coef, intercept = np.zeros(2), 0.0
    while kept:
        fit = LogisticRegression(C=np.inf, solver="newton-cholesky", max_iter=200)
        fit.fit(x[:, kept], y)
        values = np.asarray(fit.coef_[0], dtype=float)
        if np.all(values >= 0):
            coef = np.zeros(2)
            coef[kept] = values
            intercept = float(fit.intercept_[0])
            break
        kept = [j for j, v in zip(kept, values, strict=True) if v >= 0]
    if not kept or not np.all(np.isfinite(coef)):
        return served(y, p, k=k, note="the beta map has no increasing fit here")
    grid = _grid(p)
    values = expit(intercept + _beta_features(grid) @ coef)
    note = f"logit q = {intercept:.3f} + {coef[0]:.3f} ln p - {coef[1]:.3f} ln(1-p)"
    return _mapped("beta", y, p, grid, values, k=k, note=note)


def blend(y: np.ndarray, p: np.ndarray, *, k: int) -> CalibrationCheck:
    """The mean of the logistic and the isotonic maps: the isotonic map's shape without all
    of its steps' noise, the logistic map's smoothness without all of its shape's bias."""
    curves = [logistic(y, p, k=k), isotonic(y, p, k=k)]
    if any(c.method == "none" for c in curves):
        return curves[0] if curves[0].method == "none" else curves[1]
    grid = np.unique(np.concatenate([c.x_thresholds for c in curves]))
    values = np.mean([c.apply(grid) for c in curves], axis=0)
    return _mapped("blend", y, p, grid, values, k=k, note=f"mean of: {curves[0].note}; isotonic")


def ece_check(y: np.ndarray, p: np.ndarray, *, k: int) -> CalibrationCheck:
    """The 20-bin ECE check (isotonic only when it lowers the cross-fitted ECE)."""
    check, _ = check_calibration(y, p, k=k)
    return check


FITS: dict[str, Callable[..., CalibrationCheck]] = {
    "none": served,
    "isotonic": isotonic,
    "logistic": logistic,
    "beta": beta,
    "blend": blend,
    "ece_check": ece_check,
}


def _pooled(year: Year, days: list[dt.date] | None = None) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(year) if days is None else days
    y = np.concatenate([np.asarray(year[d][0]).astype(int) for d in keys])
    p = np.concatenate([np.asarray(year[d][1], dtype=float) for d in keys])
    return y, p


def _auc_of_ranks(y: np.ndarray, p: np.ndarray) -> float:
    """The realized ROC AUC (Mann-Whitney, ties averaged)."""
    from scipy.stats import rankdata

    ranks = rankdata(p)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def quarter_errors(option: str, year: Year, *, k: Callable[[int], int]) -> list[float]:
    """The label-free ROC AUC estimate's error (estimate - realized) at each quarter end of
    ``year``, the map fitted by ``option`` on the other quarter ends pooled."""
    errors = []
    for day in sorted(year):
        y_fit, p_fit = _pooled(year, [d for d in sorted(year) if d != day])
        check = FITS[option](y_fit, p_fit, k=k(p_fit.size))
        y, p = np.asarray(year[day][0]).astype(int), np.asarray(year[day][1], dtype=float)
        estimate = expected_roc_auc(np.clip(check.apply(p), 0.0, 1.0), p)
        errors.append(float(estimate - _auc_of_ranks(y, p)))
    return errors


def recalibrate(
    rule: str, year: Year, *, k: Callable[[int], int]
) -> tuple[CalibrationCheck, dict[str, Any]]:
    """The map ``rule`` trusts on the labelled ``year`` (every label in, both classes at
    each date: the caller checked) and what was weighed: for ``auc_check`` each option's
    leave-one-quarter-out errors."""
    if rule not in RULES:
        raise ValueError(f"recalibration rule {rule!r} is unknown; allowed: {', '.join(RULES)}")
    y, p = _pooled(year)
    kk = k(p.size)
    few = _too_few(y)
    if few is not None:
        return served(
            y,
            p,
            k=kk,
            note=f"not recalibrated: {few} outcomes of the rarer class in the labelled year, "
            f"fewer than the {MIN_RECALIBRATION_EVENTS} a recalibration map needs not to overfit",
        ), {"rule": rule, "option": "none"}
    if rule != "auc_check":
        check = FITS[rule](y, p, k=kk)
        return check, {"rule": rule, "option": check.method}
    if len(year) < 2 or any(
        _too_few(np.asarray(year[d][0]).astype(int)) == 0 for d in year
    ):  # one quarter (or one without both classes) leaves nothing to compare one ahead
        check = FITS["logistic"](y, p, k=kk)
        return check, {
            "rule": rule,
            "option": "logistic",
            "note": "fewer than 2 quarter ends with both classes: the logistic map, unweighed",
        }
    weighed = {o: quarter_errors(o, year, k=k) for o in OPTIONS}
    rms = {o: float(np.sqrt(np.mean(np.square(e)))) for o, e in weighed.items()}
    best = min(OPTIONS, key=lambda o: rms[o])  # ties: the first, the simplest
    check = FITS[best](y, p, k=kk)
    detail = ", ".join(f"{o} {rms[o]:.4f}" for o in OPTIONS)
    note = f"auc_check: RMS error of the ROC AUC estimate one quarter out: {detail}; {best} kept"
    check = check.model_copy(update={"note": f"{check.note}; {note}" if check.note else note})
    return check, {
        "rule": rule,
        "option": best,
        "quarter_errors": {o: e for o, e in weighed.items()},
        "rms_error": rms,
    }


@dataclass(frozen=True)
class MapSpread:
    """The chosen map refitted on bootstrap resamples of the labelled year: how far the ROC
    AUC estimate moves with the map (:meth:`se`)."""

    option: str
    maps: tuple[CalibrationCheck, ...]

    def se(self, probability: np.ndarray) -> float:
        """The standard deviation of the label-free ROC AUC at ``probability`` over the
        resampled maps (0 when the served probability is trusted as it is)."""
        if len(self.maps) < 2 or self.option == "none":
            return 0.0
        p = np.asarray(probability, dtype=float)
        values = [expected_roc_auc(np.clip(m.apply(p), 0.0, 1.0), p) for m in self.maps]
        return float(np.std(values, ddof=1))

    def describe(self) -> dict[str, Any]:
        """The report's ``performance.calibration_map_spread`` entry."""
        return {
            "available": self.option != "none" and len(self.maps) >= 2,
            "option": self.option,
            "n_boot": len(self.maps),
            "method": "the chosen map refitted on bootstrap resamples of the labelled year's "
            "families (within each quarter end)",
        }


def map_spread(
    option: str, year: Year, *, k: Callable[[int], int], n_boot: int, seed: int
) -> MapSpread:
    """The ``option`` map (``none``, ``isotonic``, ``logistic``, ``ece_check``) refitted on
    ``n_boot`` resamples of ``year``'s families, drawn with replacement within each quarter
    end (the year's seasons keep their weight)."""
    if option == "none" or n_boot < 2:
        return MapSpread(option=option, maps=())
    rng = np.random.default_rng(seed)
    days = sorted(year)
    maps = []
    for _ in range(n_boot):
        ys, ps = [], []
        for day in days:
            y, p = np.asarray(year[day][0]).astype(int), np.asarray(year[day][1], dtype=float)
            idx = rng.integers(0, y.size, y.size)
            ys.append(y[idx])
            ps.append(p[idx])
        yb, pb = np.concatenate(ys), np.concatenate(ps)
        maps.append(FITS[option](yb, pb, k=k(pb.size)))
    return MapSpread(option=option, maps=tuple(maps))


def year_map_spread(
    stats: ReferenceStats,
    model: RiskModel,
    table: pd.DataFrame,
    season: dict[str, Any],
    *,
    config: MonitorConfig,
) -> MapSpread | None:
    """The spread of the map :func:`serving.monitor.seasonal.choose_reference` chose
    (``season``, its ``reference.seasonal`` entry) over ``config.calibration_boot``
    resamples of the labelled year's rows of ``table`` (an ``as_of`` column of Timestamps);
    None when the estimate trusts the stored check (no labelled year was read)."""
    days = [dt.date.fromisoformat(d) for d in season.get("calibration_as_of") or []]
    if not days or stats.calibration is None:
        return None
    year = {}
    for day in days:
        frame = table.loc[table["as_of"] == pd.Timestamp(day)].reset_index(drop=True)
        year[day] = (frame["label"].to_numpy().astype(int), model.predict_proba(frame))
    # the ECE check's spread includes its choice; the other rules' is the chosen map's
    option = "ece_check" if config.recalibration == "ece_check" else stats.calibration.method
    return map_spread(
        option, year, k=stats.capacity.k, n_boot=config.calibration_boot, seed=config.seed
    )
