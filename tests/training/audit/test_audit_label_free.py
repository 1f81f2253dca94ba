"""Label-free mode: selection rates and score distributions only, with intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.audit import FairnessGates, Threshold, audit, evaluate_fairness_gates, gates_passed
from training.audit.summary import summarize


def test_label_free_audit_reports_selection_and_distributions(scores: pd.DataFrame) -> None:
    frame = scores.drop(columns="label")
    frame.loc[frame["sex"] == "F", "prob"] = np.clip(
        frame.loc[frame["sex"] == "F", "prob"] + 0.2, 0, 1
    )
    result = audit(frame, score="prob", groups=["sex"], rule=Threshold(0.6), n_boot=200)
    assert result.label_free
    assert set(result.intervals["metric"]) == {"selection_rate"}
    assert "fpr" not in result.by_group.columns and "tp" not in result.by_group.columns
    groups = result.by_group.set_index("group")
    for sex in ("F", "M"):
        mask = frame["sex"] == sex
        assert groups.loc[sex, "selection_rate"] == pytest.approx(
            (frame.loc[mask, "prob"] >= 0.6).mean()
        )
        assert groups.loc[sex, "mean_predicted"] == pytest.approx(frame.loc[mask, "prob"].mean())
    summary = result.score_summary.set_index("group")
    assert summary.loc["F", "q50"] == pytest.approx(frame.loc[frame["sex"] == "F", "prob"].median())
    shares = result.score_histogram.groupby("group")["share"].sum()
    np.testing.assert_allclose(shares.to_numpy(), 1.0)
    row = result.disparities.iloc[0]
    assert row["metric"] == "selection_rate" and row["p_value_holm"] < 0.001
    assert any("label-free" in line for line in summarize(result))


def test_label_free_gates_not_evaluable_for_error_rates(scores: pd.DataFrame) -> None:
    result = audit(
        scores.drop(columns="label"), score="prob", groups=["sex"], rule=Threshold(0.6), n_boot=0
    )
    outcomes = evaluate_fairness_gates(result, FairnessGates())
    assert {o.status for o in outcomes} == {"not_evaluable"}
    assert not gates_passed(outcomes)  # not evaluable is never a pass
    strict = evaluate_fairness_gates(result, FairnessGates(fail_on_not_evaluable=True))
    assert not gates_passed(strict)
