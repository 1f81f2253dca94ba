"""Plain-language summary of an audit: what differs between groups, how much, how sure.

Auditors and caseworkers read sentences, not tables. For every attribute the summary names
the largest disparity of each key rate (as a ratio to the reference, with its interval and
Holm-adjusted p-value), calibration gaps (mean predicted vs observed), suppressed groups and
flagged proxies. Numbers are rounded for reading; the JSON report keeps them exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from training.audit.metrics import METRIC_LABELS

if TYPE_CHECKING:
    from training.audit.result import AuditResult

#: Rates summarised, in order: who is selected, and whom the errors fall on.
KEY_METRICS = ("selection_rate", "fpr", "fnr", "precision", "base_rate")
SIGNIFICANCE = 0.05
CALIBRATION_GAP = 0.02


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _p_text(p: float) -> str:
    if np.isnan(p):
        return "no p-value (no resamples)"
    return "Holm-adjusted p < 0.001" if p < 0.001 else f"Holm-adjusted p = {p:.3f}"


def _disparity_sentence(row: pd.Series, confidence: float) -> str:
    label = METRIC_LABELS[row["metric"]]
    ratio = row["ratio"]
    if np.isnan(ratio):
        size = f"{_pct(row['value'])} vs {_pct(row['reference_value'])}"
        how = f"{label} differs by {100 * row['difference']:+.1f} points ({size})"
    else:
        how = (
            f"{label} is {ratio:.2f} times that of {row['reference']} "
            f"({_pct(row['value'])} vs {_pct(row['reference_value'])}"
        )
        if not (np.isnan(row["ratio_lower"]) or np.isnan(row["ratio_upper"])):
            how += (
                f"; {round(100 * confidence)}% interval "
                f"{row['ratio_lower']:.2f}-{row['ratio_upper']:.2f}"
            )
        how += ")"
    return f"{row['attribute']} = {row['group']}: {how}, {_p_text(row['p_value_holm'])}."


def _largest(rows: pd.DataFrame) -> pd.Series | None:
    """The row with the largest departure from parity (|log ratio|, else |difference|)."""
    if rows.empty:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        strength = np.abs(np.log(rows["ratio"].to_numpy(dtype=float)))
    fallback = np.abs(rows["difference"].to_numpy(dtype=float))
    strength = np.where(np.isfinite(strength), strength, fallback)
    if np.all(np.isnan(strength)):
        return None
    return rows.iloc[int(np.nanargmax(strength))]


def summarize(result: AuditResult) -> list[str]:
    """Sentences for the report's summary section, most important first."""
    lines = [
        f"{result.n_rows} rows audited; rule {result.rule.describe()} selected "
        f"{result.n_selected} ({_pct(result.n_selected / result.n_rows)})."
    ]
    if result.label_free:
        lines.append(
            "No outcome label was given (label-free mode): only selection rates and score "
            "distributions are compared; error rates and calibration cannot be assessed yet."
        )
    table = result.disparities
    attributes = result.groupings.loc[result.groupings["kind"] == "attribute", "attribute"]
    for attribute in attributes:
        scope = table[table["attribute"] == attribute]
        unclear = []
        for metric in KEY_METRICS:
            rows = scope[scope["metric"] == metric]
            row = _largest(rows[rows["p_value_holm"] < SIGNIFICANCE])
            if row is not None:
                lines.append(_disparity_sentence(row, result.confidence_level))
            elif not rows.empty:
                unclear.append(METRIC_LABELS[metric])
        if unclear:
            lines.append(f"{attribute}: no statistically clear difference in {', '.join(unclear)}.")
    intersections = table[table["kind"] == "intersection"]
    for metric in KEY_METRICS:
        rows = intersections[intersections["metric"] == metric]
        row = _largest(rows[rows["p_value_holm"] < SIGNIFICANCE])
        if row is not None:
            lines.append("Intersection " + _disparity_sentence(row, result.confidence_level))
    lines.extend(_calibration_lines(result))
    suppressed = int(result.groupings["n_suppressed"].sum())
    if suppressed:
        lines.append(
            f"{suppressed} group(s) with fewer than {result.min_group_size} rows are suppressed "
            "in every table and chart."
        )
    if result.proxies is not None:
        flagged = result.proxies[result.proxies["flagged"]]
        for row in flagged.head(5).itertuples(index=False):
            lines.append(
                f"Feature {row.feature} alone predicts {row.attribute} (AUC {row.auc:.2f} for "
                f"group {row.auc_group}, NMI {row.nmi:.2f}): it may stand in for "
                f"{row.attribute} (a concern when that is a protected attribute; an audit "
                "group defined from the feature is predicted by it by construction)."
            )
        if flagged.empty:
            lines.append("No model feature on its own predicts a protected attribute strongly.")
    return lines


def _calibration_lines(result: AuditResult) -> list[str]:
    if result.label_free or not result.scores_are_probabilities:
        return []
    groups = result.by_group[
        (result.by_group["kind"] == "attribute") & ~result.by_group["suppressed"]
    ]
    gap = groups["mean_predicted"] - groups["base_rate"]
    lines = []
    for index in gap[np.abs(gap) > CALIBRATION_GAP].abs().sort_values(ascending=False).index[:5]:
        row = groups.loc[index]
        direction = "over-estimates" if gap[index] > 0 else "under-estimates"
        lines.append(
            f"Calibration, {row['attribute']} = {row['group']}: mean predicted "
            f"{_pct(row['mean_predicted'])} vs observed {_pct(row['base_rate'])} "
            f"(the score {direction} risk; ECE {row['ece']:.3f})."
        )
    return lines
