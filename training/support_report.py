"""The report's and the model card's words about support: the method and the no-support
figures beside the naive ones (issue 24). Pure text from a run's results, so the report
(:mod:`training.report`) and the card (:mod:`training.run_card`) say the same."""

from __future__ import annotations

from typing import Any

from training.counterfactual import METRICS, CounterfactualEvaluation
from training.support import METHOD_TEXT

_NAMES = {
    "roc_auc": "ROC AUC",
    "precision_at_k": "precision at capacity",
    "recall_at_k": "recall at capacity",
}


def support_sentence(support: Any, configured: str) -> str:
    """How the training rows handled support (:class:`SupportAdjustment`), or why not."""
    if support is None:
        return (
            "No interventions are recorded in this registry: every training row is used as "
            f"recorded (the configured method, {configured}, applies once they are)."
        )
    return f"Support in the label window: {support.describe()}."


def _cell(interval: Any) -> str:
    return f"{interval.estimate:.3f} [{interval.low:.3f}, {interval.high:.3f}]"


def counterfactual_lines(evaluation: CounterfactualEvaluation | None) -> list[str]:
    """Markdown: naive and doubly robust figures (and the truth, when known), per-group
    recall, the positivity check. Empty when the registry records no interventions."""
    if evaluation is None:
        return []
    truth = bool(evaluation.truth)
    head = "| metric | naive (recorded outcomes) | doubly robust (without support) |"
    rule = "|---|---|---|"
    if truth:
        head += " truth without support |"
        rule += "---|"
    lines = [
        f"{evaluation.n_treated:,} of {evaluation.n_rows:,} test rows had accepted support in "
        f"their label window; capacity {evaluation.k:,}; {evaluation.n_bootstrap} family "
        "bootstrap resamples (nuisance models cross-fitted, held fixed).",
        "",
        head,
        rule,
    ]
    for metric in METRICS:
        row = (
            f"| {_NAMES[metric]} | {_cell(evaluation.naive[metric])} | "
            f"{_cell(evaluation.doubly_robust[metric])} |"
        )
        if truth:
            row += f" {evaluation.truth[metric]:.3f} |"
        lines.append(row)
    lines.append("")
    for column, groups in evaluation.group_recall.items():
        lines += [
            f"Recall at capacity by `{column}`:",
            "",
            "| group | naive | doubly robust |",
            "|---|---|---|",
        ]
        lines += [
            f"| {group} | {_cell(figures['naive'])} | {_cell(figures['doubly_robust'])} |"
            for group, figures in groups.items()
        ]
        lines.append("")
    lines += [f"- {evaluation.positivity.describe()}", ""]
    return lines


def card_metric_facts(result: Any) -> list[dict[str, Any]]:
    """The model card's no-support metrics (doubly robust, with intervals) and, on a
    synthetic registry, the true ones: rows beside the card's naive metrics."""
    evaluation = result.counterfactual
    if evaluation is None:
        return []
    facts: list[dict[str, Any]] = []
    for metric in METRICS:
        iv = evaluation.doubly_robust[metric]
        facts.append(
            {
                "name": f"{metric} without support (doubly robust)",
                "split": "test",
                "value": iv.estimate,
                "lower": iv.low,
                "upper": iv.high,
                "note": f"naive {evaluation.naive[metric].estimate:.3f}",
            }
        )
        if evaluation.truth:
            facts.append(
                {
                    "name": f"{metric} without support (synthetic truth)",
                    "split": "test",
                    "value": evaluation.truth[metric],
                }
            )
    return facts


def card_support_text(result: Any) -> str:
    """The model card's statement of the method, with the positivity check when run."""
    text = support_sentence(result.support, result.support_configured)
    if result.counterfactual is not None:
        text += f" Evaluation: {result.counterfactual.positivity.describe()}."
    return text


def report_section(result: Any) -> list[str]:
    """The training report's section on support (always present: it says when none)."""
    lines = ["## Support and the outcome without it", ""]
    lines += [support_sentence(result.support, result.support_configured), ""]
    lines += counterfactual_lines(result.counterfactual)
    return lines


__all__ = [
    "METHOD_TEXT",
    "card_metric_facts",
    "card_support_text",
    "counterfactual_lines",
    "report_section",
    "support_sentence",
]
