"""Benchmark of batch `earlyrisk score --shadow`: what a shadow version costs a scoring run.

Issue 24's shadow mode also runs in batch: with ``--shadow models:/NAME/VERSION`` a second
version scores every family too, and its scores go to the audit log as ``shadow`` entries
in the same transaction as the scores they shadow (never into the file). This measures
that run against the same run without the shadow, as a user runs them: ``earlyrisk score``
in a subprocess each time, on one synthetic registry at one as-of date, into one SQLite
audit log.

Set-up (not measured): a registry of ``EARLYRISK_BENCH_SHADOW_BATCH_FAMILIES`` families
(default 20,000); a model trained by ``earlyrisk train`` on a 3,000-family registry into a
throwaway MLflow SQLite file (version 1, the champion) and the same artefact registered again
as version 2, the shadow: scoring costs the same for any model of its size, and the shadow
passes the same checks (feature list, configuration, eligibility rule). Everything lives
under ``var/bench/shadow_batch_<families>`` and is reused.

After one plain warm-up run (not counted: the first run reads the registry from disk),
runs alternate (alone, shadow, shadow, alone, ...: ``EARLYRISK_BENCH_SHADOW_BATCH_REPEATS``
pairs, default 2) so that load from elsewhere falls on both alike; printed: each run's wall
and CPU seconds (user + system of the command and the workers it waited for: on a shared
machine the CPU is the figure that does not depend on what else runs), the means, their
ratio and difference, and the audit log's entries of the shadowed runs (one shadow entry
per score) and of the plain runs (none).

Run: ``python -m benchmarks shadow_batch`` (``make bench`` runs all areas).
"""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

FAMILIES = int(os.environ.get("EARLYRISK_BENCH_SHADOW_BATCH_FAMILIES", "20000"))
REPEATS = int(os.environ.get("EARLYRISK_BENCH_SHADOW_BATCH_REPEATS", "2"))
TRAIN_FAMILIES = 3000
WORK = Path(f"var/bench/shadow_batch_{FAMILIES}")
MODEL_NAME = "earlyrisk-family-risk"  # what `earlyrisk train` registers by default
AS_OF = "2024-06-30"
SYNTH_FLAGS = ("--overwrite", "--no-progress")
UNSET = ("EARLYRISK_ROLLOUT_CONFIG_PATH", "EARLYRISK_SHADOW_MODEL_URI", "EARLYRISK_DATABASE_URL")


