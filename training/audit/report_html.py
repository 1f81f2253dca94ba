"""Self-contained HTML audit report: one file, opens offline, every chart embedded as PNG.

Nothing is loaded from the network (no CDN, no web fonts, no scripts): charts are drawn with
matplotlib's Agg backend and embedded as base64 ``data:`` URIs, styles are inline. The
numbers come from the same :func:`training.audit.report_json.build_report` dictionary as the
JSON report, so both always agree; suppressed groups appear as marked cells and are left out
of every chart.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from features.private_files import write_private_text
from training.audit.metrics import METRIC_LABELS, SCORE_METRICS
from training.audit.report_json import build_report

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from training.audit.gates import GateOutcome
    from training.audit.result import AuditResult

# Next to this module (not a sub-folder) so setuptools package-data ("*.j2") ships it.
TEMPLATES = Path(__file__).parent
MAX_CHART_GROUPS = 30
#: chart resolution: 90 dots per inch, as the report has always drawn them
DPI = 90
RATE_COLUMNS = (
    "base_rate",
    "selection_rate",
    "tpr",
    "fpr",
    "fnr",
    "precision",
    "npv",
    "false_omission_rate",
    "false_discovery_rate",
)
SCORE_COLUMNS = SCORE_METRICS


def fmt(value: Any, digits: int = 3) -> str:
    """A number for reading; ``n/a`` for missing/undefined."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


def _pct(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * float(value):.1f}%"


