"""Point in time: a feature as of T is what the registry knew on T, nothing later.

The property (the point-in-time rule of docs/data_contract.md): deleting every row recorded
after T leaves every feature at T unchanged. It is checked on random registries with records
arriving up to two years late, at random dates, for every column except the label (the one
column that looks forward by definition; its own rules are tested at the end of this file).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from featurekit import (
    event,
    family,
    make_raw,
    member,
    outcome,
    person,
    random_registry,
    recorded_by,
)

from features.catalogue import model_input_columns
from features.config import FeatureConfig
from features.engine import compute_partition
from features.labels import label_outcomes
from features.raw import RawTables

FIXED = FeatureConfig(extraction_date="2026-12-31")  # label_observed must not move either


def features_at(raw: RawTables, as_of: pd.Timestamp, families=None) -> pd.DataFrame:
    table = compute_partition(
        raw, [as_of], config=FIXED, audit_attributes=["ethnicity", "primary_language"]
    )
    if families is not None:
        table = table.loc[table["family_id"].isin(families)]
    return table.drop(columns="label").reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_deleting_rows_recorded_after_t_changes_no_feature(seed: int) -> None:
    raw = random_registry(50, seed=seed)
    rng = np.random.default_rng(seed)
    late = raw.events["recorded_date"] > raw.events["event_date"] + pd.Timedelta(days=30)
    assert late.mean() > 0.2, "the registry must have plenty of late records"
    dates = pd.to_datetime("2019-06-01") + pd.to_timedelta(rng.integers(0, 5 * 365, 4), "D")
    families = rng.choice(raw.families["family_id"].to_numpy(), size=25, replace=False)
    for as_of in dates:
        known = recorded_by(raw, as_of)
        removed = len(raw.events) - len(known.events)
        assert removed > 0, f"nothing recorded after {as_of.date()}: the test would be empty"
        full = features_at(raw, as_of, families)
        assert len(full) > 0
        pd.testing.assert_frame_equal(full, features_at(known, as_of, families))


def test_late_record_appears_only_once_recorded() -> None:
    raw = make_raw(
        families=[family("F")],
        persons=[person("K", "2014-04-04")],
        memberships=[member("K", "F", "child", "2018-01-01")],
        events=[
            # an eviction notice of 2023-01-10 entered the system only on 2023-06-01
            event("late", "eviction_notice", "2023-01-10", recorded="2023-06-01", family="F"),
            # back-dated: an absence in February, recorded in August with 9 days
            event(
                "back", "school_absence", "2023-02-15", recorded="2023-08-20", person="K", value=9
            ),
            event("ontime", "school_absence", "2023-03-15", person="K", value=2),
        ],
    )
    at = {d: features_at(raw, pd.Timestamp(d)).iloc[0] for d in ("2023-03-31", "2023-06-30")}
    assert at["2023-03-31"]["hou_eviction_notices_365d"] == 0
    assert at["2023-06-30"]["hou_eviction_notices_365d"] == 1
    assert at["2023-03-31"]["edu_school_absence_days_90d"] == 2  # the 9 days were unknown
    assert at["2023-06-30"]["edu_school_absence_days_90d"] == 0  # outside 90 days by then
    assert at["2023-03-31"]["edu_max_monthly_absence_365d"] == 2
    late_known = features_at(raw, pd.Timestamp("2023-08-31")).iloc[0]
    assert late_known["edu_max_monthly_absence_365d"] == 9
    assert not late_known["deprived_housing"] or late_known["hou_eviction_notices_365d"] >= 1


def test_events_dated_after_t_are_invisible_even_if_recorded_before() -> None:
    """recorded_date >= event_date by contract, but the engine does not rely on it."""
    raw = make_raw(
        families=[family("F")],
        persons=[person("H", "1980-01-01", "M")],
        memberships=[member("H", "F", "head", "2020-01-01")],
        events=[
            event("future", "eviction_notice", "2023-05-01", recorded="2023-01-01", family="F")
        ],
    )
    assert features_at(raw, pd.Timestamp("2023-03-31")).iloc[0]["hou_eviction_notices_365d"] == 0


def test_records_older_than_three_years_change_nothing() -> None:
    raw = random_registry(40, seed=4)
    as_of = pd.Timestamp("2024-09-30")
    events = raw.events
    recent = events["event_date"] > as_of - pd.Timedelta(days=1095)
    assert (~recent).sum() > 50
    trimmed = RawTables(**{**dict(raw.items()), "events": events.loc[recent]})
    pd.testing.assert_frame_equal(features_at(raw, as_of), features_at(trimmed, as_of))


def test_protected_table_and_sex_never_change_a_model_input() -> None:
    raw = random_registry(50, seed=6)
    as_of = pd.Timestamp("2022-12-31")
    rewritten = RawTables(
        families=raw.families,
        persons=raw.persons.assign(sex=raw.persons["sex"].map({"F": "M", "M": "F"})),
        memberships=raw.memberships,
        events=raw.events,
        outcomes=raw.outcomes,
        protected=raw.protected.assign(value="X").iloc[::2],
    )
    before, after = features_at(raw, as_of), features_at(rewritten, as_of)
    pd.testing.assert_frame_equal(before[model_input_columns()], after[model_input_columns()])
    assert not before["audit_head_sex"].equals(after["audit_head_sex"])
    assert not before["audit_ethnicity"].equals(after["audit_ethnicity"])


# ---------------------------------------------------------------- the label looks forward


OUTCOMES = make_raw(
    outcomes=[
        outcome("A", "child_protection_case", "2023-06-30", recorded="2023-07-01"),
        outcome("B", "child_placed_in_care", "2023-07-01", recorded="2025-01-01"),
        outcome("C", "child_protection_case", "2024-06-30", recorded="2024-07-01"),
        outcome("D", "child_protection_case", "2024-07-01"),
        outcome("E", "family_crisis", "2023-09-01"),
    ]
).outcomes


def labels(
    *,
    horizon: int = 12,
    types=("child_protection_case", "child_placed_in_care"),
    extraction="2025-01-01",
):
    return label_outcomes(
        OUTCOMES,
        families=pd.Index(list("ABCDEF")),
        as_of=pd.Timestamp("2023-06-30"),
        outcome_types=types,
        horizon_months=horizon,
        extraction_date=pd.Timestamp(extraction),
    )  # fmt: skip


def test_label_window_is_after_t_up_to_the_horizon_inclusive() -> None:
    result = labels()
    # A: on T (not after) -> 0; B: day after T, recorded late -> 1; C: T + 12 months -> 1;
    # D: one day beyond the horizon -> 0; E: not a label type -> 0; F: nothing -> 0
    assert result["label"].tolist() == [0, 1, 1, 0, 0, 0]
    assert result["label"].dtype == np.int8


def test_label_types_and_horizon_are_configuration() -> None:
    assert labels(types=("family_crisis",))["label"].tolist() == [0, 0, 0, 0, 1, 0]
    assert labels(horizon=1)["label"].tolist() == [0, 1, 0, 0, 0, 0]


def test_label_observed_when_the_horizon_ends_by_the_extraction_date() -> None:
    assert labels(extraction="2024-06-30")["label_observed"].all()
    assert not labels(extraction="2024-06-29")["label_observed"].any()


# ---------------------------------------------------------------- on the synthetic registry


@pytest.mark.slow
def test_point_in_time_on_the_synthetic_registry(small_registry_dir) -> None:
    """Random families (one hash partition) and random dates of the generator's registry."""
    from features.engine import partition_plan
    from features.validation import load_validated

    full = load_validated(small_registry_dir)
    plan = partition_plan(full, 4)
    rng = np.random.default_rng(17)
    raw = plan.take(full, int(rng.choice(plan.nonempty())))
    lag = raw.events["recorded_date"] - raw.events["event_date"]
    assert (lag > pd.Timedelta(days=60)).sum() > 10, "the generator should produce late records"
    dates = pd.to_datetime("2021-01-01") + pd.to_timedelta(rng.integers(0, 4 * 365, 3), "D")
    for as_of in dates:
        known = recorded_by(raw, as_of)
        assert len(known.events) < len(raw.events)
        full_view = compute_partition(raw, [as_of], config=FIXED, audit_attributes=["x"])
        known_view = compute_partition(known, [as_of], config=FIXED, audit_attributes=["x"])
        assert len(full_view) > 20
        pd.testing.assert_frame_equal(
            full_view.drop(columns="label"), known_view.drop(columns="label")
        )
