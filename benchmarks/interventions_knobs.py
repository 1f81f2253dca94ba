"""How the interventions benchmark's deployment was chosen: the naive AUC's bias per knob.

The benchmark (:mod:`benchmarks.interventions`) needs a deployment whose support moves the
naive ROC AUC clearly past 0.02. Training three models per candidate costs minutes, so
candidates are compared here on the synth's output alone, at one size and seed: for each
deployment, its registry and the twin (the same seed without a deployment) are
synthesized, every family with a minor is labelled at the 2023 quarter ends (a case or
placement within 12 months, from each registry's outcomes), and a stand-in score of a
trained model's quality (the truth's no-support log-odds plus normal noise of sd 1: AUC
about 0.62 against the truth, the trained model's 0.64) is evaluated on the deployed
registry's labels and on the twin's. Their difference is the bias of the naive
evaluation for that deployment; the oracle score (no noise) is printed beside it.

Run: ``python -m benchmarks.interventions_knobs [FAMILIES [SEED]]`` (default 10,000 and 5;
registries under ``var/bench/knobs_*``). Not part of ``make bench``: a design aid, whose
figures are quoted in docs/interventions.md section 5.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

QUALIFYING = ("child_protection_case", "child_placed_in_care")


@dataclass(frozen=True)
class Candidate:
    """One deployment to compare."""

    effect: float
    capacity: float
    months: int
    acceptance: float = 0.8
    leniency: tuple[float, float] = (0.45, 0.95)

    def label(self) -> str:
        low, high = self.leniency
        return (
            f"effect {self.effect:g}, {self.capacity:.0%} a month, {self.months} months, "
            f"acceptance {self.acceptance:g}, leniency {low:g}-{high:g}"
        )


CANDIDATES = (
    Candidate(0.8, 0.02, 24),  # last round's benchmark
    Candidate(0.8, 0.04, 12),
    Candidate(0.9, 0.03, 24),
    Candidate(1.0, 0.02, 12),
    Candidate(0.9, 0.02, 12, acceptance=0.95, leniency=(0.7, 1.0)),  # this round's
)


def _registry(families: int, seed: int, candidate: Candidate | None) -> Path:
    from features.synth import SynthConfig, synthesize

    if candidate is None:
        out = Path(f"var/bench/knobs_{families}_s{seed}_twin")
        config = SynthConfig(families=families, seed=seed)
    else:
        c = candidate
        out = Path(
            f"var/bench/knobs_{families}_s{seed}_e{c.effect:g}_c{c.capacity:g}_m{c.months}"
            f"_a{c.acceptance:g}_l{c.leniency[0]:g}-{c.leniency[1]:g}"
        )
        config = SynthConfig(
            families=families,
            seed=seed,
            deploy_from=dt.date(2021, 1, 1),
            support_effect=c.effect,
            deploy_capacity=c.capacity,
            deploy_support_months=c.months,
            deploy_acceptance=c.acceptance,
            deploy_leniency=c.leniency,
        )
    if not (out / "ground_truth.parquet").exists():
        synthesize(config, out, workers=1, overwrite=True)
    return out


def _rows(raw: Path) -> pd.DataFrame:
    """The 2023 quarter ends' families with a chance of the label (a minor)."""
    truth = pd.read_parquet(raw / "ground_truth.parquet")
    truth["as_of"] = pd.to_datetime(truth["as_of"])
    keep = (truth["as_of"].dt.year == 2023) & (truth["true_probability"] > 1e-6)
    return truth.loc[keep, ["family_id", "as_of", "true_probability"]].reset_index(drop=True)


def _labels(raw: Path, rows: pd.DataFrame) -> np.ndarray:
    outcomes = pd.read_parquet(raw / "outcomes.parquet")
    outcomes = outcomes.loc[outcomes["outcome_type"].isin(QUALIFYING)]
    day = pd.to_datetime(outcomes["outcome_date"])
    y = np.zeros(len(rows), dtype=float)
    for as_of in rows["as_of"].unique():
        here = (rows["as_of"] == as_of).to_numpy()
        window = (day > as_of) & (day <= as_of + pd.DateOffset(months=12))
        hit = outcomes.loc[window, "family_id"].unique()
        y[here] = rows.loc[here, "family_id"].isin(hit).to_numpy()
    return y


def main(families: int = 10_000, seed: int = 5) -> None:
    from training.counterfactual import weighted_auc

    twin = _registry(families, seed, None)
    rows = _rows(twin)
    p = rows["true_probability"].clip(1e-6, 1 - 1e-6).to_numpy()
    log_odds = np.log(p / (1 - p))
    scores = {
        "stand-in (sd 1)": log_odds + np.random.default_rng(0).normal(0, 1, len(p)),
        "oracle": log_odds,
    }
    y_twin = _labels(twin, rows)
    print(
        f"naive AUC bias (deployed labels minus the twin's) at 2023 quarter ends, "
        f"{families:,} families, seed {seed}, {len(rows):,} rows"
    )
    for candidate in CANDIDATES:
        y = _labels(_registry(families, seed, candidate), rows)
        removed = 1 - y.sum() / y_twin.sum()
        figures = ", ".join(
            f"{name} {weighted_auc(s, y) - weighted_auc(s, y_twin):+.4f}"
            for name, s in scores.items()
        )
        print(f"  {candidate.label():62s} positives removed {removed:5.1%}; {figures}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