def _figure_png(figure: Figure) -> str:
    """The figure as base64 PNG, drawn once at its own size.

    No ``bbox_inches="tight"`` and no ``tight_layout``: each costs one more layout pass
    over every text of the figure, and the charts drew twice per save (24 charts were
    13 of a small training run's 34 CPU-s). :func:`_new_figure` sets the margins instead.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas, outside pyplot: nothing to register or close, and
    the report draws in any thread (training draws it while fits run in the background)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _margins(
    figure: Figure,
    *,
    left: float,
    bottom: float = 0.5,
    top: float = 0.3,
    right: float = 0.15,
    wspace: float = 0.0,
) -> None:
    """Place the axes by margins in inches (what ``tight_layout`` would measure by drawing)."""
    width, height = figure.get_size_inches()
    figure.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=wspace,
    )


def _label_width(figure: Figure, labels: list[str], *, size: float) -> float:
    """Width in inches of the widest label at ``size`` points (measured, not drawn)."""
    from matplotlib.font_manager import FontProperties

    if not labels:
        return 0.0
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    font = FontProperties(size=size)
    widest = max(
        renderer.get_text_width_height_descent(label, font, ismath=False)[0] for label in labels
    )
    return float(widest) / figure.dpi


def _columns(result: AuditResult) -> list[str]:
    if result.label_free:
        return ["n", "n_selected", "selection_rate", "mean_predicted"]
    return ["n", "n_selected", *RATE_COLUMNS, *SCORE_COLUMNS]


def _cell(
    row: pd.Series, metric: str, intervals: dict[tuple[str, str], tuple[float, float]]
) -> str:
    value = row.get(metric)
    if metric in ("n", "n_selected"):
        return str(escape(fmt(value)))
    if metric in SCORE_COLUMNS:
        return str(escape(fmt(value)))
    text = str(escape(_pct(value)))
    bounds = intervals.get((str(row["group"]), metric))
    if bounds and not any(math.isnan(b) for b in bounds):
        text += f'<br><span class="interval">{_pct(bounds[0])}–{_pct(bounds[1])}</span>'
    return text


def _group_table(result: AuditResult, attribute: str) -> Markup:
    rows = result.by_group[result.by_group["attribute"] == attribute]
    own = result.intervals[result.intervals["attribute"] == attribute]
    intervals = {
        (str(r.group), str(r.metric)): (float(r.lower), float(r.upper))
        for r in own.itertuples(index=False)
    }
    columns = _columns(result)
    head = "".join(f"<th>{escape(METRIC_LABELS.get(c, c))}</th>" for c in columns)
    body = []
    for _, row in rows.iterrows():
        css = ' class="reference"' if row["is_reference"] else ""
        name = escape(str(row["group"])) + (" (reference)" if row["is_reference"] else "")
        if row["suppressed"]:
            cells = (
                f'<td class="suppressed" colspan="{len(columns)}">suppressed: fewer than '
                f"{result.min_group_size} rows</td>"
            )
        else:
            cells = "".join(f"<td>{_cell(row, c, intervals)}</td>" for c in columns)
        body.append(f'<tr{css}><td class="label">{name}</td>{cells}</tr>')
    return Markup(f'<table><tr><th class="label">group</th>{head}</tr>{"".join(body)}</table>')


def _sizes(result: AuditResult, attribute: str) -> dict[str, int]:
    """Rows per reported group of ``attribute``: the n shown beside every rate."""
    rows = result.by_group[
        (result.by_group["attribute"] == attribute) & ~result.by_group["suppressed"]
    ]
    return {str(r.group): int(r.n) for r in rows.itertuples(index=False)}


def _n_pair(sizes: dict[str, int], group: str, reference: str) -> str:
    """ "1,204 / 5,310": the group's rows and the reference's, beside a comparison."""
    return f"{fmt(sizes.get(str(group)))} / {fmt(sizes.get(str(reference)))}"


def _disparity_table(result: AuditResult, attribute: str) -> Markup:
    table = result.disparities[result.disparities["attribute"] == attribute]
    if table.empty:
        return Markup("")
    sizes = _sizes(result, attribute)
    keep = ["selection_rate", "tpr", "fpr", "fnr", "precision", "base_rate"]
    table = table[table["metric"].isin(keep)]
    rows = []
    for r in table.itertuples(index=False):
        significant = not math.isnan(r.p_value_holm) and r.p_value_holm < 0.05
        rows.append(
            "<tr>"
            f'<td class="label">{escape(r.group)}</td>'
            f"<td>{_n_pair(sizes, r.group, r.reference)}</td>"
            f'<td class="label">{escape(METRIC_LABELS[r.metric])}</td>'
            f"<td>{_pct(r.value)}</td><td>{_pct(r.reference_value)}</td>"
            f'<td>{fmt(r.difference)}<br><span class="interval">{fmt(r.difference_lower)}'
            f" – {fmt(r.difference_upper)}</span></td>"
            f'<td>{fmt(r.ratio, 2)}<br><span class="interval">{fmt(r.ratio_lower, 2)}'
            f" – {fmt(r.ratio_upper, 2)}</span></td>"
            f"<td>{fmt(r.p_value_holm)}</td>"
            f'<td class="{"fail" if significant else ""}">{"yes" if significant else ""}</td>'
            "</tr>"
        )
    return Markup(
        "<details><summary>Disparities against the reference</summary><table>"
        '<tr><th class="label">group</th><th>n (group / reference)</th>'
        '<th class="label">metric</th><th>group</th>'
        "<th>reference</th><th>difference</th><th>ratio</th><th>Holm p</th><th>clear</th></tr>"
        + "".join(rows)
        + "</table></details>"
    )


def _rate_chart(result: AuditResult, attribute: str, metrics: list[str]) -> Figure | None:
    """Rates per group with their intervals, one panel per metric, the groups down the side."""
    own = result.intervals[result.intervals["attribute"] == attribute]
    groups = [str(g) for g in dict.fromkeys(own["group"])][:MAX_CHART_GROUPS]
    if not groups:
        return None
    figure = _new_figure(3.6 * len(metrics), 0.45 * len(groups) + 1.4)
    # the group names stand left of the first panel only: the margin is the widest name
    _margins(
        figure,
        left=_label_width(figure, groups, size=10) + 0.2,
        bottom=0.35,
        top=0.35,
        right=0.2,
        wspace=0.1,
    )
    axes = figure.subplots(1, len(metrics), squeeze=False, sharey=True)
    positions = np.arange(len(groups))
    for axis, metric in zip(axes[0], metrics, strict=True):
        rows = own[own["metric"] == metric].set_index("group").reindex(groups)
        estimate = rows["estimate"].to_numpy(dtype=float)
        lower = rows["lower"].to_numpy(dtype=float)
        upper = rows["upper"].to_numpy(dtype=float)
        errors = np.vstack([estimate - lower, upper - estimate])
        # A small bootstrap can leave the estimate just outside its percentile interval.
        errors = np.clip(np.where(np.isnan(errors), 0.0, errors), 0.0, None)
        axis.barh(positions, np.nan_to_num(estimate), color="#6c8ebf", alpha=0.8)
        axis.errorbar(estimate, positions, xerr=errors, fmt="none", ecolor="#222", capsize=3)
        reference = result.references.get(attribute)
        if reference in groups:
            axis.axvline(estimate[groups.index(reference)], color="#c0392b", linestyle="--", lw=1)
        axis.set_title(METRIC_LABELS[metric], fontsize=10)
        axis.set_xlim(left=0)
    # shared y: the names are set once, on the first panel, and the others hide them
    axes[0][0].set_yticks(positions, labels=groups)
    axes[0][0].invert_yaxis()
    return figure


def _reliability_chart(result: AuditResult, attribute: str) -> Figure | None:
    """Observed rate against mean predicted probability per bin, one curve per group."""
    table = result.reliability
    if table.empty:
        return None
    own = table[(table["attribute"] == attribute) & ~table["suppressed"]]
    if own.empty:
        return None
    figure = _new_figure(5, 4.2)
    _margins(figure, left=0.8, bottom=0.6)
    axis = figure.subplots()
    # Risk scores are mostly small: zoom to the populated corner (the diagonal stays the
    # reference), otherwise every curve is squeezed into the bottom-left fifth of the plot.
    upper = float(np.nanmax(own[["mean_predicted", "observed_rate"]].to_numpy(dtype=float)))
    limit = min(1.0, max(0.05, 1.1 * upper)) if np.isfinite(upper) else 1.0
    axis.plot(
        [0, limit], [0, limit], color="#888", linestyle=":", lw=1, label="perfect calibration"
    )
    for group in list(dict.fromkeys(own["group"]))[:MAX_CHART_GROUPS]:
        rows = own[own["group"] == group]
        axis.plot(rows["mean_predicted"], rows["observed_rate"], marker="o", ms=3, label=group)
    axis.set_xlabel("mean predicted probability")
    axis.set_ylabel("observed rate")
    axis.set_xlim(0, limit)
    axis.set_ylim(0, limit)
    axis.legend(fontsize=7, loc="upper left")
    axis.set_title(f"Reliability by {attribute}", fontsize=10)
    return figure


def _distribution_chart(result: AuditResult, attribute: str) -> Figure | None:
    """Each group's share of rows per score bin (a step line), with the threshold."""
    table = result.score_histogram
    if table.empty:
        return None
    own = table[table["attribute"] == attribute]
    if own.empty:
        return None
    figure = _new_figure(5.5, 3.6)
    _margins(figure, left=0.8, bottom=0.6)
    axis = figure.subplots()
    for group in list(dict.fromkeys(own["group"]))[:MAX_CHART_GROUPS]:
        rows = own[own["group"] == group]
        edges = np.append(rows["lower"].to_numpy(), rows["upper"].to_numpy()[-1])
        axis.stairs(rows["share"].to_numpy(), edges, label=group, lw=1.4)
    threshold = result.rule.to_dict().get("threshold")
    if isinstance(threshold, int | float):
        axis.axvline(float(threshold), color="#c0392b", linestyle="--", lw=1, label="threshold")
    low, high = _populated_range(own, threshold)
    axis.set_xlim(low, high)
    axis.set_xlabel(f"score ({result.score})")
    axis.set_ylabel("share of the group")
    axis.legend(fontsize=7)
    axis.set_title(f"Score distribution by {attribute}", fontsize=10)
    return figure


