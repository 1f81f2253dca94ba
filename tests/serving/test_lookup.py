"""The lookup store is keyed, holds only model inputs, and rebuilds only when stale."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from serving_world import snapshot_frame, write_snapshot

from features.catalogue import feature_list_fingerprint, model_input_columns
from serving.store.lookup import SnapshotError, SqlLookupStore, read_snapshot_info


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    root = tmp_path_factory.mktemp("lookup")
    frame = snapshot_frame(seed=3)
    path = write_snapshot(frame, root / "snap.parquet", feature_list_sha256="a" * 64)
    return root, frame, path


def test_keyed_lookup_returns_the_snapshot_values(snapshot):
    root, frame, path = snapshot
    names = model_input_columns()
    info = read_snapshot_info(path)
    assert info.feature_list_sha256 == "a" * 64 and info.num_rows == len(frame)
    store = SqlLookupStore.from_snapshot(info, root / "lookup.sqlite", feature_names=names)
    assert store.as_of_dates() == ["2024-06-30", "2024-12-31"]
    assert store.latest_as_of() == "2024-12-31"
    got = store.get(["F00010", "unknown", "F00007", "F00010"], as_of="2024-06-30")
    assert sorted(got.index) == ["F00007", "F00010"]
    expected = frame[(frame.as_of == "2024-06-30")].set_index("family_id").loc["F00010", names]
    np.testing.assert_array_equal(got.loc["F00010", names].to_numpy(), expected.to_numpy())
    assert got[names].isna().any().any()  # NULL round-trips as NaN
    population = list(store.iter_population(as_of="2024-12-31", chunk_size=100))
    assert [len(c) for c in population] == [100, 100, 40]


def test_store_holds_only_model_inputs_and_uses_the_key(snapshot):
    root, _, path = snapshot
    names = model_input_columns()
    SqlLookupStore.from_snapshot(read_snapshot_info(path), root / "l2.sqlite", feature_names=names)
    conn = sqlite3.connect(root / "l2.sqlite")
    cols = [r[1] for r in conn.execute("PRAGMA table_info(family_features)")]
    assert cols == ["as_of", "family_id", *names]
    assert not any(c.startswith("audit_") for c in cols)
    plan = " ".join(
        str(r[-1])
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM family_features WHERE as_of = ? AND family_id IN (?)",
            ("2024-12-31", "F1"),
        )
    )
    assert "PRIMARY KEY" in plan and "SCAN" not in plan


def test_rebuilds_only_when_the_snapshot_changes(snapshot, tmp_path):
    _, frame, _ = snapshot
    names = model_input_columns()
    path = write_snapshot(frame, tmp_path / "s.parquet", feature_list_sha256="b" * 64)
    db = tmp_path / "lookup.sqlite"
    SqlLookupStore.from_snapshot(read_snapshot_info(path), db, feature_names=names)
    first = db.stat().st_mtime_ns
    SqlLookupStore.from_snapshot(read_snapshot_info(path), db, feature_names=names)
    assert db.stat().st_mtime_ns == first
    changed = frame.copy()
    changed.loc[0, names[0]] = 12345.0
    write_snapshot(changed, path, feature_list_sha256=feature_list_fingerprint())
    store = SqlLookupStore.from_snapshot(read_snapshot_info(path), db, feature_names=names)
    assert store.get([changed.family_id[0]], as_of="2024-06-30").iloc[0, 0] == 12345.0


def test_clear_errors_for_bad_snapshots(snapshot, tmp_path):
    _, frame, _ = snapshot
    with pytest.raises(SnapshotError, match="does not exist"):
        read_snapshot_info(tmp_path / "missing.parquet")
    (tmp_path / "junk.parquet").write_text("junk")
    with pytest.raises(SnapshotError, match="not a readable Parquet"):
        read_snapshot_info(tmp_path / "junk.parquet")
    names = model_input_columns()
    short = write_snapshot(
        frame.drop(columns=[names[4]]), tmp_path / "short.parquet", feature_list_sha256="c" * 64
    )
    with pytest.raises(SnapshotError, match=names[4]):
        SqlLookupStore.from_snapshot(
            read_snapshot_info(short), tmp_path / "x.sqlite", feature_names=names
        )
    dup = write_snapshot(frame.iloc[[0, 0]], tmp_path / "dup.parquet", feature_list_sha256="c" * 64)
    with pytest.raises(SnapshotError, match="repeats a"):
        SqlLookupStore.from_snapshot(
            read_snapshot_info(dup), tmp_path / "y.sqlite", feature_names=names
        )
