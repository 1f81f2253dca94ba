"""Season-aware monitoring on a seasonal synthetic registry (``--variant seasonal``).

One seasonal registry (2020-2025) and the same registry with the documented shift planted
from 2024-07; one quick model trained on the unchanged one (test slice 2023-12-31, the
stored reference; its data run to 2024-12-31). The quarter ends after the reference are
monitored against the same quarter of the training period (the last year of the model's
data once past it): the unchanged registry raises no alert at any of the 8 quarter ends of
2024-2025, while the stored-reference comparison (the old behaviour) cries wolf on the
seasonal indicators; on the shifted registry the shifted indicators alarm from the shift
on, not before.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from monitor_world import tracking_uri, train_quick

from serving.monitor.config import MonitorConfig
from serving.monitor.core import monitor
from serving.monitor.run import run_monitor
from serving.monitor.seasonal import seasonal_reference_date, seasonal_stats

MODEL = "earlyrisk-seasons-test"
SHIFT = dt.date(2024, 7, 1)
# every quarter end after the model's reference (2023-12-31) to the registry's end
QUARTER_ENDS = [
    dt.date(2024, 3, 31),
    dt.date(2024, 6, 30),
    dt.date(2024, 9, 30),
    dt.date(2024, 12, 31),
    dt.date(2025, 3, 31),
    dt.date(2025, 6, 30),
    dt.date(2025, 9, 30),
    dt.date(2025, 12, 31),
]
SHIFTED = {"econ_benefits_total_365d", "econ_benefit_payment_mean_365d"}
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support:FutureWarning"),
]


@pytest.fixture(scope="module")
def seasons(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from features.eligibility import EligibilityRule, eligible_rows
    from features.engine import build_feature_table
    from features.synth import SynthConfig, synthesize
    from features.validation import load_validated
    from serving.monitor.run import load_reference_stats
    from training.registry import TAG_DATA_THROUGH, TAG_ELIGIBILITY, load_risk_model

    root = tmp_path_factory.mktemp("seasons")
    for name, shift in (("raw", None), ("shifted", SHIFT)):
        synthesize(
            SynthConfig(
                families=2000,
                seed=11,
                end=dt.date(2025, 12, 31),
                variant="seasonal",
                shift_month=shift,
            ),
            root / name,
            workers=1,
        )
    result = train_quick(
        root,
        root / "raw",
        model_name=MODEL,
        slices={
            "train": ["2021-09-30", "2021-12-31"],
            "calibration": ["2022-12-31"],
            "test": ["2023-12-31"],
        },
        num_boost_round=60,
        n_bootstrap=20,
        fairness_gate=False,
    )
    tracking = tracking_uri(root)
    loaded = load_risk_model(f"models:/{MODEL}/{result.model_version}", tracking_uri=tracking)
    stats = load_reference_stats(loaded.run_id, tracking_uri=tracking)
    assert stats is not None and stats.as_of == ["2023-12-31"]
    rule = EligibilityRule.from_tag(loaded.tags.get(TAG_ELIGIBILITY))
    through = dt.date.fromisoformat(loaded.tags[TAG_DATA_THROUGH])
    candidates = [
        seasonal_reference_date(d, stats.as_of, data_through=through) for d in QUARTER_ENDS
    ]
    seasonal_days = {d for d in candidates if d is not None}
    dates = sorted({*QUARTER_ENDS, *seasonal_days})
    tables = {}
    for name in ("raw", "shifted"):
        table = build_feature_table(load_validated(root / name), dates, n_jobs=1)
        table = eligible_rows(table, rule)  # the population the model scores, as run_monitor
        table["as_of"] = pd.to_datetime(table["as_of"])
        tables[name] = {
            d: table.loc[table["as_of"] == pd.Timestamp(d)].reset_index(drop=True) for d in dates
        }
    return {
        "root": root,
        "tracking": tracking,
        "version": result.model_version,
        "model": loaded.risk_model,
        "stats": stats,
        "through": through,
        "tables": tables,
    }


def _report(seasons: dict, registry: str, day: dt.date, *, seasonal: bool) -> dict:
    """The monitor's report body at ``day`` (no history), as ``run_monitor`` computes it."""
    stats, model = seasons["stats"], seasons["model"]
    snapshots = seasons["tables"][registry]
    reference_day = (
        seasonal_reference_date(day, stats.as_of, data_through=seasons["through"])
        if seasonal
        else None
    )
    if reference_day is not None:
        stats = seasonal_stats(stats, model, snapshots[reference_day], as_of=reference_day)
    config = MonitorConfig(history_months=0, n_boot=0)
    return monitor(stats, model, {day.isoformat(): snapshots[day]}, config=config)