def _populated_range(histogram: pd.DataFrame, threshold: object) -> tuple[float, float]:
    """The score range the data occupy (bins with any share), padded by 5 %, the threshold
    kept in view: scores all below 0.3 are drawn on 0-0.3, not squeezed into a 0-1 axis."""
    filled = histogram[histogram["share"] > 0]
    if filled.empty:
        filled = histogram
    low, high = float(filled["lower"].min()), float(filled["upper"].max())
    if isinstance(threshold, int | float) and math.isfinite(float(threshold)):
        low, high = min(low, float(threshold)), max(high, float(threshold))
    pad = 0.05 * (high - low) if high > low else 0.05
    return low - pad, high + pad


def _recall_parity_table(result: AuditResult, attribute: str) -> Markup:
    """Recall against the recall the probabilities promise, per group, beside the reference."""
    table = result.recall_parity
    if table is None:
        return Markup("")
    table = table[table["attribute"] == attribute]
    if table.empty:
        return Markup("")
    sizes = _sizes(result, attribute)
    rows = []
    for r in table.itertuples(index=False):
        significant = not math.isnan(r.p_value_holm) and r.p_value_holm < 0.05
        rows.append(
            "<tr>"
            f'<td class="label">{escape(r.group)}</td>'
            f"<td>{_n_pair(sizes, r.group, r.reference)}</td>"
            f"<td>{_pct(r.recall)}</td><td>{_pct(r.expected_recall)}</td>"
            f"<td>{fmt(r.recall_oe, 2)}</td><td>{fmt(r.reference_recall_oe, 2)}</td>"
            f'<td>{fmt(r.ratio, 2)}<br><span class="interval">{fmt(r.ratio_lower, 2)}'
            f" – {fmt(r.ratio_upper, 2)}</span></td>"
            f"<td>{fmt(r.p_value_holm)}</td>"
            f'<td class="{"fail" if significant else ""}">{"yes" if significant else ""}</td>'
            "</tr>"
        )
    return Markup(
        "<details><summary>Recall parity after risk: outcomes reached against the share "
        "the probabilities promise</summary>"
        '<p class="note">Recall = share of the group\'s outcomes the rule reaches; promised = '
        "the recall the group's own probabilities imply. At unequal risk, one cut-off on "
        "calibrated scores gives unequal recall; a ratio of recall O/E far from 1 means the "
        "model misses one group's outcomes more than its scores admit.</p><table>"
        '<tr><th class="label">group</th><th>n (group / reference)</th>'
        "<th>recall</th><th>promised</th><th>recall O/E</th>"
        "<th>reference O/E</th><th>ratio</th><th>Holm p</th><th>clear</th></tr>"
        + "".join(rows)
        + "</table></details>"
    )


