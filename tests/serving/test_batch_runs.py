"""Batch runs in the audit log (issue 10, items 5, 19, 20, 21 for `earlyrisk score`).

A real `earlyrisk score` process is killed mid-run; the next run marks it aborted, removes
its temporary file and completes. The operator comes from the real uid, not `$LOGNAME`.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.batch import batch_operator
from serving.local_server import begin_audit_log

AS_OF = "2024-06-30"


def _runs(log) -> list[tuple[str, str, dict]]:
    import json

    with sqlite3.connect(f"file:{log}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT request_id, decision, detail FROM audit_entries "
            "WHERE kind = 'batch_run' ORDER BY seq"
        ).fetchall()
    return [(r, o, json.loads(d)) for r, o, d in rows]


def _scores_of(log, run_id: str) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{log}?mode=ro", uri=True) as conn:
        return conn.execute(
            "SELECT score_id, token_id FROM audit_entries WHERE kind = 'score' AND request_id = ?",
            (run_id,),
        ).fetchall()


def test_a_killed_run_is_marked_aborted_and_cleaned_by_the_next(
    serving_world, small_registry_dir, tmp_path
):
    log = tmp_path / "audit_log.sqlite"
    out = tmp_path / "scores.parquet"
    env = {
        **os.environ,
        **serving_world.env,
        "EARLYRISK_AUDIT_LOG_PATH": str(log),
        "PYTHONPATH": os.pathsep.join(sys.path),
        "LOGNAME": "mallory",
        "USER": "mallory",
    }
    begin_audit_log(env)  # the service's log, begun by `serve --new-log`
    argv = [
        *(sys.executable, "-m", "earlyrisk", "score", "--raw", str(small_registry_dir)),
        # 40 partitions: pass 2 (levels, log, published file) makes one audit-log write per
        # partition, long enough to be caught; 80 (5 families each) doubled pass 1's
        # per-partition feature cost
        *("--as-of", AS_OF, "--out", str(out), "--families-per-partition", "10"),
    ]
    child_log = tmp_path / "killed_run.log"
    with child_log.open("wb") as sink:
        child = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT)
    # bounded wait: pass 1 scores every partition before pass 2 writes the published file
    deadline = time.monotonic() + 300
    partials: list = []
    try:
        while time.monotonic() < deadline and child.poll() is None:
            # the file being published (pass 2: its scores are on record), not the
            # scored-but-unlevelled one of pass 1
            partials = [
                p
                for p in tmp_path.glob(".scores.parquet.*.partial")
                if not p.name.endswith(".scored.partial")
            ]
            if partials and log.exists() and _runs(log):
                break
            time.sleep(0.05)
        assert child.poll() is None, child_log.read_text(errors="replace")[-2000:]
        assert partials, "the run wrote no temporary file in time"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert not out.exists()
    [(killed_run, outcome, started)] = _runs(log)
    assert outcome == "started" and started["output"] == str(out.resolve())
    assert list(tmp_path.glob(".scores.parquet.*.partial"))  # the killed run left it behind
    killed_scores = _scores_of(log, killed_run)
    assert killed_scores and {t for _, t in killed_scores} == {batch_operator()}
    assert batch_operator() != "cli:mallory"

    # An auditor sees the unfinished run before the next one closes it.
    verify = CliRunner().invoke(app, ["audit-log", "verify", "--log", str(log)])
    assert verify.exit_code == 0 and killed_run in verify.output

    # the next run: the same verb in this process (a second `earlyrisk` process would only
    # import the same libraries again, about 6 CPU-s); the environment is the child's
    cli_env = {key: env[key] for key in (*serving_world.env, "LOGNAME", "USER")}
    cli_env["EARLYRISK_AUDIT_LOG_PATH"] = str(log)
    again = CliRunner().invoke(
        app, [*argv[3:-2], "--families-per-partition", "100"], env={**cli_env, "COLUMNS": "400"}
    )
    assert again.exit_code == 0, again.output[-2000:]
    assert "removed stale temporary file" in " ".join(again.output.split())
    assert not list(tmp_path.glob(".scores.parquet.*partial"))
    runs = _runs(log)
    outcomes = {(run, outcome) for run, outcome, _ in runs}
    assert (killed_run, "aborted") in outcomes
    [new_run] = {run for run, _, _ in runs if run != killed_run}
    assert [o for r, o, _ in runs if r == new_run] == ["started", "completed"]
    closing = next(d for r, o, d in runs if r == killed_run and o == "aborted")
    assert closing["closed_by_run"] == new_run
    scores = pd.read_parquet(out)
    # ineligible families get a row with their status and no score, so nothing is logged
    scored = scores.loc[scores["status"] == "scored", "score_id"]
    assert scored.notna().all()
    assert scores.loc[scores["status"] != "scored", "score_id"].isna().all()
    assert set(scored) == {s for s, _ in _scores_of(log, new_run)}
    completed = next(d for r, o, d in runs if r == new_run and o == "completed")
    assert completed["families"] == len(scores)


def test_score_refuses_to_replace_an_output_or_write_into_a_directory(
    serving_world, small_registry_dir, tmp_path
):
    env = {**serving_world.env, "EARLYRISK_AUDIT_LOG_PATH": str(tmp_path / "audit.sqlite")}
    existing = tmp_path / "scores.parquet"
    existing.write_bytes(b"keep me")
    base = ["score", "--raw", str(small_registry_dir), "--as-of", AS_OF]
    runner = CliRunner()
    refused = runner.invoke(app, [*base, "--out", str(existing)], env=env)
    assert refused.exit_code == 2 and "--overwrite" in " ".join(refused.output.split())
    assert existing.read_bytes() == b"keep me"
    folder = runner.invoke(app, [*base, "--out", str(tmp_path)], env=env)
    assert folder.exit_code == 2 and "is a directory" in " ".join(folder.output.split())
    assert folder.exception is None or isinstance(folder.exception, SystemExit)
    for far in ("1677-09-21", "1900-01-01", "2999-12-31"):
        result = runner.invoke(
            app, [*base[:-1], far, "--out", str(tmp_path / f"{far}.parquet")], env=env
        )
        assert result.exit_code in (1, 2), (far, result.output)
        assert isinstance(result.exception, SystemExit), (far, result.exception)
        assert not (tmp_path / f"{far}.parquet").exists()
