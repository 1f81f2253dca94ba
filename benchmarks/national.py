"""National-scale benchmark: a million families end to end through the CLI, and a projection.

Stages, each a subprocess of the ``earlyrisk`` CLI (as a user runs them): ``synth`` (three
years, 2022-01-01..2024-12-31), ``validate``, ``features`` at one as-of date, ``score``
(batch scores with reasons, every score in the audit log). For each stage: wall seconds,
its share of the total, CPU seconds (user + system of the stage's processes, workers
included: ``getrusage`` of the waited-for children, or the process tree's CPU sampled from
``/proc`` when that is larger, as for Spark's JVM and Python workers, which nobody waits
for) and peak RSS (the sum over the stage's
process tree, sampled every 0.2 s from ``/proc`` through psutil; pages that forked workers
share copy-on-write are counted in each, so this over-states, never under-states, memory)
and peak PSS (the same tree's proportional set size: a page shared by k processes counts
1/k in each, so the sum is the memory the tree really holds; read from
``/proc/<pid>/smaps_rollup`` every 2 s, that walk being costly for a large process).

The pandas engine always runs. The Spark engine (``--engine spark`` on validate, features
and score, ``--spark-master local[2]``) runs when ``earlyrisk features --help`` lists
``--engine``; otherwise the benchmark says so and skips it. On Spark, ``validate`` writes a
validation record and ``features`` and ``score`` use it (``--validated``) rather than
validating the same files twice more, as a data team runs it (the pandas engine's
``features`` and ``score`` check the registry in the pass that reads it).

The model that ``score`` uses is trained beforehand on a small registry (its own
synthesis and ``earlyrisk train`` into a throwaway MLflow SQLite file: setup, not a stage).

Then a projection to the national registry (6.3 million families) on N executors, from the
measured CPU seconds per 25,000-family partition of each stage; its assumptions are printed
with it.

Size: ``EARLYRISK_BENCH_FAMILIES`` (default 1,000,000); training registry
``EARLYRISK_BENCH_TRAIN_FAMILIES`` (default 3,000); working directory
``EARLYRISK_BENCH_DIR`` (default ``var/bench/national_<families>``, kept for inspection);
``EARLYRISK_BENCH_TRACKING_URI`` names an MLflow registry that already holds the model
(version 1), to skip the training setup.
``EARLYRISK_BENCH_RAW`` names an existing raw directory (e.g. a 1M registry synthesised
once) to use as it is, read only: the synth stage is then not run, the report says so, and
the synth time must be taken from the run that made it (the registry's family count is read
from it). ``EARLYRISK_BENCH_ENGINES`` picks the engines, comma-separated: ``pandas``,
``spark`` (default ``pandas,spark``; Spark still only when available).
Run: ``python -m benchmarks national`` (``make bench`` runs every area).
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

FAMILIES = int(os.environ.get("EARLYRISK_BENCH_FAMILIES", "1000000"))
TRAIN_FAMILIES = int(os.environ.get("EARLYRISK_BENCH_TRAIN_FAMILIES", "3000"))
WORK = Path(os.environ.get("EARLYRISK_BENCH_DIR", f"var/bench/national_{FAMILIES}"))
START, END = "2022-01-01", "2024-12-31"
AS_OF = "2024-06-30"
SEED = 11
JOBS = 2
MODEL_NAME = "earlyrisk-family-risk"
SPARK_DRIVER_MEMORY = "6g"
PSS_EVERY = 10  # samples (of 0.2 s) between two PSS samples
NATIONAL_FAMILIES = 6_300_000
FAMILIES_PER_PARTITION = 25_000
TARGET_GB = 8.0
GIVEN_RAW = os.environ.get("EARLYRISK_BENCH_RAW")
ENGINES = {e.strip() for e in os.environ.get("EARLYRISK_BENCH_ENGINES", "pandas,spark").split(",")}


@dataclass(frozen=True)
class Stage:
    """One measured CLI run."""

    name: str
    wall: float
    cpu: float
    peak_rss: int
    exit_code: int
    tail: str
    peak_pss: int = 0


def _earlyrisk() -> list[str]:
    """The CLI of this interpreter's environment (so the worktree's code runs)."""
    return [sys.executable, "-m", "earlyrisk"]


def _tree_memory(
    process: psutil.Process, *, with_pss: bool = True, cpu_seen: dict[int, float] | None = None
) -> tuple[int, int]:
    """(summed RSS, summed PSS) of ``process`` and its descendants (PSS 0 unless asked:
    the kernel walks every page of a process to sum it, tens of milliseconds for a JVM of
    several GB, while RSS is one counter). ``cpu_seen`` gets each process's own CPU
    seconds so far (user + system, not its children's)."""
    rss = pss = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            if with_pss:
                info = p.memory_full_info()
                pss += getattr(info, "pss", info.rss)  # no PSS outside Linux: RSS, an upper bound
            else:
                info = p.memory_info()
            if cpu_seen is not None:
                times = p.cpu_times()
                cpu_seen[p.pid] = max(cpu_seen.get(p.pid, 0.0), times.user + times.system)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
    return rss, pss


def run_stage(name: str, args: list[str], *, env: dict[str, str] | None = None) -> Stage:
    """Run one CLI command; measure wall time, CPU time and peak RSS of its process tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*_earlyrisk(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    peak = peak_pss = 0
    handle = psutil.Process(proc.pid)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout or []), daemon=True)
    reader.start()
    tick = 0
    cpu_seen: dict[int, float] = {}
    while proc.poll() is None:
        try:
            # RSS every 0.2 s, PSS every 2 s: at 0.2 s the PSS walk of a 7 GB JVM cost the
            # sampler a quarter of a core, taken from the stage it measures
            rss, pss = _tree_memory(handle, with_pss=tick % PSS_EVERY == 0, cpu_seen=cpu_seen)
        except psutil.NoSuchProcess:
            break
        peak, peak_pss = max(peak, rss), max(peak_pss, pss)
        tick += 1
        time.sleep(0.2)
    proc.wait()
    reader.join()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    waited = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # getrusage counts only the processes someone waited for: Spark's JVM and its Python
    # workers are not, so the tree's sampled CPU (each process's last reading, missing at
    # most its final 0.2 s) is the figure there; for the pandas engine's waited-for
    # workers getrusage is exact, and the larger of the two is kept
    cpu = max(waited, sum(cpu_seen.values()))
    tail = "".join(output[-12:])
    # printed at once, so a long run that is stopped early still shows what it measured
    print(
        f"  {name}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {peak / 1e9:.2f} GB, "
        f"peak PSS {peak_pss / 1e9:.2f} GB, exit {proc.returncode}",
        flush=True,
    )
    return Stage(name, wall, cpu, peak, proc.returncode, tail, peak_pss)


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f}"


def _report(title: str, stages: list[Stage]) -> None:
    total = sum(s.wall for s in stages) or 1.0
    print(f"\n{title}")
    print(
        f"{'stage':<10} {'wall s':>9} {'share':>7} {'CPU s':>9} {'peak RSS GB':>12} "
        f"{'peak PSS GB':>12} {'exit':>5}"
    )
    for s in stages:
        print(
            f"{s.name:<10} {s.wall:>9.1f} {s.wall / total:>7.1%} {s.cpu:>9.1f} "
            f"{_gb(s.peak_rss):>12} {_gb(s.peak_pss):>12} {s.exit_code:>5}"
        )
    peak = max((s.peak_rss for s in stages), default=0)
    peak_pss = max((s.peak_pss for s in stages), default=0)
    cpu = sum(s.cpu for s in stages)
    print(
        f"{'total':<10} {total:>9.1f} {'100.0%':>7} {cpu:>9.1f} {_gb(peak):>12} {_gb(peak_pss):>12}"
    )
    for s in stages:
        if s.exit_code != 0:
            print(f"--- {s.name} exited {s.exit_code}; its last lines:\n{s.tail}")


def spark_available() -> tuple[bool, str]:
    """Whether this CLI offers ``--engine spark`` (and why not when it does not)."""
    proc = subprocess.run(
        [*_earlyrisk(), "features", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    if "--engine" not in proc.stdout:
        return False, "`earlyrisk features --help` lists no --engine option (Spark engine absent)"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False, "pyspark is not installed (make spark installs it)"
    if shutil.which("java") is None:
        return False, "no java on PATH (make spark installs openjdk-17-jre-headless)"
    return True, ""


def _prepare_model(tracking: str) -> None:
    """Train the model that ``score`` uses, on a small registry (setup, not measured)."""
    train_raw = WORK / "train_raw"
    for args in (
        [
            "synth",
            "--families",
            str(TRAIN_FAMILIES),
            "--seed",
            "5",
            "--out",
            str(train_raw),
            "--overwrite",
            "--no-progress",
        ],
        [
            "train",
            "--raw",
            str(train_raw),
            "--tracking-uri",
            tracking,
            "--report-dir",
            str(WORK / "train_report"),
        ],
    ):
        proc = subprocess.run([*_earlyrisk(), *args], capture_output=True, text=True, check=False)
        if proc.returncode not in (0, 3):  # 3: registered as challenger (a gate failed)
            raise SystemExit(
                f"setup `earlyrisk {args[0]}` failed ({proc.returncode}):\n"
                f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )


def _registry_families(raw: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(raw / "families.parquet").metadata.num_rows)


def pandas_stages(raw: Path, tracking: str, env: dict[str, str]) -> list[Stage]:
    out = WORK / "pandas"
    out.mkdir(parents=True, exist_ok=True)
    if GIVEN_RAW:
        print(f"  synth: not run; registry {raw} given (EARLYRISK_BENCH_RAW)", flush=True)
        return _data_stages(raw, out, tracking, env)
    synth = run_stage(
        "synth",
        [
            "synth",
            "--families",
            str(FAMILIES),
            "--seed",
            str(SEED),
            "--start",
            START,
            "--end",
            END,
            "--out",
            str(raw),
            "--overwrite",
            "--no-progress",
            "--workers",
            str(JOBS),
        ],
    )
    if synth.exit_code:
        return [synth]
    return [synth, *_data_stages(raw, out, tracking, env)]


def _data_stages(raw: Path, out: Path, tracking: str, env: dict[str, str]) -> list[Stage]:
    stages = [run_stage("validate", ["validate", str(raw), "--no-progress"])]
    stages.append(
        run_stage("features", _features_argv(raw, out, "--no-progress", "--jobs", str(JOBS)))
    )
    stages.append(run_stage("score", _score_argv(raw, out, tracking), env=env))
    return stages


def _features_argv(raw: Path, out: Path, *extra: str) -> list[str]:
    """``earlyrisk features`` at AS_OF into out/features.parquet: one command line for both
    engines' stage, so the pandas and Spark figures time the same work (``extra``: the
    engine's own options)."""
    return [
        "features",
        "--raw",
        str(raw),
        "--as-of",
        AS_OF,
        "--out",
        str(out / "features.parquet"),
        "--overwrite",
        *extra,
    ]


def _score_argv(raw: Path, out: Path, tracking: str, *extra: str) -> list[str]:
    """``earlyrisk score`` of the benchmark's model at AS_OF into out/scores.parquet, for
    both engines (as :func:`_features_argv`)."""
    return [
        "score",
        "--raw",
        str(raw),
        "--as-of",
        AS_OF,
        "--out",
        str(out / "scores.parquet"),
        "--overwrite",
        "--model",
        f"models:/{MODEL_NAME}/1",
        "--tracking-uri",
        tracking,
        *extra,
    ]


def spark_stages(raw: Path, tracking: str, env: dict[str, str]) -> list[Stage]:
    out = WORK / "spark"
    out.mkdir(parents=True, exist_ok=True)
    engine = ["--engine", "spark", "--spark-master", f"local[{JOBS}]"]
    # local mode: the driver's JVM is the executor; Spark's 1 GB default heap makes the
    # validation joins over 69M events spill and collect garbage more than they compute
    # (docs/scale.md, "Memory"). A caller's own PYSPARK_SUBMIT_ARGS wins.
    submit = os.environ.get(
        "PYSPARK_SUBMIT_ARGS", f"--driver-memory {SPARK_DRIVER_MEMORY} pyspark-shell"
    )
    spark_env = {**env, "PYSPARK_PYTHON": sys.executable, "PYSPARK_SUBMIT_ARGS": submit}
    # validate once, then build: features and score trust the validation record (the raw
    # files' sha256 is checked again) instead of validating the same files twice more
    record = out / "validation_record.json"
    trusted = ["--validated", str(record)]
    return [
        run_stage(
            "validate", ["validate", str(raw), *engine, "--record", str(record)], env=spark_env
        ),
        run_stage("features", _features_argv(raw, out, *engine, *trusted), env=spark_env),
        run_stage("score", _score_argv(raw, out, tracking, *engine, *trusted), env=spark_env),
    ]


def projection(stages: list[Stage], families: int, *, label: str) -> None:
    """Wall time at 6.3M families on N executors from the measured CPU per partition."""
    partitions = max(1, math.ceil(families / FAMILIES_PER_PARTITION))
    national = math.ceil(NATIONAL_FAMILIES / FAMILIES_PER_PARTITION)
    data = [s for s in stages if s.name != "synth" and s.exit_code == 0]
    if not data:
        return
    print(
        f"\nprojection to {NATIONAL_FAMILIES:,} families ({label}; {national} partitions of "
        f"{FAMILIES_PER_PARTITION:,} families)"
    )
    per_partition = {s.name: s.cpu / partitions for s in data}
    print(
        "CPU seconds per partition, measured: "
        + ", ".join(f"{name} {cost:.1f}" for name, cost in per_partition.items())
    )
    header = f"{'executors x cores':<18}" + "".join(f"{s.name + ' min':>14}" for s in data)
    print(header + f"{'total min':>12}")
    for executors in (1, 4, 8, 16, 32, 64):
        slots = executors * 2
        waves = math.ceil(national / slots)
        times = [waves * per_partition[s.name] for s in data]
        print(
            f"{f'{executors} x 2':<18}"
            + "".join(f"{t / 60:>14.1f}" for t in times)
            + f"{sum(times) / 60:>12.1f}"
        )
    print(
        "assumptions: every stage's work is per family partition and independent (no shuffle "
        "beyond laying events out by partition, which each executor does for its own input "
        "split), so a stage takes ceil(partitions / slots) waves of one partition's measured "
        "CPU time; an executor core is as fast as one core here (this machine is shared, so "
        "measured CPU seconds include contention); the registry is read from storage that "
        "serves all executors at once (object store or HDFS); driver start-up, scheduling "
        "and the model load per task are left out (seconds, against minutes); memory per "
        "executor core: one partition, about the measured peak RSS of features divided by "
        f"{JOBS} jobs, plus the small tables of its split."
    )


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    raw = Path(GIVEN_RAW) if GIVEN_RAW else WORK / "raw"
    unknown = ENGINES - {"pandas", "spark"}
    if unknown:
        raise SystemExit(f"EARLYRISK_BENCH_ENGINES: unknown engine(s) {sorted(unknown)}")
    given = os.environ.get("EARLYRISK_BENCH_TRACKING_URI")
    tracking = given or f"sqlite:///{(WORK / 'mlflow.db').resolve()}"
    env = {"EARLYRISK_AUDIT_LOG_PATH": str((WORK / "audit_log.sqlite").resolve())}
    print(
        f"national benchmark: {FAMILIES:,} families, {START}..{END}, as of {AS_OF}, "
        f"{JOBS} jobs, in {WORK}"
    )
    started = time.perf_counter()
    if given:
        print(f"setup: model {MODEL_NAME}/1 from {given} (EARLYRISK_BENCH_TRACKING_URI)")
    else:
        _prepare_model(tracking)
        print(
            f"setup: model trained on {TRAIN_FAMILIES:,} families in "
            f"{time.perf_counter() - started:.0f} s (not a stage)"
        )

    stages: list[Stage] = []
    if "pandas" in ENGINES:
        stages = pandas_stages(raw, tracking, env)
        families = _registry_families(raw) if stages[0].exit_code == 0 else FAMILIES
        _report(f"pandas engine ({families:,} families in the registry)", stages)
        peak = max(s.peak_rss for s in stages)
        peak_pss = max(s.peak_pss for s in stages)
        verdict = "under" if peak < TARGET_GB * 1e9 else "OVER"
        print(
            f"pandas peak RSS {_gb(peak)} GB (summed over each stage's processes): {verdict} "
            f"the {TARGET_GB:.0f} GB target; peak PSS {_gb(peak_pss)} GB"
        )
        projection(stages, families, label="pandas engine's per-partition costs")
    else:
        print("pandas engine: skipped (EARLYRISK_BENCH_ENGINES)")
        families = _registry_families(raw) if GIVEN_RAW else FAMILIES

    ok, reason = spark_available() if "spark" in ENGINES else (False, "")
    if "spark" not in ENGINES:
        print(f"\nSpark local[{JOBS}]: skipped (EARLYRISK_BENCH_ENGINES)")
    elif not ok:
        print(f"\nSpark local[{JOBS}]: skipped: {reason}")
    elif not stages or stages[0].exit_code == 0:
        spark = spark_stages(raw, tracking, env)
        _report(f"Spark engine, local[{JOBS}] (same registry; synth above)", spark)
        projection(spark, families, label="Spark engine's per-partition costs")
    failed = [s.name for s in stages if s.exit_code]
    if failed:
        raise SystemExit(f"pandas stages failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
