"""The temporal design derived from the data: dates follow the export, config dates win."""

from __future__ import annotations

import datetime as dt

import pytest

from training.config import SlicesConfig
from training.design import (
    DesignError,
    derive_design,
    design_from_table,
    period_ends,
    shift_date,
)
from training.splits import check_label_windows, label_window_end

D = dt.date


def _derive(start: dt.date, extraction: dt.date, **slices: object):
    return derive_design(
        extraction_date=extraction,
        data_start=start,
        horizon_months=12,
        longest_window_days=1095,
        slices=SlicesConfig(**slices),
        backtest_origins=3,
        final_refit=True,
    )


def test_foreign_export_gets_its_own_dates():
    plan = _derive(D(2021, 1, 1), D(2025, 12, 31))
    assert plan.source == "data"
    assert plan.evaluation.test == (D(2024, 12, 31),)
    assert plan.evaluation.calibration == (D(2023, 12, 31),)
    # the default 8 training origins: every quarter end whose window closed by calibration
    assert plan.evaluation.train == tuple(period_ends(D(2021, 1, 1), D(2022, 12, 31)))
    assert len(plan.evaluation.train) == 8
    check_label_windows(plan.evaluation, horizon_months=12)
    # the registered model sees the most recent labelled data
    assert plan.final is not None
    assert plan.final.calibration == (D(2024, 12, 31),)
    assert plan.final.train[-1] == D(2023, 12, 31)
    assert all(label_window_end(d, 12) <= D(2024, 12, 31) for d in plan.final.train)
    # five years cannot give three years of history before training: said, not hidden
    assert plan.warnings and "left-censored" in plan.warnings[0]
    assert any("2024-12-31" in r and "extraction date" in r for r in plan.reasons)


def test_a_long_export_trains_only_on_snapshots_with_full_history():
    plan = _derive(D(2015, 1, 1), D(2025, 6, 30))
    assert plan.evaluation.test == (D(2024, 6, 30),)
    assert plan.evaluation.calibration == (D(2023, 6, 30),)
    assert plan.evaluation.train[-1] == D(2022, 6, 30)
    assert len(plan.evaluation.train) == 8
    assert not plan.warnings
    floor = D(2015, 1, 1) + dt.timedelta(days=1095)
    assert min(plan.evaluation.train) >= floor
    assert any(floor.isoformat() in r for r in plan.reasons)


def test_history_floor_restricts_training_when_the_data_is_just_long_enough():
    # data start + 1095 days = 2017-12-31: the quarter ends before it do not qualify,
    # although train_dates would take up to 8
    plan = _derive(D(2015, 1, 1), D(2021, 12, 31), train_dates=8, min_train_dates=2)
    assert plan.evaluation.train == (
        D(2017, 12, 31),
        D(2018, 3, 31),
        D(2018, 6, 30),
        D(2018, 9, 30),
        D(2018, 12, 31),
    )
    assert not plan.warnings


def test_backtest_origins_step_back_a_quarter_and_stop_where_the_data_ends():
    plan = _derive(D(2021, 1, 1), D(2025, 12, 31))
    assert [o.test for o in plan.origins] == [
        (D(2024, 12, 31),),
        (D(2024, 9, 30),),
        (D(2024, 6, 30),),
    ]
    for origin in plan.origins:
        check_label_windows(origin, horizon_months=12)
    short = derive_design(
        extraction_date=D(2023, 6, 30),
        data_start=D(2020, 1, 1),
        horizon_months=12,
        longest_window_days=1095,
        slices=SlicesConfig(min_train_dates=1, train_dates=1),
        backtest_origins=5,
        final_refit=False,
    )
    # a third origin (test 2021-12-31) would train before the data starts
    assert [o.test for o in short.origins] == [(D(2022, 6, 30),), (D(2022, 3, 31),)]
    assert any("allows no more" in r for r in short.reasons)


def test_data_too_short_is_refused_with_the_dates():
    with pytest.raises(DesignError, match=r"2020-01-01 to 2021-12-31"):
        _derive(D(2020, 1, 1), D(2021, 12, 31))


def test_config_dates_win_and_shift_for_the_backtest():
    slices = {
        "train": (D(2021, 6, 30), D(2021, 12, 31)),
        "calibration": (D(2022, 12, 31),),
        "test": (D(2023, 12, 31),),
    }
    plan = _derive(D(2020, 1, 1), D(2024, 12, 31), **slices)
    assert plan.source == "config"
    assert plan.evaluation.train == slices["train"]
    assert plan.origins[1].test == (D(2023, 9, 30),)
    assert plan.origins[1].train == (D(2021, 3, 31), D(2021, 9, 30))
    assert plan.final is not None
    assert plan.final.train == (D(2021, 6, 30), D(2021, 12, 31), D(2022, 12, 31))
    assert plan.final.calibration == (D(2023, 12, 31),)


def test_partial_config_dates_are_refused():
    with pytest.raises(ValueError, match="give all three"):
        SlicesConfig(test=(D(2023, 12, 31),))


def test_feature_table_design_uses_only_its_dates():
    observed = {
        D(2021, 6, 30): True,
        D(2021, 12, 31): True,
        D(2022, 12, 31): True,
        D(2023, 12, 31): True,
        D(2024, 6, 30): False,
    }
    plan = design_from_table(
        observed, horizon_months=12, slices=SlicesConfig(), backtest_origins=3, final_refit=True
    )
    assert plan.evaluation.test == (D(2023, 12, 31),)
    assert plan.evaluation.train == (D(2021, 6, 30), D(2021, 12, 31))
    assert plan.final is not None and plan.final.calibration == (D(2023, 12, 31),)


def test_month_end_shifts_stay_month_ends():
    assert shift_date(D(2021, 6, 30), -3) == D(2021, 3, 31)
    assert shift_date(D(2024, 2, 29), 12) == D(2025, 2, 28)
    assert period_ends(D(2021, 1, 1), D(2021, 12, 31)) == [
        D(2021, 3, 31),
        D(2021, 6, 30),
        D(2021, 9, 30),
        D(2021, 12, 31),
    ]
