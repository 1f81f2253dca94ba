"""Equality with fairlearn's MetricFrame and with sklearn metrics on masked data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import precision_score, roc_auc_score

from training.audit import TopFraction, audit


@pytest.mark.parametrize("attribute", ["sex", "settlement", "region"])
def test_rates_equal_fairlearn_metric_frame(scores: pd.DataFrame, attribute: str) -> None:
    rule = TopFraction(0.2)
    result = audit(
        scores,
        score="prob",
        label="label",
        groups=[attribute],
        rule=rule,
        n_boot=0,
        min_group_size=1,
    )
    y_pred = rule.select(scores["prob"].to_numpy()).astype(int)
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "fnr": false_negative_rate,
        },
        y_true=scores["label"],
        y_pred=y_pred,
        sensitive_features=scores[attribute],
    )
    ours = result.by_group.set_index("group")
    for metric in ("selection_rate", "tpr", "fpr", "fnr"):
        for group, value in frame.by_group[metric].items():
            assert ours.loc[group, metric] == pytest.approx(value), (metric, group)
        assert result.overall.iloc[0][metric] == pytest.approx(frame.overall[metric])


def test_precision_and_auc_equal_sklearn_on_masked_data(scores: pd.DataFrame) -> None:
    rule = TopFraction(0.2)
    result = audit(
        scores,
        score="prob",
        label="label",
        groups=["region"],
        rule=rule,
        n_boot=0,
        min_group_size=1,
    )
    y_pred = rule.select(scores["prob"].to_numpy()).astype(int)
    ours = result.by_group.set_index("group")
    for group in scores["region"].unique():
        mask = (scores["region"] == group).to_numpy()
        y = scores["label"].to_numpy()[mask]
        if y_pred[mask].sum():
            assert ours.loc[group, "precision"] == pytest.approx(precision_score(y, y_pred[mask]))
        else:  # sklearn would report 0 with a warning; the audit says "undefined"
            assert np.isnan(ours.loc[group, "precision"])
        if 0 < y.sum() < y.size:
            expected = roc_auc_score(y, scores["prob"].to_numpy()[mask])
            assert ours.loc[group, "roc_auc"] == pytest.approx(expected)


def test_intersection_equals_metric_frame_with_two_features(scores: pd.DataFrame) -> None:
    rule = TopFraction(0.2)
    result = audit(
        scores,
        score="prob",
        label="label",
        groups=["sex", "settlement"],
        rule=rule,
        n_boot=0,
        min_group_size=1,
    )
    y_pred = rule.select(scores["prob"].to_numpy()).astype(int)
    frame = MetricFrame(
        metrics={"fpr": false_positive_rate, "fnr": false_negative_rate},
        y_true=scores["label"],
        y_pred=y_pred,
        sensitive_features=scores[["sex", "settlement"]],
    )
    ours = result.by_group[result.by_group["attribute"] == "sex & settlement"].set_index("group")
    for (sex, settlement), row in frame.by_group.iterrows():
        for metric in ("fpr", "fnr"):
            assert ours.loc[f"{sex} & {settlement}", metric] == pytest.approx(row[metric])
