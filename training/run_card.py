"""The model card of one training run: its facts gathered from a :class:`TrainResult`.

:mod:`training.model_card` defines the card (its facts, fixed texts and rendering) from
plain facts; this module reads a finished run for them: metrics of the held-out design,
the data the registered model saw, the fairness audit, the gates and waivers, and the
caseworker-facing facts of :mod:`training.caseworker_facts`. It sits above all of those
(each imports none of it), so the card never needs the pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

from training.caseworker_facts import caseworker_card_fields
from training.gates import gate_facts, waiver_facts
from training.model_card import (
    DataFacts,
    GateFact,
    MetricFact,
    ModelCardFacts,
    build_model_card,
    fairness_facts_from_audit,
    write_model_card,
)
from training.results import MAIN, TrainResult
from training.support_report import card_metric_facts, card_support_text


def model_card_facts(result: TrainResult) -> ModelCardFacts:
    """The facts of one training run for :func:`build_model_card`.

    Metrics are those of the held-out design (and, per origin, of the backtest); the data
    facts say which data the registered model (the final refit) was trained and calibrated on.
    """
    import datetime as dt

    cfg = result.config
    ev = result.evaluation
    info = result.split.info
    metrics = []
    for name, model_eval in ev.models.items():
        for metric in ("roc_auc", "pr_auc", "brier", "ece", "precision_at_k", "lift_at_k"):
            iv = model_eval.metrics[metric]
            metrics.append(
                MetricFact(
                    name=metric if name == MAIN else f"{metric} ({name} baseline)",
                    value=iv.estimate,
                    lower=iv.low,
                    upper=iv.high,
                    note=None if name == MAIN else "baseline, same test slice",
                )
            )
    if ev.oracle:
        iv = ev.oracle["roc_auc"]
        metrics.append(
            MetricFact(
                name="roc_auc (oracle: true probabilities)",
                value=iv.estimate,
                lower=iv.low,
                upper=iv.high,
                note="ceiling on synthetic data",
            )
        )
    for key, value in ev.models[MAIN].truth.items():
        metrics.append(MetricFact(name=f"{key} (synthetic truth)", value=value))
    if result.backtest is not None:
        for origin in result.backtest.origins[1:]:
            iv = origin.evaluation.models[MAIN].metrics["roc_auc"]
            metrics.append(
                MetricFact(
                    name="roc_auc",
                    value=iv.estimate,
                    lower=iv.low,
                    upper=iv.high,
                    split=f"backtest origin {origin.origin} "
                    f"(test as of {', '.join(d.isoformat() for d in origin.design.test)})",
                    note="same hyperparameters, refitted at that origin",
                )
            )
    outcomes = result.fairness_outcomes if cfg.gates.fairness is not None else None
    fairness = None
    if result.audit is not None:
        fairness = fairness_facts_from_audit(result.audit, outcomes, protected=result.protected)
    slices = [*info, *((result.final.train, result.final.calibration) if result.final else ())]
    first = min(d for i in slices for d in i.as_of)
    last = max(d for i in slices for d in i.window_end)
    calibration = result.calibration[MAIN].method
    design: list[str] = []
    if result.plan is not None:
        design.append(f"design from the {result.plan.source}: {result.plan.evaluation.describe()}")
        design += list(result.plan.warnings)
    design.append(
        "evaluated on the held-out design: "
        + "; ".join(
            f"{i.name} as of {', '.join(d.isoformat() for d in i.as_of)} ({i.n_rows:,} rows)"
            for i in info
        )
    )
    if result.final is not None:
        design.append(
            "registered model refitted on the most recent labelled data: trained as of "
            f"{', '.join(d.isoformat() for d in result.final.train.as_of)} "
            f"({result.final.train.n_rows:,} rows), recalibrated as of "
            f"{', '.join(d.isoformat() for d in result.final.calibration.as_of)} "
            f"({result.final.calibration.n_rows:,} rows)"
        )
    design.append(
        "slices are family-disjoint"
        if result.split.family_disjoint
        else "slices are separated in time; a family may appear at several dates"
    )
    return ModelCardFacts(
        model_name=result.model_name or cfg.mlflow.model_name,
        model_version=result.model_version or None,
        alias=result.alias or None,
        run_id=result.run_id or None,
        created_at=dt.datetime.now(dt.UTC),
        model_type=f"LightGBM gradient-boosted trees, {calibration}-calibrated on a later slice",
        model_description=(
            f"Probability of {' or '.join(cfg.label.outcome_types)} within "
            f"{cfg.label.horizon_months} months, from point-in-time family indicators; "
            f"best of {len(result.fit.tuning)} tuning candidate(s), "
            f"{result.fit.best_iteration} trees"
        ),
        features=list(result.risk_model.feature_names),
        capacity=f"{cfg.capacity.describe()} ({ev.capacity_k} families on the test slice)",
        data=DataFacts(
            source=str(cfg.raw_dir) if cfg.raw_dir else "feature table",
            synthetic=bool(ev.oracle),
            period=f"{first.isoformat()} .. {last.isoformat()}",
            n_families=len(
                {
                    fid
                    for frame in (
                        result.split.train,
                        result.split.calibration,
                        result.split.test,
                    )
                    for fid in frame["family_id"]
                }
            ),
            rows_per_split={i.name: i.n_rows for i in info},
            label_definition=(
                f"any {' or '.join(cfg.label.outcome_types)} recorded for the family within "
                f"{cfg.label.horizon_months} months after the as-of date"
            ),
            horizon_months=cfg.label.horizon_months,
            raw_sha256=result.fingerprints.get("raw_sha256"),
            feature_list_sha256=result.fingerprints.get("feature_list_sha256"),
            eligibility=result.eligibility_rule.describe(),
            design=design,
            corrections=describe_corrections(result.fingerprints.get("corrections")),
        ),
        metrics=metrics + [MetricFact(**fact) for fact in card_metric_facts(result)],
        support_method=card_support_text(result),
        fairness=fairness,
        gates=[GateFact(**g) for g in gate_facts(result.decision)],
        waivers=waiver_facts(cfg.gates)[0],
        allowed_proxies=waiver_facts(cfg.gates)[1],
        limitations=[
            f"Evaluated on {ev.n_rows} test families with {ev.n_positive} outcomes; intervals "
            "are wide when outcomes are few.",
        ],
        **caseworker_card_fields(result),
    )


def write_card(result: TrainResult, directory: Path) -> tuple[Path, Path]:
    """Build the model card of this run and write ``model_card.json`` and ``.md``."""
    return write_model_card(build_model_card(model_card_facts(result)), directory)


def describe_corrections(fact: str | None) -> str | None:
    """The model card's sentence on corrected records, from the pipeline's fact (JSON)."""
    if not fact:
        return None
    data = json.loads(fact)
    how = (
        "rewrite history (a voided record never trained the model; an amended one was used "
        "as corrected at every date)"
        if data.get("mode") == "rewrite_history"
        else "apply from their decided date (a snapshot before the decision saw the original "
        "record)"
    )
    count = int(data.get("records_corrected", 0))
    return (
        f"Accepted corrections of records {how}; {count:,} record(s) corrected "
        f"({int(data.get('voided', 0)):,} voided, {int(data.get('amended', 0)):,} amended)."
    )
