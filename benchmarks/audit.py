"""Benchmark of the fairness audit: 100k scored families, 6 group attributes, 1000 resamples.

Target (issue 5): the vectorized bootstrap makes 1000 resamples over 100k rows and 6
attributes take seconds, not minutes. Cases timed:

* ``audit`` with 6 attributes, 1000 resamples, no intersections (the issue's figure);
* the same with n_boot=0 (what the bootstrap itself adds);
* the same with the 15 pairwise intersections;
* the peer: fairlearn's ``MetricFrame`` (selection rate, TPR, FPR, FNR) for each of the 6
  attributes on each resampled frame, the straightforward way to bootstrap it. It is timed on
  a subset of resamples and extrapolated linearly to 1000 (the full loop takes many minutes);
  the table says how many were actually run. The audit computes 10 rates, the peer 4.

Run: ``.venv/bin/python -m benchmarks.audit`` (``BENCH_AUDIT_ROWS`` overrides 100000,
``BENCH_AUDIT_PEER_RESAMPLES`` the 3 peer resamples actually timed).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import psutil
from rich.console import Console
from rich.table import Table

ROWS = int(os.environ.get("BENCH_AUDIT_ROWS", "100000"))
RESAMPLES = 1000
PEER_RESAMPLES = int(os.environ.get("BENCH_AUDIT_PEER_RESAMPLES", "3"))
ATTRIBUTES = {
    "settlement": ["urban", "rural"],
    "region": [f"KZ-{i:02d}" for i in range(17)],
    "single_parent": ["yes", "no"],
    "large_family": ["yes", "no"],
    "head_sex": ["F", "M"],
    "ethnicity": ["kazakh", "russian", "uzbek", "ukrainian", "uyghur", "german", "tatar", "other"],
}


def scored_families(rows: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic scored families: 6 attributes with realistic cardinalities, p and label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {name: rng.choice(values, size=rows) for name, values in ATTRIBUTES.items()}
    )
    risk = rng.beta(1.2, 12.0, size=rows)
    frame["probability"] = np.clip(risk * rng.lognormal(0, 0.2, size=rows), 0, 1)
    frame["label"] = (rng.uniform(size=rows) < risk).astype(int)
    return frame


def _timed(function: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def _peer_seconds(frame: pd.DataFrame, resamples: int) -> float:
    """fairlearn MetricFrame for each attribute on each of ``resamples`` resampled frames."""
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    from training.audit import TopFraction

    metrics = {
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
        "fnr": false_negative_rate,
    }
    y_pred = TopFraction(0.1).select(frame["probability"].to_numpy()).astype(int)
    y_true = frame["label"].to_numpy()
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    groups_seen = 0
    for _ in range(resamples):
        index = rng.integers(0, len(frame), size=len(frame))
        for attribute in ATTRIBUTES:
            by_group = MetricFrame(
                metrics=metrics,
                y_true=y_true[index],
                y_pred=y_pred[index],
                sensitive_features=frame[attribute].to_numpy()[index],
            ).by_group
            groups_seen += len(by_group)
    if groups_seen == 0:
        raise RuntimeError("fairlearn returned no groups")
    return time.perf_counter() - started


def main() -> None:
    """Time the cases and print a rich table."""
    from training.audit import TopFraction, audit

    console = Console()
    frame = scored_families(ROWS)
    groups = list(ATTRIBUTES)

    def run(n_boot: int, intersections: bool) -> object:
        return audit(
            frame,
            score="probability",
            label="label",
            groups=groups,
            rule=TopFraction(0.1),
            n_boot=n_boot,
            intersections=intersections,
        )

    run(10, False)  # warm imports and caches, so the first case is not charged for them
    main_seconds, result = _timed(lambda: run(RESAMPLES, False))
    point_seconds, _ = _timed(lambda: run(0, False))
    pairs_seconds, with_pairs = _timed(lambda: run(RESAMPLES, True))
    peer_measured = _peer_seconds(frame, PEER_RESAMPLES)
    peer_seconds = peer_measured / PEER_RESAMPLES * RESAMPLES
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    table = Table(
        title=f"Fairness audit: {ROWS:,} rows, {len(groups)} attributes, "
        f"{RESAMPLES} bootstrap resamples, rule top 10%"
    )
    for column in ("case", "groups", "wall s", "rows x resamples / s", "vs fairlearn"):
        table.add_column(column, justify="right" if column != "case" else "left")
    n_groups = len(result.by_group)  # type: ignore[attr-defined]
    n_pairs = len(with_pairs.by_group)  # type: ignore[attr-defined]
    work = ROWS * RESAMPLES
    table.add_row(
        "audit, 6 attributes, 1000 resamples",
        str(n_groups),
        f"{main_seconds:.2f}",
        f"{work / main_seconds:,.0f}",
        f"{peer_seconds / main_seconds:,.0f}x faster",
    )
    table.add_row(
        "audit, point estimates only (n_boot=0)", str(n_groups), f"{point_seconds:.2f}", "", ""
    )
    table.add_row(
        "audit + 15 pairwise intersections",
        str(n_pairs),
        f"{pairs_seconds:.2f}",
        f"{work / pairs_seconds:,.0f}",
        "",
    )
    table.add_row(
        f"fairlearn MetricFrame x 6 attributes, {PEER_RESAMPLES} resamples (measured)",
        str(n_groups),
        f"{peer_measured:.2f}",
        f"{ROWS * PEER_RESAMPLES / peer_measured:,.0f}",
        "",
    )
    table.add_row(
        "fairlearn, extrapolated to 1000 resamples",
        str(n_groups),
        f"{peer_seconds:.1f}",
        f"{work / peer_seconds:,.0f}",
        "1x",
    )
    console.print(table)
    console.print(
        f"bootstrap share of the audit: {main_seconds - point_seconds:.2f} s; "
        f"peak RSS {peak_rss / 2**20:,.0f} MiB; "
        f"load average {os.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
