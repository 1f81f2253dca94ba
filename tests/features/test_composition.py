"""Household composition follows births, separations and moves on the right date.

Family F1: head H (born 1985-05-10) and spouse S (born 1987-01-01) from 2015; child C1
born 2015-02-01, C2 born 2020-09-15, baby C3 born 2023-03-10; S leaves on 2023-06-30
(last day as a member) and heads her own family F2 from 2023-07-01; C4 (born 2010-01-01)
joins F1 on 2024-01-15, which makes F1 a large family (4 children). F3 has no member yet.
"""

from __future__ import annotations

import pandas as pd
import pytest
from featurekit import event, make_raw

from features.catalogue import household_columns
from features.composition import age_in_years, household_composition, valid_on
from features.engine import compute_partition

RAW = make_raw(
    families=[
        {"family_id": f, "region": "R1", "settlement": "urban", "registered_date": "2015-01-01"}
        for f in ("F1", "F2", "F3")
    ],
    persons=[
        {"person_id": "H", "birth_date": "1985-05-10", "sex": "M"},
        {"person_id": "S", "birth_date": "1987-01-01", "sex": "F"},
        {"person_id": "C1", "birth_date": "2015-02-01", "sex": "F"},
        {"person_id": "C2", "birth_date": "2020-09-15", "sex": "M"},
        {"person_id": "C3", "birth_date": "2023-03-10", "sex": "F"},
        {"person_id": "C4", "birth_date": "2010-01-01", "sex": "M"},
    ],
    memberships=[
        {"person_id": "H", "family_id": "F1", "role": "head", "start_date": "2015-01-01"},
        {
            "person_id": "S",
            "family_id": "F1",
            "role": "spouse",
            "start_date": "2015-01-01",
            "end_date": "2023-06-30",
        },
        {"person_id": "S", "family_id": "F2", "role": "head", "start_date": "2023-07-01"},
        {"person_id": "C1", "family_id": "F1", "role": "child", "start_date": "2015-02-01"},
        {"person_id": "C2", "family_id": "F1", "role": "child", "start_date": "2020-09-15"},
        {"person_id": "C3", "family_id": "F1", "role": "child", "start_date": "2023-03-10"},
        {"person_id": "C4", "family_id": "F1", "role": "child", "start_date": "2024-01-15"},
    ],
    events=[
        # S's treatment before and after she moved: each counts for her family on that day
        event("e1", "mental_health_treatment", "2023-05-01", person="S"),
        event("e2", "mental_health_treatment", "2023-09-01", person="S"),
    ],
)


def comp(as_of: str) -> pd.DataFrame:
    return household_composition(RAW.memberships, RAW.persons, as_of=pd.Timestamp(as_of))


def f1(as_of: str) -> pd.Series:
    return comp(as_of).loc["F1"]


def test_columns_are_the_catalogue_household_columns() -> None:
    assert comp("2023-01-01").columns.tolist() == household_columns()
    assert (comp("2023-01-01").dtypes == "float64").all()


def test_birth_changes_children_counts_on_the_birth_date() -> None:
    before, after = f1("2023-03-09"), f1("2023-03-10")
    assert before[["hh_members", "hh_children", "hh_children_under_3"]].tolist() == [4, 2, 1]
    assert after[["hh_members", "hh_children", "hh_children_under_3"]].tolist() == [5, 3, 2]
    assert before["hh_children_under_6"] == 1 and after["hh_children_under_6"] == 2
    assert before["hh_births_last_year"] == 0 and after["hh_births_last_year"] == 1
    # the birth stays "in the last year" for 365 days, then drops out
    assert f1("2024-03-08")["hh_births_last_year"] == 1
    assert f1("2024-03-09")["hh_births_last_year"] == 0


def test_separation_on_the_day_after_the_last_membership_day() -> None:
    last_day, next_day = f1("2023-06-30"), f1("2023-07-01")
    assert last_day["hh_spouse_present"] == 1 and next_day["hh_spouse_present"] == 0
    assert last_day["hh_adults"] == 2 and next_day["hh_adults"] == 1
    assert last_day["hh_single_parent"] == 0 and next_day["hh_single_parent"] == 1
    assert last_day["hh_separation_last_year"] == 0 and next_day["hh_separation_last_year"] == 1
    assert f1("2024-06-28")["hh_separation_last_year"] == 1
    assert f1("2024-06-29")["hh_separation_last_year"] == 0


