"""Benchmark of the feature engine: 100k synthetic families, 4 quarter-end as-of dates.

Figures: wall seconds to load the raw tables and to build the feature table, family
snapshots per second, peak memory (proportional set size of the process and its workers,
so pages shared copy-on-write with forked workers are not counted twice) and the parent's
peak RSS; once with 1 partition on 1 job and once with the default partitions on all
cores. Targets (issue 3): under 60 s and under 4 GB.

The registry comes from ``$EARLYRISK_BENCH_RAW`` when set, else it is generated once with
the synthetic generator's Python API into ``var/bench/features_100k`` (reused afterwards).
Each configuration runs in its own process so that peak memory is its own.

Run: ``.venv/bin/python -m benchmarks.features`` (``make bench`` runs all areas).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

FAMILIES = 100_000
SEED = 1
AS_OF = ("2023-03-31", "2023-06-30", "2023-09-30", "2023-12-31")
TARGET_SECONDS = 60.0
TARGET_GB = 4.0
DEFAULT_DIR = Path("var/bench/features_100k")


def _raw_dir() -> Path:
    """The benchmark registry: $EARLYRISK_BENCH_RAW, or generated once and reused."""
    given = os.environ.get("EARLYRISK_BENCH_RAW")
    if given:
        return Path(given)
    done = DEFAULT_DIR.with_name(DEFAULT_DIR.name + ".done")
    if not done.exists():
        from features.synth import SynthConfig, synthesize

        started = time.perf_counter()
        synthesize(
            SynthConfig(families=FAMILIES, seed=SEED),
            DEFAULT_DIR,
            workers=os.cpu_count() or 1,
            overwrite=True,
        )
        done.write_text(f"generated in {time.perf_counter() - started:.0f} s\n", encoding="utf-8")
    return DEFAULT_DIR


class _PeakMemory:
    """Samples the PSS of this process plus its children in a thread; keeps the peak."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_full_info().pss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _pss_now() -> int:
    import psutil

    return psutil.Process().memory_full_info().pss


def run_one(raw_dir: Path, *, partitions: int | None, jobs: int) -> dict[str, float]:
    """One configuration in this process: load, build, measure. Returns the figures."""
    import resource

    from features.engine import build_feature_table
    from features.raw import read_raw

    with _PeakMemory() as memory:
        started = time.perf_counter()
        raw = read_raw(raw_dir)
        loaded = time.perf_counter()
        after_load = _pss_now()
        table = build_feature_table(raw, AS_OF, n_partitions=partitions, n_jobs=jobs)
        built = time.perf_counter()
    return {
        "families": float(raw.families["family_id"].nunique()),
        "events": float(len(raw.events)),
        "rows": float(len(table)),
        "load_s": loaded - started,
        "build_s": built - loaded,
        "after_load_gb": after_load / 1e9,
        "peak_pss_gb": memory.peak / 1e9,
        "parent_maxrss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
    }


def _in_subprocess(raw_dir: Path, *, partitions: int | None, jobs: int) -> dict[str, float]:
    command = [sys.executable, "-m", "benchmarks.features", "--run", str(raw_dir), str(jobs)]
    command.append("default" if partitions is None else str(partitions))
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Print the figures as a rich table (see the module docstring)."""
    from rich.console import Console
    from rich.table import Table

    from features.engine import DEFAULT_FAMILIES_PER_PARTITION, default_jobs

    console = Console(width=150)
    raw_dir = _raw_dir()
    cores = default_jobs()
    load_before = os.getloadavg()[0]
    single = _in_subprocess(raw_dir, partitions=1, jobs=1)
    partitioned = _in_subprocess(raw_dir, partitions=None, jobs=1)
    parallel = _in_subprocess(raw_dir, partitions=None, jobs=cores)
    load_after = os.getloadavg()[0]

    default_parts = max(cores, -(-int(parallel["families"]) // DEFAULT_FAMILIES_PER_PARTITION))
    table = Table(
        title=f"features: {int(single['families']):,} families, {int(single['events']):,} "
        f"events, {len(AS_OF)} as-of dates ({raw_dir})"
    )
    for column in (
        "run",
        "load s",
        "features s",
        "snapshots",
        "snapshots/s",
        "total s",
        "PSS after load GB",
        "peak PSS GB",
        "parent max RSS GB",
    ):
        table.add_column(column, justify="right")
    for name, figures in (
        ("1 partition, 1 job", single),
        (f"{default_parts} partitions, 1 job", partitioned),
        (f"{default_parts} partitions, {cores} jobs", parallel),
    ):
        total = figures["load_s"] + figures["build_s"]
        table.add_row(
            name,
            f"{figures['load_s']:.1f}",
            f"{figures['build_s']:.1f}",
            f"{int(figures['rows']):,}",
            f"{figures['rows'] / figures['build_s']:,.0f}",
            f"{total:.1f}",
            f"{figures['after_load_gb']:.2f}",
            f"{figures['peak_pss_gb']:.2f}",
            f"{figures['parent_maxrss_gb']:.2f}",
        )
    console.print(table)
    speedup = single["build_s"] / parallel["build_s"]
    best = min(single["build_s"], partitioned["build_s"], parallel["build_s"])
    peak = min(single["peak_pss_gb"], partitioned["peak_pss_gb"], parallel["peak_pss_gb"])
    console.print(
        f"parallel speed-up {speedup:.2f}x on {cores} cores; "
        f"features {best:.1f} s (target < {TARGET_SECONDS:.0f} s: "
        f"{'met' if best < TARGET_SECONDS else 'NOT met'}); lowest peak {peak:.2f} GB "
        f"(target < {TARGET_GB:.0f} GB: {'met' if peak < TARGET_GB else 'NOT met'}); "
        f"1-minute load average {load_before:.1f} before, {load_after:.1f} after "
        f"(other work on the machine slows every figure). The loaded raw tables alone take "
        f"{single['after_load_gb']:.2f} GB; the engine adds "
        f"{single['peak_pss_gb'] - single['after_load_gb']:.2f} GB unpartitioned, "
        f"{partitioned['peak_pss_gb'] - partitioned['after_load_gb']:.2f} GB partitioned on 1 job, "
        f"{parallel['peak_pss_gb'] - parallel['after_load_gb']:.2f} GB with {cores} workers."
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--run":
        _, _, directory, jobs_text, parts_text = sys.argv
        parts = None if parts_text == "default" else int(parts_text)
        print(json.dumps(run_one(Path(directory), partitions=parts, jobs=int(jobs_text))))
    else:
        main()