def _drift_alerts(report: dict) -> set[str]:
    return {a["subject"] for a in report["alerts"] if a["check"].endswith("_drift")}


def test_the_same_quarter_is_the_reference_of_every_quarter_end() -> None:
    stored = ["2023-12-31"]
    assert seasonal_reference_date(dt.date(2024, 6, 30), stored) == dt.date(2023, 6, 30)
    assert seasonal_reference_date(dt.date(2025, 3, 31), stored) == dt.date(2023, 3, 31)
    assert seasonal_reference_date(dt.date(2024, 12, 31), stored) is None  # stored is Q4
    assert seasonal_reference_date(dt.date(2024, 2, 29), stored) == dt.date(2023, 2, 28)


def test_an_unchanged_seasonal_registry_raises_no_alert_at_any_quarter_end(seasons: dict) -> None:
    stored_alarms = 0
    # the model's data run to 2024-12-31 (labels of its 2023-12-31 reference): 2025's dates
    # are compared with 2024's, never with 2023's, where the synthetic cohort's ageing
    # (hh_children_under_6, PSI 0.105 at 2025-03-31) would flag a trend, not a season
    assert seasons["through"] == dt.date(2024, 12, 31)
    for day in QUARTER_ENDS:
        report = _report(seasons, "raw", day, seasonal=True)
        assert report["alerts"] == [], (day, report["alerts"])
        stored_alarms += len(_drift_alerts(_report(seasons, "raw", day, seasonal=False)))
    # the stored reference alone (one December) flags the seasons: what the seasonal one fixes
    assert stored_alarms > 0


def test_the_planted_shift_alarms_after_its_month_and_not_before(seasons: dict) -> None:
    for day in QUARTER_ENDS[:5]:  # to 2025-03-31, against 2024-03-31 (before the shift)
        drifted = _drift_alerts(_report(seasons, "shifted", day, seasonal=True))
        if day < SHIFT:
            assert not drifted, (day, drifted)
        elif day >= dt.date(2024, 12, 31):  # half a year of new amounts in 365-day windows
            assert drifted >= SHIFTED, (day, drifted)


def test_run_monitor_says_which_reference_it_used(seasons: dict) -> None:
    common = {
        "model_uri": f"models:/{MODEL}/{seasons['version']}",
        "tracking_uri": seasons["tracking"],
        "config": MonitorConfig(history_months=0, n_boot=0),
        "n_jobs": 1,
        "log_to_mlflow": False,
    }
    june = run_monitor(
        seasons["root"] / "raw",
        as_of=dt.date(2024, 6, 30),
        out_dir=seasons["root"] / "june",
        **common,
    ).report
    assert june["reference"]["seasonal"]["method"] == "same_quarter"
    assert june["reference"]["seasonal"]["as_of"] == "2023-06-30"
    assert june["alerts"] == []
    # the estimate's calibration: the reference's labelled year, every quarter of 2023
    assert june["reference"]["seasonal"]["calibration_as_of"] == [
        "2023-03-31",
        "2023-06-30",
        "2023-09-30",
        "2023-12-31",
    ]
    assert "labelled year" in june["reference"]["seasonal"]["calibration"]
    assert "2023-09-30" in june["performance"]["calibration_check"]["note"]
    # past the model's data (2024-12-31): the same quarter of its last year, not 2023's
    later = run_monitor(
        seasons["root"] / "raw",
        as_of=dt.date(2025, 6, 30),
        out_dir=seasons["root"] / "later",
        **common,
    ).report
    assert later["reference"]["seasonal"]["as_of"] == "2024-06-30"
    assert later["alerts"] == []
    december = run_monitor(
        seasons["root"] / "raw",
        as_of=dt.date(2024, 12, 31),
        out_dir=seasons["root"] / "december",
        **common,
    ).report
    assert december["reference"]["seasonal"]["method"] == "stored"
    assert "same quarter" in december["reference"]["seasonal"]["reason"]
