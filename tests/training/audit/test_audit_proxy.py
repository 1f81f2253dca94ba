"""The proxy check flags a planted proxy feature and not an unrelated one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import normalized_mutual_info_score, roc_auc_score

from training.audit import TopFraction, audit
from training.audit.proxy import normalized_mutual_information
from training.audit.summary import summarize


def test_planted_proxy_is_flagged_first(scores: pd.DataFrame) -> None:
    rng = np.random.default_rng(5)
    frame = scores.copy()
    is_rural = (frame["settlement"] == "rural").to_numpy()
    frame["distance_to_center"] = np.where(is_rural, 30, 5) + rng.normal(0, 4, len(frame))
    frame["noise"] = rng.normal(size=len(frame))
    frame.loc[frame.index[:50], "noise"] = np.nan
    result = audit(
        frame,
        score="prob",
        label="label",
        groups=["settlement", "sex"],
        rule=TopFraction(0.2),
        n_boot=0,
        proxy_features=["distance_to_center", "noise"],
    )
    top = result.proxies.iloc[0]
    assert (top["feature"], top["attribute"], top["flagged"]) == (
        "distance_to_center",
        "settlement",
        True,
    )
    expected = roc_auc_score(is_rural, frame["distance_to_center"])
    assert top["auc"] == pytest.approx(max(expected, 1 - expected))
    noise = result.proxies[result.proxies["feature"] == "noise"]
    assert not noise["flagged"].any()
    assert (noise["auc"] < 0.6).all()
    assert any("distance_to_center" in line for line in summarize(result))


def test_nmi_equals_sklearn() -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(0, 4, 800)
    b = (a + rng.integers(0, 3, 800)) % 6
    assert normalized_mutual_information(a, b) == pytest.approx(normalized_mutual_info_score(a, b))


def test_group_column_cannot_be_a_proxy_feature(scores: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="cannot also be proxy features"):
        audit(
            scores,
            score="prob",
            label="label",
            groups=["sex"],
            rule=TopFraction(0.2),
            n_boot=0,
            proxy_features=["sex"],
        )
