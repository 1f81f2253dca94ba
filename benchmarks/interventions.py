"""Benchmark of the selective-labels problem on the deployment synth (issue 24, "reach").

A synthetic registry with a model in service from 2021-01 (``synth --deploy-from``:
monthly flags at ``CAPACITY`` of the families with a minor, caseworkers of differing
leniency, support lowering the case hazard by ``EFFECT``, a 20 % display hold-out) and its
twin, the same seed without the deployment (the same families, records and latent paths;
only supported outcomes differ). Trained on the as-of dates 2021-03-31 .. 2022-12-31,
scored on 2023-03-31 .. 2023-12-31, all with LightGBM as ``earlyrisk train`` fits it:

* **pre-deployment**: trained on the twin, whose labels no support changed;
* **naive**: trained on the deployed registry's rows as recorded;
* **chosen**: the config's default method (``interventions.method: ipw``).

Figures: recall at capacity (top 5 % of the test rows) against the truth without support
(``probability_without_support`` of ``ground_truth.parquet``, so no sampling noise of the
outcomes enters), with the chosen and naive minus pre-deployment; then, on the deployed
test slice, the naive model's ROC AUC on the recorded outcomes, its doubly robust AUC
(:mod:`training.counterfactual`) and its true AUC without support. Targets (issue 24):
naive recall below pre-deployment, chosen within 0.02 of it; doubly robust AUC within 0.02
of the truth while the naive AUC is off by more.

Size: ``$EARLYRISK_BENCH_INTERVENTION_FAMILIES`` (default 20,000). Registries go to
``var/bench/interventions_<n>`` and are reused.

Run: ``.venv/bin/python -m benchmarks.interventions`` (``make bench`` runs all areas).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pandas as pd

FAMILIES = int(os.environ.get("EARLYRISK_BENCH_INTERVENTION_FAMILIES", "20000"))
SEED = 5
DEPLOY = dt.date(2021, 1, 1)
EFFECT = 0.6
CAPACITY = 0.02
CUT = pd.Timestamp("2022-12-31")
DATES = [
    dt.date(year, month, day)
    for year in (2021, 2022, 2023)
    for month, day in ((3, 31), (6, 30), (9, 30), (12, 31))
]


def _registry(deployed: bool) -> Path:
    from features.synth import SynthConfig, synthesize

    out = Path(f"var/bench/interventions_{FAMILIES}_{'deployed' if deployed else 'twin'}")
    if not (out / "ground_truth.parquet").exists():
        config = SynthConfig(
            families=FAMILIES,
            seed=SEED,
            deploy_from=DEPLOY if deployed else None,
            support_effect=EFFECT,
            deploy_capacity=CAPACITY,
        )
        synthesize(config, out, workers=min(2, os.cpu_count() or 1), overwrite=True)
    return out


def _snapshots(raw_dir: Path) -> pd.DataFrame:
    from features.validation import load_validated
    from training.config import TrainConfig
    from training.inputs import build_snapshots

    config = TrainConfig()
    table = build_snapshots(load_validated(raw_dir), config, DATES, n_jobs=1)
    table = table.loc[config.eligibility.mask(table)].reset_index(drop=True)
    table["as_of"] = pd.to_datetime(table["as_of"]).astype("datetime64[ns]")
    truth = pd.read_parquet(raw_dir / "ground_truth.parquet")
    truth["as_of"] = pd.to_datetime(truth["as_of"]).astype("datetime64[ns]")
    truth["family_id"] = truth["family_id"].astype(str)
    table["family_id"] = table["family_id"].astype(str)
    return table.merge(truth[["family_id", "as_of", "true_probability"]], on=["family_id", "as_of"])


def main() -> None:
    from features.catalogue import model_input_columns
    from training.config import LightGBMSpec, TrainConfig
    from training.counterfactual import top_k_mask, truth_metrics
    from training.models import check_model_inputs, fit_lightgbm
    from training.support import read_interventions
    from training.support_training import adjust_for_support, evaluate_without_support

    started = time.perf_counter()
    deployed_dir, twin_dir = _registry(True), _registry(False)
    deployed, twin = _snapshots(deployed_dir), _snapshots(twin_dir)
    prepared = time.perf_counter() - started
    interventions = read_interventions(deployed_dir)
    assert interventions is not None
    config = TrainConfig()
    spec = config.load_model_spec("model")
    assert isinstance(spec, LightGBMSpec)
    names = check_model_inputs(model_input_columns())

    def fit(frame: pd.DataFrame) -> object:
        return fit_lightgbm(
            frame, feature_names=names, spec=spec, seed=config.seed, n_threads=2
        ).model

    train = deployed.loc[deployed["as_of"] <= CUT].reset_index(drop=True)
    test = deployed.loc[deployed["as_of"] > CUT].reset_index(drop=True)
    adjustment = adjust_for_support(train, interventions, config=config, feature_names=names)
    models = {
        "pre-deployment": fit(twin.loc[twin["as_of"] <= CUT].reset_index(drop=True)),
        "naive": fit(train),
        f"chosen ({config.interventions.method})": fit(adjustment.frame),
    }
    truth = test["true_probability"].to_numpy()
    k = config.capacity.k(len(test))
    print(
        f"deployment synth: {FAMILIES:,} families, support from {DEPLOY:%Y-%m}, effect "
        f"{EFFECT:.0%}, capacity {CAPACITY:.0%} a month; {len(train):,} training rows "
        f"({adjustment.rows.n_treated:,} with support in the window), {len(test):,} test "
        f"rows, capacity k = {k:,}; data prepared in {prepared:.0f} s"
    )
    print(f"training rows: {adjustment.describe()}")
    scores = {name: model.predict_proba(test) for name, model in models.items()}  # type: ignore[attr-defined]
    recall = {name: truth_metrics(s, truth, k=k)["recall_at_k"] for name, s in scores.items()}
    reference = recall["pre-deployment"]
    print("\nrecall at capacity on the no-support truth (test slice)")
    for name, value in recall.items():
        delta = value - reference
        print(f"  {name:28s} {value:.4f}  minus pre-deployment {delta:+.4f}")
    chosen_name = next(n for n in recall if n.startswith("chosen"))
    naive_below = recall["naive"] < reference
    chosen_close = abs(recall[chosen_name] - reference) <= 0.02
    print(
        f"  target: naive below pre-deployment: {'met' if naive_below else 'NOT met'}; "
        f"chosen within 0.02: {'met' if chosen_close else 'NOT met'}"
    )

    evaluation = evaluate_without_support(
        test,
        main_score=scores["naive"],
        others={},
        interventions=interventions,
        config=config.model_copy(
            update={"evaluation": config.evaluation.model_copy(update={"n_bootstrap": 100})}
        ),
        feature_names=names,
        k=k,
        groups=[],
        truth=truth,
        main="naive",
    )
    auc_truth = evaluation.truth["roc_auc"]
    auc_dr = evaluation.doubly_robust["roc_auc"]
    auc_naive = evaluation.naive["roc_auc"]
    print(
        f"\nROC AUC of the naive model on the deployed test slice ({evaluation.n_treated:,} "
        "rows with support in the window)"
    )
    print(f"  truth without support       {auc_truth:.4f}")
    print(f"  doubly robust               {auc_dr}  minus truth {auc_dr.estimate - auc_truth:+.4f}")
    print(
        f"  naive (recorded outcomes)   {auc_naive}  minus truth "
        f"{auc_naive.estimate - auc_truth:+.4f}"
    )
    dr_close = abs(auc_dr.estimate - auc_truth) <= 0.02
    naive_off = abs(auc_naive.estimate - auc_truth) > abs(auc_dr.estimate - auc_truth)
    print(
        f"  target: doubly robust within 0.02 of the truth: {'met' if dr_close else 'NOT met'}; "
        f"naive off by more: {'met' if naive_off else 'NOT met'}"
    )
    top = top_k_mask(scores["naive"], k)
    print(
        f"  recall at capacity: truth {truth[top].sum() / truth.sum():.4f}, doubly robust "
        f"{evaluation.doubly_robust['recall_at_k']}, naive {evaluation.naive['recall_at_k']}"
    )
    print(f"  {evaluation.positivity.describe()}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
