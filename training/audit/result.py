"""The result of a fairness audit: tidy tables, in a module of its own.

:mod:`training.audit.audit` computes an :class:`AuditResult`; the readers (gates, the JSON
and HTML reports, the plain-language summary, the model card) take one. Keeping the class
here, apart from the computation and from its readers, means no module of the audit
package imports another that imports it back: the readers import ``result``, never the
other way round (its plain-language summary is :func:`training.audit.summary.summarize`,
its JSON report :func:`training.audit.report_json.build_report`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from training.audit.metrics import COUNT_METRICS, LABEL_FREE_METRICS
from training.audit.rules import DecisionRule


@dataclass(frozen=True)
class AuditResult:
    """Everything an audit found, as tidy tables (one row per group / metric / bin).

    Tables (pandas DataFrames):

    * ``overall``: one row, the whole population (same columns as ``by_group``).
    * ``by_group``: one row per (attribute, group), including intersections (``kind``);
      suppressed groups keep their row with ``suppressed=True`` and every number blank.
    * ``intervals``: bootstrap percentile intervals, one row per (attribute, group, metric).
    * ``disparities``: one row per (attribute, group, metric) vs the attribute's reference.
    * ``reliability``: reliability bins per group (labelled, probability scores only).
    * ``score_summary`` / ``score_histogram``: score distributions per group.
    * ``proxies``: the proxy check (``None`` when no features were given).
    * ``groupings``: one row per attribute/intersection: kind, reference, counts suppressed.
    * ``recall_parity``: per group, recall at the rule against the recall its probabilities
      promise, and that ratio against the reference group's
      (:mod:`training.audit.recall_parity`); ``None`` without labels or probabilities.
    """

    score: str
    label: str | None
    attributes: tuple[str, ...]
    rule: DecisionRule
    references: dict[str, str]
    n_boot: int
    seed: int
    min_group_size: int
    confidence_level: float
    n_bins: int
    scores_are_probabilities: bool
    n_rows: int
    n_selected: int
    overall: pd.DataFrame
    by_group: pd.DataFrame
    intervals: pd.DataFrame
    disparities: pd.DataFrame
    reliability: pd.DataFrame
    score_summary: pd.DataFrame
    score_histogram: pd.DataFrame
    groupings: pd.DataFrame
    proxies: pd.DataFrame | None = None
    recall_parity: pd.DataFrame | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def label_free(self) -> bool:
        """True when no label was given: only selection rates and score distributions."""
        return self.label is None

    @property
    def metrics(self) -> tuple[str, ...]:
        """The rates that have intervals and disparities in this audit."""
        return LABEL_FREE_METRICS if self.label_free else COUNT_METRICS

    def group_metric(self, attribute: str, group: str, metric: str) -> float:
        """One number of ``by_group`` (NaN when suppressed or undefined)."""
        row = self.by_group[
            (self.by_group["attribute"] == attribute) & (self.by_group["group"] == group)
        ]
        if row.empty:
            raise KeyError(f"no group {group!r} in attribute {attribute!r}")
        value = row.iloc[0][metric]
        return float("nan") if pd.isna(value) else float(value)
