"""The training report: one page that says whether the new model may replace the old one.

Written as Markdown (``training_report.md``, readable in MLflow's artifact view and in a
terminal) and as self-contained HTML (``training_report.html``, figures embedded, nothing
loaded from the network), with the figures also as PNG files. Figures:

* timeline of the slices (as-of dates and label windows), so the temporal design is visible;
* reliability diagram of every model on the test slice (calibration);
* capacity curve: precision and lift as the number of families reached grows;
* baseline comparison: each metric with its bootstrap interval, side by side;
* feature importance of the main model (total gain).

:func:`build_figures` and :func:`render_markdown` are pure (inputs -> figures / text);
:func:`write_report` is the file adapter.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training.calibration import CalibrationResult
from training.evaluation import METRICS, Evaluation
from training.gates import PromotionDecision
from training.splits import SliceInfo

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "brier": "Brier score",
    "log_loss": "log-loss",
    "ece": "expected calibration error (equal-mass bins)",
    "precision_at_k": "precision at capacity",
    "recall_at_k": "recall at capacity",
    "lift_at_k": "lift at capacity",
}
SLICE_COLOURS = {"train": "#4C72B0", "calibration": "#DD8452", "test": "#55A868"}


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows; built by the pipeline, pure data."""

    title: str
    main: str
    slices: tuple[SliceInfo, ...]
    horizon_months: int
    evaluation: Evaluation
    calibration: dict[str, CalibrationResult]
    decision: PromotionDecision
    capacity: str
    feature_importance: pd.Series | None = None
    fit_summary: dict[str, Any] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    fairness_summary: list[str] = field(default_factory=list)
    generated_at: str = ""


# --------------------------------------------------------------------------- figures


def _fig_timeline(inputs: ReportInputs) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 2.8))
    ax = fig.subplots()
    rows = [
        (info, as_of, end)
        for info in inputs.slices
        for as_of, end in zip(info.as_of, info.window_end, strict=True)
    ]
    for y, (info, as_of, end) in enumerate(rows):
        colour = SLICE_COLOURS.get(info.name, "grey")
        start, stop = pd.Timestamp(as_of), pd.Timestamp(end)
        ax.barh(y, (stop - start).days, left=start, height=0.5, color=colour, alpha=0.35)
        ax.plot([start], [y], marker="|", markersize=18, color=colour)
        ax.text(stop, y, f"  label window to {end.isoformat()}", va="center", fontsize=7)
    if rows:  # room for the first marker on the left and the window labels on the right
        first = pd.Timestamp(min(a for _, a, _ in rows)) - pd.Timedelta(days=90)
        last = pd.Timestamp(max(e for _, _, e in rows)) + pd.Timedelta(days=420)
        ax.set_xlim(first, last)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{i.name} as of {a.isoformat()}" for i, a, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_title(f"Temporal slices: as-of date | and {inputs.horizon_months}-month label window")
    ax.xaxis_date()
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _error_bars(estimate: ArrayLike, low: ArrayLike, high: ArrayLike) -> np.ndarray:
    """Matplotlib's (2, n) error extents below and above each estimate, never negative.

    A percentile interval need not contain the estimate (ECE is biased upward in resamples);
    the bar shows the part of the interval on each side, if any.
    """
    estimate = np.asarray(estimate, dtype=float)
    below = estimate - np.asarray(low, dtype=float)
    above = np.asarray(high, dtype=float) - estimate
    return np.clip(np.vstack([below, above]), 0, None)


