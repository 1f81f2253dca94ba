"""`earlyrisk score --engine spark`: the pandas batch path's scores, each on the audit log."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
from pyspark.errors import PySparkException

from serving.audit_log import AuditLog
from serving.batch import score_registry
from serving.spark_batch import RUN_RECORD, read_spark_scores, score_registry_spark

# Spark jobs are many small JVM round trips: generous on a loaded machine (not a speed test).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

AS_OF = "2024-06-30"
MODEL_URI = "models:/earlyrisk-serving-test@champion"


def test_spark_scores_equal_the_pandas_batch_and_each_is_logged(
    spark, serving_world, small_registry_dir, tmp_path
):
    log_path = tmp_path / "audit_log.sqlite"
    summary = score_registry_spark(
        spark,
        small_registry_dir,
        as_of=AS_OF,
        out=tmp_path / "scores",
        model_uri=MODEL_URI,
        tracking_uri=serving_world.tracking_uri,
        audit_log_path=log_path,
        operator="test:spark",
        n_partitions=3,
    )
    scores = read_spark_scores(summary.path)
    reference_log = AuditLog(tmp_path / "reference.sqlite")
    try:
        score_registry(
            small_registry_dir,
            as_of=AS_OF,
            out=tmp_path / "reference.parquet",
            model_uri=MODEL_URI,
            tracking_uri=serving_world.tracking_uri,
            audit_log=reference_log,
            operator="test:pandas",
        )
    finally:
        reference_log.close()
    reference = pd.read_parquet(tmp_path / "reference.parquet")
    reference = reference.sort_values("family_id", kind="stable").reset_index(drop=True)

    assert summary.families == len(scores) == len(reference) > 0
    assert list(scores.columns) == list(reference.columns)
    for column in reference.columns:
        if column in ("score_id", "as_of", "label"):
            continue
        if column.startswith("reasons_"):
            as_json = [json.dumps(list(map(dict, r)), default=str) for r in scores[column]]
            expected = [json.dumps(list(map(dict, r)), default=str) for r in reference[column]]
            assert as_json == expected, column
        else:
            pd.testing.assert_series_equal(scores[column], reference[column], check_dtype=False)
    assert (scores["as_of"].astype("datetime64[ns]") == pd.Timestamp(AS_OF)).all()
    pd.testing.assert_series_equal(
        scores["label"].astype("Int8"), reference["label"].astype("Int8")
    )

    # no score without its entry: every score id is on the log, with its probability
    log = AuditLog(log_path)
    try:
        assert log.count("score") == len(scores)
        for row in scores.sample(10, random_state=0).itertuples():
            entry = log.score_entry(row.score_id)
            assert entry is not None and entry["family_id"] == row.family_id
            assert entry["probability"] == pytest.approx(row.probability, abs=1e-12)
    finally:
        log.close()
    record = json.loads((summary.path / RUN_RECORD).read_text())
    assert record["outcome"] == "completed" and record["families"] == len(scores)


def test_spark_scoring_publishes_nothing_when_the_log_cannot_be_written(
    spark, serving_world, small_registry_dir, tmp_path
):
    log_path = tmp_path / "audit_log.sqlite"
    AuditLog(log_path).close()
    blocker = sqlite3.connect(log_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # every task's write waits, times out and fails
    try:
        with pytest.raises(PySparkException, match="audit log"):
            score_registry_spark(
                spark,
                small_registry_dir,
                as_of=AS_OF,
                out=tmp_path / "scores",
                model_uri=MODEL_URI,
                tracking_uri=serving_world.tracking_uri,
                audit_log_path=log_path,
                operator="test:spark",
                n_partitions=2,
            )
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert not (tmp_path / "scores").exists()
    assert not list(tmp_path.glob(".scores.*"))
    log = AuditLog(log_path)
    try:
        assert log.count("score") == 0
    finally:
        log.close()
