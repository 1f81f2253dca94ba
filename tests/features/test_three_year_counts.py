"""The catalogue's three-year record counts (issue 25, item 1): what each reads and what it
must not.

They were added because generic per-record-type counts over 3 years carried the gain over
a plain peer on a long registry (docs/synthetic_registry.md, round 11). Being generic
counts, they are where a proxy or an unbounded window would slip in unnoticed, so these
tests pin the catalogue's own rules on them: the window stops at the 3-year bound, a
record is counted only once recorded, a child's absences are counted by the role the
child had, and the disability benefit (a direct proxy of ``disability_in_family``) is
never counted.
"""

from __future__ import annotations

import pandas as pd
from featurekit import event, family, make_raw, member, person

from features.catalogue import FEATURES, event_features
from features.config import FeatureConfig
from features.engine import compute_partition
from features.raw import RawTables

THREE_YEAR_COUNTS = {
    "econ_income_records_3y": "need",
    "econ_benefit_payments_3y": "support",
    "econ_utility_debt_records_3y": "need",
    "hea_missed_vaccinations_3y": "need",
    "edu_school_absence_days_3y": "need",
}
AS_OF = "2024-12-31"  # the window is (2022-01-01, 2024-12-31]


def test_the_three_year_counts_are_in_the_catalogue_with_their_kind_and_bound() -> None:
    for name, kind in THREE_YEAR_COUNTS.items():
        spec = FEATURES[name]
        assert spec.kind == kind, name
        assert spec.window_days == 1095, name
        assert "last 3 years" in spec.description, name


def test_no_indicator_counts_the_disability_benefit() -> None:
    """A benefit indicator that names no detail reads every kind, the disability benefit
    too (proxy AUC 1.00 of disability_in_family): each must list the kinds it reads."""
    for spec in event_features():
        if "benefit_payment" in spec.event_types:
            assert spec.detail is not None, spec.name
            assert "disability_benefit" not in spec.detail, spec.name


def _registry() -> RawTables:
    return make_raw(
        families=[family("F1")],
        persons=[person("P1", "1985-01-01"), person("P2", "2012-05-01")],
        memberships=[
            member("P1", "F1", "head", "2015-01-01"),
            member("P2", "F1", "child", "2015-01-01"),
        ],
        events=[
            # benefits: one counted; one older than 3 years; one disability benefit
            event("b1", "benefit_payment", "2022-03-01", family="F1", detail="child_benefit",
                  value=10_000.0),
            event("b2", "benefit_payment", "2021-12-15", family="F1",
                  detail="targeted_social_assistance", value=10_000.0),
            event("b3", "benefit_payment", "2023-01-01", family="F1",
                  detail="disability_benefit", value=85_000.0),
            # income: two records of the head within 3 years, one recorded after the date
            event("i1", "income", "2022-02-10", person="P1", value=100_000.0),
            event("i2", "income", "2024-11-10", person="P1", value=100_000.0),
            event("i3", "income", "2024-12-20", recorded="2025-01-20", person="P1",
                  value=100_000.0),
            # utility debts: one within the window, one on its first excluded day
            event("u1", "utility_debt", "2023-05-01", family="F1", value=40_000.0),
            event("u2", "utility_debt", "2022-01-01", family="F1", value=40_000.0),
            event("v1", "missed_vaccination", "2024-06-01", person="P2"),
            # the child's absences: days summed; the head's record is not a child's
            event("s1", "school_absence", "2023-10-31", person="P2", value=3.0),
            event("s2", "school_absence", "2024-04-30", person="P2", value=5.0),
            event("s3", "school_absence", "2024-04-30", person="P1", value=7.0),
        ],
    )  # fmt: skip


def test_each_count_reads_what_was_recorded_within_3_years_and_nothing_else() -> None:
    table = compute_partition(
        _registry(), [AS_OF], config=FeatureConfig(), audit_attributes=[]
    ).set_index("family_id")
    got = table.loc["F1", list(THREE_YEAR_COUNTS)].to_dict()
    assert got == {
        "econ_income_records_3y": 2.0,  # i3 was not recorded by the date
        "econ_benefit_payments_3y": 1.0,  # b2 is too old; b3 is a disability benefit
        "econ_utility_debt_records_3y": 1.0,  # u2 is 1095 days back: outside the window
        "hea_missed_vaccinations_3y": 1.0,
        "edu_school_absence_days_3y": 8.0,  # 3 + 5 days of the child, not the head's 7
    }
    assert pd.Timestamp(table.loc["F1", "as_of"]) == pd.Timestamp(AS_OF)
