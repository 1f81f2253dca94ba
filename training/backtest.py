"""Rolling-origin backtest: the same design evaluated at several origins.

One held-out slice can be lucky. The backtest moves the whole design (train, calibration and
test dates) back one step at a time and, at each earlier origin, fits the model with the
hyperparameters chosen on the held-out design, calibrates it with the chosen method on that
origin's calibration slice and evaluates it on that origin's test slice, beside the
well-being index (which needs no fitting). Each metric gets its bootstrap interval per
origin, so a data scientist sees whether the model is stable over time.

Origin 0 is the held-out design itself (its evaluation is reused, not recomputed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from training.config import LogisticSpec, TrainConfig
from training.design import Design
from training.evaluation import Evaluation, evaluate
from training.models import LightGBMFit, RuleBaseline, fit_logistic, score_rows
from training.pooled_evidence import OriginScores
from training.refit import fit_chosen, recalibrate
from training.splits import temporal_split

BACKTEST_METRICS: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "precision_at_k",
    "recall_at_k",
    "brier",
    "ece",
)


@dataclass(frozen=True)
class OriginResult:
    """One origin: its design, slice sizes and the evaluation on its test slice."""

    origin: int  # 0: the held-out design; 1, 2, ...: one step earlier each
    design: Design
    n_train_rows: int
    n_calibration_rows: int
    evaluation: Evaluation
    # every model's scores on the origin's test rows (the pooled baseline margins read them)
    scores: OriginScores | None = None


@dataclass(frozen=True)
class Backtest:
    """Every origin's evaluation, latest first."""

    origins: tuple[OriginResult, ...]
    requested: int
    main: str

    def table(self) -> pd.DataFrame:
        """One row per origin: test date, size, and each metric's estimate, low and high."""
        rows = []
        for o in self.origins:
            ev = o.evaluation
            row: dict[str, object] = {
                "origin": o.origin,
                "test_as_of": ", ".join(d.isoformat() for d in o.design.test),
                "calibration_as_of": ", ".join(d.isoformat() for d in o.design.calibration),
                "train_as_of": ", ".join(d.isoformat() for d in o.design.train),
                "train_rows": o.n_train_rows,
                "test_rows": ev.n_rows,
                "test_outcomes": ev.n_positive,
            }
            for model, model_ev in ev.models.items():
                for m in BACKTEST_METRICS:
                    iv = model_ev.metrics[m]
                    row[f"{model}.{m}"] = iv.estimate
                    row[f"{model}.{m}.low"] = iv.low
                    row[f"{model}.{m}.high"] = iv.high
            rows.append(row)
        return pd.DataFrame(rows)

    def auc_range(self) -> tuple[float, float]:
        """Lowest and highest ROC AUC of the main model over the origins."""
        aucs = [o.evaluation.models[self.main].metrics["roc_auc"].estimate for o in self.origins]
        return float(min(aucs)), float(max(aucs))


def run_backtest(
    table: pd.DataFrame,
    origins: Sequence[Design],
    *,
    held_out: Evaluation,
    held_out_rows: tuple[int, int],
    chosen: LightGBMFit,
    calibration_method: str,
    feature_names: Sequence[str],
    config: TrainConfig,
    main: str,
    rule: str,
    n_threads: int,
    held_out_scores: OriginScores | None = None,
    logistic: tuple[str, LogisticSpec, str] | None = None,
) -> Backtest:
    """Evaluate the design at every origin (``origins[0]`` is the held-out design).

    ``logistic`` (name, spec, calibration method) also fits the logistic baseline at each
    earlier origin, so the baseline margins can be pooled over the origins
    (:mod:`training.pooled_evidence`); ``held_out_scores`` are origin 0's.
    """
    earlier = evaluate_earlier_origins(
        table,
        origins[1:],
        chosen=chosen,
        calibration_method=calibration_method,
        feature_names=feature_names,
        config=config,
        main=main,
        rule=rule,
        n_threads=n_threads,
        logistic=logistic,
    )
    return assemble_backtest(
        origins[0],
        earlier,
        held_out=held_out,
        held_out_rows=held_out_rows,
        config=config,
        main=main,
        held_out_scores=held_out_scores,
    )


def assemble_backtest(
    design: Design,
    earlier: Sequence[OriginResult],
    *,
    held_out: Evaluation,
    held_out_rows: tuple[int, int],
    config: TrainConfig,
    main: str,
    held_out_scores: OriginScores | None = None,
) -> Backtest:
    """The backtest: the held-out design as origin 0, then the earlier origins."""
    first = OriginResult(
        origin=0,
        design=design,
        n_train_rows=held_out_rows[0],
        n_calibration_rows=held_out_rows[1],
        evaluation=held_out,
        scores=held_out_scores,
    )
    return Backtest(origins=(first, *earlier), requested=config.backtest.origins, main=main)


def evaluate_earlier_origins(
    table: pd.DataFrame,
    designs: Sequence[Design],
    *,
    chosen: LightGBMFit,
    calibration_method: str,
    feature_names: Sequence[str],
    config: TrainConfig,
    main: str,
    rule: str,
    n_threads: int,
    logistic: tuple[str, LogisticSpec, str] | None = None,
) -> list[OriginResult]:
    """Fit, calibrate and evaluate at each earlier origin (``designs[0]`` is origin 1).

    With ``logistic`` (name, spec, calibration method) the logistic baseline is refitted
    and scored at each origin too (the pooled baseline margins read it).

    Needs only what the held-out design chose (hyperparameters, rounds, calibration
    method), not its evaluation, so the pipeline runs it while the held-out slice is being
    evaluated and audited.
    """
    results: list[OriginResult] = []
    slices = config.slices
    for i, design in enumerate(designs, start=1):
        split = temporal_split(
            table,
            slices=design,
            horizon_months=config.label.horizon_months,
            family_disjoint=slices.family_disjoint,
            fractions=slices.family_fractions,
            salt=slices.salt,
        )
        model = fit_chosen(
            split.train, feature_names=feature_names, chosen=chosen, n_threads=n_threads
        )
        model = recalibrate(model, split.calibration, method=calibration_method)
        baseline = recalibrate(RuleBaseline(), split.calibration, method="isotonic")
        fitted: list[tuple[str, Any]] = [(main, model), (rule, baseline)]
        if logistic is not None:
            name, spec, method = logistic
            linear = fit_logistic(
                split.train, feature_names=feature_names, spec=spec, seed=config.seed
            )
            fitted.insert(1, (name, recalibrate(linear, split.calibration, method=method)))
        test = split.test
        scored = {name: score_rows(m, test) for name, m in fitted}
        evaluation = evaluate(
            test["label"].to_numpy(dtype=int),
            scored,
            k=config.capacity.k(len(test)),
            main=main,
            n_bootstrap=config.backtest.n_bootstrap,
            confidence_level=config.evaluation.confidence_level,
            n_bins=config.evaluation.n_bins,
            seed=config.seed,
            groups=test["family_id"].to_numpy(),
        )
        results.append(
            OriginResult(
                origin=i,
                design=design,
                n_train_rows=len(split.train),
                n_calibration_rows=len(split.calibration),
                evaluation=evaluation,
                scores=OriginScores(
                    label=test["label"].to_numpy(dtype=int),
                    family_ids=test["family_id"].to_numpy(),
                    k=config.capacity.k(len(test)),
                    scored=scored,
                ),
            )
        )
    return results
