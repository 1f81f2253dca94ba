"""The audit detects the surveillance bias planted in the synthetic registry.

docs/synthetic_registry.md section 6: for the same latent state, the child protection cases
of `uzbek` families are recorded with probability 0.95 instead of 0.62. A model trained on
the recorded label learns ``true_probability`` (the ground truth's probability of the label
as recorded) at best, while the harm itself happens with ``occurrence_probability``. So at a
fixed capacity the audit must show that

* the recorded-label score selects the surveilled group markedly more often than a score of
  the harm itself would (the selection-rate disparity grows by about the planted factor), and
* against the harm that happens, that score over-predicts for the group: its
  observed-to-expected ratio is well below the reference group's, while an unbiased group
  (russian) stays near the reference.

The registry is larger than the shared ``small_registry_dir``: 400 families hold only ~14
uzbek families, too few for any test. The check on realised recorded labels is left out on
purpose: with ~120 uzbek families and a 3-6 % yearly case rate, the recorded base rate of
the group swings by +-30 % between seeds, so it cannot carry a test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.audit import TopFraction, audit

# every test here needs a trained model or a generated registry (tens of seconds)
pytestmark = pytest.mark.slow

FAMILIES = 3000
SEED = 7


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Feature snapshots of a 3000-family registry joined with its ground truth."""
    from features.engine import build_feature_table
    from features.synth import SynthConfig, synthesize

    raw: Path = tmp_path_factory.mktemp("surveillance_registry")
    synthesize(SynthConfig(families=FAMILIES, seed=SEED), raw, workers=1)
    dates = pd.date_range("2021-06-30", "2023-12-31", freq="2QE")
    table = build_feature_table(raw, dates, n_jobs=1)
    truth = pd.read_parquet(raw / "ground_truth.parquet")
    truth["as_of"] = pd.to_datetime(truth["as_of"])
    table = table[table["label_observed"]].merge(truth, on=["family_id", "as_of"], how="left")
    assert table["occurrence_probability"].notna().all()
    return table


def _uzbek_selection_ratio(frame: pd.DataFrame, score: str) -> pd.Series:
    result = audit(
        frame,
        score=score,
        groups=["audit_ethnicity"],
        rule=TopFraction(0.1),
        reference="kazakh",
        n_boot=300,
        intersections=False,
    )
    return result.disparities.set_index(["group", "metric"]).loc[("uzbek", "selection_rate")]


def test_recorded_label_score_over_selects_the_surveilled_group(snapshots) -> None:
    fair = _uzbek_selection_ratio(snapshots, "occurrence_probability")
    recorded = _uzbek_selection_ratio(snapshots, "true_probability")
    assert recorded["ratio"] > 1.3 * fair["ratio"]
    assert recorded["p_value_holm"] < 0.05
    assert recorded["ratio_lower"] > fair["ratio"]


def test_recorded_label_score_is_miscalibrated_for_the_surveilled_group(snapshots) -> None:
    rng = np.random.default_rng(SEED)
    # Four independent realisations of "harm happened" per snapshot, drawn from the known
    # occurrence probability (more draws, less noise than the one history recorded).
    frame = pd.concat([snapshots] * 4, ignore_index=True)
    frame["harm"] = (rng.uniform(size=len(frame)) < frame["occurrence_probability"]).astype(int)
    result = audit(
        frame,
        score="true_probability",
        label="harm",
        groups=["audit_ethnicity"],
        rule=TopFraction(0.1),
        reference="kazakh",
        n_boot=200,
        intersections=False,
    )

    def oe(group: str) -> float:
        return result.group_metric("audit_ethnicity", group, "observed_to_expected")

    assert oe("uzbek") / oe("kazakh") < 0.85  # planted: 0.62 / 0.95 = 0.65
    assert 0.8 < oe("russian") / oe("kazakh") < 1.25
