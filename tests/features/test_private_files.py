"""Files with family data are owner-only from the moment they exist (issue 20, item 9).

The helpers of :mod:`features.private_files` and the feature snapshot writers, under the
usual umask 022 (where a plain write makes a 0644 file any local user can read).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from private_modes import assert_private, mode, usual_umask
from typer.testing import CliRunner

from earlyrisk.cli import app
from features.private_files import (
    new_private_file,
    private_staging,
    publish_tree,
    write_private_text,
)
from features.snapshot_store import read_feature_table, write_feature_table


def test_a_replaced_world_readable_file_comes_back_owner_only(tmp_path: Path) -> None:
    with usual_umask():
        old = tmp_path / "scores.parquet"
        old.write_text("someone's earlier file", encoding="utf-8")
        assert mode(old) == 0o644  # what a plain write gives: the case being fixed
        new_private_file(old)
        assert mode(old) == 0o600 and old.read_bytes() == b""
        text = tmp_path / "report.json"
        text.write_text("{}", encoding="utf-8")
        write_private_text(text, '{"families": 3}\n')
    assert mode(text) == 0o600 and text.read_text(encoding="utf-8") == '{"families": 3}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "scores.parquet"]


def test_a_staged_tree_is_sealed_and_renamed_and_the_staging_folder_goes(tmp_path: Path) -> None:
    target = tmp_path / "scores"
    target.mkdir()
    (target / "stale.parquet").write_text("old run", encoding="utf-8")
    with usual_umask(), private_staging(target) as staging:
        assert mode(staging) == 0o700  # nobody else can enter while a library writes
        staged = staging / "scores"
        (staged / "as_of=2024-01-31").mkdir(parents=True)  # as Spark makes them: 0755, 0644
        (staged / "as_of=2024-01-31" / "part-0.parquet").write_text("rows", encoding="utf-8")
        (staged / "_SUCCESS").write_text("", encoding="utf-8")
        publish_tree(staged, target)
    assert_private(target)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == [
        "_SUCCESS",
        "as_of=2024-01-31",
        "as_of=2024-01-31/part-0.parquet",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["scores"]  # the staging folder is gone


def test_a_feature_snapshot_is_written_owner_only(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {"family_id": ["F1", "F2"], "as_of": pd.to_datetime(["2024-01-31"] * 2), "x": [1.0, 2.0]}
    )
    out = tmp_path / "snapshot.parquet"
    out.write_bytes(b"an older, world-readable snapshot")
    os.chmod(out, 0o644)
    with usual_umask():
        write_feature_table(table, out, raw_sha256="r" * 64, feature_list_sha256="f" * 64)
    assert mode(out) == 0o600
    assert read_feature_table(out)["family_id"].tolist() == ["F1", "F2"]
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.parquet"]


def test_features_verb_writes_its_out_file_owner_only(
    tmp_path: Path, small_registry_dir: Path
) -> None:
    out = tmp_path / "features.parquet"
    with usual_umask():
        result = CliRunner().invoke(
            app,
            [
                *("features", "--raw", str(small_registry_dir), "--as-of", "2022-01-01"),
                *("--out", str(out), "--jobs", "1"),
            ],
        )
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o600
