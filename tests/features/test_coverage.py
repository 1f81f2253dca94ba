"""Coverage per table: validate warns about a feed that ends early, training refuses to put a
label window past the outcomes table's end (or moves the design back), on constructed
truncated copies of the small session registry."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from features.coverage import (
    TableCoverage,
    coverage_of_dir,
    coverage_warnings,
    outcomes_through,
    stale_tables,
)
from features.validation import load_validated
from training.config import load_config
from training.inputs import TrainingError, plan_design
from training.splits import label_window_end

D = dt.date


def _truncated(source: Path, target: Path, table: str, last: str) -> Path:
    """A copy of ``source`` whose ``table`` keeps only rows recorded by ``last``."""
    shutil.copytree(source, target)
    path = target / f"{table}.parquet"
    frame = pq.read_table(path).to_pandas()
    column = "recorded_date" if "recorded_date" in frame.columns else "start_date"
    kept = frame.loc[pd.to_datetime(frame[column]) <= pd.Timestamp(last)]
    schema = pq.read_schema(path)
    pq.write_table(pa.Table.from_pandas(kept, schema=schema, preserve_index=False), path)
    return target


def _validate(raw: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", str(raw), *extra], env={"COLUMNS": "400"})
    return result.exit_code, result.output


def test_validate_reports_each_tables_first_and_latest_date(small_registry_dir: Path) -> None:
    code, out = _validate(small_registry_dir, "--json")
    assert code == 0
    data = json.loads(out)
    cov = data["coverage"]
    assert set(cov) == {"events", "outcomes", "families", "memberships"}
    assert cov["events"] == {
        "column": "recorded_date",
        "first": "2020-01-02",
        "latest": "2024-12-31",
    }
    assert cov["outcomes"]["latest"] >= "2024-11-30"  # a live feed: no warning
    assert data["warnings"] == []


def test_validate_warns_when_outcomes_end_months_before_the_extraction(
    small_registry_dir: Path, tmp_path: Path
) -> None:
    raw = _truncated(small_registry_dir, tmp_path / "raw", "outcomes", "2024-03-31")
    through = coverage_of_dir(raw)["outcomes"].latest
    assert through is not None and through <= D(2024, 3, 31)
    code, out = _validate(raw)
    assert code == 0  # still satisfies the contract: a warning, not an error
    assert "Coverage per table" in out
    assert f"warning: table outcomes ends on {through.isoformat()}" in out
    assert "before the extraction date 2024-12-31" in out
    code, out = _validate(raw, "--json")
    (warning,) = json.loads(out)["warnings"]
    assert warning.startswith(f"table outcomes ends on {through.isoformat()}")


def test_validate_warns_when_the_events_feed_stalls(
    small_registry_dir: Path, tmp_path: Path
) -> None:
    raw = _truncated(small_registry_dir, tmp_path / "raw", "events", "2024-06-30")
    code, out = _validate(raw, "--json")
    data = json.loads(out)
    assert code == 0
    assert data["coverage"]["events"]["latest"] <= "2024-06-30"
    assert [w.split(" ends on")[0] for w in data["warnings"]] == ["table events"]


def test_a_sparse_table_is_not_stale_by_chance_but_a_busy_one_is() -> None:
    extraction = D(2024, 12, 31)
    # 30 outcomes over five years: a 70-day silence is the table's ordinary pace
    sparse = TableCoverage("outcomes", "recorded_date", D(2020, 1, 1), D(2024, 10, 22), rows=30)
    assert stale_tables({"outcomes": sparse}, extraction) == []
    # 3,000 over the same years: the same silence is a stalled feed
    busy = TableCoverage("outcomes", "recorded_date", D(2020, 1, 1), D(2024, 10, 22), rows=3000)
    assert stale_tables({"outcomes": busy}, extraction) == [busy]
    assert outcomes_through({"outcomes": busy}, extraction) == (D(2024, 10, 22), True)
    assert outcomes_through({"outcomes": sparse}, extraction) == (extraction, False)
    # within a month is never stale, however busy
    fresh = TableCoverage("outcomes", "recorded_date", D(2020, 1, 1), D(2024, 12, 5), rows=9000)
    assert coverage_warnings({"outcomes": fresh}, extraction) == []


def test_training_keeps_every_label_window_inside_the_outcomes_coverage(
    small_registry_dir: Path, tmp_path: Path
) -> None:
    raw_dir = _truncated(small_registry_dir, tmp_path / "raw", "outcomes", "2024-03-31")
    through = coverage_of_dir(raw_dir)["outcomes"].latest
    assert through is not None
    plan = plan_design(load_config(None), raw=load_validated(raw_dir), table=None)
    # without the coverage rule the test slice would be 2023-12-31 (window to 2024-12-31);
    # the outcomes kept end on 2024-02-19, so the latest window inside them starts 2022-12-31
    assert through == D(2024, 2, 19)
    assert plan.evaluation.test == (D(2022, 12, 31),)
    assert plan.outcomes_through == through
    for design in (plan.evaluation, *plan.origins):
        assert all(label_window_end(d, 12) <= through for d in design.all_dates())
    assert plan.final is not None and plan.final.calibration == (D(2022, 12, 31),)
    assert any(
        f"outcomes table ends on {through.isoformat()}" in w and "2024-12-31" in w
        for w in plan.warnings
    )


def test_training_refuses_when_no_label_window_fits_the_outcomes(
    small_registry_dir: Path, tmp_path: Path
) -> None:
    raw_dir = _truncated(small_registry_dir, tmp_path / "raw", "outcomes", "2021-06-30")
    with pytest.raises(TrainingError) as caught:
        plan_design(load_config(None), raw=load_validated(raw_dir), table=None)
    message = str(caught.value)
    assert "outcomes table ends on 2021-06-" in message
    assert "events run to the extraction date 2024-12-31" in message


def test_configured_dates_past_the_outcomes_coverage_are_refused(
    small_registry_dir: Path, tmp_path: Path
) -> None:
    raw_dir = _truncated(small_registry_dir, tmp_path / "raw", "outcomes", "2024-03-31")
    config = load_config(
        None,
        slices={
            "train": ["2021-09-30", "2021-12-31"],
            "calibration": ["2022-12-31"],
            "test": ["2023-12-31"],
        },
    )
    with pytest.raises(TrainingError) as caught:
        plan_design(config, raw=load_validated(raw_dir), table=None)
    message = str(caught.value)
    assert "outcomes table ends on 2024-02-19" in message
    assert "2023-12-31" in message
    # the same configured dates on the full registry are accepted
    full = plan_design(config, raw=load_validated(small_registry_dir), table=None)
    assert full.evaluation.test == (D(2023, 12, 31),) and full.outcomes_through is None


def test_realized_labels_wait_for_the_outcomes_table(
    tmp_path: Path, small_registry_dir: Path
) -> None:
    from features.coverage import dir_coverage_warnings, mask_labels_past_outcomes

    table = pd.DataFrame(
        {
            "as_of": pd.to_datetime(["2023-03-31", "2023-06-30", "2023-09-30"]),
            "label": [0, 0, 1],
            "label_observed": [True, True, True],
        }
    )
    masked = mask_labels_past_outcomes(table, through=D(2024, 6, 30), horizon_months=12)
    assert masked["label_observed"].tolist() == [True, True, False]
    assert table["label_observed"].all()  # the input is left alone
    # what `score` and `monitor` print: nothing on a live registry, the outcomes on a cut one
    assert dir_coverage_warnings(small_registry_dir) == []
    raw = _truncated(small_registry_dir, tmp_path / "raw", "outcomes", "2024-03-31")
    (line,) = dir_coverage_warnings(raw)
    assert line.startswith("table outcomes ends on 2024-02-19")
