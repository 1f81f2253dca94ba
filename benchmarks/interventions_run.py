"""One run of the interventions benchmark: a deployment synth, its twin, three models.

A *scenario* is a size, a seed and the deployment's knobs. Its registries (the deployed one
and its twin, the same seed without the deployment: the same families, records and latent
paths, only supported outcomes differ) are generated once under ``var/bench`` and reused.
:func:`run` trains, on the as-of dates 2021-03-31 .. 2022-12-31, LightGBM as ``earlyrisk
train`` fits it:

* **pre-deployment**: on the twin, whose labels no support changed;
* **naive**: on the deployed registry's rows as recorded;
* **chosen**: on the rows the config's method (``interventions.method``) keeps and weights;

and scores the deployed registry's 2023 quarter ends (the test slice). Recall at capacity
is measured against the truth *without support* (the ground truth's
``probability_without_support``: no sampling noise of outcomes enters), with a
family-bootstrap interval of each model's difference from the pre-deployment model (paired:
the same resampled families for both). The naive model's ROC AUC on the test slice is
then estimated from the recorded outcomes (naive) and doubly robustly
(:mod:`training.counterfactual`), each with its family-bootstrap interval, beside two
truths without support:

* **expected**: the AUC against ``probability_without_support`` (over the outcomes'
  randomness);
* **realized**: the AUC against the same families' outcomes in the twin, which are the
  deployed registry's outcome draws with nothing thinned (the synth removes supported
  cases from one draw; an unsupported row's label is the same in both). Both estimates are
  computed from one draw of outcomes, so against the expected truth their error includes
  that draw's luck (about +-0.01 at 20,000 families), against the realized one it is the
  estimator's own.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.interventions_power import TOLERANCE
from training.evaluation import Interval

CUT = pd.Timestamp("2022-12-31")
DATES = [
    dt.date(year, month, day)
    for year in (2021, 2022, 2023)
    for month, day in ((3, 31), (6, 30), (9, 30), (12, 31))
]
DEPLOY = dt.date(2021, 1, 1)


@dataclass(frozen=True)
class Scenario:
    """A deployment synth to measure on: size, seed and the deployment's knobs."""

    families: int
    seed: int
    effect: float
    capacity: float
    support_months: int = 12
    acceptance: float = 0.8
    leniency: tuple[float, float] = (0.45, 0.95)

    def registry(self, *, deployed: bool) -> Path:
        """Where the scenario's registry lives (generated on first use). The twin has no
        deployment, so it depends on the size and the seed alone and is shared."""
        if not deployed:
            return Path(f"var/bench/interventions_{self.families}_s{self.seed}_twin")
        low, high = self.leniency
        return Path(
            f"var/bench/interventions_{self.families}_s{self.seed}_e{self.effect:g}"
            f"_c{self.capacity:g}_m{self.support_months}_a{self.acceptance:g}"
            f"_l{low:g}-{high:g}_deployed"
        )

    def label(self) -> str:
        return f"{self.families:,} families, seed {self.seed}"


@dataclass(frozen=True)
class RunResult:
    """The figures of one scenario and whether each target of issue 24 is met."""

    scenario: Scenario
    n_train: int
    n_test: int
    n_treated_test: int
    k: int
    method: str
    recall: dict[str, float]  # model -> recall at capacity on the no-support truth
    recall_vs_pre: dict[str, Interval]  # model -> paired difference from pre-deployment
    auc_truth: float  # expected, against the no-support probabilities
    auc_realized: float  # against the twin's outcomes (the same draws, nothing thinned)
    auc_doubly_robust: Interval
    auc_naive: Interval
    positivity: str
    seconds: float

    def targets(self) -> dict[str, bool]:
        """The four targets: naive recall clearly below pre-deployment (its paired interval
        below 0), the chosen method's within 0.02 of it, the doubly robust AUC within 0.02
        of the expected and of the realized truth, the naive AUC off both by more."""
        naive = self.recall_vs_pre["naive"]
        chosen = self.recall_vs_pre["chosen"]
        truths = (self.auc_truth, self.auc_realized)
        dr_error = max(abs(self.auc_doubly_robust.estimate - t) for t in truths)
        naive_error = min(abs(self.auc_naive.estimate - t) for t in truths)
        return {
            "naive recall clearly below pre-deployment": naive.high < 0.0,
            "chosen recall within 0.02 of pre-deployment": abs(chosen.estimate) <= TOLERANCE,
            "doubly robust AUC within 0.02 of both truths": dr_error <= TOLERANCE,
            "naive AUC off both by more than 0.02": naive_error > TOLERANCE,
        }


def generate(scenario: Scenario, *, deployed: bool) -> Path:
    """The scenario's registry, synthesized unless it is already there."""
    from features.synth import SynthConfig, synthesize

    out = scenario.registry(deployed=deployed)
    if not (out / "ground_truth.parquet").exists():
        config = SynthConfig(
            families=scenario.families,
            seed=scenario.seed,
            deploy_from=DEPLOY if deployed else None,
            support_effect=scenario.effect,
            deploy_capacity=scenario.capacity,
            deploy_support_months=scenario.support_months,
            deploy_acceptance=scenario.acceptance,
            deploy_leniency=scenario.leniency,
        )
        synthesize(config, out, workers=min(2, os.cpu_count() or 1), overwrite=True)
    return out


