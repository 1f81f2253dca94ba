"""`earlyrisk score` says when a table of the registry ends early (issue 25, item 4): the
scores are still written (features read what was recorded), with the warning beside them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.local_server import begin_audit_log

AS_OF = "2024-12-31"


def _cut_outcomes(source: Path, target: Path, last: str) -> Path:
    shutil.copytree(source, target)
    path = target / "outcomes.parquet"
    frame = pq.read_table(path).to_pandas()
    kept = frame.loc[pd.to_datetime(frame["recorded_date"]) <= pd.Timestamp(last)]
    pq.write_table(
        pa.Table.from_pandas(kept, schema=pq.read_schema(path), preserve_index=False), path
    )
    return target


def _score(serving_world, raw: Path, tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    env = {
        **serving_world.env,
        "EARLYRISK_AUDIT_LOG_PATH": str(tmp_path / f"{name}.sqlite"),
        "COLUMNS": "400",
    }
    begin_audit_log(env)
    out = tmp_path / f"{name}.parquet"
    argv = ["score", "--raw", str(raw), "--as-of", AS_OF, "--out", str(out)]
    return CliRunner().invoke(app, argv, env=env), out


def test_score_warns_when_the_outcomes_table_ends_early(
    serving_world, small_registry_dir: Path, tmp_path: Path
) -> None:
    raw = _cut_outcomes(small_registry_dir, tmp_path / "raw", "2024-03-31")
    result, out = _score(serving_world, raw, tmp_path, "cut")
    assert result.exit_code == 0, result.output
    assert out.exists()
    said = " ".join(result.output.split())
    assert "coverage warning: table outcomes ends on 2024-02-19" in said, said
    assert "before the extraction date 2024-12-31" in said
    # the full registry: no warning
    full, _ = _score(serving_world, small_registry_dir, tmp_path, "full")
    assert full.exit_code == 0, full.output
    assert "coverage warning" not in full.output
