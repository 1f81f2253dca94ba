"""`earlyrisk retention apply` (issue 23, item 5): snapshots and score files past their age
are removed, never the served or the newest snapshot nor any other file; a dry run by
default; with --yes the act is a `retention` entry of the audit log first, and a log that
cannot record it means nothing is removed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.store.audit_log import open_audit_log


def _snapshot(path: Path, as_of: str) -> None:
    pd.DataFrame(
        {"family_id": ["F1", "F2"], "as_of": pd.to_datetime([as_of, as_of]), "x": [1.0, 2.0]}
    ).to_parquet(path)


def _scores(path: Path, as_of: str) -> None:
    pd.DataFrame(
        {
            "family_id": ["F1"],
            "as_of": pd.to_datetime([as_of]),
            "probability": [0.3],
            "risk_level": ["high"],
        }
    ).to_parquet(path)


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data"
    (data / "scores").mkdir(parents=True)
    files = {
        "served": data / "features_2023.parquet",  # old, but the one the service serves
        "old_snapshot": data / "features_2024_06.parquet",
        "newest": data / "features_2024_12.parquet",
        "old_scores": data / "scores" / "scores_2024_01.parquet",
        "new_scores": data / "scores" / "scores_2024_12.parquet",
        "raw": data / "events.parquet",
        "log": tmp_path / "audit.sqlite",
    }
    _snapshot(files["served"], "2023-06-30")
    _snapshot(files["old_snapshot"], "2024-06-30")
    _snapshot(files["newest"], "2024-12-31")
    _scores(files["old_scores"], "2024-01-31")
    _scores(files["new_scores"], "2024-12-31")
    pd.DataFrame({"event_id": ["e1"], "event_date": pd.to_datetime(["2020-01-01"])}).to_parquet(
        files["raw"]
    )
    open_audit_log(files["log"], new_log=True).close()
    return files


def _apply(world: dict[str, Path], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["retention", "apply", "--dir", str(world["served"].parent), *args],
        env={
            "COLUMNS": "400",
            "EARLYRISK_SNAPSHOT_PATH": str(world["served"]),
            "EARLYRISK_AUDIT_LOG_PATH": str(world["log"]),
            "EARLYRISK_AUDIT_ANCHOR_PATH": None,
            "EARLYRISK_DATABASE_URL": None,
            "EARLYRISK_SCORE_EXPIRY_TODAY": "2025-01-31",
            "EARLYRISK_SNAPSHOT_RETENTION_DAYS": "100",
            "EARLYRISK_SCORE_FILE_RETENTION_DAYS": "180",
        },
    )
    return result.exit_code, " ".join(result.output.split())


def _retention_entries(world: dict[str, Path]) -> list[dict]:
    log = open_audit_log(world["log"])
    try:
        return log.page(kind="retention")
    finally:
        log.close()


def test_a_dry_run_lists_what_would_go_and_removes_nothing(world: dict[str, Path]) -> None:
    code, output = _apply(world)
    assert code == 0, output
    assert "dry run: 2 file(s) would be removed" in output
    assert f"{world['old_snapshot']} (snapshot, data as of 2024-06-30): 215 days old" in output
    assert f"{world['old_scores']} (score_file, data as of 2024-01-31): 366 days old" in output
    assert "kept: the snapshot the service is configured to serve" in output
    assert "kept: the newest snapshot" in output
    assert f"{world['raw']} (other" in output
    assert all(path.exists() for path in world.values())
    assert _retention_entries(world) == []


def test_yes_records_the_act_then_removes_only_what_is_past_its_age(
    world: dict[str, Path],
) -> None:
    code, output = _apply(world, "--yes")
    assert code == 0 and "removed 2 file(s)" in output, output
    assert not world["old_snapshot"].exists() and not world["old_scores"].exists()
    for kept in ("served", "newest", "new_scores", "raw"):
        assert world[kept].exists(), kept
    (entry,) = _retention_entries(world)
    assert entry["decision"] == "apply" and entry["endpoint"] == "retention apply"
    removed = {item["path"]: item for item in entry["detail"]["removed"]}
    assert set(removed) == {str(world["old_snapshot"]), str(world["old_scores"])}
    assert removed[str(world["old_scores"])]["kind"] == "score_file"
    assert entry["detail"]["snapshot_retention_days"] == 100
    code, output = _apply(world, "--yes")  # again: nothing left past its age
    assert code == 0 and "nothing past retention" in output


def test_nothing_is_removed_when_the_audit_log_cannot_record_it(world: dict[str, Path]) -> None:
    for anchor in world["log"].parent.glob("*anchor*"):
        anchor.unlink()  # no anchor: the log is refused (nothing vouches for it)
    code, output = _apply(world, "--yes")
    assert code == 1 and "nothing removed: the audit log refused" in output, output
    assert world["old_snapshot"].exists() and world["old_scores"].exists()
