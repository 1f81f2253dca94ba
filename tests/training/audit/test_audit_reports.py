"""JSON report follows its schema; the HTML report is self-contained."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from training.audit import FairnessGates, TopFraction, audit, evaluate_fairness_gates
from training.audit.io import write_reports
from training.audit.report_json import SCHEMA_NAME, SCHEMA_VERSION, build_report
from training.audit.summary import summarize


def _result(scores: pd.DataFrame):
    return audit(
        scores,
        score="prob",
        label="label",
        groups=["sex", "settlement"],
        rule=TopFraction(0.2),
        n_boot=100,
        proxy_features=["region"],
    )


def test_json_report_has_documented_sections_and_no_nan(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    result = _result(scores)
    outcomes = evaluate_fairness_gates(result, FairnessGates())
    json_path, _ = write_reports(result, tmp_path, gate_outcomes=outcomes, source="x.csv")
    report = json.loads(json_path.read_text())  # strict JSON: written with allow_nan=False
    assert report["schema"] == SCHEMA_NAME and report["schema_version"] == SCHEMA_VERSION
    assert set(report) == {
        "schema",
        "schema_version",
        "generated_at",
        "source",
        "config",
        "population",
        "overall",
        "groupings",
        "disparities",
        "reliability",
        "score_distribution",
        "proxies",
        "recall_parity",
        "summary",
        "gates",
    }
    from training.audit.recall_parity import RECALL_PARITY_COLUMNS

    assert report["recall_parity"] and all(
        row.keys() == set(RECALL_PARITY_COLUMNS) for row in report["recall_parity"]
    )
    assert report["config"]["rule"] == {
        "kind": "top_fraction",
        "fraction": 0.2,
        "description": "top 0.2 fraction of scores",
    }
    assert report["population"] == {
        "n_rows": len(scores),
        "n_selected": int(0.2 * len(scores)),
        "ties_at_cutoff": None,  # continuous probabilities: no tie at the cut-off
    }
    names = [g["name"] for g in report["groupings"]]
    assert names == ["sex", "settlement", "sex & settlement"]
    sex_f = next(g for g in report["groupings"][0]["groups"] if g["group"] == "F")
    fpr = sex_f["rates"]["fpr"]
    assert fpr["lower"] <= fpr["estimate"] <= fpr["upper"]
    assert fpr["estimate"] == result.group_metric("sex", "F", "fpr")
    assert sex_f["counts"]["n"] == int((scores["sex"] == "F").sum())
    assert report["gates"]["passed"] == all(o.passed for o in outcomes)
    assert len(report["gates"]["outcomes"]) == len(outcomes)
    assert report["proxies"][0].keys() == {
        "feature",
        "attribute",
        "auc",
        "auc_group",
        "nmi",
        "flagged",
    }
    assert report["summary"] == summarize(result)


def test_schema_document_lists_every_top_level_key(scores: pd.DataFrame) -> None:
    doc = (Path(__file__).parents[3] / "docs" / "audit_report_schema.md").read_text()
    report = build_report(_result(scores))
    for key in report:
        assert f"`{key}`" in doc, key
    for key in report["config"]:
        assert f"`{key}`" in doc, key


@pytest.mark.slow
def test_html_report_is_self_contained(scores: pd.DataFrame, tmp_path: Path) -> None:
    result = _result(scores)
    _, html_path = write_reports(result, tmp_path)
    html = html_path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "<script" not in html.lower() and "@import" not in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    # per attribute: rate chart, reliability curves, score distributions
    assert len(images) == 6
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    for text in (
        "Summary",
        "Proxy check",
        "false positive rate",
        "Intersections",
        "Recall parity after risk",
    ):
        assert text in html
    for line in summarize(result)[:3]:
        assert line.split(":")[0] in html


def test_html_label_free_has_no_reliability_section(scores: pd.DataFrame) -> None:
    from training.audit.report_html import render_html

    result = audit(
        scores.drop(columns="label"), score="prob", groups=["sex"], rule=TopFraction(0.2), n_boot=50
    )
    html = render_html(result)
    assert "Label-free mode" in html
    assert "Reliability curves" not in html
    assert html.count("data:image/png;base64,") == 2
