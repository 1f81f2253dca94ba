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

from training.audit.summary import summarize
from training.calibration import CalibrationResult
from training.evaluation import METRICS, Evaluation
from training.gates import GateResult, PromotionDecision
from training.outcome import Outcome, outcome_summary, sort_checks
from training.results import WrittenReport
from training.splits import SliceInfo

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

    from training.results import TrainResult

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
    design_source: str = ""
    design_reasons: tuple[str, ...] = ()
    design_warnings: tuple[str, ...] = ()
    final_slices: tuple[SliceInfo, ...] = ()  # the registered model's train / calibration
    backtest: pd.DataFrame | None = None  # training.backtest.Backtest.table()
    data_seen: pd.DataFrame | None = None  # stage, as-of dates, rows, outcomes, what for
    eligibility: str = ""
    eligibility_counts: pd.DataFrame | None = None
    family_disjoint: bool = False
    support_section: list[str] = field(default_factory=list)  # issue 24 (support_report)


# --------------------------------------------------------------------------- figures


def _fig_timeline(inputs: ReportInputs) -> Figure:
    from matplotlib.figure import Figure

    n_rows = sum(len(i.as_of) for i in (*inputs.slices, *inputs.final_slices))
    fig = Figure(figsize=(8, max(2.8, 0.3 * n_rows + 1.2)))
    ax = fig.subplots()
    final = [
        SliceInfo(
            name=f"final {i.name}",  # type: ignore[arg-type]
            as_of=i.as_of,
            window_end=i.window_end,
            n_rows=i.n_rows,
            n_families=i.n_families,
            n_positive=i.n_positive,
        )
        for i in inputs.final_slices
    ]
    rows = [
        (info, as_of, end)
        for info in (*inputs.slices, *final)
        for as_of, end in zip(info.as_of, info.window_end, strict=True)
    ]
    for y, (info, as_of, end) in enumerate(rows):
        colour = SLICE_COLOURS.get(info.name, "#8172B3")
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
    ax.set_title(
        f"Temporal design: as-of date | and {inputs.horizon_months}-month label window "
        "(final: the registered model's refit)",
        fontsize=9,
    )
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


def _fig_backtest(inputs: ReportInputs) -> Figure | None:
    from matplotlib.figure import Figure

    table = inputs.backtest
    if table is None or table.empty:
        return None
    fig = Figure(figsize=(8, 3.5))
    ax1, ax2 = fig.subplots(1, 2)
    dates = pd.to_datetime(table["test_as_of"].str.split(", ").str[0])
    for model in [c.removesuffix(".roc_auc") for c in table.columns if c.endswith(".roc_auc")]:
        for ax, metric in ((ax1, "roc_auc"), (ax2, "precision_at_k")):
            est = table[f"{model}.{metric}"].to_numpy(dtype=float)
            err = _error_bars(est, table[f"{model}.{metric}.low"], table[f"{model}.{metric}.high"])
            ax.errorbar(dates, est, yerr=np.nan_to_num(err), marker="o", capsize=3, label=model)
    ax1.set_title("ROC AUC by origin (test as-of date)", fontsize=9)
    ax2.set_title("precision at capacity by origin", fontsize=9)
    ax1.legend(fontsize=7)
    fig.autofmt_xdate()
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
    backtest = _fig_backtest(inputs)
    if backtest is not None:
        figures["backtest"] = backtest
    return figures


# --------------------------------------------------------------------------- text


def _md_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(str(v) for v in row.tolist()) + " |")
    return "\n".join(lines)


def _outcome_cell(gate: GateResult) -> str:
    """The gate's outcome word (bold unless a pass), with its status when it says more."""
    word = gate.outcome.value
    cell = word if gate.outcome is Outcome.PASS else f"**{word.upper()}**"
    if gate.status not in ("pass", "fail", "inconclusive"):
        cell += f" ({gate.status.replace('_', ' ')})"
    return cell


