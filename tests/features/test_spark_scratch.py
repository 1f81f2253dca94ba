"""The Spark layout's scratch through a URI (features/spark/scratch.py), tested with file://.

A cluster's executors share an object store or a distributed file system, not a mount:
the layout by family partition is written and read through the pyarrow file system a URI
names. These tests give ``file://`` URIs (the one scheme a test can serve without a
store) and check that the files land there, read back as the pandas engine's partitions,
and are removed after the job; a scheme outside the accepted ones is refused, naming it
and the accepted ones, before any work.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_spark_buckets import N_PARTITIONS, _assert_partitions_equal_the_plan, split_registry
from typer.testing import CliRunner

from earlyrisk.cli import app
from features.engine import build_feature_table
from features.spark.buckets import PART, plan_registry_units, registry_assigner, write_unit
from features.spark.features import write_spark_features
from features.spark.scratch import (
    SCRATCH_ENV,
    ScratchLocationError,
    fresh_scratch,
    remove,
    scratch_at,
)
from features.validation import load_validated

__all__ = ["split_registry"]  # the fixture, imported for these tests


def test_units_written_through_a_file_uri_read_back_as_the_plan(
    small_registry_dir: Path, split_registry: Path, tmp_path: Path
) -> None:
    where = tmp_path / "through-uri"
    uri = where.as_uri()
    assert uri.startswith("file:///")
    assigner = registry_assigner(split_registry, N_PARTITIONS)
    for unit_id, unit in enumerate(plan_registry_units(split_registry)):
        write_unit(unit, unit_id, uri, assigner)
    # the files are on the disk the URI names, one folder per table and partition
    assert sorted(p.name for p in (where / "events").iterdir()) == [
        f"{PART}={p}" for p in range(N_PARTITIONS)
    ]
    _assert_partitions_equal_the_plan(small_registry_dir, uri, N_PARTITIONS)
    remove(uri)
    assert not where.exists()
    remove(uri)  # gone already: nothing to do, no error


def test_a_scratch_location_outside_the_accepted_schemes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScratchLocationError, match=r"scheme 'ftp' is not one of file://, s3a://"):
        scratch_at("ftp://host/tmp")
    assert scratch_at(tmp_path / "x").uri == str((tmp_path / "x").resolve())
    assert scratch_at("file:///tmp/x").local


def test_a_fresh_scratch_goes_below_the_root_given_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "features"
    monkeypatch.delenv(SCRATCH_ENV, raising=False)
    beside = fresh_scratch(out)
    assert Path(beside.uri).parent == tmp_path and Path(beside.uri).name.startswith(".features.")
    monkeypatch.setenv(SCRATCH_ENV, (tmp_path / "shared").as_uri())
    below = fresh_scratch(out)
    assert below.uri.startswith((tmp_path / "shared").as_uri() + "/.features.")
    given = fresh_scratch(out, "file:///elsewhere")
    assert given.uri.startswith("file:///elsewhere/.features.")


def test_the_cli_refuses_a_scratch_it_cannot_use(small_registry_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "features",
            "--raw",
            str(small_registry_dir),
            "--as-of",
            "2023-12-31",
            "--out",
            str(tmp_path / "f"),
            "--engine",
            "spark",
            "--spark-scratch",
            "ftp://host/tmp",
        ],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 2, result.output
    assert "--spark-scratch: scratch location 'ftp://host/tmp': scheme 'ftp'" in result.output
    assert not (tmp_path / "f").exists()


@pytest.mark.slow
def test_spark_features_lay_out_through_a_file_uri_and_remove_it(
    spark, small_registry_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "shared-scratch"
    out = write_spark_features(
        spark, small_registry_dir, ["2023-12-31"], tmp_path / "f", scratch_root=root.as_uri()
    )
    from features.spark.features import read_spark_feature_table

    got = read_spark_feature_table(out)
    reference = build_feature_table(load_validated(small_registry_dir), ["2023-12-31"], n_jobs=1)
    assert len(got) == len(reference) > 0
    assert got.equals(reference)
    # the layout was made below the root (which it created) and removed after the job
    assert root.is_dir() and list(root.iterdir()) == []
    assert not any(p.name.endswith(".partitions") for p in tmp_path.iterdir())
