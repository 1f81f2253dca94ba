"""What the model card tells caseworkers and the ministry about reasons and risk levels.

Two facts of a training run that are about how the score is *shown*, not how it is fitted:

* **Risk bands** (design rule 11's companion): the cut-offs the service derives from the
  calibrated probability and the caseworkers' capacity (:func:`training.risk_bands.derive_bands`),
  set here on the test slice with the run's capacity, and audited per group at each band's
  lower bound, like the top-k rule: what share of each group is ``high`` (and ``elevated``
  or higher), and how often those flags were right.
* **What using help as a predictor buys**: support received (benefits, centre visits,
  social-service contacts) is shown as context, never as a reason that raises the risk,
  because reading help as a mark against a family would punish asking for it. Yet the
  model still uses it. So the same training procedure is run without the support inputs
  and both models' ROC AUC and precision at capacity are reported on the same test rows.

:func:`caseworker_card_fields` is the one call :func:`training.run_card.model_card_facts`
makes; it returns keyword arguments for :class:`training.model_card.ModelCardFacts`. Both
facts use the model of the held-out design (``TrainResult.evaluated_model``, the one the
card's metrics describe), not the final refit, which may have been trained on the test
slice; the test slice holds eligible families only, so the bands are set on the same
population as the service's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import roc_auc_score

from training.model_card import (
    REASON_POLICY,
    BandAuditFact,
    BandFact,
    RiskBandFacts,
    SupportAblationFacts,
)

if TYPE_CHECKING:
    import pandas as pd

    from training.calibration import CalibrationResult
    from training.config import TrainConfig
    from training.models import LightGBMFit
    from training.results import TrainResult
    from training.risk_model import LightGBMRiskModel
    from training.splits import TemporalSplit

ELEVATED_RATIO = 2.0


def support_inputs(feature_names: list[str]) -> list[str]:
    """The model inputs the catalogue marks as support received."""
    from features.catalogue import FEATURES

    return [n for n in feature_names if FEATURES[n].kind == "support"]


def band_facts(
    test: pd.DataFrame,
    probability: np.ndarray,
    *,
    capacity_count: int | None,
    capacity_fraction: float | None,
    groups: list[str],
    min_group_size: int,
) -> RiskBandFacts:
    """Bands set on the test slice's calibrated probabilities, and their per-group audit."""
    from training.risk_bands import derive_bands

    bands = derive_bands(
        probability,
        capacity_count=capacity_count,
        capacity_fraction=capacity_fraction,
        elevated_ratio=ELEVATED_RATIO,
    )
    y = test["label"].to_numpy(dtype=int)
    audits: list[BandAuditFact] = []
    for level in ("high", "elevated"):
        cut = bands.cutoffs()[level]
        flagged = probability >= cut
        for attribute in groups:
            values = test[attribute].astype("string").fillna("(missing)").to_numpy()
            for group in sorted(set(values)):
                mask = values == group
                n = int(mask.sum())
                if n < min_group_size:
                    continue  # small groups are suppressed, as in the fairness audit
                picked = flagged[mask]
                positives = y[mask] == 1
                audits.append(
                    BandAuditFact(
                        band=f"{level} or higher" if level == "elevated" else level,
                        attribute=attribute,
                        group=str(group),
                        n=n,
                        flagged_share=float(picked.mean()),
                        precision=float(positives[picked].mean()) if picked.any() else None,
                        recall=float(picked[positives].mean()) if positives.any() else None,
                    )
                )
    return RiskBandFacts(
        rule=(
            f"high: the families with the highest calibrated probability, at most the "
            f"capacity ({bands.capacity} of {bands.population} eligible families on the "
            f"test slice); elevated: at least {ELEVATED_RATIO:g} x the average probability "
            f"({bands.base_rate:.4f}); low: the rest. The service sets the same rule on the "
            "population it serves (EARLYRISK_CAPACITY_COUNT / _FRACTION)."
        ),
        bands=[
            BandFact(
                level=b.level,
                min_probability=b.min_probability,
                max_probability=b.max_probability,
                families=b.families,
            )
            for b in bands.bands
        ],
        audit=audits,
    )


