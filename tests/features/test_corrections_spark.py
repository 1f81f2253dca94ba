"""Corrections on Spark: the same findings and the same corrected features as pandas.

Two tests (Spark is slow): a corrections table that breaks every corrections rule at once
gives the pandas engine's report word for word, and a valid one gives the pandas
engine's feature table in every column (and differs from the uncorrected table, so the
comparison is not vacuous).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.engine import build_feature_table
from features.spark.features import read_spark_feature_table, write_spark_features
from features.spark.validation import validate_raw_dir_spark
from features.validation import validate_raw_dir
from features.validation.rulebook import CORRECTION_RULES
from tests.features.raw_factory import valid_tables
from tests.features.test_corrections import (
    AFTER,
    BEFORE,
    LATEST,
    correction,
    registry,
    void_e11,
)

pytestmark = [pytest.mark.slow]


def _every_rule_broken() -> list[dict[str, object]]:
    open_row = {"status": "requested", "decided_date": None, "decided_by": None}
    return [
        correction(correction_id="R1", record_id="E999"),
        correction(correction_id="R2", family_id="F1", record_id="E1", new_value="1")
        | {"family_id": "F2"},
        correction(correction_id="R3", decided_date="2023-01-05", requested_date="2023-01-01"),
        correction(correction_id="R4", field="event_type"),
        correction(correction_id="R5", new_value="forty"),
        correction(correction_id="R6", decided_by=None),
        correction(correction_id="R7", record_id="E4", family_id="F2", **open_row),
        correction(correction_id="R8", record_id="E4", family_id="F2", **open_row),
        void_e11(correction_id="R9"),
        void_e11(
            correction_id="R10",
            action="amend",
            field="value",
            new_value="2",
            decided_date="2023-07-01",
        ),
        correction(correction_id="R1", status="approved", record_id="E12", family_id="F1"),
        correction(correction_id="R12", family_id="F99"),
        correction(correction_id="R13", requested_date="2023-06-02"),
        correction(correction_id="R14", decided_date="1 June 2023"),
    ]


def test_spark_reports_the_corrections_findings_of_pandas(spark, tmp_path: Path) -> None:
    raw = registry(tmp_path, _every_rule_broken(), fmt="csv")  # Spark reads no ns Parquet
    reference = validate_raw_dir(raw, max_examples=3).to_dict()
    got = validate_raw_dir_spark(spark, raw, max_examples=3).to_dict()
    assert got == reference
    seen = {v["rule"] for v in reference["errors"] if v["table"] == "corrections"}
    assert set(CORRECTION_RULES) <= seen
    assert {"unique", "vocabulary", "foreign_key", "date_order", "date_type"} <= seen


def _microsecond_dates(raw: Path) -> Path:
    """The Parquet tables' timestamps at microseconds (Spark reads no nanosecond ones)."""
    for path in raw.glob("*.parquet"):
        frame = pd.read_parquet(path)
        dates = frame.select_dtypes("datetime").columns
        frame.astype({c: "datetime64[us]" for c in dates}).to_parquet(path, index=False)
    return raw


def test_spark_applies_corrections_like_pandas(spark, tmp_path: Path) -> None:
    raw = _microsecond_dates(registry(tmp_path, [correction(), void_e11()]))
    dates = [BEFORE, AFTER, LATEST]
    reference = build_feature_table(raw, dates, n_jobs=1)
    assert validate_raw_dir_spark(spark, raw).ok
    out = write_spark_features(spark, raw, dates, tmp_path / "f", n_partitions=2)
    got = read_spark_feature_table(out)
    pd.testing.assert_frame_equal(got, reference, check_exact=True, check_like=False)
    uncorrected = build_feature_table(valid_tables(), dates, n_jobs=1)
    assert not got.equals(uncorrected)
