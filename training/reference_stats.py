"""Reference statistics: what the monitor compares later data with, computed once at training.

The reference is the model's own test slice (families and a date the model never saw).
What is kept is aggregate and small, so it can be stored with the model and the reference
rows never need to be read again (``earlyrisk monitor`` on a million families reads only
this document and the new rows):

* per model input: bin edges (reference quantiles, or the distinct values of a feature
  with few of them) and the count of reference rows per bin plus a missing bin;
* the calibrated score: bin edges with extra resolution at the top (where capacity bites),
  counts, the threshold that reached the capacity and the mean;
* audit-group shares (groups under the audit's minimum size are suppressed);
* a PCA of the standardized inputs and the reference rows' reconstruction error, for the
  whole-input drift check that sees changed correlations;
* the calibration check of the label-free estimator: the decile-free ECE on 20
  equal-count bins before and after an isotonic recalibration of the probability on the
  reference labels (cross-fitted); the recalibration is kept only when it lowers the error;
* the realized performance on the reference and the estimator's error there (estimate minus
  realized), so the estimator's own accuracy is on record.

No row-level value, family id or group member count below the suppression size is stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from training.audit.suppression import DEFAULT_MIN_GROUP_SIZE
from training.config import CapacityConfig
from training.performance_estimate import (
    as_dicts,
    estimate_performance,
    realized_performance,
    top_k_mask,
)

if TYPE_CHECKING:
    from training.risk_model import RiskModel

FORMAT_VERSION = 1
ARTIFACT_PATH = "monitoring/reference_stats.json"
MISSING_GROUP = "(missing)"
SCORE_QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
CALIBRATION_BINS = 20
#: Fewest reference outcomes (of the rarer class) an isotonic recalibration is fitted on: on
#: fewer, the map overfits its steps and the estimate it feeds is overconfident.
MIN_RECALIBRATION_EVENTS = 100
PCA_VARIANCE = 0.8
PCA_MAX_ROWS = 200_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureBins(_Strict):
    """Bins of one model input: ``counts[i]`` rows in ``(edges[i-1], edges[i]]``, the last
    count is the missing values."""

    name: str
    edges: list[float]
    counts: list[int]


class ScoreBins(_Strict):
    """The calibrated score on the reference: bins, the capacity threshold and the mean."""

    edges: list[float]
    counts: list[int]
    k: int
    threshold_at_capacity: float
    mean: float


class PCAReference(_Strict):
    """A PCA of the inputs (signed log1p, median-imputed, standardized) and its error."""

    medians: list[float]
    means: list[float]
    scales: list[float]
    components: list[list[float]]
    explained_variance: float
    error_mean: float
    error_sd: float


class CalibrationCheck(_Strict):
    """Whether the estimator recalibrates the served probability, and why."""

    # logistic, beta, blend: the monitor's maps (serving.monitor.recalibration)
    method: Literal["isotonic", "none", "logistic", "beta", "blend"]
    x_thresholds: list[float] = Field(default_factory=list)
    y_thresholds: list[float] = Field(default_factory=list)
    n_bins: int
    ece_before: float
    ece_after: float
    observed_over_predicted_at_capacity: float | None
    note: str | None = None

    def apply(self, probability: np.ndarray) -> np.ndarray:
        """The probabilities the estimator trusts."""
        p = np.asarray(probability, dtype=float)
        if self.method == "none":
            return p
        return np.interp(p, self.x_thresholds, self.y_thresholds)


class ReferenceStats(_Strict):
    """Everything the monitor needs from the reference (see the module docstring)."""

    format: Literal["earlyrisk.reference_stats"] = "earlyrisk.reference_stats"
    format_version: Literal[1] = 1
    source: str
    rows: str | None = Field(
        default=None,
        description="Which rows the statistics describe and why they are held out from "
        "the registered model's fit and calibrator (None: recorded before this was kept).",
    )
    as_of: list[str]
    n_rows: int
    capacity: CapacityConfig
    label_outcome_types: list[str] | None = None
    horizon_months: int | None = None
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE
    features: list[FeatureBins]
    score: ScoreBins
    groups: dict[str, dict[str, float | None]]
    multivariate: PCAReference
    calibration: CalibrationCheck | None = None
    realized: dict[str, dict[str, float | None]] | None = None
    estimator_error: dict[str, float | None] | None = None

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


# --------------------------------------------------------------------------- bins


def quantile_edges(values: np.ndarray, n_bins: int) -> list[float]:
    """Inner bin edges: the distinct values when there are at most ``n_bins`` of them,
    else the distinct inner quantiles (so a mass at zero is one bin, not several)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return []
    distinct = np.unique(v)
    if distinct.size <= n_bins:
        return [float(x) for x in distinct[:-1]]
    q = np.quantile(v, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
    return [float(x) for x in np.unique(q)]


def bin_counts(values: np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Counts per bin ``(edges[i-1], edges[i]]`` (``len(edges) + 1`` bins), then missing."""
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    index = np.searchsorted(np.asarray(edges, dtype=float), v[finite], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return np.append(counts, int(v.size - finite.sum()))


# --------------------------------------------------------------------------- PCA


def signed_log(x: np.ndarray) -> np.ndarray:
    """``sign(x) log(1 + |x|)``: tames money amounts so no single input dominates."""
    return np.sign(x) * np.log1p(np.abs(x))


def fit_pca_reference(
    matrix: np.ndarray, *, variance: float = PCA_VARIANCE, seed: int = 0
) -> PCAReference:
    """Fit the PCA on half the reference rows (at most ``PCA_MAX_ROWS``) and record the
    reconstruction error of the other half."""
    t = signed_log(np.asarray(matrix, dtype=float))
    with np.errstate(all="ignore"):
        medians = np.nanmedian(np.where(np.isfinite(t), t, np.nan), axis=0)
    medians = np.where(np.isfinite(medians), medians, 0.0)
    t = np.where(np.isfinite(t), t, medians)
    means = t.mean(axis=0)
    scales = t.std(axis=0)
    scales = np.where(scales > 0, scales, 1.0)
    z = (t - means) / scales
    # Fit on one half, measure the error on the other: an in-sample error is optimistic
    # (the components fit the rows' own noise), so new rows would look drifted.
    order = np.random.default_rng(seed).permutation(z.shape[0])
    fit_rows, held_rows = (order[::2], order[1::2]) if z.shape[0] >= 4 else (order, order)
    rows = z[fit_rows[:PCA_MAX_ROWS]]
    # eigenvectors of the (features x features) covariance: the same components as an SVD
    # of the rows, at a cost that does not grow with the square of the features times rows
    eigenvalues, eigenvectors = np.linalg.eigh(rows.T @ rows / max(rows.shape[0] - 1, 1))
    order_desc = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order_desc], 0.0, None)
    vt = eigenvectors[:, order_desc].T
    share = eigenvalues / max(float(np.sum(eigenvalues)), 1e-12)
    n_comp = int(np.searchsorted(np.cumsum(share), variance) + 1)
    n_comp = max(1, min(n_comp, z.shape[1] - 1 if z.shape[1] > 1 else 1))
    components = vt[:n_comp]
    error = _reconstruction_error(z[held_rows], components)
    return PCAReference(
        medians=medians.tolist(),
        means=means.tolist(),
        scales=scales.tolist(),
        components=components.tolist(),
        explained_variance=float(np.sum(share[:n_comp])),
        error_mean=float(error.mean()),
        error_sd=float(error.std(ddof=1)) if error.size > 1 else 0.0,
    )


def _reconstruction_error(z: np.ndarray, components: np.ndarray) -> np.ndarray:
    projected = z @ components.T
    return (np.einsum("ij,ij->i", z, z) - np.einsum("ij,ij->i", projected, projected)) / z.shape[1]


def pca_reconstruction_error(
    matrix: np.ndarray, pca: PCAReference, *, chunk_rows: int = 200_000
) -> np.ndarray:
    """Per-row reconstruction error of new rows under the reference PCA (in chunks of rows,
    so a million families never need more than a few copies of one chunk)."""
    medians = np.asarray(pca.medians)
    means = np.asarray(pca.means)
    scales = np.asarray(pca.scales)
    components = np.asarray(pca.components)
    out = np.empty(matrix.shape[0])
    for start in range(0, matrix.shape[0], chunk_rows):
        t = signed_log(np.asarray(matrix[start : start + chunk_rows], dtype=float))
        t = np.where(np.isfinite(t), t, medians)
        z = (t - means) / scales
        out[start : start + chunk_rows] = _reconstruction_error(z, components)
    return out


# --------------------------------------------------------------------------- calibration


def quantile_ece(label: np.ndarray, probability: np.ndarray, *, n_bins: int) -> float:
    """Expected calibration error on equal-count bins of the probability.

    Equal-count bins (20 by default) give the top 5 % its own bin, so an over-prediction
    concentrated where capacity bites is not averaged away as it is in decile ECE.
    """
    y = np.asarray(label, dtype=float)
    p = np.asarray(probability, dtype=float)
    order = np.argsort(p, kind="stable")
    bins = np.array_split(order, min(n_bins, p.size))
    return float(sum(abs(y[b].mean() - p[b].mean()) * b.size for b in bins if b.size) / p.size)


def check_calibration(
    label: np.ndarray,
    probability: np.ndarray,
    *,
    k: int,
    n_bins: int = CALIBRATION_BINS,
    seed: int = 0,
    min_events: int = MIN_RECALIBRATION_EVENTS,
) -> tuple[CalibrationCheck, np.ndarray]:
    """Keep or recalibrate the probabilities the estimator trusts, on the reference labels.

    An isotonic map of the label on the probability is cross-fitted (2 folds); when its
    out-of-fold ECE is lower than the served probability's, it is refitted on every reference
    row and kept. Returns the check and the out-of-fold probabilities of the chosen option
    (for an honest estimator error on the reference).
    """
    y = np.asarray(label).astype(int)
    p = np.asarray(probability, dtype=float)
    top = top_k_mask(p, k)
    predicted_top = float(p[top].sum())
    ratio = float(y[top].sum()) / predicted_top if predicted_top > 0 else None
    before = quantile_ece(y, p, n_bins=n_bins)
    n_pos = int(y.sum())
    events = min(n_pos, y.size - n_pos)
    if events < max(min_events, 2):
        check = CalibrationCheck(
            method="none",
            n_bins=n_bins,
            ece_before=before,
            ece_after=before,
            observed_over_predicted_at_capacity=ratio,
            note=f"not recalibrated: {events} outcomes of the rarer class on the reference, "
            f"fewer than the {min_events} a recalibration map needs not to overfit",
        )
        return check, p
    oof = np.empty_like(p)
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=seed)
    for fit_idx, held_idx in folds.split(np.zeros(y.size), y):
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(p[fit_idx], y[fit_idx])
        oof[held_idx] = iso.predict(p[held_idx])
    after = quantile_ece(y, oof, n_bins=n_bins)
    if after < before:
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, y)
        check = CalibrationCheck(
            method="isotonic",
            x_thresholds=[float(v) for v in iso.X_thresholds_],
            y_thresholds=[float(v) for v in iso.y_thresholds_],
            n_bins=n_bins,
            ece_before=before,
            ece_after=after,
            observed_over_predicted_at_capacity=ratio,
        )
        return check, oof
    check = CalibrationCheck(
        method="none",
        n_bins=n_bins,
        ece_before=before,
        ece_after=after,
        observed_over_predicted_at_capacity=ratio,
    )
    return check, p


# --------------------------------------------------------------------------- groups


def group_shares(
    frame: pd.DataFrame, column: str, *, min_group_size: int
) -> dict[str, float | None]:
    """Share of rows per group; a group under ``min_group_size`` rows is ``None``."""
    values = frame[column].astype("string").fillna(MISSING_GROUP)
    counts = values.value_counts(sort=False)
    total = float(counts.sum())
    return {
        str(group): (float(n) / total if n >= min_group_size else None)
        for group, n in sorted(counts.items())
    }


# --------------------------------------------------------------------------- the document


def compute_reference_stats(
    frame: pd.DataFrame,
    *,
    model: RiskModel,
    capacity: CapacityConfig,
    source: str,
    label: str | None = "label",
    groups: Sequence[str] | None = None,
    label_outcome_types: Sequence[str] | None = None,
    horizon_months: int | None = None,
    n_bins: int = 10,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    seed: int = 0,
    check_probability: np.ndarray | None = None,
) -> ReferenceStats:
    """Reference statistics of ``frame`` (the reference rows with the model's inputs).

    ``label`` (0/1, optional: ``None`` or a column with missing values skips the
    calibration check and the realized performance); ``groups``: audit-group columns
    (default: every ``audit_*`` column); ``check_probability``: the probabilities the
    calibration check, the realized performance and the estimator's error use instead of
    the model's (out-of-fold ones when the model's calibrator was fitted on these rows).
    The score bins are always the model's own probabilities (what it serves).
    """
    if len(frame) == 0:
        raise ValueError("the reference has no rows")
    names = list(model.feature_names)
    matrix = model.feature_matrix(frame)
    features = []
    for j, name in enumerate(names):
        edges = quantile_edges(matrix[:, j], n_bins)
        features.append(
            FeatureBins(name=name, edges=edges, counts=bin_counts(matrix[:, j], edges).tolist())
        )
    probability = model.predict_proba(frame)
    k = capacity.k(len(frame))
    score_edges = sorted({float(q) for q in np.quantile(probability, SCORE_QUANTILES)})
    top = top_k_mask(probability, k)
    score = ScoreBins(
        edges=score_edges,
        counts=bin_counts(probability, score_edges).tolist(),
        k=k,
        threshold_at_capacity=float(probability[top].min()),
        mean=float(probability.mean()),
    )
    group_columns = (
        list(groups) if groups is not None else [c for c in frame.columns if c.startswith("audit_")]
    )
    shares = {c: group_shares(frame, c, min_group_size=min_group_size) for c in group_columns}
    calibration = realized = error = None
    if label is not None and label in frame.columns and frame[label].notna().all():
        y = frame[label].to_numpy().astype(int)
        checked = probability if check_probability is None else np.asarray(check_probability)
        if checked.shape != probability.shape:
            raise ValueError(
                f"{checked.size} check probabilities for the {probability.size} reference rows"
            )
        calibration, trusted = check_calibration(y, checked, k=k, seed=seed)
        real = realized_performance(y, checked, k=k)
        estimate = estimate_performance(trusted, checked, k=k)
        realized = as_dicts(real)
        error = {m: _finite(estimate[m].value - real[m].value) for m in real if m in estimate}
    as_of = (
        sorted({pd.Timestamp(d).date().isoformat() for d in pd.unique(frame["as_of"])})
        if "as_of" in frame.columns
        else []
    )
    return ReferenceStats(
        source=source,
        as_of=as_of,
        n_rows=len(frame),
        capacity=capacity,
        label_outcome_types=list(label_outcome_types) if label_outcome_types else None,
        horizon_months=horizon_months,
        min_group_size=min_group_size,
        features=features,
        score=score,
        groups=shares,
        multivariate=fit_pca_reference(matrix, seed=seed),
        calibration=calibration,
        realized=realized,
        estimator_error=error,
    )


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


class ReferenceLeakError(ValueError):
    """The reference's checks would use probabilities of a calibrator fitted on its rows."""


def check_held_out(
    reference: pd.DataFrame, calibrated_on: pd.MultiIndex, *, cross_fitted: bool
) -> None:
    """Refuse reference rows the served calibrator saw unless their checks use out-of-fold
    probabilities: the calibration check and the estimator's error would otherwise be
    measured on the calibrator's own training rows (optimistic)."""
    if cross_fitted:
        return
    keys = pd.MultiIndex.from_arrays(
        [reference["family_id"].astype(str), pd.to_datetime(reference["as_of"])]
    )
    seen = keys.isin(calibrated_on)
    if seen.any():
        first = keys[np.flatnonzero(seen)[0]]
        raise ReferenceLeakError(
            f"{int(seen.sum())} of the {len(keys)} reference rows were used to fit the "
            f"calibrator (e.g. family {first[0]} as of {pd.Timestamp(first[1]).date()}) and "
            "no out-of-fold probabilities are given for them; the reference's checks must "
            "rest on probabilities no calibrator that saw the row produced"
        )


def reference_rows(result: Any, test: pd.DataFrame) -> tuple[str, np.ndarray | None]:
    """Why the reference rows (the test slice) are fit to check the registered model on, and
    the out-of-fold probabilities to check with when its calibrator saw them; the statement
    is stored with the statistics and shown in every monitoring report."""
    from training.results import row_keys

    final = result.final
    dates = ", ".join(sorted({str(pd.Timestamp(d).date()) for d in pd.unique(test["as_of"])}))
    if final is None:
        check_held_out(test, row_keys(result.split.calibration), cross_fitted=False)
        return (
            f"the test slice as of {dates}: later than the calibration slice, so neither the "
            "registered model nor its calibrator saw these rows",
            None,
        )
    assert final.calibrated_on is not None
    keys = row_keys(test)
    if not keys.isin(final.calibrated_on).any():
        return (
            f"the test slice as of {dates}: its families are outside the final refit's "
            "training and calibration families (family-disjoint slices)",
            None,
        )
    if final.cross_fitted is not None:
        position = pd.Series(np.arange(len(final.calibrated_on)), index=final.calibrated_on)
        found = position.reindex(keys)
        if found.notna().all():
            check_held_out(test, final.calibrated_on, cross_fitted=True)
            return (
                f"the test slice as of {dates}: the final refit's booster trained on earlier "
                "dates only, its calibrator on these rows; so the calibration check, the "
                "realized performance and the estimator's error use out-of-fold "
                "probabilities (families in 2 folds, each calibrated on the other) that no "
                "calibrator which saw the row produced; the score bins are the served model's",
                final.cross_fitted[found.to_numpy(dtype=int)],
            )
    # a window too small to cross-fit: say so (the check is then optimistic)
    return (
        f"the test slice as of {dates}, NOT held out: the final refit's calibrator was fitted "
        "on these rows and the window was too small to cross-fit, so the calibration check "
        "and the estimator's error on them are optimistic",
        None,
    )


def reference_stats_for(result: Any, reference: pd.DataFrame) -> ReferenceStats:
    """The statistics of the test slice (checked with out-of-fold probabilities where the
    final refit's calibrator saw it, see :func:`reference_rows`): what the training run
    stores as :data:`ARTIFACT_PATH` (:func:`training.registry.log_training_run`)."""
    cfg = result.config
    why, check_probability = reference_rows(result, reference)
    stats = compute_reference_stats(
        reference,
        model=result.risk_model,
        capacity=cfg.capacity,
        source=f"test slice of training ({dt.datetime.now(dt.UTC).date().isoformat()})",
        label_outcome_types=cfg.label.outcome_types,
        horizon_months=cfg.label.horizon_months,
        seed=cfg.seed,
        check_probability=check_probability,
    ).model_copy(update={"rows": why})
    return stats