def _earlyrisk(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run one `earlyrisk` command in this interpreter's environment; its wall seconds and
    CPU seconds (user + system of the process and the workers it waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "earlyrisk", *args],
        capture_output=True,
        text=True,
        check=False,
        # a rollout, shadow or database named by the caller's environment must not apply
        env={**{k: v for k, v in os.environ.items() if k not in UNSET}, **env},
    )
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    if proc.returncode not in (0, 3):  # train: 3 = registered as challenger (a gate failed)
        raise SystemExit(
            f"`earlyrisk {' '.join(args[:1])}` failed ({proc.returncode}):\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return seconds, cpu


def _synth(out: Path, families: int, seed: int) -> None:
    if not (out / "families.parquet").exists():
        _earlyrisk(
            ["synth", "-n", str(families), "--seed", str(seed), "--out", str(out), *SYNTH_FLAGS],
            {},
        )


def _prepare(tracking: str) -> None:
    """The champion (version 1, trained) and the shadow (version 2, the same artefact)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    try:
        n_versions = len(client.search_model_versions(f"name = '{MODEL_NAME}'"))
    except mlflow.exceptions.MlflowException:
        n_versions = 0
    if n_versions == 0:
        train_raw = WORK / "train_raw"
        _synth(train_raw, TRAIN_FAMILIES, 5)
        report = ["--report-dir", str(WORK / "train_report")]
        _earlyrisk(["train", "--raw", str(train_raw), "--tracking-uri", tracking, *report], {})
    if n_versions < 2:
        first = client.get_model_version(MODEL_NAME, "1")
        if first.source is None:
            raise SystemExit(f"version 1 of {MODEL_NAME} in {tracking} records no artefact")
        client.create_model_version(
            MODEL_NAME, first.source, run_id=first.run_id, tags=dict(first.tags)
        )


def _entries(log: Path, run_ids: set[str]) -> dict[str, int]:
    """Score and shadow entries of the given batch runs (request id = run id)."""
    marks = ",".join("?" for _ in run_ids)
    with sqlite3.connect(f"file:{log}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT kind, COUNT(*) FROM audit_entries WHERE kind IN ('score', 'shadow') "
            f"AND request_id IN ({marks}) GROUP BY kind",
            sorted(run_ids),
        ).fetchall()
    return {kind: int(n) for kind, n in rows}


def log_problems(counts: dict[str, dict[str, int]]) -> list[str]:
    """What the audit log of the measured runs must show, as the sentences it breaks: the
    shadowed runs one shadow entry per score entry, the plain runs scores and no shadow."""
    shadowed, plain = counts["shadow"], counts["alone"]
    problems = []
    if not shadowed.get("score") or not plain.get("score"):
        problems.append(f"a run logged no score (shadowed {shadowed}, plain {plain})")
    if shadowed.get("shadow", 0) != shadowed.get("score", 0):
        problems.append(
            f"the shadow scored {shadowed.get('shadow', 0)} of the "
            f"{shadowed.get('score', 0)} scored families"
        )
    if plain.get("shadow", 0):
        problems.append(f"the runs without --shadow wrote {plain['shadow']} shadow entries")
    return problems


def _run_ids(log: Path) -> list[str]:
    with sqlite3.connect(f"file:{log}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT request_id FROM audit_entries WHERE kind = 'batch_run' "
            "AND decision = 'started' ORDER BY seq"
        ).fetchall()
    return [r[0] for r in rows]


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    tracking = f"sqlite:///{(WORK / 'mlflow.db').resolve()}"
    raw = WORK / "raw"
    _synth(raw, FAMILIES, 7)
    _prepare(tracking)
    from serving.local_server import begin_audit_log
    from serving.store.audit_anchor import default_anchor_path

    log = WORK / "audit.sqlite"
    for old in (log, default_anchor_path(log)):  # each invocation counts its own entries
        old.unlink(missing_ok=True)
    env = {
        "EARLYRISK_TRACKING_URI": tracking,
        "EARLYRISK_MODEL_URI": f"models:/{MODEL_NAME}/1",
        "EARLYRISK_AUDIT_LOG_PATH": str(log),
    }
    begin_audit_log(env)  # as `earlyrisk serve --new-log` would, once

    def score(name: str) -> tuple[float, float]:
        extra = ["--shadow", f"models:/{MODEL_NAME}/2"] if name == "shadow" else []
        out = WORK / f"scores_{name}.parquet"
        where = ["--raw", str(raw), "--as-of", AS_OF, "--out", str(out), "--overwrite"]
        return _earlyrisk(["score", *where, *extra], env)

    score("alone")  # warm-up, not counted: the first run reads the registry from disk
    warmed = set(_run_ids(log))
    wall: dict[str, list[float]] = {"alone": [], "shadow": []}
    cpu: dict[str, list[float]] = {"alone": [], "shadow": []}
    kinds: dict[str, set[str]] = {"alone": set(), "shadow": set()}
    for pair in range(REPEATS):
        for name in ("alone", "shadow") if pair % 2 == 0 else ("shadow", "alone"):
            before = set(_run_ids(log))
            seconds, cpu_seconds = score(name)
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
            kinds[name] |= set(_run_ids(log)) - before - warmed
    counts = {name: _entries(log, ids) for name, ids in kinds.items()}
    load = f"load average {os.getloadavg()[0]:.1f}"
    print(
        f"batch shadow benchmark: `earlyrisk score` on {FAMILIES:,} families as of {AS_OF}, "
        f"{REPEATS} runs each after a warm-up, alternated; {os.cpu_count()} cores, {load}"
    )
    for what, figures in (("wall", wall), ("CPU", cpu)):
        for name in ("alone", "shadow"):
            runs = ", ".join(f"{x:.1f}" for x in figures[name])
            label = "champion alone" if name == "alone" else "with --shadow"
            mean = sum(figures[name]) / len(figures[name])
            print(f"  {what:4s} {label:15s}: mean {mean:6.1f} s ({runs})")
        a, b = (sum(figures[n]) / len(figures[n]) for n in ("alone", "shadow"))
        print(f"  {what:4s} ratio shadow / alone: {b / a:.2f}x ({b - a:+.1f} s per run)")
    print(
        "  (the CPU ratio is the one to read on a loaded machine: wall time there depends on "
        "what else runs)"
    )
    print(
        f"  audit log: shadowed runs {counts['shadow'].get('score', 0)} score and "
        f"{counts['shadow'].get('shadow', 0)} shadow entries; plain runs "
        f"{counts['alone'].get('score', 0)} score and {counts['alone'].get('shadow', 0)} "
        "shadow entries"
    )
    problems = log_problems(counts)
    if problems:
        raise SystemExit("; ".join(problems))


if __name__ == "__main__":
    main()
