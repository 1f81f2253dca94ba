"""On the shared synthetic registry, the proxy check flags the planted disability proxy.

docs/synthetic_registry.md: `disability_benefit` payments are a direct proxy of the
protected attribute `disability_in_family`; the audit's proxy check should flag them. The
default catalogue leaves them out of every model input (docs/features.md), so no model
input reaches the promotion gate's bound.
"""

from __future__ import annotations

import pandas as pd
import pytest

from training.audit import FairnessGates, Threshold, audit, evaluate_fairness_gates


@pytest.fixture(scope="module")
def snapshot(small_registry_dir) -> pd.DataFrame:
    from features.engine import build_feature_table

    return build_feature_table(small_registry_dir, ["2023-06-30"], n_jobs=1)


def _disability_benefit_count(registry_dir, snapshot: pd.DataFrame) -> pd.Series:
    """Disability benefit payments of each family in the year before the as-of date."""
    events = pd.read_parquet(registry_dir / "events.parquet")
    as_of = pd.Timestamp("2023-06-30")
    kept = events[
        (events["event_type"] == "benefit_payment")
        & (events["detail"] == "disability_benefit")
        & (pd.to_datetime(events["recorded_date"]) <= as_of)
        & (pd.to_datetime(events["event_date"]) > as_of - pd.Timedelta(days=365))
    ]
    counts = kept.groupby("family_id").size()
    return snapshot["family_id"].map(counts).fillna(0.0).astype(float)


def test_disability_benefit_is_flagged_as_proxy_of_disability(
    snapshot: pd.DataFrame, small_registry_dir
) -> None:
    from features.catalogue import model_input_columns

    planted_column = "disability_benefit_payments_365d"
    frame = snapshot.assign(
        score=0.5, **{planted_column: _disability_benefit_count(small_registry_dir, snapshot)}
    )
    result = audit(
        frame,
        score="score",
        groups=["audit_disability_in_family", "audit_settlement"],
        rule=Threshold(0.5),
        n_boot=0,
        intersections=False,
        proxy_features=[*model_input_columns(), planted_column],
    )
    proxies = result.proxies.set_index(["feature", "attribute"])
    planted = proxies.loc[(planted_column, "audit_disability_in_family")]
    assert planted["flagged"] and planted["auc"] > 0.9 and planted["nmi"] > 0.1
    assert planted["auc_group"] == "yes"  # the smaller group is the one singled out
    top = result.proxies.iloc[0]
    assert top["attribute"] == "audit_disability_in_family" and top["flagged"]
    outcomes = evaluate_fairness_gates(
        result,
        FairnessGates(ratio_bounds={}, oe_bounds=None, max_group_ece=None, max_proxy_auc=0.9),
    )
    failed = {o.metric for o in outcomes if o.status == "fail"}
    # the planted column fails the gate; no input of the default catalogue does
    assert failed == {f"proxy_auc:{planted_column}"}