def support_ablation(result: TrainResult) -> SupportAblationFacts:
    """The run's :class:`SupportAblationFacts`: computed during the run when it logs to
    MLflow (:func:`training.pipeline.run_training` fits it beside the report), else now."""
    if result.support_ablation is not None:
        return result.support_ablation
    return fit_support_ablation(
        config=result.config,
        split=result.split,
        fit=result.fit,
        calibration=result.calibration,
        evaluated_model=result.evaluated_model,
    )


def fit_support_ablation(
    *,
    config: TrainConfig,
    split: TemporalSplit,
    fit: LightGBMFit,
    calibration: dict[str, CalibrationResult],
    evaluated_model: LightGBMRiskModel,
) -> SupportAblationFacts:
    """Refit the run's model (its tuned hyperparameters, the same slices, seed and
    calibration choice) without the support inputs; AUC and precision at capacity of both
    on the same test rows.

    The tuning grid is not searched again: the hyperparameters the held-out fit chose are
    fixed, and only the number of rounds is found anew by early stopping on the same
    held-out training families (the inputs differ, so the best round can too). One fit
    instead of the whole grid; the question is what the support inputs add to this model.
    It needs only what the held-out design chose, so the pipeline runs it in a background
    thread while the reports are drawn.
    """
    from training.config import LightGBMSpec
    from training.evaluation import capacity_metrics
    from training.models import fit_lightgbm, score_rows
    from training.refit import recalibrate
    from training.results import MAIN

    names = list(evaluated_model.feature_names)
    support = support_inputs(names)
    kept = [n for n in names if n not in support]
    test = split.test
    y = test["label"].to_numpy(dtype=int)
    k = config.capacity.k(len(test))
    spec = config.load_model_spec("model")
    if not isinstance(spec, LightGBMSpec):
        raise TypeError(
            f"the support comparison refits a LightGBM model, not {type(spec).__name__}"
        )
    tuned = {name: fit.params[name] for name in spec.tune if name in fit.params}
    fixed = spec.model_copy(update={"params": {**spec.params, **tuned}, "tune": {}})
    without_fit = fit_lightgbm(
        split.train,
        feature_names=kept,
        spec=fixed,
        seed=config.seed,
        n_threads=config.lightgbm_threads,
    )
    # the calibration method the run chose, refitted on the same calibration slice
    method = calibration[MAIN].method if MAIN in calibration else "isotonic"
    without = recalibrate(without_fit.model, split.calibration, method=method)

    def figures(model: Any) -> tuple[float, float]:
        scored = score_rows(model, test)
        auc = float(roc_auc_score(y, scored.probability)) if 0 < y.sum() < len(y) else float("nan")
        return auc, capacity_metrics(y, scored.rank_score, k=k)["precision_at_k"]

    auc_with, precision_with = figures(evaluated_model)
    auc_without, precision_without = figures(without)
    return SupportAblationFacts(
        support_inputs=support,
        capacity_k=k,
        roc_auc_with=auc_with,
        roc_auc_without=auc_without,
        precision_at_k_with=precision_with,
        precision_at_k_without=precision_without,
    )


def caseworker_card_fields(result: TrainResult) -> dict[str, Any]:
    """Keyword arguments of ModelCardFacts: reason policy, bands with their audit, and the
    model without support inputs."""
    cfg = result.config
    test = result.split.test
    probability = result.evaluated_model.predict_proba(test)
    groups = [c for c in test.columns if c.startswith("audit_")]
    if cfg.audit_groups is not None:
        groups = [g for g in cfg.audit_groups if g in test.columns]
    min_group_size = 11
    if result.audit is not None:
        min_group_size = int(result.audit.min_group_size)
    return {
        "reason_policy": list(REASON_POLICY),
        "risk_bands": band_facts(
            test,
            probability,
            capacity_count=cfg.capacity.count,
            capacity_fraction=cfg.capacity.fraction,
            groups=groups,
            min_group_size=min_group_size,
        ),
        "support_ablation": support_ablation(result),
    }