def snapshots(raw_dir: Path) -> pd.DataFrame:
    """Eligible snapshot rows of the benchmark's dates with their no-support truth."""
    from features.validation import load_validated
    from training.config import TrainConfig
    from training.inputs import build_snapshots

    config = TrainConfig()
    table = build_snapshots(load_validated(raw_dir), config, DATES, n_jobs=1)
    table = table.loc[config.eligibility.mask(table)].reset_index(drop=True)
    table["as_of"] = pd.to_datetime(table["as_of"]).astype("datetime64[ns]")
    table["family_id"] = table["family_id"].astype(str)
    truth = pd.read_parquet(raw_dir / "ground_truth.parquet")
    truth["as_of"] = pd.to_datetime(truth["as_of"]).astype("datetime64[ns]")
    truth["family_id"] = truth["family_id"].astype(str)
    column = (
        "probability_without_support"
        if "probability_without_support" in truth.columns
        else "true_probability"
    )
    truth = truth.rename(columns={column: "no_support_truth"})
    return table.merge(truth[["family_id", "as_of", "no_support_truth"]], on=["family_id", "as_of"])


def paired_recall_difference(
    score: np.ndarray,
    reference: np.ndarray,
    truth: np.ndarray,
    *,
    k: int,
    resamples: np.ndarray,
) -> Interval:
    """Recall at capacity of ``score`` minus that of ``reference`` on the truth, with the
    percentile interval over the same family resamples (the flagged rows held fixed)."""
    from training.counterfactual import capacity_figures, top_k_mask
    from training.evaluation import percentile_interval

    top, top_ref = top_k_mask(score, k), top_k_mask(reference, k)
    point = capacity_figures(top, truth)[1] - capacity_figures(top_ref, truth)[1]
    samples = np.array(
        [
            capacity_figures(top, truth, w)[1] - capacity_figures(top_ref, truth, w)[1]
            for w in resamples.astype(float)
        ]
    )
    return percentile_interval(point, samples, 0.95)


def run(scenario: Scenario, *, n_bootstrap: int = 200) -> RunResult:
    """Train the three models of ``scenario`` and measure them (see the module)."""
    import time

    from features.catalogue import model_input_columns
    from training.config import LightGBMSpec, TrainConfig
    from training.counterfactual import truth_metrics, weighted_auc
    from training.evaluation import bootstrap_weights
    from training.models import check_model_inputs, fit_lightgbm
    from training.support import read_interventions
    from training.support_training import adjust_for_support, evaluate_without_support

    started = time.perf_counter()
    deployed_dir = generate(scenario, deployed=True)
    twin_dir = generate(scenario, deployed=False)
    deployed, twin = snapshots(deployed_dir), snapshots(twin_dir)
    interventions = read_interventions(deployed_dir)
    if interventions is None:
        raise RuntimeError(f"{deployed_dir} holds no interventions table; regenerate it")
    base = TrainConfig()
    config = base.model_copy(
        update={
            "interventions": base.interventions.model_copy(
                update={"support_months": scenario.support_months}
            )
        }
    )
    spec = config.load_model_spec("model")
    assert isinstance(spec, LightGBMSpec)
    names = check_model_inputs(model_input_columns())

    def fit(frame: pd.DataFrame) -> object:
        return fit_lightgbm(
            frame, feature_names=names, spec=spec, seed=config.seed, n_threads=2
        ).model

    train = deployed.loc[deployed["as_of"] <= CUT].reset_index(drop=True)
    test = deployed.loc[deployed["as_of"] > CUT].reset_index(drop=True)
    realized = test.merge(
        twin[["family_id", "as_of", "label"]].rename(columns={"label": "twin_label"}),
        on=["family_id", "as_of"],
        how="left",
    )["twin_label"]
    if realized.isna().any():
        raise RuntimeError(
            f"{int(realized.isna().sum())} test rows of {deployed_dir} have no row in the twin "
            f"{twin_dir}: not the same seed and families"
        )
    adjustment = adjust_for_support(train, interventions, config=config, feature_names=names)
    models = {
        "pre-deployment": fit(twin.loc[twin["as_of"] <= CUT].reset_index(drop=True)),
        "naive": fit(train),
        "chosen": fit(adjustment.frame),
    }
    scores = {name: model.predict_proba(test) for name, model in models.items()}  # type: ignore[attr-defined]
    truth = test["no_support_truth"].to_numpy(dtype=float)
    k = config.capacity.k(len(test))
    recall = {name: truth_metrics(s, truth, k=k)["recall_at_k"] for name, s in scores.items()}
    resamples = bootstrap_weights(
        np.random.default_rng(scenario.seed),
        n_bootstrap,
        len(test),
        groups=test["family_id"].to_numpy(),
    )
    recall_vs_pre = {
        name: paired_recall_difference(
            scores[name], scores["pre-deployment"], truth, k=k, resamples=resamples
        )
        for name in ("naive", "chosen")
    }
    evaluation = evaluate_without_support(
        test,
        main_score=scores["naive"],
        others={},
        interventions=interventions,
        config=config.model_copy(
            update={"evaluation": config.evaluation.model_copy(update={"n_bootstrap": n_bootstrap})}
        ),
        feature_names=names,
        k=k,
        groups=[],
        truth=truth,
        main="naive",
    )
    return RunResult(
        scenario=scenario,
        n_train=len(train),
        n_test=len(test),
        n_treated_test=evaluation.n_treated,
        k=k,
        method=config.interventions.method,
        recall=recall,
        recall_vs_pre=recall_vs_pre,
        auc_truth=evaluation.truth["roc_auc"],
        auc_realized=weighted_auc(scores["naive"], realized.to_numpy(dtype=float)),
        auc_doubly_robust=evaluation.doubly_robust["roc_auc"],
        auc_naive=evaluation.naive["roc_auc"],
        positivity=evaluation.positivity.describe(),
        seconds=time.perf_counter() - started,
    )
