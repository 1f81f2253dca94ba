"""Validation benchmark: rows per second and peak memory of the contract validator.

Data: a synthetic registry of ``EARLYRISK_BENCH_FAMILIES`` families (default 100,000,
seed 7) written by the generator's Python API (:func:`features.synth.synthesize`) into a
temporary directory, or an existing raw directory given by ``EARLYRISK_BENCH_RAW``.

Each measurement runs in a fresh process (multiprocessing ``spawn``), so its peak RSS is
its own and not inflated by the generator or by an earlier measurement:

- ``read_raw`` (the plain reader of :mod:`features.raw`, no rule checked): the peer the
  validator's overhead is measured against;
- ``validate_raw_dir`` on Parquet (what ``earlyrisk validate`` does);
- ``load_validated`` on Parquet (validation, then the pandera schemas: what pipelines do);
- ``validate_raw_dir`` on a CSV export of the same registry (``EARLYRISK_BENCH_CSV=0``
  skips it: the export is about ten times the size of the Parquet files).

Run: ``.venv/bin/python -m benchmarks.validation``.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.table import Table

Task = Literal["read_raw", "validate", "load_validated"]


@dataclass(frozen=True)
class Measurement:
    """One timed run in its own process."""

    label: str
    rows: int
    events: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    ok: bool | None


def _measure(task: Task, raw_dir: str) -> tuple[int, int, float, float, float, bool | None]:
    """Child process body: run ``task`` once.

    Returns (rows, events, wall seconds, CPU seconds, peak RSS MB, ok). CPU time (user +
    system, all threads) is reported next to wall time because the benchmark machines
    are shared: wall time grows with the load, CPU time much less.
    """
    from features.raw import read_raw
    from features.validation import load_validated, validate_raw_dir

    started = time.perf_counter()
    cpu_started = _cpu_seconds()
    ok: bool | None = None
    if task == "read_raw":
        tables = read_raw(raw_dir)
        rows = {name: len(frame) for name, frame in tables.items()}
    elif task == "load_validated":
        tables = load_validated(raw_dir)
        rows = {name: len(frame) for name, frame in tables.items()}
        ok = True
    else:
        report = validate_raw_dir(raw_dir)
        rows = {name: info.rows or 0 for name, info in report.tables.items()}
        ok = report.ok
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_started
    return sum(rows.values()), rows.get("events", 0), seconds, cpu, _peak_rss_mb(), ok


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MiB.

    ``getrusage(...).ru_maxrss`` is not used first: Linux carries it over ``execve``, so a
    spawned child would report at least its parent's peak.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(label: str, task: Task, raw_dir: Path) -> Measurement:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        rows, events, seconds, cpu, peak, ok = pool.submit(_measure, task, str(raw_dir)).result()
    return Measurement(label, rows, events, seconds, cpu, peak, ok)


def _synthesize(families: int, out_dir: Path, console: Console) -> Path:
    from features.synth import SynthConfig, synthesize

    console.print(f"synthesizing {families:,} families (seed 7) into {out_dir} ...")
    summary = synthesize(SynthConfig(families=families, seed=7), out_dir, workers=2)
    console.print(
        f"  {summary.rows.get('events', 0):,} events in {summary.seconds:.1f} s "
        f"(generation is benchmarked by benchmarks.synth)"
    )
    return out_dir


def _export_csv(parquet_dir: Path, csv_dir: Path) -> Path:
    """Write each table of ``parquet_dir`` as CSV (ISO dates, empty cell = null)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from features.contract import TABLES

    csv_dir.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        pcsv.write_csv(pq.read_table(parquet_dir / f"{table}.parquet"), csv_dir / f"{table}.csv")
    return csv_dir


def _render(measurements: list[Measurement], source: str) -> Table:
    table = Table(title=f"Raw-data validation ({source})", title_justify="left")
    columns = ("run", "rows", "events", "wall s", "cpu s", "rows/s", "rows/cpu-s", "peak RSS MB")
    for column in (*columns, "cpu vs read_raw"):
        table.add_column(column, justify="left" if column == "run" else "right")
    table.add_column("valid")
    baseline = next((m for m in measurements if m.label.startswith("read_raw")), None)
    for m in measurements:
        ratio = f"{m.cpu_seconds / baseline.cpu_seconds:.2f}x" if baseline else "-"
        table.add_row(
            m.label,
            f"{m.rows:,}",
            f"{m.events:,}",
            f"{m.seconds:.1f}",
            f"{m.cpu_seconds:.1f}",
            f"{m.rows / m.seconds:,.0f}",
            f"{m.rows / m.cpu_seconds:,.0f}",
            f"{m.peak_rss_mb:,.0f}",
            ratio,
            "-" if m.ok is None else str(m.ok),
        )
    return table


def main() -> None:
    """Print the validation figures (see the module docstring for the environment knobs)."""
    console = Console() if Console().is_terminal else Console(width=130)
    families = int(os.environ.get("EARLYRISK_BENCH_FAMILIES", "100000"))
    with_csv = os.environ.get("EARLYRISK_BENCH_CSV", "1") != "0"
    given = os.environ.get("EARLYRISK_BENCH_RAW")
    with tempfile.TemporaryDirectory(prefix="earlyrisk-bench-validation-") as scratch:
        if given:
            raw_dir, source = Path(given), given
        else:
            raw_dir = _synthesize(families, Path(scratch) / "parquet", console)
            source = f"synthetic, {families:,} families"
        runs: list[tuple[str, Task, Path]] = [
            ("read_raw (parquet)", "read_raw", raw_dir),
            ("validate_raw_dir (parquet)", "validate", raw_dir),
            ("load_validated (parquet)", "load_validated", raw_dir),
        ]
        if with_csv and all((raw_dir / f"{t}.parquet").exists() for t in _tables()):
            console.print("exporting the registry as CSV ...")
            runs.append(
                (
                    "validate_raw_dir (csv)",
                    "validate",
                    _export_csv(raw_dir, Path(scratch) / "csv"),
                )
            )
        measurements = []
        for label, task, directory in runs:
            console.print(f"running {label} ...")
            measurements.append(_run(label, task, directory))
    console.print(_render(measurements, source))
    console.print(
        "rows = all six tables. read_raw: the plain reader, no rule checked (the peer). "
        "load_validated: validation + pandera shape schemas. Each run in a fresh process; "
        f"peak RSS includes the interpreter and libraries. Load average at the end: "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times grow with it)."
    )


def _tables() -> tuple[str, ...]:
    from features.contract import TABLES

    return TABLES


if __name__ == "__main__":
    main()
