"""On the shared synthetic registry, the proxy check flags the planted disability proxy.

docs/synthetic_registry.md: `disability_benefit` payments are a direct proxy of the
protected attribute `disability_in_family`; the audit's proxy check should flag them.
"""

from __future__ import annotations

import pandas as pd
import pytest

from training.audit import FairnessGates, Threshold, audit, evaluate_fairness_gates


@pytest.fixture(scope="module")
def snapshot(small_registry_dir) -> pd.DataFrame:
    from features.engine import build_feature_table

    return build_feature_table(small_registry_dir, ["2023-06-30"], n_jobs=1)


def test_disability_benefit_is_flagged_as_proxy_of_disability(snapshot: pd.DataFrame) -> None:
    from features.catalogue import model_input_columns

    frame = snapshot.assign(score=0.5)
    result = audit(
        frame,
        score="score",
        groups=["audit_disability_in_family", "audit_settlement"],
        rule=Threshold(0.5),
        n_boot=0,
        intersections=False,
        proxy_features=model_input_columns(),
    )
    proxies = result.proxies.set_index(["feature", "attribute"])
    planted = proxies.loc[("econ_disability_benefit_payments_365d", "audit_disability_in_family")]
    assert planted["flagged"] and planted["auc"] > 0.9 and planted["nmi"] > 0.1
    assert planted["auc_group"] == "yes"  # the smaller group is the one singled out
    top = result.proxies.iloc[0]
    assert top["attribute"] == "audit_disability_in_family" and top["flagged"]
    outcomes = evaluate_fairness_gates(
        result, FairnessGates(ratio_bounds={}, max_group_ece=None, max_proxy_auc=0.9)
    )
    failed = {o.metric for o in outcomes if not o.passed}
    assert "proxy_auc:econ_disability_benefit_payments_365d" in failed
