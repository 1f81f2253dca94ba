"""Benchmark of ``earlyrisk monitor``'s computation: 1M families x 60 indicators.

Target (issue 13): monitoring a million families on 60 indicators in under 60 s on 2
cores, with the reference statistics computed once (at training) and never recomputed
from the reference rows. Cases timed:

* ``reference statistics`` on 200k reference rows with labels (bins, score bins, group
  shares, PCA, calibration check, realized performance): what training does once;
* ``monitor`` on 1M current families, one as-of date whose labels are in (so realized
  performance and the estimate's error are computed too): per-indicator PSI, PCA
  reconstruction error, score drift, label-free estimate, realized metrics, the fairness
  audit of 4 group attributes with 200 bootstrap resamples, alerts;
* the same monitor pass on 1M families without the fairness bootstrap (what it adds).

The feature engine's time to build the 1M snapshot is not included (``benchmarks.features``
measures it); nor is the HTML rendering (a few charts). A LightGBM model with 100 trees on
60 synthetic indicators stands in for the catalogue's model.

Run: ``.venv/bin/python -m benchmarks.monitor`` (``BENCH_MONITOR_ROWS`` overrides 1000000).
"""

from __future__ import annotations

import os
import resource
import time

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from serving.monitor.config import MonitorConfig
from serving.monitor.core import monitor
from training import lightgbm_adapter as lgbx
from training.config import CapacityConfig
from training.reference_stats import compute_reference_stats
from training.risk_model import LightGBMRiskModel, MarginCalibrator

ROWS = int(os.environ.get("BENCH_MONITOR_ROWS", "1000000"))
REFERENCE_ROWS = 200_000
N_FEATURES = 60
TARGET_SECONDS = 60.0
GROUPS = {
    "audit_settlement": ["urban", "rural"],
    "audit_region": [f"KZ-{i:02d}" for i in range(17)],
    "audit_single_parent": ["yes", "no"],
    "audit_ethnicity": ["kazakh", "russian", "uzbek", "ukrainian", "uyghur", "other"],
}


def families(rows: int, *, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Indicators (half continuous, half counts, some missing), a label, audit groups."""
    rng = np.random.default_rng(seed)
    half = N_FEATURES // 2
    cont = rng.normal(shift, 1.0, size=(rows, half))
    counts = rng.poisson(0.5, size=(rows, N_FEATURES - half)).astype(float)
    matrix = np.hstack([cont, counts])
    matrix[rng.random(matrix.shape) < 0.03] = np.nan
    names = [f"x{j:02d}" for j in range(N_FEATURES)]
    frame = pd.DataFrame(matrix, columns=names)
    margin = -3.5 + 0.8 * np.nan_to_num(cont[:, 0]) + 0.5 * counts[:, 0] - 0.4 * cont[:, 1]
    frame["label"] = (rng.random(rows) < 1 / (1 + np.exp(-margin))).astype("int8")
    frame["label_observed"] = True
    for column, values in GROUPS.items():
        frame[column] = rng.choice(values, size=rows)
    frame["as_of"] = pd.Timestamp("2024-12-31")
    return frame


def model_for(frame: pd.DataFrame) -> LightGBMRiskModel:
    names = [c for c in frame.columns if c.startswith("x")]
    params = {"objective": "binary", "verbose": -1, "num_leaves": 15, "seed": 1, "num_threads": 2}
    sample = frame.iloc[:30_000]
    booster = lgbx.train(params, lgbx.dataset(sample[names], sample["label"]), num_boost_round=100)
    model = LightGBMRiskModel(booster, feature_names=names)
    # Platt on the margin is close enough for a benchmark (the monitor checks it anyway)
    return model.with_calibrator(MarginCalibrator(method="sigmoid", a=-1.0, b=0.0))  # type: ignore[return-value]


def main() -> None:
    console = Console()
    reference = families(REFERENCE_ROWS, seed=1)
    model = model_for(reference)
    started = time.perf_counter()
    stats = compute_reference_stats(
        reference, model=model, capacity=CapacityConfig(fraction=0.05), source="benchmark"
    )
    reference_seconds = time.perf_counter() - started
    current = {"2024-12-31": families(ROWS, seed=2, shift=0.05)}
    timings: dict[str, float] = {}
    cpu_seconds: dict[str, float] = {}
    reports = {}
    for name, config in (
        ("monitor (fairness bootstrap 200)", MonitorConfig(n_boot=200)),
        ("monitor (no fairness bootstrap)", MonitorConfig(n_boot=0)),
    ):
        started, cpu = time.perf_counter(), time.process_time()
        reports[name] = monitor(stats, model, current, config=config)
        timings[name] = time.perf_counter() - started
        cpu_seconds[name] = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    table = Table(title=f"earlyrisk monitor: {ROWS:,} families x {N_FEATURES} indicators")
    table.add_column("case")
    table.add_column("wall s", justify="right")
    table.add_column("CPU s", justify="right")
    table.add_row(
        f"reference statistics ({REFERENCE_ROWS:,} rows, once)", f"{reference_seconds:.1f}", ""
    )
    for name, seconds in timings.items():
        table.add_row(name, f"{seconds:.1f}", f"{cpu_seconds[name]:.1f}")
    console.print(table)
    main_case = "monitor (fairness bootstrap 200)"
    verdict = "met" if timings[main_case] < TARGET_SECONDS else "NOT met"
    report = reports[main_case]
    est = report["performance"]["estimated"]["roc_auc"]["value"]
    real = report["performance"]["realized"][-1]["realized"]["roc_auc"]["value"]
    console.print(
        f"target: {main_case} under {TARGET_SECONDS:.0f} s on {os.cpu_count()} core(s): "
        f"{verdict} ({timings[main_case]:.1f} s wall, {cpu_seconds[main_case]:.1f} s CPU, load "
        f"average {os.getloadavg()[0]:.1f}); peak memory {peak:.2f} GB; "
        f"{sum(f['drifted'] for f in report['drift']['features'])} of {N_FEATURES} indicators "
        f"drifted (planted shift 0.05 sd on 30); estimated ROC AUC {est:.3f}, "
        f"realized {real:.3f}",
        highlight=False,
    )


if __name__ == "__main__":
    main()