def _section(result: AuditResult, meta: Any, *, charts: bool) -> dict[str, Any]:
    images: list[tuple[str, str]] = []
    if charts:
        rate_metrics = ["selection_rate"] if result.label_free else ["selection_rate", "fpr", "fnr"]
        candidates: list[tuple[str, Callable[[], Figure | None]]] = [
            (
                "Selection rate"
                + ("" if result.label_free else ", false positive and false negative rates")
                + " with intervals; dashed line = reference group",
                lambda: _rate_chart(result, meta.attribute, rate_metrics),
            ),
            ("Reliability curves per group", lambda: _reliability_chart(result, meta.attribute)),
            ("Score distribution per group", lambda: _distribution_chart(result, meta.attribute)),
        ]
        for title, draw in candidates:
            figure = draw()
            if figure is not None:
                images.append((title, _figure_png(figure)))
    return {
        "name": meta.attribute,
        "reference": meta.reference,
        "n_suppressed": int(meta.n_suppressed),
        "table": _group_table(result, meta.attribute),
        "disparity_table": _disparity_table(result, meta.attribute),
        "recall_parity_table": _recall_parity_table(result, meta.attribute),
        "images": images,
    }


def render_html(
    result: AuditResult,
    *,
    gate_outcomes: list[GateOutcome] | None = None,
    source: str | None = None,
    generated_at: datetime | None = None,
) -> str:
    """The whole report as one HTML string."""
    import matplotlib

    # Group labels are data: a "$" in one must be drawn as a "$", not parsed as TeX math
    # (matplotlib's mathtext raises on labels such as "$_$").
    with matplotlib.rc_context({"text.parse_math": False}):
        return _render_html(
            result, gate_outcomes=gate_outcomes, source=source, generated_at=generated_at
        )


def _render_html(
    result: AuditResult,
    *,
    gate_outcomes: list[GateOutcome] | None,
    source: str | None,
    generated_at: datetime | None,
) -> str:
    report = build_report(
        result, gate_outcomes=gate_outcomes, source=source, generated_at=generated_at
    )
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"])
    )
    template = environment.get_template("audit_report.html.j2")
    groupings = list(result.groupings.itertuples(index=False))
    overall_row = result.overall.iloc[0]
    overall_intervals = {
        (str(r.group), str(r.metric)): (float(r.lower), float(r.upper))
        for r in result.intervals[result.intervals["attribute"] == "(all)"].itertuples(index=False)
    }
    return template.render(
        **report,
        settings=result.settings,
        n_tests=int(result.disparities["p_value"].notna().sum()),
        columns=_columns(result),
        labels={**METRIC_LABELS, "n_selected": "selected"},
        overall_row=overall_row,
        cell=lambda row, metric: _cell(row, metric, overall_intervals),
        fmt=fmt,
        attribute_sections=[
            _section(result, g, charts=True) for g in groupings if g.kind == "attribute"
        ],
        intersection_sections=[
            _section(result, g, charts=False) for g in groupings if g.kind == "intersection"
        ],
    )


def write_html_report(html: str, path: str | Path) -> Path:
    """Write the rendered report (UTF-8)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_private_text(target, html)
    return target
