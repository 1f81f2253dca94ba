"""Small groups are suppressed in every output: tables, intervals, disparities, charts, JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from training.audit import MISSING_GROUP, TopFraction, audit
from training.audit.report_html import render_html
from training.audit.report_json import build_report


def _result(scores: pd.DataFrame):
    # region R9 holds ~10 of 2000 rows: below the default threshold of 11.
    return audit(
        scores,
        score="prob",
        label="label",
        groups=["region", "sex"],
        rule=TopFraction(0.2),
        n_boot=50,
        proxy_features=["prob"],
    )


def test_small_group_is_marked_and_blank_in_group_table(scores: pd.DataFrame) -> None:
    size = int((scores["region"] == "R9").sum())
    assert 0 < size < 11
    result = _result(scores)
    row = result.by_group[
        (result.by_group["attribute"] == "region") & (result.by_group["group"] == "R9")
    ].iloc[0]
    assert row["suppressed"]
    numbers = row.drop(["attribute", "kind", "group", "suppressed", "is_reference"])
    assert numbers.isna().all()  # not even the count is shown


def test_small_group_absent_from_every_derived_table(scores: pd.DataFrame) -> None:
    result = _result(scores)
    for table in (
        result.intervals,
        result.disparities,
        result.score_summary,
        result.score_histogram,
        result.reliability,
    ):
        region = table[table["attribute"] == "region"]
        assert "R9" not in set(region["group"]), table.columns.tolist()
    # Intersections containing R9 are even smaller: suppressed too.
    inter = result.by_group[result.by_group["group"].str.startswith("R9 &")]
    assert len(inter) and inter["suppressed"].all()
    assert not result.disparities["group"].str.startswith("R9 &").any()
    # The proxy check names no suppressed group as the one best predicted.
    assert "R9" not in set(result.proxies["auc_group"])


def test_reliability_bins_below_threshold_are_blank(scores: pd.DataFrame) -> None:
    result = _result(scores)
    small = result.reliability[result.reliability["suppressed"]]
    assert len(small)  # the fixture has sparsely filled bins
    assert small["n"].isna().all() and small["observed_rate"].isna().all()
    shown = result.reliability[~result.reliability["suppressed"]]
    assert (shown["n"] >= 11).all()


@pytest.mark.slow
def test_json_and_html_withhold_suppressed_numbers(scores: pd.DataFrame) -> None:
    result = _result(scores)
    report = build_report(result)
    region = next(g for g in report["groupings"] if g["name"] == "region")
    r9 = next(g for g in region["groups"] if g["group"] == "R9")
    assert r9 == {"group": "R9", "suppressed": True, "is_reference": False}
    text = json.dumps(report)
    size = int((scores["region"] == "R9").sum())
    assert f'"n": {size},' not in text
    html = render_html(result)
    assert "suppressed: fewer than 11 rows" in html


def test_min_group_size_is_configurable(scores: pd.DataFrame) -> None:
    result = audit(
        scores,
        score="prob",
        label="label",
        groups=["region"],
        rule=TopFraction(0.2),
        n_boot=0,
        min_group_size=1,
    )
    assert not result.by_group["suppressed"].any()
    result = audit(
        scores,
        score="prob",
        label="label",
        groups=["region"],
        rule=TopFraction(0.2),
        n_boot=0,
        min_group_size=500,
    )
    assert result.by_group.set_index("group").loc["R3", "suppressed"]


def test_missing_group_values_form_their_own_group() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "prob": rng.uniform(size=300),
            "label": rng.integers(0, 2, 300),
            "sex": pd.array(["F"] * 140 + ["M"] * 140 + [None] * 20, dtype="str"),
        }
    )
    result = audit(
        frame, score="prob", label="label", groups=["sex"], rule=TopFraction(0.2), n_boot=0
    )
    groups = result.by_group.set_index("group")
    assert groups.loc[MISSING_GROUP, "n"] == 20
    assert groups["n"].sum() == 300  # nothing dropped
