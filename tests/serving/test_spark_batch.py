"""`earlyrisk score --engine spark`: the pandas batch path's scores, each on the audit log."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import pandas as pd
import pytest
from private_modes import assert_private, mode, usual_umask
from pyspark.errors import PySparkException
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.batch import BatchScoringError, read_scores, score_registry
from serving.local_server import begin_audit_log
from serving.spark_batch import (
    RUN_RECORD,
    TaskAuditLog,
    read_spark_scores,
    score_registry_spark,
)
from serving.store.audit_log import AuditLog, AuditLogBase, AuditLogUnavailable, open_audit_log
from serving.store.audit_log_pg import open_postgres_audit_log

# Spark jobs are many small JVM round trips; the suite's 600 s per test is ample (the
# slowest took about 2 minutes on the loaded 2-core machine).
pytestmark = [pytest.mark.slow]

AS_OF = "2024-06-30"
MODEL_URI = "models:/earlyrisk-serving-test@champion"
LANG = "kk"


@pytest.fixture
def spark_score(spark, serving_world, small_registry_dir, tmp_path):
    """``score_registry_spark`` on the small registry as of AS_OF into ``tmp_path/scores``,
    as operator ``test:spark``; each test gives the audit log and its own options."""

    def run(audit_log: AuditLogBase, **options):
        return score_registry_spark(
            spark,
            small_registry_dir,
            as_of=AS_OF,
            out=tmp_path / "scores",
            model_uri=MODEL_URI,
            tracking_uri=serving_world.tracking_uri,
            audit_log=audit_log,
            operator="test:spark",
            **options,
        )

    return run


def _nothing_published(tmp_path) -> bool:
    """Neither the scores directory nor a half-written one beside it."""
    return not (tmp_path / "scores").exists() and not list(tmp_path.glob(".scores.*"))


def test_spark_scores_equal_the_pandas_batch_and_each_is_logged(
    spark_score, serving_world, small_registry_dir, tmp_path
):
    log_path = tmp_path / "audit_log.sqlite"
    driver_log = open_audit_log(log_path, new_log=True)
    try:
        with usual_umask():
            summary = spark_score(driver_log, lang=LANG, n_partitions=3)
    finally:
        driver_log.close()
    scores = read_spark_scores(summary.path)
    reference_log = AuditLog(tmp_path / "reference.sqlite")
    try:
        with usual_umask():
            reference_summary = score_registry(
                small_registry_dir,
                as_of=AS_OF,
                out=tmp_path / "reference.parquet",
                model_uri=MODEL_URI,
                tracking_uri=serving_world.tracking_uri,
                audit_log=reference_log,
                operator="test:pandas",
                lang=LANG,
            )
    finally:
        reference_log.close()
    # every family's score and level: owner-only, the Spark folder tree and the pandas file
    assert_private(summary.path)
    assert mode(tmp_path / "reference.parquet") == 0o600
    assert not list(tmp_path.glob(".scores.*"))  # the private staging folder is gone
    reference = read_scores(tmp_path / "reference.parquet")
    reference = reference.sort_values("family_id", kind="stable").reset_index(drop=True)

    # both kinds of row are there: the eligibility rule and the population's bands are used
    assert set(reference["status"]) == {"scored", "ineligible"}
    assert reference["risk_level"].nunique() >= 2
    # every column, its dtype and every value, except the score ids (fresh per run): the
    # same rows have one, and each is on the log (below)
    pd.testing.assert_frame_equal(
        scores.drop(columns="score_id"), reference.drop(columns="score_id")
    )
    assert list(scores.columns) == list(reference.columns)
    assert (scores["score_id"].isna() == reference["score_id"].isna()).all()
    assert summary.families == reference_summary.families == len(scores)
    assert summary.levels == reference_summary.levels
    assert summary.band_cutoffs == reference_summary.band_cutoffs

    # no score without its entry: every score id is on the log, with its probability
    scored = scores[scores["status"] == "scored"]
    log = AuditLog(log_path)
    try:
        assert log.count("score") == len(scored)
        for row in scored.sample(10, random_state=0).itertuples():
            entry = log.score_entry(row.score_id)
            assert entry is not None and entry["family_id"] == row.family_id
            assert entry["probability"] == pytest.approx(row.probability, abs=1e-12)
            assert entry["risk_level"] == row.risk_level
        runs = [e for e in log.page(kind="batch_run") if e["request_id"] == summary.run_id]
    finally:
        log.close()
    assert [e["decision"] for e in runs] == ["started", "completed"]
    assert runs[1]["detail"]["families"] == len(scores)
    record = json.loads((summary.path / RUN_RECORD).read_text())
    assert record["outcome"] == "completed" and record["families"] == len(scores)
    assert record["band_cutoffs"] == reference_summary.band_cutoffs and record["lang"] == LANG

    # three executor tasks appended concurrently: the chain and its anchor are intact
    verify = CliRunner().invoke(app, ["audit-log", "verify", "--log", str(log_path)])
    assert verify.exit_code == 0, verify.output
    said = " ".join(verify.output.replace(",", "").split())
    assert f"intact: {len(scored) + 2} entries checked" in said, said


def _block_after_start(log_path, started: threading.Event, stop: threading.Event) -> None:
    """Take the log's write lock once the run's ``started`` entry is on it; hold it."""
    blocker = sqlite3.connect(log_path, isolation_level=None, check_same_thread=False)
    try:
        while not stop.is_set():
            kinds = blocker.execute("SELECT count(*) FROM audit_entries WHERE kind = 'batch_run'")
            if kinds.fetchone()[0] >= 1:
                blocker.execute("BEGIN IMMEDIATE")
                started.set()
                stop.wait()
                blocker.execute("ROLLBACK")
                return
            time.sleep(0.02)
    finally:
        blocker.close()


def test_spark_scoring_publishes_nothing_when_the_log_cannot_be_written(spark_score, tmp_path):
    log_path = tmp_path / "audit_log.sqlite"
    driver_log = open_audit_log(log_path, new_log=True, busy_timeout_ms=200)
    blocked, stop = threading.Event(), threading.Event()
    # once the driver has recorded the run's start, every task's write waits and fails
    blocker = threading.Thread(target=_block_after_start, args=(log_path, blocked, stop))
    blocker.start()
    try:
        with pytest.raises(PySparkException, match="audit log"):
            spark_score(driver_log, audit_busy_timeout_ms=200, n_partitions=2)
    finally:
        stop.set()
        blocker.join()
        driver_log.close()
    assert blocked.is_set()
    assert _nothing_published(tmp_path)
    log = AuditLog(log_path)
    try:
        assert log.count("score") == 0
    finally:
        log.close()


def test_spark_scoring_refuses_before_any_job_when_the_driver_cannot_log(spark_score, tmp_path):
    log_path = tmp_path / "audit_log.sqlite"
    driver_log = open_audit_log(log_path, new_log=True, busy_timeout_ms=200)
    blocker = sqlite3.connect(log_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the run's start cannot be recorded
    try:
        with pytest.raises(AuditLogUnavailable, match="not writable"):
            spark_score(driver_log, n_partitions=2)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        driver_log.close()
    assert _nothing_published(tmp_path)


def test_spark_tasks_write_the_audit_log_to_postgres_when_a_database_is_set(
    spark, serving_world, small_registry_dir, postgres_url, tmp_path
):
    sqlite_log = tmp_path / "audit_log.sqlite"
    env = {
        **serving_world.env,
        "EARLYRISK_DATABASE_URL": postgres_url,
        "EARLYRISK_AUDIT_LOG_PATH": str(sqlite_log),
    }
    begin_audit_log(env)  # a fresh log is begun explicitly (serve --new-log), never by a batch
    out = tmp_path / "scores"
    argv = ["score", "--raw", str(small_registry_dir), "--as-of", AS_OF, "--out", str(out)]
    argv += ["--model", MODEL_URI, "--engine", "spark", "--spark-master", "local[2]"]
    result = CliRunner().invoke(app, argv, env=env)
    assert result.exit_code == 0, result.output
    assert not sqlite_log.exists()  # nothing went to the SQLite file the settings also name

    scores = read_spark_scores(out)
    scored = scores[scores["status"] == "scored"]
    assert len(scored) > 0
    log = open_postgres_audit_log(postgres_url)  # the log the CLI wrote, begun above
    try:
        assert log.count("score") == len(scored)
        for row in scored.itertuples():
            entry = log.score_entry(row.score_id)
            assert entry is not None and entry["family_id"] == row.family_id
        report = log.verify()
        run_id = json.loads((out / RUN_RECORD).read_text())["run_id"]
        runs = [e for e in log.page(kind="batch_run") if e["request_id"] == run_id]
    finally:
        log.close()
    assert report.intact, report.problem
    assert [e["decision"] for e in runs] == ["started", "completed"]


def test_a_log_the_tasks_cannot_reach_is_refused(tmp_path):
    class InMemoryLog(AuditLogBase):
        """Neither a SQLite file a task could open nor a database URL."""

    InMemoryLog.__abstractmethods__ = frozenset()  # only its type matters here
    sqlite = AuditLog(tmp_path / "log.sqlite", busy_timeout_ms=250)
    try:
        task_log = TaskAuditLog.of(sqlite, busy_timeout_ms=250)
    finally:
        sqlite.close()
    assert (task_log.backend, task_log.target) == ("sqlite", str(tmp_path / "log.sqlite"))
    assert task_log.busy_timeout_ms == 250
    with pytest.raises(BatchScoringError, match="cannot hand audit log InMemoryLog"):
        TaskAuditLog.of(InMemoryLog())