def test_move_creates_the_new_family_on_its_start_date() -> None:
    assert "F2" not in comp("2023-06-30").index
    f2 = comp("2023-07-01").loc["F2"]
    assert f2[["hh_members", "hh_adults", "hh_children", "hh_single_parent"]].tolist() == [
        1,
        1,
        0,
        0,
    ]
    assert f2["hh_separation_last_year"] == 0  # she left F1; F2 did not lose anyone


def test_large_family_from_the_fourth_child() -> None:
    assert f1("2024-01-14")[["hh_children", "hh_large_family"]].tolist() == [3, 0]
    assert f1("2024-01-15")[["hh_children", "hh_large_family"]].tolist() == [4, 1]
    assert f1("2024-01-15")["hh_children_school_age"] == 2  # C1 (8) and C4 (14)


def test_head_age_changes_on_the_birthday() -> None:
    assert f1("2023-05-09")["hh_head_age"] == 37
    assert f1("2023-05-10")["hh_head_age"] == 38


def test_family_without_member_has_no_row() -> None:
    assert "F3" not in comp("2024-06-01").index
    table = compute_partition(RAW, ["2024-06-01"])
    assert sorted(table["family_id"]) == ["F1", "F2"]


def test_engine_shows_composition_changes_and_attributes_events_by_event_date() -> None:
    table = compute_partition(RAW, ["2023-06-30", "2023-07-01", "2023-12-31"])
    row = table.set_index(["family_id", "as_of"])
    june, july, dec = (pd.Timestamp(d) for d in ("2023-06-30", "2023-07-01", "2023-12-31"))
    assert row.loc[("F1", june), "hh_single_parent"] == 0
    assert row.loc[("F1", july), "hh_single_parent"] == 1
    assert row.loc[("F1", june), "audit_single_parent"] == "no"
    assert row.loc[("F1", july), "audit_single_parent"] == "yes"
    assert row.loc[("F1", july), "audit_head_sex"] == "M"
    assert row.loc[("F2", july), "audit_head_sex"] == "F"
    # e1 (May, S in F1) stays with F1 after she left; e2 (September) counts for F2
    assert row.loc[("F1", dec), "hea_mental_health_members_365d"] == 1
    assert row.loc[("F2", dec), "hea_mental_health_members_365d"] == 1
    assert row.loc[("F2", july), "hea_mental_health_members_365d"] == 0


def test_valid_on_includes_start_and_end_dates() -> None:
    m = RAW.memberships
    spouse = (m["person_id"] == "S") & (m["family_id"] == "F1")
    assert valid_on(m, pd.Timestamp("2015-01-01"))[spouse.to_numpy()].all()
    assert valid_on(m, pd.Timestamp("2023-06-30"))[spouse.to_numpy()].all()
    assert not valid_on(m, pd.Timestamp("2023-07-01"))[spouse.to_numpy()].any()


@pytest.mark.parametrize(
    ("birth", "as_of", "age"),
    [
        ("2000-02-29", "2001-02-28", 0),
        ("2000-02-29", "2001-03-01", 1),
        ("1990-12-31", "2020-12-30", 29),
        ("1990-12-31", "2020-12-31", 30),
    ],
)
def test_age_in_completed_years(birth: str, as_of: str, age: int) -> None:
    result = age_in_years(pd.Series(pd.to_datetime([birth])), pd.Timestamp(as_of))
    assert result.tolist() == [age]


def test_attribute_events_gives_family_and_role_on_the_event_date() -> None:
    from features.engine import attribute_events

    out = attribute_events(RAW.events, RAW.memberships).set_index("event_id")
    assert out.loc["e1", ["family_id", "role"]].tolist() == ["F1", "spouse"]
    assert out.loc["e2", ["family_id", "role"]].tolist() == ["F2", "head"]