def oracle_share(model_auc: float, oracle_auc: float) -> float | None:
    """The share of the oracle's ranking gain over chance that a model reaches:
    ``(AUC - 0.5) / (oracle AUC - 0.5)``; a ratio of raw AUCs (0.648 / 0.696 = 93 %) would
    credit the model with the 0.5 that a coin toss reaches (76 % measured from chance)."""
    gain = oracle_auc - 0.5
    if not np.isfinite(gain) or gain <= 0 or not np.isfinite(model_auc):
        return None
    return float((model_auc - 0.5) / gain)


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
                "outcome": _outcome_cell(g),
                "detail": g.detail.replace("|", "/"),
            }
            for g in sort_checks(d.gates)
        ]
    )
    if len(gate_rows):
        out += [
            f"Gates: {outcome_summary(d.gates)}. A gate passes when its estimate and its "
            "interval lie within the band, fails when it is outside and clear after the "
            "multiplicity correction, and is inconclusive otherwise; failed and inconclusive "
            "gates block promotion unless waived. Failed first, then inconclusive, then passed.",
            "",
            _md_table(gate_rows),
            "",
        ]
        reasons = sorted({g.waiver for g in d.gates if g.waiver})
        if reasons:
            out += ['Waivers (each reason once; the waived gates above say "waived"):', ""]
            out += [f"- {reason}" for reason in reasons] + [""]
    separation = (
        "Each family belongs to exactly one slice (family-disjoint slices)."
        if inputs.family_disjoint
        else "Slices are separated in time: a family may appear in several, at different "
        "dates, as it will be scored again in the future; the test slice is the future of "
        "everything the model and its calibrator saw."
    )
    out += [
        "## Temporal design",
        "",
        f"Label: outcome within {inputs.horizon_months} months after the as-of date. " + separation,
        "",
    ]
    if inputs.design_source:
        out += [f"Design from the {inputs.design_source}, because:", ""]
        out += [f"- {reason}" for reason in inputs.design_reasons] + [""]
    for warning in inputs.design_warnings:
        out += [f"**Warning**: {warning}", ""]
    out += [
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
    ]
    if inputs.data_seen is not None and not inputs.data_seen.empty:
        out += [
            "### Which data each stage saw",
            "",
            "The figures of this report are those of the held-out design; the registered "
            "model is the final refit, with the same hyperparameters and calibration method.",
            "",
            _md_table(inputs.data_seen),
            "",
        ]
    if inputs.eligibility:
        out += [
            "### Who is scored",
            "",
            f"Eligible: {inputs.eligibility}. Ineligible "
            "families are left out of training, evaluation, percentiles and audits.",
            "",
        ]
        if inputs.eligibility_counts is not None and not inputs.eligibility_counts.empty:
            out += [_md_table(inputs.eligibility_counts), ""]
    out += [
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
            *[
                f"- {name} reaches {share:.0%} of the oracle's ranking gain over chance "
                f"((ROC AUC - 0.5) / (oracle ROC AUC - 0.5))."
                for name, m in ev.models.items()
                if ev.oracle
                and (
                    share := oracle_share(
                        m.metrics["roc_auc"].estimate, ev.oracle["roc_auc"].estimate
                    )
                )
                is not None
            ],
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
    if inputs.backtest is not None and not inputs.backtest.empty:
        out += _backtest_markdown(inputs.backtest, figure_dir)
    out += inputs.support_section
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


def _backtest_markdown(table: pd.DataFrame, figure_dir: str) -> list[str]:
    models = [c.removesuffix(".roc_auc") for c in table.columns if c.endswith(".roc_auc")]
    rows = []
    for _, r in table.iterrows():
        row: dict[str, object] = {
            "origin": int(r["origin"]),
            "test as of": r["test_as_of"],
            "train as of": r["train_as_of"],
            "test rows / outcomes": f"{int(r['test_rows'])} / {int(r['test_outcomes'])}",
        }
        for model in models:
            for metric, label in (("roc_auc", "ROC AUC"), ("precision_at_k", "precision@cap")):
                row[f"{model} {label}"] = (
                    f"{r[f'{model}.{metric}']:.3f} [{r[f'{model}.{metric}.low']:.3f}, "
                    f"{r[f'{model}.{metric}.high']:.3f}]"
                )
        rows.append(row)
    return [
        "## Rolling-origin backtest",
        "",
        "The same design moved back one step at a time; at each earlier origin the model is "
        "refitted with the chosen hyperparameters, calibrated with the chosen method on that "
        "origin's calibration slice, and evaluated on its test slice (origin 0 is the "
        "held-out design above). Intervals: bootstrap over families.",
        "",
        _md_table(pd.DataFrame(rows)),
        "",
        f"![backtest]({figure_dir}/backtest.png)",
        "",
    ]


def report_inputs(result: TrainResult) -> ReportInputs:
    """Everything the report shows, gathered from one training run."""
    from training.results import MAIN
    from training.support_report import report_section

    fit = result.fit
    summary = [] if result.audit is None else summarize(result.audit)
    plan = result.plan
    seen = [
        {
            "stage": f"{'fit' if i.name == 'train' else i.name} (held-out design)",
            "as-of dates": ", ".join(d.isoformat() for d in i.as_of),
            "rows": i.n_rows,
            "outcomes": i.n_positive,
            "used for": {
                "train": "LightGBM, tuning and early stopping; logistic baseline",
                "calibration": "choosing and fitting each calibrator",
                "test": "every figure, gate and the fairness audit",
            }[i.name],
        }
        for i in result.split.info
    ]
    if result.backtest is not None:
        for o in result.backtest.origins[1:]:
            seen.append(
                {
                    "stage": f"backtest origin {o.origin}",
                    "as-of dates": o.design.describe(),
                    "rows": o.n_train_rows + o.n_calibration_rows + o.evaluation.n_rows,
                    "outcomes": o.evaluation.n_positive,
                    "used for": "stability of the figures over time (test outcomes shown)",
                }
            )
    final_slices: tuple[SliceInfo, ...] = ()
    if result.final is not None:
        final_slices = (result.final.train, result.final.calibration)
        for i, purpose in zip(
            final_slices,
            (
                "the registered model's trees (chosen hyperparameters, no tuning)",
                f"the registered model's calibrator ({result.final.calibration_method})",
            ),
            strict=True,
        ):
            seen.append(
                {
                    "stage": f"final refit: {'fit' if i.name == 'train' else i.name}",
                    "as-of dates": ", ".join(d.isoformat() for d in i.as_of),
                    "rows": i.n_rows,
                    "outcomes": i.n_positive,
                    "used for": purpose,
                }
            )
    counts = None
    if result.eligibility is not None:
        counts = result.eligibility.assign(as_of=lambda f: f["as_of"].astype(str))
    return ReportInputs(
        title="earlyrisk training report",
        main=MAIN,
        slices=result.split.info,
        horizon_months=result.split.horizon_months,
        evaluation=result.evaluation,
        calibration=result.calibration,
        decision=result.decision,
        capacity=result.config.capacity.describe(),
        feature_importance=result.risk_model.feature_importance(),
        fit_summary={
            "best iteration": fit.best_iteration,
            "validation log-loss": f"{fit.validation_logloss:.5f}",
            "tuning candidates": len(fit.tuning),
            "rows fitted / held out for early stopping": (
                f"{fit.n_fit_rows} / {fit.n_validation_rows}"
            ),
            "seed": result.config.seed,
        },
        model={
            "registered model": result.config.mlflow.model_name,
            "tracking": result.config.mlflow.tracking_uri,
        },
        fingerprints=result.fingerprints,
        fairness_summary=summary,
        design_source=plan.source if plan is not None else "",
        design_reasons=plan.reasons if plan is not None else (),
        design_warnings=plan.warnings if plan is not None else (),
        final_slices=final_slices,
        backtest=result.backtest.table() if result.backtest is not None else None,
        data_seen=pd.DataFrame(seen),
        eligibility=result.eligibility_rule.describe(),
        eligibility_counts=counts,
        family_disjoint=result.split.family_disjoint,
        support_section=report_section(result),
    )


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
.scroll{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;overflow-wrap:anywhere}
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
            html.append(
                '<div class="scroll"><table><tr>'
                + "".join(f"<th>{inline(c)}</th>" for c in head)
                + "</tr>"
            )
            for r in body:
                html.append("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>")
            html.append("</table></div>")
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
