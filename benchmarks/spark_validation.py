"""Spark validation against the pandas validator, in CPU seconds (issue 25, item 5).

Part of ``python -m benchmarks spark`` (:mod:`benchmarks.spark` calls :func:`report`).
Spark's cost is not its wall time alone on a shared 2-core machine: local mode runs the
executors inside the driver's JVM, and their Python tasks in worker processes the JVM
forks, so the CPU the validation costs is the JVM's user and system time, its Python
workers' and the Python driver's. The pandas validator's is its process's CPU plus its
worker processes'. Both are read over this process's whole tree (psutil), before and
after. The ratio of the two is the figure the
issue sets (<= 3x at 100k families); the wall times go beside it, and the cost of
``features --engine spark`` without ``--validated`` (validation + features) is compared with
the pandas engine's (which validates too), target <= 2x.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

TARGET_CPU_RATIO = 3.0
TARGET_FEATURES_RATIO = 2.0


def _tree_cpu() -> tuple[dict[int, float], float]:
    """(CPU seconds of each live descendant by pid, this process's own CPU seconds plus its
    reaped children's). The validators' work runs in descendants: the JVM of a local Spark
    session (a child of this process), the pandas validator's pool workers (alive after
    the call, so not yet in RUSAGE_CHILDREN)."""
    import psutil  # type: ignore[import-untyped]

    me = psutil.Process()
    live: dict[int, float] = {}
    for child in me.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        live[child.pid] = times.user + times.system
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return live, time.process_time() + reaped.ru_utime + reaped.ru_stime


def measured(step: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process and every descendant)."""
    live_before, own_before = _tree_cpu()
    wall = time.perf_counter()
    result = step()
    wall = time.perf_counter() - wall
    live_after, own_after = _tree_cpu()
    # a descendant that ended during the step and was reaped is in own_after; one that is
    # new counts from zero
    cpu = own_after - own_before
    cpu += sum(after - live_before.get(pid, 0.0) for pid, after in live_after.items())
    return result, wall, cpu


def report(
    spark: SparkSession,
    raw_dir: Path,
    pandas_features: tuple[float, float],
    spark_features: tuple[float, float],
) -> None:
    """Print the validation figures on ``raw_dir`` and the features-without-record ratio.

    ``pandas_features`` / ``spark_features``: (wall seconds, CPU seconds of the process
    tree) the caller measured for the features alone on each engine (validated data)."""
    from features.spark.validation import validate_raw_dir_spark
    from features.validation import validate_raw_dir

    pandas_report, pandas_wall, pandas_cpu = measured(lambda: validate_raw_dir(raw_dir))
    spark_report, spark_wall, spark_cpu = measured(lambda: validate_raw_dir_spark(spark, raw_dir))
    same = pandas_report.to_dict() == spark_report.to_dict()
    cpu_ratio = spark_cpu / pandas_cpu
    for label, wall, cpu in (
        ("pandas validator", pandas_wall, pandas_cpu),
        ("Spark local[2] validation (JVM + Python)", spark_wall, spark_cpu),
    ):
        print(f"{label + ':':42s}{wall:8.1f} s wall {cpu:8.1f} CPU-s")
    print(f"  same report as pandas: {'yes' if same else 'NO'}")
    verdict = "meets" if cpu_ratio <= TARGET_CPU_RATIO else "MISSES"
    print(
        f"Spark / pandas validation CPU: {cpu_ratio:.2f}x ({verdict} the {TARGET_CPU_RATIO:.0f}x "
        f"target); wall {spark_wall / pandas_wall:.2f}x"
    )
    pandas_total = (pandas_wall + pandas_features[0], pandas_cpu + pandas_features[1])
    spark_total = (spark_wall + spark_features[0], spark_cpu + spark_features[1])
    wall_ratio = spark_total[0] / pandas_total[0]
    cpu_ratio = spark_total[1] / pandas_total[1]
    verdict = "meets" if wall_ratio <= TARGET_FEATURES_RATIO else "MISSES"
    print(
        f"features without --validated (validate + features): pandas {pandas_total[0]:.1f} s "
        f"wall {pandas_total[1]:.1f} CPU-s, Spark {spark_total[0]:.1f} s wall "
        f"{spark_total[1]:.1f} CPU-s: {wall_ratio:.2f}x wall ({verdict} the "
        f"{TARGET_FEATURES_RATIO:.0f}x target), {cpu_ratio:.2f}x CPU"
    )
