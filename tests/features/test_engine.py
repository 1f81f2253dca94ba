"""The partitioned engine: same table whatever the partitioning, the documented schema,
fingerprints in the file, a pure per-partition function, and the CLI around it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from featurekit import random_registry
from typer.testing import CliRunner

from earlyrisk.cli import app
from features.catalogue import feature_list_fingerprint, model_input_columns
from features.engine import (
    META_FEATURE_LIST,
    META_RAW,
    build_feature_table,
    compute_partition,
    output_columns,
    partition_of,
    raw_fingerprint,
    read_feature_table,
    split_partitions,
    write_feature_table,
)
from features.labels import AsOfAfterExtractionError, refuse_as_of_after_extraction
from features.raw import RawTables, write_raw

DATES = ["2020-12-31", "2022-03-31", "2023-09-30"]


@pytest.fixture(scope="module")
def raw() -> RawTables:
    return random_registry(90, seed=21)


@pytest.fixture(scope="module")
def reference(raw: RawTables) -> pd.DataFrame:
    return build_feature_table(raw, DATES, n_partitions=1, n_jobs=1)


@pytest.mark.slow
@pytest.mark.parametrize(("partitions", "jobs"), [(3, 1), (16, 1), (3, 2)])
def test_same_table_for_any_partitioning(
    raw: RawTables, reference: pd.DataFrame, partitions: int, jobs: int
) -> None:
    table = build_feature_table(raw, DATES, n_partitions=partitions, n_jobs=jobs)
    pd.testing.assert_frame_equal(table, reference)


def test_partitions_cover_every_family_once_and_keep_moving_persons_events(raw) -> None:
    parts = dict(split_partitions(raw, 16))
    families = pd.concat([p.families["family_id"] for p in parts.values()])
    assert sorted(families) == sorted(raw.families["family_id"])
    memberships = sum(len(p.memberships) for p in parts.values())
    assert memberships == len(raw.memberships)
    for number, part in parts.items():
        assert (partition_of(part.families["family_id"], 16) == number).all()
        assert set(part.memberships["person_id"]) <= set(part.persons["person_id"])


def test_partition_of_is_stable_and_in_range() -> None:
    ids = pd.Series([f"F{i}" for i in range(1000)])
    first = partition_of(ids, 7)
    assert np.array_equal(first, partition_of(ids.iloc[::-1], 7)[::-1])
    assert set(first) == set(range(7))
    with pytest.raises(ValueError, match="n_partitions must be >= 1, got 0"):
        partition_of(ids, 0)


def test_schema_of_the_feature_table(reference: pd.DataFrame) -> None:
    attributes = ["ethnicity", "primary_language"]
    assert reference.columns.tolist() == output_columns(attributes)
    assert reference["family_id"].dtype == "str"
    assert reference["as_of"].dtype == "datetime64[ns]"
    assert (reference[model_input_columns()].dtypes == "float64").all()
    assert reference["label"].dtype == "int8"
    assert set(reference["label"].unique()) <= {0, 1}
    assert reference["label_observed"].dtype == "bool"
    assert reference["wellbeing_score"].between(0, 1).all()
    assert set(reference["wellbeing_level"]) <= set("ABCDE")
    deprived = [c for c in reference.columns if c.startswith("deprived_")]
    assert len(deprived) == 5 and (reference[deprived].dtypes == "bool").all()
    audit = [c for c in reference.columns if c.startswith("audit_")]
    assert (reference[audit].dtypes == "str").all()
    assert reference["audit_primary_language"].isna().any(), "a missing attribute stays null"
    assert not reference.duplicated(["family_id", "as_of"]).any()


def test_one_row_per_family_with_a_member_on_each_date(raw, reference) -> None:
    m = raw.memberships
    for as_of in pd.to_datetime(DATES):
        valid = (m["start_date"] <= as_of) & (m["end_date"].isna() | (m["end_date"] >= as_of))
        expected = sorted(m.loc[valid, "family_id"].unique())
        assert reference.loc[reference["as_of"] == as_of, "family_id"].tolist() == expected


def test_compute_partition_does_not_mutate_its_input(raw) -> None:
    copies = {name: frame.copy() for name, frame in raw.items()}
    compute_partition(raw, DATES[:1])
    for name, frame in raw.items():
        pd.testing.assert_frame_equal(frame, copies[name])


def test_empty_partition_gives_an_empty_table_with_the_schema(raw, reference) -> None:
    empty = RawTables(**{name: frame.iloc[:0] for name, frame in raw.items()})
    table = compute_partition(empty, DATES, extraction_date=pd.Timestamp("2025-01-01"))
    assert table.empty
    assert table.columns.tolist() == output_columns([])
    assert (table.dtypes[model_input_columns()] == "float64").all()


def test_write_and_read_keep_the_fingerprints(tmp_path: Path, raw, reference) -> None:
    path = write_feature_table(reference, tmp_path / "features.parquet")
    back = read_feature_table(path)
    pd.testing.assert_frame_equal(back, reference, check_like=False)
    assert back.attrs[META_FEATURE_LIST] == feature_list_fingerprint()
    assert back.attrs[META_RAW] == raw_fingerprint(raw)
    assert re.fullmatch(r"[0-9a-f]{64}", back.attrs[META_RAW])


def test_raw_fingerprint_changes_with_the_data(raw) -> None:
    changed = RawTables(**{**dict(raw.items()), "events": raw.events.iloc[1:]})
    assert raw_fingerprint(changed) != raw_fingerprint(raw)
    assert raw_fingerprint(raw) == raw_fingerprint(random_registry(90, seed=21))


def test_write_refuses_a_table_without_fingerprints(tmp_path: Path, reference) -> None:
    bare = reference.copy()
    bare.attrs = {}
    with pytest.raises(ValueError, match="needs raw_sha256 and feature_list_sha256"):
        write_feature_table(bare, tmp_path / "x.parquet")


def test_bad_arguments_are_refused(raw) -> None:
    with pytest.raises(ValueError, match="at least one as-of date"):
        build_feature_table(raw, [], n_jobs=1)
    with pytest.raises(ValueError, match="not a date"):
        build_feature_table(raw, [None], n_jobs=1)
    with pytest.raises(ValueError, match="n_jobs must be >= 1, got 0"):
        build_feature_table(raw, DATES, n_jobs=0)


# ---------------------------------------------------------------- the CLI verb


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory, raw) -> Path:
    return write_raw(raw, tmp_path_factory.mktemp("raw"))


def test_cli_writes_the_table(tmp_path: Path, raw_dir: Path, reference) -> None:
    out = tmp_path / "f.parquet"
    args = ["features", "--raw", str(raw_dir), "--out", str(out), "--jobs", "1"]
    for date in DATES:
        args += ["--as-of", date]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "feature snapshots" in result.output and "wrote" in result.output
    pd.testing.assert_frame_equal(read_feature_table(out), reference)


def test_cli_refuses_data_that_breaks_the_contract(tmp_path: Path, raw) -> None:
    broken = raw.events.copy()
    broken.loc[0, "recorded_date"] = broken.loc[0, "event_date"] - pd.Timedelta(days=5)
    bad_dir = write_raw(RawTables(**{**dict(raw.items()), "events": broken}), tmp_path / "bad")
    out = tmp_path / "f.parquet"
    result = CliRunner().invoke(
        app, ["features", "--raw", str(bad_dir), "--as-of", "2022-01-01", "--out", str(out)]
    )
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "breaks the data contract; nothing was written" in text
    assert "recorded_date" in text
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--as-of", "2022-13-45"], "--as-of"),
        (["--as-of", "2022-01-01", "--config", "nope.yaml"], "--config"),
    ],
)
def test_cli_usage_errors(tmp_path: Path, raw_dir: Path, extra: list[str], message: str) -> None:
    out = tmp_path / "f.parquet"
    result = CliRunner().invoke(app, ["features", "--raw", str(raw_dir), "--out", str(out), *extra])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_cli_rejects_a_config_with_an_unknown_key(tmp_path: Path, raw_dir: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("horizon_month: 6\n", encoding="utf-8")
    args = ["features", "--raw", str(raw_dir), "--as-of", "2022-01-01"]
    args += ["--out", str(tmp_path / "f"), "--config", str(config)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "horizon_month" in result.output


def test_raw_fingerprint_is_the_same_from_csv_and_parquet(tmp_path: Path, raw) -> None:
    from features.raw import read_raw

    parquet = read_raw(write_raw(raw, tmp_path / "p", fmt="parquet"))
    csv = read_raw(write_raw(raw, tmp_path / "c", fmt="csv"))
    assert raw_fingerprint(csv) == raw_fingerprint(parquet) == raw_fingerprint(raw)


def test_an_as_of_after_the_extraction_date_is_refused_by_the_driver(raw) -> None:
    """Every caller of the engine (features, score, monitor, train) gets the refusal, which
    names the late date and the extraction date; the extraction date itself is fine."""
    extraction = max(raw.events["recorded_date"].max(), raw.outcomes["recorded_date"].max())
    late = extraction + pd.Timedelta(days=1)
    with pytest.raises(AsOfAfterExtractionError) as refused:
        build_feature_table(raw, [DATES[0], late, "2200-01-01"], n_partitions=1, n_jobs=1)
    said = str(refused.value)
    assert f"as-of date {late:%Y-%m-%d}, 2200-01-01 is after" in said
    assert f"extraction date {extraction:%Y-%m-%d} (the latest recorded_date" in said
    table = build_feature_table(raw, [extraction], n_partitions=1, n_jobs=1)
    assert len(table) > 0


def test_a_configured_extraction_date_is_the_date_checked() -> None:
    """With FeatureConfig.extraction_date, that date bounds the as-of dates and is named."""
    extraction = pd.Timestamp("2023-12-31")
    refuse_as_of_after_extraction([extraction], extraction, configured=True)
    with pytest.raises(AsOfAfterExtractionError, match=r"set by the feature configuration"):
        refuse_as_of_after_extraction([pd.Timestamp("2024-01-01")], extraction, configured=True)


def test_event_parts_pairs_each_person_only_event_with_every_partition_of_its_person(
    raw: RawTables,
) -> None:
    from dataclasses import replace

    from features.partitions import PartitionAssigner

    # persons who moved: 30 members also joined another family (often another partition)
    moved = raw.memberships.iloc[:30].copy()
    moved["family_id"] = raw.memberships["family_id"].iloc[-30:].to_numpy()
    raw = replace(raw, memberships=pd.concat([raw.memberships, moved], ignore_index=True))
    assign = PartitionAssigner(raw, 16)
    events = raw.events.copy()
    # person-only rows: some of a person in several families' partitions, one unknown person
    events.loc[events.index[::3], "family_id"] = None
    events.loc[events.index[1], ["family_id", "person_id"]] = [None, "nobody"]
    rows, parts = assign.event_parts(events)

    member_parts = pd.DataFrame(
        {
            "person_id": raw.memberships["person_id"],
            "part": partition_of(raw.memberships["family_id"], 16),
        }
    ).drop_duplicates()
    assert (member_parts.groupby("person_id")["part"].nunique() > 1).any()  # the case exercised
    person_only = events["family_id"].isna().to_numpy()
    expected_person = (
        pd.DataFrame({"row": np.flatnonzero(person_only)})
        .assign(person_id=events["person_id"].to_numpy()[person_only])
        .merge(member_parts, on="person_id")
    )
    expected_family = pd.DataFrame(
        {
            "row": np.flatnonzero(~person_only),
            "part": partition_of(events["family_id"][~person_only], 16),
        }
    )
    expected = pd.concat([expected_family, expected_person[["row", "part"]]])
    got = pd.DataFrame({"row": rows, "part": parts})
    key = ["row", "part"]
    assert 1 not in set(got["row"])  # the unknown person's row goes nowhere
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True).astype(got.dtypes.to_dict()),
    )
