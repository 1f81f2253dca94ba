"""The training report: says the decision, shows every figure, needs no network."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from training.calibration import CalibrationResult
from training.evaluation import ScoredModel, evaluate
from training.gates import GateResult, decide
from training.report import ReportInputs, render_markdown, write_report
from training.risk_model import MarginCalibrator
from training.splits import SliceInfo


def _inputs(passed: bool) -> ReportInputs:
    rng = np.random.default_rng(0)
    truth = rng.beta(1.2, 12, 1500)
    y = (rng.random(1500) < truth).astype(int)
    noisy = np.clip(truth + rng.normal(0, 0.05, 1500), 0.001, 0.999)
    ev = evaluate(
        y,
        {"lightgbm": ScoredModel(truth, truth), "logistic": ScoredModel(noisy, noisy)},
        k=75,
        main="lightgbm",
        n_bootstrap=30,
        true_probability=truth,
    )
    cal = CalibrationResult(
        method="isotonic",
        calibrator=MarginCalibrator(method="isotonic", x_thresholds=(0, 1), y_thresholds=(0, 1)),
        cv_brier={"isotonic": 0.05, "sigmoid": 0.051},
        uncalibrated_brier=0.06,
        n_rows=500,
        n_positive=40,
    )
    gate = GateResult(
        name="max_ece", passed=passed, value=0.02, threshold=0.05, detail="ECE 0.02 <= 0.05"
    )
    slices = tuple(
        SliceInfo(
            name=n,
            as_of=(d,),
            window_end=(d.replace(year=d.year + 1),),
            n_rows=500,
            n_families=500,
            n_positive=40,
        )
        for n, d in (
            ("train", dt.date(2021, 12, 31)),
            ("calibration", dt.date(2022, 12, 31)),
            ("test", dt.date(2023, 12, 31)),
        )
    )
    return ReportInputs(
        title="t",
        main="lightgbm",
        slices=slices,
        horizon_months=12,
        evaluation=ev,
        calibration={"lightgbm": cal},
        decision=decide([gate]),
        capacity="top 5.0% of families",
        feature_importance=pd.Series([3.0, 1.0], index=["econ_a", "soc_b"]),
        fingerprints={"raw_sha256": "abc"},
    )


def test_markdown_states_decision_gates_metrics_and_truth():
    md = render_markdown(_inputs(passed=False))
    assert "kept as `challenger`" in md and "**FAIL**" in md and "max_ece" in md
    assert "PROMOTED" in render_markdown(_inputs(passed=True))
    assert "ROC AUC" in md and "oracle" in md
    assert "Against the true probabilities" in md
    assert "2023-12-31" in md and "2024-12-31" in md  # the test slice and its window end


@pytest.mark.slow
def test_report_files_embed_every_figure_and_load_nothing_remote(tmp_path):
    written = write_report(_inputs(passed=True), tmp_path)
    assert set(written.figures) == {
        "timeline",
        "reliability",
        "capacity",
        "baseline_comparison",
        "feature_importance",
    }
    for path in written.figures.values():
        assert path.read_bytes()[:4] == b"\x89PNG"
    html = written.html.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == len(written.figures)
    assert not re.search(r"""(src|href)=["']https?://""", html)
    assert "<table>" in html


def test_error_bars_show_only_the_interval_side_that_exists():
    from training.report import _error_bars

    bars = _error_bars([0.5, 0.10, 0.3], [0.4, 0.12, 0.3], [0.7, 0.20, 0.25])
    # row 0: extent below each estimate, row 1: above; an interval lying wholly above
    # (ECE's upward-biased resamples) or below its estimate draws no bar on that side
    np.testing.assert_allclose(bars, [[0.1, 0.0, 0.0], [0.2, 0.10, 0.0]])
