"""Temporal slices: overlapping label windows are refused; temporal separation is the rule,
family-disjoint slices an option."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from training_frames import fake_feature_table

from training.config import SlicesConfig
from training.splits import SplitError, assign_families, check_label_windows, temporal_split

D = dt.date
# the dates of fake_feature_table's snapshots, as a config would give them
DATED = SlicesConfig(
    train=(D(2021, 6, 30), D(2021, 12, 31)), calibration=(D(2022, 12, 31),), test=(D(2023, 12, 31),)
)


def test_label_window_reaching_a_later_slice_is_refused_with_dates():
    slices = SlicesConfig(
        train=(D(2021, 12, 31), D(2022, 6, 30)),
        calibration=(D(2022, 12, 31),),
        test=(D(2023, 12, 31),),
    )
    with pytest.raises(SplitError) as info:
        check_label_windows(slices, horizon_months=12)
    message = str(info.value)
    assert "2022-06-30" in message  # the offending as-of date
    assert "2023-06-30" in message  # where its label window ends
    assert "2022-12-31" in message  # the later slice's as-of date it reaches past


def test_window_ending_exactly_on_the_later_as_of_is_allowed():
    slices = SlicesConfig(
        train=(D(2021, 12, 31),), calibration=(D(2022, 12, 31),), test=(D(2023, 12, 31),)
    )
    check_label_windows(slices, horizon_months=12)
    with pytest.raises(SplitError, match="13-month"):
        check_label_windows(slices, horizon_months=13)


def test_calibration_window_reaching_test_is_refused():
    slices = SlicesConfig(
        train=(D(2021, 6, 30),), calibration=(D(2023, 3, 31),), test=(D(2023, 12, 31),)
    )
    with pytest.raises(SplitError, match=r"calibration slice as of 2023-03-31.*test slice"):
        check_label_windows(slices, horizon_months=12)


def test_family_disjoint_option_keeps_each_family_in_one_slice():
    table = fake_feature_table(600, seed=1)
    slices = DATED.model_copy(update={"family_disjoint": True})
    split = temporal_split(table, slices=slices, horizon_months=12)
    assert split.family_disjoint
    fams = {name: set(split.frame(name)["family_id"]) for name in ("train", "calibration", "test")}
    assert not fams["train"] & fams["calibration"]
    assert not fams["train"] & fams["test"]
    assert not fams["calibration"] & fams["test"]
    # the train slice keeps both snapshots of its families
    assert split.train.groupby("family_id")["as_of"].nunique().eq(2).all()
    total = sum(info.n_families for info in split.info)
    assert total == 600


def test_temporal_separation_keeps_every_family_at_each_slice_date():
    table = fake_feature_table(600, seed=1)
    split = temporal_split(table, slices=DATED, horizon_months=12)
    assert not split.family_disjoint
    # every family is in every slice, each slice at its own dates only
    for name, dates in (("train", 2), ("calibration", 1), ("test", 1)):
        frame = split.frame(name)
        assert frame["family_id"].nunique() == 600
        assert frame["as_of"].nunique() == dates
    assert split.train["as_of"].max() < split.calibration["as_of"].min()
    assert split.calibration["as_of"].max() < split.test["as_of"].min()


def test_slices_without_dates_are_refused_with_what_to_do():
    table = fake_feature_table(100, seed=1)
    with pytest.raises(SplitError, match="no as-of dates for the train and calibration"):
        temporal_split(table, slices=SlicesConfig(), horizon_months=12)


def test_assignment_is_stable_under_order_and_subsets():
    ids = np.array([f"F{i:05d}" for i in range(2000)])
    fractions = {"train": 0.6, "calibration": 0.2, "test": 0.2}
    full = assign_families(ids, fractions=fractions, salt="s")
    shuffled = assign_families(ids[::-1][:500], fractions=fractions, salt="s")
    assert (full.loc[shuffled.index] == shuffled).all()
    shares = full.value_counts(normalize=True)
    assert abs(shares["train"] - 0.6) < 0.05 and abs(shares["test"] - 0.2) < 0.05
    other_salt = assign_families(ids, fractions=fractions, salt="t")
    assert (other_salt != full).any()


def test_unobserved_test_labels_are_refused_naming_the_date():
    table = fake_feature_table(300, seed=2)
    table.loc[table["as_of"] == "2023-12-31", "label_observed"] = False
    with pytest.raises(SplitError, match=r"test slice as of 2023-12-31 .* not fully observed"):
        temporal_split(table, slices=DATED, horizon_months=12)


def test_missing_snapshot_is_refused_naming_the_date():
    table = fake_feature_table(300, seed=2)
    table = table.loc[table["as_of"] != "2022-12-31"]
    with pytest.raises(SplitError, match=r"no snapshot as of 2022-12-31 for the calibration"):
        temporal_split(table, slices=DATED, horizon_months=12)
