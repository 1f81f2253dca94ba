"""Benchmark of ``earlyrisk synth``: 100k families over 3 years (2021-01-01..2023-12-31).

Targets (issue 2): under 60 s wall on a 2-core machine and under 4 GB of memory. The run
happens in a child process (the real CLI), and the benchmark samples the resident memory of
that process *and its worker processes* every 50 ms, so the peak RSS is of the whole job.
The same registry is generated again with one worker as the peer, which shows what the
second core buys (the files are identical, which is checked). CPU seconds and the load
average are printed too: on a shared machine the wall time depends on the other work.

Run: ``.venv/bin/python -m benchmarks.synth`` (``BENCH_SYNTH_FAMILIES`` overrides 100000).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

FAMILIES = int(os.environ.get("BENCH_SYNTH_FAMILIES", "100000"))
START, END = "2021-01-01", "2023-12-31"
TARGET_SECONDS = 60.0
TARGET_RSS_GB = 4.0


@dataclass
class Run:
    """Figures of one ``earlyrisk synth`` run."""

    workers: int
    seconds: float
    cpu_seconds: float  # user + system of the CLI and its workers
    load_average: float  # 1-minute load when the run ended: other work on the machine
    peak_rss_bytes: int
    rows: dict[str, int]
    digest: str

    @property
    def events_per_second(self) -> float:
        return self.rows["events"] / self.seconds


def _sample_tree(process: psutil.Process, cpu: dict[int, float]) -> int:
    """Resident memory of a process and all its descendants, in bytes; records each
    member's CPU seconds so far in ``cpu`` (workers started by a forkserver are not
    waited for by the CLI, so ``getrusage`` of the children would miss them)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            with member.oneshot():
                total += member.memory_info().rss
                times = member.cpu_times()
            cpu[member.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def run_synth(out_dir: Path, *, workers: int) -> Run:
    """Run the CLI in a child process and sample its memory until it exits."""
    command = [
        sys.executable,
        "-m",
        "earlyrisk",
        "synth",
        "--families",
        str(FAMILIES),
        "--seed",
        "1",
        "--start",
        START,
        "--end",
        END,
        "--out",
        str(out_dir),
        "--workers",
        str(workers),
        "--no-progress",
    ]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(child.pid)
    peak = 0
    cpu_by_pid: dict[int, float] = {}
    while child.poll() is None:
        try:
            peak = max(peak, _sample_tree(watched, cpu_by_pid))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    stdout, stderr = child.communicate()
    seconds = time.perf_counter() - started
    cpu = sum(cpu_by_pid.values())  # sampled every 50 ms: misses at most the last 50 ms
    if child.returncode != 0:
        raise RuntimeError(f"earlyrisk synth failed ({child.returncode}):\n{stdout}\n{stderr}")
    rows = {}
    digest = hashlib.sha256()
    for path in sorted(out_dir.glob("*.parquet")):
        rows[path.stem] = pq.ParquetFile(path).metadata.num_rows
        digest.update(path.read_bytes())
    return Run(workers, seconds, cpu, os.getloadavg()[0], peak, rows, digest.hexdigest())


def main() -> None:
    """Print the synthesis figures as a rich table."""
    console = Console()
    console.print(
        f"synthesising {FAMILIES:,} families, {START}..{END}, on {os.cpu_count()} CPU(s) ..."
    )
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        for workers in (2, 1):
            runs.append(run_synth(Path(tmp) / f"w{workers}", workers=workers))
    main_run, peer = runs
    table = Table(title=f"earlyrisk synth: {FAMILIES:,} families x 3 years")
    table.add_column("figure")
    for run in runs:
        table.add_column(f"{run.workers} worker(s)", justify="right")
    table.add_column("target", justify="right")
    table.add_row(
        "wall seconds",
        *(f"{r.seconds:.1f}" for r in runs),
        f"< {TARGET_SECONDS:.0f}",
    )
    table.add_row("CPU seconds (CLI + workers)", *(f"{r.cpu_seconds:.1f}" for r in runs), "")
    table.add_row("load average at the end", *(f"{r.load_average:.1f}" for r in runs), "")
    table.add_row("events / s", *(f"{r.events_per_second:,.0f}" for r in runs), "")
    table.add_row(
        "peak RSS (GB, whole process tree)",
        *(f"{r.peak_rss_bytes / 1e9:.2f}" for r in runs),
        f"< {TARGET_RSS_GB:.0f}",
    )
    for name in main_run.rows:
        table.add_row(f"rows: {name}", *(f"{r.rows[name]:,}" for r in runs), "")
    table.add_row("speed-up of the 2nd worker", f"{peer.seconds / main_run.seconds:.2f}x", "", "")
    table.add_row(
        "files identical across worker counts",
        "yes" if main_run.digest == peer.digest else "NO",
        "",
        "",
    )
    console.print(table)
    ok = main_run.seconds < TARGET_SECONDS and main_run.peak_rss_bytes < TARGET_RSS_GB * 1e9
    console.print(f"targets {'met' if ok else 'NOT met'} with 2 workers")


if __name__ == "__main__":
    main()
