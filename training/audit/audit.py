"""The central fairness audit: :func:`audit` computes everything, :class:`AuditResult` holds it.

Like fairlearn's ``MetricFrame`` there is one object with tidy tables, but the audit also
applies one decision rule to the whole population, bootstraps every rate in one vectorized
pass (:mod:`training.audit.bootstrap`), compares groups with a reference (difference, ratio,
interval, Holm-adjusted p-value), covers pairwise intersections, suppresses small groups in
every table, and optionally runs the proxy check. Reports, gates and the model card only read
an :class:`AuditResult`; nothing here writes files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from training.audit.bootstrap import (
    bootstrap_cell_counts,
    cell_codes,
    nan_quantiles,
    observed_cell_counts,
    row_types,
    split_cells,
)
from training.audit.disparity import group_disparities, holm_adjust
from training.audit.groups import Grouping, encode_attribute, overall_grouping
from training.audit.intersections import pairwise_intersections
from training.audit.label_free import histogram_edges, score_distribution
from training.audit.metrics import (
    COUNT_METRICS,
    LABEL_FREE_METRICS,
    SCORE_METRICS,
    bin_edges,
    fractions_from_counts,
    grouped_reliability,
    grouped_score_metrics,
    rates_from_counts,
    safe_divide,
    scores_are_probabilities,
)
from training.audit.proxy import DEFAULT_AUC_THRESHOLD, DEFAULT_NMI_THRESHOLD, proxy_check
from training.audit.recall_parity import recall_parity
from training.audit.result import AuditResult
from training.audit.rules import DecisionRule, ties_at_cutoff
from training.audit.suppression import DEFAULT_MIN_GROUP_SIZE, check_min_group_size, suppressed
from training.audit.validation import (
    AuditInputError,
    check_columns,
    is_binary_score,
    label_values,
    score_values,
)

ReferenceSpec = str | Mapping[str, str] | None
ProgressCallback = Callable[[int, int], None]


def _references(
    groupings: Sequence[Grouping],
    sizes: dict[str, np.ndarray],
    kept: dict[str, np.ndarray],
    reference: ReferenceSpec,
) -> dict[str, int]:
    """Reference group code per grouping: the named one, else the largest reported group."""
    named: dict[str, str] = {}
    if isinstance(reference, str):
        holders = [g.name for g in groupings if g.kind == "attribute" and reference in g.categories]
        if not holders:
            raise AuditInputError(
                f"reference group {reference!r} occurs in none of the group columns "
                f"({', '.join(g.name for g in groupings if g.kind == 'attribute')})"
            )
        named = dict.fromkeys(holders, reference)
    elif reference is not None:
        named = dict(reference)
        names = {g.name for g in groupings}
        unknown = [a for a in named if a not in names]
        if unknown:
            raise AuditInputError(f"reference given for unknown attribute(s): {unknown}")
    out: dict[str, int] = {}
    for grouping in groupings:
        keep = kept[grouping.name]
        if grouping.name in named:
            wanted = named[grouping.name]
            if wanted not in grouping.categories:
                raise AuditInputError(
                    f"reference group {wanted!r} is not a group of {grouping.name!r}; groups: "
                    f"{', '.join(grouping.categories)}"
                )
            code = grouping.categories.index(wanted)
            if not keep[code]:
                raise AuditInputError(
                    f"reference group {wanted!r} of {grouping.name!r} is suppressed (fewer "
                    "rows than min_group_size); choose a larger reference group"
                )
            out[grouping.name] = code
        elif keep.any():
            # Largest reported group; ties go to the first in sorted category order.
            out[grouping.name] = int(np.argmax(np.where(keep, sizes[grouping.name], -1)))
        else:
            out[grouping.name] = -1  # every group suppressed: nothing to compare
    return out


def _check_options(n_boot: int, confidence_level: float, n_bins: int) -> None:
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 0:
        raise AuditInputError(f"n_boot must be a whole number >= 0, got {n_boot!r}")
    if not 0.5 <= confidence_level < 1.0:
        raise AuditInputError(f"confidence_level must be in [0.5, 1), got {confidence_level!r}")
    if n_bins < 2:
        raise AuditInputError(f"n_bins must be at least 2, got {n_bins!r}")


def audit(
    frame: pd.DataFrame,
    *,
    score: str,
    label: str | None = None,
    groups: Sequence[str],
    rule: DecisionRule,
    reference: ReferenceSpec = None,
    n_boot: int = 1000,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    intersections: bool = True,
    seed: int = 0,
    confidence_level: float = 0.95,
    n_bins: int = 10,
    proxy_features: Sequence[str] | None = None,
    proxy_auc_threshold: float = DEFAULT_AUC_THRESHOLD,
    proxy_nmi_threshold: float = DEFAULT_NMI_THRESHOLD,
    progress: ProgressCallback | None = None,
) -> AuditResult:
    """Audit how the decision ``rule`` applied to ``score`` falls on each group of ``groups``.

    Parameters
    ----------
    frame : one row per family (or person) with the score, the optional label and groups.
    score : column of scores (probabilities, any risk scale, or a 0/1 flag).
    label : 0/1 outcome column; ``None`` audits label-free (selection rates, distributions).
    groups : one or more group columns; missing values form the group ``(missing)``.
    rule : :class:`Threshold`, :class:`TopK` or :class:`TopFraction`, applied to all rows.
    reference : reference group for disparities: a group label (used for every attribute
        that has it), a mapping ``{attribute: group}``, or ``None`` for the largest group.
    n_boot : bootstrap resamples for intervals and p-values (0 = point estimates only).
    min_group_size : groups with fewer rows are suppressed everywhere.
    intersections : also audit every pair of group columns.
    proxy_features : model feature columns for the proxy check against each group column.
    progress : called with (resamples done, total) while bootstrapping.
    """
    groups = list(groups)
    if not groups:
        raise AuditInputError("at least one group column is needed")
    _check_options(n_boot, confidence_level, n_bins)
    min_group_size = check_min_group_size(min_group_size)
    roles = [score, *([label] if label is not None else []), *groups]
    check_columns(frame, roles)
    proxy_features = list(proxy_features or [])
    if proxy_features:
        check_columns(frame, proxy_features)
        overlap = sorted(set(proxy_features) & set(groups))
        if overlap:
            raise AuditInputError(f"group column(s) {overlap} cannot also be proxy features")
    if len(frame) == 0:
        raise AuditInputError("the table has no rows to audit")

    s = score_values(frame, score)
    y = label_values(frame, label) if label is not None else None
    selected = rule.select(s)
    ties = ties_at_cutoff(rule, s)
    # A 0/1 flag is a decision, not a probability: calibration metrics would be meaningless.
    probabilities = scores_are_probabilities(s) and not is_binary_score(s)
    cells = cell_codes(y, selected)

    attributes = [encode_attribute(frame, column) for column in groups]
    all_groupings: list[Grouping] = [overall_grouping(len(frame)), *attributes]
    if intersections and len(attributes) > 1:
        all_groupings.extend(pairwise_intersections(attributes))

    observed = {g.name: observed_cell_counts(g.codes, cells, g.n_groups) for g in all_groupings}
    sizes = {name: counts.sum(axis=1) for name, counts in observed.items()}
    kept = {name: ~suppressed(size, min_group_size) for name, size in sizes.items()}
    reported = [g for g in all_groupings if g.kind != "overall"]
    reference_codes = _references(reported, sizes, kept, reference)

    metric_names = LABEL_FREE_METRICS if y is None else COUNT_METRICS
    fractions = {
        name: fractions_from_counts(*split_cells(counts)) for name, counts in observed.items()
    }
    estimates = {
        name: {m: safe_divide(*fraction) for m, fraction in per_metric.items()}
        for name, per_metric in fractions.items()
    }

    boot_rates: dict[str, dict[str, np.ndarray]] = {}
    if n_boot > 0:
        types = row_types(
            {g.name: g.codes for g in all_groupings},
            cells,
            key=[g.name for g in all_groupings if g.kind == "attribute"],
        )
        boot_counts = bootstrap_cell_counts(
            types,
            {g.name: g.n_groups for g in all_groupings},
            n_boot=n_boot,
            seed=seed,
            progress=(lambda done: progress(done, n_boot)) if progress else None,
        )
        boot_rates = {
            name: rates_from_counts(*split_cells(counts)) for name, counts in boot_counts.items()
        }

    alpha = 1.0 - confidence_level
    quantiles = (alpha / 2.0, 1.0 - alpha / 2.0)
    group_rows: list[dict[str, Any]] = []
    interval_rows: list[dict[str, Any]] = []
    disparity_rows: list[dict[str, Any]] = []
    reliability_frames: list[pd.DataFrame] = []
    summary_frames: list[pd.DataFrame] = []
    histogram_frames: list[pd.DataFrame] = []
    grouping_rows: list[dict[str, Any]] = []
    edges = histogram_edges(s, probabilities=probabilities)

    for grouping in all_groupings:
        name = grouping.name
        keep = kept[name]
        counts = observed[name]
        ref = reference_codes.get(name, -1)
        limits = (
            {m: nan_quantiles(boot_rates[name][m], quantiles) for m in metric_names}
            if boot_rates
            else {}
        )
        disparities = (
            {
                m: group_disparities(
                    fractions[name][m],
                    boot_rates[name][m] if boot_rates else None,
                    ref,
                    confidence_level=confidence_level,
                )
                for m in metric_names
            }
            if ref >= 0
            else {}
        )
        scored = grouped_score_metrics(
            y, s, grouping.codes, grouping.n_groups, probabilities=probabilities, n_bins=n_bins
        )
        if y is not None and probabilities and grouping.kind != "overall":
            reliability_frames.append(
                _reliability_frame(grouping, keep, y, s, n_bins=n_bins, min_size=min_group_size)
            )
        for code, group in enumerate(grouping.categories):
            row: dict[str, Any] = {
                "attribute": name,
                "kind": grouping.kind,
                "group": group,
                "suppressed": not bool(keep[code]),
                "is_reference": code == ref,
            }
            if keep[code]:
                tn, fp, fn, tp = (int(v) for v in counts[code])
                row["n"] = tn + fp + fn + tp
                row["n_selected"] = tp + fp
                if y is not None:
                    row.update({"n_positive": tp + fn, "tp": tp, "fp": fp, "fn": fn, "tn": tn})
                row.update({m: float(estimates[name][m][code]) for m in metric_names})
                row.update({k: float(v[code]) for k, v in scored.items()})
                for m in metric_names:
                    lower, upper = (
                        (float(limits[m][0][code]), float(limits[m][1][code]))
                        if limits
                        else (float("nan"), float("nan"))
                    )
                    interval_rows.append(
                        {
                            "attribute": name,
                            "group": group,
                            "metric": m,
                            "estimate": row[m],
                            "lower": lower,
                            "upper": upper,
                        }
                    )
                if disparities and code != ref:
                    for m in metric_names:
                        d = disparities[m]
                        disparity_rows.append(
                            {
                                "attribute": name,
                                "kind": grouping.kind,
                                "group": group,
                                "reference": grouping.categories[ref],
                                "metric": m,
                                "value": float(estimates[name][m][code]),
                                "reference_value": float(estimates[name][m][ref]),
                                **{k: float(v[code]) for k, v in d.items()},
                            }
                        )
            group_rows.append(row)
        if grouping.kind != "overall":
            summary, histogram = score_distribution(s, grouping, keep=keep, edges=edges)
            summary_frames.append(summary)
            histogram_frames.append(histogram)
            grouping_rows.append(
                {
                    "attribute": name,
                    "kind": grouping.kind,
                    "n_groups": grouping.n_groups,
                    "n_suppressed": int((~keep).sum()),
                    "reference": grouping.categories[ref] if ref >= 0 else None,
                }
            )

    table = _group_table(group_rows, labelled=y is not None)
    overall = table[table["kind"] == "overall"].reset_index(drop=True)
    by_group = table[table["kind"] != "overall"].reset_index(drop=True)
    disparity_table = _disparity_table(disparity_rows)
    proxies = None
    if proxy_features:
        proxies = proxy_check(
            frame[proxy_features],
            attributes,
            keep={g.name: kept[g.name] for g in attributes},
            n_bins=n_bins,
            auc_threshold=proxy_auc_threshold,
            nmi_threshold=proxy_nmi_threshold,
        )
    parity = (
        recall_parity(
            y,
            s,
            selected,
            reported,
            kept=kept,
            references=reference_codes,
            confidence_level=confidence_level,
        )
        if y is not None and probabilities
        else None
    )
    return AuditResult(
        score=score,
        label=label,
        attributes=tuple(groups),
        rule=rule,
        references={
            g.name: g.categories[reference_codes[g.name]]
            for g in reported
            if reference_codes[g.name] >= 0
        },
        n_boot=int(n_boot),
        seed=int(seed),
        min_group_size=min_group_size,
        confidence_level=float(confidence_level),
        n_bins=int(n_bins),
        scores_are_probabilities=probabilities,
        n_rows=len(frame),
        n_selected=int(selected.sum()),
        overall=overall,
        by_group=by_group,
        intervals=pd.DataFrame(
            interval_rows, columns=["attribute", "group", "metric", "estimate", "lower", "upper"]
        ),
        disparities=disparity_table,
        reliability=_concat(reliability_frames),
        score_summary=_concat(summary_frames),
        score_histogram=_concat(histogram_frames),
        groupings=pd.DataFrame(
            grouping_rows, columns=["attribute", "kind", "n_groups", "n_suppressed", "reference"]
        ),
        proxies=proxies,
        recall_parity=parity,
        settings={
            "ties_at_cutoff": None if ties is None else {**ties.to_dict(), "note": ties.message()},
            "intersections": bool(intersections),
            "proxy_features": proxy_features,
            "proxy_auc_threshold": float(proxy_auc_threshold),
            "proxy_nmi_threshold": float(proxy_nmi_threshold),
        },
    )


def _reliability_frame(
    grouping: Grouping,
    keep: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
    *,
    n_bins: int,
    min_size: int,
) -> pd.DataFrame:
    """Reliability bins of the kept groups; bins with fewer than min_size rows are blanked."""
    counts, mean_pred, observed = grouped_reliability(
        y, s, grouping.codes, grouping.n_groups, n_bins=n_bins
    )
    edges = bin_edges(n_bins)
    kept_codes = np.flatnonzero(keep)
    small = counts[kept_codes] < min_size
    frame = pd.DataFrame(
        {
            "attribute": grouping.name,
            "group": np.repeat([grouping.categories[c] for c in kept_codes], n_bins),
            "bin": np.tile(np.arange(n_bins), kept_codes.size),
            "lower": np.tile(edges[:-1], kept_codes.size),
            "upper": np.tile(edges[1:], kept_codes.size),
            "n": pd.array(counts[kept_codes].ravel(), dtype="Int64"),
            "mean_predicted": np.where(small, np.nan, mean_pred[kept_codes]).ravel(),
            "observed_rate": np.where(small, np.nan, observed[kept_codes]).ravel(),
            "suppressed": small.ravel(),
        }
    )
    frame.loc[frame["suppressed"], "n"] = pd.NA
    return frame


def _group_table(rows: list[dict[str, Any]], *, labelled: bool) -> pd.DataFrame:
    """by_group table with a fixed column order and nullable integer counts."""
    counts = ["n", "n_selected", *(("n_positive", "tp", "fp", "fn", "tn") if labelled else ())]
    rates = list(COUNT_METRICS if labelled else LABEL_FREE_METRICS)
    scored = list(SCORE_METRICS) if labelled else ["mean_predicted"]
    columns = ["attribute", "kind", "group", "suppressed", "is_reference", *counts, *rates, *scored]
    table = pd.DataFrame(rows).reindex(columns=columns)
    for column in counts:
        table[column] = table[column].astype("Int64")
    for column in rates + scored:
        table[column] = table[column].astype(float)
    return table


_DISPARITY_COLUMNS = [
    "attribute",
    "kind",
    "group",
    "reference",
    "metric",
    "value",
    "reference_value",
    "difference",
    "difference_lower",
    "difference_upper",
    "ratio",
    "ratio_lower",
    "ratio_upper",
    "p_value",
    "p_value_holm",
]


def _disparity_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Disparities with Holm-adjusted p-values over the whole report (one family of tests)."""
    table = pd.DataFrame(rows).reindex(columns=_DISPARITY_COLUMNS)
    table["p_value_holm"] = holm_adjust(table["p_value"].to_numpy(dtype=float))
    return table


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