def _fig_reliability(inputs: ReportInputs) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    top = 0.0
    for name, ev in inputs.evaluation.models.items():
        r = ev.reliability
        ax.errorbar(
            r["mean_predicted"],
            r["observed"],
            yerr=_error_bars(r["observed"], r["observed_low"], r["observed_high"]),
            marker="o",
            capsize=2,
            label=f"{name} (ECE {ev.metrics['ece'].estimate:.3f})",
        )
        top = max(top, float(r["mean_predicted"].max()), float(r["observed_high"].max()))
    ax.plot([0, top], [0, top], color="black", linestyle="--", linewidth=1, label="perfect")
    ax.set_xlabel("mean predicted probability (equal-mass bins)")
    ax.set_ylabel("observed outcome rate (95% interval)")
    ax.set_title("Reliability on the test slice")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _fig_capacity(inputs: ReportInputs) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    for name, ev in inputs.evaluation.models.items():
        c = ev.capacity_curve
        ax1.plot(c["fraction"] * 100, c["precision"], marker="o", label=name)
        ax2.plot(c["fraction"] * 100, c["lift"], marker="o", label=name)
    prevalence = inputs.evaluation.prevalence
    ax1.axhline(prevalence, color="grey", linestyle=":", label="base rate")
    ax2.axhline(1.0, color="grey", linestyle=":")
    k_frac = inputs.evaluation.capacity_k / inputs.evaluation.n_rows * 100
    for ax in (ax1, ax2):
        ax.axvline(k_frac, color="black", linestyle="--", linewidth=1)
        ax.set_xlabel("families reached (% of test slice, highest scores first)")
    ax1.set_ylabel("precision (share with the outcome)")
    ax2.set_ylabel("lift over random outreach")
    ax1.set_title("Precision by capacity")
    ax2.set_title("Lift by capacity (dashed: configured)")
    ax1.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _fig_comparison(inputs: ReportInputs) -> Figure:
    from matplotlib.figure import Figure

    metrics = ["roc_auc", "pr_auc", "brier", "ece", "precision_at_k", "lift_at_k"]
    fig = Figure(figsize=(10, 5))
    axes = fig.subplots(2, 3).ravel()
    names = list(inputs.evaluation.models)
    oracle = inputs.evaluation.oracle
    for ax, metric in zip(axes, metrics, strict=True):
        ivs = [inputs.evaluation.models[n].metrics[metric] for n in names]
        labels = list(names)
        if oracle:
            ivs.append(oracle[metric])
            labels.append("oracle")
        est = np.array([iv.estimate for iv in ivs])
        err = _error_bars(est, [iv.low for iv in ivs], [iv.high for iv in ivs])
        ax.barh(
            range(len(ivs)),
            est,
            xerr=np.nan_to_num(err),
            capsize=3,
            color=["#4C72B0", "#DD8452", "#8172B3", "#999999"][: len(ivs)],
        )
        ax.set_yticks(range(len(ivs)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_title(METRIC_LABELS[metric], fontsize=9)
        ax.invert_yaxis()
    fig.suptitle("Test slice: model vs baselines (bootstrap intervals)")
    fig.tight_layout()
    return fig


def _fig_importance(inputs: ReportInputs) -> Figure | None:
    from matplotlib.figure import Figure

    imp = inputs.feature_importance
    if imp is None or imp.empty:
        return None
    top = imp.head(15)[::-1]
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    ax.barh(top.index, top.to_numpy())
    ax.set_xlabel("total split gain")
    ax.set_title(f"{inputs.main}: most used indicators")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def build_figures(inputs: ReportInputs) -> dict[str, Figure]:
    """The report's figures by file stem."""
    figures = {
        "timeline": _fig_timeline(inputs),
        "reliability": _fig_reliability(inputs),
        "capacity": _fig_capacity(inputs),
        "baseline_comparison": _fig_comparison(inputs),
    }
    imp = _fig_importance(inputs)
    if imp is not None:
        figures["feature_importance"] = imp
    return figures


# --------------------------------------------------------------------------- text


def _md_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(str(v) for v in row.tolist()) + " |")
    return "\n".join(lines)


def metrics_table(evaluation: Evaluation) -> pd.DataFrame:
    """Models (and the oracle) as columns, metrics as rows, ``estimate [low, high]`` cells."""
    cols: dict[str, list[str]] = {}
    for name, ev in evaluation.models.items():
        cols[name] = [str(ev.metrics[m]) for m in METRICS]
    if evaluation.oracle:
        cols["oracle"] = [str(evaluation.oracle[m]) for m in METRICS]
    table = pd.DataFrame(cols, index=[METRIC_LABELS[m] for m in METRICS])
    table.index.name = "metric"
    return table.reset_index()


def render_markdown(inputs: ReportInputs, *, figure_dir: str = "figures") -> str:
    """The report as Markdown, figures referenced as ``<figure_dir>/<name>.png``."""
    ev = inputs.evaluation
    d = inputs.decision
    out = [f"# {inputs.title}", ""]
    if inputs.generated_at:
        out += [f"Generated {inputs.generated_at}.", ""]
    verdict = "PROMOTED to `champion`" if d.promoted else "kept as `challenger`"
    out += ["## Decision", "", f"**{verdict}**: {d.explain()}", ""]
    if inputs.model:
        out += [", ".join(f"{k}: `{v}`" for k, v in inputs.model.items()), ""]
    gate_rows = pd.DataFrame(
        [
            {
                "gate": g.name,
                "result": g.status if g.passed else f"**{g.status.upper()}**",
                "detail": g.detail,
            }
            for g in d.gates
        ]
    )
    if len(gate_rows):
        out += [_md_table(gate_rows), ""]
    out += [
        "## Temporal design",
        "",
        f"Label: outcome within {inputs.horizon_months} months after the as-of date. "
        "Each family belongs to exactly one slice.",
        "",
        _md_table(
            pd.DataFrame(
                [
                    {
                        "slice": s.name,
                        "as-of dates": ", ".join(a.isoformat() for a in s.as_of),
                        "label windows end": ", ".join(e.isoformat() for e in s.window_end),
                        "rows": s.n_rows,
                        "families": s.n_families,
                        "outcome rate": f"{s.prevalence:.2%}",
                    }
                    for s in inputs.slices
                ]
            )
        ),
        "",
        f"![timeline]({figure_dir}/timeline.png)",
        "",
        "## Test-slice metrics",
        "",
        f"{ev.n_rows} families, {ev.n_positive} with the outcome ({ev.prevalence:.2%}); "
        f"capacity {inputs.capacity} = {ev.capacity_k} families. Intervals: "
        f"{ev.confidence_level:.0%} paired bootstrap, {ev.n_bootstrap} resamples (resampling "
        "adds noise to every calibration bin, so the ECE interval can lie above its estimate).",
        "",
        _md_table(metrics_table(ev)),
        "",
    ]
    if ev.auc_difference:
        out += ["AUC difference (paired bootstrap):", ""]
        out += [
            f"- {k}: {v.estimate:+.4f} [{v.low:+.4f}, {v.high:+.4f}]"
            for k, v in ev.auc_difference.items()
        ]
        out += [""]
    truth_rows = [
        {"model": n, **{k: f"{v:.4f}" for k, v in m.truth.items()}}
        for n, m in ev.models.items()
        if m.truth
    ]
    if truth_rows:
        out += [
            "### Against the true probabilities (synthetic registry)",
            "",
            "Distance of each model's calibrated probability from the generator's true "
            "probability; the oracle row above is the AUC a model knowing the truth reaches.",
            "",
            _md_table(pd.DataFrame(truth_rows)),
            "",
        ]
    out += [
        "## Calibration",
        "",
        "Chosen on the calibration slice by out-of-fold Brier score (5 folds), then refitted "
        "on the whole slice; the calibrator maps the raw score monotonically.",
        "",
        _md_table(
            pd.DataFrame(
                [
                    {
                        "model": name,
                        "chosen": c.method,
                        **{f"{m} Brier (CV)": f"{v:.5f}" for m, v in c.cv_brier.items()},
                        "uncalibrated Brier": f"{c.uncalibrated_brier:.5f}",
                    }
                    for name, c in inputs.calibration.items()
                ]
            )
        ),
        "",
        f"![reliability]({figure_dir}/reliability.png)",
        "",
        "## Capacity",
        "",
        f"![capacity]({figure_dir}/capacity.png)",
        "",
        "## Baselines",
        "",
        f"![comparison]({figure_dir}/baseline_comparison.png)",
        "",
    ]
    if inputs.fairness_summary:
        out += ["## Fairness audit (test slice)", ""]
        out += [f"- {line}" for line in inputs.fairness_summary] + [""]
    if inputs.feature_importance is not None:
        out += ["## Indicators", "", f"![importance]({figure_dir}/feature_importance.png)", ""]
    if inputs.fit_summary:
        out += ["## Fit", ""] + [f"- {k}: `{v}`" for k, v in inputs.fit_summary.items()] + [""]
    if inputs.fingerprints:
        out += ["## Reproducibility", ""]
        out += [f"- {k}: `{v}`" for k, v in inputs.fingerprints.items()] + [""]
    return "\n".join(out)


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
th{background:#f3f3f3} img{max-width:100%} code{background:#f3f3f3;padding:0 .2em}
.pass{color:#276b2e}.fail{color:#a11;font-weight:bold}
</style></head><body>
{{ body }}
</body></html>
"""


def _md_to_html(markdown: str, images: dict[str, str]) -> str:
    """A small Markdown subset to HTML (headings, tables, lists, images, bold, code)."""
    import re

    from markupsafe import escape

    def inline(text: str) -> str:
        t = str(escape(text))
        t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", t)

    html, lines, i = [], markdown.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            html.append(f"<h{level}>{inline(line[level:].strip())}</h{level}>")
        elif line.startswith("!["):
            m = re.match(r"!\[(.*?)\]\((.*?)\)", line)
            if m:
                stem = Path(m.group(2)).stem
                src = images.get(stem, m.group(2))
                html.append(f'<img alt="{escape(m.group(1))}" src="{src}">')
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            head, body = rows[0], rows[2:]
            html.append("<table><tr>" + "".join(f"<th>{inline(c)}</th>" for c in head) + "</tr>")
            for r in body:
                html.append("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>")
            html.append("</table>")
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{inline(lines[i][2:])}</li>")
                i += 1
            html.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.strip():
            html.append(f"<p>{inline(line)}</p>")
        i += 1
    return "\n".join(html)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


@dataclass(frozen=True)
class WrittenReport:
    """Paths of the written report."""

    directory: Path
    markdown: Path
    html: Path
    figures: dict[str, Path]


def write_report(inputs: ReportInputs, directory: Path) -> WrittenReport:
    """Write ``training_report.md``, ``training_report.html`` and ``figures/*.png``."""
    import matplotlib

    matplotlib.use("Agg")
    directory = Path(directory)
    fig_dir = directory / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    if not inputs.generated_at:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        inputs = ReportInputs(**{**inputs.__dict__, "generated_at": stamp})
    paths, embedded = {}, {}
    for name, fig in build_figures(inputs).items():
        data = _png(fig)
        path = fig_dir / f"{name}.png"
        path.write_bytes(data)
        paths[name] = path
        embedded[name] = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    markdown = render_markdown(inputs)
    md_path = directory / "training_report.md"
    md_path.write_text(markdown, encoding="utf-8")
    from jinja2 import Environment
    from markupsafe import Markup

    html = (
        Environment(autoescape=True)
        .from_string(_HTML)
        .render(title=inputs.title, body=Markup(_md_to_html(markdown, embedded)))
    )
    html_path = directory / "training_report.html"
    html_path.write_text(html, encoding="utf-8")
    return WrittenReport(directory=directory, markdown=md_path, html=html_path, figures=paths)
