"""Run every benchmark (or the ones named) each in its own process, so peak memory is per area.

Usage: ``python -m benchmarks [AREA ...]`` with AREA among synth, validation, features,
train, peer, quality, quality_origins, estimator, seasons, audit, serving, family, worklist,
dossier, audit_log, monitor, served_stats, spark, replicas, national, interventions, shadow,
shadow_batch.
The figures go to standard output; a copy of each area's output is kept in
``bench-results/<area>.txt``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

AREAS = (
    "synth",
    "validation",
    "features",
    "train",
    "peer",
    "quality",
    "quality_origins",
    "estimator",
    "seasons",
    "audit",
    "serving",
    "family",
    "worklist",
    "dossier",
    "audit_log",
    "monitor",
    "served_stats",
    "spark",
    "replicas",
    "national",
    "interventions",
    "shadow",
    "shadow_batch",
)


def main(argv: list[str]) -> int:
    """Run the chosen areas in order; return non-zero when any benchmark crashed."""
    unknown = sorted(set(argv) - set(AREAS))
    if unknown:
        print(f"unknown benchmark area(s) {unknown}; choose among {', '.join(AREAS)}")
        return 2
    chosen = [a for a in AREAS if a in argv] if argv else list(AREAS)
    results_dir = Path("bench-results")
    results_dir.mkdir(exist_ok=True)
    failed: list[str] = []
    for area in chosen:
        print(f"\n=== benchmark: {area} ===", flush=True)
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{area}"],
            capture_output=True,
            text=True,
            check=False,
        )
        output = proc.stdout + (proc.stderr if proc.returncode else "")
        print(output, end="", flush=True)
        (results_dir / f"{area}.txt").write_text(output, encoding="utf-8")
        print(f"({area}: {time.perf_counter() - started:.1f} s, exit {proc.returncode})")
        if proc.returncode:
            failed.append(area)
    if failed:
        print(f"\nbenchmarks that crashed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
