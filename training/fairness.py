"""Fairness adapter of the training job: audit the calibrated test scores, gate, write files.

Moved out of :mod:`training.pipeline` so the pipeline only orchestrates. The audit itself
lives in :mod:`training.audit`; here it is run on the test slice at capacity (the families
caseworkers would reach), its gate outcomes become :class:`training.gates.GateResult` rows,
and the fairness report files are written beside the training report. Only eligible
families reach this point (the pipeline filters them first), so the audit describes the
population that is scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import EarlyriskError
from training.config import TrainConfig
from training.gates import GateResult, audit_waivers, fairness_gate_results


class FairnessConfigError(EarlyriskError, ValueError):
    """The configured audit groups are not in the feature table."""


def audit_group_columns(table: pd.DataFrame, config: TrainConfig) -> list[str]:
    """The audit group columns: the configured ones, or every ``audit_*`` column."""
    present = [c for c in table.columns if c.startswith("audit_")]
    if config.audit_groups is None:
        return present
    missing = [g for g in config.audit_groups if g not in table.columns]
    if missing:
        raise FairnessConfigError(
            f"audit group column(s) {missing} are not in the feature table (it has {present})"
        )
    return list(config.audit_groups)


def _fairness(
    test: pd.DataFrame,
    probability: np.ndarray,
    feature_names: list[str],
    *,
    k: int,
    config: TrainConfig,
) -> tuple[Any, list[Any], list[GateResult]]:
    """Audit the calibrated test scores at capacity; the audit's gates as GateResults."""
    from training.audit import TopK, apply_waivers, audit, evaluate_fairness_gates

    groups = audit_group_columns(test, config)
    if not groups:
        return None, [], []
    # the model inputs go along for the proxy check: a feature that predicts a protected
    # attribute is reported (protected attributes audit, never predict; nor may a stand-in)
    frame = test[["label", *groups, *feature_names]].assign(probability=probability)
    result = audit(
        frame,
        score="probability",
        label="label",
        groups=groups,
        rule=TopK(k),
        n_boot=config.evaluation.n_bootstrap,
        seed=config.seed,
        confidence_level=config.evaluation.confidence_level,
        n_bins=config.evaluation.n_bins,
        intersections=False,
        proxy_features=feature_names,
    )
    if config.gates.fairness is None:
        return result, [], []
    outcomes = apply_waivers(
        evaluate_fairness_gates(result, config.gates.fairness), audit_waivers(config.gates.waivers)
    )
    return result, outcomes, _collapse_fairness(fairness_gate_results(outcomes))


def _collapse_fairness(gates: list[GateResult]) -> list[GateResult]:
    """All passing fairness checks as one row; every other check (failed, inconclusive,
    waived) keeps its own row, so an inconclusive check is never counted with the passes."""
    passed = [g for g in gates if g.status == "pass"]
    failed = [g for g in gates if g.status != "pass"]
    out = list(failed)
    if passed:
        out.insert(
            0,
            GateResult(
                name="fairness_checks_passed",
                passed=True,
                value=float(len(passed)),
                threshold=float(len(gates)),
                detail=f"{len(passed)} of {len(gates)} fairness checks passed",
            ),
        )
    return out


def write_fairness_files(
    audit: Any, *, config: TrainConfig, outcomes: list[Any], directory: Path
) -> None:
    """``fairness/fairness_report.json`` and ``.html`` beside the training report.

    Takes the audit, not the whole run, so the pipeline can draw it while the backtest's
    fits still run in the background (the report needs nothing they produce).
    """
    if audit is None:
        return
    from training.audit.report_html import render_html, write_html_report
    from training.audit.report_json import build_report, write_json_report

    gate_outcomes = outcomes if config.gates.fairness is not None else None
    fair_dir = Path(directory) / "fairness"
    report = build_report(audit, gate_outcomes=gate_outcomes, source="earlyrisk train")
    write_json_report(report, fair_dir / "fairness_report.json")
    write_html_report(
        render_html(audit, gate_outcomes=gate_outcomes, source="earlyrisk train"),
        fair_dir / "fairness_report.html",
    )


def group_metrics(result: Any) -> dict[str, float]:
    """Per-group fairness figures of an audit, flat and comparable across MLflow runs.

    Keys ``fairness.<attribute>.<group>.<metric>``; suppressed groups are left out (their
    figures are not published anywhere).
    """
    if result is None:
        return {}
    rows = result.by_group
    rows = rows[(rows["kind"] == "attribute") & ~rows["suppressed"].astype(bool)]
    wanted = [
        m
        for m in (
            "n",
            "selection_rate",
            "tpr",
            "fnr",
            "fpr",
            "precision",
            "ece",
            "observed_to_expected",
        )
        if m in rows.columns
    ]
    out: dict[str, float] = {}
    for _, row in rows.iterrows():
        attribute = str(row["attribute"]).removeprefix("audit_")
        for metric in wanted:
            value = row[metric]
            if value is None or pd.isna(value):
                continue
            out[f"fairness.{attribute}.{row['group']}.{metric}"] = float(value)
    return out
